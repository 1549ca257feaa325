"""Imagery: index GeoTIFF/COG inputs (any CRS, any bands) and read chips by window.

8-bit conversion rule (per source file, decided once when the file is indexed):
- uint8 with >= 3 bands: bands tagged red/green/blue (else bands 1, 2, 3) pass through unchanged;
- uint8 with 1 or 2 bands: band 1 as grey, unchanged, replicated to RGB;
- any other dtype (uint16 pan, int16, float): each used band is stretched linearly between its
  2nd and 98th percentile over the whole file (a decimated read of at most 1024 px a side),
  rounded to the nearest integer and clipped to 0-255; 1-2 band files become grey RGB.
"""

from __future__ import annotations

import glob
import math
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import rasterio.errors
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.warp import transform_bounds

from geoscribe.errors import InputError
from geoscribe.geometry import ground_resolution_m
from geoscribe.sources.registry_data import source_uri
from geoscribe.sources.remote import USER_AGENT
from geoscribe.types import RasterInfo

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".jp2", ".img")
STRETCH_PERCENTILES = (2.0, 98.0)
STATS_MAX_SIDE = 1024
COG_SUFFIXES = (".tif", ".tiff", ".TIF", ".TIFF")
# GDAL's HTTP settings for rasters read by URL (issue 18): a chip reads only the tiles it
# needs, by HTTP range requests; see docs/live-sources.md for why each is set
REMOTE_GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no directory listing to find sidecars
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",  # adjacent tiles in one range request
    "GDAL_HTTP_MULTIPLEX": "YES",  # one HTTP/2 connection for parallel ranges
    "GDAL_INGESTED_BYTES_AT_OPEN": "65536",  # header and tile index in the first request
    "VSI_CACHE": "TRUE",  # keep read ranges: neighbouring chips share tiles
    "VSI_CACHE_SIZE": str(8 * 1024 * 1024),  # per open file: <= 16 files a worker
    "GDAL_HTTP_MAX_RETRY": "4",  # 429/502/503/504: retried by GDAL
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_TIMEOUT": "60",
    "GDAL_HTTP_USERAGENT": USER_AGENT,
}


def expand_imagery(specs: list[str]) -> list[Path]:
    """Expand --imagery values (files, directories, globs) into a sorted list of raster paths."""
    paths: list[Path] = []
    for spec in specs:
        candidate = Path(spec)
        if candidate.is_dir():
            found = sorted(
                p for p in candidate.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES
            )
            if not found:
                raise InputError(f"--imagery {spec}", "directory holds no GeoTIFF/COG files")
            paths.extend(found)
        elif any(ch in spec for ch in "*?["):
            found = sorted(Path(p) for p in glob.glob(spec, recursive=True))
            if not found:
                raise InputError(f"--imagery {spec}", "glob matches no files")
            paths.extend(found)
        elif candidate.exists():
            paths.append(candidate)
        else:
            raise InputError(f"--imagery {spec}", "file not found")
    return sorted(set(paths))


def is_remote(path: str | Path) -> bool:
    """Whether a raster path is read over HTTP (an http(s) URL or a /vsicurl/ path)."""
    text = str(path)
    return text.startswith(("http://", "https://", "/vsicurl/"))


def remote_gdal_env(paths: list[str]) -> dict[str, str]:
    """GDAL's HTTP settings when any of `paths` is remote (else none): REMOTE_GDAL_ENV, and
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS (no probe of other files) when every remote URL ends in
    a GeoTIFF suffix (query string aside)."""
    remote = [str(p) for p in paths if is_remote(p)]
    if not remote:
        return {}
    env = dict(REMOTE_GDAL_ENV)
    if all(p.split("?", 1)[0].endswith(COG_SUFFIXES) for p in remote):
        env["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"] = ",".join(COG_SUFFIXES)
    return env


def _rgb_bands(src) -> list[int]:
    interp = list(src.colorinterp)
    wanted = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    if all(c in interp for c in wanted):
        return [interp.index(c) + 1 for c in wanted]
    if src.count >= 3:
        return [1, 2, 3]
    return [1]


