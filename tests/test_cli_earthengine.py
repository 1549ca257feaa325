"""engine/live_inputs through the real CLI: `--imagery earthengine:COLLECTION` against the
loopback Earth Engine fake (tests/ee_server.py), issue 18."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import shapely

from conftest import BIN, run_cli
from ee_server import COLLECTION, TOKEN, FakeImage, serve_fake
from geoscribe.engine.live_inputs import region_cells
from geoscribe.region import parse_region


@pytest.fixture
def ee_fake(scene, tmp_path, monkeypatch):
    """The loopback Earth Engine fake (tests/ee_server.py) serving the scene's raster."""
    yield from serve_fake(scene, tmp_path, monkeypatch)


IMAGE_URI = f"earthengine:{COLLECTION}/20240501T101031_T17RLN"


def args(scene, out: Path, cache: Path, imagery: list[str], *extra: str) -> list[str]:
    """A skyscript-like build of the scene (PNG chips: lossless comparisons)."""
    return ["build-dataset", "skyscript-like", f"--region={scene.bbox}", "--out", str(out),
            *[arg for spec in imagery for arg in ("--imagery", spec)], "--osm", str(scene.osm),
            "--image-format", "png", "--chip-size", "128", "--min-chip-px", "128",
            "--unit-deg", "0.002", "--split-block-deg", "0.0015", "--split-fractions",
            "0.5,0.25,0.25", "--seed", "0", "--no-progress", "--workers", "1",
            "--cache-dir", str(cache), *extra]


def ee_args(fake, scene, out: Path, cache: Path, *extra: str) -> list[str]:
    return args(scene, out, cache, [f"earthengine:{COLLECTION}"], "--ee-url", fake.url,
                "--ee-project", "test-project", "--ee-scale", "0.5", *extra)


def samples(out: Path) -> dict[str, dict[str, bytes]]:
    """Every sample of OUT's shards: key -> {extension: bytes}."""
    found: dict[str, dict[str, bytes]] = {}
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                found.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return found


def without_imagery(record: dict) -> dict:
    """A record without what names its imagery (`image`, the imagery's provenance entry and
    the licenses): the rest must match."""
    data = {key: value for key, value in record.items() if key != "image"}
    provenance = dict(data.pop("provenance"))
    provenance["sources"] = [s for s in provenance["sources"] if s["kind"] != "imagery"]
    provenance.pop("licenses")
    return {**data, "provenance": provenance}


def test_build_equals_the_same_geotiffs_as_files(ee_fake, scene, tmp_path):
    """issue 18 (earthengine): a build from Earth Engine gives the same samples (image bytes,
    texts, boxes) as a build on the GeoTIFFs it fetched given as local files; records name
    the image by its Earth Engine id, never the cache path; stats count the requests."""
    cache = tmp_path / "cache"
    run_cli(*ee_args(ee_fake, scene, tmp_path / "ee", cache), check=True)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    geotiffs = [p for p in sorted((cache / "earthengine").rglob("*"))
                if p.is_file() and p.read_bytes()[:4] in (b"II*\0", b"MM\0*")]
    for i, path in enumerate(geotiffs):  # the replies of computePixels
        shutil.copy(path, tiles / f"tile{i:03d}.tif")
    run_cli(*args(scene, tmp_path / "local", cache, [str(tiles)]), check=True)
    local_stats = json.loads((tmp_path / "local" / "stats.json").read_text())
    assert len(local_stats["inputs"]["imagery"]) == len(geotiffs)
    assert not local_stats["inputs"]["imagery_failed"]
    ee_samples, local_samples = samples(tmp_path / "ee"), samples(tmp_path / "local")
    assert ee_samples and sorted(ee_samples) == sorted(local_samples)
    for key, parts in ee_samples.items():
        assert parts["png"] == local_samples[key]["png"], key
        ee_record = json.loads(parts["json"])
        local_record = json.loads(local_samples[key]["json"])
        assert ee_record["image"]["uri"] == IMAGE_URI
        assert ee_record["image"]["acquired"] == "2024-05-01"
        assert ee_record["provenance"]["sources"][0]["uri"] == IMAGE_URI
        assert without_imagery(ee_record) == without_imagery(local_record)
    stats = json.loads((tmp_path / "ee" / "stats.json").read_text())
    remote = stats["remote"]["earthengine"]
    n_tiles = len(list(tiles.iterdir()))
    assert remote["requests"] == len(ee_fake.bodies("value:compute")) + n_tiles
    assert remote["cache_hits"] == 0 and remote["endpoint"] == ee_fake.url
    assert len(remote["images"]) == n_tiles
    assert [s["uri"] for s in stats["sources"] if s["kind"] == "imagery"] == [IMAGE_URI]
    assert str(cache) not in (tmp_path / "ee" / "stats.json").read_text()


def test_two_collections_add_up_their_counters(ee_fake, scene, tmp_path):
    """issue 18 mends case 3 (earthengine): with two `earthengine:` collections in one build,
    stats.json `remote.earthengine` adds up both collections' counters and tiles (it kept
    only the last one's): its requests are every request the fake answered."""
    second = "COPERNICUS/S2_FAKE_B"
    ee_fake.images[second] = FakeImage(scene.raster, index="20240601T101031_T17RLN",
                                       time_start=1717235431000)
    cache, out = tmp_path / "cache", tmp_path / "two"
    run_cli(*args(scene, out, cache, [f"earthengine:{COLLECTION}", f"earthengine:{second}"],
                  "--ee-url", ee_fake.url, "--ee-project", "test-project", "--ee-scale", "0.5"),
            check=True)
    remote = json.loads((out / "stats.json").read_text())["remote"]["earthengine"]
    values, pixels = ee_fake.bodies("value:compute"), ee_fake.bodies("image:computePixels")
    assert remote["requests"] == len(values) + len(pixels) and remote["cache_hits"] == 0
    per_collection = {name: sum(1 for b in pixels if f"{name}/" in json.dumps(b))
                      for name in (COLLECTION, second)}
    assert min(per_collection.values()) > 0
    uris = [image["uri"] for image in remote["images"]]
    assert len(uris) == len(pixels) == sum(per_collection.values())
    assert {uri.rsplit("/", 1)[0] for uri in uris} == {f"earthengine:{COLLECTION}",
                                                        f"earthengine:{second}"}
    assert remote["collection"] == f"{COLLECTION}, {second}"


