"""3x3 grid positions and compass axes, checked against hand-made geometries."""

from __future__ import annotations

import math

import pytest
import shapely
from shapely import affinity

from geoscribe.qa.geometry_words import (
    POSITIONS,
    grid_position,
    long_axis,
    orientation,
    orientation_word,
)


@pytest.mark.parametrize(("x", "y", "word"), [
    (0, 0, "top left"), (128, 10, "top"), (255.9, 0, "top right"), (10, 128, "left"),
    (128, 128, "centre"), (256, 128, "right"), (0, 256, "bottom left"), (128, 250, "bottom"),
    (256, 256, "bottom right"), (85.3, 85.3, "top left"), (85.4, 85.4, "centre"),
])
def test_grid_position(x, y, word):
    assert grid_position(x, y, 256, 256) == word


def test_grid_position_covers_nine_words_on_a_non_square_chip():
    words = {grid_position(x, y, 300, 90) for x in (50, 150, 250) for y in (15, 45, 75)}
    assert words == set(POSITIONS) and len(POSITIONS) == 9


@pytest.mark.parametrize(("bearing", "word"), [
    (0, "north-south"), (22.4, "north-south"), (22.5, "northeast-southwest"),
    (45, "northeast-southwest"), (67.5, "east-west"), (90, "east-west"),
    (112.5, "northwest-southeast"), (135, "northwest-southeast"), (157.4, "northwest-southeast"),
    (157.5, "north-south"), (179.9, "north-south"), (180, "north-south"),
    (-45, "northwest-southeast"), (225, "northeast-southwest"),
])
def test_orientation_word_sectors(bearing, word):
    assert orientation_word(bearing) == word


@pytest.mark.parametrize(("end", "bearing"), [
    ((0, 10), 0.0), ((10, 0), 90.0), ((10, 10), 45.0), ((-10, 10), 135.0), ((0, -10), 0.0),
])
def test_straight_line_axis(end, bearing):
    axis = long_axis(shapely.LineString([(0, 0), end]))
    assert axis is not None
    assert axis[0] == pytest.approx(bearing, abs=1e-9) or axis[0] == pytest.approx(
        bearing + 180, abs=1e-9)
    assert math.isinf(axis[1])


@pytest.mark.parametrize("angle", range(0, 180, 7))
def test_rotated_strip_orientation(angle):
    """A 60 x 10 strip whose long side points `angle` degrees clockwise from north."""
    strip = shapely.box(-5, -30, 5, 30)  # long side north-south
    rotated = affinity.rotate(strip, -angle, origin=(0, 0))  # shapely turns counter-clockwise
    expected = ["north-south", "northeast-southwest", "east-west",
                "northwest-southeast"][int(((angle + 22.5) % 180) // 45)]
    assert orientation(rotated) == expected
    assert long_axis(rotated)[1] == pytest.approx(6.0)


def test_no_axis_for_squares_points_and_bent_roads():
    assert orientation(shapely.box(0, 0, 10, 10)) is None
    assert orientation(shapely.box(0, 0, 19.9, 10)) is None  # ratio below 2
    assert orientation(shapely.box(0, 0, 20, 10)) == "east-west"
    assert orientation(shapely.Point(1, 2)) is None
    assert long_axis(shapely.Point(1, 2)) is None
    assert orientation(shapely.LineString([(0, 0), (0, 10), (10, 10)])) is None  # an L
    assert orientation(shapely.LineString([(0, 0), (1, 40), (0, 80)])) == "north-south"
