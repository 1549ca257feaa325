"""Salient element selection, element facts and the template caption (rsteller-like)."""

from __future__ import annotations

import re

import pytest
import shapely

from geoscribe.qa.osm_elements import (
    element_facts,
    element_phrase,
    elements_caption,
    rsteller_wording,
    salient,
    whole,
)
from geoscribe.types import Feature, TileFeature


def _item(osm_id: int, geom, name: str, area: float = 0.0, length: float = 0.0,
          clipped: bool = False) -> TileFeature:
    feature = Feature("osm", geom, {}, "x.osm", "way", osm_id)
    return TileFeature(feature, name, geom, tuple(geom.bounds), clipped, area, length)


def _area(osm_id: int, area: float, name: str = "building") -> TileFeature:
    return _item(osm_id, shapely.box(0, 0, 10, 10), name, area=area)


def _line(osm_id: int, length: float, name: str = "road") -> TileFeature:
    return _item(osm_id, shapely.LineString([(0, 0), (10, 0)]), name, length=length)


def _point(osm_id: int, name: str = "tower") -> TileFeature:
    return _item(osm_id, shapely.Point(5, 5), name)


def test_areas_first_by_area_then_lines_by_length():
    items = [_line(1, 500.0), _area(2, 10.0), _area(3, 90.0), _line(4, 800.0), _point(5)]
    assert [i.feature.osm_id for i in salient(items)] == [3, 2, 4]
    many = [_area(i, float(i)) for i in range(10)] + [_line(99, 1e6)]
    assert [i.feature.osm_id for i in salient(many)] == [9, 8, 7]


def test_ties_are_broken_by_name_then_id_and_points_only_when_alone():
    items = [_area(7, 50.04, "house"), _area(3, 50.0, "house"), _area(5, 50.01, "barn")]
    assert [i.feature.osm_id for i in salient(items)] == [5, 3, 7]  # all 50.0 when rounded
    points = [_point(9), _point(2), _point(4, "antenna"), _point(1)]
    assert [i.feature.osm_id for i in salient(points)] == [4, 1, 2]
    assert salient([_point(1), _line(2, 1.0)])[0].feature.osm_id == 2
    assert salient([]) == []


def test_element_facts_of_an_area_a_line_and_a_point():
    strip = shapely.box(10, 100, 70, 110)  # chip pixels: a strip on the left, middle row
    area = _item(1, strip, "grass area", area=1234.56, clipped=True)
    metric = shapely.box(0, 0, 60, 10)  # east-west in metres
    facts = element_facts(area, ["a mown surface"], metric, (256, 256))
    assert facts == {"name": "grass area", "attributes": ["a mown surface"], "geometry": "area",
                     "position": "left", "area_m2": 1234.6, "length_m": None,
                     "shape": "elongated", "orientation": "east-west", "clipped": True,
                     "osm_type": "way", "osm_id": 1}
    road = _item(2, shapely.LineString([(200, 0), (200, 80)]), "road", length=40.04)
    facts = element_facts(road, [], shapely.LineString([(0, 0), (0, 40)]), (256, 256))
    assert (facts["position"], facts["length_m"], facts["area_m2"], facts["shape"],
            facts["orientation"]) == ("top right", 40.0, None, None, "north-south")
    tower = element_facts(_point(3), [], shapely.Point(0, 0), (256, 256))
    assert (tower["geometry"], tower["position"], tower["orientation"], tower["area_m2"]) == (
        "point", "top left", None, None)


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 1), (1.5, 2), (2.5, 3), (12.4, 12), (12.5, 13), (1234.5, 1235), (99.4, 99), (0.0, 0),
])
def test_whole_rounds_half_up(value, expected):
    assert whole(value) == expected


def _element(**overrides) -> dict:
    element = {"name": "building", "attributes": [], "geometry": "area", "position": "centre",
               "area_m2": 12345.5, "length_m": None, "shape": "square", "orientation": None,
               "clipped": False, "osm_type": "way", "osm_id": 1}
    return {**element, **overrides}


def test_element_phrases():
    words = rsteller_wording()[2]
    assert element_phrase(_element(), words) == (
        "a large square building of about 12,346 m² in the centre")
    clipped = _element(clipped=True, area_m2=99.4, position="top", orientation="east-west",
                       attributes=["a gabled roof"], name="house")
    assert element_phrase(clipped, words) == ("a small house of about 99 m² with a gabled roof "
                                              "stretching east-west at the top, cut by the "
                                              "image edge")
    road = _element(geometry="line", area_m2=None, length_m=240.4, shape=None,
                    orientation="north-south", name="residential road",
                    attributes=["an asphalt surface", "2 lanes"])
    assert element_phrase(road, words) == ("a residential road about 240 m long with an "
                                           "asphalt surface and 2 lanes running north-south "
                                           "in the centre")
    point = _element(geometry="point", area_m2=None, shape=None, name="water tower",
                     position="bottom left")
    assert element_phrase(point, words) == "a water tower in the bottom left"


def test_caption_joins_elements_and_states_only_their_numbers():
    words = rsteller_wording()[2]
    elements = [_element(area_m2=612.5, shape="irregular", position="left"),
                _element(geometry="line", area_m2=None, length_m=1999.5, shape=None,
                         name="railway track", position="bottom right", clipped=True)]
    caption = elements_caption(elements, words)
    assert caption == ("A satellite image showing a medium irregular building of about 613 m² "
                       "on the left, and a railway track about 2,000 m long in the bottom "
                       "right, cut by the image edge.")
    assert {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", caption)} == {613, 2000}
    assert elements_caption(elements[:1], words).count(" and ") == 0


def test_wording_is_versioned():
    template_id, sha, words = rsteller_wording()
    assert template_id == "rsteller-like@v1" and len(sha) == 64
    assert set(words["positions"]) == {"top left", "top", "top right", "left", "centre",
                                       "right", "bottom left", "bottom", "bottom right"}
