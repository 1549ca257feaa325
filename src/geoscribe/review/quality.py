"""The dataset's measured quality from its review: counts, acceptance rate with a 95 % Wilson
interval, mean edit distance of caption corrections; overall, per recipe and per generator.

Acceptance rate = records accepted as generated / records reviewed, where reviewed = accepted +
edited (corrected) + rejected. Edited records are counted separately (they are not accepted:
the reviewer had to change them).
"""

from __future__ import annotations

import math

from rapidfuzz.distance import Levenshtein

Z95 = 1.959963984540054  # the 97.5 % quantile of the standard normal


def wilson_interval(successes: int, n: int, z: float = Z95) -> list[float] | None:
    """The Wilson score interval of a binomial proportion (None when n is 0)."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)]


def caption_edit_distance(record: dict) -> int | None:
    """Levenshtein distance between the generated caption (the first one in the record's review
    history) and the caption now; None when the caption was never corrected."""
    for entry in (record.get("review") or {}).get("history") or []:
        before = (entry.get("before") or {}).get("texts.caption")
        if before is not None:
            return Levenshtein.distance(before, record["texts"]["caption"])
    return None


def summarise(outcomes: list[tuple[str, str, str, int | None]]) -> dict:
    """Counts, rate, interval and mean caption edit distance of (status, recipe, generator,
    distance) outcomes, status in accepted / corrected / rejected."""
    accepted = sum(1 for o in outcomes if o[0] == "accepted")
    edited = sum(1 for o in outcomes if o[0] == "corrected")
    rejected = sum(1 for o in outcomes if o[0] == "rejected")
    reviewed = accepted + edited + rejected
    distances = [o[3] for o in outcomes if o[3] is not None]
    return {
        "reviewed": reviewed, "accepted": accepted, "edited": edited, "rejected": rejected,
        "acceptance_rate": round(accepted / reviewed, 6) if reviewed else None,
        "acceptance_wilson95": wilson_interval(accepted, reviewed),
        "mean_caption_edit_distance": (round(sum(distances) / len(distances), 4)
                                       if distances else None),
    }


def review_stats(project: str, outcomes: list[tuple[str, str, str, int | None]]) -> dict:
    """stats.json's "review" block: the summary overall, by recipe and by generator."""
    block = {"project": project, **summarise(outcomes),
             "acceptance_rate_definition": "accepted as generated / reviewed "
                                           "(reviewed = accepted + edited + rejected)"}
    for name, index in (("by_recipe", 1), ("by_generator", 2)):
        groups: dict[str, list] = {}
        for outcome in outcomes:
            groups.setdefault(outcome[index], []).append(outcome)
        block[name] = {value: summarise(group) for value, group in sorted(groups.items())}
    return block
