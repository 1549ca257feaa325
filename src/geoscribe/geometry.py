"""CRS, pixel and metric math shared by sources, qa, builders and the engine: reprojection
from/to WGS84, CRS <-> chip pixels, and chip pixels -> metres in the local UTM zone."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import shapely
import shapely.affinity
from affine import Affine
from pyproj import CRS, Transformer
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry


@lru_cache(maxsize=64)
def transformer_from_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@lru_cache(maxsize=64)
def transformer_to_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def coords_transform(transformer: Transformer) -> Callable[[np.ndarray], np.ndarray]:
    """`transformer` as a function of an (n, 2) coordinate array, for `shapely.transform`."""

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return fn


def project(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Reproject a WGS84 geometry into `crs`."""
    return shapely.transform(geom, coords_transform(transformer_from_wgs84(crs)))


def to_wgs84(geom_crs: BaseGeometry, crs: str) -> BaseGeometry:
    """Reproject a geometry in `crs` into WGS84 lon/lat."""
    return shapely.transform(geom_crs, coords_transform(transformer_to_wgs84(crs)))


def project_many(geoms: list[BaseGeometry], crs: str) -> list[BaseGeometry]:
    """Reproject many WGS84 geometries into `crs` with one coordinate transform call."""
    if not geoms:
        return []
    return list(shapely.transform(np.asarray(geoms, dtype=object),
                                  coords_transform(transformer_from_wgs84(crs))))


def to_pixels(geom_crs: BaseGeometry, transform: Affine) -> BaseGeometry:
    """Map a geometry in the raster CRS to pixel coordinates (col, row) of `transform`."""
    inv = ~transform

    def fn(coords: np.ndarray) -> np.ndarray:
        cols = inv.a * coords[:, 0] + inv.b * coords[:, 1] + inv.c
        rows = inv.d * coords[:, 0] + inv.e * coords[:, 1] + inv.f
        return np.column_stack([cols, rows])

    return shapely.transform(geom_crs, fn)


def intersection_with_box(geom: BaseGeometry, box: BaseGeometry) -> BaseGeometry:
    """The part of `geom` inside `box`; an invalid geometry (e.g. a self-crossing ring from a
    labels file) is made valid first instead of failing."""
    try:
        return shapely.intersection(geom, box)
    except shapely.errors.GEOSException:
        return shapely.intersection(shapely.make_valid(geom), box)


def bounds_in_pixels(geom_crs: BaseGeometry, transform: Affine,
                     bounds: tuple[float, ...] | None = None) -> tuple[float, ...]:
    """Bounds (x0, y0, x1, y1) in pixels of a geometry already in the grid's CRS.

    For north-up grids this maps the geometry's bounds (no per-vertex work; `bounds` may give
    them when already known); rotated grids transform every vertex.
    """
    if transform.b == 0 and transform.d == 0:
        return pixel_box(geom_crs.bounds if bounds is None else bounds, transform)
    return tuple(to_pixels(geom_crs, transform).bounds)


def pixel_box(bounds: tuple[float, ...], transform: Affine) -> tuple[float, ...]:
    """Bounds (x0, y0, x1, y1) in pixels of CRS bounds, on a north-up grid."""
    x0, y0, x1, y1 = bounds
    cols = sorted(((x0 - transform.c) / transform.a, (x1 - transform.c) / transform.a))
    rows = sorted(((y0 - transform.f) / transform.e, (y1 - transform.f) / transform.e))
    return cols[0], rows[0], cols[1], rows[1]


def chip_footprint(transform: Affine, size: int) -> tuple[float, float, float, float]:
    """The bounding box, in the grid's CRS, of a `size` x `size` chip whose pixels map to the
    world by `transform`: the box of its four corners, so rotated grids are covered."""
    t = transform
    xs = [t.c, t.c + t.a * size, t.c + t.b * size, t.c + (t.a + t.b) * size]
    ys = [t.f, t.f + t.d * size, t.f + t.e * size, t.f + (t.d + t.e) * size]
    return min(xs), min(ys), max(xs), max(ys)


def grid_footprint(transform: Affine, width: int, height: int) -> Polygon:
    """The footprint, in the grid's CRS, of a `width` x `height` pixel grid: the polygon of
    its four corners (exact for rotated grids, unlike any box in another CRS)."""
    corners = [transform @ (c, r) for c, r in ((0, 0), (width, 0), (width, height), (0, height))]
    return Polygon(corners)


def chip_bounds_wgs84(transform: Affine, size: int, crs: str) -> tuple[float, float, float, float]:
    """The chip's footprint (`chip_footprint`) as a WGS84 box (edges densified, 5 points)."""
    footprint = chip_footprint(transform, size)
    return tuple(transformer_to_wgs84(crs).transform_bounds(*footprint, densify_pts=5))


