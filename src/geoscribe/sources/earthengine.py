"""Earth Engine imagery (issue 18, `--imagery earthengine:COLLECTION`): per cell of a grid,
the collection's least-cloudy image is found (`value:compute`) and its pixels are fetched as
GeoTIFF (`image:computePixels`) in the cell's UTM zone at the chosen scale, in requests under
Earth Engine's limits (48 MiB and 32768 px a side; larger cells are split into tiles).

Rules:
- the image of a cell: the collection filtered to the cell (and to `--datetime`), sorted by
  cloud cover (`CLOUDY_PIXEL_PERCENTAGE`, else `CLOUD_COVER`, else 0), ties to the most
  recent; one real image, never a composite, so each chip names its acquisition;
- bands: the first of R/G/B, B4/B3/B2 (Sentinel-2), SR_B4/SR_B3/SR_B2 (Landsat),
  red/green/blue the image has, else its first band (grey);
- scale: `--ee-scale`, else the finest nominal scale of those bands over the images of the
  region's cells (one scale for the run);
- every reply is cached on disk keyed by the public endpoint and the request, so a re-run
  makes no request (the library is not even initialised then);
- quota errors (HTTP 429, RESOURCE_EXHAUSTED, "Too many concurrent aggregations"),
  500/502/503/504 and timeouts (EE_TIMEOUT_S) are retried up to EE_MAX_RETRIES times,
  waiting `Retry-After` when the server sends it, else 1, 2, 4 ... s (at most 60 s); the
  retries are counted by cause.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rasterio.warp import transform_bounds

from geoscribe.errors import GeoscribeError, InputError
from geoscribe.geometry import utm_crs
from geoscribe.redact import public_url, redact_text, url_secrets
from geoscribe.sources.remote import (
    DiskCache,
    RemoteStats,
    RetryableFailure,
    RetryPolicy,
    call_with_retries,
    request_key,
)

EE_MAX_REQUEST_BYTES = 48 * 1024 * 1024  # computePixels: "Total request size ... 50331648"
EE_MAX_SIDE_PX = 32768
EE_MAX_RETRIES = 5
EE_RETRY = RetryPolicy(attempts=EE_MAX_RETRIES + 1)  # waits 1, 2, 4 ... s (at most 60 s)
EE_TIMEOUT_S = 300  # a request unanswered this long is retried (cause `timeout`)
EE_LICENSE = "LicenseRef-Earth-Engine-Terms"
RGB_BANDS = (("R", "G", "B"), ("B4", "B3", "B2"), ("SR_B4", "SR_B3", "SR_B2"),
             ("red", "green", "blue"))
CLOUD = "geoscribe_cloud"
RETRY_STATUS = {500, 502, 503, 504}
Cells = list[tuple[float, float, float, float]]  # lon/lat bounds of grid cells


@dataclass(frozen=True)
class EESettings:
    """What an Earth Engine fetch needs: the collection, endpoint (as given: never output;
    `public` is its public form), project, dates, scale, concurrency and the reply cache."""

    collection: str
    url: str
    cache: DiskCache
    project: str | None = None
    start: str | None = None
    end: str | None = None
    scale: float | None = None
    concurrency: int = 4
    max_bytes: int = EE_MAX_REQUEST_BYTES

    @property
    def public(self) -> str:
        return public_url(self.url).rstrip("/")


@dataclass(frozen=True)
class Tile:
    """One computePixels grid: `width` x `height` pixels of `scale` metres in `crs`, its
    top-left corner at (x0, y1)."""

    crs: str
    x0: float
    y1: float
    scale: float
    width: int
    height: int

    def grid(self) -> dict:
        """The request's PixelGrid."""
        return {"crsCode": self.crs, "dimensions": {"width": self.width, "height": self.height},
                "affineTransform": {"scaleX": self.scale, "shearX": 0, "translateX": self.x0,
                                    "shearY": 0, "scaleY": -self.scale, "translateY": self.y1}}


@dataclass(frozen=True)
class EEImage:
    """A fetched tile: the cached GeoTIFF, how outputs name it, its date and request grid."""

    path: Path
    uri: str
    acquired: str | None
    tile: Tile
    bands: tuple[str, ...]


