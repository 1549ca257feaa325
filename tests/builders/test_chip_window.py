"""plan_chip (builders/chip_window.py): window placement checked with pyproj + affine directly."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

from geoscribe.builders.chip_window import plan_chip
from geoscribe.geometry import (
    bounds_in_pixels,
    chip_transform,
    intersection_with_box,
    pixel_box,
    project,
    project_many,
    to_pixels,
)
from geoscribe.sources.imagery import index_raster
from geoscribe.types import ChipPlan, ChipSettings

CRS = "EPSG:32633"
T = Affine(0.5, 0.0, 500000.0, 0.0, -0.5, 6600000.0)
WIDTH, HEIGHT = 1000, 800
TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
FROM_WGS84 = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=3,
                       dtype="uint8", crs=CRS, transform=T) as dst:
        dst.write(np.zeros((3, HEIGHT, WIDTH), dtype=np.uint8))
    return index_raster(path)


def to_world(cols, rows):
    """Pixel (col, row) -> raster CRS (x, y), written out from the affine coefficients."""
    return T.a * cols + T.b * rows + T.c, T.d * cols + T.e * rows + T.f


def to_pixel(x, y):
    """Raster CRS (x, y) -> pixel (col, row) for the north-up grid T."""
    return (x - T.c) / T.a, (y - T.f) / T.e


def pixel_box_wgs84(c0, r0, c1, r1) -> shapely.Polygon:
    """A rectangle given in source pixels, as a WGS84 polygon (densified edges)."""
    cols = np.concatenate([np.linspace(c0, c1, 9), np.full(9, c1), np.linspace(c1, c0, 9),
                           np.full(9, c0)])
    rows = np.concatenate([np.full(9, r0), np.linspace(r0, r1, 9), np.full(9, r1),
                           np.linspace(r1, r0, 9)])
    x, y = to_world(cols, rows)
    lon, lat = TO_WGS84.transform(x, y)
    return shapely.Polygon(np.column_stack([lon, lat]))


def object_pixels(geom_wgs84) -> np.ndarray:
    """Pixel (col, row) of every vertex, computed independently of the module."""
    coords = shapely.get_coordinates(geom_wgs84)
    x, y = FROM_WGS84.transform(coords[:, 0], coords[:, 1])
    cols, rows = to_pixel(np.asarray(x), np.asarray(y))
    return np.column_stack([cols, rows])


def assert_contains(plan: ChipPlan, geom) -> None:
    px = object_pixels(geom)
    eps = 1e-6
    assert px[:, 0].min() >= plan.col_off - eps
    assert px[:, 1].min() >= plan.row_off - eps
    assert px[:, 0].max() <= plan.col_off + plan.side + eps
    assert px[:, 1].max() <= plan.row_off + plan.side + eps


def assert_inside_raster(plan: ChipPlan) -> None:
    assert plan.col_off >= 0 and plan.row_off >= 0
    assert plan.col_off + plan.side <= WIDTH and plan.row_off + plan.side <= HEIGHT
    assert not plan.mosaic


def test_centred_object(raster):
    settings = ChipSettings(out_size=256, margin=0.25, min_chip_px=128)
    geom = pixel_box_wgs84(400.3, 300.6, 600.2, 380.1)  # ~200 x 80 px
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan)
    assert plan.raster.path == raster.path
    assert_contains(plan, geom)
    assert_inside_raster(plan)
    extent = 600.2 - 400.3
    assert plan.side == math.ceil(extent * 1.5) or plan.side == math.ceil(extent * 1.5) + 1
    # centred: the object's centre is near the window centre
    px = object_pixels(geom)
    centre = (px.min(axis=0) + px.max(axis=0)) / 2
    assert abs(plan.col_off + plan.side / 2 - centre[0]) <= 1
    assert abs(plan.row_off + plan.side / 2 - centre[1]) <= 1


def test_small_object_gets_min_chip(raster):
    settings = ChipSettings(out_size=128, margin=0.25, min_chip_px=128)
    geom = pixel_box_wgs84(500, 400, 510, 408)
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan)
    assert plan.side == 128
    assert_contains(plan, geom)


def test_point_feature_gets_min_chip(raster):
    settings = ChipSettings(out_size=128, min_chip_px=100)
    x, y = to_world(321.5, 222.5)
    point = shapely.Point(*TO_WGS84.transform(x, y))
    plan = plan_chip(point, [raster], settings)
    assert isinstance(plan, ChipPlan)
    assert plan.side == 100
    assert_contains(plan, point)


def test_chip_transform(raster):
    settings = ChipSettings(out_size=256, min_chip_px=128)
    geom = pixel_box_wgs84(100, 100, 300, 250)
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan)
    scale = plan.side / 256
    assert scale != 1
    # independently: output pixel (i, j) is source pixel (col_off + i*scale, row_off + j*scale)
    for i, j in [(0, 0), (256, 0), (0, 256), (256, 256), (17, 99)]:
        expected = to_world(plan.col_off + i * scale, plan.row_off + j * scale)
        t = plan.transform
        got = (t.a * i + t.b * j + t.c, t.d * i + t.e * j + t.f)
        assert got == pytest.approx(expected, abs=1e-6)
    expected_affine = (
        T @ Affine.translation(plan.col_off, plan.row_off) @ Affine.scale(plan.side / 256)
    )
    assert plan.transform.almost_equals(expected_affine, precision=1e-9)
    assert plan.crs == CRS


@pytest.mark.parametrize(
    ("box", "where"),
    [((2.2, 300, 30.4, 330), "left"), ((960, 300, 998.5, 330), "right"),
     ((400, 1.5, 440, 20), "top"), ((400, 770, 440, 799.4), "bottom"),
     ((980, 785, 999, 799), "corner")],
)
def test_window_shifted_inside_raster_near_edges(raster, box, where):
    settings = ChipSettings(out_size=128, margin=0.25, min_chip_px=128)
    geom = pixel_box_wgs84(*box)
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan), where
    assert_contains(plan, geom)
    assert_inside_raster(plan)
    if where in ("left",):
        assert plan.col_off == 0
    if where in ("right", "corner"):
        assert plan.col_off + plan.side == WIDTH
    if where in ("bottom", "corner"):
        assert plan.row_off + plan.side == HEIGHT
    if where == "top":
        assert plan.row_off == 0


def test_object_larger_than_raster_height_needs_mosaic(raster):
    settings = ChipSettings(out_size=256, margin=0.25, min_chip_px=128, max_chip_px=4096)
    geom = pixel_box_wgs84(100, 10, 800, 790)  # 700 x 780 px: the window cannot fit
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan)
    assert_contains(plan, geom)
    assert plan.mosaic
    assert plan.side > HEIGHT


@pytest.mark.parametrize(
    ("margin", "box"),
    [(0.0, (100.7, 200.7, 111.2, 205.0)), (0.0, (300.9, 300.2, 320.1, 310.0)),
     (0.0, (400.5, 400.5, 403.6, 401.0)), (0.05, (500.95, 500.0, 520.05, 505.0))],
)
def test_window_contains_object_with_small_margin(raster, margin, box):
    settings = ChipSettings(out_size=64, margin=margin, min_chip_px=8, min_object_px=3)
    geom = pixel_box_wgs84(*box)
    plan = plan_chip(geom, [raster], settings)
    assert isinstance(plan, ChipPlan)
    assert_contains(plan, geom)
    assert plan.side >= settings.min_chip_px


def test_too_small(raster):
    settings = ChipSettings(min_object_px=3.0)
    geom = pixel_box_wgs84(500, 400, 501.5, 401.5)
    assert plan_chip(geom, [raster], settings) == "too_small"
    # a point is never too small
    assert isinstance(plan_chip(geom.centroid, [raster], settings), ChipPlan)


def test_too_large(raster):
    settings = ChipSettings(max_chip_px=300, margin=0.25)
    geom = pixel_box_wgs84(100, 100, 400, 200)  # 300 px -> 450 px window
    assert plan_chip(geom, [raster], settings) == "too_large"
    assert isinstance(plan_chip(geom, [raster], ChipSettings(max_chip_px=2048)), ChipPlan)


def test_outside_imagery(raster):
    far = shapely.box(20.0, 50.0, 20.001, 50.001)
    assert plan_chip(far, [raster], ChipSettings()) == "outside_imagery"
    assert plan_chip(far, [], ChipSettings()) == "outside_imagery"


def test_object_crossing_the_raster_edge(raster):
    geom = pixel_box_wgs84(-50, 300, 40, 340)
    assert plan_chip(geom, [raster], ChipSettings()) == "focus_outside_imagery"


def test_chooses_raster_containing_object(tmp_path, raster):
    # a second raster east of the first, same grid
    path = Path(tmp_path) / "east.tif"
    east_t = T @ Affine.translation(WIDTH, 0)
    with rasterio.open(path, "w", driver="GTiff", width=400, height=HEIGHT, count=3,
                       dtype="uint8", crs=CRS, transform=east_t) as dst:
        dst.write(np.zeros((3, HEIGHT, 400), dtype=np.uint8))
    east = index_raster(path)
    geom = pixel_box_wgs84(WIDTH + 150, 300, WIDTH + 200, 340)
    plan = plan_chip(geom, [raster, east], ChipSettings())
    assert isinstance(plan, ChipPlan)
    assert plan.raster.path == east.path
    px = object_pixels(geom)
    # in the east raster's own pixels
    assert plan.col_off <= px[:, 0].min() - WIDTH and px[:, 0].max() - WIDTH <= (
        plan.col_off + plan.side)


def test_chip_transform_equals_the_affine_product_bit_for_bit():
    rng = np.random.default_rng(3)
    grids = [tuple(T)[:6], (0.5, 0.0, 0.0, 0.0, -0.5, 0.0), (-2.0, 0.3, -10.0, 0.2, 1.5, 7.0),
             (1e-5, -0.0, 13.4, 0.0, -1e-5, 52.5)]
    grids += [tuple(rng.normal(0, 100, 6)) for _ in range(50)]
    for grid in grids:
        for col, row, scale in ((0, 0, 1.0), (17, -3, 0.5), (-5, 12, 1.75),
                                (int(rng.integers(-9999, 9999)), 4, float(rng.random() * 8))):
            expected = Affine(*grid) @ Affine.translation(col, row) @ Affine.scale(scale)
            got = chip_transform(grid, col, row, scale)
            assert [v.hex() for v in got[:6]] == [float(v).hex() for v in expected[:6]]


def test_project_and_project_many_agree_with_pyproj():
    """issue 11: WGS84 -> CRS reprojection of every vertex, one geometry or many at once."""
    rng = np.random.default_rng(1)
    lonlat = rng.uniform((14.9, 59.4), (15.1, 59.6), (12, 2))
    geoms = [shapely.Point(lonlat[0]), shapely.LineString(lonlat[1:5]),
             shapely.Polygon(lonlat[5:12])]
    for geom, many in zip(geoms, project_many(geoms, CRS), strict=True):
        want = np.array([FROM_WGS84.transform(x, y) for x, y in shapely.get_coordinates(geom)])
        assert np.allclose(shapely.get_coordinates(project(geom, CRS)), want, atol=1e-6)
        assert np.allclose(shapely.get_coordinates(many), want, atol=1e-6)
    assert project_many([], CRS) == []


@pytest.mark.parametrize("transform", [T, Affine(0.5, 0.2, 500000.0, 0.1, -0.5, 6600000.0)])
def test_pixel_bounds_north_up_and_rotated(transform):
    """issue 11: to_pixels applies the inverse affine per vertex; bounds_in_pixels equals the
    bounds of those pixel vertices (north-up: from the CRS bounds alone)."""
    ring = [(500010.0, 6599900.0), (500090.0, 6599910.0), (500060.0, 6599980.0)]
    geom = shapely.Polygon(ring)
    inverse = ~transform
    cols_rows = np.array([inverse * xy for xy in ring + ring[:1]])
    assert np.allclose(shapely.get_coordinates(to_pixels(geom, transform)), cols_rows)
    want = (*cols_rows.min(axis=0), *cols_rows.max(axis=0))
    assert bounds_in_pixels(geom, transform) == pytest.approx(want)
    if transform.b == 0:
        assert pixel_box(geom.bounds, transform) == pytest.approx(want)


def test_intersection_with_box_survives_an_invalid_ring():
    """issue 11: a self-crossing (bow-tie) ring is made valid rather than failing."""
    bowtie = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    box = shapely.box(0, 0, 10, 5)
    part = intersection_with_box(bowtie, box)
    assert part.is_valid and part.area == pytest.approx(25.0)  # two triangles of 12.5
    square = shapely.box(2, 2, 8, 8)
    assert intersection_with_box(square, box).equals(shapely.box(2, 2, 8, 5))


# --- issue 17 case 1: the focus is tested against footprints in the raster's own CRS -------

TM35 = "EPSG:3067"  # over Helsinki its grid is turned ~1.8° against lon/lat
TM35_T = Affine(0.5, 0.0, 385_500.0, 0.0, -0.5, 6_672_000.0)
TM35_SIDE = 800


def _tm35_raster(directory: Path, name: str, transform: Affine):
    path = directory / name
    with rasterio.open(path, "w", driver="GTiff", width=TM35_SIDE, height=TM35_SIDE, count=3,
                       dtype="uint8", crs=TM35, transform=transform) as dst:
        dst.write(np.full((3, TM35_SIDE, TM35_SIDE), 100, dtype=np.uint8))
    return index_raster(path)


@pytest.fixture(scope="module")
def tm35(tmp_path_factory):
    """Two EPSG:3067 rasters side by side (400 m each, the second east of the first)."""
    directory = tmp_path_factory.mktemp("tm35")
    east = TM35_T @ Affine.translation(TM35_SIDE, 0)
    return _tm35_raster(directory, "west.tif", TM35_T), _tm35_raster(directory, "east.tif", east)


def _tm35_box_wgs84(x0, y0, x1, y1) -> shapely.Polygon:
    """A rectangle given in EPSG:3067 metres, as a WGS84 polygon (densified edges)."""
    to_wgs84 = Transformer.from_crs(TM35, "EPSG:4326", always_xy=True)
    ring = shapely.segmentize(shapely.box(x0, y0, x1, y1).exterior, 1.0)
    return shapely.Polygon([to_wgs84.transform(x, y) for x, y in ring.coords])


def test_focus_off_the_footprint_inside_the_envelope(tm35):
    """issue 17 case 1: a building reaching 5 m past the raster's north edge lies inside the
    raster's WGS84 envelope (the grid is turned against lon/lat), yet it is off the imagery."""
    west, _ = tm35
    to_wgs84 = Transformer.from_crs(TM35, "EPSG:4326", always_xy=True)
    top = 6_672_000.0
    nw, ne = (to_wgs84.transform(x, top) for x in (385_500.0, 385_900.0))
    x0 = 385_510.0 if nw[1] < ne[1] else 385_870.0  # where the north edge dips south
    geom = _tm35_box_wgs84(x0, top - 15, x0 + 20, top + 5)
    assert shapely.box(*west.bounds_wgs84).covers(geom)  # the envelope test passed it
    assert plan_chip(geom, [west], ChipSettings()) == "focus_outside_imagery"
    inside = _tm35_box_wgs84(x0, top - 25, x0 + 20, top - 5)
    assert isinstance(plan_chip(inside, [west], ChipSettings()), ChipPlan)


