"""Plan object-centred chips: which raster, which source window, which output transform."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geoscribe.sources.imagery import RasterInfo


@dataclass(frozen=True)
class ChipSettings:
    """Chip geometry options (pixels are source pixels unless named out_*)."""

    out_size: int = 256
    margin: float = 0.25
    min_chip_px: int = 128
    max_chip_px: int = 2048
    min_object_px: float = 3.0
    node_box_px: int = 4


@dataclass(frozen=True)
class ChipPlan:
    """Where a chip comes from and how its pixels map to the world."""

    raster: RasterInfo
    col_off: int
    row_off: int
    side: int
    out_size: int
    transform: Affine
    mosaic: bool
    focus_projected: BaseGeometry | None = None  # the focus geometry in the chip's CRS

    @property
    def crs(self) -> str:
        return self.raster.crs


@lru_cache(maxsize=64)
def transformer_from_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@lru_cache(maxsize=64)
def transformer_to_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def project(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """Reproject a WGS84 geometry into `crs`."""
    transformer = transformer_from_wgs84(crs)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def project_many(geoms: list[BaseGeometry], crs: str) -> list[BaseGeometry]:
    """Reproject many WGS84 geometries into `crs` with one coordinate transform call."""
    if not geoms:
        return []
    transformer = transformer_from_wgs84(crs)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return list(shapely.transform(np.asarray(geoms, dtype=object), fn))


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


def _place(offset: float, side: int, lo_obj: float, hi_obj: float, size: int) -> int:
    """Choose a window offset containing [lo_obj, hi_obj], inside [0, size] when possible."""
    start = round(offset)
    start = min(start, math.floor(lo_obj))
    start = max(start, math.ceil(hi_obj) - side)
    lo, hi = max(0, math.ceil(hi_obj) - side), min(size - side, math.floor(lo_obj))
    if lo <= hi:
        start = min(max(start, lo), hi)
    return int(start)


def plan_chip(
    geom_wgs84: BaseGeometry, rasters: list[RasterInfo], settings: ChipSettings,
    projector: Callable[[str], BaseGeometry] | None = None,
    bounds_wgs84: tuple[float, ...] | None = None,
    projected_bounds: Callable[[str], tuple[float, ...]] | None = None,
) -> ChipPlan | str:
    """Plan the chip for a focus geometry; returns a skip reason string when impossible.

    `projector(crs)` may supply the geometry already projected into a CRS (a cache), and
    `bounds_wgs84` / `projected_bounds(crs)` the bounds of the geometry and its projections.
    """
    if projector is None:
        def projector(crs: str) -> BaseGeometry:
            return project(geom_wgs84, crs)

    def pixel_bounds(raster: RasterInfo, projected: BaseGeometry) -> tuple[float, ...]:
        known = projected_bounds(raster.crs) if projected_bounds is not None else None
        return bounds_in_pixels(projected, Affine(*raster.transform), known)

    minx, miny, maxx, maxy = geom_wgs84.bounds if bounds_wgs84 is None else bounds_wgs84
    candidates = [
        r for r in rasters
        if r.bounds_wgs84[0] <= maxx and r.bounds_wgs84[2] >= minx
        and r.bounds_wgs84[1] <= maxy and r.bounds_wgs84[3] >= miny
    ]
    if not candidates:
        return "outside_imagery"
    primary, bounds, projected = None, None, None
    for raster in candidates:
        projected = projector(raster.crs)
        b = pixel_bounds(raster, projected)
        if b[0] >= 0 and b[1] >= 0 and b[2] <= raster.width and b[3] <= raster.height:
            primary, bounds = raster, b
            break
    if primary is None:
        footprints = shapely.union_all([shapely.box(*r.bounds_wgs84) for r in candidates])
        if not footprints.buffer(1e-9).covers(geom_wgs84):
            return "focus_outside_imagery"
        primary = max(candidates, key=lambda r: shapely.box(*r.bounds_wgs84)
                      .intersection(geom_wgs84.envelope).area)
        projected = projector(primary.crs)
        bounds = pixel_bounds(primary, projected)
    c0, r0, c1, r1 = bounds
    extent = max(c1 - c0, r1 - r0)
    if geom_wgs84.geom_type != "Point" and extent < settings.min_object_px:
        return "too_small"
    # integer windows must cover the pixels the object touches, even with a zero margin
    cover = max(math.ceil(c1) - math.floor(c0), math.ceil(r1) - math.floor(r0))
    side = max(math.ceil(extent * (1 + 2 * settings.margin)), cover, settings.min_chip_px)
    if side > settings.max_chip_px:
        return "too_large"
    col_off = _place((c0 + c1) / 2 - side / 2, side, c0, c1, primary.width)
    row_off = _place((r0 + r1) / 2 - side / 2, side, r0, r1, primary.height)
    mosaic = not (
        col_off >= 0 and row_off >= 0
        and col_off + side <= primary.width and row_off + side <= primary.height
    )
    transform = chip_transform(primary.transform, col_off, row_off, side / settings.out_size)
    return ChipPlan(primary, col_off, row_off, side, settings.out_size, transform, mosaic,
                    projected)
