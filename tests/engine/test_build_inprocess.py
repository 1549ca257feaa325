"""The build engine in-process: rejected records, --limit, shard caps, YAML config."""

from __future__ import annotations

import errno
import json
import os
from collections import Counter

import pytest
import yaml

from conftest import build_args, run_cli
from geoscribe.builders import skyscript_like
from geoscribe.config import make_config
from geoscribe.engine.build import build
from geoscribe.errors import InputError
from geoscribe.report import summary_lines
from geoscribe.shards import ShardSink
from test_cli_e2e import read_samples


def _config(scene, out, **overrides):
    values = dict(recipe="skyscript-like", region=scene.bbox, out=out,
                  imagery=[str(scene.raster)], osm=[str(scene.osm)], workers=1,
                  image_format="png", chip_size=128, min_chip_px=128, unit_deg=0.001,
                  split_block_deg=0.0015, split_fractions=(0.5, 0.25, 0.25), progress=False)
    values.update(overrides)
    return make_config(**values)


def test_invalid_records_go_to_rejected_jsonl_never_to_shards(scene, tmp_path, monkeypatch):
    original = skyscript_like.SkyscriptBuilder._record

    def breaking(self, key, *args, **kwargs):
        record = original(self, key, *args, **kwargs)
        if record["features"][0]["tags"].get("building") == "house":
            record["chip"]["gsd_m"] = -1.0  # violates the schema (exclusiveMinimum 0)
        return record

    monkeypatch.setattr(skyscript_like.SkyscriptBuilder, "_record", breaking)
    out = tmp_path / "o"
    stats = build(_config(scene, out))
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    houses = [f for f in scene.features if f.tags.get("building") == "house"]
    assert rejected and stats["rejected"] == len(rejected) <= len(houses)
    assert all(any("gsd_m" in reason for reason in r["reasons"]) for r in rejected)
    written = {s["__key__"] for s in read_samples(out)}
    assert not written & {r["id"] for r in rejected}
    assert stats["samples"] == len(written)


def test_limit_caps_focus_features(scene, tmp_path):
    stats = build(_config(scene, tmp_path / "o", limit=5))
    assert stats["focus_candidates"] == 5
    assert 0 < stats["samples"] <= 5


def test_shard_cap_by_count(scene, tmp_path):
    out = tmp_path / "o"
    stats = build(_config(scene, out, shard_max_samples=3))
    for shard in (out / "data").glob("*.tar"):
        shard_stats = json.loads((out / "data" / f"{shard.stem}_stats.json").read_text())
        assert shard_stats["samples"] <= 3
    assert len(stats["shards"]) >= stats["samples"] // 3


def test_yaml_config_with_flag_override(scene, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"chip_size": 64, "min_chip_px": 64, "limit": 4}))
    out = tmp_path / "o"
    args = build_args(scene, out, "--config", str(config), "--limit", "3")
    args[args.index("--chip-size"):args.index("--chip-size") + 4] = []  # drop chip flags
    run_cli(*args, check=True)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["focus_candidates"] == 3  # the flag wins over the file
    record = json.loads(read_samples(out)[0]["json"])
    assert record["chip"]["width"] == 64  # the file's value is used


def test_changed_options_into_same_out_are_refused(scene, tmp_path):
    out = tmp_path / "o"
    build(_config(scene, out, limit=2))
    result = run_cli(*build_args(scene, out, "--limit", "3"))
    assert result.returncode == 2 and "other inputs or options" in result.stderr


def _fail_third_shard_write(monkeypatch, error: BaseException) -> tuple[list, list]:
    """Make the shard writer raise `error` at its third sample (after the first samples went
    to a shard's .tar.tmp); return the calls seen and the .tar.tmp files there then."""
    original = ShardSink.write_raw
    calls, partial = [], []

    def failing(self, members_bytes, unit):
        calls.append(unit)
        if len(calls) == 3:
            partial.extend(self.data_dir.glob("*.tar.tmp"))
            raise error
        return original(self, members_bytes, unit)

    monkeypatch.setattr(ShardSink, "write_raw", failing)
    return calls, partial


def test_disk_full_while_merging_is_one_line_and_leaves_no_partial_shard(
        scene, built, tmp_path, monkeypatch):
    """issue 10 case 11: ENOSPC from the shard writer (injected after the first samples went
    to a shard's .tar.tmp) is a one-line error naming --out; no *.tar.tmp is left behind, and
    the same build run again completes to the usual shards."""
    original = ShardSink.write_raw
    calls, partial = _fail_third_shard_write(
        monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    out = tmp_path / "o"
    with pytest.raises(InputError) as caught:
        build(_config(scene, out))
    message = str(caught.value)
    assert "\n" not in message and len(calls) == 3 and partial  # a shard was half-written
    assert message.startswith(f"--out {out}: disk full (No space left on device)")
    assert list((out / "data").glob("*.tar*")) == list((out / "data").glob("*.tar"))
    assert not list(out.rglob("*.tmp"))
    monkeypatch.setattr(ShardSink, "write_raw", original)
    stats = build(_config(scene, out))
    assert stats["samples"] > 0
    assert {p.name: p.read_bytes() for p in (out / "data").glob("*.tar")} == \
        {p.name: p.read_bytes() for p in (built / "data").glob("*.tar")}


def test_summary_names_the_splits_that_came_out_empty(scene, tmp_path):
    """issue 10 case 12: a small build whose val or test split is empty says so."""
    out = tmp_path / "o"
    stats = build(_config(scene, out, limit=2))
    counts = Counter(s["__shard__"].split("-")[0] for s in read_samples(out))
    empty = [split for split in ("train", "val", "test") if not counts[split]]
    assert empty and sum(counts.values()) > 0  # the case this test is about
    notes = [line for line in summary_lines(out, stats) if line.startswith("note:")]
    assert len(notes) == 1
    for split in ("train", "val", "test"):
        assert (f" {split} " in notes[0]) == (split in empty), notes[0]


def test_interrupt_while_merging_leaves_no_partial_shard(scene, built, tmp_path, monkeypatch):
    """issue 11 review (partial shards): an interrupt (here KeyboardInterrupt from the shard
    writer, after the first samples went to a shard's .tar.tmp) unwinds through the merger,
    which removes the shard it began; the same build then completes to the usual shards."""
    original = ShardSink.write_raw
    calls, partial = _fail_third_shard_write(monkeypatch, KeyboardInterrupt())
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        build(_config(scene, out))
    assert len(calls) == 3 and partial  # a shard was half-written when it came
    assert not list(out.rglob("*.tmp"))
    monkeypatch.setattr(ShardSink, "write_raw", original)
    build(_config(scene, out))
    assert {p.name: p.read_bytes() for p in (out / "data").glob("*.tar")} == \
        {p.name: p.read_bytes() for p in (built / "data").glob("*.tar")}


def test_complete_out_with_a_corrupt_stats_json_is_a_one_line_error(scene, tmp_path):
    """issue 11 review (one stats.json reader): a relaunch into a complete OUT whose
    stats.json is corrupt says so in one line instead of a JSON traceback."""
    out = tmp_path / "o"
    build(_config(scene, out, limit=2))
    (out / "stats.json").write_text('{"samples": 3,', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        build(_config(scene, out, limit=2))
    assert str(caught.value).startswith(f"{out / 'stats.json'}: invalid JSON (line 1")
    assert "\n" not in str(caught.value)