def test_focus_across_a_mosaic_is_tested_against_the_union_of_footprints(tm35):
    """issue 17 case 1: across two rasters a focus on their joint footprint is planned (a
    mosaic chip), one reaching past their north edge is off the imagery."""
    west, east = tm35
    seam, top = 385_900.0, 6_672_000.0
    across = _tm35_box_wgs84(seam - 30, top - 60, seam + 30, top - 20)
    plan = plan_chip(across, [west, east], ChipSettings())
    assert isinstance(plan, ChipPlan) and plan.mosaic
    to_wgs84 = Transformer.from_crs(TM35, "EPSG:4326", always_xy=True)
    north_lat = max(to_wgs84.transform(x, top)[1] for x in (385_500.0, 386_300.0))
    off = _tm35_box_wgs84(seam - 30, top - 20, seam + 30, top + 4)
    assert off.bounds[3] < north_lat  # inside the union of the envelopes
    assert plan_chip(off, [west, east], ChipSettings()) == "focus_outside_imagery"


# --imagery-plan (issue 18): each object's chip from the finest source where it is visible
# and fits, checked on a real build of one place imaged at 0.3 m, 1 m and 10 m.

PLAN_MIN_PX, PLAN_MAX_PX, PLAN_MIN_CHIP = 5, 64, 16
PLAN_LICENSES = {"aerial-0.3m": ("CC-BY-4.0", "City survey"),
                 "ortho-1m": ("CC0-1.0", None),
                 "sentinel-10m": ("CC-BY-SA-3.0-IGO", "Contains modified Copernicus data")}
