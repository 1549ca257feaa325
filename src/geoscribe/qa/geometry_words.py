"""Where and which way: a 3x3 grid position in a chip, and the compass axis of a geometry.

Positions: the chip is cut into 3 equal columns and rows; a point at x == width (or
y == height) belongs to the last column (row). Rows grow downwards (southwards).

Orientation: the long axis of a geometry is the longer side of its minimum rotated rectangle
(for a straight line, the line itself), measured in a metric map frame (x east, y north). Its
bearing in [0, 180) degrees from north falls into one of four 45° sectors centred on 0
(north-south), 45 (northeast-southwest), 90 (east-west) and 135 (northwest-southeast); a
bearing on a sector's lower edge belongs to that sector. A geometry has an axis only when it
is elongated: its rectangle's long side is at least ELONGATED_RATIO times the short side.
"""

from __future__ import annotations

import math

import shapely
from shapely.geometry.base import BaseGeometry

GRID = (("top left", "top", "top right"), ("left", "centre", "right"),
        ("bottom left", "bottom", "bottom right"))
POSITIONS = tuple(word for row in GRID for word in row)
ORIENTATIONS = ("north-south", "northeast-southwest", "east-west", "northwest-southeast")
ELONGATED_RATIO = 2.0


def grid_position(x: float, y: float, width: float, height: float) -> str:
    """The 3x3 grid cell of pixel (x, y) in a chip of width x height pixels (rows down)."""
    col = min(2, max(0, math.floor(3 * x / width)))
    row = min(2, max(0, math.floor(3 * y / height)))
    return GRID[row][col]


def long_axis(geom: BaseGeometry) -> tuple[float, float] | None:
    """(bearing of the long axis in [0, 180) degrees from north, long/short side ratio).

    The ratio is infinite for a straight line; None for points and empty geometries.
    """
    if geom.is_empty or geom.geom_type in ("Point", "MultiPoint"):
        return None
    rect = shapely.minimum_rotated_rectangle(geom)
    coords = list(rect.exterior.coords) if rect.geom_type == "Polygon" else list(rect.coords)
    if len(coords) < 2:
        return None
    sides = [(coords[i + 1][0] - coords[i][0], coords[i + 1][1] - coords[i][1])
             for i in range(min(2, len(coords) - 1))]
    lengths = [math.hypot(dx, dy) for dx, dy in sides]
    longest = max(range(len(sides)), key=lambda i: lengths[i])
    if lengths[longest] == 0:
        return None
    shortest = min(lengths) if len(sides) == 2 else 0.0
    ratio = lengths[longest] / shortest if shortest > 0 else math.inf
    dx, dy = sides[longest]
    return math.degrees(math.atan2(dx, dy)) % 180.0, ratio


def orientation_word(bearing: float) -> str:
    """Compass word of an axis bearing (degrees from north, any value; axes are symmetric)."""
    sector = math.floor(((bearing % 180.0) + 22.5) / 45.0) % 4
    return ORIENTATIONS[sector]


def orientation(geom: BaseGeometry) -> str | None:
    """Compass word of an elongated geometry's long axis (metric x east, y north), else None."""
    axis = long_axis(geom)
    if axis is None or axis[1] < ELONGATED_RATIO:
        return None
    return orientation_word(axis[0])
