"""rsvqa-like question sampling: the type weights shape the realised mix (issue 17 case 6)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import shapely

from geoscribe.qa.rsvqa import (
    DEFAULT_WEIGHTS,
    AnswerBalancer,
    candidate_questions,
    select_questions,
)
from geoscribe.types import TileFeature

POLYGON_CLASSES = ("building", "pond", "parking lot")
POINT_CLASSES = ("tree", "bench", "street lamp")


def _tile(rng: random.Random, polygons: bool) -> list[TileFeature]:
    """Objects in a 256 px tile: points of 2-3 classes, and whole squares of 3 classes."""
    items = []
    for name in rng.sample(POINT_CLASSES, rng.randint(2, 3)):
        for _ in range(rng.randint(1, 3)):
            point = shapely.Point(rng.uniform(10, 246), rng.uniform(10, 246))
            items.append(TileFeature(None, name, point, point.buffer(4).bounds, False, 0, 0))
    for name in POLYGON_CLASSES if polygons else ():
        for _ in range(rng.randint(1, 3)):
            x, y, side = rng.uniform(5, 200), rng.uniform(5, 200), rng.uniform(4, 50)
            square = shapely.box(x, y, x + side, y + side)
            items.append(TileFeature(None, name, square, square.bounds, False,
                                     square.area * 0.25, 0))  # 0.5 m pixels
    return items


def _available(items: list[TileFeature]) -> set[str]:
    """Question types a tile of these objects has (here: every generated polygon is whole)."""
    types = {"presence", "count", "comparison"}
    if any(i.area_m2 > 0 for i in items):
        types |= {"area", "size", "shape"}
    if len({i.name for i in items}) >= 2:
        types.add("relation")
    return types


def _realised_and_expected(weights: dict[str, float], tiles: int = 400, per_chip: int = 8):
    rng = random.Random(17)
    vocabulary = sorted(POLYGON_CLASSES + POINT_CLASSES)
    realised, expected = Counter(), Counter()
    balancer = AnswerBalancer()
    for index in range(tiles):
        if index % 25 == 0:
            balancer = AnswerBalancer()  # one unit of 25 tiles
        items = _tile(rng, polygons=index % 2 == 0)
        chosen = select_questions(candidate_questions(items, vocabulary, 0.5), f"tile-{index}",
                                  weights, per_chip, balancer)
        realised.update(q["type"] for q in chosen)
        available = {t for t in _available(items) if weights.get(t, 0) > 0}
        total = sum(weights[t] for t in available)
        for qtype in available:
            expected[qtype] += len(chosen) * weights[qtype] / total
    return realised, expected


@pytest.mark.parametrize("weights", [
    DEFAULT_WEIGHTS,
    {"presence": 1, "count": 1, "comparison": 3, "area": 0, "size": 1, "shape": 2, "relation": 0},
])
def test_realised_mix_follows_the_weights(weights):
    """issue 17 case 6: over many tiles each type's share of the questions is its weight's
    share among the types the tile can ask (within 3 points); a weight of 0 gives none."""
    realised, expected = _realised_and_expected(weights)
    total = sum(realised.values())
    assert total > 3000
    for qtype, weight in weights.items():
        if weight == 0:
            assert realised[qtype] == 0, qtype
        else:
            assert abs(realised[qtype] - expected[qtype]) / total < 0.03, (realised, expected)


def test_selection_is_deterministic_and_unique():
    items = _tile(random.Random(3), polygons=True)
    candidates = candidate_questions(items, list(POLYGON_CLASSES + POINT_CLASSES), 0.5)
    first = select_questions(candidates, "k", DEFAULT_WEIGHTS, 12, AnswerBalancer())
    again = select_questions(candidates, "k", DEFAULT_WEIGHTS, 12, AnswerBalancer())
    assert first == again and len(first) == 12
    assert len({q["question"] for q in first}) == 12
