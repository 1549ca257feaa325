"""Issue 10 case 9: outputs never embed the builder's absolute or home paths. The demo's inputs
are named by canonical source ids; paths the user typed are kept as typed, so the same inputs
give the same bytes for every user, home folder, cache folder and working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN
from geoscribe.sources.registry_data import SOLARIS_WHEEL, cache_dir, fetch_members
from test_cli_e2e import read_samples

DEMO_ID = "pypi:solaris==0.4.0/solaris/data"


def run_in(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """The real CLI from `cwd` with `env`, failing the test on a non-zero exit."""
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def shard_bytes(out: Path) -> dict[str, bytes]:
    shards = {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.tar"))}
    assert shards
    return shards


def published_files(out: Path) -> list[Path]:
    """Everything under OUT but the builder's own work folder (.geoscribe/, which must keep
    the real paths to reopen the inputs on a resume)."""
    return [p for p in out.rglob("*")
            if p.is_file() and ".geoscribe" not in p.relative_to(out).parts]


def assert_never_named(out: Path, *folders: Path) -> None:
    for path in published_files(out):
        data = path.read_bytes()
        for folder in folders:
            assert str(folder).encode() not in data, (path, folder)


def user_env(home: Path, xdg: Path | None) -> dict:
    """A user whose home (and cache folder) is `home` (`xdg`)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GEOSCRIBE_CACHE", "XDG_CACHE_HOME", "HOME")}
    env["HOME"] = str(home)
    if xdg is not None:
        env["XDG_CACHE_HOME"] = str(xdg)
    return env


def seed_cache(cache: Path) -> None:
    """Give a user's cache the demo members (fetched once for the suite; linked, not copied)."""
    members = fetch_members(SOLARIS_WHEEL)
    root = cache_dir() / "registry"
    for path in members.values():
        target = cache / "registry" / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)


@pytest.mark.parametrize("recipe", ["skyscript-like", "counting-qa"])
def test_demo_is_the_same_bytes_under_any_home_and_cache(tmp_path, recipe):
    """issue 10 case 9: two users (HOME/.cache vs XDG_CACHE_HOME) build the demo: identical
    shards, records naming canonical source ids, no home or cache folder in any output."""
    home_a, home_b, xdg_b = tmp_path / "home_a", tmp_path / "home_b", tmp_path / "xdg_b"
    seed_cache(home_a / ".cache" / "geoscribe")
    seed_cache(xdg_b / "geoscribe")
    home_b.mkdir()
    outs = []
    for name, env in (("a", user_env(home_a, None)), ("b", user_env(home_b, xdg_b))):
        out = tmp_path / name / "out"
        out.parent.mkdir()
        run_in(out.parent, env, "build-dataset", recipe, "--region", "demo", "--out", "out",
               "--no-progress")
        outs.append(out)
    assert (home_a / ".cache" / "geoscribe" / "registry").exists()
    assert not (home_b / ".cache").exists()  # the second user's cache is XDG_CACHE_HOME's
    assert shard_bytes(outs[0]) == shard_bytes(outs[1])
    for out in outs:
        assert_never_named(out, home_a, home_b, xdg_b, tmp_path)
    records = [json.loads(s["json"]) for s in read_samples(outs[0])]
    uris = {r["image"]["uri"] for r in records}
    assert uris <= {f"{DEMO_ID}/sample_geotiff.tif", f"{DEMO_ID}/road_mask_input.tif"}
    sources = {s["uri"] for r in records for s in r["provenance"]["sources"]}
    if recipe == "counting-qa":
        assert f"{DEMO_ID}/sample_inst_mask.tif#instance-ids" in sources
    else:
        assert f"{DEMO_ID}/geotiff_labels.geojson" in sources
    stats = json.loads((outs[0] / "stats.json").read_text())
    assert {i["path"] for i in stats["inputs"]["imagery"]} == {
        f"{DEMO_ID}/sample_geotiff.tif", f"{DEMO_ID}/road_mask_input.tif"}
    assert run_in(tmp_path, user_env(home_a, None), "geoscribe", "validate", str(outs[0]))


def test_relative_inputs_stay_relative_from_any_working_directory(scene, tmp_path):
    """issue 10 case 9: --imagery (a folder and a glob) and --osm given relative to the working
    directory, from two different parents: identical shards that name the paths as typed."""
    outs = []
    for name, imagery in (("one", "inputs"), ("two", "inputs/*.tif")):
        work = tmp_path / name / "project"
        (work / "inputs").mkdir(parents=True)
        shutil.copy(scene.raster, work / "inputs" / "scene.tif")
        shutil.copy(scene.osm, work / "inputs" / "scene.osm")
        run_in(work, dict(os.environ), "build-dataset", "skyscript-like",
               f"--region={scene.bbox}", "--out", "out", "--imagery", imagery,
               "--osm", "inputs/scene.osm", "--chip-size", "128", "--min-chip-px", "128",
               "--unit-deg", "0.001", "--split-block-deg", "0.0015", "--seed", "0",
               "--no-progress")
        outs.append(work / "out")
        assert_never_named(work / "out", work, tmp_path)
    assert shard_bytes(outs[0]) == shard_bytes(outs[1])
    record = json.loads(read_samples(outs[0])[0]["json"])
    assert record["image"]["uri"] == "inputs/scene.tif"
    assert [s["uri"] for s in record["provenance"]["sources"]] == [
        "inputs/scene.tif", "inputs/scene.osm"]
    stats = json.loads((outs[0] / "stats.json").read_text())
    assert list(stats["inputs"]["vectors"]) == ["inputs/scene.osm"]
