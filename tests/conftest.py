"""Shared fixtures: the generated UTM scene and a runner for the real CLI entry points."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_server import llama_server  # noqa: F401  (session fixture: real local LLM server)
from nominatim_server import nominatim  # noqa: F401  (issue 18: loopback geocoder)
from review_server import label_studio, review_builds  # noqa: F401  (issue 14: Label Studio)
from scene import Scene, make_scene
from stac_server import stac_api  # noqa: F401  (issue 18: the loopback STAC API)

BIN = Path(sys.executable).parent
# issue 18: no test reaches the public geocoder (a place name not served by a test's fake
# fails on this closed loopback port instead)
os.environ.setdefault("GEOSCRIBE_GEOCODER_URL", "http://127.0.0.1:9")


def run_cli(*args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `build-dataset` or `geoscribe` (first arg) as a user would, capturing output."""
    cmd = [str(BIN / args[0]), *args[1:]]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} failed ({result.returncode}):\n{result.stderr}")
    return result


def digests(out: Path) -> dict[str, str]:
    """sha256 of every shard of a build output, by name."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").glob("*.tar"))}


@pytest.fixture(scope="session")
def scene(tmp_path_factory) -> Scene:
    return make_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="session")
def scene_missing_node(tmp_path_factory) -> Scene:
    return make_scene(tmp_path_factory.mktemp("scene_bad"), missing_node_way=True)


def build_args(scene: Scene, out: Path, *extra: str) -> list[str]:
    """The CLI call used by the end-to-end tests (PNG chips: lossless comparisons)."""
    return ["build-dataset", "skyscript-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--image-format", "png",
            "--chip-size", "128", "--min-chip-px", "128", "--unit-deg", "0.001",
            "--split-block-deg", "0.0015", "--split-fractions", "0.5,0.25,0.25", "--seed", "0",
            "--no-progress", *extra]


@pytest.fixture(scope="session")
def built(scene, tmp_path_factory) -> Path:
    """One finished build of the scene, shared by read-only tests."""
    out = tmp_path_factory.mktemp("built") / "out"
    run_cli(*build_args(scene, out, "--workers", "2"), check=True)
    return out


@pytest.fixture(scope="module")
def ray_cluster():
    """A real single-node Ray cluster (issue 19), started once for the module that uses it
    (tests/engine/test_ray_executor.py) and shut down after it, so no other test runs beside
    Ray's threads and processes; builds join it with --ray-address. Yields its address."""
    import ray

    for attempt in range(3):  # a start times out after 30 s on a very busy machine
        try:
            context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
