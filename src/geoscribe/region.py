"""Region parsing (bbox, GeoJSON, demo) and the deterministic grids over it."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geoscribe.errors import InputError
from geoscribe.geometry import buffer_metres

SPLITS = ("train", "val", "test")
REACH_MARGIN = 0.1  # on top of a chip's diagonal: the GSD varies across a raster


@dataclass(frozen=True)
class Region:
    """The area to build, as a WGS84 geometry, and a text describing where it came from
    (`provenance`: a geocoded place's name, OSM id and geocoder, for stats.json `sources`)."""

    geometry: BaseGeometry
    description: str
    provenance: dict | None = field(default=None, compare=False)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return tuple(self.geometry.bounds)  # type: ignore[return-value]


def parse_bbox(text: str) -> Region:
    """Parse `min_lon,min_lat,max_lon,max_lat` into a Region."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise InputError(f"--region {text!r}", "expected min_lon,min_lat,max_lon,max_lat")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"--region {text!r}", "bbox values must be numbers") from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise InputError(f"--region {text!r}", "bbox values must be finite")
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise InputError(
            f"--region {text!r}",
            "need -180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90",
        )
    return Region(box(min_lon, min_lat, max_lon, max_lat), f"bbox {text}")


def parse_geojson(path: Path) -> Region:
    """Read a GeoJSON file (geometry, Feature or FeatureCollection, WGS84) into a Region."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--region {path}", f"cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--region {path}", f"not valid JSON ({exc})") from None
    try:
        if data.get("type") == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in data["features"]]
        elif data.get("type") == "Feature":
            geoms = [shape(data["geometry"])]
        else:
            geoms = [shape(data)]
    except (KeyError, TypeError, AttributeError, ValueError, shapely.errors.GEOSException,
            shapely.errors.GeometryTypeError) as exc:
        raise InputError(f"--region {path}", f"not a GeoJSON geometry ({exc})") from None
    geoms = [g for g in geoms if not g.is_empty]
    if not geoms:
        raise InputError(f"--region {path}", "contains no geometry")
    geom = shapely.make_valid(shapely.union_all(geoms))
    if geom.area == 0:
        raise InputError(f"--region {path}", "region has no area (use polygons)")
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InputError(f"--region {path}", "coordinates are not lon/lat (WGS84 expected)")
    return Region(geom, f"GeoJSON {path}")


def parse_region(text: str) -> Region:
    """Parse a --region value: a bbox or a GeoJSON path (`demo` is resolved by the demo module)."""
    text = text.strip()
    if not text:
        raise InputError("--region", "empty region")
    candidate = Path(text)
    if text.lower().endswith((".geojson", ".json")) or candidate.exists():
        if not candidate.exists():
            raise InputError(f"--region {text}", "file not found")
        return parse_geojson(candidate)
    if "," in text:
        return parse_bbox(text)
    raise InputError(
        f"--region {text!r}",
        "not a bbox (min_lon,min_lat,max_lon,max_lat), an existing GeoJSON file, or 'demo' "
        "(place names are geocoded by the build: engine/inputs.given_region)",
    )


def is_place_name(text: str) -> bool:
    """Whether a --region value names a place ("Helsinki, Finland"): not demo, not a GeoJSON
    file, and words in it (a bbox with a typo, "a,b,c,d" or "nan,1,2,3", stays a bbox)."""
    text = text.strip()
    if text.lower() == "demo" or text.lower().endswith((".geojson", ".json")) \
            or Path(text).exists():
        return False
    return re.search(r"[^\W\d_]{2,}", text) is not None and not all(
        _is_number(part) for part in text.split(","))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def ingest_area(region: BaseGeometry, side_px: int, gsds_m: list[float]) -> BaseGeometry:
    """The area whose features a build must know: the region grown by the farthest a chip or
    tile reaches beyond it (issue 17 case 2).

    A chip or tile of at most `side_px` source pixels that holds a point of the region
    (its focus, or its centre) reaches at most its diagonal, `side_px` x the coarsest
    ground resolution (`gsds_m`, metres) x sqrt(2), from it; a margin of REACH_MARGIN is
    added. Foci stay inside the region: only what can be seen around them comes from beyond.
    """
    reach = side_px * max(gsds_m, default=0.0) * math.sqrt(2) * (1 + REACH_MARGIN)
    return buffer_metres(region, reach) if reach > 0 else region


def cell_index(lon: float, lat: float, size_deg: float) -> tuple[int, int]:
    """Index of the grid cell of size `size_deg` degrees containing a point."""
    return math.floor(lon / size_deg), math.floor(lat / size_deg)


def cell_bounds(ix: int, iy: int, size_deg: float) -> tuple[float, float, float, float]:
    """WGS84 bounds of grid cell (ix, iy)."""
    return ix * size_deg, iy * size_deg, (ix + 1) * size_deg, (iy + 1) * size_deg


def cell_name(ix: int, iy: int) -> str:
    """Stable, dot-free name of a grid cell, e.g. `x-11531y3613`."""
    return f"x{ix}y{iy}"


@lru_cache(maxsize=1 << 16)
def block_split(ix: int, iy: int, seed: int, fractions: tuple[float, float, float]) -> str:
    """Split of a spatial block: a seeded hash of the block index, so it never depends on region.

    Cached: neighbouring chips ask for the same few blocks again and again."""
    digest = hashlib.sha256(f"{seed}:{ix}:{iy}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    train, val, _ = fractions
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"


def crosses_split(
    bounds_wgs84: tuple[float, float, float, float],
    split: str,
    block_deg: float,
    split_of: Callable[[tuple[int, int]], str],
) -> bool:
    """The split guard: whether a WGS84 box touches a block whose split (`split_of(block)`)
    is not `split`."""
    ix0, iy0 = cell_index(bounds_wgs84[0], bounds_wgs84[1], block_deg)
    ix1, iy1 = cell_index(bounds_wgs84[2], bounds_wgs84[3], block_deg)
    return any(split_of((ix, iy)) != split
               for ix in range(ix0, ix1 + 1) for iy in range(iy0, iy1 + 1))


def guarded_split(
    point: tuple[float, float],
    bounds_wgs84: tuple[float, float, float, float],
    block_deg: float,
    seed: int,
    fractions: tuple[float, float, float],
    guard: bool,
) -> str | None:
    """The split of the block holding `point` (lon, lat), or None when `guard` is on and the
    WGS84 box crosses into a block of another split (the one split rule of every builder)."""
    fractions = tuple(fractions)

    def split_of(block: tuple[int, int]) -> str:
        return block_split(*block, seed, fractions)

    split = split_of(cell_index(point[0], point[1], block_deg))
    if guard and crosses_split(bounds_wgs84, split, block_deg, split_of):
        return None
    return split
