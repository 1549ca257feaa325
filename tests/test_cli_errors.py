"""Bad input: one-line errors naming the input, no traceback, no partial shard; partial
bad input is skipped, counted in stats.json, and the rest is built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import build_args, run_cli


def assert_one_line_error(result, *needles: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def no_shards(out: Path) -> bool:
    return not list(out.glob("data/*.tar"))


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def test_missing_imagery_path(scene, tmp_path):
    missing = str(tmp_path / "nope.tif")
    args = _replace(build_args(scene, tmp_path / "o"), "--imagery", missing)
    result = run_cli(*args)
    assert_one_line_error(result, "nope.tif", "not found")
    assert no_shards(tmp_path / "o")


def test_unreadable_raster(scene, tmp_path):
    bad = tmp_path / "garbage.tif"
    bad.write_bytes(b"this is not a tiff" * 100)
    args = _replace(build_args(scene, tmp_path / "o"), "--imagery", str(bad))
    assert_one_line_error(run_cli(*args), "garbage.tif")
    assert no_shards(tmp_path / "o")


def test_malformed_osm(scene, tmp_path):
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node id='1' lat='x'", encoding="utf-8")
    args = _replace(build_args(scene, tmp_path / "o"), "--osm", str(bad))
    assert_one_line_error(run_cli(*args), "broken.osm")
    assert no_shards(tmp_path / "o")


@pytest.mark.parametrize("region", ["1,2,3", "a,b,c,d", "10,10,5,5", "Springfield"])
def test_invalid_region(scene, tmp_path, region):
    args = [a if not a.startswith("--region=") else f"--region={region}"
            for a in build_args(scene, tmp_path / "o")]
    assert_one_line_error(run_cli(*args), "--region")
    assert no_shards(tmp_path / "o")


def test_western_longitude_region_parses_and_outside_imagery_is_an_error(scene, tmp_path):
    args = [a if not a.startswith("--region=") else "--region=-81.99,29.68,-81.98,29.69"
            for a in build_args(scene, tmp_path / "o")]
    assert_one_line_error(run_cli(*args), "-81.99,29.68,-81.98,29.69", "outside the imagery")
    assert no_shards(tmp_path / "o")


def test_geojson_region(scene, tmp_path):
    lon0, lat0, lon1, lat1 = (float(v) for v in scene.bbox.split(","))
    region = tmp_path / "region.geojson"
    region.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
            [lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]]}}]}))
    args = [a if not a.startswith("--region=") else f"--region={region}"
            for a in build_args(scene, tmp_path / "o")]
    run_cli(*args, check=True)
    assert json.loads((tmp_path / "o" / "stats.json").read_text())["samples"] > 0


def test_bad_file_among_good_is_skipped_and_counted(scene, tmp_path):
    imagery = tmp_path / "imagery"
    imagery.mkdir()
    shutil.copy(scene.raster, imagery / "good.tif")
    (imagery / "zz_bad.tif").write_bytes(b"\x00" * 4096)
    args = _replace(build_args(scene, tmp_path / "o"), "--imagery", str(imagery))
    run_cli(*args, check=True)
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["samples"] > 0
    assert any(k.startswith("imagery_unreadable:") and k.endswith("zz_bad.tif")
               for k in stats["skipped"])


def test_way_with_missing_nodes_is_skipped_and_counted(scene_missing_node, tmp_path):
    run_cli(*build_args(scene_missing_node, tmp_path / "o"), check=True)
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    key = f"osm_way_missing_nodes:{scene_missing_node.osm}"
    assert stats["skipped"].get(key) == 1
    assert stats["samples"] > 0


def test_truncated_raster_fails_per_chip_not_per_run(scene, tmp_path):
    """A file whose header is intact but whose tail is lost: chips there are counted."""
    truncated = tmp_path / "truncated.tif"
    data = scene.raster.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    args = _replace(build_args(scene, tmp_path / "o"), "--imagery", str(truncated))
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert stats["skipped"].get(f"read_error:{truncated}", 0) > 0
    assert stats["samples"] > 0


def test_no_vector_input(scene, tmp_path):
    args = build_args(scene, tmp_path / "o")
    i = args.index("--osm")
    del args[i:i + 2]
    assert_one_line_error(run_cli(*args), "--osm")


def test_unknown_recipe(scene, tmp_path):
    args = build_args(scene, tmp_path / "o")
    args[1] = "no-such-recipe"
    assert_one_line_error(run_cli(*args), "no-such-recipe")


def test_help_explains_itself():
    result = run_cli("build-dataset", "--help", check=True)
    for word in ("--region", "--imagery", "--osm", "--labels", "--workers", "--limit", "demo"):
        assert word in result.stdout
