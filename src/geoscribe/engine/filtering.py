"""Run-wide filters between building and sharding: CLIP scores, selection, deduplication.

Order: every sample of the run is scored (and hashed, for dedup) from the chips already
written — imagery is not re-read and text is not re-generated — then duplicates are dropped
(keeping the best-scored of each group), then the CLIP selection (threshold and/or top
fraction, over the deduplicated pool). Dropped samples are listed in OUT/dropped.jsonl.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from geoscribe.files import atomic_write_text
from geoscribe.shards import iter_samples, record_json


@dataclass
class FilterOptions:
    clip: str | None = None
    clip_min_score: float | None = None
    clip_keep_fraction: float | None = None
    clip_device: str = "auto"
    clip_batch_size: int = 64
    clip_workers: int = 2
    dedup: bool = False

    @property
    def active(self) -> bool:
        return bool(self.clip or self.dedup)


@dataclass
class FilterResult:
    scores: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    model_id: str | None = None

    def reasons(self) -> dict[str, int]:
        counts = Counter(reason.split(":", 1)[0] for reason in self.dropped.values())
        return dict(sorted(counts.items()))


def _hash_only(tars: Iterable[Path]):
    from PIL import Image

    from geoscribe.filters.dedup import perceptual_hash, pixel_hash

    for tar in tars:
        for sample in iter_samples(tar):
            image = Image.open(io.BytesIO(sample.get("jpg") or sample.get("png"))).convert("RGB")
            yield sample["__key__"], None, pixel_hash(image), f"{perceptual_hash(image):016x}"


def run_filters(options: FilterOptions, tars: list[Path], total: int | None,
                progress: bool = True) -> FilterResult:
    """Score/hash every sample of `tars`, then deduplicate and select."""
    from geoscribe.filters.dedup import deduplicate
    from geoscribe.filters.selection import select_by_score

    result = FilterResult()
    if options.clip:
        from geoscribe.filters.clip import ClipScorer, parse_clip_spec

        spec = parse_clip_spec(options.clip)
        scorer = ClipScorer(spec, options.clip_device, options.clip_batch_size,
                            options.clip_workers)
        result.model_id = spec.model_id
        stream = scorer.score_tars(tars, hashes=options.dedup)
    else:
        stream = _hash_only(tars)
    hashed = []
    for key, score, pixel, phash in tqdm(stream, total=total, unit=" sample",
                                         desc="scoring" if options.clip else "hashing",
                                         disable=not progress):
        if score is not None:
            result.scores[key] = float(score)
        if options.dedup:
            hashed.append((key, pixel, int(phash, 16), result.scores.get(key)))
    if options.dedup:
        result.dropped.update(deduplicate(hashed))
    if options.clip and (options.clip_min_score is not None
                         or options.clip_keep_fraction is not None):
        pool = {k: v for k, v in result.scores.items() if k not in result.dropped}
        selection = select_by_score(pool, options.clip_min_score, options.clip_keep_fraction)
        result.dropped.update(selection.dropped)
    return result


def write_dropped(out: Path, result: FilterResult) -> None:
    """OUT/dropped.jsonl: every dropped sample with its reason and score (for auditing)."""
    lines = [json.dumps({"id": key, "reason": reason, "clip": result.scores.get(key)})
             for key, reason in sorted(result.dropped.items())]
    atomic_write_text(out / "dropped.jsonl", "".join(line + "\n" for line in lines))


def rewriter(result: FilterResult):
    """A ShardMerger rewrite: drop filtered samples, write scores into the kept records."""
    def rewrite(sample: dict) -> dict | None:
        key = sample["__key__"]
        if key in result.dropped:
            return None
        if result.model_id is None:
            return sample
        record = json.loads(sample["json"])
        record["scores"]["clip"] = round(result.scores[key], 6)
        record["scores"]["clip_model"] = result.model_id
        return {**sample, "json": record_json(record)}

    return rewrite
