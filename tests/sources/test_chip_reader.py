"""ChipReader.read: windowed reads, mosaics across files, and truncated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

from geoscribe.builders.chip_window import plan_chip
from geoscribe.sources.chip_qc import ChipQC
from geoscribe.sources.chip_reader import ChipReader, ChipReadError
from geoscribe.sources.imagery import index_raster
from geoscribe.types import ChipPlan, ChipSettings

CRS = "EPSG:32633"
T = Affine(0.5, 0.0, 500000.0, 0.0, -0.5, 6600000.0)
W = H = 400


def write(path: Path, data: np.ndarray, transform=T, crs=CRS, **extra) -> Path:
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=data.dtype, crs=crs, transform=transform, **extra) as dst:
        dst.write(data)
    return path


def window_plan(info, col_off, row_off, side, out_size, mosaic=False) -> ChipPlan:
    t = Affine(*info.transform) @ Affine.translation(col_off, row_off) @ Affine.scale(
        side / out_size)
    return ChipPlan(info, col_off, row_off, side, out_size, t, mosaic)


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    directory = tmp_path_factory.mktemp("chips")
    data = np.random.default_rng(7).integers(0, 256, (3, H, W), dtype=np.uint8)
    full = write(directory / "full.tif", data)
    left = write(directory / "left.tif", data[:, :, : W // 2])
    right = write(directory / "right.tif", data[:, :, W // 2:],
                  transform=T @ Affine.translation(W // 2, 0))
    return data, full, left, right


def test_window_read_equals_raw_rasterio(noise):
    data, full, _, _ = noise
    info = index_raster(full)
    reader = ChipReader([info])
    try:
        for col, row, side in [(0, 0, 128), (37, 201, 128), (W - 64, H - 64, 64)]:
            rgb, valid = reader.read(window_plan(info, col, row, side, side))
            with rasterio.open(full) as src:
                raw = src.read([1, 2, 3], window=Window(col, row, side, side))
            assert rgb.shape == (side, side, 3) and rgb.dtype == np.uint8
            assert np.array_equal(rgb, np.moveaxis(raw, 0, -1))
            assert np.array_equal(rgb, np.moveaxis(data[:, row:row + side, col:col + side], 0, -1))
            assert valid.shape == (side, side) and valid.all()
    finally:
        reader.close()


def test_downsampled_window_averages(tmp_path):
    # 2x2 blocks of constant value: averaging to half size reproduces the block values
    blocks = np.random.default_rng(3).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    data = blocks.repeat(2, axis=1).repeat(2, axis=2)
    info = index_raster(write(tmp_path / "blocks.tif", data))
    rgb, valid = ChipReader([info]).read(window_plan(info, 0, 0, 64, 32))
    assert valid.all()
    assert np.array_equal(rgb, np.moveaxis(blocks, 0, -1))


def test_nodata_is_invalid(tmp_path):
    data = np.full((1, 40, 40), 500, dtype=np.uint16)
    data[0, :10, :] = 0
    data[0, 20:, :] = np.arange(40, dtype=np.uint16) * 10 + 100
    info = index_raster(write(tmp_path / "pan.tif", data, nodata=0))
    rgb, valid = ChipReader([info]).read(window_plan(info, 0, 0, 40, 40))
    assert not valid[:10].any()
    assert valid[10:].all()
    assert rgb.shape == (40, 40, 3)
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_mosaic_same_crs_is_exact(noise):
    data, full, left, right = noise
    full_info, left_info, right_info = (index_raster(p) for p in (full, left, right))
    # a window crossing the seam at column 200, read from the left file's grid
    col, row, side = 150, 60, 128
    plan = window_plan(left_info, col, row, side, side, mosaic=True)
    rgb, valid = ChipReader([left_info, right_info]).read(plan)
    assert valid.all()
    assert np.array_equal(rgb, np.moveaxis(data[:, row:row + side, col:col + side], 0, -1))
    # and the same as a plain window of the unsplit file
    single, _ = ChipReader([full_info]).read(window_plan(full_info, col, row, side, side))
    assert np.array_equal(rgb, single)


def test_planned_mosaic_matches_single_file(noise):
    from pyproj import Transformer
    from shapely.geometry import box

    _, full, left, right = noise
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    # object from pixel (180, 100) to (230, 140): straddles the seam
    x0, y0 = T.c + 180 * T.a, T.f + 100 * T.e
    x1, y1 = T.c + 230 * T.a, T.f + 140 * T.e
    (lon0, lon1), (lat0, lat1) = to_wgs84.transform([x0, x1], [y0, y1])
    geom = box(min(lon0, lon1), min(lat0, lat1), max(lon0, lon1), max(lat0, lat1))
    settings = ChipSettings(out_size=128, min_chip_px=128)
    halves = [index_raster(left), index_raster(right)]
    plan = plan_chip(geom, halves, settings)
    assert isinstance(plan, ChipPlan) and plan.mosaic
    single_plan = plan_chip(geom, [index_raster(full)], settings)
    assert isinstance(single_plan, ChipPlan) and not single_plan.mosaic
    rgb, valid = ChipReader(halves).read(plan)
    ref, _ = ChipReader([index_raster(full)]).read(single_plan)
    assert valid.all()
    assert np.array_equal(rgb, ref)


def test_mosaic_with_half_in_another_crs(tmp_path):
    # a smooth image, so bilinear resampling after reprojection stays close
    yy, xx = np.mgrid[0:H, 0:W]
    data = np.stack([xx * 0.5, yy * 0.5, (xx + yy) * 0.25]).astype(np.uint8)
    full = write(tmp_path / "full.tif", data)
    left = write(tmp_path / "left.tif", data[:, :, : W // 2])
    right_t = T @ Affine.translation(W // 2, 0)
    x0, y0 = right_t.c, right_t.f
    bounds = (x0, y0 - H * 0.5, x0 + (W // 2) * 0.5, y0)
    west, south, east, north = transform_bounds(CRS, "EPSG:32634", *bounds)
    dst_t = Affine(0.5, 0.0, west, 0.0, -0.5, north)
    dst_w, dst_h = int(np.ceil((east - west) / 0.5)), int(np.ceil((north - south) / 0.5))
    warped = np.zeros((3, dst_h, dst_w), dtype=np.uint8)
    reproject(data[:, :, W // 2:], warped, src_transform=right_t, src_crs=CRS,
              dst_transform=dst_t, dst_crs="EPSG:32634", resampling=Resampling.bilinear,
              src_nodata=None, dst_nodata=0)
    right = write(tmp_path / "right_34.tif", warped, transform=dst_t, crs="EPSG:32634",
                  nodata=0)
    left_info, right_info = index_raster(left), index_raster(right)
    assert right_info.crs == "EPSG:32634"
    col, row, side = 140, 150, 120
    plan = window_plan(left_info, col, row, side, side, mosaic=True)
    rgb, valid = ChipReader([left_info, right_info]).read(plan)
    ref, _ = ChipReader([index_raster(full)]).read(window_plan(index_raster(full), col, row,
                                                                side, side))
    assert np.array_equal(rgb[:, :55], ref[:, :55])  # left of the seam: the same file
    inner = valid.copy()
    inner[:, 55:65] = False  # the seam column may be resampled differently
    assert valid[:, 70:].mean() > 0.95
    diff = np.abs(rgb.astype(int) - ref.astype(int))[inner]
    assert diff.mean() < 1.5
    assert np.percentile(diff, 99) <= 3


def test_truncated_file_raises_chip_read_error(tmp_path):
    data = np.random.default_rng(11).integers(0, 256, (3, 512, 512), dtype=np.uint8)
    path = write(tmp_path / "tiled.tif", data, tiled=True, blockxsize=64, blockysize=64)
    size = path.stat().st_size
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(path.read_bytes()[: int(size * 0.6)])
    info = index_raster(truncated)  # the header still opens
    reader = ChipReader([info])
    try:
        # the top rows are intact
        rgb, _ = reader.read(window_plan(info, 0, 0, 128, 128))
        assert np.array_equal(rgb, np.moveaxis(data[:, :128, :128], 0, -1))
        with pytest.raises(ChipReadError) as err:
            reader.read(window_plan(info, 384, 384, 128, 128))
        assert err.value.uri == str(truncated)
        assert str(truncated) in str(err.value)
    finally:
        reader.close()


def test_reader_keeps_at_most_max_open(noise):
    _, full, left, right = noise
    infos = [index_raster(p) for p in (full, left, right)]
    reader = ChipReader(infos, max_open=2)
    for info in infos:
        reader.read(window_plan(info, 0, 0, 16, 16))
    assert len(reader._open) == 2
    assert list(reader._open) == [infos[1].path, infos[2].path]
    reader.close()
    assert not reader._open


def test_mosaic_uses_the_callers_chip_bounds(noise, monkeypatch):
    """issue 11 mends: a builder that has the chip's WGS84 bounds passes them, and the mosaic
    read does not compute them again; without them it computes them itself, same pixels."""
    import geoscribe.sources.chip_reader as chip_reader
    from geoscribe.geometry import chip_bounds_wgs84

    data, _full, left, right = noise
    left_info, right_info = index_raster(left), index_raster(right)
    plan = window_plan(left_info, 150, 60, 128, 128, mosaic=True)
    bounds = chip_bounds_wgs84(plan.transform, plan.out_size, plan.crs)
    reader = ChipReader([left_info, right_info])
    computed, _ = reader.read_planes(plan)

    def fail(*_args):
        raise AssertionError("chip bounds computed again")

    monkeypatch.setattr(chip_reader, "chip_bounds_wgs84", fail)
    planes, valid = reader.read_checked(plan, ChipQC(), bounds)
    assert valid.all()
    assert np.array_equal(planes, computed)
    assert np.array_equal(planes, data[:, 60:188, 150:278])