def test_rerun_makes_no_request_and_no_credential_shows(ee_fake, scene, tmp_path):
    """issue 18 (earthengine): the access token, the service account's key and the paths of
    the credentials and the cache appear in no output file nor on the terminal; building
    again (another OUT, same cache) asks nothing of the server and counts only cache hits."""
    cache, out = tmp_path / "cache", tmp_path / "a"
    result = run_cli(*ee_args(ee_fake, scene, out, cache), check=True)
    key = json.loads(Path(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    secrets = [TOKEN, key["private_key_id"], key["private_key"].splitlines()[1], "PRIVATE KEY",
               os.environ["GOOGLE_APPLICATION_CREDENTIALS"], str(cache)]
    assert ee_fake.auth_headers and all(TOKEN in h for h in ee_fake.auth_headers)
    for path in [p for p in out.rglob("*") if p.is_file()]:  # .geoscribe/run.json too
        data = path.read_bytes()
        if path.name == "run.json":  # its config records --cache-dir as the user gave it
            data = json.dumps(json.loads(data)["sources"]).encode()
        for secret in secrets:
            assert secret.encode() not in data, (path, secret)
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    seen = len(ee_fake.requests)
    run_cli(*ee_args(ee_fake, scene, tmp_path / "b", cache), check=True)
    assert len(ee_fake.requests) == seen
    remote = json.loads((tmp_path / "b" / "stats.json").read_text())["remote"]["earthengine"]
    assert remote["requests"] == 0 and remote["cache_hits"] > 0


def test_errors_are_one_line(ee_fake, scene, tmp_path):
    """issue 18 (earthengine): an unknown collection, quota errors past the retries and a dead
    endpoint each end the build with one line and exit 2."""
    cache = tmp_path / "cache"
    bad = args(scene, tmp_path / "bad", cache, ["earthengine:NO/SUCH"], "--ee-url", ee_fake.url,
               "--ee-project", "test-project", "--ee-scale", "0.5")
    result = run_cli(*bad)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "'NO/SUCH' not found" in result.stderr
    ee_fake.fail_next(100)
    result = run_cli(*ee_args(ee_fake, scene, tmp_path / "quota", cache))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "after 6 tries" in result.stderr and "Quota exceeded" in result.stderr
    ee_fake.failures.clear()
    dead = ee_args(ee_fake, scene, tmp_path / "dead", cache)
    dead[dead.index("--ee-url") + 1] = "http://127.0.0.1:9"
    result = run_cli(*dead)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "http://127.0.0.1:9" in result.stderr


def test_rerun_after_kill_repeats_no_answered_request(ee_fake, scene, tmp_path):
    """issue 18 (earthengine): a build killed (SIGKILL) while fetching keeps every reply it
    got; the re-run asks only for what was never answered, then builds."""
    answered = 6
    ee_fake.stall_after = answered
    cmd = ee_args(ee_fake, scene, tmp_path / "out", tmp_path / "cache")
    proc = subprocess.Popen([str(BIN / cmd[0]), *cmd[1:]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(ee_fake.bodies("image:computePixels")) <= answered:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)  # the answered replies reach the cache
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = [json.dumps(b, sort_keys=True) for b in ee_fake.bodies("image:computePixels")]
    n_values = len(ee_fake.bodies("value:compute"))
    ee_fake.stall_after = None
    ee_fake.release.set()
    run_cli(*cmd, check=True)
    again = [json.dumps(b, sort_keys=True)
             for b in ee_fake.bodies("image:computePixels")[len(first):]]
    assert len(ee_fake.bodies("value:compute")) == n_values  # every cell's answer was kept
    assert not set(first[:answered]) & set(again)
    assert len(again) == len(set(again))
    remote = json.loads((tmp_path / "out" / "stats.json").read_text())["remote"]["earthengine"]
    assert remote["requests"] == len(again)
    assert remote["cache_hits"] == n_values + len(remote["images"]) - len(again)


def test_region_cells_cover_the_region_and_the_chip_reach():
    """issue 18 (earthengine): the cells fetched are the unit-grid cells meeting the region,
    plus those a chip reaching `reach_m` beyond its edge would touch."""
    region = parse_region("-80.9995,29.825,-80.9985,29.826")  # inside cell (-81.0, 29.82)
    def rounded(cells):
        return [tuple(round(v, 9) for v in c) for c in cells]

    assert rounded(region_cells(region, 0.01, 0.0)) == [(-81.0, 29.82, -80.99, 29.83)]
    cells = rounded(region_cells(region, 0.01, 100.0))  # ~0.0016 deg with the reach margin
    assert sorted(cells) == [(-81.01, 29.82, -81.0, 29.83), (-81.0, 29.82, -80.99, 29.83)]
    assert all(shapely.box(*c).distance(region.geometry) < 0.002 for c in cells)
