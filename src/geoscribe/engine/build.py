"""Orchestrate a build: inputs -> feature store -> units on an executor -> shards -> stats."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import rasterio
import shapely
from tqdm import tqdm

from geoscribe import __version__
from geoscribe.builders.context import BuildContext, PackedContext, SourceLicense
from geoscribe.config import BuildConfig
from geoscribe.engine.executors import make_executor
from geoscribe.engine.filtering import FilterOptions, rewriter, run_filters, write_dropped
from geoscribe.engine.fingerprint import check_run_file, source_digests
from geoscribe.engine.ingest import build_store
from geoscribe.engine.merge import ShardMerger, merge_rejected, part_path, remove_parts
from geoscribe.engine.outdir import (
    NO_SPACE,
    WORK,
    OutLock,
    check_out,
    empty_out,
    remove_partial_shards,
    run_file,
)
from geoscribe.engine.tiles import plan_tile_units
from geoscribe.engine.units import Unit, build_order, load_done, plan_units, split_lanes
from geoscribe.engine.worker import close_worker, run_unit, warm_up
from geoscribe.errors import GeoscribeError, InputError
from geoscribe.files import atomic_write_text
from geoscribe.recipes import RECIPES
from geoscribe.redact import PublicNames
from geoscribe.region import SPLITS, Region, ingest_area, parse_region
from geoscribe.sources.chip_qc import ChipQC
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.sources.imagery import expand_imagery, index_raster
from geoscribe.sources.registry_data import source_uri
from geoscribe.text.tag_policy import load_tag_policy
from geoscribe.types import ChipSettings, RasterInfo

OSM_LICENSE = ("ODbL-1.0", "© OpenStreetMap contributors")


def resolve_demo(values: dict) -> dict:
    """Fill the inputs and settings of `--region demo` (fetching the data once)."""
    if str(values.get("region", "")).strip().lower() != "demo":
        return values
    from geoscribe.sources import demo

    filled = dict(values)
    recipe = str(values.get("recipe", ""))
    spec = RECIPES.get(recipe)
    for key, value in demo.demo_inputs(recipe, spec.demo if spec else None).items():
        if key in ("imagery", "labels", "class_map", "mask_kind") and filled.get(key):
            raise InputError(f"--{key.replace('_', '-')}",
                             "--region demo brings its own inputs; drop this option")
        filled[key] = value
    options = demo.DEMO_OPTIONS if spec and spec.chips == "features" else demo.TILE_DEMO_OPTIONS
    for key, value in options.items():
        filled.setdefault(key, value)
    return filled


def _index_imagery(specs: list[str], gdal_cache_bytes: int) -> tuple[list[RasterInfo], dict]:
    if not specs:
        raise InputError("--imagery", "no imagery given (a GeoTIFF/COG file, directory or glob)")
    paths = expand_imagery(specs)
    rasters, failed = [], {}
    bar = tqdm(paths, desc="indexing imagery", unit=" file", disable=len(paths) < 5)
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes):
        for path in bar:
            try:
                rasters.append(index_raster(path))
            except InputError as exc:
                failed[str(path)] = str(exc)
    if not rasters:
        raise InputError(f"--imagery {specs[0]}", next(iter(failed.values())).split(": ", 1)[-1])
    return rasters, failed


def _region(config: BuildConfig, rasters: list[RasterInfo]) -> Region:
    if config.region.strip().lower() == "demo":
        from geoscribe.sources import demo

        return Region(demo.demo_region([r.bounds_wgs84 for r in rasters]), "demo")
    return parse_region(config.region)


def _licenses(config: BuildConfig, rasters, osm_paths, label_paths) -> dict[str, SourceLicense]:
    """Every input by its real path, with the uri outputs name it by and its license."""
    licenses = {}
    for raster in rasters:
        licenses[raster.path] = SourceLicense("imagery", raster.uri, config.imagery_license,
                                              config.imagery_attribution,
                                              Path(raster.path).name)
    for path in osm_paths:
        licenses[str(path)] = SourceLicense("osm", source_uri(path), *OSM_LICENSE)
    for path in label_paths:
        licenses[str(path)] = SourceLicense("labels", source_uri(path), config.labels_license,
                                            config.labels_attribution)
    return licenses


@dataclass
class Inputs:
    """The inputs of a build, read and checked before OUT is touched."""

    rasters: list[RasterInfo]
    failed_rasters: dict
    osm_paths: list[Path]
    label_paths: list[Path]
    masks: list
    region: Region
    gdal_cache: int


def read_inputs(config: BuildConfig) -> Inputs:
    """Index the imagery (and masks), check the vector files exist and the region overlaps."""
    if config.recipe not in RECIPES:
        raise InputError(f"recipe {config.recipe!r}", f"unknown; choose from {sorted(RECIPES)}")
    gdal_cache = config.gdal_cache_mb * 1024 * 1024
    rasters, failed_rasters = _index_imagery(config.imagery, gdal_cache)
    osm_paths = [Path(p) for p in config.osm]
    label_paths = [Path(p) for p in config.labels]
    spec = RECIPES[config.recipe]
    masks = _index_masks(config, label_paths) if spec.needs_masks else []
    if spec.needs_masks:
        osm_paths, label_paths = [], []
    elif not osm_paths and not label_paths:
        raise InputError("--osm/--labels", "give at least one OSM file or vector label file")
    for path in osm_paths + label_paths:
        if not path.exists():
            raise InputError(f"--{'osm' if path in osm_paths else 'labels'} {path}",
                             "file not found")
    region = _region(config, rasters)
    footprint = shapely.union_all([shapely.box(*r.bounds_wgs84) for r in rasters])
    if not region.geometry.intersects(footprint):
        fb = ", ".join(f"{v:.5f}" for v in footprint.bounds)
        raise InputError(f"--region {config.region}",
                         f"outside the imagery (imagery covers lon/lat {fb})")
    return Inputs(rasters, failed_rasters, osm_paths, label_paths, masks, region, gdal_cache)


def input_files(config: BuildConfig, inputs: Inputs) -> dict[str, list[str]]:
    """Every file the output depends on, by the option that named it."""
    files = {
        "--imagery": [r.path for r in inputs.rasters] + list(inputs.failed_rasters),
        "--osm": [str(p) for p in inputs.osm_paths],
        "--labels": [str(p) for p in inputs.label_paths] + [m.path for m in inputs.masks],
        "--class-map": [str(p) for p in config.class_map],
        "--tag-policy": [str(config.tag_policy)] if config.tag_policy else [],
    }
    return {option: sorted(set(paths)) for option, paths in files.items() if paths}


def build(config: BuildConfig, finish: Callable[[dict], None] | None = None) -> dict:
    """Run a whole build (resuming completed units) and return the run stats.

    OUT is locked for the whole build: a second build into it fails at once. `finish(stats)`
    (e.g. writing the preview and the dataset card) runs while the lock is still held.
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
    out = config.out
    sources = source_digests(input_files(config, inputs))
    fingerprint = config.output_fingerprint(sources)
    if config.overwrite or not check_run_file(out, fingerprint, sources):
        empty_out(out)  # --overwrite, or what a run that never got to its run file left
    if (out / "stats.json").exists():
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        stats["resumed"] = "already complete"
        return stats
    run = {"fingerprint": fingerprint, "sources": sources}
    llm = open_llm(config) if config.llm else None
    # start (and warm up) the worker pool now: it imports while the vector inputs are ingested
    executor = make_executor(config.workers, warm_up, close_worker)
    try:
        return _build_units(config, inputs, run, executor, started, llm)
    except OSError as exc:
        if exc.errno not in NO_SPACE:
            raise
        remove_partial_shards(out)
        raise InputError(f"--out {out}", f"disk full ({exc.strerror}); free some space and "
                         "re-run the same command to resume") from None
    finally:
        executor.close()
        if llm is not None:
            llm.close()


