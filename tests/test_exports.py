"""`geoscribe export` (issue 12 case 2): outputs of the generated scene exported as LLaVA,
GeoChat and RSVQA data, checked by the formats' own rules written here from the consumers'
code (LLaVA/GeoChat `preprocess_multimodal` and the conversation roles; GeoChat's demo parser
for `<p>phrase</p> {box}`; the RSVQA release's id links), not by geoscribe's code."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli

# GeoChat's box and grounded-phrase patterns (geochat_demo.py: extract_substrings splits at
# `</p>` and reads the integers; the box with its angle as the instruct data writes it)
GEOCHAT_BOX = re.compile(r"\{<(\d+)><(\d+)><(\d+)><(\d+)>\|<(-?\d+)>\}")
GEOCHAT_PHRASE = re.compile(r"<p>(.*?)\}(?!<)")
RSVQA_NAMES = {"presence": "presence", "comparison": "comp", "count": "count", "area": "area"}


def _build(scene, out: Path, recipe: str, *extra: str) -> Path:
    run_cli("build-dataset", recipe, f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg",
            "0.0015", "--split-fractions", "0.5,0.25,0.25", "--seed", "0", "--no-progress",
            *extra, check=True)
    return out


@pytest.fixture(scope="module")
def outputs(scene, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exp")
    return {
        "geochat-like": _build(scene, root / "gc", "geochat-like"),
        "geochat-json": _build(scene, root / "gj", "geochat-like", "--box-format", "json"),
        "rsvqa-like": _build(scene, root / "rv", "rsvqa-like"),
        "skyscript-like": _build(scene, root / "sk", "skyscript-like", "--chip-size", "128",
                                 "--min-chip-px", "128"),
    }


def _tar_samples(out: Path) -> dict[str, dict]:
    """key -> {split, image bytes, record}, read with tarfile."""
    found = {}
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                entry = found.setdefault(key, {"split": shard.name.split("-")[0]})
                data = tar.extractfile(member).read()
                if ext in ("jpg", "png"):
                    entry["image"] = data
                elif ext == "json":
                    entry["record"] = json.loads(data)
    return found


def _export(out: Path, fmt: str, dest: Path, *extra: str) -> Path:
    run_cli("geoscribe", "export", str(out), "--format", fmt, "--out", str(dest), *extra,
            check=True)
    return dest


def _check_llava_rules(entry: dict) -> None:
    """One `<image>` per sample, leading the first human turn; human/gpt alternate."""
    turns = entry["conversations"]
    assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and turns
    assert sum(t["value"].count("<image>") for t in turns) == 1
    assert turns[0]["value"].startswith("<image>\n")


def _check_export(dest: Path, truth: dict[str, dict]) -> list[dict]:
    entries = []
    for split_file in sorted(dest.glob("*.json")):
        for entry in json.loads(split_file.read_text()):
            _check_llava_rules(entry)
            key = Path(entry["image"]).stem
            assert truth[key]["split"] == split_file.stem
            image_path = dest / entry["image"]
            assert image_path.read_bytes() == truth[key]["image"]
            with Image.open(image_path) as img:
                img.verify()
            entries.append(entry)
    assert len(entries) == len(truth)  # every sample of every split
    return entries


@pytest.mark.parametrize("fmt", ["llava", "geochat"])
@pytest.mark.parametrize("recipe", ["geochat-like", "rsvqa-like", "skyscript-like"])
def test_chat_exports_follow_the_trainers_rules(outputs, tmp_path, recipe, fmt):
    """issue 12 case 2: every sample exports, with one image token, alternating turns, and
    its image file equal to the shard's bytes; QA items become turns, captions a pair."""
    truth = _tar_samples(outputs[recipe])
    entries = _check_export(_export(outputs[recipe], fmt, tmp_path / "d"), truth)
    for entry in entries:
        record = truth[Path(entry["image"]).stem]["record"]
        turns = entry["conversations"]
        if record.get("qa"):
            assert len(turns) == 2 * len(record["qa"])
            assert [t["value"] for t in turns[1::2]] == [str(q["answer"]) for q in record["qa"]]
        elif not record.get("conversations"):
            assert turns[1]["value"] == record["texts"]["caption"]
        else:
            assert len(turns) == len(record["conversations"])


