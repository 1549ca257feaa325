"""Stream vector sources (OSM files, labels) into the feature store, filtered and counted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep
from tqdm import tqdm

from geoscribe.engine.feature_store import FeatureStore
from geoscribe.errors import InputError
from geoscribe.sources.feature import Feature, SourceStats
from geoscribe.sources.labels import check_labels_path, read_labels
from geoscribe.sources.osm import check_osm_path, read_osm
from geoscribe.text.tag_policy import TagPolicy


def _groundable(
    features: Iterator[Feature], policy: TagPolicy, region, stats: SourceStats, name: str
) -> Iterator[Feature]:
    for feature in features:
        dropped: list[str] = []
        kept = policy.keep(feature.tags, dropped)
        for reason in dropped:  # free text or an untrusted value in a groundable key: counted
            stats.skip(f"{reason}:{name}")
        if policy.primary_key(kept) is None:
            stats.skip(f"no_groundable_tags:{name}")
            continue
        if not region.intersects(feature.geometry):
            continue
        feature.tags = kept
        stats.kept += 1
        yield feature


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
    error is raised (one line, naming the file).
    """
    for path in osm_paths:
        check_osm_path(path)
    for path in label_paths:
        check_labels_path(path)
    tmp = store_path.with_name(store_path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    store = FeatureStore(tmp)
    bounds = tuple(region.bounds)
    prepared = prep(region)
    report: dict = {"inputs": {}, "failed_inputs": {}}
    errors: list[InputError] = []
    jobs = [("osm", p, read_osm) for p in osm_paths] + [("labels", p, read_labels)
                                                          for p in label_paths]
    bar = tqdm(total=None, unit=" features", desc="reading vector sources", disable=not progress)
    try:
        for kind, path, reader in jobs:
            stats = SourceStats()
            try:
                stream = _groundable(reader(path, bounds, stats), policy, prepared, stats,
                                     str(path))
                added = store.add_many(_counting(stream, bar))
            except InputError as exc:
                store.remove_input(str(path))
                errors.append(exc)
                report["failed_inputs"][str(path)] = str(exc)
                continue
            report["inputs"][str(path)] = {"kind": kind, "read": stats.read, "kept": added,
                                           "skipped": stats.skipped}
    finally:
        bar.close()
    if errors and not report["inputs"]:
        store.close()
        tmp.unlink(missing_ok=True)
        raise errors[0]
    store.create_centre_index()
    store.close()
    os.replace(tmp, store_path)
    return report


def _counting(stream: Iterator[Feature], bar) -> Iterator[Feature]:
    for feature in stream:
        bar.update(1)
        yield feature
