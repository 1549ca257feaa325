"""One reviewer's annotation applied to one record: accepted, corrected (with history) or
rejected; a correction that breaks the record contract is reported, not applied."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from geoscribe.checks.schema import record_errors
from geoscribe.qa.grounding import geochat_box, json_box
from geoscribe.review.configs import annotation_content, record_content


@dataclass
class Outcome:
    """What an annotation does to a record: status "unchanged", "accepted", "corrected",
    "rejected" or "invalid"; the new record (accepted/corrected), the reason (rejected) or the
    problems (invalid)."""

    status: str
    record: dict | None = None
    reason: str = ""
    problems: list[str] = field(default_factory=list)
    boxes_added: int = 0


def reviewer(annotation: dict) -> str:
    """Who made an annotation: the user's e-mail, else "user:<id>"."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return who.get("email") or f"user:{who.get('id')}"
    return f"user:{who}"


def annotation_time(annotation: dict) -> str:
    return str(annotation.get("updated_at") or annotation.get("created_at") or "")


def latest_annotation(task: dict) -> dict | None:
    """The task's newest annotation that is not a skip (None when there is none)."""
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(done, key=lambda a: (annotation_time(a), a.get("id", 0)), default=None)


def _box_token(record: dict, feature: dict, bbox: list[float]) -> str:
    if (record.get("generator") or {}).get("box_format") == "json":
        return json_box(bbox)
    return geochat_box(bbox, record["chip"]["width"], feature.get("rotation_deg", 0))


def _apply_boxes(record: dict, old: dict, new: dict, before: dict) -> None:
    """Moved boxes replace the feature's bbox_px (and its box token in the turns); removed
    boxes remove the feature."""
    features = record.get("features") or []
    for index, bbox in sorted(new.items()):
        if bbox != old[index]:
            before[f"features[{index}].bbox_px"] = old[index]
            old_token = _box_token(record, features[index], old[index])
            new_token = _box_token(record, features[index], bbox)
            features[index]["bbox_px"] = bbox
            for turn in record.get("conversations") or []:
                turn["value"] = turn["value"].replace(old_token, new_token)
    for index in sorted(set(old) - set(new), reverse=True):
        before[f"features[{index}]"] = features.pop(index)


def _apply_answer(item: dict, answer: str) -> None:
    """A new answer text, with its typed value kept in step (a count's number, yes/no)."""
    item["answer"] = answer
    if "answer_number" in item:
        item["answer_number"] = int(answer) if answer.strip().isdigit() else answer
    if "answer_bool" in item:
        item["answer_bool"] = {"yes": True, "no": False}.get(answer.strip().lower(), answer)


def corrected(record: dict, old: dict, new: dict) -> tuple[dict, dict]:
    """(the record with the new content, {field path: value before})."""
    fixed = copy.deepcopy(record)
    before: dict = {}
    if new["caption"] != old["caption"]:
        before["texts.caption"] = old["caption"]
        fixed["texts"]["caption"] = new["caption"]
    for i, (was, now) in enumerate(zip(old["answers"], new["answers"], strict=True)):
        if now != was:
            before[f"qa[{i}].answer"] = was
            _apply_answer(fixed["qa"][i], now)
    for i, (was, now) in enumerate(zip(old["turns"], new["turns"], strict=True)):
        if now != was:
            before[f"conversations[{i}].value"] = was
            fixed["conversations"][i]["value"] = now
    _apply_boxes(fixed, old["boxes"], new["boxes"], before)
    return fixed, before


def apply_annotation(record: dict, annotation: dict, kind: str, project: str) -> Outcome:
    """The outcome of the newest annotation of a record's task."""
    review = record.get("review") or {}
    if (review.get("annotation") == annotation.get("id")
            and review.get("time") == annotation_time(annotation)):
        return Outcome("unchanged")  # pulled before: idempotent
    old = record_content(record, kind)
    new, extra = annotation_content(annotation.get("result") or [], record, kind)
    stamp = {"reviewer": reviewer(annotation), "time": annotation_time(annotation),
             "annotation": annotation.get("id")}
    if extra["verdict"] == "reject":
        return Outcome("rejected", reason=extra["reason"] or "rejected by the reviewer")
    fixed, before = corrected(record, old, new)
    status = "corrected" if before or review.get("status") == "corrected" else "accepted"
    history = list(review.get("history") or [])
    if before:
        history.append({**stamp, "before": before})
    fixed["review"] = {"status": status, "project": project, **stamp,
                       **({"history": history} if history else {})}
    problems = record_errors(fixed)
    if problems:
        return Outcome("invalid", problems=problems)
    return Outcome(status, fixed, boxes_added=extra["boxes_added"])
