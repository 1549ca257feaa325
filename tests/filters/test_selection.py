"""CLIP-score selection: threshold, top fraction of the pool, ties, NaN and validation."""

from __future__ import annotations

import math
import random

import pytest

from geoscribe.filters.selection import Selection, select_by_score


def test_threshold_keeps_scores_at_or_above_min():
    sel = select_by_score({"a": 0.30, "b": 0.29, "c": 0.5}, min_score=0.30)
    assert sel == Selection(kept=["a", "c"], dropped={"b": "clip_below_min_score"})


def test_top_fraction_keeps_ceil_of_fraction_times_pool():
    scores = {f"k{i:02d}": float(i) for i in range(10)}
    sel = select_by_score(scores, keep_fraction=0.25)  # ceil(2.5) = 3
    assert sel.kept == ["k07", "k08", "k09"]
    assert sel.dropped == {f"k{i:02d}": "clip_outside_top_fraction" for i in range(7)}


def test_fraction_product_is_not_inflated_by_float_error():
    assert 0.07 * 100 > 7  # the float product that a naive ceil would turn into 8
    scores = {f"k{i:03d}": float(i) for i in range(100)}
    assert len(select_by_score(scores, keep_fraction=0.07).kept) == 7


def test_ties_at_the_cut_off_go_to_the_smallest_key_whatever_the_dict_order():
    items = [("d", 0.9), ("c", 0.5), ("a", 0.5), ("b", 0.5), ("e", 0.1)]
    results = set()
    for seed in range(20):
        random.Random(seed).shuffle(items)
        sel = select_by_score(dict(items), keep_fraction=0.6)  # ceil(3.0) = 3
        results.add((tuple(sel.kept), tuple(sorted(sel.dropped.items()))))
    assert results == {(("a", "b", "d"), (("c", "clip_outside_top_fraction"),
                                          ("e", "clip_outside_top_fraction")))}


def test_both_rules_fraction_is_over_the_whole_pool():
    # the top half of the whole pool is {c, d}; a sample must also pass the threshold
    scores = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    sel = select_by_score(scores, min_score=0.35, keep_fraction=0.5)
    assert sel.kept == ["d"]
    assert sel.dropped == {"a": "clip_below_min_score", "b": "clip_below_min_score",
                           "c": "clip_below_min_score"}
    # threshold survivors are c, d; half of the survivors would be d alone, half of the
    # whole pool (2 of 4) keeps both
    sel = select_by_score(scores, min_score=0.25, keep_fraction=0.5)
    assert sel.kept == ["c", "d"]
    sel = select_by_score(scores, min_score=0.15, keep_fraction=0.5)
    assert sel.kept == ["c", "d"]
    assert sel.dropped == {"a": "clip_below_min_score", "b": "clip_outside_top_fraction"}


def test_nan_scores_are_dropped_and_do_not_count_in_the_pool():
    scores = {"a": math.nan, "b": 1.0, "c": 2.0, "d": math.nan}
    sel = select_by_score(scores, keep_fraction=0.5)  # pool of 2 -> keep 1
    assert sel.kept == ["c"]
    assert sel.dropped == {"a": "clip_score_nan", "b": "clip_outside_top_fraction",
                           "d": "clip_score_nan"}
    assert select_by_score(scores).kept == ["b", "c"]


def test_empty_and_no_rule():
    assert select_by_score({}) == Selection(kept=[], dropped={})
    assert select_by_score({}, min_score=0.2, keep_fraction=0.1) == Selection([], {})
    assert select_by_score({"z": -1.0, "y": 3.0}).kept == ["y", "z"]


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.0001, math.nan])
def test_keep_fraction_out_of_range_is_rejected(fraction):
    with pytest.raises(ValueError):
        select_by_score({"a": 1.0}, keep_fraction=fraction)


def test_full_fraction_keeps_everything():
    assert select_by_score({"b": 1.0, "a": 0.0}, keep_fraction=1.0).kept == ["a", "b"]


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_rank_counting_reference(seed):
    rng = random.Random(seed)
    scores = {f"s{i:03d}": rng.choice([math.nan, *[round(rng.random(), 1)] * 5])
              for i in range(rng.randint(1, 120))}
    min_score, fraction = rng.choice([None, 0.4]), rng.choice([None, 0.33, 0.8])
    sel = select_by_score(scores, min_score=min_score, keep_fraction=fraction)
    finite = {k: s for k, s in scores.items() if s == s}
    k = math.ceil(round(fraction * len(finite), 9)) if fraction else len(finite)
    expected = []
    for key, s in finite.items():
        # a key is in the top k if fewer than k keys rank strictly before it
        better = sum(1 for o, t in finite.items() if t > s or (t == s and o < key))
        if (min_score is None or s >= min_score) and better < k:
            expected.append(key)
    assert sel.kept == sorted(expected)
    assert set(sel.kept) | set(sel.dropped) == set(scores)
    assert not set(sel.kept) & set(sel.dropped)
