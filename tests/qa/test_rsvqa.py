"""qa/rsvqa.py: shapes, area bins, size classes, candidate questions from tile features,
seeded selection and answer balancing. Expected answers are worked out by hand."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import shapely
from shapely import affinity

from geoscribe.qa.rsvqa import (
    DEFAULT_WEIGHTS,
    AnswerBalancer,
    area_bin,
    candidate_questions,
    select_questions,
    shape_class,
    size_class,
)
from geoscribe.types import Feature, TileFeature


def metres_per_px(gsd: float):
    """A pixel -> metre map of a north-up chip at `gsd` m per pixel (what geometry.metric_frame
    gives for a UTM chip, up to the origin)."""
    return lambda geom: affinity.scale(geom, gsd, gsd, origin=(0, 0))


def _item(osm_id: int, geom, name: str, area: float = 0.0, clipped: bool = False
          ) -> TileFeature:
    feature = Feature("osm", geom, {}, "x.osm", "way", osm_id)
    return TileFeature(feature, name, geom, tuple(geom.bounds), clipped, area, 0.0)


@pytest.mark.parametrize(("geom", "shape"), [
    (shapely.box(0, 0, 10, 11), "square"),
    (shapely.box(0, 0, 10, 20), "rectangular"),
    (shapely.box(0, 0, 10, 31), "elongated"),
    (shapely.affinity.rotate(shapely.box(0, 0, 10, 20), 30), "rectangular"),
    (shapely.Point(0, 0).buffer(10, 64), "round"),
    (shapely.Polygon([(0, 0), (30, 0), (30, 5), (5, 5), (5, 30), (0, 30)]), "irregular"),
])
def test_shape_class(geom, shape):
    """issue 11 tests mirror src: rectangles by side ratio, circles round, an L irregular."""
    assert shape_class(geom) == shape


@pytest.mark.parametrize(("m2", "label"), [
    (0.0, "0 m2"), (-1.0, "0 m2"), (10.0, "between 0 and 10 m2"),
    (10.01, "between 10 and 100 m2"), (1000.0, "between 100 and 1000 m2"),
    (1000.5, "more than 1000 m2"),
])
def test_area_bins_include_their_upper_edge(m2, label):
    """issue 11 tests mirror src: RSVQA's bins, (lower, upper]."""
    assert area_bin(m2) == label


def test_size_classes_exclude_their_upper_edge():
    """issue 11 tests mirror src: small < 100 m² <= medium < 1000 m² <= large."""
    assert [size_class(v) for v in (99.9, 100.0, 999.9, 1000.0, 1e9)] == \
        ["small", "medium", "medium", "large", "large"]


def _scene() -> list[TileFeature]:
    """Two buildings left of a tree at x 50..60, a road (line) far right."""
    return [
        _item(1, shapely.box(0, 0, 10, 10), "building", area=50.0),
        _item(2, shapely.box(20, 0, 30, 10), "building", area=150.0),
        _item(3, shapely.box(50, 0, 60, 10), "tree", area=80.0, clipped=True),
        _item(4, shapely.LineString([(100, 20), (120, 20)]), "road"),
    ]


def _by_question(qa: list[dict]) -> dict[str, dict]:
    return {q["question"]: q for q in qa}


def test_candidate_questions_answers():
    """issue 11 tests mirror src: presence, count, comparison, area, size, shape and
    relations answered from the features (gsd 1 m: next to = closer than 10 px)."""
    qa = _by_question(candidate_questions(_scene(), ["building", "tree", "car", "pool", "bus"],
                                          metres_per_px(1.0)))
    assert qa["Is there a building in the image?"]["answer"] == "yes"
    assert qa["Is there a car in the image?"]["answer"] == "no"
    assert qa["How many buildings are there in the image?"]["answer"] == "2"
    assert qa["How many trees are there in the image?"]["cut_by_edge"] == 1
    assert qa["How many cars are there in the image?"]["answer"] == "0"
    assert qa["Are there more buildings than trees?"]["answer"] == "yes"
    assert qa["Is the number of roads equal to the number of trees?"]["answer"] == "yes"
    # only the first two absent classes take part in comparisons
    assert "Are there more cars than pools?" in qa
    assert not any("bus" in q and q.startswith("Are there more") for q in qa)
    assert qa["What is the area covered by buildings?"]["answer"] == "between 100 and 1000 m2"
    assert qa["What is the area covered by buildings?"]["area_m2"] == 200.0
    assert "What is the area covered by roads?" not in qa  # lines have no area
    assert qa["Is there a small building in the image?"]["answer"] == "yes"
    assert qa["Is there a medium building in the image?"]["answer"] == "yes"
    assert qa["Is there a large building in the image?"]["answer"] == "no"
    assert qa["Is there a square building in the image?"]["answer"] == "yes"
    assert not any(q.startswith("Is there a square tree") for q in qa)  # cut by the edge
    assert qa["Is there a building to the left of a tree?"]["answer"] == "yes"
    assert qa["Is there a tree to the left of a building?"]["answer"] == "no"
    assert qa["Is there a road below a building?"]["answer"] == "yes"  # y grows downwards
    assert qa["Is there a building next to a tree?"]["answer"] == "no"  # 20 px apart
    assert qa["Is there a building next to a road?"]["answer"] == "no"


