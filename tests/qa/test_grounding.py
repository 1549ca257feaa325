"""Referring expressions pick out exactly one object of the tile (issue 17 case 7)."""

from __future__ import annotations

import shapely

from geoscribe.qa.grounding import grounded_conversations, referring_expressions
from geoscribe.types import TileFeature
from referring import fits

SIZE = 300  # chip pixels; 3x3 grid cells of 100 px


def _item(name: str, geom, area_m2: float) -> TileFeature:
    box = geom.buffer(4).bounds if geom.geom_type == "Point" else geom.bounds
    return TileFeature(None, name, geom, box, False, area_m2, 0.0)


def _fits(expression: str, item: TileFeature) -> bool:
    return fits(expression, item.name, item.pixel_geometry, item.area_m2, SIZE)


def _tile() -> list[TileFeature]:
    return [
        _item("theatre", shapely.box(110, 10, 190, 80), 2400.0),  # polygon, top cell
        _item("theatre", shapely.Point(150, 50), 0.0),  # node in the same cell
        _item("house", shapely.box(10, 210, 30, 230), 40.0),  # two small houses, bottom left
        _item("house", shapely.box(50, 250, 70, 270), 40.0),
        _item("house", shapely.box(210, 210, 260, 260), 600.0),  # medium, bottom right
        _item("house", shapely.box(230, 120, 240, 130), 25.0),  # small, right
        _item("tree", shapely.Point(150, 150), 0.0),
    ]


def test_every_expression_fits_exactly_one_object():
    """issue 17 case 7: each expression, evaluated against every object of the tile, fits
    only the object it was made for; objects no expression can single out are dropped."""
    items = _tile()
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
    items = _tile()
    turns = grounded_conversations(items, SIZE, "json", max_items=10)
    asked = [t["value"].split("[refer] ", 1)[1] for t in turns if "[refer]" in t["value"]]
    assert asked
    for expression in asked:
        assert sum(_fits(expression, item) for item in items) == 1, expression
