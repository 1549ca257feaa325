"""LLMStage (engine/llm_stage.py) on real rsvqa-like records in unit part tars, against the
fault-injecting server of tests/llm_fake.py: LLM parts, then the marker, written last; a unit
with a marker is skipped; a unit whose request failed writes nothing."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from conftest import run_cli
from geoscribe.engine import units as unit_stage
from geoscribe.engine.llm_stage import LLM_MARKER, LLMStage
from geoscribe.engine.units import Unit, unit_dir
from geoscribe.errors import GeoscribeError
from geoscribe.shards import UnitPartWriter
from geoscribe.text.llm_client import LLMClient
from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec
from geoscribe.text.llm_tasks import tag_vocabulary
from llm_fake import FakeLLM
from test_cli_e2e import read_samples
from test_llm_e2e import tile_args

UNITS = [Unit(ix, 0, 0.01) for ix in range(3)]


@pytest.fixture(scope="module")
def samples(scene, tmp_path_factory) -> list[dict]:
    """Samples of a real rsvqa-like build of the scene (records the schema accepts)."""
    out = tmp_path_factory.mktemp("plain") / "o"
    run_cli(*tile_args(scene, out), check=True)
    found = [{k: v for k, v in s.items() if k != "__shard__"} for s in read_samples(out)]
    assert len(found) >= 6
    return found[:9]


def _work(tmp_path: Path, samples: list[dict]) -> tuple[Path, dict[str, dict]]:
    """Part tars of three units (the samples dealt round-robin over units and splits) and
    their stats as the worker records them."""
    work = tmp_path / "work"
    unit_stats = {}
    for index, unit in enumerate(UNITS):
        writer = UnitPartWriter(unit_dir(work, unit))
        for n, sample in enumerate(samples[index::len(UNITS)]):
            writer.write(("train", "val", "test")[n % 3], sample)
        writer.commit()
        unit_stats[unit.name] = {
            "unit": unit.name, "samples": sum(writer.counts.values()),
            "samples_by_split": writer.counts, "ranges": writer.ranges,
            "skipped": {}, "seconds": 0.1}
    return work, unit_stats


def _stage(fake: FakeLLM, work: Path, cache: Path | None) -> LLMStage:
    settings = LLMSettings(spec=parse_llm_spec(f"fake-model@{fake.base_url}"), backoff_s=0.01,
                           max_retries=0, concurrency=2)
    return LLMStage(settings, LLMClient(settings, cache), set(tag_vocabulary()), work,
                    progress=False)


def _part_records(directory: Path) -> list[tuple[str, dict, bytes]]:
    found = []
    for part in sorted(directory.glob("llm-*.tar")):
        with tarfile.open(part) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name, data in members.items():
            if name.endswith(".json"):
                found.append((part.name, json.loads(data), members[name[:-4] + "txt"]))
    return found


@pytest.fixture
def fake():
    server = FakeLLM()
    yield server
    server.close()


def test_llm_parts_are_written_before_the_marker(samples, fake, tmp_path, monkeypatch):
    """issue 11: when a unit's marker is written, its LLM part tars and llm_rejected.jsonl
    are complete (no temporary files left); the marker's counts match the parts."""
    work, unit_stats = _work(tmp_path, samples)
    seen_at_marker = {}
    write = unit_stage.atomic_write_text  # the unit stage end (units.finish_unit) writes it

    def recording(path: Path, text: str, durable: bool = True) -> None:
        if path.name == LLM_MARKER:
            seen_at_marker[path.parent.name] = sorted(p.name for p in path.parent.iterdir())
        write(path, text, durable)

    monkeypatch.setattr(unit_stage, "atomic_write_text", recording)
    results = _stage(fake, work, tmp_path / "cache.sqlite").run(UNITS, unit_stats)
    assert len(fake.requests) == len(samples)
    for unit in UNITS:
        directory = unit_dir(work, unit)
        splits = [s for s, n in unit_stats[unit.name]["samples_by_split"].items() if n]
        assert seen_at_marker[unit.name] == sorted(
            [f"{s}.tar" for s in splits] + [f"llm-{s}.tar" for s in splits]
            + ["llm_rejected.jsonl"])
        marker = json.loads((directory / LLM_MARKER).read_text())
        assert marker == results[unit.name]
        parts = _part_records(directory)
        assert marker["samples"] == len(parts) == unit_stats[unit.name]["samples"]
        assert marker["part_prefix"] == "llm-"
        for _, record, txt in parts:
            assert record["generator"]["kind"] == "llm"
            assert txt.decode() == record["texts"]["caption"]
            assert record["texts"]["template_caption"]


