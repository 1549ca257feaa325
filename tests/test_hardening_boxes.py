"""issue 10 case 13: the box of a feature that the chip's edge cuts is the bounds of the part of
its geometry inside the chip, in every recipe that writes boxes.

A generated scene (a UTM GeoTIFF and OSM XML, tests/scene.py) puts squares turned 45° over
chip and tile corners and L-shaped roads across them. Every box written is recomputed here
from the feature's lon/lat (as in the OSM file) and the record's `chip.transform`: projected
with pyproj, intersected with the chip's rectangle by shapely.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import shapely
import shapely.affinity
from affine import Affine
from pyproj import Transformer

from conftest import run_cli
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, Scene, SceneFeature, write_osm, write_raster
from test_cli_e2e import read_samples

GEOCHAT_BOX = re.compile(r"\{<(\d+)><(\d+)><(\d+)><(\d+)>\|<(-?\d+)>\}")
JSON_BOX = re.compile(r"\[-?[\d.]+, -?[\d.]+, -?[\d.]+, -?[\d.]+\]")
NODE_BOX = 4


def _utm(col: float, row: float) -> tuple[float, float]:
    """Source-raster pixel (col, row) -> UTM metres."""
    return ORIGIN_X + col * GSD, ORIGIN_Y - row * GSD


def _diamond(col: float, row: float, half: float) -> list[tuple[float, float]]:
    """A square turned 45°, centred on (col, row) with corners `half` pixels away."""
    corners = [(col + half, row), (col, row + half), (col - half, row), (col, row - half)]
    return [_utm(*p) for p in [*corners, corners[0]]]


def corner_features() -> list[SceneFeature]:
    """A small building whose 128 px chip spans source pixels 336-464 (both axes), a 45°
    building over that chip's top-left corner and an L-shaped road over its bottom-right
    one; the same pair again over the corners of 256 px tiles (512, 512) and (768, 768);
    a node near the chip's left edge."""
    building = [_utm(c, r) for c, r in ((392, 392), (408, 392), (408, 408), (392, 408),
                                        (392, 392))]
    return [
        SceneFeature("way", 1, {"building": "yes"}, building),
        SceneFeature("way", 2, {"building": "yes"}, _diamond(346, 326, 30)),
        SceneFeature("way", 3, {"highway": "residential"},
                     [_utm(484, 434), _utm(439, 479), _utm(404, 444)]),
        SceneFeature("way", 4, {"building": "yes"}, _diamond(522, 502, 30)),
        SceneFeature("way", 5, {"highway": "residential"},
                     [_utm(748, 798), _utm(793, 753), _utm(828, 788)]),
        SceneFeature("node", 6, {"man_made": "water_tower"}, [_utm(338, 400)]),
    ]


@pytest.fixture(scope="module")
def corner_scene(tmp_path_factory) -> Scene:
    directory = tmp_path_factory.mktemp("corner_scene")
    features = corner_features()
    write_raster(directory / "scene_utm.tif")
    write_osm(directory / "scene.osm", features)
    return Scene(directory / "scene_utm.tif", directory / "scene.osm", features)


