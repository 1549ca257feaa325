"""Labelling interfaces per record kind, the predictions that pre-fill them, and the content an
annotation holds, read back into the record's terms.

Kinds: `captions` (an editable caption), `qa` (each question shown, its answer editable; the
caption too), `conversations` (each turn editable, the features' boxes as rectangles in percent
of the image, labels = the features' classes; the caption too). Every interface has a verdict
(accept / edit / reject) and a reason field.

A record's reviewable content is {"caption": str, "answers": [str], "turns": [str],
"boxes": {feature index: [x0, y0, x1, y1] px}}; an annotation is read into the same shape.
"""

from __future__ import annotations

from functools import lru_cache
from xml.sax.saxutils import quoteattr

from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import load_tag_policy

KINDS = ("captions", "qa", "conversations")
# label colours of the boxes, in class order (saturated: easy to find in a screenshot)
COLOURS = ("#ff00ff", "#00ffff", "#ffff00", "#ff8000", "#00ff00", "#0080ff", "#ff0040")
NONE_TEXT = "(none)"


def record_kind(record: dict) -> str:
    """The interface a record needs: conversations, else qa, else captions."""
    if record.get("conversations"):
        return "conversations"
    if record.get("qa"):
        return "qa"
    return "captions"


@lru_cache(maxsize=1)
def _policy():
    return load_tag_policy(None)


def feature_class(feature: dict) -> str:
    """A feature's class phrase as the builders name it ("residential road"), else its first
    tag as key=value."""
    phrase = describe(feature.get("tags") or {}, _policy())
    if phrase is not None:
        return phrase.noun
    tags = feature.get("tags") or {}
    return next((f"{k}={v}" for k, v in sorted(tags.items())), "object")


def layout_of(records: list[dict]) -> dict:
    """What an interface must hold for these records: their kind, the most questions and
    turns any has, and the box classes."""
    kinds = {record_kind(r) for r in records}
    kind = next((k for k in reversed(KINDS) if k in kinds), "captions")
    return {
        "kind": kind,
        "questions": max((len(r.get("qa") or []) for r in records), default=0),
        "turns": max((len(r.get("conversations") or []) for r in records), default=0),
        "classes": sorted({feature_class(f) for r in records for f in r.get("features") or []})
        if kind == "conversations" else [],
    }


def _textarea(name: str, rows: int, to: str = "image") -> str:
    return (f'<TextArea name="{name}" toName="{to}" editable="true" maxSubmissions="1" '
            f'rows="{rows}" showSubmitButton="false"/>')


def label_config(layout: dict) -> str:
    """The Label Studio labelling interface (XML) for a layout."""
    parts = ['<View>', '<Header value="$key"/>', '<Image name="image" value="$image"/>']
    if layout["kind"] == "conversations":
        labels = "".join(f"<Label value={quoteattr(name)} background="
                         f"{quoteattr(COLOURS[i % len(COLOURS)])}/>"
                         for i, name in enumerate(layout["classes"]))
        parts.append(f'<RectangleLabels name="boxes" toName="image">{labels}</RectangleLabels>')
    parts += ['<Header value="Caption" size="5"/>', _textarea("caption", 3)]
    for i in range(layout["questions"] if layout["kind"] == "qa" else 0):
        parts += [f'<Text name="q{i}" value="$q{i}"/>', _textarea(f"a{i}", 1, f"q{i}")]
    for i in range(layout["turns"] if layout["kind"] == "conversations" else 0):
        parts += [f'<Header value="$t{i}_from" size="6"/>', _textarea(f"t{i}", 2)]
    parts += ['<Choices name="verdict" toName="image" choice="single" showInline="true">',
              '<Choice value="accept"/><Choice value="edit"/><Choice value="reject"/>',
              '</Choices>', '<Header value="Reason (when rejecting)" size="6"/>',
              _textarea("reason", 1), '</View>']
    return "\n".join(parts)