def test_a_unit_with_a_marker_is_skipped(samples, fake, tmp_path):
    """issue 11: a second run asks nothing for units whose marker and parts are whole, and
    reports the same results."""
    work, unit_stats = _work(tmp_path, samples)
    first = _stage(fake, work, None).run(UNITS, unit_stats)
    asked = len(fake.requests)
    parts = {p: p.read_bytes() for p in sorted(work.rglob("llm-*.tar"))}
    second_stage = _stage(fake, work, None)  # no cache: any request would reach the server
    assert second_stage.run(UNITS, unit_stats) == first
    assert len(fake.requests) == asked
    assert {p: p.read_bytes() for p in sorted(work.rglob("llm-*.tar"))} == parts
    assert second_stage.stats.captioned == sum(r["samples"] for r in first.values())


def test_a_unit_whose_request_failed_writes_nothing_and_is_asked_again(samples, fake,
                                                                        tmp_path):
    """issue 11: a failed request leaves its unit without marker or LLM parts (the others
    finish); the re-run asks only what was not answered (the rest comes from the cache)."""
    work, unit_stats = _work(tmp_path, samples)
    fake.script = [{"status": 500, "message": "injected"}]
    stage = _stage(fake, work, tmp_path / "cache.sqlite")
    with pytest.raises(GeoscribeError, match="1 of"):
        stage.run(UNITS, unit_stats)
    without = [u for u in UNITS if not (unit_dir(work, u) / LLM_MARKER).exists()]
    assert len(without) == 1
    directory = unit_dir(work, without[0])
    assert not list(directory.glob("llm-*")) and not list(directory.glob("*.tmp"))
    asked = len(fake.requests)
    results = _stage(fake, work, tmp_path / "cache.sqlite").run(UNITS, unit_stats)
    assert len(fake.requests) == asked + 1
    assert all((unit_dir(work, u) / LLM_MARKER).exists() for u in UNITS)
    assert sum(r["samples"] for r in results.values()) == len(samples)


def _llm_stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())["llm"]


def test_a_rebuild_against_another_server_asks_it_again(scene, tmp_path):
    """issue 13 (the cache key includes the endpoint): OUT and the cache built with server A,
    then rebuilt (--overwrite, same cache) with server B: B is asked for every text and every
    record names B; A's replies are not attributed to B. The same endpoint with credentials in
    its URL resumes OUT (the output fingerprint holds the endpoint's public form)."""
    a, b = FakeLLM(), FakeLLM()
    cache, out = tmp_path / "cache.sqlite", tmp_path / "o"
    try:
        run_cli(*tile_args(scene, out), "--llm", f"fake-model@{a.base_url}", "--llm-cache",
                str(cache), check=True)
        asked_a = len(a.requests)
        assert asked_a > 0 and _llm_stats(out)["requests"] == asked_a
        refused = run_cli(*tile_args(scene, out), "--llm", f"fake-model@{b.base_url}",
                          "--llm-cache", str(cache))
        assert refused.returncode == 2 and "--out" in refused.stderr  # not resumed silently
        run_cli(*tile_args(scene, out), "--llm", f"fake-model@{b.base_url}", "--llm-cache",
                str(cache), "--overwrite", check=True)
        assert len(b.requests) == asked_a and len(a.requests) == asked_a
        stats = _llm_stats(out)
        assert stats["requests"] == asked_a and stats["cache_hits"] == 0
        assert stats["endpoint"] == b.base_url
        kept = [json.loads(s["json"]) for s in read_samples(out)]
        assert kept and {r["generator"]["endpoint"] for r in kept} == {b.base_url}
        secret = b.base_url.replace("http://", "http://user:s3cret-pw@")
        run_cli(*tile_args(scene, out), "--llm", f"fake-model@{secret}", "--llm-cache",
                str(cache), check=True)  # resumed: the fingerprint holds the public endpoint
        assert len(b.requests) == asked_a  # nothing asked again
        assert "s3cret" not in (out / ".geoscribe" / "run.json").read_text()
    finally:
        a.close()
        b.close()
