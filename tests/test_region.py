"""Region parsing and the deterministic spatial split grid."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
import shapely

from geoscribe.errors import InputError
from geoscribe.region import (
    block_split,
    cell_bounds,
    cell_index,
    cell_name,
    crosses_split,
    guarded_split,
    is_place_name,
    parse_bbox,
    parse_geojson,
    parse_region,
)

FRACTIONS = (0.8, 0.1, 0.1)


def test_parse_bbox():
    region = parse_bbox("24.9, 60.1, 25.0, 60.2")
    assert region.bounds == (24.9, 60.1, 25.0, 60.2)
    assert region.geometry.equals(shapely.box(24.9, 60.1, 25.0, 60.2))
    assert "24.9" in region.description


def test_parse_bbox_western_hemisphere():
    region = parse_bbox("-81.99,29.68,-81.98,29.69")
    assert region.bounds == (-81.99, 29.68, -81.98, 29.69)
    assert region.geometry.area == pytest.approx(0.01 * 0.01)
    south = parse_bbox("-70.7,-33.5,-70.6,-33.4")
    assert south.bounds == (-70.7, -33.5, -70.6, -33.4)


@pytest.mark.parametrize(
    "text",
    ["1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,nan,4", "1,2,inf,4", "10,0,5,1", "0,10,1,5",
     "0,0,0,1", "-181,0,1,1", "0,-91,1,1", "0,0,181,1", "0,0,1,91", ""],
)
def test_invalid_bbox(text):
    with pytest.raises(InputError) as info:
        parse_bbox(text)
    assert "--region" in str(info.value)


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def _square(x0, y0, size):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + size, y0], [x0 + size, y0 + size],
                                                [x0, y0 + size], [x0, y0]]]}


def test_parse_geojson_feature_collection(tmp_path):
    path = _write(tmp_path / "r.geojson", {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": _square(10, 50, 1)},
        {"type": "Feature", "properties": {}, "geometry": _square(12, 50, 1)},
    ]})
    region = parse_geojson(path)
    assert region.geometry.area == pytest.approx(2.0)
    assert region.bounds == (10, 50, 13, 51)
    assert str(path) in region.description


def test_parse_geojson_feature_and_bare_geometry(tmp_path):
    feature = _write(tmp_path / "f.geojson",
                     {"type": "Feature", "properties": {}, "geometry": _square(-82, 29, 0.5)})
    assert parse_geojson(feature).bounds == (-82, 29, -81.5, 29.5)
    bare = _write(tmp_path / "g.json", _square(1, 1, 2))
    assert parse_geojson(bare).geometry.area == pytest.approx(4.0)


def test_parse_geojson_errors(tmp_path):
    bad_json = tmp_path / "bad.geojson"
    bad_json.write_text("{not json")
    with pytest.raises(InputError) as info:
        parse_geojson(bad_json)
    assert str(bad_json) in str(info.value)
    with pytest.raises(InputError):
        parse_geojson(tmp_path / "absent.geojson")
    with pytest.raises(InputError, match="no geometry"):
        parse_geojson(_write(tmp_path / "empty.geojson",
                             {"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="no area"):
        parse_geojson(_write(tmp_path / "point.geojson",
                             {"type": "Point", "coordinates": [1, 2]}))
    with pytest.raises(InputError, match="lon/lat"):
        parse_geojson(_write(tmp_path / "utm.geojson", _square(500000, 6600000, 100)))
    with pytest.raises(InputError):
        parse_geojson(_write(tmp_path / "notgeo.geojson", {"type": "Nonsense"}))


def test_parse_region_dispatch(tmp_path):
    assert parse_region(" -81.99,29.68,-81.98,29.69 ").bounds == (-81.99, 29.68, -81.98, 29.69)
    path = _write(tmp_path / "r.geojson", _square(3, 4, 1))
    assert parse_region(str(path)).bounds == (3, 4, 4, 5)
    with pytest.raises(InputError, match="file not found"):
        parse_region(str(tmp_path / "missing.geojson"))
    with pytest.raises(InputError):
        parse_region("Gainesville, Florida")
    with pytest.raises(InputError):
        parse_region("   ")


@pytest.mark.parametrize(("text", "place"), [
    ("Helsinki, Finland", True), ("Springfield", True), ("São Paulo, Brasil", True),
    ("1,2,3,4", False), (" -81.99,29.68,-81.98,29.69 ", False), ("a,b,c,d", False),
    ("nan,1,2,3", False), ("demo", False), ("region.geojson", False),
])
def test_place_names_are_told_from_bboxes_and_files(text, place):
    """issue 18 place names: words make a place name; a bbox, even a mistyped one, a GeoJSON
    file and `demo` do not."""
    assert is_place_name(text) is place


def test_cells():
    assert cell_index(-81.985, 29.685, 0.01) == (-8199, 2968)
    assert cell_index(0.0, -0.0001, 1.0) == (0, -1)
    x0, y0, x1, y1 = cell_bounds(-8199, 2968, 0.01)
    assert x0 <= -81.985 < x1 and y0 <= 29.685 < y1
    assert cell_name(-11531, 3613) == "x-11531y3613"
    assert "." not in cell_name(-1, 2)


def test_block_split_is_deterministic_hash():
    for ix, iy, seed in [(0, 0, 0), (-8199, 2968, 7), (123, -45, 1)]:
        first = block_split(ix, iy, seed, FRACTIONS)
        assert first == block_split(ix, iy, seed, FRACTIONS)
        # independent computation of the documented rule
        digest = hashlib.sha256(f"{seed}:{ix}:{iy}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        expected = "train" if u < 0.8 else "val" if u < 0.9 else "test"
        assert first == expected


def test_block_split_fractions():
    counts = Counter(block_split(ix, iy, 0, FRACTIONS) for ix in range(200) for iy in range(100))
    total = sum(counts.values())
    assert total == 20000
    assert abs(counts["train"] / total - 0.8) < 0.02
    assert abs(counts["val"] / total - 0.1) < 0.02
    assert abs(counts["test"] / total - 0.1) < 0.02
    other = Counter(block_split(ix, iy, 0, (0.5, 0.25, 0.25))
                    for ix in range(200) for iy in range(100))
    assert abs(other["train"] / total - 0.5) < 0.02
    assert abs(other["val"] / total - 0.25) < 0.02


def test_block_split_depends_on_seed():
    a = [block_split(i, 0, 0, FRACTIONS) for i in range(500)]
    b = [block_split(i, 0, 1, FRACTIONS) for i in range(500)]
    assert a != b
    assert all(block_split(i, 0, 0, (1.0, 0.0, 0.0)) == "train" for i in range(100))
    assert all(block_split(i, 0, 0, (0.0, 0.0, 1.0)) == "test" for i in range(100))


def test_crosses_split_is_the_guard_of_both_builders():
    """issue 11 (dedupe 1): one split guard: a box crosses iff a block it touches (counted
    by hand here) has a split other than the one given."""
    block = 0.01

    def split_of(cell):
        return block_split(*cell, 3, FRACTIONS)

    inside = (0.0012, 0.0012, 0.0048, 0.0048)
    own = split_of((0, 0))
    assert not crosses_split(inside, own, block, split_of)
    assert crosses_split(inside, ({"train", "val", "test"} - {own}).pop(), block, split_of)
    span = (-0.005, 0.002, 0.015, 0.012)
    cells = [(ix, iy) for ix in (-1, 0, 1) for iy in (0, 1)]
    for split in ("train", "val", "test"):
        expected = any(split_of(c) != split for c in cells)
        assert crosses_split(span, split, block, split_of) == expected
    asked = []
    crosses_split(span, "train", block, lambda c: asked.append(c) or "train")
    assert sorted(asked) == sorted(cells)


def test_guarded_split_is_the_centre_block_unless_the_box_crosses():
    """issue 11 mends: the one split rule of both builders: the split of the block holding
    the point, None when guarded and the box reaches a block of another split; block splits
    are cached (neighbouring chips ask for the same blocks)."""
    block, seed = 0.01, 3

    def truth(ix: int, iy: int) -> str:
        u = int.from_bytes(hashlib.sha256(f"{seed}:{ix}:{iy}".encode()).digest()[:8],
                           "big") / 2**64
        return "train" if u < 0.8 else "val" if u < 0.9 else "test"

    ix = next(i for i in range(1000) if truth(i, 0) != truth(i + 1, 0))
    inside = (ix * block + 0.001, 0.001, ix * block + 0.009, 0.009)
    across = (ix * block + 0.005, 0.001, (ix + 1) * block + 0.005, 0.009)
    point = (ix * block + 0.005, 0.005)
    fractions = [0.8, 0.1, 0.1]  # a list (as read from YAML) is accepted
    assert guarded_split(point, inside, block, seed, fractions, True) == truth(ix, 0)
    assert guarded_split(point, across, block, seed, fractions, True) is None
    assert guarded_split(point, across, block, seed, fractions, False) == truth(ix, 0)
    block_split.cache_clear()
    for _ in range(3):
        guarded_split(point, across, block, seed, fractions, True)
    info = block_split.cache_info()
    assert (info.misses, info.hits) == (2, 7)  # blocks ix and ix + 1, each hashed once


@pytest.mark.parametrize("box", [(24.935, 60.164, 24.953, 60.179), (-0.01, -0.01, 0.01, 0.01),
                                 (-70.2, -54.9, -70.1, -54.8)])
def test_ingest_area_reaches_as_far_as_a_chip(box):
    """issue 17 case 2: the ingest area holds every point within a chip's diagonal (side x
    coarsest GSD x sqrt 2) of the region, checked with pyproj.Geod in 16 directions from
    points along the region's edge; and it is not much larger (not at 1.5 x that reach)."""
    from pyproj import Geod

    from geoscribe.region import ingest_area

    region = shapely.box(*box)
    side, gsds = 512, [0.3, 2.0]
    reach = side * 2.0 * 2 ** 0.5
    area = ingest_area(region, side, gsds)
    assert area.covers(region)
    geod = Geod(ellps="WGS84")
    edge = shapely.segmentize(region.exterior, (box[2] - box[0]) / 8).coords
    for lon, lat in edge:
        for azimuth in range(0, 360, 22):
            x, y, _ = geod.fwd(lon, lat, azimuth, reach)
            assert area.covers(shapely.Point(x, y)), (lon, lat, azimuth)
    cx = (box[0] + box[2]) / 2
    for azimuth, (lon, lat) in ((0, (cx, box[3])), (180, (cx, box[1]))):
        x, y, _ = geod.fwd(lon, lat, azimuth, 1.5 * reach)
        assert not area.covers(shapely.Point(x, y))
