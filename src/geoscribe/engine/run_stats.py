"""The run's stats.json: counts, skip reasons (summed once), inputs, licenses, timings; and
the one-line reason of a build that made no sample."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from geoscribe import __version__
from geoscribe.builders.context import SourceLicense
from geoscribe.engine.context import OSM_LICENSE
from geoscribe.engine.filtering import FilterResult
from geoscribe.engine.inputs import Inputs
from geoscribe.engine.units import Unit
from geoscribe.redact import PublicNames
from geoscribe.region import SPLITS
from geoscribe.sources.registry_data import source_uri


@dataclass
class BuiltUnits:
    """What the steps after planning hand on to the stats: every unit's stats (after the LLM
    stage when it ran), how many were done before this run, the merged shards, the rejected
    count, the LLM summary and the filters' verdicts."""

    units: list[Unit]
    unit_stats: dict[str, dict] = field(default_factory=dict)
    resumed: int = 0
    shards: list[dict] = field(default_factory=list)
    rejected: int = 0
    llm: dict | None = None
    filtered: FilterResult | None = None
    merge_started: float = 0.0


SKIP_MEANING = {"no_mask": "the --labels masks do not cover the imagery in the region"}


def unit_skips(unit_stats: dict[str, dict]) -> Counter[str]:
    """The units' skip counters, summed (the one place they are)."""
    skipped: Counter[str] = Counter()
    for stats in unit_stats.values():
        skipped.update(stats["skipped"])
    return skipped


def no_samples_reason(units: list[Unit], skipped: Counter[str], ingest: dict,
                      rejected: int) -> str:
    """Why a build made no sample, in a few words (for its one-line error); `skipped` is
    unit_skips of the units' stats."""
    if not units:
        read = "; ".join(f"--{info['kind']} {path}: {info['read']} elements read, "
                         f"{info['kept']} kept"
                         for path, info in ingest["inputs"].items())
        return "nothing to build in the region" + (f" ({read})" if read else "")
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


def run_skips(skipped: Counter[str], ingest: dict, failed_rasters: dict,
              public: PublicNames) -> dict[str, int]:
    """Every skip reason of the run: the units' (`skipped`), the vector inputs' and one per
    unreadable input, paths given by their public names."""
    total = Counter(skipped)
    for info in ingest["inputs"].values():
        total.update(info["skipped"])
    for path in failed_rasters:
        total[f"imagery_unreadable:{path}"] += 1
    for path in ingest["failed_inputs"]:
        total[f"vector_input_unreadable:{path}"] += 1
    renamed = Counter({public.reason(key): n for key, n in total.items()})
    return dict(sorted(renamed.items()))


def public_names(inputs: Inputs, ingest: dict, licenses: dict[str, SourceLicense]) -> PublicNames:
    """Inputs named by their uri (never a path into the builder's home)."""
    names = {path: lic.uri for path, lic in licenses.items()}
    names.update({path: source_uri(path) for path in inputs.failed_rasters})
    names.update({path: source_uri(path) for path in ingest["failed_inputs"]})
    return PublicNames(names)


def run_stats(recipe: str, inputs: Inputs, ingest: dict, licenses: dict[str, SourceLicense],
              built: BuiltUnits, skipped: Counter[str]) -> dict:
    """The run's stats; `skipped` is unit_skips of the built units' stats."""
    public = public_names(inputs, ingest, licenses)
    shards = built.shards
    by_split = {split: sum(s["samples"] for s in shards if s["split"] == split)
                for split in SPLITS}
    return {
        "recipe": recipe,
        "geoscribe_version": __version__,
        "region": {"description": inputs.region.description,
                   "bounds_wgs84": list(inputs.region.bounds)},
        "samples": sum(by_split.values()),
        "samples_by_split": by_split,
        "focus_candidates": sum(s["focus_candidates"] for s in built.unit_stats.values()),
        "rejected": built.rejected,
        "skipped": run_skips(skipped, ingest, inputs.failed_rasters, public),
        "units": {"total": len(built.units), "resumed": built.resumed},
        "shards": [s["shard"] for s in shards],
        "inputs": {
            "imagery": [{"path": r.uri, "crs": r.crs, "gsd_m": round(r.gsd_m, 4),
                         "bands": r.count, "dtype": r.dtype, "conversion": r.rule}
                        for r in inputs.rasters],
            "imagery_failed": public.mapping(inputs.failed_rasters),
            "vectors": public.mapping(ingest["inputs"]),
            "vectors_failed": public.mapping(ingest["failed_inputs"]),
        },
        "licenses": sorted({(lic.license, lic.attribution or "") for lic in licenses.values()}),
        "sources": source_list(inputs, licenses),
        **remote_counters(inputs),
        **({"imagery_plan": inputs.imagery_plan.summary()} if inputs.imagery_plan else {}),
    }


def remote_counters(inputs: Inputs) -> dict:
    """`remote`: each live source's counters (requests, cache hits, bytes, retries), when
    the build used one (issue 18)."""
    counters = inputs.live.remote_stats
    if not counters:
        return {}
    return {"remote": {name: c.as_dict() for name, c in sorted(counters.items())}}


def source_list(inputs: Inputs, licenses: dict[str, SourceLicense]) -> list[dict]:
    """Every input by its public name with its kind, license, attribution and (imagery) the
    acquisition date: what the dataset card lists, and names when a license is missing."""
    acquired = {raster.path: raster.acquired for raster in inputs.rasters}
    rows = [{"kind": lic.kind, "uri": lic.uri, "license": lic.license,
             "attribution": lic.attribution or "", "acquired": acquired.get(path),
             **inputs.live.details.get(path, {})}
            for path, lic in licenses.items()] + inputs.live.sources
    place = inputs.region.provenance
    if place:  # a geocoded --region: its polygon is OpenStreetMap data
        rows.append({"kind": "region", "uri": place["endpoint"], "license": OSM_LICENSE[0],
                     "attribution": OSM_LICENSE[1], "acquired": None, **place})
    unique = {json.dumps(row, sort_keys=True): row for row in rows}  # a live image's tiles
    return sorted(unique.values(), key=lambda row: (row["kind"], row["uri"]))


def add_filter_stats(stats: dict, filtered: FilterResult) -> None:
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
