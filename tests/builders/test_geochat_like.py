"""geochat-like end to end: boxes recomputed from the scene's UTM geometry."""

from __future__ import annotations

import json
import math
import re

import pytest
import shapely
from affine import Affine

from conftest import run_cli
from test_cli_e2e import read_samples

BOX = re.compile(r"\{<(\d+)><(\d+)><(\d+)><(\d+)>\|<(-?\d+)>\}")


@pytest.fixture(scope="module")
def grounded(scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("gnd") / "o"
    run_cli("build-dataset", "geochat-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--no-progress", check=True)
    return [json.loads(s["json"]) for s in read_samples(out)]


def _pixel_box(feature, transform: Affine, size: int):
    inv = ~transform
    pts = [inv @ xy for xy in feature.utm]
    geom = shapely.Point(pts[0]) if len(pts) == 1 else shapely.LineString(pts)
    if pts[0] == pts[-1] and len(pts) > 3:
        geom = shapely.Polygon(pts)
    return list(geom.intersection(shapely.box(0, 0, size, size)).bounds)  # clipped to the chip


def test_boxes_match_projected_geometry(grounded, scene):
    by_id = {(f.osm_type, f.osm_id): f for f in scene.features}
    checked = 0
    for record in grounded:
        size = record["chip"]["width"]
        transform = Affine(*record["chip"]["transform"])
        for feature in record["features"]:
            truth = by_id[(feature["osm_type"], feature["osm_id"])]
            if truth.osm_type == "node":
                continue
            expected = _pixel_box(truth, transform, size)
            assert feature["bbox_px"] == pytest.approx(expected, abs=1.0)
            if truth.utm[0] == truth.utm[-1]:
                assert feature["rotation_deg"] in (0, -90)  # the scene's polygons are upright
            else:  # a straight road: the angle of the segment in pixels (y down)
                (ax, ay), (bx, by) = (~transform @ xy for xy in truth.utm)
                assert feature["rotation_deg"] == round(math.degrees(math.atan2(by - ay,
                                                                                 bx - ax)))
            checked += 1
    assert checked > 5


def test_conversations_are_llava_turns_with_valid_geochat_boxes(grounded):
    for record in grounded:
        turns = record["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n[grounding]")
        boxes = {tuple(int(v) for v in m[:4]) for m in BOX.findall(turns[1]["value"])}
        size = record["chip"]["width"]
        expected = {tuple(max(0, min(100, round(v / size * 100))) for v in f["bbox_px"])
                    for f in record["features"][:6]}
        assert boxes == expected
        refers = [turns[i + 1]["value"] for i in range(2, len(turns), 2)
                  if "[refer]" in turns[i]["value"]]
        assert len(refers) == len(set(refers))  # each expression picks a different object


def test_one_image_token_in_the_first_human_turn(grounded):
    """issue 12 case 2: LLaVA's and GeoChat's trainers take one image feature per `<image>`
    token, so a one-image record carries exactly one, leading its first human turn."""
    for record in grounded:
        values = [t["value"] for t in record["conversations"]]
        assert sum(v.count("<image>") for v in values) == 1
        assert values[0].startswith("<image>\n") and len(values) > 2


def test_refer_expressions_fit_one_feature_of_the_record(grounded):
    """issue 17 case 7: every [refer] expression, evaluated against all features of its
    record (class from the tags, cell from the box centre, size from the area), fits one."""
    from test_rsvqa_like import _name

    from referring import fits

    asked = 0
    for record in grounded:
        size = record["chip"]["width"]
        for turn in record["conversations"]:
            if "[refer] " not in turn["value"]:
                continue
            expression = turn["value"].split("[refer] ")[1]
            fitting = [f for f in record["features"] if fits(
                expression, _name(f["tags"]), shapely.box(*f["bbox_px"]), f["area_m2"], size)]
            assert len(fitting) == 1, turn["value"]
            asked += 1
    assert asked > 5


def test_json_box_format(scene, tmp_path):
    out = tmp_path / "o"
    run_cli("build-dataset", "geochat-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--box-format", "json", "--no-progress", check=True)
    record = json.loads(read_samples(out)[0]["json"])
    refer = next(record["conversations"][i + 1]["value"]
                 for i in range(0, len(record["conversations"]), 2)
                 if "[refer]" in record["conversations"][i]["value"])
    box = json.loads(refer)
    assert len(box) == 4 and any(f["bbox_px"] == pytest.approx(box, abs=0.06)
                                 for f in record["features"])


def _llm_build(scene, out, fake, cache):
    run_cli("build-dataset", "geochat-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--no-progress", "--llm", f"m@{fake.base_url}", "--llm-cache", str(cache),
            check=True)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    return [json.loads(s["json"]) for s in read_samples(out)]


def test_llm_rewords_turns_keeping_every_box(grounded, scene, tmp_path):
    from llm_fake import FakeLLM

    fake = FakeLLM()
    try:
        records = _llm_build(scene, tmp_path / "o", fake, tmp_path / "c.sqlite")
    finally:
        fake.close()
    template = {r["id"]: r for r in grounded}
    reworded = 0
    for record in records:
        assert record["generator"]["prompt_id"] == "rewrite-conversation@v1"
        before = template[record["id"]]["conversations"]
        assert len(record["conversations"]) == len(before)
        for old, new in zip(before, record["conversations"], strict=True):
            assert new["from"] == old["from"]
            assert BOX.findall(new["value"]) == BOX.findall(old["value"])  # boxes untouched
            if "template_value" in new:
                reworded += 1
                assert new["template_value"] == old["value"] != new["value"]
                tag = re.compile(r"^(<image>\s*)?(\[[a-z]+\])?")
                assert tag.match(new["value"]).group(0) == tag.match(old["value"]).group(0)
            else:
                assert new["value"] == old["value"]
        assert record["generator"]["turns_reworded"] == sum(
            "template_value" in t for t in record["conversations"])
    assert reworded > 0


def test_llm_turn_that_moves_a_box_keeps_the_template(scene, tmp_path):
    from llm_fake import FakeLLM, faithful_reply

    def move_boxes(request: dict) -> str:  # an LLM that shifts every box by one
        reply = json.loads(faithful_reply(request))
        def shifted(m: re.Match) -> str:
            x0, y0, x1, y1, theta = m.groups()
            return f"{{<{int(x0) + 1}><{y0}><{x1}><{y1}>|<{theta}>}}"

        reply["turns"] = [BOX.sub(shifted, t) for t in reply["turns"]]
        return json.dumps(reply)

    fake = FakeLLM(responder=move_boxes)
    try:
        records = _llm_build(scene, tmp_path / "o", fake, tmp_path / "c.sqlite")
    finally:
        fake.close()
    rejected = [json.loads(line) for line in
                (tmp_path / "o" / "rejected.jsonl").read_text().splitlines()]
    boxed = [r for r in rejected if r["role"] == "turn"]
    assert boxed and all(r["reasons"] == ["boxes_changed"] for r in boxed)
    for record in records:  # turns with boxes kept their template text
        for turn in record["conversations"]:
            if BOX.search(turn.get("template_value", "")):
                raise AssertionError(f"a turn with a moved box was kept: {turn}")