def write_run_file(config: BuildConfig, run: dict) -> None:
    """OUT/.geoscribe/run.json: written once the inputs are read and the LLM answered, so a
    run that failed before cannot block its own OUT."""
    atomic_write_text(run_file(config.out), json.dumps(
        {**run, "config": config.public_dump()},
        indent=2, sort_keys=True))


def llm_settings(config: BuildConfig):
    """The LLM settings of a config (the API key stays in the environment)."""
    from geoscribe.sources.registry_data import cache_dir
    from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec

    cache = config.llm_cache or cache_dir() / "llm" / "responses.sqlite"
    return LLMSettings(
        spec=parse_llm_spec(config.llm), temperature=config.llm_temperature,
        top_p=config.llm_top_p, max_tokens=config.llm_max_tokens, seed=config.seed,
        rewrites=config.llm_rewrites, max_words=config.llm_max_words,
        json_mode=config.llm_json_mode, repairs=config.llm_repairs,
        concurrency=config.llm_concurrency, rpm=config.llm_rpm, tpm=config.llm_tpm,
        max_retries=config.llm_max_retries, timeout_s=config.llm_timeout,
        price_in_per_m=config.llm_price_in, price_out_per_m=config.llm_price_out,
        cache_path=str(cache))


def open_llm(config: BuildConfig):
    """The LLM client of a run; fails fast (one line) when the endpoint cannot be reached."""
    from geoscribe.text.llm_client import LLMClient, probe_endpoint

    settings = llm_settings(config)
    client = LLMClient(settings, Path(settings.cache_path))
    try:
        probe_endpoint(client)
    except BaseException:
        client.close()
        raise
    return client


