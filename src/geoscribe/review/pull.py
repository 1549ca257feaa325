"""`geoscribe review pull`: the project's annotations applied to OUT's shards (new shards, same
keys), rejected records moved to rejected.jsonl, the review's statistics into stats.json.

Idempotent: a record remembers the annotation (id and time) it was last reviewed with, so a
second pull of the same annotations changes nothing; records without an annotation are
written back byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.files import atomic_write_text
from geoscribe.region import SPLITS
from geoscribe.report import add_qa_mix, read_stats
from geoscribe.review.apply import (
    Outcome,
    annotation_time,
    apply_annotation,
    latest_annotation,
    reviewer,
)
from geoscribe.review.client import LabelStudio
from geoscribe.review.configs import layout_of
from geoscribe.review.quality import caption_edit_distance, review_stats
from geoscribe.review.sampling import generator_id, iter_items, shard_paths
from geoscribe.shards import record_json, replace_data_dir, write_shards


def shard_limits(out: Path) -> tuple[int, int]:
    """The build's shard caps (samples, bytes) from OUT/.geoscribe/run.json (the engine's run
    file; review/ does not import the engine), else the build's defaults."""
    run = out / ".geoscribe" / "run.json"
    config = json.loads(run.read_text(encoding="utf-8")).get("config", {}) if run.exists() else {}
    return (config.get("shard_max_samples", 1000),
            config.get("shard_max_bytes", 512 * 1024 * 1024))


def review_rejects(out: Path) -> list[dict]:
    """The review's entries of OUT/rejected.jsonl."""
    path = out / "rejected.jsonl"
    if not path.exists():
        return []
    entries = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip())
    return [e for e in entries if e.get("stage") == "review"]


def decide(out: Path, tasks: list[dict], project: str) -> tuple[dict[str, Outcome], dict]:
    """The outcome of each reviewed record of OUT (by key) and the problems found."""
    records = {item.key: item.record for item, _ in iter_items(out)}
    kind = layout_of(list(records.values()))["kind"]
    outcomes, problems = {}, {"unknown_keys": 0, "invalid": {}}
    annotated = {}
    for task in tasks:
        annotation = latest_annotation(task)
        if annotation is not None:
            annotated[task["data"].get("key")] = annotation
    for key, annotation in sorted(annotated.items()):
        if key not in records:
            problems["unknown_keys"] += 1  # rejected before, or not from this dataset
            continue
        outcome = apply_annotation(records[key], annotation, kind, project)
        if outcome.status == "rejected":
            outcome.record = {**records[key], "_annotation": annotation}
        if outcome.status == "invalid":
            problems["invalid"][key] = outcome.problems
        elif outcome.status != "unchanged":
            outcomes[key] = outcome
    return outcomes, problems


def _rewriter(outcomes: dict[str, Outcome]):
    def rewrite(sample: dict) -> dict | None:
        outcome = outcomes.get(sample["__key__"])
        if outcome is None:
            return sample
        if outcome.status == "rejected":
            return None
        return {**sample, "txt": outcome.record["texts"]["caption"].encode("utf-8"),
                "json": record_json(outcome.record)}
    return rewrite


def reject_entry(outcome: Outcome, project: str) -> dict:
    """A rejected.jsonl line for a record the reviewer rejected."""
    record = dict(outcome.record)
    annotation = record.pop("_annotation")
    return {"id": record["id"], "stage": "review", "kind": "record",
            "reasons": [f"review: {outcome.reason}"], "reason": outcome.reason,
            "reviewer": reviewer(annotation), "time": annotation_time(annotation),
            "annotation": annotation.get("id"), "project": project,
            "recipe": record.get("recipe"), "generator": generator_id(record), "record": record}


def _append_rejects(out: Path, entries: list[dict]) -> None:
    path = out / "rejected.jsonl"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
    atomic_write_text(path, old + lines)


def outcomes_of(out: Path) -> list[tuple[str, str, str, int | None]]:
    """(status, recipe, generator, caption edit distance) of every reviewed record of OUT,
    read from the shards and the review's rejects."""
    found = []
    for item, _ in iter_items(out):
        status = (item.record.get("review") or {}).get("status")
        if status in ("accepted", "corrected"):
            found.append((status, item.record.get("recipe"), generator_id(item.record),
                          caption_edit_distance(item.record)))
    found += [("rejected", e.get("recipe"), e.get("generator"), None)
              for e in review_rejects(out)]
    return found


def update_stats(out: Path, project: str, shards: list[dict] | None, rejected: int) -> dict:
    """stats.json with the new shards, samples, rejects and the review block."""
    stats = read_stats(out)
    if shards is not None:
        stats["shards"] = [s["shard"] for s in shards]
        stats["samples_by_split"] = {split: sum(s["samples"] for s in shards
                                                if s["split"] == split) for split in SPLITS}
        stats["samples"] = sum(stats["samples_by_split"].values())
        add_qa_mix(stats, out)
    stats["rejected"] = stats.get("rejected", 0) + rejected
    stats["review"] = review_stats(project, outcomes_of(out))
    atomic_write_text(out / "stats.json", json.dumps(stats, indent=2, sort_keys=True))
    return stats


def pull(out: Path, client: LabelStudio, project: str) -> tuple[dict, dict]:
    """Apply the project's annotations to OUT; return (stats, what this pull did)."""
    found = client.find_project(project)
    if found is None:
        raise InputError("--project", f"no Label Studio project called {project!r}")
    tasks = client.snapshot(found["id"])
    outcomes, problems = decide(out, tasks, project)
    shards = None
    if outcomes:
        shards = write_shards(out / "data.new", shard_paths(out), _rewriter(outcomes),
                              *shard_limits(out), origin="reviewed_from")
        replace_data_dir(out, out / "data.new")
    rejects = [reject_entry(o, project) for o in outcomes.values() if o.status == "rejected"]
    if rejects:
        _append_rejects(out, rejects)
    stats = update_stats(out, project, shards, len(rejects))
    done = {status: sum(1 for o in outcomes.values() if o.status == status)
            for status in ("accepted", "corrected", "rejected")}
    done.update(tasks=len(tasks), invalid=problems["invalid"],
                unknown_keys=problems["unknown_keys"],
                boxes_added_not_applied=sum(o.boxes_added for o in outcomes.values()))
    return stats, done