def _gsd_m(src) -> float:
    """Metres on the ground per pixel at the raster's centre (geometry.ground_resolution_m:
    measured in the local UTM zone, not in the CRS's unit), to a tenth of a micrometre."""
    crs = src.crs.to_string()
    return round(ground_resolution_m(src.transform, crs, src.width / 2, src.height / 2), 7)


def _stretch_limits(src, bands: list[int]) -> list[tuple[float, float]]:
    scale = max(src.width, src.height) / STATS_MAX_SIDE
    shape = (max(1, int(src.height / max(scale, 1))), max(1, int(src.width / max(scale, 1))))
    limits = []
    for band in bands:
        data = src.read(band, out_shape=shape, masked=True)
        valid = data.compressed() if np.ma.isMaskedArray(data) else data.ravel()
        valid = valid[np.isfinite(valid)] if valid.dtype.kind == "f" else valid
        if valid.size == 0:
            limits.append((0.0, 1.0))
            continue
        lo, hi = np.percentile(valid, STRETCH_PERCENTILES)
        limits.append((float(lo), float(hi) if hi > lo else float(lo) + 1.0))
    return limits


def _bounds_wgs84(src, path: Path) -> tuple[float, float, float, float]:
    """The raster's bounds in lon/lat; a CRS with no way to WGS84 (a local engineering CRS)
    is an input error naming it."""
    try:
        bounds = tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds))
    except Exception:  # rasterio raises its CPLE_* errors here, which it does not export
        bounds = (math.nan,) * 4
    if not all(math.isfinite(value) for value in bounds):
        name = pyproj.CRS.from_wkt(src.crs.to_wkt()).name
        raise InputError(f"--imagery {path}", f"its CRS ({name}) cannot be transformed to WGS84")
    return bounds


def index_raster(path: Path) -> RasterInfo:
    """Open a raster once (metadata and the stretch statistics) and describe it."""
    try:
        with rasterio.open(path) as src:
            if src.crs is None or src.transform.is_identity:
                raise InputError(f"--imagery {path}", "raster is not georeferenced")
            bounds_wgs84 = _bounds_wgs84(src, path)
            bands = _rgb_bands(src)
            rule = "passthrough" if src.dtypes[0] == "uint8" else "stretch"
            stretch = _stretch_limits(src, bands) if rule == "stretch" else []
            tags = src.tags()
            acquired = tags.get("ACQUISITION_DATE") or tags.get("TIFFTAG_DATETIME")
            if acquired and len(acquired) >= 10:
                acquired = acquired[:10].replace(":", "-")
            return RasterInfo(
                path=str(path),
                uri=source_uri(path),
                crs=src.crs.to_string(),
                transform=tuple(src.transform)[:6],
                width=src.width,
                height=src.height,
                count=src.count,
                dtype=src.dtypes[0],
                nodata=src.nodata,
                bands=bands,
                bounds_wgs84=bounds_wgs84,
                gsd_m=_gsd_m(src),
                acquired=acquired or None,
                rule=rule,
                stretch=stretch,
                all_valid=all(flags == [MaskFlags.all_valid] for flags in src.mask_flag_enums),
            )
    except rasterio.errors.RasterioError as exc:
        raise InputError(f"--imagery {path}", f"unreadable raster ({exc})") from None


def to_rgb8(data: np.ndarray, info: RasterInfo) -> np.ndarray:
    """Convert read bands (bands, h, w) to uint8 RGB (h, w, 3) by the file's rule."""
    return np.ascontiguousarray(np.moveaxis(to_rgb8_planes(data, info), 0, -1))


def to_rgb8_planes(data: np.ndarray, info: RasterInfo) -> np.ndarray:
    """Convert read bands (bands, h, w) to uint8 RGB planes (3, h, w) by the file's rule."""
    if info.rule == "passthrough":
        out = data.astype(np.uint8, copy=False)
    else:
        out = np.empty(data.shape, dtype=np.uint8)
        for i, (lo, hi) in enumerate(info.stretch):
            scaled = (data[i].astype(np.float32) - lo) * (255.0 / (hi - lo))
            # round to nearest: truncation turned float32 254.99998 (the high limit) into 254
            out[i] = np.clip(np.rint(np.nan_to_num(scaled, nan=0.0)), 0, 255).astype(np.uint8)
    if out.shape[0] == 1:
        out = np.repeat(out, 3, axis=0)
    return out