def task_data(record: dict, shard: str, image_url: str, layout: dict) -> dict:
    """A task's data: the chip's URL, the record's key and shard, questions and speakers."""
    data = {"image": image_url, "key": record["id"], "shard": shard,
            "recipe": record.get("recipe")}
    qa = record.get("qa") or []
    for i in range(layout["questions"] if layout["kind"] == "qa" else 0):
        data[f"q{i}"] = qa[i]["question"] if i < len(qa) else NONE_TEXT
    turns = record.get("conversations") or []
    for i in range(layout["turns"] if layout["kind"] == "conversations" else 0):
        data[f"t{i}_from"] = turns[i]["from"] if i < len(turns) else NONE_TEXT
    return data


def record_content(record: dict, kind: str) -> dict:
    """The reviewable content of a record for an interface kind."""
    content = {"caption": record["texts"]["caption"], "answers": [], "turns": [], "boxes": {}}
    if kind == "qa":
        content["answers"] = [q["answer"] for q in record.get("qa") or []]
    if kind == "conversations":
        content["turns"] = [t["value"] for t in record.get("conversations") or []]
        content["boxes"] = {i: list(f["bbox_px"]) for i, f in
                            enumerate(record.get("features") or [])}
    return content


def _text_result(name: str, text: str, to: str = "image") -> dict:
    return {"id": name, "from_name": name, "to_name": to, "type": "textarea",
            "value": {"text": [text]}}


def _box_result(index: int, bbox: list[float], label: str, width: int, height: int) -> dict:
    x0, y0, x1, y1 = bbox
    return {"id": f"f{index}", "from_name": "boxes", "to_name": "image",
            "type": "rectanglelabels", "original_width": width, "original_height": height,
            "image_rotation": 0,
            "value": {"x": x0 / width * 100, "y": y0 / height * 100,
                      "width": (x1 - x0) / width * 100, "height": (y1 - y0) / height * 100,
                      "rotation": 0, "rectanglelabels": [label]}}


def prediction_result(record: dict, kind: str) -> list[dict]:
    """The results that pre-fill a record's task (its generated content)."""
    content = record_content(record, kind)
    results = [_text_result("caption", content["caption"])]
    results += [_text_result(f"a{i}", a, f"q{i}") for i, a in enumerate(content["answers"])]
    results += [_text_result(f"t{i}", t) for i, t in enumerate(content["turns"])]
    width, height = record["chip"]["width"], record["chip"]["height"]
    features = record.get("features") or []
    results += [_box_result(i, bbox, feature_class(features[i]), width, height)
                for i, bbox in content["boxes"].items()]
    return results


def _box_px(value: dict, width: int, height: int) -> list[float]:
    x0, y0 = value["x"] / 100 * width, value["y"] / 100 * height
    return [round(x0, 2), round(y0, 2), round(x0 + value["width"] / 100 * width, 2),
            round(y0 + value["height"] / 100 * height, 2)]


def annotation_content(results: list[dict], record: dict, kind: str) -> tuple[dict, dict]:
    """(content, extra) of an annotation: content as record_content gives it, a field the
    annotation lacks kept from the record; extra = verdict, reason and boxes it added."""
    content = record_content(record, kind)
    texts = {r["from_name"]: "\n".join(r["value"].get("text") or []) for r in results
             if r.get("type") == "textarea"}
    verdict = next((r["value"]["choices"][0] for r in results
                    if r.get("from_name") == "verdict" and r["value"].get("choices")), None)
    content["caption"] = texts.get("caption", content["caption"])
    content["answers"] = [texts.get(f"a{i}", a) for i, a in enumerate(content["answers"])]
    content["turns"] = [texts.get(f"t{i}", t) for i, t in enumerate(content["turns"])]
    added = 0
    if kind == "conversations":
        width, height = record["chip"]["width"], record["chip"]["height"]
        boxes = {}
        for r in results:
            if r.get("type") != "rectanglelabels":
                continue
            rid = str(r.get("id", ""))
            if rid.startswith("f") and rid[1:].isdigit() and int(rid[1:]) in content["boxes"]:
                boxes[int(rid[1:])] = _box_px(r["value"], width, height)
            else:
                added += 1
        content["boxes"] = boxes
    return content, {"verdict": verdict, "reason": texts.get("reason", "").strip(),
                     "boxes_added": added}
