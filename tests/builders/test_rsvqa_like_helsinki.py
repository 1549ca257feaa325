"""rsvqa-like over central Helsinki: tiles crossing the region's edge count what lies beyond
it (issue 17 case 2, real extract, EPSG:3067 raster), and ground distances and GSD on a Web
Mercator raster are metres on the ground (issue 17 case 3), checked with pyproj and shapely."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Geod, Transformer

from conftest import run_cli
from helsinki import footprint, helsinki_pbf, osm_geometries, to_crs, write_raster
from test_cli_e2e import read_samples

RASTER_BOX = (24.941, 60.1685, 24.947, 60.1715)
REGION = (24.935, 60.164, 24.943, 60.179)  # the first column of tiles crosses its east edge
BUILDINGS = {"yes", "apartments", "commercial", "office", "retail", "residential", "public",
             "hotel", "church", "university", "house"}
GEOD = Geod(ellps="WGS84")
UTM35 = "EPSG:32635"  # the local UTM zone of central Helsinki


def _records(out: Path) -> list[dict]:
    return [json.loads(s["json"]) for s in read_samples(out)]


def _tile(record: dict) -> shapely.Polygon:
    t, size = Affine(*record["chip"]["transform"]), record["chip"]["width"]
    return shapely.Polygon([t @ (c, r) for c, r in ((0, 0), (size, 0), (size, size), (0, size))])


def test_tiles_crossing_the_region_edge_count_what_lies_beyond(tmp_path):
    """issue 17 case 2: every building of the OSM file wholly beyond the region that shows in
    a tile (a square metre of it or more) is among the tile's features and counts."""
    raster = write_raster(tmp_path / "r3067.tif", "EPSG:3067", 0.5, RASTER_BOX)
    out = tmp_path / "out"
    run_cli("build-dataset", "rsvqa-like", "--region=" + ",".join(map(str, REGION)),
            "--out", str(out), "--imagery", str(raster), "--osm", str(helsinki_pbf()),
            "--split-block-deg", "1", "--no-progress", "--workers", "1", check=True)
    records = _records(out)
    _, crs = footprint(raster)
    region = shapely.box(*REGION)
    osm = osm_geometries(helsinki_pbf())
    keys = [k for k, (tags, geom) in osm.items()
            if tags.get("building") in BUILDINGS and not geom.intersects(region)]
    beyond = to_crs(np.array([osm[k][1] for k in keys], dtype=object), crs)
    counted = 0
    for record in records:
        tile = _tile(record)
        listed = {(f["osm_type"], f["osm_id"]) for f in record["features"]}
        assert sum(record["evidence"]["counts"].values()) == len(record["features"])
        for key, geom in zip(keys, beyond, strict=True):
            if geom.intersection(tile).area > 1.0:
                assert key in listed, (record["id"], key)
                counted += 1
    assert counted > 0  # tiles really cross the edge where buildings stand


def _lonlat(points_utm: list[tuple[float, float]]) -> list[tuple[float, float]]:
    to_wgs84 = Transformer.from_crs(UTM35, "EPSG:4326", always_xy=True)
    return [to_wgs84.transform(x, y) for x, y in points_utm]


def _write_osm(path: Path, building: list[tuple[float, float]], tree: tuple[float, float]
               ) -> Path:
    nodes = [f'<node id="{i + 1}" version="1" lon="{lon:.9f}" lat="{lat:.9f}"/>'
             for i, (lon, lat) in enumerate(building)]
    refs = "".join(f'<nd ref="{i + 1}"/>' for i in range(len(building))) + '<nd ref="1"/>'
    lon, lat = tree
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n' + "\n".join(nodes)
        + f'\n<node id="100" version="1" lon="{lon:.9f}" lat="{lat:.9f}">'
        '<tag k="natural" v="tree"/></node>\n'
        f'<way id="200" version="1">{refs}<tag k="building" v="yes"/></way>\n</osm>\n',
        encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mercator(tmp_path_factory):
    """A building (20 m square) and a tree 5.5 m east of it (ground metres, local UTM) in the
    first tile of an EPSG:3857 raster (0.5 m on the ground, 1.005 Mercator metres)."""
    work = tmp_path_factory.mktemp("mercator")
    raster = write_raster(work / "r3857.tif", "EPSG:3857", 0.5, (24.940, 60.168, 24.9446,
                                                                 60.1703))
    with rasterio.open(raster) as src:
        x, y = src.transform @ (128, 128)
    lon, lat = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(x, y)
    u, v = Transformer.from_crs("EPSG:4326", UTM35, always_xy=True).transform(lon, lat)
    square = [(u - 20, v - 10), (u, v - 10), (u, v + 10), (u - 20, v + 10)]
    osm = _write_osm(work / "pair.osm", _lonlat(square), _lonlat([(u + 5.5, v)])[0])
    out = work / "out"
    run_cli("build-dataset", "rsvqa-like", "--region=24.940,60.168,24.9446,60.1703",
            "--out", str(out), "--imagery", str(raster), "--osm", str(osm),
            "--split-block-deg", "1", "--qa-types", "relation=1", "--qa-per-chip", "40",
            "--no-progress", "--workers", "1", check=True)
    return raster, out, _records(out)


def test_next_to_is_measured_in_ground_metres(mercator):
    """issue 17 case 3: a tree 5.5 m from a building is next to it (< 10 m) on a Mercator
    raster, where 5.5 ground metres are 11 Mercator metres (1/cos(60.17°) = 2.01 per metre):
    read in the CRS's unit the pair was 11 m apart, "no"."""
    _, _, records = mercator
    answers = Counter()
    for record in records:
        for q in record["qa"]:
            if q.get("relation") == "next_to":
                answers[q["answer"]] += 1
                assert set(q["classes"]) == {"tree", "building"}
    assert answers == {"yes": 2}


def _pixel_metres(transform: Affine, crs: str, col: float, row: float) -> float:
    """sqrt of the geodesic lengths of one pixel's two sides at (col, row)."""
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    p0, p1, p2 = (to_wgs84.transform(*(transform @ cr))
                  for cr in ((col, row), (col + 1, row), (col, row + 1)))
    dx = GEOD.inv(*p0, *p1)[2]
    dy = GEOD.inv(*p0, *p2)[2]
    return float(np.sqrt(dx * dy))


def test_gsd_is_ground_metres_on_a_mercator_raster(mercator):
    """issue 17 case 3: stats and records give the geodesic size of a pixel (about 0.5 m),
    not the Mercator unit (1.005)."""
    raster, out, records = mercator
    stats = json.loads((out / "stats.json").read_text())
    with rasterio.open(raster) as src:
        truth = _pixel_metres(src.transform, "EPSG:3857", src.width / 2, src.height / 2)
    assert truth == pytest.approx(0.5, rel=0.01)
    (imagery,) = stats["inputs"]["imagery"]
    assert imagery["gsd_m"] == pytest.approx(truth, rel=0.01)
    assert records
    for record in records:
        chip = record["chip"]
        half = chip["width"] / 2
        want = _pixel_metres(Affine(*chip["transform"]), "EPSG:3857", half, half)
        assert chip["gsd_m"] == pytest.approx(want, rel=0.01)
        for feature in record["features"]:
            if feature["tags"].get("building") == "yes":
                assert feature["area_m2"] == pytest.approx(400.0, rel=0.01)
