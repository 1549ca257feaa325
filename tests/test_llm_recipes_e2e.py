"""rsteller-like and chatearthnet-like with `--llm` (fault-injecting loopback server): the facts
sent are the record's evidence, as quoted JSON data; the texts kept state only those facts
(checked here with an independent number/class scan, not geoscribe's checker)."""

from __future__ import annotations

import hashlib
import json
import math
import re

import pytest

from builders.test_chatearthnet_like import cover  # noqa: F401  (module fixture: land-cover raster)
from conftest import run_cli
from geoscribe.resources import read_text
from llm_fake import FakeLLM, prompt_data
from test_cli_e2e import read_samples

NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _sha(*parts: str) -> str:
    return hashlib.sha256(read_text(*parts).encode()).hexdigest()


def _numbers(text: str) -> set[int]:
    return {round(float(n.replace(",", ""))) for n in NUMBER.findall(text)}


@pytest.fixture(scope="module")
def fake():
    server = FakeLLM()
    yield server
    server.close()


def test_rsteller_llm_captions_from_element_facts(scene, fake, tmp_path):
    out = tmp_path / "o"
    run_cli("build-dataset", "rsteller-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--no-progress", "--llm", f"m@{fake.base_url}", "--llm-cache",
            str(tmp_path / "c.sqlite"), "--llm-rewrites", "3", check=True)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    sent = {json.dumps(prompt_data(r["body"]["messages"]), sort_keys=True)
            for r in fake.requests}
    samples = read_samples(out)
    assert samples
    for sample in samples:
        record = json.loads(sample["json"])
        gen = record["generator"]
        assert gen["prompt_id"] == "rsteller-caption@v1"
        assert gen["prompt_sha256"] == _sha("prompts", "llm", "rsteller_caption_v1.yaml")
        assert gen["based_on"]["template_id"] == "rsteller-like@v1"
        elements = record["evidence"]["elements"]
        facts = record["evidence"]["llm_facts"]
        assert json.dumps(facts, sort_keys=True) in sent  # what the LLM was given
        assert [o["kind"] for o in facts["objects"]] == [e["name"] for e in elements]
        assert [o["position"] for o in facts["objects"]] == [e["position"] for e in elements]
        allowed = {math.floor(e[k] + 0.5) for e in elements for k in ("area_m2", "length_m")
                   if e.get(k) is not None}
        allowed |= {n for e in elements for a in e["attributes"] for n in _numbers(a)}
        allowed |= set(record["evidence"]["counts"].values()) | {len(elements)}
        texts = [record["texts"]["caption"], *record["texts"]["rewrites"]]
        assert len(texts) == 4 and sample["txt"].decode() == texts[0]
        for text in texts:
            assert _numbers(text) <= allowed, (text, allowed)


def test_chatearthnet_llm_captions_from_shares(cover, fake, tmp_path):  # noqa: F811
    out = tmp_path / "o"
    d = cover["dir"]
    run_cli("build-dataset", "chatearthnet-like", f"--region={cover['scene'].bbox}", "--out",
            str(out), "--imagery", str(cover["raster"]), "--labels", str(d / "aligned.tif"),
            "--class-map", str(d / "worldcover.yaml"), "--split-block-deg", "1",
            "--no-progress", "--llm", f"m@{fake.base_url}", "--llm-cache",
            str(tmp_path / "c.sqlite"), check=True)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    records = [json.loads(s["json"]) for s in read_samples(out)]
    assert records
    for record in records:
        assert record["generator"]["prompt_id"] == "chatearthnet-caption@v1"
        facts = record["evidence"]["llm_facts"]
        percentages = record["evidence"]["percentages"]
        assert {k: v["percent"] for k, v in facts["overall"].items()} == percentages
        assert {k: v["amount"] for k, v in facts["overall"].items()
                if "amount" in v} == record["evidence"]["share_words"]
        for region, shares in record["evidence"]["regions"].items():
            assert facts["regions"][region] == {
                k: int(v * 100 + 0.5) for k, v in shares.items() if v >= 0.01}
        allowed = set(percentages.values()) | {
            p for shares in facts["regions"].values() for p in shares.values()}
        for text in [record["texts"]["caption"], *record["texts"]["rewrites"]]:
            assert _numbers(text) <= allowed
            named = {name for name in percentages if name in text}
            assert named, text
