"""`geoscribe score DIR`: (re)score a finished dataset in place — new shards, same keys."""

from __future__ import annotations

import json
from pathlib import Path

from geoscribe.engine.filtering import FilterOptions, rewriter, run_filters, write_dropped
from geoscribe.engine.outdir import run_file
from geoscribe.engine.run_stats import add_filter_stats
from geoscribe.errors import InputError
from geoscribe.files import atomic_write_text
from geoscribe.region import SPLITS
from geoscribe.report import add_qa_mix, read_stats
from geoscribe.shards import replace_data_dir, write_shards


def rescore(out: Path, options: FilterOptions, progress: bool = True) -> dict:
    """Score every sample of OUT's shards, apply selection/dedup, rewrite the shards."""
    stats = read_stats(out)
    run = run_file(out)
    config = json.loads(run.read_text(encoding="utf-8"))["config"] if run.exists() else {}
    tars = [p for split in SPLITS for p in sorted((out / "data").glob(f"{split}-*.tar"))]
    if not tars:
        raise InputError(str(out), "no shards under data/")
    result = run_filters(options, tars, stats.get("samples"), progress)
    new_dir = out / "data.new"
    shards = write_shards(new_dir, tars, rewriter(result),
                          config.get("shard_max_samples", 1000),
                          config.get("shard_max_bytes", 512 * 1024 * 1024))
    replace_data_dir(out, new_dir)
    write_dropped(out, result)
    stats["shards"] = [s["shard"] for s in shards]
    stats["samples_by_split"] = {split: sum(s["samples"] for s in shards if s["split"] == split)
                                 for split in SPLITS}
    stats["samples"] = sum(stats["samples_by_split"].values())
    stats["skipped"] = {k: v for k, v in stats.get("skipped", {}).items()
                        if not k.startswith(("clip_", "duplicate_"))}
    add_filter_stats(stats, result)
    add_qa_mix(stats, out)
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2, sort_keys=True))
    return stats
