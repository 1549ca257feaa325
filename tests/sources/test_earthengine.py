"""sources/earthengine: the real earthengine-api against a loopback fake of the Earth Engine
REST API (tests/ee_server.py): request construction, quota retries, the cache, request
splitting (issue 18)."""

from __future__ import annotations

import json
import math
import socket

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.windows import from_bounds

from ee_server import COLLECTION, MAX_BYTES, TOKEN, serve_fake
from geoscribe.errors import GeoscribeError
from geoscribe.sources.earthengine import (
    EE_MAX_REQUEST_BYTES,
    EE_MAX_RETRIES,
    EE_MAX_SIDE_PX,
    EESettings,
    Tile,
    cell_tile,
    fetch_collection,
    parse_datetime,
    retry_cause,
    split_tile,
)
from geoscribe.sources.remote import DiskCache


@pytest.fixture
def ee_fake(scene, tmp_path, monkeypatch):
    """The loopback Earth Engine fake (tests/ee_server.py) serving the scene's raster."""
    yield from serve_fake(scene, tmp_path, monkeypatch)


CELL = (-80.999, 29.827, -80.998, 29.828)  # inside the scene (UTM 17N)


def settings(fake, tmp_path, **extra) -> EESettings:
    return EESettings(extra.pop("collection", COLLECTION), extra.pop("url", fake.url),
                      DiskCache(tmp_path / "cache"), project="test-project", **extra)


def fetch(fake, tmp_path, sleep=lambda s: None, **extra):
    """fetch_collection of CELL (whatever the scale), waits going to `sleep`."""
    return fetch_collection(settings(fake, tmp_path, **extra), lambda scale: [CELL], sleep)


def test_requests_are_built_for_the_cell(ee_fake, tmp_path, scene):
    """issue 18 (earthengine): value:compute filters the collection to the cell and the
    dates; computePixels asks GEO_TIFF of the chosen bands in the cell's UTM zone at the
    scale, over a grid covering the cell; the reply is the source's pixels there."""
    start, end = parse_datetime("2024-04-01/2024-06-30")
    images, stats = fetch(ee_fake, tmp_path, start=start, end=end)
    (query,), (pixels,) = ee_fake.bodies("value:compute"), ee_fake.bodies("image:computePixels")
    text = json.dumps(query)
    assert '"ImageCollection.load"' in text and f'"{COLLECTION}"' in text
    assert json.dumps(list(CELL)) in text and '"Filter.intersects"' in text
    assert "2024-04-01" in text and "2024-06-30" in text
    assert pixels["fileFormat"] == "GEO_TIFF"
    assert pixels["expression"]["values"]["0"]["functionInvocationValue"]["arguments"][
        "bandSelectors"]["constantValue"] == ["B4", "B3", "B2"]
    grid = pixels["grid"]
    assert grid["crsCode"] == "EPSG:32617"  # lon -81: zone 17 north
    aff, dims = grid["affineTransform"], grid["dimensions"]
    assert aff["scaleX"] == 0.5 and aff["scaleY"] == -0.5  # the bands' nominal scale
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32617", always_xy=True)
    xs, ys = to_utm.transform([CELL[0], CELL[2], CELL[0], CELL[2]],
                              [CELL[1], CELL[1], CELL[3], CELL[3]])
    x1, y0 = aff["translateX"] + dims["width"] * 0.5, aff["translateY"] - dims["height"] * 0.5
    assert aff["translateX"] <= min(xs) < aff["translateX"] + 0.5 and max(xs) <= x1 < max(xs) + 1
    assert aff["translateY"] - 0.5 < max(ys) <= aff["translateY"] and min(ys) - 1 < y0 <= min(ys)
    assert all(h == f"Bearer {TOKEN}" for h in ee_fake.auth_headers)
    (image,) = images
    assert image.uri == f"earthengine:{COLLECTION}/20240501T101031_T17RLN"
    assert image.acquired == "2024-05-01"
    with rasterio.open(image.path) as got, rasterio.open(scene.raster) as src:
        want = src.read(window=from_bounds(*got.bounds, transform=src.transform),
                        boundless=True, fill_value=0)
        assert got.crs.to_epsg() == 32617 and np.array_equal(got.read(), want)
    assert stats.as_dict()["requests"] == 2 and stats.as_dict()["bytes_read"] > 0


def test_quota_errors_are_retried_and_counted(ee_fake, tmp_path):
    """issue 18 (earthengine): 429 RESOURCE_EXHAUSTED and 'Too many concurrent aggregations'
    are retried (Retry-After honoured, else 1, 2, 4 s) and counted by cause."""
    ee_fake.fail_next(2)  # Retry-After: 0
    ee_fake.fail_next(1, message="Too many concurrent aggregations.", retry_after=None)
    waits: list[float] = []
    images, stats = fetch(ee_fake, tmp_path, waits.append)
    assert len(images) == 1
    assert stats.as_dict()["retries"] == {"429": 2, "concurrent_aggregations": 1}
    assert waits == [0.0, 0.0, 4.0]  # the third try waits 2**2 s: no Retry-After
    assert stats.as_dict()["requests"] == 5


def test_retries_end_in_one_line(ee_fake, tmp_path):
    """issue 18 (earthengine): quota errors past EE_MAX_RETRIES end in a one-line error."""
    ee_fake.fail_next(EE_MAX_RETRIES + 1)
    with pytest.raises(GeoscribeError) as info:
        fetch(ee_fake, tmp_path)
    message = str(info.value)
    assert "\n" not in message and f"after {EE_MAX_RETRIES + 1} tries" in message
    assert "Quota exceeded" in message
    assert len(ee_fake.bodies("value:compute")) == EE_MAX_RETRIES + 1


