"""Counting QA from mask objects: how many, is there any (balanced), more than, total.

Balancing rule for presence questions (documented in the README): when a chip has both a
present and an absent class, it gets one "yes" and one "no" question; a chip with only one
possible answer gets its question only if that answer is not ahead of the other in the
running tally of the unit, so every unit is balanced to within one question (RSVLM-QA only
ever asked questions whose answer was "yes").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from geoscribe.qa.answers import count_answer, yes_no
from geoscribe.text.templates import count_phrase, load_wording, plural, singular

TEMPLATE_FILE = ("prompts", "qa", "counting_v1.yaml")


def counting_templates() -> tuple[str, str, dict[str, str]]:
    """(template_id, sha256, wording) of the packaged counting QA templates."""
    return load_wording(*TEMPLATE_FILE)


@dataclass
class PresenceBalancer:
    """Running yes/no tally of presence questions within a unit."""

    tally: dict[str, int] = field(default_factory=lambda: {"yes": 0, "no": 0})

    def allow(self, answer: str) -> bool:
        other = "no" if answer == "yes" else "yes"
        return self.tally[answer] <= self.tally[other]

    def record(self, answer: str) -> None:
        self.tally[answer] += 1


def _pick(options: list[str], seed: str) -> str:
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16)
    return options[digest % len(options)]


def counting_questions(
    counts: dict[str, int], cut: dict[str, int], seed: str, balancer: PresenceBalancer,
    max_comparisons: int = 2,
) -> list[dict]:
    """QA items for one chip; every answer comes from `counts` (objects per class)."""
    words = counting_templates()[2]
    classes = list(counts)
    present = [c for c in classes if counts[c] > 0]
    absent = [c for c in classes if counts[c] == 0]
    qa: list[dict] = []
    for name in present or classes[:1]:
        qa.append({"question": words["count"].format(plural=plural(name)),
                   **count_answer(counts[name]), "type": "count", "classes": [name],
                   "cut_by_edge": cut.get(name, 0)})
    presence = []
    if present and absent:
        presence = [(_pick(present, seed + ":yes"), "yes"), (_pick(absent, seed + ":no"), "no")]
    elif present and balancer.allow("yes"):
        presence = [(_pick(present, seed + ":yes"), "yes")]
    elif absent and balancer.allow("no"):
        presence = [(_pick(absent, seed + ":no"), "no")]
    for name, answer in presence:
        balancer.record(answer)
        qa.append({"question": words["presence"].format(name=singular(name)),
                   **yes_no(answer == "yes"), "type": "presence", "classes": [name]})
    pairs = [(a, b) for i, a in enumerate(classes) for b in classes[i + 1:]
             if counts[a] or counts[b]]
    for a, b in pairs[:max_comparisons]:
        qa.append({"question": words["comparison"].format(plural_a=plural(a), plural_b=plural(b)),
                   **yes_no(counts[a] > counts[b]),
                   "type": "comparison", "classes": [a, b],
                   "counts": [counts[a], counts[b]]})
    qa.append({"question": words["total"],
               **count_answer(sum(counts.values())), "type": "total", "classes": classes})
    return qa


def counting_caption(counts: dict[str, int]) -> str:
    """A caption stating only the counts: 'A satellite image with 3 buildings and 1 road.'"""
    words = counting_templates()[2]
    parts = []
    for name, n in counts.items():
        if n:
            parts.append(count_phrase(n, name))
    if not parts:
        names = [plural(n) for n in counts]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return words["caption_none"].format(listed=listed)
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return words["caption_some"].format(listed=listed)