PLAN_YAML = f"""\
min_object_px: {PLAN_MIN_PX}
max_chip_px: {PLAN_MAX_PX}
sources:
  - name: sentinel-10m      # no gsd_m: measured from the raster
    imagery: s10m.tif
    license: CC-BY-SA-3.0-IGO
    attribution: Contains modified Copernicus data
  - name: aerial-0.3m
    imagery: [fine]         # a folder, as --imagery takes
    gsd_m: 0.3
    license: CC-BY-4.0
    attribution: City survey
  - name: ortho-1m
    imagery: "ortho/*.tif"
    gsd_m: 1.0
    license: CC0-1.0
"""


def expected_source(feature) -> tuple[str, float, int] | str:
    """The truth of SkyScript's rule for one scene feature, from pyproj and shapely: the
    finest source whose raster holds the whole object (as the OSM file gives it), in which
    its longest side is >= PLAN_MIN_PX pixels and its window (1.5 x that, at least the pixels
    it touches and PLAN_MIN_CHIP) <= PLAN_MAX_PX; else the skip reason."""
    from plan_scene import RASTERS, Y0
    from scene import CRS as SCENE_CRS

    to_lonlat = Transformer.from_crs(SCENE_CRS, "EPSG:4326", always_xy=True)
    to_utm = Transformer.from_crs("EPSG:4326", SCENE_CRS, always_xy=True)
    # as OSM (libosmium) holds coordinates: 1e-7 degree fixed point
    lonlat = [tuple(round(v, 7) for v in to_lonlat.transform(x, y)) for x, y in feature.utm]
    geom = shapely.MultiPoint([to_utm.transform(*p) for p in lonlat]).envelope
    verdicts = []
    for gsd, name in sorted({(r.gsd, r.name) for r in RASTERS}):
        rasters = [r for r in RASTERS if r.name == name]
        if not shapely.union_all([shapely.box(*r.box()) for r in rasters]).contains(geom):
            continue
        # the chip's pixel grid: the raster holding it whole, else the one holding most of it
        raster = max(rasters, key=lambda r: (shapely.box(*r.box()).contains(geom),
                                             shapely.box(*r.box()).intersection(geom).area))
        minx, miny, maxx, maxy = geom.bounds
        x0 = raster.box()[0]
        c0, c1 = (minx - x0) / gsd, (maxx - x0) / gsd
        r0, r1 = (Y0 - maxy) / gsd, (Y0 - miny) / gsd
        extent = max(c1 - c0, r1 - r0)
        cover = max(math.ceil(c1) - math.floor(c0), math.ceil(r1) - math.floor(r0))
        window = max(math.ceil(extent * 1.5), cover, PLAN_MIN_CHIP)
        if feature.osm_type != "node" and extent < PLAN_MIN_PX:
            verdicts.append("small")
        elif window > PLAN_MAX_PX:
            verdicts.append("large")
        else:
            return name, extent, window
    if set(verdicts) == {"small"}:
        return "too_small_in_every_source"
    return "too_large_in_every_source" if set(verdicts) == {"large"} \
        else "too_large_where_visible"


