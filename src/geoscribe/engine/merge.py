"""Merge finished units into shards, per-shard stats, rejected.jsonl and the run stats."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

from geoscribe.engine.units import Unit, unit_dir
from geoscribe.files import atomic_write_text
from geoscribe.region import SPLITS
from geoscribe.shard_meta import write_sizes
from geoscribe.shards import ShardSink, copy_ranges, iter_samples, shard_stats_path


def part_path(work_dir: Path, unit: Unit, split: str, stats: dict) -> Path:
    """A unit's part tar of a split: the builder's, or the LLM stage's when it ran."""
    return unit_dir(work_dir, unit) / f"{stats.get('part_prefix', '')}{split}.tar"


class ShardMerger:
    """Copies finished units into data/{split}-NNNNNN.tar, in unit order, as they complete.

    Units may finish in any order; a unit is merged once every unit before it (in grid order)
    is merged, so the shards are the same bytes whatever the scheduling. Each split has its
    own sink; a shard's parquet and stats json are written after its tar is complete, and
    data/sizes.json once every shard is.
    """

    def __init__(self, out: Path, work_dir: Path, units: list[Unit], max_samples: int,
                 max_bytes: int, rewrite=None) -> None:
        self.data_dir = out / "data"
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # an interrupted earlier merge; rebuilt from parts
        self.data_dir.mkdir(parents=True)
        self.work_dir = work_dir
        self.units = units
        self.unit_stats: dict[str, dict] = {}
        self.sinks = {split: ShardSink(self.data_dir, split, max_samples, max_bytes)
                      for split in SPLITS}
        self._next = 0
        self.rewrite = rewrite  # sample dict -> sample dict or None (dropped); None: copy bytes

    def unit_done(self, stats: dict) -> None:
        """Record a finished unit and merge every unit now ready, in order."""
        self.unit_stats[stats["unit"]] = stats
        while self._next < len(self.units) and self.units[self._next].name in self.unit_stats:
            unit = self.units[self._next]
            for split, ranges in self.unit_stats[unit.name].get("ranges", {}).items():
                part = part_path(self.work_dir, unit, split, self.unit_stats[unit.name])
                if self.rewrite is None:
                    copy_ranges(part, ranges, self.sinks[split], unit.name)
                    continue
                for sample in iter_samples(part):
                    kept = self.rewrite(sample)
                    if kept is not None:
                        self.sinks[split].write(kept, unit.name)
            self._next += 1

    def has(self, unit: Unit) -> bool:
        """Whether `unit` was handed to the merger."""
        return unit.name in self.unit_stats

    def abort(self) -> None:
        """Remove the shards begun and not finished (a failed or interrupted build): no
        half-written shard stays; finished shards stay until the next run rebuilds data/."""
        for sink in self.sinks.values():
            sink.abort()

    def close(self) -> list[dict]:
        """Close the last shards, write every shard's stats json; return the shard records."""
        if self._next != len(self.units):
            raise RuntimeError("ShardMerger closed before every unit was merged")
        shards: list[dict] = []
        for split in SPLITS:
            for shard in self.sinks[split].close():
                contributing = [self.unit_stats[name] for name in shard["units"]]
                skipped: Counter[str] = Counter()
                for stats in contributing:
                    skipped.update(stats["skipped"])
                shard["unit_skipped"] = dict(sorted(skipped.items()))
                shard["unit_build_seconds"] = round(sum(s["seconds"] for s in contributing), 4)
                shard["written_at_unix"] = round(time.time(), 3)
                atomic_write_text(shard_stats_path(self.data_dir / shard["shard"]),
                                  json.dumps(shard, indent=2, sort_keys=True))
                shards.append(shard)
        write_sizes(self.data_dir, shards)
        return shards


def merge_rejected(out: Path, work_dir: Path, units: list[Unit]) -> int:
    """Concatenate the units' rejected records into OUT/rejected.jsonl; return the count."""
    lines = []
    for unit in units:
        for name in ("rejected.jsonl", "llm_rejected.jsonl"):
            path = unit_dir(work_dir, unit) / name
            if path.exists():
                lines.extend(line for line in path.read_text(encoding="utf-8").splitlines()
                             if line)
    atomic_write_text(out / "rejected.jsonl", "".join(line + "\n" for line in lines))
    return len(lines)


def remove_parts(work_dir: Path, units: list[Unit]) -> None:
    """Drop part tars once the shards and stats are final (markers stay, for the record)."""
    for unit in units:
        for split in SPLITS:
            for prefix in ("", "llm-"):
                (unit_dir(work_dir, unit) / f"{prefix}{split}.tar").unlink(missing_ok=True)
