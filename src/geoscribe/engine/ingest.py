"""Stream vector sources (OSM files, labels) into the feature store, filtered and counted."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.engine.inputs import Inputs
from geoscribe.engine.live_inputs import ingest_area_for
from geoscribe.errors import GeoscribeError, InputError
from geoscribe.files import atomic_write_text
from geoscribe.recipes import RECIPES
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.sources.labels import check_labels_path, read_labels
from geoscribe.sources.osm import DecidingKeys, OsmRewriteNeeded, check_osm_path, read_osm
from geoscribe.text.tag_policy import TagPolicy, load_tag_policy
from geoscribe.types import Feature


def ingest_vectors(config: BuildConfig, inputs: Inputs, work: Path) -> dict:
    """Read the vector inputs into the feature store (once: a resumed run reuses it); return
    the ingest report (per input: read, kept, skipped; failed inputs)."""
    if not RECIPES[config.recipe].needs_vectors:
        return {"inputs": {}, "failed_inputs": {}}
    store_path, ingest_file = work / "features.sqlite", work / "ingest.json"
    if store_path.exists() and ingest_file.exists():
        return json.loads(ingest_file.read_text(encoding="utf-8"))
    policy = load_tag_policy(config.tag_policy)
    ingest = build_store(store_path, inputs.osm_paths, inputs.label_paths,
                         ingest_area_of(config, inputs), policy, progress=config.progress)
    atomic_write_text(ingest_file, json.dumps(ingest, indent=2, sort_keys=True))
    return ingest


def ingest_area_of(config: BuildConfig, inputs: Inputs):
    """The region grown by the largest chip or tile a build can cut (live_inputs.ingest_area_for,
    the area live sources are fetched for too); with --imagery-plan the largest chip is the
    plan's max_chip_px."""
    plan = inputs.imagery_plan
    return ingest_area_for(config, inputs.region.geometry, inputs.rasters,
                           plan.max_chip_px if plan is not None else None)


_MAX_DECISIONS = 100_000  # tag lists whose decision an input's reading remembers


def _tag_select(policy: TagPolicy, stats: SourceStats, name: str):
    """The tag decision of one input: a feature's kept tags from its (key, value) pairs, or None
    to drop it; each groundable tag dropped for its value and each feature left without a
    class tag is counted. A list of pairs whose groundable pairs were met before (osmium's:
    building=yes, ...) is decided once and its counts replayed; a whole list met before is not
    even filtered again."""
    decided: dict[tuple, tuple[dict[str, str] | None, tuple[str, ...]]] = {}  # by groundable
    by_list: dict[tuple, tuple[dict[str, str] | None, tuple[str, ...]]] = {}  # by whole list

    def decide(tags) -> tuple[dict[str, str] | None, tuple[str, ...]]:
        dropped: list[str] = []
        kept = policy.keep(tags, dropped)
        # free text or an untrusted value in a groundable key, then no class tag: counted
        reasons = [f"{reason}:{name}" for reason in dropped]
        if policy.primary_key(kept) is None:
            return None, (*reasons, f"no_groundable_tags:{name}")
        return kept, tuple(reasons)

    def select(tags) -> dict[str, str] | None:
        if isinstance(tags, list):  # osmium's pairs: remembered by the ones keep() reads
            decision = by_list.get(key := tuple(tags))
            if decision is None:
                groundable = policy.groundable_pairs(tags)
                decision = decided.get(groundable)
                if decision is None:
                    decision = _remember(decided, groundable, decide(groundable))
                _remember(by_list, key, decision)
        else:
            decision = decide(tags)
        kept, reasons = decision
        for reason in reasons:
            stats.skip(reason)
        return None if kept is None else dict(kept)

    return select


def _remember(cache: dict, key, value):
    """`value`, stored in `cache` under `key` (the cache emptied when full)."""
    if len(cache) >= _MAX_DECISIONS:
        cache.clear()
    cache[key] = value
    return value


def _groundable(features: Iterator[Feature], select, region: BaseGeometry, stats: SourceStats,
                bar, batch: int = 1000) -> Iterator[Feature]:
    """The features inside `region` (prepared), in order; their tags decided by `select`
    unless the reader has done it (`select` None). The region is met by a batch at once (and
    the progress `bar` moved)."""
    chunk: list[Feature] = []
    for feature in features:
        if select is not None:
            kept = select(feature.tags)
            if kept is None:
                continue
            feature.tags = kept
        chunk.append(feature)
        if len(chunk) >= batch:
            yield from _inside(chunk, region, stats, bar)
            chunk = []
    yield from _inside(chunk, region, stats, bar)


def _inside(features: list[Feature], region: BaseGeometry, stats: SourceStats, bar
            ) -> list[Feature]:
    """The features that meet `region`, counted as kept."""
    meets = shapely.intersects(region, [f.geometry for f in features]).tolist()
    inside = [feature for feature, hit in zip(features, meets, strict=True) if hit]
    stats.kept += len(inside)
    bar.update(len(inside))
    return inside


