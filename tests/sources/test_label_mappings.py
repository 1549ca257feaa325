"""sources/label_mappings.py: SpaceNet road attributes, hstore and column tags -> OSM tags."""

from __future__ import annotations

import pytest

from geoscribe.sources.label_mappings import (
    column_tags,
    is_spacenet_roads,
    parse_hstore,
    spacenet_road_tags,
)


def test_spacenet_roads_are_recognised_by_their_columns():
    """issue 11 tests mirror src: road_type plus paved or lane_number."""
    assert is_spacenet_roads({"road_type", "paved", "geometry"})
    assert is_spacenet_roads({"road_type", "lane_number"})
    assert not is_spacenet_roads({"road_type"})
    assert not is_spacenet_roads({"paved", "lane_number"})


@pytest.mark.parametrize(("props", "tags"), [
    ({"road_type": 5, "paved": "1", "lane_number": "2", "bridge_typ": "1", "one_way_ty": "1"},
     {"highway": "residential", "surface": "paved", "lanes": "2", "bridge": "yes",
      "oneway": "yes"}),
    ({"road_type": "7", "paved": 2, "lane_numbe": "0", "bridge_typ": "2"},  # shapefile name
     {"highway": "track", "surface": "unpaved"}),
    ({"road_type": "9", "paved": "3", "lane_number": "x"}, {}),
    ({"road_type": " 1 ", "lane_numbe": "4"}, {"highway": "motorway", "lanes": "4"}),
])
def test_spacenet_road_tags(props, tags):
    """issue 11 tests mirror src: SpaceNet 3 codes -> OSM highway/surface/lanes/bridge/oneway;
    unknown codes and non-positive lanes give no tag."""
    assert spacenet_road_tags(props) == tags


def test_parse_hstore_handles_quotes_and_null():
    """issue 11 tests mirror src: osm2pgsql hstore, escaped quotes kept, NULL values left out."""
    text = r'"name"=>"Caf\"e \"Ö\"", "amenity"=>"cafe", "note"=>NULL, "a=>b"=>"c, d"'
    assert parse_hstore(text) == {"name": 'Caf"e "Ö"', "amenity": "cafe", "a=>b": "c, d"}
    assert parse_hstore("") == {}
    assert parse_hstore(None) == {}


def test_column_tags_merge_a_tags_field_with_columns():
    """issue 11 tests mirror src: the tags field (dict, JSON or hstore) wins over a column of
    the same key; empty, None and NaN columns give no tag."""
    columns = {"building": "yes", "height": 12.5, "name": " ", "roof": None,
               "levels": float("nan")}
    assert column_tags({**columns, "tags": {"building": "house", "n": 1}}) == \
        {"building": "house", "n": "1", "height": "12.5"}
    assert column_tags({**columns, "tags": '{"building": "school"}'}) == \
        {"building": "school", "height": "12.5"}
    assert column_tags({**columns, "tags": '"building"=>"church"'}) == \
        {"building": "church", "height": "12.5"}
    assert column_tags({"tags": "{not json", "x": "1"}) == {"x": "1"}