def _index_masks(config: BuildConfig, label_paths: list[Path]):
    """Masks of tile recipes: --labels rasters with their --class-map and --mask-kind."""
    from geoscribe.sources.masks import index_mask, load_class_map

    if not label_paths:
        raise InputError("--labels", f"{config.recipe} needs a label raster (mask)")
    if not config.class_map:
        raise InputError("--class-map", f"{config.recipe} needs a class map (JSON or YAML)")
    maps, kinds = list(config.class_map), list(config.mask_kind or ["semantic"])
    for name, values in (("--class-map", maps), ("--mask-kind", kinds)):
        if len(values) not in (1, len(label_paths)):
            raise InputError(name, f"give one for all --labels or one per --labels "
                             f"({len(label_paths)}), not {len(values)}")
    maps = maps * len(label_paths) if len(maps) == 1 else maps
    kinds = kinds * len(label_paths) if len(kinds) == 1 else kinds
    loaded = {path: load_class_map(Path(path)) for path in set(maps)}
    return [index_mask(path, loaded[cmap], kind)
            for path, cmap, kind in zip(label_paths, maps, kinds, strict=True)]


def _ingest(config: BuildConfig, inputs: Inputs, work: Path) -> dict:
    """Read the vector inputs into the feature store (once: a resumed run reuses it)."""
    if not RECIPES[config.recipe].needs_vectors:
        return {"inputs": {}, "failed_inputs": {}}
    store_path, ingest_file = work / "features.sqlite", work / "ingest.json"
    if store_path.exists() and ingest_file.exists():
        return json.loads(ingest_file.read_text(encoding="utf-8"))
    policy = load_tag_policy(config.tag_policy)
    ingest = build_store(store_path, inputs.osm_paths, inputs.label_paths,
                         _ingest_area(config, inputs), policy, progress=config.progress)
    atomic_write_text(ingest_file, json.dumps(ingest, indent=2, sort_keys=True))
    return ingest


def _ingest_area(config: BuildConfig, inputs: Inputs):
    """The region grown by the largest chip (feature recipes) or tile a build can cut, so
    that everything seen in a chip or tile crossing the region's edge is known (issue 17
    case 2); foci stay inside the region (BuildContext.region)."""
    side = (config.max_chip_px if RECIPES[config.recipe].chips == "features"
            else config.tile_px or config.chip_size)
    return ingest_area(inputs.region.geometry, side, [r.gsd_m for r in inputs.rasters])


