"""A killed run resumes to output identical to an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import shapely
import shapely.geometry

from conftest import BIN, build_args, digests, run_cli
from geoscribe.resources import read_text
from scene import copy_scene, write_raster


def kill_after_two_units(args: list[str], out: Path) -> list[Path]:
    """Start a build with slowed units, kill it once two units are done; their markers."""
    cmd = [str(BIN / args[0]), *args[1:]]
    env = dict(os.environ, GEOSCRIBE_TEST_UNIT_DELAY="0.3")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    units = out / ".geoscribe" / "units"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(units.glob("*/done.json"))) < 2:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(units.glob("*/done.json"))
    assert len(done) >= 2
    assert not (out / "stats.json").exists(), "run finished before it could be killed"
    return done


def test_killed_run_resumes_to_identical_output(scene, built, tmp_path):
    out = tmp_path / "killed"
    args = build_args(scene, out, "--workers", "1")
    done_before = len(kill_after_two_units(args, out))
    result = run_cli(*args, check=True)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units"]["resumed"] == done_before
    assert digests(out) == digests(built)
    assert "already complete" not in result.stdout


def test_a_finished_unit_whose_part_was_cut_short_is_built_again(scene, built, tmp_path):
    out = tmp_path / "cut"
    args = build_args(scene, out, "--workers", "1")
    done = kill_after_two_units(args, out)
    # what a power loss can leave: the marker on disk, its part tar's data not (all of) it
    marker = next(m for m in done if json.loads(m.read_text())["samples"] > 0)
    split = next(s for s, n in json.loads(marker.read_text())["samples_by_split"].items() if n)
    part = marker.parent / f"{split}.tar"
    part.write_bytes(part.read_bytes()[:1024])
    run_cli(*args, check=True)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units"]["resumed"] == len(done) - 1  # the cut unit was built again
    assert digests(out) == digests(built)


def _refused(result, name: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: changed since"), lines
    assert "--overwrite" in lines[0]


def test_same_size_raster_swapped_after_a_kill_is_refused_then_rebuilt_with_overwrite(
        scene, tmp_path):
    """issue 10 case 4: a relaunch notices a raster of the same size with other pixels, names
    it, and `--overwrite` rebuilds the output to exactly a fresh build of the new raster."""
    own = copy_scene(scene, tmp_path / "in")
    out = tmp_path / "o"
    args = build_args(own, out, "--workers", "1")
    kill_after_two_units(args, out)
    size = own.raster.stat().st_size
    write_raster(own.raster, seed=7)  # other pixels, same layout and size
    assert own.raster.stat().st_size == size
    _refused(run_cli(*args), f"--imagery {own.raster}")
    assert not (out / "stats.json").exists()
    run_cli(*args, "--overwrite", check=True)
    fresh = tmp_path / "fresh"
    run_cli(*build_args(own, fresh, "--workers", "1"), check=True)
    assert digests(out) == digests(fresh)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units"]["resumed"] == 0


def test_same_size_osm_edit_after_a_kill_is_refused(scene, tmp_path):
    """issue 10 case 4: an OSM file edited in place (same size) is not read from the old
    feature store: the relaunch is refused naming the file."""
    own = copy_scene(scene, tmp_path / "in")
    out = tmp_path / "o"
    args = build_args(own, out, "--workers", "1")
    kill_after_two_units(args, out)
    text = own.osm.read_text(encoding="utf-8")
    assert 'v="house"' in text
    edited = text.replace('v="house"', 'v="hotel"')
    own.osm.write_text(edited, encoding="utf-8")
    assert len(edited) == len(text)
    _refused(run_cli(*args), f"--osm {own.osm}")


def test_tag_policy_edit_after_a_kill_is_refused(scene, tmp_path):
    """issue 10 case 4: the tag policy shapes every text; an edit is noticed and named."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(read_text("prompts", "tag_policy.yaml"), encoding="utf-8")
    out = tmp_path / "o"
    args = build_args(scene, out, "--workers", "1", "--tag-policy", str(policy))
    kill_after_two_units(args, out)
    text = policy.read_text(encoding="utf-8")
    policy.write_text(text.replace("deny_keys: [name,", "deny_keys: [name, surface,"),
                      encoding="utf-8")
    _refused(run_cli(*args), f"--tag-policy {policy}")


def _with_region(args: list[str], region: str) -> list[str]:
    return [f"--region={region}" if a.startswith("--region=") else a for a in args]


def test_region_geojson_edited_after_a_kill_is_refused(scene, tmp_path):
    """The region's polygon is in the fingerprint: a --region GeoJSON file edited after a kill
    (its polygon moved, the file's name and the options the same) is not resumed into the
    old units; the relaunch is refused naming the region."""
    west, south, east, north = (float(v) for v in scene.bbox.split(","))
    region = tmp_path / "region.geojson"
    region.write_text(json.dumps(shapely.geometry.mapping(
        shapely.box(west, south, east, north))), encoding="utf-8")
    out = tmp_path / "o"
    args = _with_region(build_args(scene, out, "--workers", "1"), str(region))
    kill_after_two_units(args, out)
    shrunk = shapely.box(west, south, (west + east) / 2, north)  # the western half only
    region.write_text(json.dumps(shapely.geometry.mapping(shrunk)), encoding="utf-8")
    _refused(run_cli(*args), f"--region {region}")
    assert not (out / "stats.json").exists()


def test_place_geocoded_to_another_polygon_after_a_kill_is_refused(scene, nominatim, tmp_path):
    """issue 18 follow-up: a place name geocoded again (its cached reply gone) to another
    polygon is noticed on relaunch and named, instead of mixing units of two regions."""
    from nominatim_server import result

    place = "Scene Town, Testland"
    west, south, east, north = (float(v) for v in scene.bbox.split(","))
    nominatim.places[place] = [result("relation", 4242, place, shapely.geometry.mapping(
        shapely.box(west, south, east, north)))]
    out = tmp_path / "o"
    args = [*_with_region(build_args(scene, out, "--workers", "1"), place),
            "--geocoder-url", nominatim.url, "--cache-dir", str(tmp_path / "cache1")]
    kill_after_two_units(args, out)
    nominatim.places[place] = [result("relation", 4242, place, shapely.geometry.mapping(
        shapely.box(west, south, (west + east) / 2, north)))]
    again = [a if a != str(tmp_path / "cache1") else str(tmp_path / "cache2") for a in args]
    _refused(run_cli(*again), f"--region {place}")
    # the same polygon (its reply still cached) resumes as before
    run_cli(*args, check=True)
    assert (out / "stats.json").exists()