def test_rerun_reads_the_cache_only(ee_fake, tmp_path):
    """issue 18 (earthengine): a re-run makes no request at all (not even the library's
    discovery), its counters show the cache hits, and gives the same files."""
    first, _ = fetch(ee_fake, tmp_path)
    seen = len(ee_fake.requests)
    again, stats = fetch(ee_fake, tmp_path)
    assert len(ee_fake.requests) == seen
    assert stats.as_dict()["requests"] == 0 and stats.as_dict()["cache_hits"] == 2
    assert [i.path for i in again] == [i.path for i in first]


def test_split_under_the_real_limits():
    """issue 18 (earthengine): a cell too large for one request (0.05 deg at 0.1 m: over
    32768 px a side) is cut into tiles each under 48 MiB and 32768 px, tiling it exactly."""
    tile = cell_tile((-81.05, 29.8, -81.0, 29.85), 0.1)
    assert tile.width > EE_MAX_SIDE_PX
    pieces = split_tile(tile, 6)  # 3 bands of uint16
    assert len(pieces) > 1
    assert all(p.width <= EE_MAX_SIDE_PX and p.height <= EE_MAX_SIDE_PX
               and p.width * p.height * 6 <= EE_MAX_REQUEST_BYTES for p in pieces)
    cols = {(p.x0, p.width) for p in pieces}
    rows = {(p.y1, p.height) for p in pieces}
    assert sum(w for _, w in cols) == tile.width and sum(h for _, h in rows) == tile.height
    assert len(pieces) == len(cols) * len(rows)
    assert math.isclose(min(x for x, _ in cols), tile.x0)
    assert math.isclose(max(y for y, _ in rows), tile.y1)


def test_large_cells_are_fetched_in_pieces(ee_fake, tmp_path, scene):
    """issue 18 (earthengine): with a smaller request limit, a cell is fetched in several
    computePixels requests each under it, whose mosaic is the cell's pixels."""
    limit = 40_000
    images, _ = fetch(ee_fake, tmp_path, max_bytes=limit)
    bodies = ee_fake.bodies("image:computePixels")
    assert len(bodies) == len(images) > 1
    sizes = [b["grid"]["dimensions"]["width"] * b["grid"]["dimensions"]["height"] * 3
             for b in bodies]
    assert max(sizes) <= limit
    whole = cell_tile(CELL, 0.5)
    assert sum(sizes) == whole.width * whole.height * 3
    with rasterio.open(scene.raster) as src:
        for image in images:
            with rasterio.open(image.path) as got:
                want = src.read(window=from_bounds(*got.bounds, transform=src.transform),
                        boundless=True, fill_value=0)
                assert np.array_equal(got.read(), want)


def test_unknown_collection_is_one_line(ee_fake, tmp_path):
    """issue 18 (earthengine): a collection the server does not know: one line naming it."""
    with pytest.raises(GeoscribeError) as info:
        fetch(ee_fake, tmp_path, collection="NO/SUCH")
    assert "\n" not in str(info.value) and "'NO/SUCH' not found" in str(info.value)


def test_dead_server_is_one_line(ee_fake, tmp_path):
    """issue 18 (earthengine): an endpoint nobody answers: one line naming it in its public
    form (no user-info, no query), no hang."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://builder:PASSWORD-123@127.0.0.1:{port}/?key=APIKEY-456"
    with pytest.raises(GeoscribeError) as info:
        fetch(ee_fake, tmp_path, url=url)
    message = str(info.value)
    assert "\n" not in message and f"http://127.0.0.1:{port}" in message
    assert "PASSWORD-123" not in message and "APIKEY-456" not in message


def test_tile_grid_is_a_pixel_grid():
    """issue 18 (earthengine): the PixelGrid of a tile as computePixels reads it."""
    grid = Tile("EPSG:32617", 500000.0, 3300000.0, 10.0, 3, 2).grid()
    assert grid == {"crsCode": "EPSG:32617", "dimensions": {"width": 3, "height": 2},
                    "affineTransform": {"scaleX": 10.0, "shearX": 0, "translateX": 500000.0,
                                        "shearY": 0, "scaleY": -10.0,
                                        "translateY": 3300000.0}}
    assert MAX_BYTES == EE_MAX_REQUEST_BYTES


def test_timeouts_are_retried_other_errors_not():
    """issue 18 (earthengine): a request the library gave up waiting for (TimeoutError) is
    retried as `timeout`; an invalid request is not retried."""
    assert retry_cause(TimeoutError("read timed out"))[0] == "timeout"
    assert retry_cause(ValueError("Image.load: asset not found"))[0] is None


def test_margin_cells_follow_the_region_scale(ee_fake, tmp_path):
    """issue 18 (earthengine): without --ee-scale the scale is the nominal scale of the
    region's images (0.5 m here), used for the cells around the region and every tile."""
    asked: list[float] = []
    neighbour = (CELL[0] + 0.001, CELL[1], CELL[2] + 0.001, CELL[3])

    def cells_at(scale: float):
        asked.append(scale)
        return [CELL] if scale == 0 else [CELL, neighbour]

    images, _ = fetch_collection(settings(ee_fake, tmp_path), cells_at, lambda s: None)
    assert asked == [0.0, 0.5]
    assert len(ee_fake.bodies("value:compute")) == 2  # the region's cell is asked once
    assert [i.tile.scale for i in images] == [0.5, 0.5]
    assert {i.tile.x0 for i in images} == {cell_tile(c, 0.5).x0 for c in (CELL, neighbour)}
