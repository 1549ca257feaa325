"""CLIP-score selection over a whole run, as SkyScript and DataComp filtered their pools.

Selection needs every score of the run at once (a top fraction is a property of the pool), so
it runs after scoring, not per chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Selection:
    """The outcome: kept keys (sorted) and a drop reason for every other key."""

    kept: list[str]
    dropped: dict[str, str]


def select_by_score(
    scores: dict[str, float],
    min_score: float | None = None,
    keep_fraction: float | None = None,
) -> Selection:
    """Keep samples by CLIP score: an absolute threshold and/or a top fraction of the pool.

    * ``min_score``: keep ``score >= min_score``; others get ``clip_below_min_score``.
    * ``keep_fraction`` in (0, 1]: rank the non-NaN scores of the whole pool (before any
      threshold) by score descending, then key ascending, and keep the first
      ``ceil(keep_fraction * n)``, with n the number of non-NaN scores (the product is rounded
      to 9 decimals first, so 0.07 * 100 counts as 7, not 8). Ties at the cut-off are thus
      broken by key, never by dict order. Others get ``clip_outside_top_fraction``.
    * When both are given a sample must pass both; the threshold's reason is reported first.
    * NaN scores are always dropped with ``clip_score_nan`` and do not count in the pool.
    * Neither given: every non-NaN sample is kept.
    """
    if keep_fraction is not None and not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    if min_score is not None and math.isnan(min_score):
        raise ValueError("min_score must not be NaN")
    finite = {k: s for k, s in scores.items() if not math.isnan(s)}
    top: set[str] | None = None
    if keep_fraction is not None:
        ranked = sorted(finite, key=lambda k: (-finite[k], k))
        top = set(ranked[: math.ceil(round(keep_fraction * len(ranked), 9))])
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for key in sorted(scores):
        if key not in finite:
            dropped[key] = "clip_score_nan"
        elif min_score is not None and finite[key] < min_score:
            dropped[key] = "clip_below_min_score"
        elif top is not None and key not in top:
            dropped[key] = "clip_outside_top_fraction"
        else:
            kept.append(key)
    return Selection(kept=kept, dropped=dropped)
