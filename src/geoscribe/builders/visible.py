"""The features visible in a chip, with their boxes in chip pixels.

A unit's candidate features are projected once per CRS and held as arrays (geometries,
bounds, point flags). The unit's north-up chips are then tested against them together: box
overlaps as one array operation, and one vectorised exact intersection test for the pairs
where the feature is near the chip but not wholly inside its box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geoscribe.builders.chip_window import ChipPlan, pixel_box, to_pixels

MAX_PAIRS = 1 << 20  # chip x feature tests per block (bounded memory for dense units)


@dataclass(frozen=True)
class ProjectedFeatures:
    """Features of a unit in one CRS: projected geometries, their bounds and point flags."""

    geoms: np.ndarray  # object array of geometries in the CRS
    bounds: np.ndarray  # (n, 4) minx, miny, maxx, maxy
    is_point: np.ndarray  # bool

    @classmethod
    def of(cls, geoms: list, bounds: list[tuple[float, ...]]) -> ProjectedFeatures:
        array = np.empty(len(geoms), dtype=object)
        array[:] = geoms
        return cls(array, np.array(bounds, dtype=float).reshape(-1, 4),
                   shapely.get_type_id(array) == 0)


def chip_bounds(plan: ChipPlan) -> tuple[float, float, float, float]:
    """The chip's bounding box in its CRS."""
    t, size = plan.transform, plan.out_size
    xs = [t.c, t.c + t.a * size, t.c + t.b * size, t.c + (t.a + t.b) * size]
    ys = [t.f, t.f + t.d * size, t.f + t.e * size, t.f + (t.d + t.e) * size]
    return min(xs), min(ys), max(xs), max(ys)


def bbox_px(bounds: tuple[float, ...], is_point: bool, out_size: int,
            node_box: int) -> tuple[list[float], bool]:
    """A feature's pixel bounds clipped to the chip; points get a small box around them."""
    if is_point:
        x, y = bounds[0], bounds[1]
        x0, y0, x1, y1 = x - node_box, y - node_box, x + node_box, y + node_box
    else:
        x0, y0, x1, y1 = bounds
    size = float(out_size)
    c0, r0, c1, r1 = max(0.0, x0), max(0.0, y0), min(size, x1), min(size, y1)
    was_clipped = c0 != x0 or r0 != y0 or c1 != x1 or r1 != y1
    return [round(c0, 2), round(r0, 2), round(c1, 2), round(r1, 2)], was_clipped


def visible(features: ProjectedFeatures, plans: list[ChipPlan], node_box: int,
            skips: list[int | None]) -> list[list[tuple[int, list[float], bool]]]:
    """For each chip (all in the features' CRS): (index, bbox_px, clipped) of every feature
    seen in it, in index order.

    A feature is seen when its geometry meets the chip and its clipped box is not empty;
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
        seen = _north_up_seen(features, [chip_bounds(plans[k]) for k in block],
                              [skips[k] for k in block])
        b = features.bounds
        for row, k in zip(seen, block, strict=True):
            index = np.flatnonzero(row)
            t = plans[k].transform
            boxes = [(i, pixel_box(box, t)) for i, box in zip(index.tolist(), b[index].tolist(),
                                                              strict=True)]
            found[k] = _clipped(features, boxes, plans[k].out_size, node_box)
    return found


def _clipped(features: ProjectedFeatures, boxes: list[tuple[int, tuple[float, ...]]],
             size: int, node_box: int) -> list[tuple[int, list[float], bool]]:
    """Pixel boxes clipped to the chip, without those left empty."""
    found = []
    for index, pixels in boxes:
        bbox, clipped = bbox_px(pixels, bool(features.is_point[index]), size, node_box)
        if bbox[2] <= bbox[0] and bbox[3] <= bbox[1]:
            continue
        found.append((index, bbox, clipped))
    return found


def _north_up_seen(features: ProjectedFeatures, chips: list[tuple[float, ...]],
                   skips: list[int | None]) -> np.ndarray:
    """(chips, features) bool: the feature's box meets the chip's and it is wholly inside
    the chip's box or its geometry meets it (exact test)."""
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
        seen[rows, cols] = shapely.intersects(boxes, features.geoms[cols])
    return seen


def _in_rotated_chip(features: ProjectedFeatures, plan: ChipPlan, node_box: int,
                     skip: int | None) -> list[tuple[int, list[float], bool]]:
    """Features whose geometry, in chip pixels, meets a rotated chip."""
    t, size = plan.transform, plan.out_size
    cx0, cy0, cx1, cy1 = chip_bounds(plan)
    b = features.bounds
    near = np.flatnonzero((b[:, 0] <= cx1) & (b[:, 2] >= cx0) & (b[:, 1] <= cy1)
                          & (b[:, 3] >= cy0))
    chip = shapely.box(0, 0, size, size)
    boxes = []
    for index in near.tolist():
        if index == skip:
            continue
        geom_px = to_pixels(features.geoms[index], t)
        if geom_px.intersects(chip):
            boxes.append((index, geom_px.bounds))
    return _clipped(features, boxes, size, node_box)