@pytest.fixture(scope="module")
def plan_build(tmp_path_factory):
    """A real skyscript-like build of the plan scene with PLAN_YAML (thresholds in the file)."""
    from conftest import run_cli
    from plan_scene import make_plan_scene, region_bbox

    root = tmp_path_factory.mktemp("imagery_plan")
    osm = make_plan_scene(root)
    plan = root / "plan.yaml"
    plan.write_text(PLAN_YAML, encoding="utf-8")
    out = root / "out"
    run_cli("build-dataset", "skyscript-like", f"--region={region_bbox()}", "--out", str(out),
            "--imagery-plan", str(plan), "--osm", str(osm), "--chip-size", "64",
            "--min-chip-px", str(PLAN_MIN_CHIP), "--no-split-guard", "--image-format", "png",
            "--workers", "1", "--no-progress", check=True)
    return root, out


def _records(out: Path) -> dict[int, dict]:
    """The build's records by their focus feature's OSM id."""
    import tarfile

    records = {}
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    record = json.loads(tar.extractfile(member).read())
                    focus = next(f for f in record["features"] if f["focus"])
                    records[focus["osm_id"]] = record
    return records


def test_imagery_plan_each_object_gets_the_finest_source_where_visible_and_fits(plan_build):
    """issue 18 --imagery-plan: every object's record comes from the source the rule picks
    (computed here with pyproj/shapely), with that source's GSD, a reason giving its size in
    pixels and its window, and that window as the chip's source window; objects visible in
    no source, fitting in none, or only visible where too large are skipped and counted."""
    from plan_scene import plan_features

    _, out = plan_build
    truth = {f.osm_id: expected_source(f) for f in plan_features()}
    chosen = {i: t for i, t in truth.items() if not isinstance(t, str)}
    assert {t[0] for t in chosen.values()} == set(PLAN_LICENSES)  # every source is used
    records = _records(out)
    assert set(records) == set(chosen)
    for osm_id, (name, extent, window) in chosen.items():
        image = records[osm_id]["image"]
        source = image["imagery_source"]
        assert source["name"] == name == image["source"], osm_id
        assert source["gsd_m"] == pytest.approx({"aerial-0.3m": 0.3, "ortho-1m": 1.0,
                                                 "sentinel-10m": 10.0}[name], abs=1e-3)
        size = re.fullmatch(r"finest where visible \((a point|[\d.]+) px\) and fits "
                            r"\((\d+) px window\)", source["reason"].replace("point)", "point px)"))
        assert size, source["reason"]
        if osm_id != 201:
            assert float(size.group(1)) == pytest.approx(extent, abs=0.06)
        else:
            assert size.group(1) == "a point"
        assert int(size.group(2)) == window == records[osm_id]["chip"]["source_window"]["width"]
        assert image["uri"].endswith({"aerial-0.3m": ".tif", "ortho-1m": "o1m.tif",
                                      "sentinel-10m": "s10m.tif"}[name])
        assert ("/fine/" in image["uri"]) == (name == "aerial-0.3m")
    skipped = json.loads((out / "stats.json").read_text())["skipped"]
    for reason in ("too_small_in_every_source", "too_large_in_every_source",
                   "too_large_where_visible"):
        assert skipped.get(reason) == list(truth.values()).count(reason) == 1, reason


