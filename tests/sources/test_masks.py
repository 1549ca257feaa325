"""Label rasters: class maps, indexing, and reading a mask onto a chip's grid.

Masks are GeoTIFFs written in the test with rasterio; expected windows are slices of the
array written (or np.kron upsamplings of it), and reference counts come from
scipy.ndimage.label with an explicit 8-connected structure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from scipy import ndimage

from geoscribe.errors import InputError
from geoscribe.qa.objects import semantic_objects
from geoscribe.sources.masks import ClassMap, MaskInfo, index_mask, load_class_map, read_mask
from geoscribe.types import RasterInfo

UTM = "EPSG:32617"
X0, Y0 = 500_000.0, 4_000_000.0
EIGHT = np.ones((3, 3), dtype=int)
CLASSES = ClassMap({1: "building", 2: "road", 3: "tree"})


def _write(path: Path, data: np.ndarray, *, crs=UTM, transform=None, nodata=None,
           dtype=None) -> Path:
    data = data if data.ndim == 3 else data[np.newaxis]
    profile = {"driver": "GTiff", "count": data.shape[0], "height": data.shape[1],
               "width": data.shape[2], "dtype": dtype or data.dtype.name}
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(profile["dtype"]))
    return path


def _blocks(rows: int, cols: int, seed: int) -> np.ndarray:
    """A class raster of random 4 x 4 blocks (values 0..3), so objects have some size."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 4, size=(rows // 4, cols // 4)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4), dtype=np.uint8))


# --- class maps ---------------------------------------------------------------------------


def test_load_class_map_json(tmp_path):
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({"1": "building", " 2 ": " road ", "*": "object"}))
    cmap = load_class_map(path)
    assert cmap.classes == {1: "building", 2: "road"}
    assert cmap.default == "object"
    assert cmap.names == ["building", "road", "object"]


def test_load_class_map_yaml_int_keys_and_order(tmp_path):
    path = tmp_path / "classes.yaml"
    path.write_text("3: tree\n1: building\n2: building\n")
    cmap = load_class_map(path)
    assert cmap.classes == {1: "building", 2: "building", 3: "tree"}
    assert cmap.default is None
    assert cmap.names == ["building", "tree"]  # by value, each name once


def test_load_class_map_yaml_default_only(tmp_path):
    path = tmp_path / "classes.yml"
    path.write_text('"*": car\n')
    cmap = load_class_map(path)
    assert cmap.classes == {} and cmap.default == "car"
    assert cmap.names == ["car"]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad_key.json", '{"one": "building"}'),
        ("float_key.json", '{"1.5": "building"}'),
        ("empty_name.json", '{"1": "  "}'),
        ("number_name.yaml", "1: 5\n"),
        ("empty.json", "{}"),
        ("empty.yaml", ""),
        ("list.yaml", "- building\n- road\n"),
        ("scalar.yaml", "just some words\n"),
        ("garbage.json", "{not json at all"),
        ("garbage.yaml", "key: [unclosed\n  : :"),
    ],
)
def test_load_class_map_errors_name_the_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_class_map(path)
    assert str(path) in str(info.value)


def test_load_class_map_binary_garbage_is_an_input_error(tmp_path):
    path = tmp_path / "classes.json"
    path.write_bytes(bytes(range(128, 256)) * 4)  # not UTF-8
    with pytest.raises(InputError) as info:
        load_class_map(path)
    assert str(path) in str(info.value)


def test_load_class_map_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    with pytest.raises(InputError) as info:
        load_class_map(path)
    assert str(path) in str(info.value)


# --- index_mask ---------------------------------------------------------------------------


def test_index_mask_describes_the_raster(tmp_path):
    data = _blocks(40, 60, seed=1)
    transform = from_origin(X0, Y0, 0.5, 0.5)
    path = _write(tmp_path / "mask.tif", data, transform=transform, nodata=255)
    info = index_mask(path, CLASSES, "semantic")
    assert info.path == str(path)
    assert CRS.from_string(info.crs) == CRS.from_epsg(32617)
    assert info.transform == tuple(transform)[:6]
    assert (info.width, info.height) == (60, 40)
    assert info.nodata == 255
    assert info.kind == "semantic" and info.class_map == CLASSES
    to_wgs84 = Transformer.from_crs(32617, 4326, always_xy=True)
    lons, lats = to_wgs84.transform([X0, X0 + 30, X0, X0 + 30], [Y0, Y0, Y0 - 20, Y0 - 20])
    expected = (min(lons), min(lats), max(lons), max(lats))
    assert info.bounds_wgs84 == pytest.approx(expected, abs=1e-7)
    assert info.bounds_wgs84[0] == pytest.approx(-81.0)  # x = 500 km: the central meridian


