"""issue 14 end to end against a real Label Studio server: push a built dataset of each record
kind, annotate through the API as a reviewer would (accept, edit, reject), pull, and check the
shards, rejected.jsonl, the metadata index and the statistics; a second pull changes nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import binomtest
from test_quality import levenshtein

from geoscribe.shard_meta import read_metadata
from review_server import annotate, project_tasks, records_of, review_cli

BIN = Path(sys.executable).parent
GEOCHAT_BOX = re.compile(r"\{<(\d+)><(\d+)><(\d+)><(\d+)>\|<(-?\d+)>\}")


def set_text(results: list[dict], name: str, text: str) -> None:
    next(r for r in results if r["from_name"] == name)["value"]["text"] = [text]


def geochat_token(bbox: list[float], size: int, theta: int) -> str:
    """GeoChat's box text: corners in 0-100 of the image, then the angle."""
    x0, y0, x1, y1 = (round(v / size * 100) for v in bbox)
    return f"{{<{x0}><{y0}><{x1}><{y1}>|<{theta}>}}"


def edit(task: dict, recipe: str, record: dict) -> tuple[list[dict], dict]:
    """The reviewer's edits of a task for the recipe's kind: (results, the expected record)."""
    results = copy.deepcopy(task["predictions"][0]["result"])
    want = copy.deepcopy(record)
    set_text(results, "caption", "Reviewed: " + record["texts"]["caption"].lower())
    want["texts"]["caption"] = "Reviewed: " + record["texts"]["caption"].lower()
    if recipe == "rsvqa-like":
        i = next(i for i, q in enumerate(record["qa"]) if "answer_bool" in q)
        set_text(results, f"a{i}", "no" if record["qa"][i]["answer_bool"] else "yes")
        want["qa"][i]["answer"] = "no" if record["qa"][i]["answer_bool"] else "yes"
        want["qa"][i]["answer_bool"] = not record["qa"][i]["answer_bool"]
    if recipe == "geochat-like":
        last = len(record["conversations"]) - 1
        set_text(results, f"t{last}", "It is a small road.")
        want["conversations"][last]["value"] = "It is a small road."
        box = next(r for r in results if r.get("id") == "f0")
        box["value"].update(x=25.0, y=50.0, width=12.5, height=25.0)
        size = record["chip"]["width"]
        new = [size * 0.25, size * 0.5, size * 0.375, size * 0.75]
        old_token, new_token = (geochat_token(b, size, record["features"][0]["rotation_deg"])
                                for b in (record["features"][0]["bbox_px"], new))
        want["features"][0]["bbox_px"] = new
        for turn in want["conversations"]:
            turn["value"] = turn["value"].replace(old_token, new_token)
    return results, want


def digest(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted([*(out / "data").iterdir(), out / "rejected.jsonl",
                             out / "stats.json"])}


def _check_review_block(block: dict, before: dict, edited: dict[str, dict], n_acc: int,
                        n_rej: int) -> None:
    reviewed = n_acc + len(edited) + n_rej
    assert (block["reviewed"], block["accepted"], block["edited"], block["rejected"]) == \
        (reviewed, n_acc, len(edited), n_rej)
    assert block["acceptance_rate"] == pytest.approx(n_acc / reviewed)
    ci = binomtest(n_acc, reviewed).proportion_ci(method="wilson")
    assert block["acceptance_wilson95"] == pytest.approx([ci.low, ci.high], abs=1e-6)
    distances = [levenshtein(json.loads(before[k]["json"])["texts"]["caption"],
                             want["texts"]["caption"]) for k, want in edited.items()]
    assert block["mean_caption_edit_distance"] == pytest.approx(sum(distances) / len(distances))
    assert sum(g["reviewed"] for g in block["by_recipe"].values()) == reviewed
    assert sum(g["accepted"] for g in block["by_generator"].values()) == n_acc