def test_next_to_is_in_metres():
    """issue 11 tests mirror src: the same 20 px gap is next to at 0.4 m/px (8 m < 10 m)."""
    qa = _by_question(candidate_questions(_scene(), [], metres_per_px(0.4)))
    assert qa["Is there a building next to a tree?"]["answer"] == "yes"
    assert math.isclose(_scene()[1].pixel_geometry.distance(_scene()[2].pixel_geometry), 20)


def test_balancer_caps_an_answer_at_k_times_the_median():
    """issue 11 tests mirror src: tallies a=1, b=1, c=2 have median 1, so with k = 2 the cap
    is 2: a third 'c' is refused, 'a' and a new answer are not; types are tallied apart."""
    balancer = AnswerBalancer(k=2.0)
    for answer in ("a", "b", "c", "c"):
        assert balancer.allow("presence", answer)
        balancer.record("presence", answer)
    assert not balancer.allow("presence", "c")
    assert balancer.allow("presence", "a") and balancer.allow("presence", "new")
    assert balancer.allow("count", "c")
    balancer.record("presence", "a")
    balancer.record("presence", "b")  # tallies 2, 2, 2: median 2, cap 4
    assert balancer.allow("presence", "c")


def test_select_questions_is_seeded_deduplicated_and_weighted():
    """issue 11 tests mirror src: same seed, same picks; a zero weight is never asked;
    a question text asked twice counts once; at most per_chip."""
    candidates = candidate_questions(_scene(), ["car"], metres_per_px(1.0))
    weights = {"presence": 1.0, "count": 1.0, "relation": 1.0}
    first = select_questions(candidates + candidates[:3], "chip-a", weights, 6, AnswerBalancer())
    again = select_questions(candidates, "chip-a", weights, 6, AnswerBalancer())
    other = select_questions(candidates, "chip-b", weights, 6, AnswerBalancer())
    assert first == again and first != other
    assert len(first) == 6 and len({q["question"] for q in first}) == 6
    assert {q["type"] for q in first} <= {"presence", "count", "relation"}
    only = select_questions(candidates, "s", {"count": 1.0}, 50, AnswerBalancer(k=100))
    assert {q["type"] for q in only} == {"count"}
    assert len(only) == sum(1 for q in candidates if q["type"] == "count")


POLYGON_CLASSES = ("building", "pond", "parking lot")
POINT_CLASSES = ("tree", "bench", "street lamp")


def _ttile(rng: random.Random, polygons: bool) -> list[TileFeature]:
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
        items = _ttile(rng, polygons=index % 2 == 0)
        candidates = candidate_questions(items, vocabulary, metres_per_px(0.5))
        chosen = select_questions(candidates, f"tile-{index}", weights, per_chip, balancer)
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
    items = _ttile(random.Random(3), polygons=True)
    candidates = candidate_questions(items, list(POLYGON_CLASSES + POINT_CLASSES),
                                     metres_per_px(0.5))
    first = select_questions(candidates, "k", DEFAULT_WEIGHTS, 12, AnswerBalancer())
    again = select_questions(candidates, "k", DEFAULT_WEIGHTS, 12, AnswerBalancer())
    assert first == again and len(first) == 12
    assert len({q["question"] for q in first}) == 12