def test_imagery_plan_records_carry_their_sources_license(plan_build):
    """issue 18 --imagery-plan: each record's image block and provenance (raster first) carry
    the license and attribution of the source its chip came from; stats.json lists the plan
    (sources finest first, the 10 m GSD measured) and every source's license."""
    _, out = plan_build
    for record in _records(out).values():
        name = record["image"]["imagery_source"]["name"]
        license_, attribution = PLAN_LICENSES[name]
        assert (record["image"]["license"], record["image"]["attribution"]) == PLAN_LICENSES[name]
        raster = record["provenance"]["sources"][0]
        assert raster["kind"] == "imagery" and raster["uri"] == record["image"]["uri"]
        assert (raster["license"], raster["attribution"]) == (license_, attribution)
        assert sorted(record["provenance"]["licenses"]) == sorted({license_, "ODbL-1.0"})
    stats = json.loads((out / "stats.json").read_text())
    plan = stats["imagery_plan"]
    assert [s["name"] for s in plan["sources"]] == ["aerial-0.3m", "ortho-1m", "sentinel-10m"]
    assert [s["gsd"] for s in plan["sources"]] == ["given", "given", "measured"]
    assert plan["sources"][2]["gsd_m"] == pytest.approx(10.0, abs=1e-3)
    assert (plan["min_object_px"], plan["max_chip_px"]) == (PLAN_MIN_PX, PLAN_MAX_PX)
    imagery = {s["uri"].rsplit("/", 1)[-1]: s["license"] for s in stats["sources"]
               if s["kind"] == "imagery"}
    assert imagery == {"a03.tif": "CC-BY-4.0", "a03_strip.tif": "CC-BY-4.0",
                       "o1m.tif": "CC0-1.0", "s10m.tif": "CC-BY-SA-3.0-IGO"}


