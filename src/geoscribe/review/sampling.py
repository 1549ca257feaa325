"""Which records go to review: all of them, or a stratified seeded sample."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.region import SPLITS
from geoscribe.shard_meta import metadata_row
from geoscribe.shards import iter_samples

STRATA = ("class", "split", "score", "generator")


@dataclass(frozen=True)
class Item:
    """One record of a dataset with the shard it lies in and its image member's name."""

    key: str
    shard: str
    record: dict
    image_ext: str


def shard_paths(out: Path) -> list[Path]:
    """OUT's shards in split order; an error when there are none."""
    tars = [p for split in SPLITS for p in sorted((out / "data").glob(f"{split}-*.tar"))]
    if not tars:
        raise InputError(str(out), "no shards under data/ (not a geoscribe output)")
    return tars


def iter_items(out: Path, with_images: bool = False) -> Iterator[tuple[Item, bytes | None]]:
    """Every record of OUT (and its image bytes when asked)."""
    for tar in shard_paths(out):
        for sample in iter_samples(tar):
            ext = next(k for k in sample if k not in ("__key__", "json", "txt"))
            item = Item(sample["__key__"], tar.name, json.loads(sample["json"]), ext)
            yield item, (sample[ext] if with_images else None)


def generator_id(record: dict) -> str:
    """The generator of a record's text: its template id, or its LLM model + prompt hash."""
    generator = record.get("generator") or {}
    if generator.get("kind") == "llm" or not generator.get("template_id"):
        sha = str(generator.get("prompt_sha256", ""))[:12]
        return f"{generator.get('model', '?')}+{sha}"
    return str(generator["template_id"])


def _score_bins(items: list[Item]) -> dict[str, str]:
    """Key -> its CLIP score's quartile ("q1".."q4"), or "unscored"."""
    scored = sorted((item.record.get("scores") or {}).get("clip") for item in items
                    if (item.record.get("scores") or {}).get("clip") is not None)
    bins = {}
    for item in items:
        score = (item.record.get("scores") or {}).get("clip")
        if score is None:
            bins[item.key] = "unscored"
        else:
            rank = sum(1 for s in scored if s < score)
            bins[item.key] = f"q{min(3, rank * 4 // len(scored)) + 1}"
    return bins


def stratum(items: list[Item], by: str) -> dict[str, str]:
    """Key -> the stratum value of each item under `by` (one of STRATA)."""
    if by == "score":
        return _score_bins(items)
    if by == "split":
        return {item.key: item.record.get("split", "?") for item in items}
    if by == "generator":
        return {item.key: generator_id(item.record) for item in items}
    if by == "class":
        return {item.key: str(metadata_row(item.record)["primary_class"]) for item in items}
    raise InputError("--stratify", f"expected one of {', '.join(STRATA)}, got {by!r}")


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split a sample of n over strata in proportion to their sizes (largest remainder;
    ties by stratum name), never more than a stratum holds."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    exact = {name: n * size / total for name, size in sizes.items()}
    counts = {name: int(value) for name, value in exact.items()}
    order = sorted(sizes, key=lambda name: (-(exact[name] - counts[name]), name))
    for name in order[:n - sum(counts.values())]:
        counts[name] += 1
    return counts


def sample_items(items: list[Item], n: int | None, by: str | None, seed: int) -> list[Item]:
    """All items (n None), or n of them drawn with `seed`, stratified by `by` when given; in
    the dataset's order."""
    if n is None or n >= len(items):
        return list(items)
    if n < 1:
        raise InputError("--sample", "must be at least 1")
    groups: dict[str, list[Item]] = {}
    values = stratum(items, by) if by else {item.key: "all" for item in items}
    for item in items:
        groups.setdefault(values[item.key], []).append(item)
    rng = random.Random(seed)
    chosen: set[str] = set()
    counts = allocate({name: len(group) for name, group in groups.items()}, n)
    for name in sorted(groups):
        chosen.update(item.key for item in rng.sample(groups[name], counts[name]))
    return [item for item in items if item.key in chosen]
