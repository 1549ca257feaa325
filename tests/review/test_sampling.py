"""issue 14: which records go to review (geoscribe.review.sampling)."""

from __future__ import annotations

from collections import Counter

import pytest

from geoscribe.errors import InputError
from geoscribe.review.sampling import Item, allocate, generator_id, sample_items


def _item(i: int, split: str, clip: float | None, template: str) -> Item:
    record = {"id": f"k{i:03d}", "split": split, "scores": {"clip": clip},
              "generator": {"kind": "template", "template_id": template,
                            "prompt_sha256": "0" * 64},
              "label": {"class": "forest" if i % 3 else "water"}}
    return Item(record["id"], f"{split}-000000.tar", record, "png")


ITEMS = [_item(i, ("train", "train", "val", "test")[i % 4], None if i % 5 == 0 else i / 100,
               "t1" if i < 70 else "t2") for i in range(100)]


def test_allocate_is_proportional_and_sums_to_n():
    """issue 14 (stratified sample): largest-remainder allocation."""
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert sum(allocate({"a": 7, "b": 5, "c": 1}, 6).values()) == 6
    assert allocate({"a": 2, "b": 1}, 10) == {"a": 2, "b": 1}


@pytest.mark.parametrize("by", ["split", "generator", "class", "score"])
def test_stratified_sample_is_seeded_and_proportional(by):
    """issue 14: `--sample N --stratify S --seed K` is reproducible, varies with the seed and
    keeps each stratum's share (within one record)."""
    first = sample_items(ITEMS, 20, by, seed=3)
    assert [i.key for i in first] == [i.key for i in sample_items(ITEMS, 20, by, seed=3)]
    assert [i.key for i in first] != [i.key for i in sample_items(ITEMS, 20, by, seed=4)]
    assert len(first) == 20 and len({i.key for i in first}) == 20
    if by == "split":
        got = Counter(i.record["split"] for i in first)
        assert got == {"train": 10, "val": 5, "test": 5}
    if by == "generator":
        assert Counter(generator_id(i.record) for i in first) == {"t1": 14, "t2": 6}
    if by == "class":
        truth = Counter(i.record["label"]["class"] for i in ITEMS)
        got = Counter(i.record["label"]["class"] for i in first)
        assert all(abs(got[c] - 20 * n / 100) <= 1 for c, n in truth.items())
    if by == "score":
        assert sum(1 for i in first if i.record["scores"]["clip"] is None) == 4


def test_no_sample_takes_all_and_bad_values_are_errors():
    """issue 14: without --sample every record goes; bad values are one-line input errors."""
    assert sample_items(ITEMS, None, None, 0) == ITEMS
    with pytest.raises(InputError):
        sample_items(ITEMS, 0, None, 0)
    with pytest.raises(InputError):
        sample_items(ITEMS, 5, "colour", 0)


def test_generator_id_of_llm_records_names_model_and_prompt():
    """issue 14: model_version = template id, or LLM model + prompt hash."""
    assert generator_id({"generator": {"kind": "llm", "model": "smollm2",
                                       "prompt_sha256": "ab" * 32}}) == "smollm2+abababababab"
