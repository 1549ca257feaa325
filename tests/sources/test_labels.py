"""read_labels on the real SpaceNet samples and on GeoPackage/Shapefile written in code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer

from geoscribe.errors import InputError
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.label_mappings import parse_hstore, spacenet_road_tags
from geoscribe.sources.labels import read_labels
from geoscribe.sources.registry_data import SOLARIS_WHEEL, fetch_members

WORLD = (-180.0, -90.0, 180.0, 90.0)
BUILDINGS = "solaris/data/geotiff_labels.geojson"
ROADS = "solaris/data/sample_roads_for_masking.geojson"


@pytest.fixture(scope="session")
def solaris_files() -> dict[str, Path]:
    return fetch_members(SOLARIS_WHEEL)


@pytest.fixture(scope="session")
def atlanta(solaris_files):
    path = solaris_files[BUILDINGS]
    raw = json.loads(path.read_text())
    stats = SourceStats()
    features = list(read_labels(path, WORLD, stats))
    return path, raw, features, stats


def test_atlanta_reads_all_43_buildings(atlanta):
    path, raw, features, stats = atlanta
    assert len(raw["features"]) == 43
    assert len(features) == 43
    assert stats.read == 43
    assert all(f.source == "labels" and f.input == str(path) for f in features)
    assert [f.label_ref for f in features] == [f"geotiff_labels:{i}" for i in range(43)]
    assert all("." not in f.source_id for f in features)


def test_atlanta_reprojected_to_wgs84(atlanta):
    _, raw, features, _ = atlanta
    assert raw["crs"]["properties"]["name"].endswith("32616")
    to_wgs84 = Transformer.from_crs("EPSG:32616", "EPSG:4326", always_xy=True)
    for index in (0, 21, 42):
        ring = np.array(raw["features"][index]["geometry"]["coordinates"][0])
        lon, lat = to_wgs84.transform(ring[:, 0], ring[:, 1])
        got = features[index].geometry
        assert got.geom_type == "Polygon"
        np.testing.assert_allclose(
            shapely.get_coordinates(got.exterior), np.column_stack([lon, lat]), atol=1e-9
        )
    # Atlanta, Georgia
    minx, miny, maxx, maxy = shapely.union_all([f.geometry for f in features]).bounds
    assert -84.49 < minx < maxx < -84.47 and 33.63 < miny < maxy < 33.65


def test_atlanta_tags_from_columns_and_hstore(atlanta):
    _, raw, features, _ = atlanta
    for feature, source in zip(features, raw["features"], strict=True):
        props = source["properties"]
        assert feature.tags["building"] == props["building"] == "yes"
        for key, value in parse_hstore(props["tags"]).items():
            assert feature.tags[key] == value
        # empty string columns never become tags
        for key, value in props.items():
            if value == "":
                assert key not in feature.tags
        assert feature.osm_id == props["osm_id"]
    assert features[0].tags["security:classification"] == "UNCLASSIFIED"
    assert features[0].tags["source"] == "Unknown"


def test_bounds_filter(atlanta):
    path, _, features, _ = atlanta
    first = features[0].geometry
    small = first.buffer(1e-6).bounds
    picked = list(read_labels(path, small, SourceStats()))
    assert 1 <= len(picked) < 43
    assert all(f.geometry.intersects(shapely.box(*small)) for f in picked)
    assert list(read_labels(path, (0.0, 0.0, 1.0, 1.0), SourceStats())) == []


def test_spacenet_roads_mapping(solaris_files):
    path = solaris_files[ROADS]
    raw = json.loads(path.read_text())
    features = list(read_labels(path, WORLD, SourceStats()))
    assert len(features) == len(raw["features"]) == 9
    for feature, source in zip(features, raw["features"], strict=True):
        props = source["properties"]
        assert props["road_type"] == "5" and props["paved"] == "1"
        assert feature.tags["highway"] == "residential"
        assert feature.tags["surface"] == "paved"
        assert feature.tags["lanes"] == props["lane_number"]
        assert "bridge" not in feature.tags  # bridge_typ 2 means no bridge
        assert "oneway" not in feature.tags
        assert "road_id" not in feature.tags
        assert feature.geometry.geom_type == "LineString"
        np.testing.assert_allclose(
            shapely.get_coordinates(feature.geometry),
            np.array(source["geometry"]["coordinates"])[:, :2],
        )


def test_spacenet_road_tags_codes():
    tags = spacenet_road_tags(
        {"road_type": "5", "paved": "1", "lane_number": "3", "bridge_typ": "1", "one_way_ty": "1"}
    )
    assert tags == {
        "highway": "residential", "surface": "paved", "lanes": "3", "bridge": "yes",
        "oneway": "yes",
    }
    assert spacenet_road_tags({"road_type": 1, "paved": 2, "lane_number": 0}) == {
        "highway": "motorway", "surface": "unpaved",
    }
    assert spacenet_road_tags({"road_type": "9", "lane_numbe": "2"}) == {"lanes": "2"}


def test_generated_spacenet_bridge(tmp_path):
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"road_type": "2", "paved": "1", "lane_number": "4",
                           "bridge_typ": "1", "one_way_ty": "2"},
            "geometry": {"type": "LineString", "coordinates": [[10.0, 50.0], [10.001, 50.001]]},
        }],
    }))
    (feature,) = read_labels(path, WORLD, SourceStats())
    assert feature.tags == {"highway": "primary", "surface": "paved", "lanes": "4",
                            "bridge": "yes"}


def test_parse_hstore():
    text = '"building"=>"yes", "name"=>NULL, "note"=>"say \\"hi\\"", "roof:shape"=>"flat"'
    assert parse_hstore(text) == {"building": "yes", "note": 'say "hi"', "roof:shape": "flat"}
    assert parse_hstore("") == {}


UTM_RINGS = [
    [(500000.0, 6600000.0), (500100.0, 6600000.0), (500100.0, 6600080.0),
     (500000.0, 6600080.0), (500000.0, 6600000.0)],
    [(501000.0, 6601000.0), (501030.0, 6601000.0), (501030.0, 6601020.0),
     (501000.0, 6601000.0)],
]


def _write_utm(path: Path, driver: str, fields: list[str]) -> None:
    geoms = np.array([shapely.to_wkb(shapely.Polygon(r)) for r in UTM_RINGS], dtype=object)
    pyogrio.raw.write(
        path, geometry=geoms,
        field_data=[np.array(["house", "yes"], dtype=object), np.array([2, 5], dtype=np.int64)],
        fields=fields, crs="EPSG:32633", geometry_type="Polygon", driver=driver,
    )


@pytest.mark.parametrize(
    ("name", "driver", "fields"),
    [("labels.gpkg", "GPKG", ["building", "building:levels"]),
     ("labels.shp", "ESRI Shapefile", ["building", "levels"])],
)
def test_utm_vector_roundtrips_to_wgs84(tmp_path, name, driver, fields):
    path = tmp_path / name
    _write_utm(path, driver, fields)
    features = list(read_labels(path, WORLD, SourceStats()))
    assert len(features) == 2
    to_wgs84 = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    rows = zip(features, UTM_RINGS, ["house", "yes"], [2, 5], strict=True)
    for feature, ring, value, count in rows:
        expected = shapely.Polygon(np.column_stack(to_wgs84.transform(*np.array(ring).T)))
        # shapefiles may re-orient rings: compare as areas, not vertex lists
        assert feature.geometry.geom_type == "Polygon"
        assert feature.geometry.symmetric_difference(expected).area < 1e-14
        assert feature.geometry.area == pytest.approx(expected.area, rel=1e-9)
        assert feature.tags["building"] == value
        assert feature.tags[fields[1]] == str(count)
    # UTM 33N at x=500 km is on the central meridian, 15 degrees east
    assert features[0].geometry.bounds[0] == pytest.approx(15.0, abs=1e-9)


def test_missing_and_bad_label_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        list(read_labels(tmp_path / "none.geojson", WORLD, SourceStats()))
    wrong = tmp_path / "labels.csv"
    wrong.write_text("a,b\n")
    with pytest.raises(InputError):
        list(read_labels(wrong, WORLD, SourceStats()))
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ this is not json")
    with pytest.raises(InputError) as info:
        list(read_labels(broken, WORLD, SourceStats()))
    assert str(broken) in str(info.value)