def chip_transform(grid: tuple[float, ...], col_off: int, row_off: int, scale: float) -> Affine:
    """`Affine(*grid) @ Affine.translation(col_off, row_off) @ Affine.scale(scale)`.

    The same products and sums in the same order as affine's matrix product (so the same
    floats, signed zeros included), without its per-operation overhead.
    """
    sa, sb, sc, sd, se, sf = (float(v) for v in grid[:6])
    a, b, c = sa * 1.0 + sb * 0.0, sa * 0.0 + sb * 1.0, sa * col_off + sb * row_off + sc
    d, e, f = sd * 1.0 + se * 0.0, sd * 0.0 + se * 1.0, sd * col_off + se * row_off + sf
    return Affine(a * scale + b * 0.0, a * 0.0 + b * scale, a * 0.0 + b * 0.0 + c,
                  d * scale + e * 0.0, d * 0.0 + e * scale, d * 0.0 + e * 0.0 + f)


@lru_cache(maxsize=128)
def _utm_zone(zone: int, south: bool) -> Transformer:
    return Transformer.from_crs("EPSG:4326", CRS.from_epsg((32700 if south else 32600) + zone),
                                always_xy=True)


def utm_zone(lon: float) -> int:
    """The UTM zone (1-60) of a longitude."""
    return min(60, int((lon + 180) // 6) + 1)


def utm_crs(lon: float, lat: float) -> str:
    """The WGS84 / UTM CRS of (lon, lat) as an EPSG code (`EPSG:326zz` north, `327zz` south)."""
    return f"EPSG:{(32700 if lat < 0 else 32600) + utm_zone(lon)}"


def local_utm(geom_wgs84: BaseGeometry, lon: float, lat: float) -> BaseGeometry:
    """A WGS84 geometry in the UTM zone of (lon, lat) — metres, for areas and lengths."""
    return shapely.transform(geom_wgs84, coords_transform(_utm_zone(utm_zone(lon), lat < 0)))


def metric_frame(transform: Affine, crs: str, bbox_wgs84
                 ) -> Callable[[BaseGeometry], BaseGeometry]:
    """Chip pixels (of `transform`, in `crs`) -> metres in the local UTM zone of the chip's
    WGS84 box centre (x east, y north)."""
    t = transform
    to_wgs84 = transformer_to_wgs84(crs)
    lon, lat = (bbox_wgs84[0] + bbox_wgs84[2]) / 2, (bbox_wgs84[1] + bbox_wgs84[3]) / 2

    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        x = t.a * coords[:, 0] + t.b * coords[:, 1] + t.c
        y = t.d * coords[:, 0] + t.e * coords[:, 1] + t.f
        return np.column_stack(to_wgs84.transform(x, y))

    return lambda geom: local_utm(shapely.transform(geom, to_lonlat), lon, lat)


def ground_resolution_m(transform: Affine, crs: str, col: float, row: float) -> float:
    """Metres on the ground per pixel of `transform` (in `crs`) at pixel (col, row): the
    square root of the pixel's area in the local UTM zone there (its steps along rows and
    columns measured in metres), never the CRS's own unit (Web Mercator's metre is
    1/cos(lat) ground metres; degrees are not metres at all)."""
    t = transform
    corners = to_wgs84(shapely.MultiPoint([t @ (col, row), t @ (col + 1, row),
                                            t @ (col, row + 1)]), crs)
    here = corners.geoms[0]
    origin, step_col, step_row = local_utm(corners, here.x, here.y).geoms
    ax, ay = step_col.x - origin.x, step_col.y - origin.y
    bx, by = step_row.x - origin.x, step_row.y - origin.y
    return math.sqrt(abs(ax * by - ay * bx))


def buffer_metres(geom_wgs84: BaseGeometry, metres: float) -> BaseGeometry:
    """A WGS84 geometry grown by at least `metres` on the ground in every direction.

    Degrees per metre are taken where they are largest over the geometry (longitude at its
    latitude farthest from the equator, capped at 89°; latitude from the 110.5 km of a degree
    at the equator, the shortest), so the buffer is never short; the result is clipped to
    the lon/lat range.
    """
    lat_far = min(89.0, max(abs(geom_wgs84.bounds[1]), abs(geom_wgs84.bounds[3])))
    lat_deg = metres / 110_500.0
    lon_deg = metres / (111_000.0 * math.cos(math.radians(lat_far)))
    squeeze = lat_deg / lon_deg  # longitudes scaled so that the buffer is round in metres
    squeezed = shapely.affinity.scale(geom_wgs84, xfact=squeeze, yfact=1.0, origin=(0, 0))
    # buffer's arcs are chords (8 per quarter circle): grown so that they stay outside
    radius = lat_deg / math.cos(math.pi / 32)
    grown = shapely.affinity.scale(squeezed.buffer(radius, quad_segs=8), xfact=1 / squeeze,
                                   yfact=1.0, origin=(0, 0))
    return grown.intersection(shapely.box(-180.0, -90.0, 180.0, 90.0))
