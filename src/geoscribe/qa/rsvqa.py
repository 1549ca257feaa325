"""RSVQA-style questions computed from the OSM features in a tile.

Types: presence, count, comparison (more / equal), area (m², binned as RSVQA did), size
attribute (small < 100 m² <= medium < 1000 m² <= large), shape attribute (see shape_class;
asked only when no object of the class is cut by the tile edge), relations (left/right/
above/below by boxes that do not overlap on that axis; next to: closer than 10 m).
Candidates are deduplicated and sampled type first: each question slot draws a type by weight
among the types the tile has questions of, then a question of that type (deterministic, seeded
by the chip key), so the weights shape the realised mix. Items are balanced per unit: an item
is dropped when its answer already occurs at least `k` times the median answer frequency of
its type in the unit (k = 2 by default), so no answer dominates a type.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.qa.answers import count_answer, yes_no
from geoscribe.text.templates import load_wording, plural, with_article
from geoscribe.types import TileFeature

AREA_BINS = ((0.0, "0 m2"), (10.0, "between 0 and 10 m2"), (100.0, "between 10 and 100 m2"),
             (1000.0, "between 100 and 1000 m2"))
SIZE_CLASSES = ((100.0, "small"), (1000.0, "medium"), (float("inf"), "large"))
NEXT_TO_M = 10.0
DEFAULT_WEIGHTS = {"presence": 2.0, "count": 2.0, "comparison": 1.0, "area": 1.0, "size": 1.0,
                   "shape": 1.0, "relation": 1.0}
SHAPES = ("square", "rectangular", "elongated", "round", "irregular")


def shape_class(geom) -> str:
    """Shape of a polygon: rectangular ones by side ratio, else round or irregular.

    Rectangularity = area / area of the minimum rotated rectangle; > 0.9 is a rectangle, which
    is "square" below a 1.3 side ratio, "elongated" above 3, else "rectangular". Otherwise the
    isoperimetric quotient 4πA/P² > 0.85 is "round"; anything else is "irregular".
    """
    import math

    rect = shapely.minimum_rotated_rectangle(geom)
    if rect.area > 0 and geom.area / rect.area > 0.9:
        coords = list(rect.exterior.coords)
        sides = sorted(math.dist(coords[i], coords[i + 1]) for i in range(2))
        ratio = sides[1] / sides[0] if sides[0] > 0 else float("inf")
        if ratio < 1.3:
            return "square"
        return "elongated" if ratio > 3 else "rectangular"
    if geom.length > 0 and 4 * math.pi * geom.area / geom.length ** 2 > 0.85:
        return "round"
    return "irregular"


def rsvqa_templates() -> tuple[str, str, dict[str, str]]:
    return load_wording("prompts", "qa", "rsvqa_v1.yaml")


def area_bin(m2: float) -> str:
    """RSVQA's area answer bins."""
    if m2 <= 0:
        return AREA_BINS[0][1]
    for upper, label in AREA_BINS[1:]:
        if m2 <= upper:
            return label
    return "more than 1000 m2"


def size_class(m2: float) -> str:
    for upper, label in SIZE_CLASSES:
        if m2 < upper:
            return label
    return "large"


@dataclass
class AnswerBalancer:
    """Per-unit answer tallies per question type; caps answers at k x the median frequency."""

    k: float = 2.0
    tally: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def allow(self, qtype: str, answer) -> bool:
        counts = self.tally[qtype]
        seen = list(counts.values()) or [0]
        return counts[str(answer)] < self.k * max(1.0, median(seen))

    def record(self, qtype: str, answer) -> None:
        self.tally[qtype][str(answer)] += 1


def _rank(seed: str, text: str) -> int:
    return int(hashlib.sha256(f"{seed}|{text}".encode()).hexdigest()[:12], 16)