def _build(scene: Scene, out: Path, recipe: str, *extra: str) -> list[dict]:
    run_cli("build-dataset", recipe, f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--no-progress", *extra, check=True)
    return [json.loads(s["json"]) for s in read_samples(out)]


def _pixel_geometry(feature: SceneFeature, record: dict):
    """The feature, from its lon/lat as written in the OSM file, in the record's chip pixels."""
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    to_chip_crs = Transformer.from_crs("EPSG:4326", record["chip"]["crs"], always_xy=True)
    inverse = ~Affine(*record["chip"]["transform"])
    pixels = []
    for x, y in feature.utm:
        lon, lat = (round(v, 9) for v in to_wgs84.transform(x, y))
        pixels.append(inverse @ to_chip_crs.transform(lon, lat))
    if len(pixels) == 1:
        return shapely.Point(pixels[0])
    return shapely.Polygon(pixels) if pixels[0] == pixels[-1] else shapely.LineString(pixels)


def _chip(record: dict):
    return shapely.box(0, 0, record["chip"]["width"], record["chip"]["height"])


def expected_part(feature: SceneFeature, record: dict):
    """The part of the feature inside the chip (a node: its ±4 px box, clipped)."""
    geom = _pixel_geometry(feature, record)
    if geom.geom_type == "Point":
        geom = shapely.box(geom.x - NODE_BOX, geom.y - NODE_BOX, geom.x + NODE_BOX,
                           geom.y + NODE_BOX)
    return geom.intersection(_chip(record))


def whole_box_clipped(feature: SceneFeature, record: dict) -> list[float]:
    """What the boxes were before: the feature's whole box clipped to the chip."""
    return list(shapely.box(*_pixel_geometry(feature, record).bounds)
                .intersection(_chip(record)).bounds)


def _check_boxes(records: list[dict], scene: Scene) -> int:
    """Every feature's bbox_px is its part's bounds; returns how many of them the old rule
    (whole box clipped) gets wrong by more than a pixel."""
    by_id = {(f.osm_type, f.osm_id): f for f in scene.features}
    differ = 0
    for record in records:
        for entry in record["features"]:
            truth = by_id[(entry["osm_type"], entry["osm_id"])]
            expected = list(expected_part(truth, record).bounds)
            assert entry["bbox_px"] == pytest.approx(expected, abs=0.02), (record["id"], entry)
            if truth.osm_type != "node":  # nodes keep their ±4 px box, clipped
                old = whole_box_clipped(truth, record)
                differ += max(abs(a - b) for a, b in zip(old, expected, strict=True)) > 1
    return differ


def test_skyscript_boxes_are_the_parts_inside_the_chip(corner_scene, tmp_path):
    """issue 10 case 13: skyscript-like `features[].bbox_px` of the 45° building at the chip's
    corner is [0, 0, 30, 20] (not the whole box clipped, [0, 0, 40, 20]); every box of every
    record is the bounds of the feature's part inside the chip."""
    records = _build(corner_scene, tmp_path / "o", "skyscript-like", "--image-format", "png",
                     "--chip-size", "128", "--min-chip-px", "128")
    assert _check_boxes(records, corner_scene) >= 3
    chip_of_1 = next(r for r in records if any(f["focus"] and f["osm_id"] == 1
                                               for f in r["features"]))
    boxes = {f["osm_id"]: f for f in chip_of_1["features"]}
    assert boxes[2]["bbox_px"] == pytest.approx([0, 0, 30, 20], abs=0.02)
    assert boxes[3]["bbox_px"] == pytest.approx([68, 108, 128, 128], abs=0.02)
    assert boxes[2]["clipped"] and boxes[3]["clipped"] and boxes[6]["clipped"]


def _geochat_answer_boxes(record: dict, pattern: re.Pattern) -> list[str]:
    return pattern.findall(record["conversations"][1]["value"])


def _fits_minimum_rectangle(geom, theta: int) -> bool:
    """Whether the box of `geom` turned by -θ (degrees, pixels) is its minimum rotated
    rectangle, to the error of a whole-degree θ. Right triangles (a diamond cut at a corner)
    have two such rectangles, so the angle itself is not unique."""
    if geom.geom_type == "Point":
        return theta == 0
    x0, y0, x1, y1 = shapely.affinity.rotate(geom, -theta, origin=(0, 0)).bounds
    b = geom.bounds
    slack = 0.01 * ((b[2] - b[0]) ** 2 + (b[3] - b[1]) ** 2) + 0.5  # |dθ| <= 0.5° = 0.0087
    return (x1 - x0) * (y1 - y0) <= shapely.minimum_rotated_rectangle(geom).area + slack


def test_geochat_boxes_and_angles_are_of_the_parts_inside_the_tile(corner_scene, tmp_path):
    """issue 10 case 13: geochat-like boxes `{<x1><y1><x2><y2>|<θ>}` and `rotation_deg` are of
    the part of each feature inside the tile (θ of that part's minimum rotated rectangle)."""
    records = _build(corner_scene, tmp_path / "o", "geochat-like")
    by_id = {(f.osm_type, f.osm_id): f for f in corner_scene.features}
    assert _check_boxes(records, corner_scene) >= 2
    not_whole = 0
    for record in records:
        size = record["chip"]["width"]
        expected = []
        for entry in record["features"][:6]:
            truth = by_id[(entry["osm_type"], entry["osm_id"])]
            part, theta = expected_part(truth, record), entry["rotation_deg"]
            if truth.osm_type == "node":
                assert theta == 0
            else:
                assert _fits_minimum_rectangle(part, theta), (record["id"], entry)
                not_whole += not _fits_minimum_rectangle(_pixel_geometry(truth, record), theta)
            corners = (max(0, min(100, round(v / size * 100))) for v in part.bounds)
            expected.append((*(str(v) for v in corners), str(theta)))
        assert sorted(_geochat_answer_boxes(record, GEOCHAT_BOX)) == sorted(expected)
    assert not_whole >= 1  # a cut feature whose angle is its part's, not its whole's


def test_geochat_json_boxes_are_the_parts_inside_the_tile(corner_scene, tmp_path):
    """issue 10 case 13: `--box-format json` boxes are the pixel bounds of the part inside."""
    records = _build(corner_scene, tmp_path / "o", "geochat-like", "--box-format", "json")
    by_id = {(f.osm_type, f.osm_id): f for f in corner_scene.features}
    assert _check_boxes(records, corner_scene) >= 2
    for record in records:
        expected = [[round(v, 1) for v in expected_part(by_id[(e["osm_type"], e["osm_id"])],
                                                        record).bounds]
                    for e in record["features"][:6]]
        written = [json.loads(b) for b in _geochat_answer_boxes(record, JSON_BOX)]
        assert len(written) == len(expected)
        for box, truth in zip(sorted(written), sorted(expected), strict=True):
            assert box == pytest.approx(truth, abs=0.11)


def test_rsvqa_boxes_are_the_parts_inside_the_tile(corner_scene, tmp_path):
    """issue 10 case 13: rsvqa-like `features[].bbox_px` (which its left/right/above/below
    relations compare) are the bounds of the part inside the tile."""
    records = _build(corner_scene, tmp_path / "o", "rsvqa-like", "--qa-per-chip", "60")
    assert _check_boxes(records, corner_scene) >= 2


def test_invalid_label_ring_across_a_tile_edge_gets_a_box(corner_scene, tmp_path):
    """issue 10 case 13: a self-crossing ring from a labels file that a tile's edge cuts gets
    the box of its (made valid) part inside the tile; the build used to stop with a GEOS
    TopologyException."""
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    ring = [_utm(c, r) for c, r in ((230, 240), (290, 270), (290, 240), (230, 270), (230, 240))]
    labels = tmp_path / "bowtie.geojson"
    labels.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "properties": {"building": "yes"},
        "geometry": {"type": "Polygon",
                     "coordinates": [[list(to_wgs84.transform(*p)) for p in ring]]}}]}))
    out = tmp_path / "o"
    result = run_cli("build-dataset", "geochat-like", f"--region={corner_scene.bbox}", "--out",
                     str(out), "--imagery", str(corner_scene.raster), "--labels", str(labels),
                     "--split-block-deg", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    bowtie = SceneFeature("way", 0, {}, ring)
    seen = 0
    for sample in read_samples(out):
        record = json.loads(sample["json"])
        (entry,) = record["features"]
        part = shapely.make_valid(_pixel_geometry(bowtie, record)).intersection(_chip(record))
        assert entry["bbox_px"] == pytest.approx(list(part.bounds), abs=0.02)
        seen += 1
    assert seen == 4  # the ring crosses the corner of four tiles