def _grid(bbox_px, size: int) -> tuple[int, ...]:
    return tuple(max(0, min(100, round(v / size * 100))) for v in bbox_px)


@pytest.mark.parametrize("variant", ["geochat-like", "geochat-json"])
def test_geochat_export_boxes_and_phrases_parse_with_geochats_patterns(outputs, tmp_path,
                                                                       variant):
    """issue 12 case 2: GeoChat's parser finds a `<p>phrase</p>` before every box of a
    grounded answer; boxes are on the 0-100 grid (pixel JSON boxes converted) and are the
    record features' boxes; [refer] requests carry their phrase in `<p>`."""
    truth = _tar_samples(outputs[variant])
    entries = _check_export(_export(outputs[variant], "geochat", tmp_path / "d"), truth)
    grounded = 0
    for entry in entries:
        record = truth[Path(entry["image"]).stem]["record"]
        size = record["chip"]["width"]
        feature_boxes = {_grid(f["bbox_px"], size): f["rotation_deg"]
                         for f in record["features"]}
        for turn in entry["conversations"]:
            for *corners, theta in GEOCHAT_BOX.findall(turn["value"]):
                box = tuple(int(v) for v in corners)
                assert all(0 <= v <= 100 for v in box) and -90 <= int(theta) < 90
                assert feature_boxes[box] == int(theta)
            assert "[" + "0." not in turn["value"]  # no pixel JSON box left
        answer = entry["conversations"][1]["value"]
        phrases = GEOCHAT_PHRASE.findall(answer)
        assert len(phrases) == len(GEOCHAT_BOX.findall(answer)) > 0
        for found in phrases:
            name, box = found.split("</p>")
            assert name.strip() and len(re.findall(r"-?\d+", box)) == 5
        grounded += 1
        refers = [t["value"] for t in entry["conversations"] if "[refer]" in t["value"]]
        assert all(re.search(r"<p>[^<]+</p>$", v) for v in refers)
    assert grounded == len(truth)


def test_rsvqa_export_links_ids_and_maps_types(outputs, tmp_path):
    """issue 12 case 2: RSVQA's three files per split link by id, the questions are the
    records' qa items (count, text, types under RSVQA's names), images are the shard's."""
    truth = _tar_samples(outputs["rsvqa-like"])
    dest = _export(outputs["rsvqa-like"], "rsvqa", tmp_path / "d", "--prefix", "LR")
    splits = {r["split"] for r in truth.values()}
    assert len(splits) >= 2
    for split in splits:
        images = json.loads((dest / f"LR_split_{split}_images.json").read_text())["images"]
        questions = {q["id"]: q for q in json.loads(
            (dest / f"LR_split_{split}_questions.json").read_text())["questions"]}
        answers = {a["id"]: a for a in json.loads(
            (dest / f"LR_split_{split}_answers.json").read_text())["answers"]}
        image_ids = {i["id"] for i in images}
        for qid, question in questions.items():
            assert question["img_id"] in image_ids and question["active"] is True
            assert all(answers[a]["question_id"] == qid for a in question["answers_ids"])
        for image in images:
            record = truth[image["original_name"]]["record"]
            assert record["split"] == split
            assert (dest / "Images_LR" / f"{image['id']}.jpg").read_bytes() == truth[
                image["original_name"]]["image"]
            asked = [questions[q] for q in image["questions_ids"]]
            assert all(q["img_id"] == image["id"] for q in asked)
            assert [q["question"] for q in asked] == [i["question"] for i in record["qa"]]
            assert [answers[q["answers_ids"][0]]["answer"] for q in asked] == [
                str(i["answer"]) for i in record["qa"]]
            assert Counter(q["type"] for q in asked) == Counter(
                RSVQA_NAMES.get(i["type"], i["type"]) for i in record["qa"])
        assert len(questions) == sum(len(r["record"]["qa"]) for r in truth.values()
                                     if r["split"] == split)
        assert len(answers) == len(questions)
    types = {q["type"] for f in dest.glob("*_questions.json")
             for q in json.loads(f.read_text())["questions"]}
    # which types a tile gets depends on its key's seed (keys hash the scene's temporary
    # path), so the set is compared with the records', mapped to RSVQA's names
    asked = {RSVQA_NAMES.get(q["type"], q["type"]) for r in truth.values()
             for q in r["record"].get("qa") or []}
    assert types == asked and "comparison" not in types


