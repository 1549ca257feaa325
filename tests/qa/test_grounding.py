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
from referring import fits

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
    """issue 11 tests mirror src, issue 17 case 7: a unique class is named alone; a repeated
    class takes the shortest of class + cell, size + class + cell that fits one object;
    objects no expression singles out (3 and 4: both small, both bottom right) are left out."""
    items = [
        _item(1, shapely.box(10, 10, 20, 20), "building", area=50.0),
        _item(2, shapely.box(140, 140, 160, 160), "building", area=500.0),
        _item(3, shapely.box(250, 250, 260, 260), "building", area=40.0),
        _item(4, shapely.box(270, 270, 280, 280), "building", area=60.0),
        _item(5, shapely.LineString([(0, 150), (300, 150)]), "road"),
    ]
    found = {expr: item.feature.osm_id for expr, item in referring_expressions(items, SIZE)}
    assert found == {"the building at the top left": 1,
                     "the building in the centre": 2, "the road": 5}


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
    assert turns[6]["value"] == f"[identify] What is the object at {box1}?"  # issue 12 case 2
    assert turns[7]["value"] == "It is a house."
    as_json = grounded_conversations(items[:1], SIZE, "json", max_items=1)
    assert as_json[3]["value"] == "[0.0, 0.0, 30.0, 60.0]"


SIZE = 300  # chip pixels; 3x3 grid cells of 100 px


def _titem(name: str, geom, area_m2: float) -> TileFeature:
    box = geom.buffer(4).bounds if geom.geom_type == "Point" else geom.bounds
    return TileFeature(None, name, geom, box, False, area_m2, 0.0)


def _fits(expression: str, item: TileFeature) -> bool:
    return fits(expression, item.name, item.pixel_geometry, item.area_m2, SIZE)


def _ttile() -> list[TileFeature]:
    return [
        _titem("theatre", shapely.box(110, 10, 190, 80), 2400.0),  # polygon, top cell
        _titem("theatre", shapely.Point(150, 50), 0.0),  # node in the same cell
        _titem("house", shapely.box(10, 210, 30, 230), 40.0),  # two small houses, bottom left
        _titem("house", shapely.box(50, 250, 70, 270), 40.0),
        _titem("house", shapely.box(210, 210, 260, 260), 600.0),  # medium, bottom right
        _titem("house", shapely.box(230, 120, 240, 130), 25.0),  # small, right
        _titem("tree", shapely.Point(150, 150), 0.0),
    ]


def test_every_expression_fits_exactly_one_object():
    """issue 17 case 7: each expression, evaluated against every object of the tile, fits
    only the object it was made for; objects no expression can single out are dropped."""
    items = _ttile()
    found = referring_expressions(items, SIZE)
    for expression, item in found:
        fitting = [other for other in items if _fits(expression, other)]
        assert fitting == [item], expression
    referred = {id(item) for _, item in found}
    assert id(items[0]) in referred and id(items[1]) not in referred  # the node is ambiguous
    assert id(items[2]) not in referred and id(items[3]) not in referred  # same size, same cell
    assert {id(items[4]), id(items[5]), id(items[6])} <= referred
    assert dict((id(i), e) for e, i in found)[id(items[6])] == "the tree"


def test_conversation_refers_only_to_unique_objects():
    """issue 17 case 7: the [refer] turns of a conversation answer with the one object."""
    items = _ttile()
    turns = grounded_conversations(items, SIZE, "json", max_items=10)
    asked = [t["value"].split("[refer] ", 1)[1] for t in turns if "[refer]" in t["value"]]
    assert asked
    for expression in asked:
        assert sum(_fits(expression, item) for item in items) == 1, expression
