"""issue 14: the review's statistics (geoscribe.review.quality), checked against scipy's Wilson
interval and a Levenshtein distance written here."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from geoscribe.review.quality import caption_edit_distance, review_stats, wilson_interval


def levenshtein(a: str, b: str) -> int:
    """Edit distance by the textbook dynamic programme."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 7), (17, 20), (50, 100), (0, 12)])
def test_wilson_interval_matches_scipy(k, n):
    """issue 14 (quality stated): the 95 % Wilson interval equals scipy's."""
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx([ci.low, ci.high], abs=1e-6)


def test_wilson_interval_of_nothing_reviewed_is_none():
    """issue 14: no reviewed record, no interval."""
    assert wilson_interval(0, 0) is None


def test_caption_edit_distance_is_levenshtein_from_the_generated_caption():
    """issue 14: the distance runs from the first caption in the history to the caption now."""
    record = {"texts": {"caption": "A satellite image of two parks."},
              "review": {"status": "corrected", "history": [
                  {"before": {"texts.caption": "A satellite image of a park."}},
                  {"before": {"texts.caption": "A satellite image of 2 parks."}}]}}
    assert caption_edit_distance(record) == levenshtein("A satellite image of a park.",
                                                        "A satellite image of two parks.")
    assert caption_edit_distance({"texts": {"caption": "x"}, "review": {}}) is None


def test_review_stats_by_recipe_and_generator():
    """issue 14: counts, rate (accepted / reviewed), interval and mean distance per group."""
    outcomes = [("accepted", "a", "t1", None), ("accepted", "a", "t1", None),
                ("corrected", "a", "t2", 4), ("rejected", "b", "t2", None),
                ("corrected", "b", "t2", None), ("corrected", "b", "t1", 7)]
    block = review_stats("p", outcomes)
    assert (block["reviewed"], block["accepted"], block["edited"], block["rejected"]) == \
        (6, 2, 3, 1)
    assert block["acceptance_rate"] == pytest.approx(2 / 6)
    ci = binomtest(2, 6).proportion_ci(method="wilson")
    assert block["acceptance_wilson95"] == pytest.approx([ci.low, ci.high], abs=1e-6)
    assert block["mean_caption_edit_distance"] == pytest.approx(5.5)
    assert block["by_recipe"]["b"]["reviewed"] == 3 and block["by_recipe"]["b"]["accepted"] == 0
    assert block["by_generator"]["t1"]["acceptance_rate"] == pytest.approx(2 / 3)
    assert block["by_generator"]["t2"]["mean_caption_edit_distance"] == pytest.approx(4)
