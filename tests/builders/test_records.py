"""The record blocks every recipe shares (builders/records.py): chip, image, provenance."""

from __future__ import annotations

import pytest
from affine import Affine

from geoscribe import __version__
from geoscribe.builders.context import BuildContext
from geoscribe.builders.records import chip_block, image_block, key_part, provenance_block
from geoscribe.types import ChipPlan, RasterInfo, SourceLicense

RASTER = RasterInfo(path="/data/in/ortho_2021.tif", crs="EPSG:32633",
                    transform=(0.3, 0.0, 400000.0, 0.0, -0.3, 5600000.0), width=4000,
                    height=3000, count=3, dtype="uint8", nodata=None, bands=[1, 2, 3],
                    bounds_wgs84=(14.0, 50.5, 14.02, 50.51), gsd_m=0.3, acquired="2021-06-01",
                    rule="passthrough", uri="https://example.org/ortho_2021.tif")
IMAGERY = SourceLicense("imagery", RASTER.uri, "CC-BY-4.0", "State survey", "Ortho 2021")
OSM_A = SourceLicense("osm", "file://b.osm.pbf", "ODbL-1.0", "OpenStreetMap contributors")
OSM_B = SourceLicense("osm", "file://a.osm", "ODbL-1.0", "OpenStreetMap contributors")
LABELS = SourceLicense("labels", "file://labels.gpkg", "CC0-1.0")


def _context(licenses: dict) -> BuildContext:
    return BuildContext(recipe="skyscript-like", work_dir="w", store_path="s", rasters=[RASTER],
                        licenses=licenses, unit_deg=0.01, split_block_deg=0.05,
                        split_fractions=(0.8, 0.1, 0.1), split_guard=True, seed=0)


def _plan(col: int, row: int, side: int, out: int) -> ChipPlan:
    transform = (Affine(*RASTER.transform) @ Affine.translation(col, row)
                 @ Affine.scale(side / out))
    return ChipPlan(RASTER, col, row, side, out, transform, False)


@pytest.mark.parametrize("side,out", [(256, 256), (600, 256), (128, 256)])
def test_chip_block_describes_the_pixels_as_written(side, out):
    """issue 11: the chip's affine maps output pixels (gsd scaled by side/out) to the world."""
    plan = _plan(1000, 2000, side, out)
    block = chip_block(plan, (14.001234567891, 50.5, 14.0049999999949, 50.503))
    scale = side / out
    assert block["transform"] == pytest.approx(
        [0.3 * scale, 0.0, 400000.0 + 1000 * 0.3, 0.0, -0.3 * scale, 5600000.0 - 2000 * 0.3])
    assert block["gsd_m"] == pytest.approx(0.3 * scale)
    assert block["width"] == block["height"] == out
    assert block["crs"] == "EPSG:32633"
    assert block["source_window"] == {"col_off": 1000, "row_off": 2000, "width": side,
                                      "height": side}
    assert block["bbox_wgs84"] == [14.00123457, 50.5, 14.005, 50.503]


def test_image_block_names_the_raster_and_its_license():
    """issue 11: with a license entry the image has its name/license; without, its file name
    and 'unknown'."""
    plan = _plan(0, 0, 256, 256)
    known = image_block(_context({RASTER.path: IMAGERY}), plan)
    assert known == {"source": "Ortho 2021", "uri": RASTER.uri, "acquired": "2021-06-01",
                     "license": "CC-BY-4.0", "attribution": "State survey",
                     "conversion": "passthrough"}
    unknown = image_block(_context({}), plan)
    assert unknown["source"] == "ortho_2021.tif"
    assert (unknown["license"], unknown["attribution"]) == ("unknown", None)


def test_provenance_lists_raster_first_then_inputs_by_uri():
    """issue 11: the raster's source first, then each used input sorted by uri (unknown
    inputs left out); licenses are the sorted set; the version and extra keys are kept."""
    ctx = _context({RASTER.path: IMAGERY, "/in/b.pbf": OSM_A, "/in/a.osm": OSM_B,
                    "/in/labels.gpkg": LABELS})
    block = provenance_block(ctx, RASTER.path, ["/in/labels.gpkg", "/in/b.pbf", "/in/a.osm",
                                                "/in/not-registered.osm"], clipped=True)
    assert [s["uri"] for s in block["sources"]] == [
        RASTER.uri, "file://a.osm", "file://b.osm.pbf", "file://labels.gpkg"]
    assert block["sources"][0] == {"kind": "imagery", "uri": RASTER.uri,
                                   "license": "CC-BY-4.0", "attribution": "State survey"}
    assert block["licenses"] == ["CC-BY-4.0", "CC0-1.0", "ODbL-1.0"]
    assert block["geoscribe_version"] == __version__ and block["clipped"] is True
    assert all("/in/" not in s["uri"] for s in block["sources"])  # uris, never local paths
    bare = provenance_block(_context({}), RASTER.path, [])
    assert bare["sources"] == [] and bare["licenses"] == []


@pytest.mark.parametrize("text, expected", [
    ("way/123", "way-123"), ("a.b..c", "a-b-c"), ("Ünïcode_ok-1", "-n-code_ok-1"),
    ("scene_utm", "scene_utm"), ("x y\tz", "x-y-z"),
])
def test_key_part_keeps_only_key_safe_characters(text, expected):
    """issue 11 (dedupe 2): the one key-safety rule of feature and tile keys."""
    assert key_part(text) == expected
