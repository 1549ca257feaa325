"""issue 14: labelling interfaces per record kind and the predictions that pre-fill them
(geoscribe.review.configs)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from geoscribe.review.configs import (
    annotation_content,
    label_config,
    layout_of,
    prediction_result,
    record_content,
    task_data,
)
from review_server import records_of

KINDS = {"skyscript-like": "captions", "rsvqa-like": "qa", "geochat-like": "conversations"}


def _records(out) -> list[dict]:
    return [json.loads(s["json"]) for s in records_of(out).values()]


@pytest.mark.parametrize("recipe", sorted(KINDS))
def test_interface_fits_the_record_kind(review_builds, recipe):
    """issue 14: captions editable; QA questions shown, answers editable; boxes as labelled
    rectangles (labels = classes) and each turn editable; verdict + reason everywhere."""
    records = _records(review_builds[recipe])
    layout = layout_of(records)
    assert layout["kind"] == KINDS[recipe]
    root = ET.fromstring(label_config(layout))
    names = {el.get("name"): el.tag for el in root.iter() if el.get("name")}
    assert names["image"] == "Image" and names["caption"] == "TextArea"
    assert names["verdict"] == "Choices" and names["reason"] == "TextArea"
    choices = [c.get("value") for c in root.iter("Choice")]
    assert choices == ["accept", "edit", "reject"]
    if recipe == "rsvqa-like":
        most = max(len(r["qa"]) for r in records)
        assert all(names[f"q{i}"] == "Text" and names[f"a{i}"] == "TextArea"
                   for i in range(most))
    if recipe == "geochat-like":
        assert names["boxes"] == "RectangleLabels"
        most = max(len(r["conversations"]) for r in records)
        assert all(names[f"t{i}"] == "TextArea" for i in range(most))
        labels = {lab.get("value") for lab in root.iter("Label")}
        assert labels and len(labels) == len(layout["classes"])


@pytest.mark.parametrize("recipe", sorted(KINDS))
def test_prediction_round_trips_to_the_record(review_builds, recipe):
    """issue 14: an annotation that keeps the prediction reads back as the record's content;
    boxes are in percent of the chip."""
    records = _records(review_builds[recipe])
    kind = layout_of(records)["kind"]
    for record in records[:10]:
        result = prediction_result(record, kind)
        content, extra = annotation_content(result, record, kind)
        assert content == record_content(record, kind)
        assert extra == {"verdict": None, "reason": "", "boxes_added": 0}
        w, h = record["chip"]["width"], record["chip"]["height"]
        for r in (r for r in result if r["type"] == "rectanglelabels"):
            x0, y0, x1, y1 = record["features"][int(r["id"][1:])]["bbox_px"]
            assert r["value"]["x"] == pytest.approx(100 * x0 / w)
            assert r["value"]["height"] == pytest.approx(100 * (y1 - y0) / h)


def test_task_data_names_key_shard_and_questions(review_builds):
    """issue 14: the task stores the record key and shard; every question slot is filled."""
    records = _records(review_builds["rsvqa-like"])
    layout = layout_of(records)
    record = min(records, key=lambda r: len(r["qa"]))
    data = task_data(record, "train-000000.tar", "/data/x.png", layout)
    assert data["key"] == record["id"] and data["shard"] == "train-000000.tar"
    assert data["q0"] == record["qa"][0]["question"]
    assert all(data[f"q{i}"] for i in range(layout["questions"]))