def test_index_mask_instance_kind(tmp_path):
    data = np.arange(100, dtype=np.uint16).reshape(10, 10)
    path = _write(tmp_path / "ids.tif", data, transform=from_origin(X0, Y0, 1, 1))
    info = index_mask(path, ClassMap({}, "building"), "instance")
    assert info.kind == "instance" and info.nodata is None


def test_index_mask_rejects_multiband(tmp_path):
    data = np.zeros((3, 10, 10), dtype=np.uint8)
    path = _write(tmp_path / "rgb.tif", data, transform=from_origin(X0, Y0, 1, 1))
    with pytest.raises(InputError) as info:
        index_mask(path, CLASSES, "semantic")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_index_mask_rejects_float(tmp_path, dtype):
    data = np.ones((10, 10))
    path = _write(tmp_path / "float.tif", data, transform=from_origin(X0, Y0, 1, 1),
                  dtype=dtype)
    with pytest.raises(InputError) as info:
        index_mask(path, CLASSES, "semantic")
    assert str(path) in str(info.value)


def test_index_mask_rejects_non_georeferenced(tmp_path):
    path = _write(tmp_path / "plain.tif", np.ones((10, 10), dtype=np.uint8), crs=None)
    with pytest.raises(InputError) as info:
        index_mask(path, CLASSES, "semantic")
    assert str(path) in str(info.value)


def test_index_mask_missing_and_unreadable(tmp_path):
    missing = tmp_path / "missing.tif"
    with pytest.raises(InputError) as info:
        index_mask(missing, CLASSES, "semantic")
    assert str(missing) in str(info.value)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"this is not a tiff" * 10)
    with pytest.raises(InputError) as info:
        index_mask(junk, CLASSES, "semantic")
    assert str(junk) in str(info.value)


def test_index_mask_bad_kind(tmp_path):
    path = _write(tmp_path / "mask.tif", np.ones((10, 10), dtype=np.uint8),
                  transform=from_origin(X0, Y0, 1, 1))
    with pytest.raises(InputError) as info:
        index_mask(path, CLASSES, "panoptic")
    assert "panoptic" in str(info.value)


# --- read_mask: aligned -------------------------------------------------------------------


@pytest.mark.parametrize("nodata", [None, 255])
def test_aligned_window_equals_raw_values(tmp_path, nodata):
    data = _blocks(64, 80, seed=2)
    path = _write(tmp_path / "mask.tif", data, transform=from_origin(X0, Y0, 0.5, 0.5),
                  nodata=nodata)
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    row, col, height, width = 12, 20, 32, 40
    window_transform = from_origin(X0 + col * 0.5, Y0 - row * 0.5, 0.5, 0.5)
    values, valid = read_mask(info, info.crs, window_transform, width, height, datasets)
    assert values.shape == valid.shape == (height, width)
    np.testing.assert_array_equal(values, data[row:row + height, col:col + width])
    assert valid.all()
    assert set(datasets) == {str(path)}  # the open dataset is cached for the next chip
    again, _ = read_mask(info, info.crs, window_transform, width, height, datasets)
    np.testing.assert_array_equal(again, values)
    for src in datasets.values():
        src.close()


def test_same_grid_with_crs_given_as_wkt_reads_the_same_values(tmp_path):
    data = _blocks(32, 32, seed=10)
    path = _write(tmp_path / "mask.tif", data, transform=from_origin(X0, Y0, 1, 1))
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    wkt = CRS.from_epsg(32617).to_wkt()
    values, valid = read_mask(info, wkt, from_origin(X0 + 4, Y0 - 8, 1, 1), 20, 16, datasets)
    np.testing.assert_array_equal(values, data[8:24, 4:24])
    assert valid.all()
    for src in datasets.values():
        src.close()