@dataclass
class EarthEngineStats(RemoteStats):
    """The counters of `remote.earthengine` plus what anyone needs to rebuild: the endpoint
    (public form), collection, dates and, per fetched tile, the image and its grid."""

    endpoint: str = ""
    collection: str = ""
    datetime: str | None = None
    images: list[dict] = field(default_factory=list)

    def add(self, other: RemoteStats) -> None:
        """Add another collection's counters and tiles (`collection`: each name once, in
        order, comma-separated)."""
        super().add(other)
        if isinstance(other, EarthEngineStats):
            self.images.extend(other.images)
            names = [n for n in (self.collection, other.collection) if n]
            self.collection = ", ".join(dict.fromkeys(
                part for name in names for part in name.split(", ")))

    def as_dict(self) -> dict:
        return {**super().as_dict(), "endpoint": self.endpoint, "collection": self.collection,
                "datetime": self.datetime,
                "images": sorted(self.images, key=lambda i: json.dumps(i, sort_keys=True))}


def parse_datetime(text: str | None) -> tuple[str | None, str | None]:
    """`--datetime`: `START/END` (either may be `..` or empty: open) or one day `YYYY-MM-DD`
    -> (start, end) as ISO strings for filterDate (end exclusive), or (None, None)."""
    if not text:
        return None, None
    start, sep, end = text.partition("/")
    try:
        if not sep:
            day = datetime.fromisoformat(start).date()
            return day.isoformat(), datetime.fromordinal(day.toordinal() + 1).date().isoformat()
        start = "1970-01-01" if start in ("", "..") else datetime.fromisoformat(start).isoformat()
        end = "2100-01-01" if end in ("", "..") else datetime.fromisoformat(end).isoformat()
    except ValueError:
        raise InputError("--datetime", f"{text!r} is not DATE or START/END (ISO 8601)") from None
    return start, end