def test_imagery_plan_edited_is_not_resumed_silently(plan_build):
    """issue 18 --imagery-plan: the plan file is an input of the build; re-running into the
    same OUT after editing it (another license) is a one-line error naming the plan file,
    never a resume that mixes licenses; the unchanged plan resumes as complete."""
    from conftest import run_cli
    from plan_scene import region_bbox

    root, out = plan_build
    plan = root / "plan.yaml"
    args = ["build-dataset", "skyscript-like", f"--region={region_bbox()}", "--out", str(out),
            "--imagery-plan", str(plan), "--osm", str(root / "plan.osm"), "--chip-size", "64",
            "--min-chip-px", str(PLAN_MIN_CHIP), "--no-split-guard", "--image-format", "png",
            "--workers", "1", "--no-progress"]
    again = run_cli(*args)
    assert again.returncode == 0 and "already complete" in again.stdout, again.stderr
    try:
        plan.write_text(PLAN_YAML.replace("CC0-1.0", "CC-BY-4.0"), encoding="utf-8")
        edited = run_cli(*args)
    finally:
        plan.write_text(PLAN_YAML, encoding="utf-8")
    assert edited.returncode == 2
    lines = [line for line in edited.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"--imagery-plan {plan}" in lines[0], edited.stderr


def test_imagery_plan_mosaic_reads_only_the_chosen_source(plan_build):
    """issue 18 --imagery-plan: a chip whose window reaches past its source's rasters is read
    from that source's rasters only: the part beyond the 0.3 m source stays empty (black),
    never filled from the 1 m or 10 m rasters that cover it."""
    import io
    import tarfile

    from PIL import Image

    from plan_scene import FINE_SIDE_M, STRIP_M

    _, out = plan_build
    record = _records(out)[112]
    assert record["image"]["imagery_source"]["name"] == "aerial-0.3m"
    assert record["image"]["uri"].endswith("a03_strip.tif")  # the chip's grid: the strip's
    window = record["chip"]["source_window"]
    edge_col = STRIP_M / 0.3  # the 0.3 m source's east edge, in the strip's pixels
    assert window["col_off"] < 0 and window["col_off"] + window["width"] > edge_col + 1
    size = record["chip"]["width"]
    edge_x = (edge_col - window["col_off"]) * size / window["width"]
    west_x = (-FINE_SIDE_M / 0.3 - window["col_off"]) * size / window["width"]
    assert west_x < 0  # the window's west part lies on the source's first raster
    with tarfile.open(next((out / "data").glob("*.tar"))) as tar:
        image = np.asarray(Image.open(io.BytesIO(
            tar.extractfile(f"{record['id']}.png").read())).convert("RGB"))
    assert image[:, math.ceil(edge_x) + 1:].max() == 0  # beyond the source: nothing read
    assert image[:, : math.floor(edge_x) - 1].min() > 0  # its two rasters' pixels (20..235)


def test_imagery_plan_declared_gsd_sets_what_is_visible(raster):
    """issue 18 --imagery-plan: a source's declared gsd_m is its real resolution (say 10 m
    imagery delivered on a finer pixel grid): an object is visible when its size in pixels
    of that gsd reaches min_object_px, while its window is still counted in the raster's own
    pixels. A 10 m square is 20 pixels of this 0.5 m grid, 2 px at a declared 5 m."""
    from geoscribe.builders.chip_window import choose_source
    from geoscribe.sources.imagery_plan import ImageryPlan, PlanSource

    square = pixel_box_wgs84(400, 300, 420, 320)
    settings = ChipSettings(out_size=64, margin=0.25, min_chip_px=16)
    for declared, expected in ((0.5, 20.0), (5.0, 2.0), (2.5, 4.0)):
        plan = ImageryPlan([PlanSource("s", declared, "CC0-1.0", None, [raster])], 3, 64)
        chosen = choose_source(square, plan, settings)
        if expected < 3:
            assert chosen == "too_small_in_every_source", declared
            continue
        # the window: 1.5 x the 20 raster pixels (30, 31 with reprojection noise), whatever
        # the declared gsd
        assert chosen.side in (30, 31)
        assert chosen.imagery_source["reason"] == (
            f"finest where visible ({expected:.1f} px) and fits ({chosen.side} px window)")