def candidate_questions(items: list[TileFeature], vocabulary: list[str],
                        to_metres: Callable[[BaseGeometry], BaseGeometry]) -> list[dict]:
    """Every question the tile's features can answer (before sampling and balancing);
    `to_metres` maps chip pixels to a metric frame (geometry.metric_frame) for distances."""
    words = rsvqa_templates()[2]
    by_class: dict[str, list[TileFeature]] = defaultdict(list)
    for item in items:
        by_class[item.name].append(item)
    present = sorted(by_class)
    absent = [name for name in vocabulary if name not in by_class]
    qa: list[dict] = []
    for name in present:
        qa.append({"question": words["presence"].format(a_name=with_article(name)), **yes_no(True),
                   "type": "presence", "classes": [name]})
        qa.append({"question": words["count"].format(plural=plural(name)),
                   **count_answer(len(by_class[name])), "type": "count", "classes": [name],
                   "cut_by_edge": sum(1 for i in by_class[name] if i.clipped)})
    for name in absent:
        qa.append({"question": words["presence"].format(a_name=with_article(name)), **yes_no(False),
                   "type": "presence", "classes": [name]})
        qa.append({"question": words["count"].format(plural=plural(name)), **count_answer(0),
                   "type": "count", "classes": [name], "cut_by_edge": 0})
    names = present + absent[:2]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            na, nb = len(by_class.get(a, [])), len(by_class.get(b, []))
            qa.append({"question": words["more"].format(plural_a=plural(a), plural_b=plural(b)),
                       **yes_no(na > nb), "type": "comparison",
                       "classes": [a, b], "counts": [na, nb]})
            qa.append({"question": words["equal"].format(plural_a=plural(a), plural_b=plural(b)),
                       **yes_no(na == nb), "type": "comparison",
                       "classes": [a, b], "counts": [na, nb]})
    for name in present:
        areas = [i.area_m2 for i in by_class[name]]
        if any(a > 0 for a in areas):
            total = sum(areas)
            qa.append({"question": words["area"].format(plural=plural(name)),
                       "answer": area_bin(total), "type": "area", "classes": [name],
                       "area_m2": round(total, 2)})
            sizes = {size_class(a) for a in areas if a > 0}
            for size in ("small", "medium", "large"):
                qa.append({"question": words["size"].format(a_size_name=with_article(name, size)),
                           **yes_no(size in sizes), "type": "size",
                           "classes": [name], "size": size})
            whole = [i for i in by_class[name] if not i.clipped and i.area_m2 > 0]
            if len(whole) == len(by_class[name]):  # shapes of cut objects are unknown
                shapes = {shape_class(to_metres(i.pixel_geometry)) for i in whole}
                for shape in SHAPES:
                    question = words["shape"].format(a_shape_name=with_article(name, shape))
                    qa.append({"question": question,
                               **yes_no(shape in shapes), "type": "shape",
                               "classes": [name], "shape": shape})
    qa.extend(_relations(items, words, to_metres))
    return qa


def _relations(items: list[TileFeature], words: dict[str, str],
               to_metres: Callable[[BaseGeometry], BaseGeometry]) -> list[dict]:
    qa = []
    metric = {id(i): to_metres(i.pixel_geometry) for i in items}  # ground metres, not pixels
    names = sorted({i.name for i in items})
    for a in names:
        for b in names:
            if a == b:
                continue
            aa = [i for i in items if i.name == a]
            bb = [i for i in items if i.name == b]
            checks = {
                "left": any(x.bbox_px[2] < y.bbox_px[0] for x in aa for y in bb),
                "right": any(x.bbox_px[0] > y.bbox_px[2] for x in aa for y in bb),
                "above": any(x.bbox_px[3] < y.bbox_px[1] for x in aa for y in bb),
                "below": any(x.bbox_px[1] > y.bbox_px[3] for x in aa for y in bb),
                "next_to": any(metric[id(x)].distance(metric[id(y)]) < NEXT_TO_M
                               for x in aa for y in bb),
            }
            for relation, answer in checks.items():
                qa.append({"question": words[relation].format(a_name_a=with_article(a),
                                                                    a_name_b=with_article(b)),
                           **yes_no(answer), "type": "relation",
                           "classes": [a, b], "relation": relation})
    return qa


def select_questions(candidates: list[dict], seed: str, weights: dict[str, float],
                     per_chip: int, balancer: AnswerBalancer) -> list[dict]:
    """Deduplicate, then fill up to `per_chip` slots: each slot draws a question type by its
    weight among the types that still have a question for this tile (weights renormalised
    over them), then that type's next question in a seeded order that the balancer allows
    (refused ones are set aside). A type of weight 0 is never asked.

    So the weights shape the realised mix whatever the number of candidates per type (a tile
    with 9 classes has 360 relation candidates and 9 area ones)."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    seen: set[str] = set()
    for item in candidates:
        if item["question"] not in seen and weights.get(item["type"], 0.0) > 0:
            seen.add(item["question"])
            by_type[item["type"]].append(item)
    for items in by_type.values():  # seeded order within a type, popped from the end
        items.sort(key=lambda q: (_rank(seed, q["question"]), q["question"]), reverse=True)
    draw = random.Random(_rank(seed, "question types"))
    chosen: list[dict] = []
    while len(chosen) < per_chip and by_type:
        types = sorted(by_type)
        qtype = draw.choices(types, weights=[weights[t] for t in types])[0]
        queue = by_type[qtype]
        while queue and not balancer.allow(qtype, queue[-1]["answer"]):
            queue.pop()  # its answer is over-represented in the unit: the type's next one
        if queue:
            item = queue.pop()
            balancer.record(qtype, item["answer"])
            chosen.append(item)
        if not queue:
            del by_type[qtype]
    return chosen