def _plan(config: BuildConfig, inputs: Inputs, work: Path) -> list[Unit]:
    """The units of the build, in grid order."""
    if RECIPES[config.recipe].chips == "features":
        store = FeatureStore(work / "features.sqlite", readonly=True)
        try:
            return plan_units(store, inputs.region.geometry, config.unit_deg, config.limit)
        finally:
            store.close()
    return plan_tile_units(inputs.rasters, inputs.region.geometry, config.unit_deg,
                           config.tile_px or config.chip_size, config.limit)


def _context(config: BuildConfig, inputs: Inputs, work: Path) -> BuildContext:
    """What every unit needs to know, built once."""
    spec = RECIPES[config.recipe]
    min_object_px = (spec.min_object_px if config.min_object_px is None
                     else config.min_object_px)
    return BuildContext(
        recipe=config.recipe, work_dir=str(work), store_path=str(work / "features.sqlite"),
        rasters=inputs.rasters,
        licenses=_licenses(config, inputs.rasters, inputs.osm_paths,
                           inputs.label_paths + [Path(m.path) for m in inputs.masks]),
        unit_deg=config.unit_deg,
        split_block_deg=config.split_block_deg, split_fractions=config.split_fractions,
        split_guard=config.split_guard, seed=config.seed,
        chip=ChipSettings(out_size=config.chip_size, margin=config.margin,
                          min_chip_px=config.min_chip_px, max_chip_px=config.max_chip_px,
                          min_object_px=min_object_px),
        masks=inputs.masks, tile_px=config.tile_px or config.chip_size,
        min_object_px=min_object_px,
        qc=ChipQC(
            min_brightness=ChipQC.min_brightness if config.qc_brightness else None,
            max_brightness=ChipQC.max_brightness if config.qc_brightness else None,
            min_contrast=ChipQC.min_contrast if config.qc_contrast else None,
            max_cloud_fraction=ChipQC.max_cloud_fraction if config.qc_clouds else None),
        qa_weights=dict(config.qa_weights), qa_per_chip=config.qa_per_chip,
        box_format=config.box_format, region=inputs.region.geometry,
        tag_policy_path=str(config.tag_policy) if config.tag_policy else None,
        max_others=config.max_others, image_format=config.image_format,
        jpeg_quality=config.jpeg_quality, gdal_cache_bytes=inputs.gdal_cache,
    )


def _merger(config: BuildConfig, units: list[Unit], rewrite=None) -> ShardMerger:
    work = config.out / WORK
    return ShardMerger(config.out, work, units, config.shard_max_samples,
                       config.shard_max_bytes, rewrite=rewrite)


def _run_units(config: BuildConfig, ctx: BuildContext, units: list[Unit], executor,
               merger: ShardMerger | None) -> tuple[dict[str, dict], int]:
    """Build every unit not done yet (merging them as they finish when `merger` is given);
    return every unit's stats and how many were done before."""
    work = config.out / WORK
    unit_stats = {}
    pending = []
    for unit in units:
        done = load_done(work, unit)
        if done is None:
            pending.append(unit)
        else:
            unit_stats[unit.name] = done
            if merger is not None:
                merger.unit_done(done)
    resumed_units = len(unit_stats)
    bar = tqdm(total=len(units), initial=resumed_units, unit=" unit",
               desc=f"building {config.recipe}", disable=not config.progress)
    samples = sum(s["samples"] for s in unit_stats.values())
    # units run in build_order (each next to the one before), cut into one lane per worker:
    # a worker walks its own compact area, so the raster tiles neighbouring units share stay
    # in its GDAL block cache; finished units are merged (in grid order) while others run
    packed = PackedContext.pack(ctx)  # pickled once, not once per unit
    lanes = [[(packed, unit) for unit in lane]
             for lane in split_lanes(build_order(pending), config.workers)]
    try:
        for stats in executor.map_lanes(run_unit, lanes):
            unit_stats[stats["unit"]] = stats
            if merger is not None:
                merger.unit_done(stats)
            samples += stats["samples"]
            bar.update(1)
            bar.set_postfix(samples=samples)
    except RuntimeError as exc:
        raise GeoscribeError(str(exc).splitlines()[0] + " (completed units are kept; "
                             "re-run the same command to resume)") from None
    finally:
        bar.close()
    return unit_stats, resumed_units