@pytest.mark.parametrize("nodata", [None, 255])
def test_window_partly_outside_the_mask_is_invalid_there(tmp_path, nodata):
    data = _blocks(40, 48, seed=3)
    path = _write(tmp_path / "mask.tif", data, transform=from_origin(X0, Y0, 1, 1),
                  nodata=nodata)
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    # starts 8 px left of and 10 px above the mask: the lower-right 22 x 24 overlap
    row, col, size = -10, -8, 32
    transform = from_origin(X0 + col, Y0 - row, 1, 1)
    values, valid = read_mask(info, info.crs, transform, size, size, datasets)
    expected_valid = np.zeros((size, size), dtype=bool)
    expected_valid[10:, 8:] = True
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(values[10:, 8:], data[:22, :24])

    # and past the lower-right corner
    row, col = 30, 40
    transform = from_origin(X0 + col, Y0 - row, 1, 1)
    values, valid = read_mask(info, info.crs, transform, size, size, datasets)
    expected_valid = np.zeros((size, size), dtype=bool)
    expected_valid[:10, :8] = True
    np.testing.assert_array_equal(valid, expected_valid)
    np.testing.assert_array_equal(values[:10, :8], data[30:, 40:])
    for src in datasets.values():
        src.close()


def test_aligned_nodata_pixels_are_invalid(tmp_path):
    data = _blocks(32, 32, seed=4)
    data[5:9, :] = 255  # a nodata stripe through the mask
    path = _write(tmp_path / "mask.tif", data, transform=from_origin(X0, Y0, 1, 1),
                  nodata=255)
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    values, valid = read_mask(info, info.crs, from_origin(X0, Y0, 1, 1), 32, 32, datasets)
    np.testing.assert_array_equal(valid, data != 255)
    np.testing.assert_array_equal(values[valid], data[data != 255])
    for src in datasets.values():
        src.close()


# --- read_mask: other grids ---------------------------------------------------------------


def test_coarser_mask_read_onto_finer_grid_is_nearest_exact(tmp_path):
    data = _blocks(40, 40, seed=5)
    data[np.random.default_rng(5).random(data.shape) < 0.05] = 2  # some single pixels
    path = _write(tmp_path / "mask_1m.tif", data, transform=from_origin(X0, Y0, 1.0, 1.0))
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    # a 0.5 m imagery grid whose origin is on the 1 m grid: mask rows 6..30, cols 4..28
    row, col, size = 6, 4, 24
    transform = from_origin(X0 + col, Y0 - row, 0.5, 0.5)
    values, valid = read_mask(info, info.crs, transform, 2 * size, 2 * size, datasets)
    expected = np.kron(data[row:row + size, col:col + size], np.ones((2, 2), dtype=np.uint8))
    np.testing.assert_array_equal(values, expected)
    assert valid.all()

    classes = {1: "building", 2: "road", 3: "tree"}
    objects = semantic_objects(values, classes, min_pixels=1, valid=valid)
    for value, name in classes.items():
        _, reference = ndimage.label(expected == value, structure=EIGHT)
        assert sum(obj.class_name == name for obj in objects) == reference
        assert sum(obj.pixels for obj in objects if obj.value == value) == \
            int((expected == value).sum())
    for src in datasets.values():
        src.close()


def test_finer_grid_partly_outside_coarser_mask(tmp_path):
    data = _blocks(20, 20, seed=6)
    path = _write(tmp_path / "mask_1m.tif", data, transform=from_origin(X0, Y0, 1.0, 1.0))
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    # 0.5 m grid starting 5 m left of the mask: the first 10 columns are outside
    transform = from_origin(X0 - 5, Y0, 0.5, 0.5)
    values, valid = read_mask(info, info.crs, transform, 40, 40, datasets)
    expected_valid = np.zeros((40, 40), dtype=bool)
    expected_valid[:, 10:] = True
    np.testing.assert_array_equal(valid, expected_valid)
    expected = np.kron(data[:20, :15], np.ones((2, 2), dtype=np.uint8))
    np.testing.assert_array_equal(values[:, 10:], expected)
    for src in datasets.values():
        src.close()


def test_coarser_mask_nodata_is_invalid_on_finer_grid(tmp_path):
    data = _blocks(24, 24, seed=7)
    data[10:12, 3:20] = 0
    path = _write(tmp_path / "mask_1m.tif", data, transform=from_origin(X0, Y0, 1.0, 1.0),
                  nodata=0)
    info = index_mask(path, CLASSES, "semantic")
    datasets: dict = {}
    values, valid = read_mask(info, info.crs, from_origin(X0, Y0, 0.5, 0.5), 48, 48, datasets)
    ones = np.ones((2, 2), dtype=np.uint8)
    np.testing.assert_array_equal(valid, np.kron(data != 0, ones).astype(bool))
    np.testing.assert_array_equal(values[valid], np.kron(data, ones)[valid])
    for src in datasets.values():
        src.close()


