"""Orchestrate a build, step by step: read inputs -> (lock OUT) -> ingest -> plan units -> run
units -> LLM stage -> filters -> merge -> stats -> finish (preview, card, summary).

Each step is one call to a named function; the steps' own modules do the work: `inputs`
(read and check the inputs), `ingest` (the feature store), `units`/`tiles` (planning),
`context` (what every unit needs), `worker` on an `executors` pool (the units), `llm_stage`,
`filtering`, `merge` (shards, rejected.jsonl), `run_stats` (stats.json).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from geoscribe.builders.context import BuildContext, PackedContext, SourceLicense
from geoscribe.config import BuildConfig
from geoscribe.engine.context import build_context
from geoscribe.engine.executors import make_executor
from geoscribe.engine.filtering import (
    FilterOptions,
    FilterResult,
    rewriter,
    run_filters,
    write_dropped,
)
from geoscribe.engine.fingerprint import check_run_file, region_digest, source_digests
from geoscribe.engine.ingest import ingest_vectors
from geoscribe.engine.inputs import (
    Inputs,
    input_files,
    input_names,
    read_inputs,
    resolve_demo,
)
from geoscribe.engine.merge import ShardMerger, merge_rejected, part_path, remove_parts
from geoscribe.engine.outdir import NO_SPACE, WORK, OutLock, check_out, empty_out, run_file
from geoscribe.engine.ray_executor import MAX_ATTEMPTS
from geoscribe.engine.run_stats import (
    BuiltUnits,
    add_filter_stats,
    no_samples_reason,
    public_names,
    run_stats,
    unit_skips,
)
from geoscribe.engine.tiles import plan_tile_units
from geoscribe.engine.units import (
    Unit,
    build_order,
    largest_first,
    load_done,
    plan_units,
    split_lanes,
)
from geoscribe.engine.worker import close_worker, run_unit, warm_up
from geoscribe.errors import GeoscribeError, InputError
from geoscribe.files import atomic_write_text
from geoscribe.recipes import RECIPES
from geoscribe.region import SPLITS
from geoscribe.report import add_qa_mix, read_stats
from geoscribe.sources.feature_store import FeatureStore

__all__ = ["build", "filter_options", "read_inputs", "resolve_demo", "write_run_file"]


def build(config: BuildConfig, finish: Callable[[dict], None] | None = None) -> dict:
    """Run a whole build (resuming completed units) and return the run stats.

    OUT is locked for the whole build: a second build into it fails at once. `finish(stats)`
    (e.g. writing the preview and the dataset card) runs once, while the lock is still held.
    """
    started = time.perf_counter()
    inputs = read_inputs(config)
    check_out(config.out)
    with OutLock(config.out):
        stats = _locked_build(config, inputs, started)
        if finish is not None:
            finish(stats)
        return stats


def _locked_build(config: BuildConfig, inputs: Inputs, started: float) -> dict:
    """Resume OUT (or return a complete one's stats), then the steps that need the workers
    (and the LLM); a full disk is one line."""
    run = resume_out(config, inputs)
    if run is None:
        return {**read_stats(config.out), "resumed": "already complete"}
    llm = _open_llm(config)
    # start (and warm up) the worker pool now: it imports while the vector inputs are ingested
    executor = open_executor(config)
    try:
        return _build_steps(config, inputs, run, executor, llm, started)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        raise InputError(f"--out {config.out}", f"disk full ({exc.strerror}); free some space "
                         "and re-run the same command to resume") from None
    finally:
        executor.close()
        if llm is not None:
            llm.close()


def open_executor(config: BuildConfig):
    """The run's executor: the local pool (or in-process for one worker), or Ray."""
    if config.executor == "ray":
        from geoscribe.engine.ray_executor import RayExecutor, RayOptions

        return RayExecutor(RayOptions(config.workers, config.ray_address,
                                      quiet=not config.progress, warmup=warm_up))
    return make_executor(config.workers, warm_up, close_worker)


def _build_steps(config: BuildConfig, inputs: Inputs, run: dict, executor, llm,
                 started: float) -> dict:
    """ingest -> plan units -> run units -> LLM stage -> filters -> merge -> stats."""
    work = config.out / WORK
    ingest = ingest_vectors(config, inputs, work)
    write_run_file(config, run)
    units = plan(config, inputs, work)
    ctx = build_context(config, inputs, work)
    filters = filter_options(config)
    # without the LLM or run-wide filters, shards are written while the units run
    merger = open_merger(config, units) if not filters.active and llm is None else None
    try:
        built = run_units(config, ctx, units, executor, merger)
        if llm is not None:
            built.unit_stats, built.llm = _llm_stage(config, llm, units, built.unit_stats, ctx)
        if filters.active:
            built.filtered = filter_units(config, filters, units, built.unit_stats)
        built.merge_started = time.perf_counter()
        merger = merger or open_merger(config, units, built.filtered)
        built.shards, built.rejected = merge(config, merger, units, built.unit_stats)
    except BaseException:
        if merger is not None:
            merger.abort()  # no half-written shard stays
        raise
    stats = final_stats(config, inputs, ingest, ctx.licenses, built, started)
    write_stats(config.out, units, stats)
    return stats


def final_stats(config: BuildConfig, inputs: Inputs, ingest: dict,
                licenses: dict[str, SourceLicense], built: BuiltUnits, started: float) -> dict:
    """The run's stats; a build without a sample is an error saying why (OUT emptied)."""
    skipped = unit_skips(built.unit_stats)
    if not any(shard["samples"] for shard in built.shards):
        reason = no_samples_reason(built.units, skipped, ingest, built.rejected)
        reason = public_names(inputs, ingest, licenses).text(reason)  # no cache path shown
        empty_out(config.out)  # nothing worth keeping; a fixed input then builds into the same OUT
        raise GeoscribeError(f"no samples: {reason}")
    stats = run_stats(config.recipe, inputs, ingest, licenses, built, skipped)
    stats["options"] = config.card_options()
    if built.filtered is not None:
        add_filter_stats(stats, built.filtered)
    if built.llm is not None:
        stats["llm"] = built.llm
    add_qa_mix(stats, config.out)
    now = time.perf_counter()
    stats["seconds"] = {"total": round(now - started, 3),
                        "merge": round(now - built.merge_started, 3),
                        "units": round(sum(s["seconds"] for s in built.unit_stats.values()), 3)}
    return stats


def resume_out(config: BuildConfig, inputs: Inputs) -> dict | None:
    """Check OUT's run file against this run's fingerprint (emptying OUT for --overwrite or a
    run that never wrote one); the run record to write, or None when OUT is complete."""
    sources = {**source_digests(input_files(config, inputs), input_names(inputs)),
               **inputs.live.digests,
               f"--region {config.region.strip()}": region_digest(inputs.region.geometry)}
    fingerprint = config.output_fingerprint(sources)
    if config.overwrite or not check_run_file(config.out, fingerprint, sources):
        empty_out(config.out)  # --overwrite, or what a run that never got to its run file left
    if (config.out / "stats.json").exists():
        return None
    return {"fingerprint": fingerprint, "sources": sources}


def write_run_file(config: BuildConfig, run: dict) -> None:
    """OUT/.geoscribe/run.json: written once the inputs are read and the LLM answered, so a
    run that failed before cannot block its own OUT."""
    atomic_write_text(run_file(config.out), json.dumps(
        {**run, "config": config.public_dump()},
        indent=2, sort_keys=True))


def _open_llm(config: BuildConfig):
    """The run's LLM client (None without --llm); imported only when used."""
    if not config.llm:
        return None
    from geoscribe.engine.llm_stage import open_llm

    return open_llm(config)


def plan(config: BuildConfig, inputs: Inputs, work: Path) -> list[Unit]:
    """The units of the build, in grid order."""
    if RECIPES[config.recipe].chips == "features":
        store = FeatureStore(work / "features.sqlite", readonly=True)
        try:
            return plan_units(store, inputs.region.geometry, config.unit_deg, config.limit,
                              config.max_unit_chips)
        finally:
            store.close()
    return plan_tile_units(inputs.rasters, inputs.region.geometry, config.unit_deg,
                           config.tile_px or config.chip_size, config.limit)


def open_merger(config: BuildConfig, units: list[Unit],
                filtered: FilterResult | None = None) -> ShardMerger:
    """The shard merger of a build (rewriting the samples through the filters' verdicts)."""
    return ShardMerger(config.out, config.out / WORK, units, config.shard_max_samples,
                       config.shard_max_bytes,
                       rewrite=rewriter(filtered) if filtered is not None else None)


def run_units(config: BuildConfig, ctx: BuildContext, units: list[Unit], executor,
              merger: ShardMerger | None) -> BuiltUnits:
    """Build every unit not done yet (merging them as they finish when `merger` is given);
    return every unit's stats and how many were done before."""
    built = BuiltUnits(units)
    pending = []
    for unit in units:
        done = load_done(config.out / WORK, unit)
        if done is None:
            pending.append(unit)
            continue
        built.unit_stats[unit.name] = done
        if merger is not None:
            merger.unit_done(done)
    built.resumed = len(built.unit_stats)
    bar = tqdm(total=len(units), initial=built.resumed, unit=" unit",
               desc=f"building {config.recipe}", disable=not config.progress)
    samples = sum(s["samples"] for s in built.unit_stats.values())
    # units run in build_order (each next to the one before), cut into one lane per worker:
    # a worker walks its own compact area, so the raster tiles neighbouring units share stay
    # in its GDAL block cache; finished units are merged (in grid order) while others run
    packed = PackedContext.pack(ctx)  # pickled once, not once per unit
    order = build_order(pending)
    runs = ([largest_first(order)] if getattr(executor, "largest_first", False)
            else split_lanes(order, config.workers))
    lanes = [[(packed, unit) for unit in lane] for lane in runs]
    begun, samples_before = time.perf_counter(), samples
    try:
        for stats in executor.map_lanes(run_unit, lanes):
            built.unit_stats[stats["unit"]] = stats
            if merger is not None:
                merger.unit_done(stats)
            samples += stats["samples"]
            bar.update(1)
            rate = (samples - samples_before) / max(time.perf_counter() - begun, 1e-9)
            bar.set_postfix_str(f"samples={samples}, {rate:.1f} samples/s")
    except RuntimeError as exc:
        raise GeoscribeError(str(exc).splitlines()[0] + " (completed units are kept; "
                             "re-run the same command to resume)") from None
    finally:
        bar.close()
    report_failures(getattr(executor, "failures", []))
    return built


def report_failures(failures: list) -> None:
    """One line naming the units that failed every attempt (the others are built and kept)."""
    if not failures:
        return
    names = ", ".join(f.name for f in failures)
    raise GeoscribeError(f"{len(failures)} unit(s) failed {MAX_ATTEMPTS} times: {names} "
                         f"(first error: {failures[0].error}); the other units are built and "
                         "kept; re-run the same command to resume")


def _llm_stage(config: BuildConfig, llm, units: list[Unit], unit_stats: dict[str, dict],
               ctx: BuildContext) -> tuple[dict[str, dict], dict]:
    """The LLM stage over the built units (imported only when used)."""
    from geoscribe.engine.llm_stage import run_llm_stage

    return run_llm_stage(llm, config.out / WORK, units, unit_stats, ctx.masks, config.progress)


def filter_options(config: BuildConfig) -> FilterOptions:
    """The run-wide filter settings of a config."""
    return FilterOptions(config.clip, config.clip_min_score, config.clip_keep_fraction,
                         config.clip_device, config.clip_batch_size, config.clip_workers,
                         config.dedup)


def filter_units(config: BuildConfig, filters: FilterOptions, units: list[Unit],
                 unit_stats: dict[str, dict]) -> FilterResult:
    """Run the run-wide filters over every unit's part tars; list the drops in dropped.jsonl."""
    work = config.out / WORK
    tars = [part_path(work, unit, split, unit_stats[unit.name]) for unit in units
            for split in SPLITS if unit_stats[unit.name].get("ranges", {}).get(split)]
    samples = sum(unit_stats[unit.name]["samples"] for unit in units)
    filtered = run_filters(filters, tars, samples, config.progress)
    write_dropped(config.out, filtered)
    return filtered


def merge(config: BuildConfig, merger: ShardMerger, units: list[Unit],
          unit_stats: dict[str, dict]) -> tuple[list[dict], int]:
    """Merge the units the merger has not seen yet, close the shards, gather rejected.jsonl;
    return the shard records and the rejected count."""
    for unit in units:
        if not merger.has(unit):
            merger.unit_done(unit_stats[unit.name])
    shards = merger.close()
    return shards, merge_rejected(config.out, config.out / WORK, units)


def write_stats(out: Path, units: list[Unit], stats: dict) -> None:
    """OUT/stats.json (it marks OUT complete), then drop the units' part tars."""
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2, sort_keys=True))
    remove_parts(out / WORK, units)
