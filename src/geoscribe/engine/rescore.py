"""`geoscribe score DIR`: (re)score a finished dataset in place — new shards, same keys."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from geoscribe.engine.filtering import FilterOptions, rewriter, run_filters, write_dropped
from geoscribe.engine.outdir import run_file
from geoscribe.errors import InputError
from geoscribe.files import atomic_write_text
from geoscribe.region import SPLITS
from geoscribe.report import add_qa_mix
from geoscribe.shards import ShardSink, iter_samples, shard_stats_path


def rescore(out: Path, options: FilterOptions, progress: bool = True) -> dict:
    """Score every sample of OUT's shards, apply selection/dedup, rewrite the shards."""
    stats_path = out / "stats.json"
    if not stats_path.exists():
        raise InputError(str(out), "no stats.json (not a finished geoscribe output)")
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    run = run_file(out)
    config = json.loads(run.read_text(encoding="utf-8"))["config"] if run.exists() else {}
    tars = [p for split in SPLITS for p in sorted((out / "data").glob(f"{split}-*.tar"))]
    if not tars:
        raise InputError(str(out), "no shards under data/")
    result = run_filters(options, tars, stats.get("samples"), progress)
    new_dir = out / "data.new"
    if new_dir.exists():
        shutil.rmtree(new_dir)
    new_dir.mkdir()
    rewrite = rewriter(result)
    shards = []
    for split in SPLITS:
        sink = ShardSink(new_dir, split, config.get("shard_max_samples", 1000),
                         config.get("shard_max_bytes", 512 * 1024 * 1024))
        for tar in (t for t in tars if t.name.startswith(f"{split}-")):
            for sample in iter_samples(tar):
                kept = rewrite(sample)
                if kept is not None:
                    sink.write(kept, tar.stem)
        for shard in sink.close():
            shard["rescored_from"] = shard.pop("units")
            atomic_write_text(shard_stats_path(new_dir / shard["shard"]),
                              json.dumps(shard, indent=2))
            shards.append(shard)
    old_dir = out / "data.old"
    if old_dir.exists():
        shutil.rmtree(old_dir)
    (out / "data").rename(old_dir)
    new_dir.rename(out / "data")
    shutil.rmtree(old_dir)
    write_dropped(out, result)
    from geoscribe.engine.build import add_filter_stats

    stats["shards"] = [s["shard"] for s in shards]
    stats["samples_by_split"] = {split: sum(s["samples"] for s in shards if s["split"] == split)
                                 for split in SPLITS}
    stats["samples"] = sum(stats["samples_by_split"].values())
    stats["skipped"] = {k: v for k, v in stats.get("skipped", {}).items()
                        if not k.startswith(("clip_", "duplicate_"))}
    add_filter_stats(stats, result)
    add_qa_mix(stats, out)
    atomic_write_text(stats_path, json.dumps(stats, indent=2, sort_keys=True))
    return stats
