"""ChatEarthNet-style land-cover shares of a tile, overall and per region, and a template caption.

Shares are fractions of the labelled pixels of known classes (values listed in the class map;
nodata, pixels outside the mask and unlisted values are left out). Regions of an H x W tile
(rows down): the four quadrants "top left" (rows < H//2, cols < W//2), "top right",
"bottom left", "bottom right", and "centre" (rows H//4 .. H - H//4, cols W//4 .. W - W//4,
end exclusive). Share words, percentages and caption wording: see
prompts/captions/chatearthnet_template_v1.yaml.
"""

from __future__ import annotations

import numpy as np

from geoscribe.text.templates import join_and, load_wording

REGIONS = ("top left", "top right", "bottom left", "bottom right", "centre")
WORDING = ("prompts", "captions", "chatearthnet_template_v1.yaml")


def chatearthnet_wording() -> tuple[str, str, dict]:
    """(template_id, sha256, wording) of the chatearthnet-like caption template."""
    return load_wording(*WORDING)


def region_windows(height: int, width: int) -> dict[str, tuple[slice, slice]]:
    """Row/column slices of the regions, in REGIONS order."""
    h2, w2, h4, w4 = height // 2, width // 2, height // 4, width // 4
    return {
        "top left": (slice(0, h2), slice(0, w2)),
        "top right": (slice(0, h2), slice(w2, width)),
        "bottom left": (slice(h2, height), slice(0, w2)),
        "bottom right": (slice(h2, height), slice(w2, width)),
        "centre": (slice(h4, height - h4), slice(w4, width - w4)),
    }


def class_pixels(values: np.ndarray, known: np.ndarray, classes: dict[int, str]
                 ) -> dict[str, int]:
    """Pixels per class name (values mapping to one name are summed), most pixels first
    (ties by name)."""
    found, counts = np.unique(values[known], return_counts=True)
    pixels: dict[str, int] = {}
    for value, count in zip(found, counts, strict=True):
        name = classes[int(value)]
        pixels[name] = pixels.get(name, 0) + int(count)
    return dict(sorted(pixels.items(), key=lambda kv: (-kv[1], kv[0])))


def shares(pixels: dict[str, int]) -> dict[str, float]:
    """Fraction of the counted pixels per class (same order)."""
    total = sum(pixels.values())
    return {name: count / total for name, count in pixels.items()} if total else {}


def percent(count: int, total: int) -> int:
    """Integer percent of count/total, rounded half up (exact integer arithmetic)."""
    return (200 * count + total) // (2 * total)


def share_word(pct: int, bins: list) -> str | None:
    """The word of the first bin whose lower bound (in percent) the integer percentage reaches;
    None below all bins. Binning the stated percentage keeps number and word consistent."""
    for lower, word in bins:
        if pct >= lower:
            return word
    return None


def region_phrases(overall: dict[str, int], regions: dict[str, dict[str, int]],
                   words: dict) -> list[str]:
    """Regions whose own majority class differs from the tile's and reaches words['region_word']."""
    top = next(iter(overall))
    phrases = []
    for region in REGIONS:
        pixels = regions.get(region) or {}
        if not pixels:
            continue
        name, count = next(iter(pixels.items()))
        word = share_word(percent(count, sum(pixels.values())), words["bins"])
        if name != top and word == words["region_word"]:
            phrases.append(words["region"].format(region=region, word=word, name=name))
    return phrases


def land_cover_caption(overall: dict[str, int], regions: dict[str, dict[str, int]],
                       words: dict) -> str:
    """Caption from the pixel counts: every mentioned class with its word and percent."""
    total = sum(overall.values())
    mentioned = []
    for index, (name, count) in enumerate(overall.items()):
        pct = percent(count, total)
        word = share_word(pct, words["bins"])
        if word is None and index == 0:
            word = words["bins"][-1][1]  # the majority class is always named
        if word is not None:
            mentioned.append((name, word, pct))
    (name, word, pct), rest = mentioned[0], mentioned[1:]
    lead = words["lead"][word].format(name=name, percent=pct)
    others = [words["other"][w].format(name=n, percent=p) for n, w, p in rest]
    regions_text = join_and(region_phrases(overall, regions, words))
    return words["caption"].format(
        lead=lead,
        others=words["others"].format(list=join_and(others)) if others else "",
        regions=words["regions"].format(list=regions_text) if regions_text else "")