def build_store(
    store_path: Path,
    osm_paths: list[Path],
    label_paths: list[Path],
    region: BaseGeometry,
    policy: TagPolicy,
    progress: bool = True,
) -> dict:
    """Read every vector input into a new store at `store_path`; return per-input stats.

    A file that fails is skipped and counted when others succeed; if all fail, the first
    error is raised (one line, naming the file). An OSM element met in an earlier OSM input
    is stored once and counted as `duplicate_element:<input>`. On any error the half-written
    store is removed; a full disk (or any store write error) is a one-line error.
    """
    for path in osm_paths:
        check_osm_path(path)
    for path in label_paths:
        check_labels_path(path)
    tmp = store_path.with_name(store_path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    store = FeatureStore(tmp)
    try:
        with gc_paused():
            report = _read_inputs(store, osm_paths, label_paths, region, policy, progress)
        store.close()
    except sqlite3.Error as exc:
        store.abandon()
        tmp.unlink(missing_ok=True)
        raise GeoscribeError(f"{store_path.parent}: cannot write the feature store ({exc})"
                             ) from None
    except BaseException:
        store.abandon()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, store_path)
    return report


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off for the block (back on after, if it was on). Reading makes
    tens of thousands of tag tuples that live until their batch is stored; each sweep of them
    finds nothing to free and cost up to a quarter of a city's ingest (measured:
    benchmarks/osm_ingest.py). What the block leaves in cycles is collected afterwards."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _read_inputs(store: FeatureStore, osm_paths: list[Path], label_paths: list[Path],
                 region: BaseGeometry, policy: TagPolicy, progress: bool) -> dict:
    """Stream each input into `store`; the per-input report (raises if every input failed)."""
    report: dict = {"inputs": {}, "failed_inputs": {}}
    errors: list[InputError] = []
    jobs = [("osm", p, read_osm) for p in osm_paths] + [("labels", p, read_labels)
                                                          for p in label_paths]
    dedupe = len(osm_paths) > 1
    bounds = tuple(region.bounds)
    shapely.prepare(region)  # once for every input
    bar = tqdm(total=None, unit=" features", desc="reading vector sources", disable=not progress)
    try:
        for kind, path, reader in jobs:
            stats = SourceStats()
            first_id = store.next_id()
            try:
                added = _add_input(store, reader, path, policy, (bounds, region), stats,
                                   bar, dedupe and kind == "osm", first_id)
            except InputError as exc:
                store.remove_since(first_id)
                errors.append(exc)
                report["failed_inputs"][str(path)] = str(exc)
                continue
            _report_input(report["inputs"], str(path), kind, stats, added)
    finally:
        bar.close()
    if errors and not report["inputs"]:
        raise errors[0]
    return report


def _add_input(store: FeatureStore, reader, path: Path, policy: TagPolicy, region: tuple,
               stats: SourceStats, bar, dedupe: bool, first_id: int) -> int:
    """Store one input's groundable features (`region`: its bounds and prepared geometry); an
    OSM file that needs the rewrite is read again through it (what the first try stored, from
    id `first_id` on, is removed first)."""
    bounds, prepared = region
    name = str(path)

    def duplicate(_feature: Feature) -> None:
        stats.skip(f"duplicate_element:{name}")

    select = _tag_select(policy, stats, name)

    def add(features: Iterator[Feature], selected: bool) -> int:
        stream = _groundable(features, None if selected else select, prepared, stats, bar)
        return store.add_many(stream, on_duplicate=duplicate if dedupe else None)

    if reader is not read_osm:
        return add(reader(path, bounds, stats), False)
    def no_keys(count: int) -> None:  # what `select` counts for tags without such a key
        stats.skip(f"no_groundable_tags:{name}", count)

    keys = DecidingKeys(policy.allowed_keys, no_keys)
    try:  # the OSM reader decides tags itself, straight from osmium's tag lists
        return add(read_osm(path, bounds, stats, select=select, deciding_keys=keys), True)
    except OsmRewriteNeeded:
        store.remove_since(first_id)
        stats.read, stats.kept, stats.skipped = 0, 0, {}
        return add(read_osm(path, bounds, stats, rewrite=True, select=select), True)


def _report_input(inputs: dict, name: str, kind: str, stats: SourceStats, added: int) -> None:
    """Add one input's counts to the report (summed when the same file is given twice)."""
    entry = inputs.setdefault(name, {"kind": kind, "read": 0, "kept": 0, "skipped": {}})
    entry["read"] += stats.read
    entry["kept"] += added
    for reason, n in stats.skipped.items():
        entry["skipped"][reason] = entry["skipped"].get(reason, 0) + n