def test_old_records_with_an_image_token_per_turn_export_with_one(outputs, tmp_path):
    """issue 12 case 2: an output built before the one-`<image>` rule (every human turn
    starting with `<image>\\n`) exports with one token, in the first human turn."""
    old = tmp_path / "old"
    (old / "data").mkdir(parents=True)
    for shard in sorted((outputs["geochat-like"] / "data").glob("*.tar")):
        with tarfile.open(shard) as src, tarfile.open(old / "data" / shard.name, "w") as dst:
            for member in src.getmembers():
                data = src.extractfile(member).read()
                if member.name.endswith(".json"):
                    record = json.loads(data)
                    for turn in record["conversations"]:
                        if turn["from"] == "human" and "<image>" not in turn["value"]:
                            turn["value"] = "<image>\n" + turn["value"]
                    data = json.dumps(record).encode()
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
    truth = _tar_samples(old)
    assert all(sum("<image>" in t["value"] for t in r["record"]["conversations"]) > 1
               for r in truth.values())
    _check_export(_export(old, "llava", tmp_path / "d"), truth)


def test_split_option_exports_one_split(outputs, tmp_path):
    """issue 12 case 2: --split val writes val.json only, with the val samples."""
    truth = {k: v for k, v in _tar_samples(outputs["geochat-like"]).items()
             if v["split"] == "val"}
    dest = _export(outputs["geochat-like"], "llava", tmp_path / "d", "--split", "val")
    assert [p.name for p in dest.glob("*.json")] == ["val.json"]
    _check_export(dest, truth)


def _one_line_error(result, *needles: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert all(n in lines[0] for n in needles)


def test_export_errors_are_one_line(outputs, tmp_path):
    """issue 12 case 2: a non-empty DEST (kept as it was unless --overwrite), a folder that
    is not a geoscribe output, an unknown format: exit 2, one line naming the input."""
    out = outputs["skyscript-like"]
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    _one_line_error(run_cli("geoscribe", "export", str(out), "--format", "llava", "--out",
                            str(dest)), str(dest), "--overwrite")
    assert [p.name for p in dest.iterdir()] == ["mine.txt"]
    not_output = tmp_path / "notout"
    not_output.mkdir()
    _one_line_error(run_cli("geoscribe", "export", str(not_output), "--format", "llava",
                            "--out", str(tmp_path / "e")), str(not_output), "not a geoscribe")
    _one_line_error(run_cli("geoscribe", "export", str(out), "--format", "coco", "--out",
                            str(tmp_path / "f")), "--format", "coco")
    _one_line_error(run_cli("geoscribe", "export", str(out), "--format", "rsvqa", "--out",
                            str(tmp_path / "g")), "qa")
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()
    assert not (tmp_path / "g").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "notout"]  # no temporaries
    run_cli("geoscribe", "export", str(out), "--format", "llava", "--out", str(dest),
            "--overwrite", check=True)
    assert not (dest / "mine.txt").exists() and (dest / "train.json").exists()
