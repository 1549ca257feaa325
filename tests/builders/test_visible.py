"""builders/visible.py: the unit-wide visibility test equals a per-chip brute force."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine

from geoscribe.builders import visible as vis
from geoscribe.builders.chip_window import ChipPlan
from geoscribe.sources.imagery import RasterInfo

RASTER = RasterInfo(path="r.tif", crs="EPSG:32633", transform=(0.5, 0.0, 0.0, 0.0, -0.5, 0.0),
                    width=4000, height=4000, count=3, dtype="uint8", nodata=None,
                    bands=[1, 2, 3], bounds_wgs84=(0.0, 0.0, 1.0, 1.0), gsd_m=0.5,
                    acquired=None, rule="passthrough")


def _features(rng) -> vis.ProjectedFeatures:
    geoms = []
    for _ in range(120):
        x, y = rng.uniform(0, 400), rng.uniform(-400, 0)
        kind = rng.integers(3)
        if kind == 0:
            geoms.append(shapely.Point(x, y))
        elif kind == 1:
            geoms.append(shapely.LineString([(x, y), (x + rng.uniform(-60, 60),
                                                      y + rng.uniform(-60, 60))]))
        else:
            geoms.append(shapely.box(x, y, x + rng.uniform(1, 40), y + rng.uniform(1, 40)))
    return vis.ProjectedFeatures.of(geoms, [g.bounds for g in geoms])


def _plan(col: float, row: float, side: int, rotation: float = 0.0) -> ChipPlan:
    transform = (Affine(0.5, 0.0, 0.0, 0.0, -0.5, 0.0) @ Affine.translation(col, row)
                 @ Affine.rotation(rotation) @ Affine.scale(side / 64))
    return ChipPlan(RASTER, int(col), int(row), side, 64, transform, False)


def _brute_force(features, plan, node_box, skip):
    """Every geometry mapped to chip pixels and tested against the chip, one by one."""
    inv, chip, found = ~plan.transform, shapely.box(0, 0, 64, 64), []
    for index, geom in enumerate(features.geoms):
        px = shapely.transform(geom, lambda c, inv=inv: np.column_stack(
            [inv.a * c[:, 0] + inv.b * c[:, 1] + inv.c, inv.d * c[:, 0] + inv.e * c[:, 1] + inv.f]))
        if index == skip or not px.intersects(chip):
            continue
        bbox, clipped = vis.bbox_px(px.bounds, geom.geom_type == "Point", 64, node_box)
        if not (bbox[2] <= bbox[0] and bbox[3] <= bbox[1]):
            found.append((index, bbox, clipped))
    return found


def _same(a, b) -> bool:
    """Same features, clip flags and (to the rounding) boxes."""
    return len(a) == len(b) and all(
        i == j and c == d and np.allclose(x, y, atol=0.011)
        for (i, x, c), (j, y, d) in zip(a, b, strict=True))


def test_unit_wide_and_blockwise_tests_equal_brute_force(monkeypatch):
    rng = np.random.default_rng(5)
    features = _features(rng)
    plans = [_plan(rng.uniform(0, 700), rng.uniform(0, 700), int(rng.integers(40, 200)))
             for _ in range(30)] + [_plan(300, 300, 120, rotation=20.0)]
    skips = [int(rng.integers(120)) if k % 2 else None for k in range(len(plans))]
    expected = [_brute_force(features, p, 4, s) for p, s in zip(plans, skips, strict=True)]
    assert any(expected) and not all(expected)
    for max_pairs in (vis.MAX_PAIRS, 1, 500):  # all chips at once, one by one, in blocks
        monkeypatch.setattr(vis, "MAX_PAIRS", max_pairs)
        got = vis.visible(features, plans, 4, skips)
        assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