@pytest.mark.parametrize("recipe", ["skyscript-like", "rsvqa-like", "geochat-like"])
def test_push_annotate_pull(label_studio, review_builds, tmp_path, recipe):
    """issue 14 (pull): edits applied exactly, rejects gone (in rejected.jsonl with the
    reason), accepted records marked, untouched records byte-identical, nothing duplicated,
    history kept, statistics right, the metadata index in step; a second pull changes
    nothing."""
    out = shutil.copytree(review_builds[recipe], tmp_path / "out")
    project = f"e2e-{recipe}"
    before = records_of(out)
    assert len(before) >= 6
    review_cli(label_studio, "push", str(out), "--project", project)
    tasks = project_tasks(label_studio, project)
    assert len(tasks) == len(before)
    accepted, (rejected, *_), edited = tasks[:2], tasks[2:3], {}
    for task in accepted:
        annotate(label_studio, task, task["predictions"][0]["result"], "accept")
    annotate(label_studio, rejected, rejected["predictions"][0]["result"], "reject",
             "the chip is mostly cloud")
    for task in tasks[3:5]:
        record = json.loads(before[task["data"]["key"]]["json"])
        results, edited[task["data"]["key"]] = edit(task, recipe, record)
        annotate(label_studio, task, results, "edit")
    pulled = review_cli(label_studio, "pull", str(out), "--project", project)
    assert "2 accepted, 2 edited, 1 rejected" in pulled.stdout
    after = records_of(out)
    touched = {t["data"]["key"] for t in tasks[:5]}
    assert set(after) == set(before) - {rejected["data"]["key"]}
    assert sum(len(read_metadata(p)) for p in (out / "data").glob("*.tar")) == len(after)
    for key in set(after) - touched:
        assert after[key] == before[key]  # every member, byte for byte
    for task in accepted:
        record = json.loads(after[task["data"]["key"]]["json"])
        assert record["review"]["status"] == "accepted"
        assert record | {"review": {}} == json.loads(before[task["data"]["key"]]["json"]) | {
            "review": {}}
    for key, want in edited.items():
        record = json.loads(after[key]["json"])
        assert record["review"]["status"] == "corrected"
        history = record["review"]["history"][0]
        assert history["reviewer"] == label_studio.user and history["time"]
        original = json.loads(before[key]["json"])
        assert history["before"]["texts.caption"] == original["texts"]["caption"]
        assert record | {"review": {}} == want | {"review": {}}
        assert after[key]["txt"].decode() == want["texts"]["caption"]
    lines = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [(e["id"], e["reason"], e["stage"]) for e in lines if e.get("stage") == "review"] \
        == [(rejected["data"]["key"], "the chip is mostly cloud", "review")]
    rows = {r["key"]: r for p in (out / "data").glob("*.tar") for r in read_metadata(p)}
    assert {rows[k]["review_status"] for k in edited} == {"corrected"}
    sizes = json.loads((out / "data" / "sizes.json").read_text())
    stats = json.loads((out / "stats.json").read_text())
    assert sum(sizes.values()) == stats["samples"] == len(after)
    _check_review_block(stats["review"], before, edited, 2, 1)
    card = (out / "README.md").read_text()  # the card states the review (issue 14 + 15)
    assert "expert-generated" in card.split("---", 2)[1]
    assert f"{len(edited) + 3}\nrecords reviewed, 2 accepted, 2 edited,\n1 rejected" in card
    assert f"{100 * 2 / 5:.1f} % (95 % Wilson interval" in card
    assert subprocess.run([str(BIN / "geoscribe"), "validate", str(out)],
                          capture_output=True).returncode == 0
    first = digest(out)
    review_cli(label_studio, "pull", str(out), "--project", project)
    assert digest(out) == first


def test_geochat_box_edit_moves_the_turn_tokens(label_studio, review_builds, tmp_path):
    """issue 14 (boxes): a moved rectangle's GeoChat tokens in the turns follow the new box."""
    out = shutil.copytree(review_builds["geochat-like"], tmp_path / "out")
    before = records_of(out)
    key, record = next((k, json.loads(s["json"])) for k, s in sorted(before.items())
                       if GEOCHAT_BOX.search(json.loads(s["json"])["conversations"][1]["value"]))
    review_cli(label_studio, "push", str(out), "--project", "e2e-boxes")
    task = next(t for t in project_tasks(label_studio, "e2e-boxes") if t["data"]["key"] == key)
    results = copy.deepcopy(task["predictions"][0]["result"])
    next(r for r in results if r.get("id") == "f0")["value"].update(x=25.0, y=50.0,
                                                                    width=12.5, height=25.0)
    annotate(label_studio, task, results, "edit")
    review_cli(label_studio, "pull", str(out), "--project", "e2e-boxes")
    fixed = json.loads(records_of(out)[key]["json"])
    text = " ".join(t["value"] for t in fixed["conversations"])
    assert [25, 50, 38, 75] in [[int(g) for g in m.groups()[:4]]
                                for m in GEOCHAT_BOX.finditer(text)]
    assert fixed["review"]["history"][0]["before"]["features[0].bbox_px"] == \
        record["features"][0]["bbox_px"]
