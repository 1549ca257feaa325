"""The features visible in a chip, with their boxes in chip pixels.

A unit's candidate features are projected once per CRS and held as arrays (geometries,
bounds, point flags). The unit's north-up chips are then tested against them together: box
overlaps as one array operation, and one vectorised exact intersection test for the pairs
where the feature is near the chip but not wholly inside its box.

A feature wholly inside the chip's box keeps its own bounds; one that the chip's edge cuts gets
the bounds of the part of its geometry inside the chip (one vectorised clip per block of chips),
not its whole box clipped. Nodes keep a small box centred on them, clipped to the chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from geoscribe.geometry import chip_footprint, intersection_with_box, pixel_box, to_pixels
from geoscribe.types import ChipPlan

MAX_PAIRS = 1 << 20  # chip x feature tests per block (bounded memory for dense units)


@dataclass(frozen=True)
class ProjectedFeatures:
    """Features of a unit in one CRS: projected geometries, their bounds and point flags."""

    geoms: np.ndarray  # object array of geometries in the CRS
    bounds: np.ndarray  # (n, 4) minx, miny, maxx, maxy
    is_point: np.ndarray  # bool

    @classmethod
    def of(cls, geoms: list, bounds: list[tuple[float, ...]]) -> ProjectedFeatures:
        array = _objects(geoms)
        return cls(array, np.array(bounds, dtype=float).reshape(-1, 4),
                   shapely.get_type_id(array) == 0)


def _objects(geoms: list) -> np.ndarray:
    """An object array of geometries (never a 2-d array of coordinates)."""
    array = np.empty(len(geoms), dtype=object)
    array[:] = geoms
    return array


def bbox_px(bounds: tuple[float, ...], is_point: bool, out_size: int, node_box: int,
            part: tuple[float, ...] | None = None) -> tuple[list[float], bool]:
    """A feature's box in chip pixels and whether the chip's edge cuts it.

    `bounds` are the pixel bounds of the whole geometry; points get a small box around them.
    `part`, for a feature the edge cuts, are the pixel bounds of its part inside the chip: the
    box is then that part's. Boxes are clipped to the chip (for rounding, and for nodes).
    """
    if is_point:
        x, y = bounds[0], bounds[1]
        x0, y0, x1, y1 = x - node_box, y - node_box, x + node_box, y + node_box
    else:
        x0, y0, x1, y1 = bounds
    size = float(out_size)
    was_clipped = x0 < 0.0 or y0 < 0.0 or x1 > size or y1 > size
    if part is not None:
        x0, y0, x1, y1 = part
    c0, r0, c1, r1 = max(0.0, x0), max(0.0, y0), min(size, x1), min(size, y1)
    return [round(c0, 2), round(r0, 2), round(c1, 2), round(r1, 2)], was_clipped


def part_bounds(geoms_px: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n, 4) bounds of the part of each geometry (in its chip's pixels) inside its chip
    [0, size] x [0, size], NaN where there is none.

    Clipping by a rectangle is fast and never fails on invalid geometries; a geometry that only
    lies along the chip's edge clips to nothing and gets its exact intersection instead.
    """
    bounds = np.full((len(geoms_px), 4), np.nan)
    for size in np.unique(sizes).tolist():
        which = np.flatnonzero(sizes == size)
        parts = shapely.clip_by_rect(geoms_px[which], 0.0, 0.0, size, size)
        bounds[which] = shapely.bounds(parts).reshape(-1, 4)
        for i in which[shapely.is_empty(parts)].tolist():
            exact = intersection_with_box(geoms_px[i], shapely.box(0.0, 0.0, size, size))
            bounds[i] = shapely.bounds(exact)
    return bounds


