"""TileBuilder (builders/tiles.py), the base of the tile recipes, on a generated UTM GeoTIFF
and a label raster covering part of it: which tiles are built or skipped (and why), their
split, key, chip block, image pixels and mask window, each recomputed here with rasterio,
pyproj and numpy."""

from __future__ import annotations

import hashlib
import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.windows import Window

from geoscribe.builders.context import BuildContext
from geoscribe.builders.tiles import TileBuilder
from geoscribe.engine.units import Unit
from geoscribe.region import block_split
from geoscribe.sources.imagery import index_raster
from geoscribe.sources.masks import ClassMap, index_mask
from geoscribe.types import SourceLicense
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, write_raster

TILE = 256
MASK_W, MASK_H = 512, 640  # the label raster covers the top-left of the 1024 px scene
NODATA = 0
TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


class Probe(TileBuilder):
    """A tile recipe that records what the base class hands it."""

    prefix = "probe"

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.seen: dict[tuple[int, int], np.ndarray] = {}

    def describe(self, values, labelled, mask, plan, key):
        self.seen[(plan.col_off, plan.row_off)] = np.where(labelled, values, NODATA)
        return {"texts": {"caption": "A tile."}, "label": {"n": int(labelled.sum())}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiles")
    raster = d / "my scene (v2).final.tif"
    write_raster(raster, seed=4)
    rng = np.random.default_rng(2)
    labels = rng.integers(1, 4, (MASK_H, MASK_W)).astype(np.uint8)
    labels[0:256, 256:512] = NODATA  # mostly unlabelled ...
    labels[0:40, 256:512] = 2  # ... but not all of it
    mask = d / "labels.tif"
    with rasterio.open(mask, "w", driver="GTiff", width=MASK_W, height=MASK_H, count=1,
                       dtype="uint8", crs=CRS, transform=from_origin(ORIGIN_X, ORIGIN_Y, GSD, GSD),
                       nodata=NODATA) as dst:
        dst.write(labels, 1)
    return raster, mask, labels


def _context(inputs, **kw) -> BuildContext:
    raster, mask, _ = inputs
    info = index_raster(raster)
    cmap = ClassMap({1: "water", 2: "grass", 3: "road"})
    licenses = {str(raster): SourceLicense("imagery", info.uri, "CC-BY-4.0", "Imagery Co"),
                str(mask): SourceLicense("labels", "file://labels.tif", "ODbL-1.0")}
    settings = dict(recipe="probe", work_dir="w", store_path="s", rasters=[info],
                    licenses=licenses, unit_deg=0.01, split_block_deg=1.0,
                    split_fractions=(0.6, 0.2, 0.2), split_guard=True, seed=3,
                    masks=[index_mask(mask, cmap, "semantic")], tile_px=TILE,
                    image_format="png")
    return BuildContext(**{**settings, **kw})


def _footprint(col: int, row: int) -> tuple[float, float, float, float]:
    """The tile's WGS84 bounds from its four corners projected with pyproj."""
    xs = [ORIGIN_X + (col + dx) * GSD for dx in (0, TILE)]
    ys = [ORIGIN_Y - (row + dy) * GSD for dy in (0, TILE)]
    lons, lats = zip(*(TO_WGS84.transform(x, y) for x in xs for y in ys), strict=True)
    return min(lons), min(lats), max(lons), max(lats)


def _expected(labels: np.ndarray, col: int, row: int) -> str:
    """What the base class must do with a tile: skip it (reason) or build it ("sample")."""
    window = labels[row:row + TILE, col:col + TILE]
    if window.size == 0:
        return "no_mask"
    return "mostly_unlabelled" if np.count_nonzero(window) < TILE * TILE / 2 else "sample"


def _safe(stem: str) -> str:
    """Each run of characters other than ASCII letters, digits, '_' and '-' as one '-'."""
    out: list[str] = []
    for char in stem:
        if char.isascii() and (char.isalnum() or char in "_-"):
            out.append(char)
        elif not out or out[-1] != "\0":
            out.append("\0")
    return "".join(out).replace("\0", "-")


ITEMS = [(0, 0), (256, 0), (448, 256), (0, 384), (768, 768), (256, 256)]


def _build(ctx: BuildContext, items) -> tuple[Probe, list, list[str]]:
    builder = Probe(ctx)
    skipped: list[str] = []
    unit = Unit(0, 0, 0.01, items=tuple((0, c, r) for c, r in items))
    try:
        samples = list(builder.unit_samples(unit, skipped.append))
    finally:
        builder.close()
    return builder, samples, skipped


def test_tiles_are_built_or_skipped_by_their_label_cover(inputs):
    """issue 11: no overlapping mask -> no_mask; under half labelled -> mostly_unlabelled;
    the rest are built, in item order, with the mask window the tile covers."""
    _, _, labels = inputs
    builder, samples, skipped = _build(_context(inputs), ITEMS)
    outcomes = [_expected(labels, c, r) for c, r in ITEMS]
    assert {"no_mask", "mostly_unlabelled", "sample"} <= set(outcomes)
    assert skipped == [o for o in outcomes if o != "sample"]
    built = [(c, r) for (c, r), o in zip(ITEMS, outcomes, strict=True) if o == "sample"]
    assert [(s.record["chip"]["source_window"]["col_off"],
             s.record["chip"]["source_window"]["row_off"]) for s in samples] == built
    assert builder.candidates == len(ITEMS)
    for col, row in built:
        want = np.zeros((TILE, TILE), dtype=np.uint8)
        part = labels[row:row + TILE, col:col + TILE]
        want[:part.shape[0], :part.shape[1]] = part
        assert np.array_equal(builder.seen[(col, row)], want)


def test_record_chip_image_and_provenance(inputs):
    """issue 11: chip transform/bbox/window, PNG pixels and provenance of a built tile."""
    raster, _, labels = inputs
    ctx = _context(inputs)
    _, samples, _ = _build(ctx, [(0, 0), (256, 256)])
    assert len(samples) == 2
    with rasterio.open(raster) as src:
        for sample in samples:
            chip = sample.record["chip"]
            col, row = chip["source_window"]["col_off"], chip["source_window"]["row_off"]
            assert chip["transform"] == pytest.approx(
                [GSD, 0, ORIGIN_X + col * GSD, 0, -GSD, ORIGIN_Y - row * GSD])
            assert chip["width"] == chip["height"] == TILE and chip["gsd_m"] == GSD
            assert chip["bbox_wgs84"] == pytest.approx(_footprint(col, row), abs=1e-7)
            pixels = np.asarray(Image.open(io.BytesIO(sample.image)))
            want = src.read(window=Window(col, row, TILE, TILE)).transpose(1, 2, 0)
            assert np.array_equal(pixels, want)
            assert sample.key == sample.record["id"] and sample.split == sample.record["split"]
            sources = sample.record["provenance"]["sources"]
            assert [s["kind"] for s in sources] == ["imagery", "labels"]
            assert sample.record["image"]["license"] == "CC-BY-4.0"
            assert sample.record["texts"] == {"caption": "A tile."}


def test_key_is_safe_and_names_raster_window_and_size(inputs, tmp_path):
    """issue 11: key = prefix_<raster stem, unsafe characters as '-', 32 max>-<uri sha256[:6]>
    _c<col>_r<row>_s<side>."""
    long_name = tmp_path / ("Zürich ortho.photo #3 " * 3 + ".tif")
    shutil.copy(inputs[0], long_name)
    for raster in (inputs[0], long_name):
        ctx = _context((raster, inputs[1], inputs[2]))
        _, samples, _ = _build(ctx, [(0, 0)])
        stem = _safe(Path(raster).stem)
        digest = hashlib.sha256(ctx.rasters[0].uri.encode()).hexdigest()[:6]
        assert samples[0].key == f"probe_{stem[:32]}-{digest}_c0_r0_s{TILE}"


@pytest.mark.parametrize("guard", [True, False])
def test_split_is_the_centre_block_and_the_guard_drops_straddlers(inputs, guard):
    """issue 11: a tile's split is its centre's block's; with the guard, a tile whose blocks
    hold more than one split is skipped as split_boundary."""
    block, seed, fractions = 0.001, 3, (0.6, 0.2, 0.2)
    ctx = _context(inputs, split_block_deg=block, split_guard=guard, masks=[])
    grid = [(c, r) for c in range(0, 1024, TILE) for r in range(0, 1024, TILE)]
    outcomes = {}
    for col, row in grid:
        x0, y0, x1, y1 = _footprint(col, row)
        cells = {(ix, iy) for ix in range(math.floor(x0 / block), math.floor(x1 / block) + 1)
                 for iy in range(math.floor(y0 / block), math.floor(y1 / block) + 1)}
        splits = {block_split(ix, iy, seed, fractions) for ix, iy in cells}
        centre = block_split(math.floor((x0 + x1) / 2 / block),
                             math.floor((y0 + y1) / 2 / block), seed, fractions)
        outcomes[(col, row)] = "split_boundary" if guard and len(splits) > 1 else centre

    class NoMask(Probe):
        uses_mask = False

        def describe_features(self, plan, bbox_wgs84, key):
            return {"texts": {"caption": "A tile."}}

    builder = NoMask(ctx)
    skipped: list[str] = []
    samples = list(builder.unit_samples(Unit(0, 0, 0.01, items=tuple((0, c, r) for c, r in grid)),
                                        skipped.append))
    builder.close()
    got = {(s.record["chip"]["source_window"]["col_off"],
            s.record["chip"]["source_window"]["row_off"]): s.split for s in samples}
    assert got == {k: v for k, v in outcomes.items() if v != "split_boundary"}
    assert skipped == ["split_boundary"] * sum(v == "split_boundary" for v in outcomes.values())
    if guard:
        assert skipped and got  # some tiles straddle blocks of different splits, some not
    else:
        assert len(set(got.values())) > 1  # the grid spans blocks of several splits
