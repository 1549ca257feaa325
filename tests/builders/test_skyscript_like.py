"""skyscript-like on the real Helsinki extract over a raster in EPSG:3067 (a grid turned
against lon/lat), checked with pyosmium, pyproj and shapely: foci lie on the raster's
footprint (issue 17 case 1) and chips crossing the region's edge list what lies beyond it
(issue 17 case 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Transformer

from conftest import run_cli
from helsinki import footprint, helsinki_pbf, osm_geometries, to_crs, write_raster
from test_cli_e2e import read_samples

RASTER_BOX = (24.941, 60.1685, 24.947, 60.1715)
REGION = (24.935, 60.164, 24.944, 60.179)  # its east edge cuts the raster in two
BUILDINGS = {"yes", "apartments", "commercial", "office", "retail", "residential", "public",
             "hotel", "church", "university", "house"}


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    work = tmp_path_factory.mktemp("sky_helsinki")
    raster = write_raster(work / "r3067.tif", "EPSG:3067", 0.5, RASTER_BOX)
    out = work / "out"
    run_cli("build-dataset", "skyscript-like", "--region=" + ",".join(map(str, REGION)),
            "--out", str(out), "--imagery", str(raster), "--osm", str(helsinki_pbf()),
            "--no-split-guard", "--no-progress", "--workers", "1", check=True)
    records = [json.loads(s["json"]) for s in read_samples(out)]
    stats = json.loads((out / "stats.json").read_text())
    return raster, records, stats, osm_geometries(helsinki_pbf())


def _envelope(raster) -> shapely.Polygon:
    """The raster's WGS84 envelope (what the focus test used to be made against)."""
    poly, crs = footprint(raster)
    return shapely.box(*Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
                       .transform_bounds(*poly.bounds))


def test_kept_foci_lie_on_the_footprint(sky):
    """issue 17 case 1: no kept record's focus reaches off the raster's footprint (tested in
    the raster's own CRS), and foci crossing it are counted as focus_outside_imagery."""
    raster, records, stats, osm = sky
    poly, crs = footprint(raster)
    area = poly.buffer(1e-6)
    assert records
    found = 0
    for record in records:
        focus = next(f for f in record["features"] if f["focus"])
        entry = osm.get((focus["osm_type"], focus["osm_id"]))
        if entry is None:
            continue
        found += 1
        assert area.covers(to_crs(entry[1], crs)), (focus["osm_type"], focus["osm_id"])
    assert found >= 0.9 * len(records)
    # buildings centred in the region, inside the raster's WGS84 envelope but crossing its
    # footprint's edge: the envelope test let these through; none may be kept
    region, envelope = shapely.box(*REGION), _envelope(raster)
    kept = {(f["osm_type"], f["osm_id"]) for r in records for f in r["features"] if f["focus"]}
    keys = [k for k, (tags, geom) in osm.items()
            if tags.get("building") in BUILDINGS and envelope.covers(geom)]
    geoms = np.array([osm[k][1] for k in keys], dtype=object)
    centres = shapely.centroid(shapely.envelope(geoms))
    projected = to_crs(geoms, crs)
    crossing = {k for k, centred, geom in zip(keys, region.covers(centres), projected,
                                               strict=True)
                if centred and geom.intersects(poly) and not poly.covers(geom)}
    assert crossing  # the run really holds such buildings
    assert not crossing & kept
    assert stats["skipped"]["focus_outside_imagery"] >= len(crossing)


def test_chips_list_what_lies_beyond_the_region(sky):
    """issue 17 case 2: a chip crossing the region's edge lists the buildings it shows that
    lie wholly beyond the region (ingest reads the region grown by the largest chip)."""
    raster, records, _, osm = sky
    _, crs = footprint(raster)
    region = shapely.box(*REGION)
    keys = [k for k, (tags, geom) in osm.items()
            if tags.get("building") in BUILDINGS and not geom.intersects(region)]
    beyond = to_crs(np.array([osm[k][1] for k in keys], dtype=object), crs)
    tree = shapely.STRtree(beyond)
    listed_beyond = 0
    for record in records:
        t, size = Affine(*record["chip"]["transform"]), record["chip"]["width"]
        chip = shapely.Polygon([t @ (c, r) for c, r in ((0, 0), (size, 0), (size, size),
                                                        (0, size))])
        listed = {(f["osm_type"], f["osm_id"]) for f in record["features"]}
        for i in tree.query(chip, predicate="intersects").tolist():
            if beyond[i].intersection(chip).area > 1.0:  # a square metre of it in the chip
                assert keys[i] in listed, (record["id"], keys[i])
                listed_beyond += 1
    assert listed_beyond > 0
