"""Merge finished units into shards, per-shard stats, rejected.jsonl and the run stats."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from pathlib import Path

from geoscribe.engine.units import Unit, unit_dir
from geoscribe.region import SPLITS
from geoscribe.shards import ShardSink, atomic_write_text, copy_ranges


def merge_units(
    out: Path, work_dir: Path, units: list[Unit], unit_stats: dict[str, dict],
    max_samples: int, max_bytes: int,
) -> list[dict]:
    """Write data/{split}-NNNNNN.tar and their _stats.json from the units' part tars."""
    data_dir = out / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)  # an interrupted earlier merge; rebuilt from parts
    data_dir.mkdir(parents=True)
    shards: list[dict] = []
    for split in SPLITS:
        sink = ShardSink(data_dir, split, max_samples, max_bytes)
        for unit in units:
            ranges = unit_stats[unit.name].get("ranges", {}).get(split)
            if ranges:
                copy_ranges(unit_dir(work_dir, unit) / f"{split}.tar", ranges, sink, unit.name)
        for shard in sink.close():
            contributing = [unit_stats[name] for name in shard["units"]]
            skipped: Counter[str] = Counter()
            for stats in contributing:
                skipped.update(stats["skipped"])
            shard["unit_skipped"] = dict(sorted(skipped.items()))
            shard["unit_build_seconds"] = round(sum(s["seconds"] for s in contributing), 4)
            shard["written_at_unix"] = round(time.time(), 3)
            stats_path = data_dir / f"{shard['shard'].removesuffix('.tar')}_stats.json"
            atomic_write_text(stats_path, json.dumps(shard, indent=2, sort_keys=True))
            shards.append(shard)
    return shards


def merge_rejected(out: Path, work_dir: Path, units: list[Unit]) -> int:
    """Concatenate the units' rejected records into OUT/rejected.jsonl; return the count."""
    lines = []
    for unit in units:
        path = unit_dir(work_dir, unit) / "rejected.jsonl"
        if path.exists():
            lines.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line)
    atomic_write_text(out / "rejected.jsonl", "".join(line + "\n" for line in lines))
    return len(lines)


def remove_parts(work_dir: Path, units: list[Unit]) -> None:
    """Drop part tars once the shards and stats are final (markers stay, for the record)."""
    for unit in units:
        for split in SPLITS:
            (unit_dir(work_dir, unit) / f"{split}.tar").unlink(missing_ok=True)
