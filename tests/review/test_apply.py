"""issue 14: one annotation applied to one record (geoscribe.review.apply): accepted, corrected
with history, rejected with the reason, broken edits reported; applying it twice is a no-op."""

from __future__ import annotations

import copy
import json
import re

from geoscribe.review.apply import apply_annotation
from geoscribe.review.configs import prediction_result
from review_server import records_of

REVIEWER = {"id": 7, "email": "ann@example.org"}
GEOCHAT_BOX = re.compile(r"\{<(\d+)><(\d+)><(\d+)><(\d+)>\|<(-?\d+)>\}")


def _first(out, want=lambda r: True) -> dict:
    return next(r for r in (json.loads(s["json"]) for s in records_of(out).values()) if want(r))


def _annotation(results: list[dict], verdict: str = "accept", reason: str = "") -> dict:
    extra = [{"from_name": "verdict", "to_name": "image", "type": "choices",
              "value": {"choices": [verdict]}}]
    if reason:
        extra.append({"from_name": "reason", "to_name": "image", "type": "textarea",
                      "value": {"text": [reason]}})
    return {"id": 11, "completed_by": REVIEWER, "updated_at": "2026-11-30T10:00:00Z",
            "result": results + extra}


def _set_text(results: list[dict], name: str, text: str) -> list[dict]:
    results = copy.deepcopy(results)
    next(r for r in results if r["from_name"] == name)["value"]["text"] = [text]
    return results


def test_accept_keeps_content_and_marks_the_record(review_builds):
    """issue 14: accepted -> review.status accepted, nothing else changes; twice: unchanged."""
    record = _first(review_builds["skyscript-like"])
    outcome = apply_annotation(record, _annotation(prediction_result(record, "captions")),
                               "captions", "p")
    assert outcome.status == "accepted"
    assert {k: v for k, v in outcome.record.items() if k != "review"} == \
        {k: v for k, v in record.items() if k != "review"}
    assert outcome.record["review"]["reviewer"] == "ann@example.org"
    again = apply_annotation(outcome.record, _annotation(prediction_result(record, "captions")),
                             "captions", "p")
    assert again.status == "unchanged"


def test_edited_caption_replaces_it_and_keeps_history(review_builds):
    """issue 14: edited -> the corrected caption replaces the generated one; the original is
    in review.history with reviewer and time."""
    record = _first(review_builds["skyscript-like"])
    results = _set_text(prediction_result(record, "captions"), "caption", "A corrected one.")
    outcome = apply_annotation(record, _annotation(results, "edit"), "captions", "p")
    assert outcome.status == "corrected"
    assert outcome.record["texts"]["caption"] == "A corrected one."
    assert outcome.record["review"]["history"] == [{
        "reviewer": "ann@example.org", "time": "2026-11-30T10:00:00Z", "annotation": 11,
        "before": {"texts.caption": record["texts"]["caption"]}}]


def test_edited_count_answer_keeps_its_number(review_builds):
    """issue 14: a corrected count answer updates answer_number; a yes/no answer that is
    neither is reported as breaking the record contract, not applied."""
    record = _first(review_builds["rsvqa-like"],
                    lambda r: any(q["type"] == "count" for q in r["qa"]))
    i = next(i for i, q in enumerate(record["qa"]) if q["type"] == "count")
    results = _set_text(prediction_result(record, "qa"), f"a{i}", "12")
    outcome = apply_annotation(record, _annotation(results), "qa", "p")
    assert outcome.status == "corrected"
    assert outcome.record["qa"][i]["answer"] == "12"
    assert outcome.record["qa"][i]["answer_number"] == 12
    j = next(i for i, q in enumerate(record["qa"]) if "answer_bool" in q)
    results = _set_text(prediction_result(record, "qa"), f"a{j}", "perhaps")
    broken = apply_annotation(record, _annotation(results), "qa", "p")
    assert broken.status == "invalid" and broken.problems and broken.record is None


def test_moved_box_updates_feature_and_its_tokens(review_builds):
    """issue 14: a moved rectangle becomes the feature's bbox_px and its GeoChat box tokens in
    the turns follow; a removed rectangle removes the feature."""
    record = _first(review_builds["geochat-like"], lambda r: len(r["features"]) >= 2
                    and GEOCHAT_BOX.search(r["conversations"][1]["value"]))
    results = copy.deepcopy(prediction_result(record, "conversations"))
    box = next(r for r in results if r["id"] == "f0")
    box["value"]["x"], box["value"]["width"] = 10.0, 20.0
    results = [r for r in results if r.get("id") != f"f{len(record['features']) - 1}"]
    outcome = apply_annotation(record, _annotation(results), "conversations", "p")
    assert outcome.status == "corrected"
    size = record["chip"]["width"]
    fixed = outcome.record["features"][0]["bbox_px"]
    assert fixed[0] == round(0.10 * size, 2) and fixed[2] == round(0.30 * size, 2)
    assert len(outcome.record["features"]) == len(record["features"]) - 1
    old = record["features"][0]["bbox_px"]
    old_token = [round(v / size * 100) for v in old]
    text = " ".join(t["value"] for t in outcome.record["conversations"])
    tokens = [[int(g) for g in m.groups()[:4]] for m in GEOCHAT_BOX.finditer(text)]
    assert [10, old_token[1], 30, old_token[3]] in tokens
    history = outcome.record["review"]["history"][0]["before"]
    assert history["features[0].bbox_px"] == old


def test_reject_carries_the_reason(review_builds):
    """issue 14: rejected -> the outcome says so with the reviewer's reason."""
    record = _first(review_builds["skyscript-like"])
    outcome = apply_annotation(record, _annotation(prediction_result(record, "captions"),
                                                   "reject", "cloud covers the chip"),
                               "captions", "p")
    assert outcome.status == "rejected" and outcome.reason == "cloud covers the chip"
