"""Counting QA: answers from counts, balanced presence questions, comparisons, captions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from geoscribe.qa.counting import PresenceBalancer, counting_caption, counting_questions


def _by_type(qa: list[dict], kind: str) -> list[dict]:
    return [item for item in qa if item["type"] == kind]


def _random_counts(rng: np.random.Generator, names: list[str]) -> dict[str, int]:
    return {name: int(rng.choice([0, 0, 1, 2, 3, 7])) for name in names}


CLASSES = ["building", "road", "tree", "bus"]


@pytest.mark.parametrize("seed", range(30))
def test_answers_follow_counts(seed):
    rng = np.random.default_rng(seed)
    names = CLASSES[: int(rng.integers(1, len(CLASSES) + 1))]
    counts = _random_counts(rng, names)
    cut = {name: int(rng.integers(0, counts[name] + 1)) for name in names}
    qa = counting_questions(counts, cut, f"chip-{seed}", PresenceBalancer())

    count_items = _by_type(qa, "count")
    assert len(count_items) >= 1
    present = [name for name in names if counts[name] > 0]
    assert sorted(item["classes"][0] for item in count_items) == sorted(present or names[:1])
    for item in count_items:
        (name,) = item["classes"]
        assert item["answer_number"] == counts[name]
        assert item["cut_by_edge"] == cut[name]

    for item in _by_type(qa, "presence"):
        (name,) = item["classes"]
        assert item["answer"] == ("yes" if counts[name] > 0 else "no")
        assert name in item["question"]

    for item in _by_type(qa, "comparison"):
        a, b = item["classes"]
        assert item["counts"] == [counts[a], counts[b]]
        assert item["answer"] == ("yes" if counts[a] > counts[b] else "no")

    (total,) = _by_type(qa, "total")
    assert total["answer_number"] == sum(counts.values())
    assert total["answer"] == str(sum(counts.values()))
    assert total["classes"] == names

    for item in qa:
        assert isinstance(item["classes"], list) and item["classes"]
        assert set(item["classes"]) <= set(names)


def test_chip_with_present_and_absent_classes_gets_one_yes_and_one_no():
    balancer = PresenceBalancer()
    counts = {"building": 3, "road": 0, "tree": 2, "bus": 0}
    for i in range(5):  # also regardless of the tally built up so far
        qa = counting_questions(counts, {}, f"mixed-{i}", balancer)
        presence = _by_type(qa, "presence")
        assert sorted(item["answer"] for item in presence) == ["no", "yes"]
        yes = next(item for item in presence if item["answer"] == "yes")
        no = next(item for item in presence if item["answer"] == "no")
        assert yes["classes"][0] in {"building", "tree"}
        assert no["classes"][0] in {"road", "bus"}
    assert balancer.tally == {"yes": 5, "no": 5}


def test_empty_chip_still_gets_a_count_question_with_zero():
    counts = {"building": 0, "road": 0}
    qa = counting_questions(counts, {}, "empty", PresenceBalancer())
    (count,) = _by_type(qa, "count")
    assert count["answer"] == "0" and count["answer_number"] == 0
    assert count["classes"] == ["building"]
    assert _by_type(qa, "comparison") == []  # both zero: nothing to compare
    assert _by_type(qa, "total")[0]["answer_number"] == 0


def test_single_class_chips_are_balanced_to_within_one():
    rng = np.random.default_rng(42)
    has_objects = rng.random(200) < 0.8
    assert 140 < has_objects.sum() < 180  # the unit is really skewed towards "yes"
    balancer = PresenceBalancer()
    yes = no = 0
    for i, present in enumerate(has_objects):
        counts = {"building": int(rng.integers(1, 6)) if present else 0}
        # documented rule: a one-answer chip is asked only if its answer is not ahead
        expect_question = (yes <= no) if present else (no <= yes)
        qa = counting_questions(counts, {}, f"unit-{i}", balancer)
        presence = _by_type(qa, "presence")
        assert len(presence) == (1 if expect_question else 0)
        for item in presence:
            assert item["answer"] == ("yes" if present else "no")
            if item["answer"] == "yes":
                yes += 1
            else:
                no += 1
        assert abs(yes - no) <= 1  # at every step, not only at the end
    assert no > 0 and yes > 0
    assert balancer.tally == {"yes": yes, "no": no}


def test_balancer_allows_only_the_answer_not_ahead():
    balancer = PresenceBalancer()
    assert balancer.allow("yes") and balancer.allow("no")
    balancer.record("yes")
    assert not balancer.allow("yes")
    assert balancer.allow("no")
    balancer.record("no")
    assert balancer.allow("yes") and balancer.allow("no")


def test_comparisons_limited_and_skip_pairs_of_zeros():
    counts = {"building": 4, "road": 0, "tree": 0, "bus": 4}
    qa = counting_questions(counts, {}, "cmp", PresenceBalancer(), max_comparisons=10)
    pairs = [tuple(item["classes"]) for item in _by_type(qa, "comparison")]
    expected = [("building", "road"), ("building", "tree"), ("building", "bus"),
                ("road", "bus"), ("tree", "bus")]  # ("road", "tree") are both zero
    assert pairs == expected
    answers = {tuple(item["classes"]): item["answer"] for item in _by_type(qa, "comparison")}
    assert answers[("building", "road")] == "yes"
    assert answers[("building", "bus")] == "no"  # equal counts: not more
    assert answers[("road", "bus")] == "no"
    qa2 = counting_questions(counts, {}, "cmp", PresenceBalancer(), max_comparisons=2)
    assert len(_by_type(qa2, "comparison")) == 2
    qa0 = counting_questions(counts, {}, "cmp", PresenceBalancer(), max_comparisons=0)
    assert _by_type(qa0, "comparison") == []


def test_questions_are_deterministic_for_a_seed():
    counts = {"building": 2, "road": 0, "tree": 1, "bus": 0}
    first = counting_questions(counts, {}, "same", PresenceBalancer())
    second = counting_questions(counts, {}, "same", PresenceBalancer())
    assert first == second


def _caption_counts(caption: str) -> dict[str, int]:
    return {word: int(n) for n, word in re.findall(r"(\d+) ([a-z]+)", caption)}


def test_caption_states_only_nonzero_counts():
    counts = {"building": 3, "road": 1, "tree": 0}
    caption = counting_caption(counts)
    assert _caption_counts(caption) == {"buildings": 3, "road": 1}
    assert "3 buildings" in caption and "1 road" in caption
    assert "tree" not in caption
    assert caption.endswith(".")


@pytest.mark.parametrize("seed", range(10))
def test_caption_random_counts(seed):
    rng = np.random.default_rng(seed)
    counts = _random_counts(rng, ["building", "road", "car"])
    if not any(counts.values()):
        counts["car"] = 2
    caption = counting_caption(counts)
    expected = {(name if n == 1 else name + "s"): n for name, n in counts.items() if n}
    assert _caption_counts(caption) == expected
    for name, n in counts.items():
        if n == 0:
            assert name not in caption


def test_caption_says_no_when_empty():
    caption = counting_caption({"building": 0, "road": 0})
    assert re.search(r"\bno\b", caption)
    assert "buildings" in caption and "roads" in caption
    assert not re.search(r"\d", caption)
    assert "no buildings" in counting_caption({"building": 0})
