"""The build engine in-process: rejected records, --limit, shard caps, YAML config."""

from __future__ import annotations

import json

import yaml

from conftest import build_args, run_cli
from geoscribe.builders import skyscript_like
from geoscribe.config import make_config
from geoscribe.engine.build import build
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
