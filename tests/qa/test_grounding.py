"""qa/grounding.py: GeoChat boxes and angles, 3x3 positions, referring expressions that pick
one object, and the grounded conversation. Angles are checked against shapely rotations."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely import affinity

from geoscribe.qa.grounding import (
    geochat_box,
    grounded_conversations,
    json_box,
    position,
    referring_expressions,
    rotation_deg,
)
from geoscribe.types import Feature, TileFeature

SIZE = 300


def _item(osm_id: int, geom, name: str, area: float = 0.0) -> TileFeature:
    feature = Feature("osm", geom, {}, "x.osm", "way", osm_id)
    return TileFeature(feature, name, geom, tuple(geom.bounds), False, area, 0.0)


@pytest.mark.parametrize("angle", [0, 10, 30, 60, -30, -80])
def test_rotation_of_a_rectangle_is_its_long_side(angle):
    """issue 11 tests mirror src: a 40x10 rectangle turned by `angle` (x right, y down)."""
    rect = affinity.rotate(shapely.box(0, 0, 40, 10), angle, origin="centroid")
    assert rotation_deg(rect) == angle


def test_rotation_of_squares_points_and_lines():
    """issue 11 tests mirror src: squares fold into -45..44, 90 is written -90, points 0."""
    assert rotation_deg(affinity.rotate(shapely.box(0, 0, 10, 10), 50)) == -40
    assert rotation_deg(shapely.box(0, 0, 10, 10)) == 0
    assert rotation_deg(shapely.LineString([(0, 0), (0, 30)])) == -90
    assert rotation_deg(shapely.LineString([(0, 0), (30, 30)])) == 45
    assert rotation_deg(shapely.Point(3, 4)) == 0
    assert rotation_deg(shapely.Polygon()) == 0


def test_geochat_box_scales_to_0_100_and_clamps():
    """issue 11 tests mirror src: corners as percentages of the chip, clamped to 0..100."""
    assert geochat_box((30, 60, 150, 297), SIZE, -12) == "{<10><20><50><99>|<-12>}"
    assert geochat_box((-5, 0, 400, 300), SIZE, 0) == "{<0><0><100><100>|<0>}"
    assert json.loads(json_box((1.234, 2, 3.25, 4))) == [1.2, 2.0, 3.2, 4.0]


@pytest.mark.parametrize(("box", "where"), [
    ((0, 0, 10, 10), "top left"), ((140, 0, 160, 10), "top"), ((290, 0, 300, 10), "top right"),
    ((0, 140, 10, 160), "left"), ((140, 140, 160, 160), "centre"),
    ((280, 290, 300, 300), "bottom right"), ((0, 250, 300, 300), "bottom"),
    ((200, 0, 400, 10), "top right"),
])
def test_position_in_a_3x3_grid(box, where):
    """issue 11 tests mirror src: the box centre's cell (right/bottom edges stay in)."""
    assert position(box, SIZE) == where


def test_referring_expressions_pick_exactly_one_object():
    """issue 11 tests mirror src: a unique class is named alone; repeated classes add size
    and position; expressions still shared by two objects are left out."""
    items = [
        _item(1, shapely.box(10, 10, 20, 20), "building", area=50.0),
        _item(2, shapely.box(140, 140, 160, 160), "building", area=500.0),
        _item(3, shapely.box(250, 250, 260, 260), "building", area=40.0),
        _item(4, shapely.box(270, 270, 280, 280), "building", area=60.0),
        _item(5, shapely.LineString([(0, 150), (300, 150)]), "road"),
    ]
    found = {expr: item.feature.osm_id for expr, item in referring_expressions(items, SIZE)}
    assert found == {"the small building at the top left": 1,
                     "the medium building in the centre": 2, "the road": 5}


def test_conversation_turns():
    """issue 11 tests mirror src: grounding, then refer, then identify turns, boxes in the
    chosen format."""
    items = [_item(1, shapely.box(0, 0, 30, 60), "house", area=90.0),
             _item(2, shapely.Point(150, 150).buffer(1), "apartment building", area=3.0)]
    turns = grounded_conversations(items, SIZE, "geochat")
    assert [t["from"] for t in turns] == ["human", "gpt"] * 5
    box1 = geochat_box(items[0].bbox_px, SIZE, rotation_deg(items[0].pixel_geometry))
    assert box1 == "{<0><0><10><20>|<-90>}"
    assert turns[1]["value"].startswith(f"The image shows a house {box1} and an apartment "
                                        "building {<50><50><50><50>|<")
    assert turns[2]["value"].endswith("[refer] the house")
    assert turns[3]["value"] == box1
    assert turns[6]["value"] == f"<image>\n[identify] What is the object at {box1}?"
    assert turns[7]["value"] == "It is a house."
    as_json = grounded_conversations(items[:1], SIZE, "json", max_items=1)
    assert as_json[3]["value"] == "[0.0, 0.0, 30.0, 60.0]"