def north_up_pixels(geoms: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """Geometries mapped to pixels of north-up grids, each by its own (rows of a, c, e, f:
    col = (x - c) / a, row = (y - f) / e, as `pixel_box`), in one pass over all coordinates."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    g = grids[owner]
    pixels = np.column_stack([(coords[:, 0] - g[:, 1]) / g[:, 0],
                              (coords[:, 1] - g[:, 3]) / g[:, 2]])
    return shapely.set_coordinates(np.array(geoms, dtype=object, copy=True), pixels)


def visible(features: ProjectedFeatures, plans: list[ChipPlan], node_box: int,
            skips: list[int | None]) -> list[list[tuple[int, list[float], bool]]]:
    """For each chip (all in the features' CRS): (index, bbox_px, clipped) of every feature
    seen in it, in index order.

    A feature is seen when its geometry meets the chip and its box is not empty (one the
    chip's edge cuts gets the box of its part inside the chip);
    `skips[k]` is an index left out of chip k (its focus). North-up chips are tested
    together, in blocks of chips; rotated ones one by one.
    """
    found: list[list[tuple[int, list[float], bool]]] = [[] for _ in plans]
    north = [k for k, p in enumerate(plans) if p.transform.b == 0 and p.transform.d == 0]
    for k in sorted(set(range(len(plans))) - set(north)):
        found[k] = _in_rotated_chip(features, plans[k], node_box, skips[k])
    step = max(1, MAX_PAIRS // max(1, len(features.bounds)))
    for start in range(0, len(north), step):
        block = north[start:start + step]
        seen, cut_rows, cut_cols = _north_up_seen(
            features, [chip_footprint(plans[k].transform, plans[k].out_size) for k in block],
            [skips[k] for k in block])
        parts = _parts(features, [plans[k] for k in block], cut_rows, cut_cols)
        b = features.bounds
        for row, k in enumerate(block):
            index = np.flatnonzero(seen[row])
            t = plans[k].transform
            boxes = [(i, pixel_box(box, t), parts.get((row, i)))
                     for i, box in zip(index.tolist(), b[index].tolist(), strict=True)]
            found[k] = _clipped(features, boxes, plans[k].out_size, node_box)
    return found


def _parts(features: ProjectedFeatures, plans: list[ChipPlan], rows: np.ndarray,
           cols: np.ndarray) -> dict[tuple[int, int], tuple[float, ...]]:
    """{(row, col): pixel bounds of feature `col`'s part inside chip `plans[row]`}."""
    if not len(rows):
        return {}
    grids = np.array([(p.transform.a, p.transform.c, p.transform.e, p.transform.f)
                      for p in plans], dtype=float)
    sizes = np.array([float(p.out_size) for p in plans])
    bounds = part_bounds(north_up_pixels(features.geoms[cols], grids[rows]), sizes[rows])
    return dict(zip(zip(rows.tolist(), cols.tolist(), strict=True), map(tuple, bounds.tolist()),
                    strict=True))


def _clipped(features: ProjectedFeatures,
             boxes: list[tuple[int, tuple[float, ...], tuple[float, ...] | None]],
             size: int, node_box: int) -> list[tuple[int, list[float], bool]]:
    """Boxes in the chip from (index, whole pixel bounds, pixel bounds of the part inside or
    None), without those left empty."""
    found = []
    for index, pixels, part in boxes:
        if part is not None and math.isnan(part[0]):
            continue  # nothing of it inside after all
        bbox, clipped = bbox_px(pixels, bool(features.is_point[index]), size, node_box, part)
        if bbox[2] <= bbox[0] and bbox[3] <= bbox[1]:
            continue
        found.append((index, bbox, clipped))
    return found


def _north_up_seen(features: ProjectedFeatures, chips: list[tuple[float, ...]],
                   skips: list[int | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chips, features) bool: the feature's box meets the chip's and it is wholly inside
    the chip's box or its geometry meets it (exact test); and the (rows, cols) of the pairs
    seen but not wholly inside, nodes left out: those the chip's edge cuts."""
    c = np.array(chips, dtype=float).reshape(-1, 4)
    x0, y0, x1, y1 = (c[:, i:i + 1] for i in range(4))  # (chips, 1) columns
    bx0, by0, bx1, by1 = features.bounds.T
    near = (bx0 <= x1) & (bx1 >= x0) & (by0 <= y1) & (by1 >= y0)
    for row, skip in enumerate(skips):
        if skip is not None:
            near[row, skip] = False
    inside = (bx0 >= x0) & (bx1 <= x1) & (by0 >= y0) & (by1 <= y1)
    seen = near & inside
    rows, cols = np.nonzero(near & ~inside)
    if len(rows):
        boxes = shapely.box(c[rows, 0], c[rows, 1], c[rows, 2], c[rows, 3])
        hit = shapely.intersects(boxes, features.geoms[cols])
        seen[rows, cols] = hit
        cut = hit & ~features.is_point[cols]
        rows, cols = rows[cut], cols[cut]
    return seen, rows, cols


def _in_rotated_chip(features: ProjectedFeatures, plan: ChipPlan, node_box: int,
                     skip: int | None) -> list[tuple[int, list[float], bool]]:
    """Features whose geometry, in chip pixels, meets a rotated chip."""
    t, size = plan.transform, plan.out_size
    cx0, cy0, cx1, cy1 = chip_footprint(plan.transform, plan.out_size)
    b = features.bounds
    near = np.flatnonzero((b[:, 0] <= cx1) & (b[:, 2] >= cx0) & (b[:, 1] <= cy1)
                          & (b[:, 3] >= cy0))
    chip = shapely.box(0, 0, size, size)
    boxes, cut = [], {}
    for index in near.tolist():
        if index == skip:
            continue
        geom_px = to_pixels(features.geoms[index], t)
        if geom_px.intersects(chip):
            x0, y0, x1, y1 = bounds = geom_px.bounds
            boxes.append((index, bounds))
            if not features.is_point[index] and (x0 < 0 or y0 < 0 or x1 > size or y1 > size):
                cut[index] = geom_px
    parts = part_bounds(_objects(list(cut.values())), np.full(len(cut), float(size)))
    part_of = dict(zip(cut, map(tuple, parts.tolist()), strict=True))
    return _clipped(features, [(i, b, part_of.get(i)) for i, b in boxes], size, node_box)