def _build_units(config: BuildConfig, inputs: Inputs, run: dict, executor, started: float,
                 llm=None) -> dict:
    """Ingest the vector inputs, run the units, merge: the part of a build that needs workers."""
    out, work = config.out, config.out / WORK
    ingest = _ingest(config, inputs, work)
    write_run_file(config, run)
    units = _plan(config, inputs, work)
    ctx = _context(config, inputs, work)
    filters = filter_options(config)
    # without the LLM or run-wide filters, shards are written while the units run
    merger = _merger(config, units) if not filters.active and llm is None else None
    unit_stats, resumed_units = _run_units(config, ctx, units, executor, merger)
    llm_summary = None
    if llm is not None:
        unit_stats, llm_summary = _run_llm(config, llm, work, units, unit_stats, ctx)
    filtered = None
    if filters.active:
        tars = [part_path(work, unit, split, unit_stats[unit.name]) for unit in units
                for split in SPLITS if unit_stats[unit.name].get("ranges", {}).get(split)]
        samples = sum(unit_stats[unit.name]["samples"] for unit in units)
        filtered = run_filters(filters, tars, samples, config.progress)
        write_dropped(out, filtered)
    if merger is None:
        merger = _merger(config, units, rewriter(filtered) if filtered is not None else None)
        for unit in units:
            merger.unit_done(unit_stats[unit.name])
    merge_started = time.perf_counter()
    shards = merger.close()
    rejected = merge_rejected(out, work, units)
    if not any(shard["samples"] for shard in shards):
        reason = no_samples_reason(units, unit_stats, ingest, rejected)
        empty_out(out)  # nothing worth keeping; a fixed input then builds into the same OUT
        raise GeoscribeError(f"no samples: {reason}")
    stats = _run_stats(config, inputs.region, inputs.rasters, inputs.failed_rasters, ingest,
                       units, unit_stats, shards, rejected, resumed_units, ctx)
    if filtered is not None:
        add_filter_stats(stats, filtered)
    if llm_summary is not None:
        stats["llm"] = llm_summary
    stats["seconds"] = {"total": round(time.perf_counter() - started, 3),
                        "merge": round(time.perf_counter() - merge_started, 3),
                        "units": round(sum(s["seconds"] for s in unit_stats.values()), 3)}
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2, sort_keys=True))
    remove_parts(work, units)
    return stats


SKIP_MEANING = {"no_mask": "the --labels masks do not cover the imagery in the region"}


def no_samples_reason(units: list[Unit], unit_stats: dict[str, dict], ingest: dict,
                      rejected: int) -> str:
    """Why a build made no sample, in a few words (for its one-line error)."""
    if not units:
        read = "; ".join(f"--{info['kind']} {path}: {info['read']} elements read, "
                         f"{info['kept']} kept"
                         for path, info in ingest["inputs"].items())
        return "nothing to build in the region" + (f" ({read})" if read else "")
    skipped: Counter[str] = Counter()
    for stats in unit_stats.values():
        skipped.update(stats["skipped"])
    total = sum(skipped.values()) + rejected
    reads = {key: n for key, n in skipped.items() if key.split(":", 1)[0] == "read_error"}
    if reads:
        names = ", ".join(sorted(key.split(":", 1)[-1] for key in reads))
        return f"{sum(reads.values())} of {total} chips failed to read imagery {names}"
    if not skipped:
        return f"all {rejected} records were rejected"
    top = ", ".join(f"{key}={n}" + (f": {SKIP_MEANING[key]}" if key in SKIP_MEANING else "")
                    for key, n in skipped.most_common(3))
    return f"all {total} chips were skipped or rejected ({top})"


