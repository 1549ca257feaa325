"""Plan object-centred chips: which raster (with --imagery-plan: which source), which source
window, which output transform."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from geoscribe.geometry import bounds_in_pixels, chip_transform, grid_footprint, project, to_wgs84
from geoscribe.sources.imagery_plan import ImageryPlan
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


@dataclass(frozen=True)
class Located:
    """Where a focus lies: the raster whose pixel grid the chip takes, the focus's bounds in
    that raster's pixels and the focus projected into its CRS."""

    raster: RasterInfo
    bounds: tuple[float, ...]
    projected: BaseGeometry

    @property
    def extent_px(self) -> float:
        """The focus's longest side in the raster's pixels (the size --min-object-px tests)."""
        c0, r0, c1, r1 = self.bounds
        return max(c1 - c0, r1 - r0)


def locate_focus(
    geom_wgs84: BaseGeometry, rasters: list[RasterInfo],
    projector: Callable[[str], BaseGeometry] | None = None,
    bounds_wgs84: tuple[float, ...] | None = None,
    projected_bounds: Callable[[str], tuple[float, ...]] | None = None,
) -> Located | str:
    """The raster a focus geometry's chip is planned on (the first that holds it whole, else
    the one covering most of it when the rasters together cover it); a skip reason string
    when none can. Arguments as plan_chip's."""
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
    for raster in candidates:
        projected = projector(raster.crs)
        b = pixel_bounds(raster, projected)
        if b[0] >= 0 and b[1] >= 0 and b[2] <= raster.width and b[3] <= raster.height:
            return Located(raster, b, projected)
    if not covered_by_footprints(geom_wgs84, candidates, projector):
        return "focus_outside_imagery"
    primary = max(candidates, key=lambda r: shapely.box(*r.bounds_wgs84)
                  .intersection(geom_wgs84.envelope).area)
    projected = projector(primary.crs)
    return Located(primary, pixel_bounds(primary, projected), projected)


def window_side(located: Located, settings: ChipSettings) -> int:
    """The chip's source window side: the object plus its margin, at least the pixels it
    touches (even with a zero margin) and --min-chip-px."""
    c0, r0, c1, r1 = located.bounds
    cover = max(math.ceil(c1) - math.floor(c0), math.ceil(r1) - math.floor(r0))
    return max(math.ceil(located.extent_px * (1 + 2 * settings.margin)), cover,
               settings.min_chip_px)


def place_chip(located: Located, side: int, settings: ChipSettings) -> ChipPlan:
    """The chip of a located focus with a window of `side` source pixels around it."""
    primary = located.raster
    c0, r0, c1, r1 = located.bounds
    col_off = _place((c0 + c1) / 2 - side / 2, side, c0, c1, primary.width)
    row_off = _place((r0 + r1) / 2 - side / 2, side, r0, r1, primary.height)
    mosaic = not (
        col_off >= 0 and row_off >= 0
        and col_off + side <= primary.width and row_off + side <= primary.height
    )
    transform = chip_transform(primary.transform, col_off, row_off, side / settings.out_size)
    return ChipPlan(primary, col_off, row_off, side, settings.out_size, transform, mosaic,
                    located.projected)


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
    located = locate_focus(geom_wgs84, rasters, projector, bounds_wgs84, projected_bounds)
    if isinstance(located, str):
        return located
    if geom_wgs84.geom_type != "Point" and located.extent_px < settings.min_object_px:
        return "too_small"
    side = window_side(located, settings)
    if side > settings.max_chip_px:
        return "too_large"
    return place_chip(located, side, settings)


def choose_source(
    geom_wgs84: BaseGeometry, plan: ImageryPlan, settings: ChipSettings,
    projector: Callable[[str], BaseGeometry] | None = None,
    bounds_wgs84: tuple[float, ...] | None = None,
    projected_bounds: Callable[[str], tuple[float, ...]] | None = None,
) -> ChipPlan | str:
    """`--imagery-plan` (issue 18): the chip from the finest source in which the focus is
    visible (its longest side, in pixels of the source's gsd_m, >= plan.min_object_px; a
    point always is) and fits (its window <= plan.max_chip_px source pixels): SkyScript's
    rule. The plan's `imagery_source` says which source and why. Skip reasons:
    too_small_in_every_source, too_large_in_every_source (of those covering the focus),
    too_large_where_visible (too large in the finer sources, too small in the coarser ones:
    a source of a GSD in between is missing), or where no source covers the focus
    plan_chip's outside_imagery / focus_outside_imagery."""
    verdicts: list[str] = []
    for source in plan.sources:
        located = locate_focus(geom_wgs84, source.rasters, projector, bounds_wgs84,
                               projected_bounds)
        if isinstance(located, str):
            verdicts.append(located)
            continue
        seen_px = located.extent_px * located.raster.gsd_m / source.gsd_m
        side = window_side(located, settings)
        if geom_wgs84.geom_type != "Point" and seen_px < plan.min_object_px:
            verdicts.append("too_small")
        elif side > plan.max_chip_px:
            verdicts.append("too_large")
        else:
            size = "a point" if geom_wgs84.geom_type == "Point" else f"{seen_px:.1f} px"
            chip = place_chip(located, side, settings)
            return replace(chip, imagery_source={
                "name": source.name, "gsd_m": source.gsd_m,
                "reason": f"finest where visible ({size}) and fits ({side} px window)"})
    return _no_source_reason(verdicts)


def _no_source_reason(verdicts: list[str]) -> str:
    """Why no source of a plan gives a focus its chip, from each source's verdict."""
    sized = {v for v in verdicts if v in ("too_small", "too_large")}
    if not sized:
        return "focus_outside_imagery" if "focus_outside_imagery" in verdicts \
            else "outside_imagery"
    if sized == {"too_small"}:
        return "too_small_in_every_source"
    if sized == {"too_large"}:
        return "too_large_in_every_source"
    return "too_large_where_visible"
