"""Independent reading of geochat-like referring expressions (tests of issue 17 case 7)."""

from __future__ import annotations

import re

ROWS, COLS = ("top", "", "bottom"), ("left", "", "right")
EXPRESSION = re.compile(r"the (?:(small|medium|large) )?(.+?)(?: (?:at|in) the (.+))?")


def cell(geom, size: int) -> str:
    """3x3 grid cell of the centre of a geometry's bounds in a chip of `size` pixels."""
    x0, y0, x1, y1 = geom.bounds
    third = size / 3
    row = ROWS[min(2, int((y0 + y1) / 2 // third))]
    col = COLS[min(2, int((x0 + x1) / 2 // third))]
    return f"{row} {col}".strip() or "centre"


def size_word(area_m2: float) -> str | None:
    if area_m2 <= 0:
        return None
    return "small" if area_m2 < 100 else "medium" if area_m2 < 1000 else "large"


def fits(expression: str, name: str, geom, area_m2: float, size: int) -> bool:
    """Whether an object (class, pixel geometry or box, area) fits every stated attribute."""
    wanted_size, wanted_name, where = EXPRESSION.fullmatch(expression).groups()
    return (name == wanted_name and (wanted_size is None or size_word(area_m2) == wanted_size)
            and (where is None or cell(geom, size) == where))
