"""builders/visible.py: the unit-wide visibility test equals a per-chip brute force, and a
feature the chip's edge cuts gets the box of its part inside the chip."""

from __future__ import annotations

import numpy as np
import shapely
from affine import Affine

from geoscribe.builders import visible as vis
from geoscribe.types import ChipPlan, RasterInfo

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


def _pixels(geom, transform: Affine):
    inv = ~transform
    return shapely.transform(geom, lambda c: np.column_stack(
        [inv.a * c[:, 0] + inv.b * c[:, 1] + inv.c, inv.d * c[:, 0] + inv.e * c[:, 1] + inv.f]))


def _expected_box(px, node_box: int, size: int = 64) -> tuple[list[float], bool]:
    """The box written for a geometry in chip pixels: a node's ±node_box box clipped to the
    chip; otherwise the bounds of the part of the geometry inside the chip (exact shapely
    intersection). `clipped`: the node's box or the whole geometry reaches past the chip."""
    chip = shapely.box(0, 0, size, size)
    if px.geom_type == "Point":
        whole = shapely.box(px.x - node_box, px.y - node_box, px.x + node_box, px.y + node_box)
        box = whole.intersection(chip).bounds
    else:
        whole, box = px, px.intersection(chip).bounds
    x0, y0, x1, y1 = whole.bounds
    return [round(v, 2) for v in box], x0 < 0 or y0 < 0 or x1 > size or y1 > size


def _brute_force(features, plan, node_box, skip):
    """Every geometry mapped to chip pixels and tested against the chip, one by one."""
    chip, found = shapely.box(0, 0, 64, 64), []
    for index, geom in enumerate(features.geoms):
        px = _pixels(geom, plan.transform)
        if index == skip or not px.intersects(chip):
            continue
        bbox, clipped = _expected_box(px, node_box)
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


def _in_crs(pixel_coords, plan: ChipPlan, line: bool = False):
    """A geometry given in the chip's pixels, placed in the CRS through the chip's transform."""
    coords = [plan.transform @ xy for xy in pixel_coords]
    return shapely.LineString(coords) if line else shapely.Polygon(coords)


def test_cut_features_get_the_box_of_their_part_inside_the_chip():
    """issue 10 case 13: a square turned 45° over the chip's top-left corner, an L-shaped road
    crossing it twice and a square along its right edge get the bounds of their parts inside
    the chip (worked out by hand), not their whole boxes clipped; a feature wholly inside and
    a node keep theirs. Same on a north-up chip and on a rotated one."""
    expected = {  # index: (box of the part inside, whole box clipped as before)
        0: ([0.0, 0.0, 30.0, 20.0], [0.0, 0.0, 40.0, 20.0]),  # diamond, centre (10, -10)
        1: ([0.0, 0.0, 60.0, 20.0], [0.0, 0.0, 60.0, 30.0]),  # L: (-20, 30) (25, -15) (60, 20)
        2: ([54.0, 40.0, 64.0, 50.0], [54.0, 40.0, 64.0, 50.0]),  # square cut by the right edge
    }
    for rotation in (0.0, 25.0):
        plan = _plan(100, 100, 64, rotation=rotation)
        geoms = [_in_crs([(40, -10), (10, 20), (-20, -10), (10, -40), (40, -10)], plan),
                 _in_crs([(-20, 30), (25, -15), (60, 20)], plan, line=True),
                 _in_crs([(54, 40), (74, 40), (74, 50), (54, 50), (54, 40)], plan),
                 _in_crs([(20, 30), (30, 30), (30, 40), (20, 40), (20, 30)], plan),
                 shapely.Point(plan.transform @ (62, 33))]
        features = vis.ProjectedFeatures.of(geoms, [g.bounds for g in geoms])
        (got,) = vis.visible(features, [plan], 4, [None])
        boxes = {i: (box, clipped) for i, box, clipped in got}
        assert sorted(boxes) == [0, 1, 2, 3, 4]
        for index, (part, whole_clipped) in expected.items():
            assert boxes[index][1] is True
            assert np.allclose(boxes[index][0], part, atol=0.011), (rotation, index)
            assert index == 2 or not np.allclose(part, whole_clipped)
        assert np.allclose(boxes[3][0], [20, 30, 30, 40], atol=0.011) and not boxes[3][1]
        assert np.allclose(boxes[4][0], [58, 29, 64, 37], atol=0.011) and boxes[4][1]


def test_part_bounds_survives_invalid_and_edge_only_geometries():
    """issue 10 case 13: a self-crossing ring (as a labels file may hold) is clipped without an
    error, and a square that only touches the chip's edge gets that edge's segment."""
    bowtie = shapely.Polygon([(-10, 0), (10, 20), (10, 0), (-10, 20), (-10, 0)])
    touching = shapely.box(-10, 5, 0, 15)
    bounds = vis.part_bounds(vis.ProjectedFeatures.of([bowtie, touching], [(0, 0, 0, 0)] * 2)
                             .geoms, np.array([64.0, 64.0]))
    assert np.allclose(bounds[0], [0, 0, 10, 20])
    assert np.allclose(bounds[1], [0, 5, 0, 15])
