"""Imagery indexing and the 8-bit conversion rule, on generated rasters and SpaceNet samples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod, Transformer
from rasterio.enums import ColorInterp
from rasterio.warp import transform_bounds

from geoscribe.errors import InputError
from geoscribe.sources.imagery import expand_imagery, index_raster, to_rgb8
from geoscribe.sources.registry_data import SOLARIS_WHEEL, fetch_members

UTM_TRANSFORM = Affine(0.5, 0.0, 500000.0, 0.0, -0.5, 6600000.0)


@pytest.fixture(scope="session")
def solaris_files() -> dict[str, Path]:
    return fetch_members(SOLARIS_WHEEL)


def write_tif(path: Path, data: np.ndarray, crs="EPSG:32633", transform=UTM_TRANSFORM,
              colorinterp=None, **extra) -> Path:
    count, height, width = data.shape
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype=data.dtype,
                   crs=crs, transform=transform, **extra)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if colorinterp is not None:
            dst.colorinterp = colorinterp
    return path


# --- expand_imagery ---------------------------------------------------------------------------

def test_expand_directory_glob_and_file(tmp_path):
    sub = tmp_path / "tiles" / "deep"
    sub.mkdir(parents=True)
    a = tmp_path / "tiles" / "b.tif"
    b = sub / "a.TIF"
    c = tmp_path / "tiles" / "c.vrt"
    for p in (a, b, c):
        p.write_bytes(b"x")
    (tmp_path / "tiles" / "notes.txt").write_text("not imagery")

    assert expand_imagery([str(tmp_path / "tiles")]) == sorted([a, b, c])
    assert expand_imagery([str(tmp_path / "tiles" / "*.tif")]) == [a]
    assert expand_imagery([str(a)]) == [a]
    # duplicates collapse, order is sorted
    assert expand_imagery([str(c), str(a), str(tmp_path / "tiles" / "*.tif")]) == sorted([a, c])


def test_expand_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        expand_imagery([str(tmp_path / "missing.tif")])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no rasters")
    with pytest.raises(InputError) as info:
        expand_imagery([str(empty)])
    assert str(empty) in str(info.value)
    with pytest.raises(InputError, match="glob"):
        expand_imagery([str(tmp_path / "*.tif")])


# --- index_raster -----------------------------------------------------------------------------

def test_index_uint8_rgb_passthrough(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3, 60, 80), dtype=np.uint8)
    path = write_tif(tmp_path / "rgb.tif", data)
    info = index_raster(path)
    assert info.crs == "EPSG:32633"
    assert (info.width, info.height, info.count, info.dtype) == (80, 60, 3, "uint8")
    assert info.rule == "passthrough"
    assert info.stretch == []
    assert info.bands == [1, 2, 3]
    assert info.gsd_m == pytest.approx(0.5)
    assert Affine(*info.transform) == UTM_TRANSFORM
    left, top = UTM_TRANSFORM.c, UTM_TRANSFORM.f
    right, bottom = left + 80 * UTM_TRANSFORM.a, top + 60 * UTM_TRANSFORM.e
    expected = transform_bounds("EPSG:32633", "EPSG:4326", left, bottom, right, top)
    assert info.bounds_wgs84 == pytest.approx(expected, abs=1e-12)
    assert info.bounds_wgs84[0] == pytest.approx(15.0, abs=1e-9)  # central meridian of 33N


def test_index_colorinterp_picks_rgb_bands(tmp_path):
    data = np.stack([np.full((20, 20), v, dtype=np.uint8) for v in (10, 20, 30, 40)])
    interp = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    path = write_tif(tmp_path / "bgrx.tif", data, colorinterp=interp, photometric="MINISBLACK")
    with rasterio.open(path) as src:
        assert list(src.colorinterp) == interp
    info = index_raster(path)
    assert info.bands == [3, 2, 1]
    with rasterio.open(path) as src:
        read = src.read(info.bands)
    rgb = to_rgb8(read, info)
    assert rgb[0, 0].tolist() == [30, 20, 10]  # red, green, blue


def test_index_uint16_stretch_matches_numpy_percentiles(solaris_files):
    path = solaris_files["solaris/data/sample_geotiff.tif"]
    info = index_raster(path)
    with rasterio.open(path) as src:
        data = src.read(1)
        nodata = src.nodata
        crs = src.crs
        bounds = src.bounds
    assert info.crs == "EPSG:32616" and crs.to_epsg() == 32616
    assert (info.width, info.height, info.count) == (900, 900, 1)
    assert info.rule == "stretch"
    assert info.bands == [1]
    assert info.gsd_m == pytest.approx(0.5)
    assert info.bounds_wgs84 == pytest.approx(
        transform_bounds(crs, "EPSG:4326", *bounds), abs=1e-12
    )
    valid = data[data != nodata]  # the file is small: the whole file is the sample
    lo, hi = np.percentile(valid, [2, 98])
    assert info.stretch == [pytest.approx((lo, hi))]


def test_geographic_raster_gsd_and_bounds(solaris_files):
    path = solaris_files["solaris/data/road_mask_input.tif"]
    info = index_raster(path)
    with rasterio.open(path) as src:
        t, w, h, bounds = src.transform, src.width, src.height, src.bounds
    assert info.crs == "EPSG:4326"
    assert info.bounds_wgs84 == pytest.approx(tuple(bounds), abs=1e-12)
    # one pixel measured on the ellipsoid at the image centre
    geod = Geod(ellps="WGS84")
    lon, lat = t.c + t.a * w / 2, t.f + t.e * h / 2
    _, _, dx = geod.inv(lon, lat, lon + t.a, lat)
    _, _, dy = geod.inv(lon, lat, lon, lat - t.e)
    assert info.gsd_m == pytest.approx(math.sqrt(dx * dy), rel=0.01)
    assert 0.2 < info.gsd_m < 0.35


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_not_georeferenced_tif_is_input_error(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1,
                       dtype="uint8") as dst:
        dst.write(np.zeros((1, 8, 8), dtype=np.uint8))
    with pytest.raises(InputError) as info:
        index_raster(path)
    assert str(path) in str(info.value)


def test_unreadable_raster_is_input_error(tmp_path):
    path = tmp_path / "junk.tif"
    path.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(InputError) as info:
        index_raster(path)
    assert str(path) in str(info.value)


def test_acquisition_date_from_tiff_datetime(tmp_path):
    data = np.zeros((3, 8, 8), dtype=np.uint8)
    path = write_tif(tmp_path / "dated.tif", data)
    with rasterio.open(path, "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2021:07:04 10:11:12")
    assert index_raster(path).acquired == "2021-07-04"


# --- to_rgb8 ----------------------------------------------------------------------------------

def test_rgb8_passthrough_is_bit_exact(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (3, 33, 47), dtype=np.uint8)
    info = index_raster(write_tif(tmp_path / "rgb.tif", data))
    rgb = to_rgb8(data, info)
    assert rgb.dtype == np.uint8 and rgb.shape == (33, 47, 3)
    assert np.array_equal(rgb, np.moveaxis(data, 0, -1))


def test_single_band_uint8_becomes_grey(tmp_path):
    data = np.random.default_rng(2).integers(0, 256, (1, 16, 16), dtype=np.uint8)
    info = index_raster(write_tif(tmp_path / "grey.tif", data))
    assert info.bands == [1] and info.rule == "passthrough"
    rgb = to_rgb8(data, info)
    assert rgb.shape == (16, 16, 3)
    for channel in range(3):
        assert np.array_equal(rgb[..., channel], data[0])


def test_uint16_stretch_maps_percentiles_to_0_and_255(tmp_path):
    # a ramp 0..9999: the 2nd/98th percentiles are known in closed form
    ramp = np.arange(10000, dtype=np.uint16).reshape(1, 100, 100)
    info = index_raster(write_tif(tmp_path / "pan.tif", ramp))
    assert info.rule == "stretch"
    lo, hi = np.percentile(np.arange(10000), [2, 98])
    assert info.stretch == [pytest.approx((lo, hi))]
    probe = np.array([[[0, math.floor(lo), math.ceil(lo), 5000, math.floor(hi), 9999]]],
                     dtype=np.uint16)
    out = to_rgb8(probe, info)
    assert out.shape == (1, 6, 3)
    grey = out[0, :, 0]
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert grey[0] == 0 and grey[1] == 0  # at or below the low limit
    assert grey[-1] == 255 and grey[-2] == 255  # at or above the high limit
    expected_mid = 255.0 * (5000 - lo) / (hi - lo)
    assert abs(int(grey[3]) - expected_mid) <= 0.5 + 1e-6
    assert np.all(np.diff(grey.astype(int)) >= 0)


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 14.0), (0.0, 209.0), (126.0, 1109.0), (7.0, 4000.0)])
def test_uint16_stretch_high_limit_is_exactly_255(lo, hi):
    """The value equal to the 98th percentile must reach full white (float32 rounding)."""
    from geoscribe.types import RasterInfo

    info = RasterInfo(
        path="x.tif", crs="EPSG:32633", transform=tuple(UTM_TRANSFORM)[:6], width=3, height=1,
        count=1, dtype="uint16", nodata=None, bands=[1], bounds_wgs84=(0, 0, 1, 1), gsd_m=1.0,
        acquired=None, rule="stretch", stretch=[(lo, hi)],
    )
    data = np.array([[[lo, (lo + hi) / 2, hi]]], dtype=np.uint16)
    out = to_rgb8(data, info)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 2].tolist() == [255, 255, 255]


def test_three_band_uint16_stretches_each_band(tmp_path):
    rng = np.random.default_rng(3)
    data = np.stack([
        rng.integers(100, 200, (50, 50)), rng.integers(1000, 3000, (50, 50)),
        rng.integers(0, 60000, (50, 50)),
    ]).astype(np.uint16)
    info = index_raster(write_tif(tmp_path / "ms.tif", data))
    assert info.bands == [1, 2, 3] and len(info.stretch) == 3
    for band in range(3):
        lo, hi = np.percentile(data[band], [2, 98])
        assert info.stretch[band] == pytest.approx((lo, hi))
    rgb = to_rgb8(data, info)
    for band in range(3):
        lo, hi = info.stretch[band]
        expected = np.clip(np.rint((data[band].astype(np.float64) - lo) * 255 / (hi - lo)),
                           0, 255)
        assert np.abs(rgb[..., band].astype(int) - expected).max() <= 1


def test_local_engineering_crs_is_input_error(tmp_path):
    """issue 10 case 11: a raster in a local engineering CRS (no transformation to WGS84) is a
    one-line InputError naming it, not a rasterio/PROJ exception."""
    local = rasterio.crs.CRS.from_wkt(
        'LOCAL_CS["Site grid",LOCAL_DATUM["Site datum",10000],UNIT["metre",1],'
        'AXIS["X",EAST],AXIS["Y",NORTH]]')
    path = write_tif(tmp_path / "site.tif", np.full((3, 16, 16), 90, np.uint8), crs=local)
    with pytest.raises(InputError) as info:
        index_raster(path)
    assert str(info.value) == (f"--imagery {path}: its CRS (Site grid) cannot be transformed "
                               "to WGS84")


@pytest.mark.parametrize("crs", ["EPSG:3067", "EPSG:3857", "EPSG:4326"])
def test_gsd_is_the_geodesic_size_of_a_pixel(tmp_path, crs):
    """issue 17 case 3: gsd_m is ground metres (about 0.5 m here) in every CRS, checked with
    pyproj.Geod over one pixel at the raster's centre; on EPSG:3857 it is not the CRS unit
    (1.005 Mercator metres a pixel at 60.17°N)."""
    from helsinki import write_raster

    path = write_raster(tmp_path / "h.tif", crs, 0.5)
    info = index_raster(path)
    to_wgs84 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    with rasterio.open(path) as src:
        t, col, row = src.transform, src.width / 2, src.height / 2
    lonlat = [to_wgs84.transform(*(t @ cr)) for cr in ((col, row), (col + 1, row),
                                                        (col, row + 1))]
    geod = Geod(ellps="WGS84")
    dx = geod.inv(*lonlat[0], *lonlat[1])[2]
    dy = geod.inv(*lonlat[0], *lonlat[2])[2]
    assert info.gsd_m == pytest.approx(math.sqrt(dx * dy), rel=0.01)
    assert info.gsd_m == pytest.approx(0.5, rel=0.01)


def test_remote_gdal_env_only_for_urls():
    """issue 18 (stac): GDAL's HTTP settings are set when a raster is read by URL (the
    User-Agent, range merging, no directory probe), none for local files; the allowed
    extensions only when every URL ends in a GeoTIFF suffix (its query aside)."""
    from geoscribe.sources.imagery import remote_gdal_env
    from geoscribe.sources.remote import USER_AGENT

    assert remote_gdal_env(["/data/a.tif", "b.tif"]) == {}
    env = remote_gdal_env(["/data/a.tif", "https://h/x/a.TIF?sig=1"])
    assert env["GDAL_HTTP_USERAGENT"] == USER_AGENT
    assert env["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert env["GDAL_HTTP_MERGE_CONSECUTIVE_RANGES"] == "YES"
    assert ".TIF" in env["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"].split(",")
    assert "CPL_VSIL_CURL_ALLOWED_EXTENSIONS" not in remote_gdal_env(["https://h/download?id=1"])
