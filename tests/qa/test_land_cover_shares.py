"""Land-cover shares, regions, words, percentages and captions (chatearthnet-like)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from geoscribe.qa.land_cover_shares import (
    REGIONS,
    chatearthnet_wording,
    class_pixels,
    land_cover_caption,
    percent,
    region_phrases,
    region_windows,
    share_word,
    shares,
)

WORDS = chatearthnet_wording()[2]


@pytest.mark.parametrize(("h", "w"), [(256, 256), (7, 9), (1, 1), (4, 6)])
def test_quadrants_partition_the_tile_and_centre_is_the_middle_half(h, w):
    windows = region_windows(h, w)
    assert list(windows) == list(REGIONS)
    cover = np.zeros((h, w), dtype=int)
    for name in REGIONS[:4]:
        cover[windows[name]] += 1
    assert (cover == 1).all()
    rows, cols = windows["centre"]
    assert (rows.start, rows.stop, cols.start, cols.stop) == (h // 4, h - h // 4, w // 4,
                                                              w - w // 4)


def test_quadrants_of_a_256_tile():
    rows, cols = region_windows(256, 256)["bottom right"]
    assert (rows.start, rows.stop, cols.start, cols.stop) == (128, 256, 128, 256)
    rows, cols = region_windows(256, 256)["centre"]
    assert (rows.start, rows.stop, cols.start, cols.stop) == (64, 192, 64, 192)


def test_class_pixels_merge_values_of_one_name_and_skip_unknown():
    values = np.array([[10, 10, 20], [21, 99, 0]], dtype=np.uint8)
    known = np.isin(values, [10, 20, 21])
    classes = {10: "tree cover", 20: "water", 21: "water"}
    assert class_pixels(values, known, classes) == {"tree cover": 2, "water": 2}
    assert list(class_pixels(values, known, classes)) == ["tree cover", "water"]  # tie: name
    assert shares({"a": 3, "b": 1}) == {"a": 0.75, "b": 0.25}
    assert shares({}) == {}


@pytest.mark.parametrize(("count", "total", "expected"), [
    (1, 8, 13), (1, 200, 1), (1, 201, 0), (1, 3, 33), (2, 3, 67), (5, 5, 100), (0, 5, 0),
    (249, 1000, 25), (2449, 10000, 24),
])
def test_percent_rounds_half_up_exactly(count, total, expected):
    assert percent(count, total) == expected


@pytest.mark.parametrize(("pct", "word"), [
    (100, "mostly"), (50, "mostly"), (49, "a large part"), (25, "a large part"),
    (24, "some"), (10, "some"), (9, "a little"), (1, "a little"), (0, None),
])
def test_share_words_follow_the_documented_bins(pct, word):
    assert share_word(pct, WORDS["bins"]) == word


def test_caption_names_classes_with_their_percentages():
    overall = {"tree cover": 620, "grassland": 180, "built-up": 40, "cropland": 157,
               "moss and lichen": 3}
    overall = dict(sorted(overall.items(), key=lambda kv: -kv[1]))
    caption = land_cover_caption(overall, {}, WORDS)
    assert caption == ("A satellite image mostly covered by tree cover (62%), with some "
                       "grassland (18%), some cropland (16%) and a little built-up (4%).")
    assert "moss" not in caption
    numbers = [int(n) for n in re.findall(r"\d+", caption)]
    assert numbers == [percent(c, 1000) for c in list(overall.values())[:4]]


def test_regions_are_named_when_mostly_another_class():
    overall = {"tree cover": 60, "cropland": 40}
    regions = {"top left": {"cropland": 30, "tree cover": 10},
               "top right": {"tree cover": 40},
               "bottom left": {"cropland": 11, "tree cover": 9},  # 55 % cropland
               "bottom right": {"tree cover": 6, "water": 5},  # same majority as the tile
               "centre": {}}
    assert region_phrases(overall, regions, WORDS) == ["the top left is mostly cropland",
                                                       "the bottom left is mostly cropland"]
    caption = land_cover_caption(overall, regions, WORDS)
    assert caption == ("A satellite image mostly covered by tree cover (60%), with a large part "
                       "of cropland (40%); the top left is mostly cropland and the bottom left "
                       "is mostly cropland.")


def test_lead_words_and_a_tiny_majority():
    assert land_cover_caption({"water": 30, "sand": 25, "rock": 25, "ice": 20}, {}, WORDS) == (
        "A satellite image largely covered by water (30%), with a large part of sand (25%), "
        "a large part of rock (25%) and some ice (20%).")
    tiny = {f"c{i:03d}": 1 for i in range(300)}
    assert land_cover_caption(tiny, {}, WORDS) == (
        "A satellite image with a little c000 (0%).")


def test_wording_is_versioned():
    template_id, sha, _ = chatearthnet_wording()
    assert template_id == "chatearthnet-like@v1" and len(sha) == 64
