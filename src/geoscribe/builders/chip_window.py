"""Plan object-centred chips: which raster, which source window, which output transform."""

from __future__ import annotations

import math
from collections.abc import Callable

import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from geoscribe.geometry import bounds_in_pixels, chip_transform, grid_footprint, project, to_wgs84
from geoscribe.types import ChipPlan, ChipSettings, RasterInfo


def _place(offset: float, side: int, lo_obj: float, hi_obj: float, size: int) -> int:
    """Choose a window offset containing [lo_obj, hi_obj], inside [0, size] when possible."""
    start = round(offset)
    start = min(start, math.floor(lo_obj))
    start = max(start, math.ceil(hi_obj) - side)
    lo, hi = max(0, math.ceil(hi_obj) - side), min(size - side, math.floor(lo_obj))
    if lo <= hi:
        start = min(max(start, lo), hi)
    return int(start)


def covered_by_footprints(geom_wgs84: BaseGeometry, rasters: list[RasterInfo],
                          projector: Callable[[str], BaseGeometry]) -> bool:
    """Whether the rasters' footprints together cover the geometry (issue 17 case 1).

    Each footprint is tested in its raster's own CRS (the polygon of its corners), never as
    a WGS84 box: a grid that is not aligned with lon/lat has an envelope larger than itself.
    Rasters are taken one CRS at a time; what is left uncovered goes on to the next CRS.
    `projector(crs)` is the geometry in `crs`. A hair (1e-6 px) of tolerance absorbs
    reprojection noise on a shared edge.
    """
    rest: BaseGeometry | None = None
    for crs in sorted({r.crs for r in rasters}):
        group = [r for r in rasters if r.crs == crs]
        tolerance = 1e-6 * min(math.sqrt(abs(Affine(*r.transform).determinant)) for r in group)
        union = shapely.union_all([grid_footprint(Affine(*r.transform), r.width, r.height)
                                   for r in group]).buffer(tolerance)
        part = projector(crs) if rest is None else project(rest, crs)
        try:
            left = shapely.difference(part, union)
        except shapely.errors.GEOSException:  # a self-crossing ring from a labels file
            left = shapely.difference(shapely.make_valid(part), union)
        if left.is_empty:
            return True
        rest = to_wgs84(left, crs)
    return False


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
        if not covered_by_footprints(geom_wgs84, candidates, projector):
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
