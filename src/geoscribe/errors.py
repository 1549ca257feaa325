"""User-facing errors: one line, naming the input at fault."""


class GeoscribeError(Exception):
    """An error caused by the user's input; printed as one line, no traceback."""


class InputError(GeoscribeError):
    """A named input (file, region, option) is missing, unreadable or invalid."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(f"{what}: {problem}")
        self.what = what
        self.problem = problem