def _run_llm(config, llm, work, units, unit_stats, ctx) -> tuple[dict, dict]:
    """Give every unit's records their LLM texts; return the units' new stats and a summary."""
    from geoscribe.engine.llm_stage import LLMStage
    from geoscribe.text.llm_tasks import tag_vocabulary

    started = time.perf_counter()
    vocabulary = set(tag_vocabulary())
    for mask in ctx.masks:
        vocabulary.update(mask.class_map.classes.values())
    stage = LLMStage(llm.settings, llm, vocabulary, work, config.progress)
    new_stats = stage.run(units, unit_stats)
    return new_stats, stage.summary(started)


def filter_options(config: BuildConfig) -> FilterOptions:
    """The run-wide filter settings of a config."""
    return FilterOptions(config.clip, config.clip_min_score, config.clip_keep_fraction,
                         config.clip_device, config.clip_batch_size, config.clip_workers,
                         config.dedup)


def add_filter_stats(stats: dict, filtered) -> None:
    """Count filter drops with the other skip reasons and summarise the scores."""
    for reason, n in filtered.reasons().items():
        stats["skipped"][reason] = stats["skipped"].get(reason, 0) + n
    stats["skipped"] = dict(sorted(stats["skipped"].items()))
    scores = list(filtered.scores.values())
    stats["filters"] = {
        "clip_model": filtered.model_id, "scored": len(scores),
        "dropped": filtered.reasons(), "dropped_list": "dropped.jsonl",
        "clip_score": ({"min": min(scores), "mean": sum(scores) / len(scores),
                        "max": max(scores)} if scores else None),
    }


def _run_stats(config, region, rasters, failed_rasters, ingest, units, unit_stats, shards,
               rejected, resumed_units, ctx) -> dict:
    """The run's stats; inputs named by their uri (never a path into the builder's home)."""
    names = {path: lic.uri for path, lic in ctx.licenses.items()}
    names.update({path: source_uri(path) for path in failed_rasters})
    names.update({path: source_uri(path) for path in ingest["failed_inputs"]})
    public = PublicNames(names)
    skipped: Counter[str] = Counter()
    for stats in unit_stats.values():
        skipped.update(stats["skipped"])
    for info in ingest["inputs"].values():
        for reason, n in info["skipped"].items():
            skipped[reason] += n
    for path in failed_rasters:
        skipped[f"imagery_unreadable:{path}"] += 1
    for path in ingest["failed_inputs"]:
        skipped[f"vector_input_unreadable:{path}"] += 1
    skipped = Counter({public.reason(k): n for k, n in skipped.items()})
    by_split = {split: sum(s["samples"] for s in shards if s["split"] == split)
                for split in SPLITS}
    return {
        "recipe": config.recipe,
        "geoscribe_version": __version__,
        "region": {"description": region.description, "bounds_wgs84": list(region.bounds)},
        "samples": sum(by_split.values()),
        "samples_by_split": by_split,
        "focus_candidates": sum(s["focus_candidates"] for s in unit_stats.values()),
        "rejected": rejected,
        "skipped": dict(sorted(skipped.items())),
        "units": {"total": len(units), "resumed": resumed_units},
        "shards": [s["shard"] for s in shards],
        "inputs": {
            "imagery": [{"path": r.uri, "crs": r.crs, "gsd_m": round(r.gsd_m, 4),
                         "bands": r.count, "dtype": r.dtype, "conversion": r.rule}
                        for r in rasters],
            "imagery_failed": public.mapping(failed_rasters),
            "vectors": public.mapping(ingest["inputs"]),
            "vectors_failed": public.mapping(ingest["failed_inputs"]),
        },
        "licenses": sorted({(lic.license, lic.attribution or "") for lic in ctx.licenses.values()}),
    }