def cell_tile(bounds: tuple[float, float, float, float], scale: float) -> Tile:
    """The grid covering a lon/lat cell in its UTM zone, snapped outward to whole pixels of
    `scale` metres (so neighbouring cells share one pixel lattice)."""
    crs = utm_crs((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    minx, miny, maxx, maxy = transform_bounds("EPSG:4326", crs, *bounds, densify_pts=21)
    x0 = math.floor(minx / scale) * scale
    y1 = math.ceil(maxy / scale) * scale
    width = math.ceil(round((maxx - x0) / scale, 6))
    height = math.ceil(round((y1 - miny) / scale, 6))
    return Tile(crs, round(x0, 6), round(y1, 6), scale, max(1, width), max(1, height))


def split_tile(tile: Tile, pixel_bytes: int, max_bytes: int = EE_MAX_REQUEST_BYTES,
               max_side: int = EE_MAX_SIDE_PX) -> list[Tile]:
    """`tile` cut into n x m tiles, each at most `max_side` px a side and `max_bytes` of
    pixels (`pixel_bytes` per pixel, all bands); the fewest pieces, row by row."""
    nx, ny = math.ceil(tile.width / max_side), math.ceil(tile.height / max_side)
    while math.ceil(tile.width / nx) * math.ceil(tile.height / ny) * pixel_bytes > max_bytes:
        if math.ceil(tile.width / nx) >= math.ceil(tile.height / ny):
            nx += 1
        else:
            ny += 1
    step_x, step_y = math.ceil(tile.width / nx), math.ceil(tile.height / ny)
    pieces = []
    for row in range(0, tile.height, step_y):
        for col in range(0, tile.width, step_x):
            pieces.append(Tile(tile.crs, round(tile.x0 + col * tile.scale, 6),
                               round(tile.y1 - row * tile.scale, 6), tile.scale,
                               min(step_x, tile.width - col), min(step_y, tile.height - row)))
    return pieces


def band_bytes(pixel_type: dict) -> int:
    """Bytes per pixel of one band of an `Image.bandTypes()` PixelType."""
    if pixel_type.get("precision") == "double":
        return 8
    if pixel_type.get("precision") == "float":
        return 4
    lo, hi = pixel_type.get("min", 0), pixel_type.get("max", 2 ** 31)
    for size in (1, 2, 4):
        if lo >= -(2 ** (8 * size - 1)) and hi < 2 ** (8 * size):
            return size
    return 8


def choose_bands(names: list[str]) -> tuple[str, ...]:
    """The bands to fetch: the first RGB triple the image has, else its first band."""
    for triple in RGB_BANDS:
        if all(name in names for name in triple):
            return triple
    if not names:
        raise GeoscribeError("earthengine: the image has no bands")
    return (names[0],)


def retry_cause(exc: BaseException) -> tuple[str | None, dict]:
    """(why the failed call may be retried, or None; the reply's headers) of an error of the
    library (its HttpError is the EEException's context)."""
    http = exc.__context__ if exc.__context__ is not None else exc
    resp = getattr(http, "resp", None)
    status = getattr(resp, "status", None)
    headers = dict(resp) if resp is not None else {}
    text = str(exc)
    if isinstance(exc, TimeoutError):
        return "timeout", headers
    if "Too many concurrent aggregations" in text:
        return "concurrent_aggregations", headers
    if status == 429 or "RESOURCE_EXHAUSTED" in text or "Quota exceeded" in text:
        return "429", headers
    if status in RETRY_STATUS:
        return str(status), headers
    return None, headers


def one_line(exc: BaseException, url: str) -> str:
    """An error of the library as one line, without the secrets `url` may carry."""
    return redact_text(" ".join(str(exc).split()) or type(exc).__name__, url_secrets(url))


class EarthEngineClient:
    """The library's calls with the cache, the retries and the counters; `ee.Initialize` is
    called once, on the first request that the cache cannot answer."""

    def __init__(self, settings: EESettings, stats: EarthEngineStats,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings, self.stats, self.sleep = settings, stats, sleep
        self._lock = threading.Lock()
        self._ready = False

    def _initialise(self) -> None:
        import ee

        with self._lock:
            if self._ready:
                return
            ee.data.setMaxRetries(0)  # retried here, counted by cause
            try:
                ee.Initialize(project=self.settings.project, url=self.settings.url.rstrip("/"))
                ee.data.setDeadline(EE_TIMEOUT_S * 1000)
            except Exception as exc:  # the library raises EEException, OSError, HttpError...
                raise GeoscribeError(f"earthengine at {self.settings.public}: cannot start "
                                     f"({one_line(exc, self.settings.url)})") from None
            self._ready = True

    def cached(self, key: str, call: Callable[[], bytes]) -> bytes:
        """The reply of `key` from the cache, else from `call` (stored)."""
        data = self.settings.cache.get(key)
        if data is not None:
            self.stats.count(cache_hits=1)
            return data
        self._initialise()
        data = self._with_retries(call)
        self.settings.cache.put(key, data)
        self.stats.count(bytes_read=len(data))
        return data

    def _with_retries(self, call: Callable[[], bytes]) -> bytes:
        """`call` through remote's retry loop (quota errors and timeouts retried, counted by
        cause, Retry-After honoured); any other error of the library is one line."""
        settings = self.settings

        def once() -> bytes:
            self.stats.count(requests=1)
            try:
                return call()
            except Exception as exc:  # EEException, or a transport error of the library
                cause, headers = retry_cause(exc)
                if cause is None:
                    raise GeoscribeError(f"earthengine {settings.collection} at "
                                         f"{settings.public}: "
                                         f"{one_line(exc, settings.url)}") from None
                raise RetryableFailure(cause, one_line(exc, settings.url),
                                       headers=headers) from None

        return call_with_retries(once, EE_RETRY, self.stats,
                                 f"--imagery earthengine:{settings.collection}", settings.url,
                                 label="Earth Engine ", sleep=self.sleep)


def cell_query(settings: EESettings, bounds: tuple[float, ...]):
    """The expression of a cell's image: its id, date, bands, band types and scales (null
    when the collection has no image there)."""
    import ee

    def with_cloud(image):
        names = image.propertyNames()
        cloud = ee.Algorithms.If(
            names.contains("CLOUDY_PIXEL_PERCENTAGE"), image.get("CLOUDY_PIXEL_PERCENTAGE"),
            ee.Algorithms.If(names.contains("CLOUD_COVER"), image.get("CLOUD_COVER"), 0))
        return image.set(CLOUD, cloud)

    area = ee.Geometry.Rectangle(list(bounds), "EPSG:4326", False)
    images = ee.ImageCollection(settings.collection).filterBounds(area)
    if settings.start:
        images = images.filterDate(settings.start, settings.end)
    images = images.map(with_cloud).sort("system:time_start", False).sort(CLOUD)
    image = ee.Image(images.first())
    info = ee.Dictionary({
        "id": image.get("system:id"), "time_start": image.get("system:time_start"),
        "bands": image.bandNames(), "types": image.bandTypes(),
        "scales": image.bandNames().map(lambda b: image.select([b]).projection().nominalScale()),
    })
    return ee.Algorithms.If(images.size().gt(0), info, None)


def cell_info(client: EarthEngineClient, bounds: tuple[float, ...]) -> dict | None:
    """The image the collection has for a cell (cached `value:compute`), or None."""
    import ee

    settings = client.settings
    key = request_key("earthengine", settings.public, "value:compute", settings.collection,
                      list(bounds), settings.start, settings.end)
    data = client.cached(key, lambda: json.dumps(
        ee.data.computeValue(cell_query(settings, bounds))).encode())
    return json.loads(data)


def fetch_tile(client: EarthEngineClient, image_id: str, bands: tuple[str, ...],
               tile: Tile) -> Path:
    """A tile's GeoTIFF (cached `image:computePixels`), as a path in the cache."""
    import ee

    settings = client.settings
    key = request_key("earthengine", settings.public, "image:computePixels", image_id,
                      list(bands), tile.grid(), "GEO_TIFF")
    client.cached(key, lambda: ee.data.computePixels({
        "expression": ee.Image(image_id).select(list(bands)), "fileFormat": "GEO_TIFF",
        "grid": tile.grid()}))
    return settings.cache.path(key)


def acquired_date(info: dict) -> str | None:
    """The UTC date of an image's `system:time_start` (milliseconds)."""
    millis = info.get("time_start")
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).date().isoformat()


def nominal_scale(info: dict) -> float:
    """The finest nominal scale (metres) of the bands fetched from an image."""
    scales = dict(zip(info.get("bands") or [], info.get("scales") or [], strict=False))
    return min(float(scales.get(b, 30.0)) for b in choose_bands(list(info.get("bands") or [])))


def cell_images(client: EarthEngineClient, bounds: tuple[float, ...], info: dict | None,
                scale: float) -> list[tuple]:
    """The (image id, bands, tile, date) requests of one cell; none without an image."""
    if not info:
        return []
    bands = choose_bands(list(info.get("bands") or []))
    types = info.get("types") or {}
    pixel_bytes = sum(band_bytes(types.get(b, {})) for b in bands)
    tiles = split_tile(cell_tile(tuple(bounds), scale), pixel_bytes, client.settings.max_bytes)
    return [(info["id"], bands, tile, acquired_date(info)) for tile in tiles]


def fetch_collection(settings: EESettings, cells_at: Callable[[float], Cells],
                     sleep: Callable[[float], None] = time.sleep
                     ) -> tuple[list[EEImage], EarthEngineStats]:
    """The collection's image of every cell as cached GeoTIFF tiles, with the counters;
    `settings.concurrency` requests at most in flight.

    `cells_at(scale)` gives the lon/lat cells to fetch when pixels are `scale` metres
    (`cells_at(0)`: the region's own cells, whose images give the scale when
    `settings.scale` is None: the finest nominal scale among them, one for the whole run)."""
    stats = EarthEngineStats(endpoint=settings.public, collection=settings.collection,
                             datetime=f"{settings.start}/{settings.end}" if settings.start
                             else None)
    client = EarthEngineClient(settings, stats, sleep)
    with ThreadPoolExecutor(max_workers=settings.concurrency) as pool:
        core = cells_at(0.0)
        infos = dict(zip(core, pool.map(lambda b: cell_info(client, b), core), strict=True))
        found = [info for info in infos.values() if info]
        if not found:
            return [], stats
        scale = settings.scale or min(nominal_scale(info) for info in found)
        extra = [b for b in cells_at(scale) if b not in infos]
        infos.update(zip(extra, pool.map(lambda b: cell_info(client, b), extra), strict=True))
        planned = [req for cell in sorted(infos)
                   for req in cell_images(client, cell, infos[cell], scale)]
        paths = list(pool.map(lambda req: fetch_tile(client, *req[:3]), planned))
    images = []
    for (image_id, bands, tile, acquired), path in zip(planned, paths, strict=True):
        uri = f"earthengine:{image_id}"
        images.append(EEImage(path, uri, acquired, tile, bands))
        stats.images.append({"uri": uri, "acquired": acquired, "bands": list(bands),
                             "grid": tile.grid()})
    return images, stats
