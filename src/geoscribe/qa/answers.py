"""Typed QA answers (issue 12): `answer` is always the answer as text, as a person writes it
("yes", "3", "between 10 and 100 m2", "forest"); the typed value lies in its own field, so
every field of the record has one JSON type across all records of all recipes:

- yes/no questions (presence, comparison, size, shape, relation): `answer_bool` (boolean);
- counting questions (count, total): `answer_number` (integer);
- answers that are words (area bins, classes): text only.
"""

from __future__ import annotations


def yes_no(value: bool) -> dict:
    """The answer fields of a yes/no question."""
    return {"answer": "yes" if value else "no", "answer_bool": bool(value)}


def count_answer(n: int) -> dict:
    """The answer fields of a counting question."""
    return {"answer": str(int(n)), "answer_number": int(n)}
