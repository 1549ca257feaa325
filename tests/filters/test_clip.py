"""CLIP filter end to end with a RANDOMLY INITIALISED open_clip ViT-S-32 (no registry package
ships CLIP weights): the real code path, checked against open_clip used directly."""

from __future__ import annotations

import io
import json
import math

import open_clip  # the [clip] extra: `make test` installs it
import pytest
import torch
from PIL import Image

from conftest import run_cli
from test_cli_e2e import read_samples

MODEL = "ViT-S-32"


def _build(scene, out, *extra):
    run_cli("build-dataset", "skyscript-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--clip", f"{MODEL}:random", "--clip-workers", "0", "--no-progress", *extra,
            check=True)
    return {s["__key__"]: s for s in read_samples(out)}


@pytest.fixture(scope="module")
def reference_model():
    torch.manual_seed(0)  # the scorer's documented seed for random initialisation
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL, pretrained=None)
    return model.eval(), preprocess, open_clip.get_tokenizer(MODEL)


def _reference_score(reference_model, sample) -> float:
    model, preprocess, tokenizer = reference_model
    image = preprocess(Image.open(io.BytesIO(sample["jpg"])).convert("RGB")).unsqueeze(0)
    with torch.no_grad():
        a = torch.nn.functional.normalize(model.encode_image(image), dim=-1)
        b = torch.nn.functional.normalize(model.encode_text(tokenizer([sample["txt"].decode()])),
                                          dim=-1)
    return float((a * b).sum())


def test_random_init_clip_scores_match_open_clip_directly(scene, tmp_path, reference_model):
    samples = _build(scene, tmp_path / "o")
    assert samples
    for sample in samples.values():
        record = json.loads(sample["json"])
        assert record["scores"]["clip_model"] == f"{MODEL}:random"
        assert record["scores"]["clip"] == pytest.approx(
            _reference_score(reference_model, sample), abs=1e-4)
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["filters"]["scored"] == len(samples)


def test_random_init_clip_keep_fraction_keeps_the_top_scores(scene, tmp_path):
    full = _build(scene, tmp_path / "all")
    scores = {k: json.loads(s["json"])["scores"]["clip"] for k, s in full.items()}
    kept = _build(scene, tmp_path / "half", "--clip-keep-fraction", "0.5")
    expected = sorted(scores, key=lambda k: (-scores[k], k))[:math.ceil(0.5 * len(scores))]
    assert set(kept) == set(expected)
    dropped = [json.loads(line) for line in
               (tmp_path / "half" / "dropped.jsonl").read_text().splitlines()]
    assert {d["id"] for d in dropped} == set(scores) - set(expected)
    assert all(d["reason"] == "clip_outside_top_fraction" for d in dropped)
    assert min(scores[k] for k in kept) >= max(d["clip"] for d in dropped)
    stats = json.loads((tmp_path / "half" / "stats.json").read_text())
    assert stats["skipped"]["clip_outside_top_fraction"] == len(dropped)
    assert stats["samples"] == len(kept)


def test_random_init_clip_min_score_and_rescore_in_place(scene, tmp_path):
    out = tmp_path / "o"
    run_cli("build-dataset", "skyscript-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--no-progress", check=True)
    before = {s["__key__"] for s in read_samples(out)}
    assert all(json.loads(s["json"])["scores"]["clip"] is None for s in read_samples(out))
    result = run_cli("geoscribe", "score", str(out), "--clip", f"{MODEL}:random",
                     "--clip-workers", "2", "--no-progress", check=True)
    assert "built" in result.stdout
    rescored = {s["__key__"]: json.loads(s["json"]) for s in read_samples(out)}
    assert set(rescored) == before  # same keys, new shards
    scores = sorted(r["scores"]["clip"] for r in rescored.values())
    middle = len(scores) // 2
    threshold = (scores[middle - 1] + scores[middle]) / 2  # between two scores: no ties
    run_cli("geoscribe", "score", str(out), "--clip", f"{MODEL}:random", "--clip-min-score",
            str(threshold), "--clip-workers", "0", "--no-progress", check=True)
    kept = {s["__key__"]: json.loads(s["json"]) for s in read_samples(out)}
    assert kept and all(r["scores"]["clip"] >= threshold for r in kept.values())
    assert set(kept) == {k for k, r in rescored.items() if r["scores"]["clip"] >= threshold}
    dropped = (out / "dropped.jsonl").read_text().splitlines()
    assert len(dropped) == len(rescored) - len(kept)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0


def test_missing_checkpoint_is_a_one_line_error(scene, tmp_path):
    result = run_cli("build-dataset", "skyscript-like", f"--region={scene.bbox}", "--out",
                     str(tmp_path / "o"), "--imagery", str(scene.raster), "--osm",
                     str(scene.osm), "--clip", f"{MODEL}:/nowhere/weights.pt", "--no-progress")
    assert result.returncode == 2 and "/nowhere/weights.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_random_init_clip_scores_the_llm_caption(scene, tmp_path, reference_model):
    from llm_fake import FakeLLM, faithful_reply

    def reworded(request: dict) -> str:  # an LLM caption that differs from the template's
        reply = json.loads(faithful_reply(request))
        reply["caption"] = "Seen from high above: " + reply["caption"][0].lower() + \
            reply["caption"][1:]
        return json.dumps(reply)

    fake = FakeLLM(responder=reworded)
    try:
        samples = _build(scene, tmp_path / "o", "--llm", f"m@{fake.base_url}", "--llm-cache",
                         str(tmp_path / "c.sqlite"), "--clip-keep-fraction", "0.5")
    finally:
        fake.close()
    assert samples and fake.requests
    for sample in samples.values():
        record = json.loads(sample["json"])
        assert record["generator"]["kind"] == "llm"
        assert sample["txt"].decode() == record["texts"]["caption"]
        assert record["texts"]["caption"].startswith("Seen from high above: ")
        assert record["scores"]["clip"] == pytest.approx(
            _reference_score(reference_model, sample), abs=1e-4)
    dropped = (tmp_path / "o" / "dropped.jsonl").read_text().splitlines()
    assert len(dropped) == len(samples) or len(dropped) == len(samples) - 1
