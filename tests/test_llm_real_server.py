"""`build-dataset rsteller-like --llm` against a real local LLM: llama-cpp-python serving
SmolLM2-135M-Instruct on loopback, through the openai client. Such a small model writes weak
prose; these tests check the pipeline (structured output, checks, cache, provenance), not the
prose: every kept text states only the facts (checked here independently), every other record
is rejected with a reason, nothing is lost, and a re-run makes no request."""

from __future__ import annotations

import hashlib
import json
import math
import re

import pytest

from conftest import run_cli
from geoscribe.resources import read_text
from test_cli_e2e import read_samples

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9, "ten": 10}


def _numbers(text: str) -> set[int]:
    found = {math.floor(float(n.replace(",", "")) + 0.5) for n in NUMBER.findall(text)}
    return found | {v for w, v in WORDS.items() if re.search(rf"\b{w}\b", text, re.I)}


def _args(scene, out, *extra):
    return ["build-dataset", "rsteller-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--limit", "6", "--workers", "1", "--no-progress", *extra]


@pytest.fixture(scope="module")
def real_build(scene, llama_server, tmp_path_factory):
    base = tmp_path_factory.mktemp("real-llm")
    llm = ["--llm", f"{llama_server.model}@{llama_server.base_url}", "--llm-cache",
           str(base / "cache.sqlite"), "--llm-rewrites", "1", "--llm-max-tokens", "200",
           "--llm-max-words", "60", "--llm-timeout", "120"]
    run_cli(*_args(scene, base / "plain"), check=True)
    result = run_cli(*_args(scene, base / "o", *llm), check=True, timeout=900)
    return base, llm, result


def test_real_llm_records_are_faithful_or_rejected(real_build):
    base, _, _ = real_build
    out = base / "o"
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    plain = {json.loads(s["json"])["id"] for s in read_samples(base / "plain")}
    kept = [json.loads(s["json"]) for s in read_samples(out)]
    lost = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    lost_records = [r for r in lost if r["kind"] == "record"]
    assert sorted([r["id"] for r in kept] + [r["id"] for r in lost_records]) == sorted(plain)
    assert all(r["reasons"][0].startswith("llm_") for r in lost_records)
    prompt_sha = hashlib.sha256(read_text("prompts", "llm", "rsteller_caption_v1.yaml")
                                .encode()).hexdigest()
    for record in kept:
        gen = record["generator"]
        assert (gen["kind"], gen["model"], gen["prompt_sha256"]) == ("llm", "smollm2",
                                                                      prompt_sha)
        elements = record["evidence"]["elements"]
        allowed = {math.floor(e[k] + 0.5) for e in elements for k in ("area_m2", "length_m")
                   if e.get(k) is not None}
        allowed |= set(record["evidence"]["counts"].values()) | {len(elements)}
        allowed |= {n for e in elements for a in e["attributes"] for n in _numbers(a)}
        for text in [record["texts"]["caption"], *record["texts"]["rewrites"]]:
            assert _numbers(text) <= allowed, (text, allowed)
            assert len(text.split()) <= 60
    stats = json.loads((out / "stats.json").read_text())["llm"]
    # the server refuses json_schema; auto mode falls back to its schema-constrained json_object
    assert stats["json_mode_used"] == "json_object"
    assert stats["requests"] >= len(plain) and stats["completion_tokens"] > 0
    assert stats["captioned"] == len(kept) and stats["records"] == len(plain)


def test_real_llm_rerun_makes_zero_requests(real_build, scene):
    base, llm, _ = real_build
    run_cli(*_args(scene, base / "again", *llm), check=True, timeout=900)
    stats = json.loads((base / "again" / "stats.json").read_text())["llm"]
    assert stats["requests"] == 0 and stats["cache_hits"] > 0
    for shard in sorted((base / "o" / "data").glob("*.tar")):
        assert shard.read_bytes() == (base / "again" / "data" / shard.name).read_bytes()
