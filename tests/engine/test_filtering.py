"""Run-wide deduplication in the build: identical chips are dropped, one kept, listed."""

from __future__ import annotations

import json

from conftest import run_cli
from scene import Scene, SceneFeature, scene_features, write_osm
from test_cli_e2e import read_samples


def test_dedup_drops_exact_duplicates_and_lists_them(scene, tmp_path):
    features = scene_features()
    original = features[0]
    twin = SceneFeature("way", 8888, dict(original.tags), list(original.utm))
    osm = tmp_path / "twins.osm"
    write_osm(osm, [*features[:-1], twin, features[-1]])  # way ids stay sorted
    twins = Scene(scene.raster, osm)
    out, plain = tmp_path / "dedup", tmp_path / "plain"
    for folder, extra in ((plain, ()), (out, ("--dedup",))):
        run_cli("build-dataset", "skyscript-like", f"--region={twins.bbox}", "--out",
                str(folder), "--imagery", str(scene.raster), "--osm", str(osm),
                "--split-block-deg", "1", "--no-progress", *extra, check=True)
    before = {s["__key__"] for s in read_samples(plain)}
    after = {s["__key__"] for s in read_samples(out)}
    pair = {k for k in before if "_w1000_" in k or "_w8888_" in k}
    assert len(pair) == 2 and len(after & pair) == 1
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert [d["id"] for d in dropped] == sorted(pair - after)
    assert dropped[0]["reason"] == f"duplicate_exact_of:{next(iter(after & pair))}"
    assert before - after == pair - after  # nothing else was dropped
    stats = json.loads((out / "stats.json").read_text())
    assert stats["skipped"]["duplicate_exact_of"] == 1 and stats["samples"] == len(after)