def _reproject_to_wgs84(src_path: Path, dst_path: Path, nodata: int) -> None:
    with rasterio.open(src_path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4326", src.width, src.height, *src.bounds)
        out = np.full((height, width), nodata, dtype=np.uint8)
        reproject(rasterio.band(src, 1), out, dst_transform=transform, dst_crs="EPSG:4326",
                  resampling=Resampling.nearest, dst_nodata=nodata)
    _write(dst_path, out, crs="EPSG:4326", transform=transform, nodata=nodata)


def test_mask_in_another_crs_keeps_class_values(tmp_path):
    data = _blocks(64, 64, seed=8)
    utm_path = _write(tmp_path / "utm.tif", data, transform=from_origin(X0, Y0, 1, 1))
    geo_path = tmp_path / "wgs84.tif"
    _reproject_to_wgs84(utm_path, geo_path, nodata=255)
    info = index_mask(geo_path, CLASSES, "semantic")
    assert CRS.from_string(info.crs) == CRS.from_epsg(4326)
    datasets: dict = {}
    # read back onto the original UTM grid at a finer resolution
    values, valid = read_mask(info, UTM, from_origin(X0, Y0, 0.5, 0.5), 128, 128, datasets)
    assert valid.mean() > 0.9  # the mask covers (almost) all of the UTM window
    assert set(np.unique(values[valid]).tolist()) <= {0, 1, 2, 3}
    # nearest-neighbour twice: most pixels agree with the original classes
    original = np.kron(data, np.ones((2, 2), dtype=np.uint8))
    assert (values[valid] == original[valid]).mean() > 0.9
    for src in datasets.values():
        src.close()


def test_reprojected_mask_nodata_is_invalid(tmp_path):
    data = _blocks(64, 64, seed=9)
    data[20:40, 20:40] = 200  # a block of nodata in the middle
    utm_path = _write(tmp_path / "utm.tif", data, transform=from_origin(X0, Y0, 1, 1),
                      nodata=200)
    geo_path = tmp_path / "wgs84.tif"
    _reproject_to_wgs84(utm_path, geo_path, nodata=200)
    info = index_mask(geo_path, CLASSES, "semantic")
    datasets: dict = {}
    values, valid = read_mask(info, UTM, from_origin(X0, Y0, 1, 1), 64, 64, datasets)
    assert not valid[24:36, 24:36].any()  # well inside the nodata block
    assert valid[:16, :16].all() and valid[44:60, 44:60].all()
    assert set(np.unique(values[valid]).tolist()) <= {0, 1, 2, 3}
    # a UTM window beyond the mask's extent is invalid
    values, valid = read_mask(info, UTM, from_origin(X0 + 200, Y0, 1, 1), 32, 32, datasets)
    assert not valid.any()
    for src in datasets.values():
        src.close()


def test_mask_uri_defaults_like_a_raster_uri(tmp_path, monkeypatch):
    """issue 11 mends: MaskInfo and RasterInfo built without a uri both name the file by its
    path; index_mask (like index_raster) gives a cached registry file its canonical id."""
    monkeypatch.setenv("GEOSCRIBE_CACHE", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "registry" / "solaris/data/sample_geotiff.tif"
    cached.parent.mkdir(parents=True)
    with rasterio.open(cached, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       crs="EPSG:32617", transform=from_origin(500_000, 3_300_000, 1, 1)) as dst:
        dst.write(np.ones((4, 4), dtype="uint8"), 1)
    cmap = ClassMap({1: "building"})
    mask = MaskInfo(str(cached), "EPSG:32617", (1, 0, 0, 0, -1, 0), 4, 4, None, (0, 0, 1, 1),
                    "semantic", cmap)
    raster = RasterInfo(str(cached), "EPSG:32617", (1, 0, 0, 0, -1, 0), 4, 4, 1, "uint8", None,
                        [1], (0, 0, 1, 1), 1.0, None, "passthrough")
    assert mask.uri == raster.uri == str(cached)
    assert index_mask(cached, cmap, "semantic").uri == \
        "pypi:solaris==0.4.0/solaris/data/sample_geotiff.tif"
