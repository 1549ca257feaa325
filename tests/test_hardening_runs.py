"""Runs that crash, relaunch or race (issue 10): one build at a time per --out, a failed run
that does not block its own --out, LLM outages that are not final, builds that make nothing,
and --out folders that cannot be used."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time

from conftest import BIN, build_args, digests, run_cli
from llm_fake import FakeLLM
from scene import Scene, copy_scene
from test_llm_e2e import llm_args, records, tile_args


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The run's only stderr line, checked to be a one-line error with exit code 2."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def start(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


# --- case 3: one build at a time per --out ---------------------------------------------------

def test_out_held_by_another_build_fails_at_once_naming_its_pid(scene, tmp_path):
    """issue 10 case 3: a build into an OUT that another build holds (its flock taken and its
    pid written the same way) fails at once with one line and leaves OUT as it was."""
    out = tmp_path / "o"
    (out / ".geoscribe").mkdir(parents=True)
    lock = out / ".geoscribe" / "lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        started = time.monotonic()
        result = run_cli(*build_args(scene, out, "--workers", "1"))
        seconds = time.monotonic() - started
        line = one_line_error(result)
        assert line == f"error: --out {out}: in use by another build (pid {os.getpid()})"
        assert seconds < 30
        assert sorted(p.name for p in out.rglob("*")) == [".geoscribe", "lock"]
        assert lock.read_text() == f"{os.getpid()}\n"


def test_second_build_during_a_build_fails_and_the_first_completes(scene, built, tmp_path):
    """issue 10 case 3: a second build started while the first runs exits 2 naming the first's
    pid; the first finishes to the same shards as a build alone."""
    out = tmp_path / "o"
    args = build_args(scene, out, "--workers", "1")
    first = start(args, GEOSCRIBE_TEST_UNIT_DELAY="0.3")
    units = out / ".geoscribe" / "units"
    deadline = time.time() + 120
    while time.time() < deadline and not list(units.glob("*/done.json")):
        time.sleep(0.05)
    second = run_cli(*args)
    assert first.poll() is None, "the first build ended before the second started"
    line = one_line_error(second)
    assert line == f"error: --out {out}: in use by another build (pid {first.pid})"
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert digests(out) == digests(built)


def test_builds_started_together_never_leave_an_empty_complete_output(scene, built, tmp_path):
    """issue 10 case 3: two builds launched at once, a few times: one builds, the other is
    refused (or finds the work complete); the output is always the full dataset."""
    want = json.loads((built / "stats.json").read_text())["samples"]
    for trial in range(3):
        out = tmp_path / f"o{trial}"
        args = build_args(scene, out, "--workers", "1")
        runs = [start(args), start(args)]
        results = [(run.wait(timeout=300), run.communicate()[1]) for run in runs]
        assert any(code == 0 for code, _ in results), results
        for code, stderr in results:
            if code != 0:
                assert code == 2 and re.fullmatch(
                    rf"error: --out {re.escape(str(out))}: in use by another build "
                    r"\(pid \d+\)", stderr.strip()), stderr
        stats = json.loads((out / "stats.json").read_text())
        assert stats["samples"] == want > 0
        assert digests(out) == digests(built)


# --- case 5: a failed run does not block its own OUT -----------------------------------------

def test_after_fixing_a_malformed_osm_file_the_same_command_builds(scene, tmp_path):
    """issue 10 case 5: the run file is not written by a run that could not read its inputs."""
    own = copy_scene(scene, tmp_path / "in")
    good = own.osm.read_bytes()
    own.osm.write_bytes(good[: len(good) // 2])  # cut mid-element: not well-formed XML
    out = tmp_path / "o"
    args = build_args(own, out, "--workers", "1")
    assert str(own.osm) in one_line_error(run_cli(*args))
    own.osm.write_bytes(good)
    run_cli(*args, check=True)
    fresh = tmp_path / "fresh"
    run_cli(*build_args(own, fresh, "--workers", "1"), check=True)
    assert digests(out) == digests(fresh)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_after_fixing_a_wrong_llm_url_the_build_runs_into_the_same_out(scene, tmp_path):
    """issue 10 case 5: a run whose LLM endpoint did not answer leaves no run file behind."""
    out, cache = tmp_path / "o", tmp_path / "c.sqlite"
    wrong = ["--llm", f"fake-model@http://127.0.0.1:{_closed_port()}/v1", "--llm-cache",
             str(cache)]
    assert "cannot reach" in one_line_error(run_cli(*tile_args(scene, out), *wrong))
    fake = FakeLLM()
    try:
        result = run_cli(*tile_args(scene, out), *llm_args(fake, cache))
    finally:
        fake.close()
    assert result.returncode == 0, result.stderr
    assert records(out) and len(fake.requests) > 0


# --- case 6: an LLM outage is not final ------------------------------------------------------

def _messages(requests: list[dict]) -> set[str]:
    return {json.dumps(r["body"]["messages"], sort_keys=True) for r in requests}


def test_llm_outage_fails_the_run_and_the_rerun_asks_exactly_the_failed_requests(
        scene, tmp_path):
    """issue 10 case 6: an endpoint that passes the probe, answers some requests and then 500
    to all others: exit 2 naming the cause, no stats.json, no LLM marker for a unit with a
    failed request; once it recovers, the re-run sends exactly the unanswered requests and
    the output equals an undisturbed LLM build."""
    fake = FakeLLM()
    try:
        reference = tmp_path / "reference"
        run_cli(*tile_args(scene, reference), *llm_args(fake, tmp_path / "ref.sqlite"),
                check=True)
        fake.requests.clear()
        fake.script = [{}] * 6 + [{"status": 500}] * 10_000
        out, cache = tmp_path / "o", tmp_path / "c.sqlite"
        args = [*tile_args(scene, out), *llm_args(fake, cache, "--llm-max-retries", "0",
                                                  "--llm-concurrency", "2")]
        line = one_line_error(run_cli(*args))
        assert line.startswith("error: --llm fake-model: ") and "http_500" in line
        assert "127.0.0.1" not in line
        assert not (out / "stats.json").exists()
        first = list(fake.requests)
        answered = _messages(first[:6])
        failed = _messages(first[6:]) - answered
        assert failed
        units = sorted((out / ".geoscribe" / "units").iterdir())
        marked = [u for u in units if (u / "llm.json").exists()]
        assert len(marked) < len(units)
        for unit in marked:  # a unit with a marker kept all its records
            assert json.loads((unit / "llm.json").read_text())["llm_rejected_records"] == 0

        fake.script = []
        fake.requests.clear()
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        assert _messages(fake.requests) == failed
        assert len(fake.requests) == len(failed)
    finally:
        fake.close()
    assert digests(out) == digests(reference)
    assert json.loads((out / "stats.json").read_text())["samples"] == len(records(reference))


def test_llm_answering_500_to_everything_gives_no_dataset_and_no_llm_marker(scene, tmp_path):
    """issue 10 cases 6 and 12: all requests failing is an error, not an empty dataset, and
    not a finished one: the re-run after recovery builds it all."""
    fake = FakeLLM()
    fake.script = [{"status": 500}] * 10_000
    try:
        out, cache = tmp_path / "o", tmp_path / "c.sqlite"
        args = [*tile_args(scene, out), *llm_args(fake, cache, "--llm-max-retries", "0")]
        line = one_line_error(run_cli(*args))
        failed = _messages(fake.requests)
        n = len(list((out / ".geoscribe" / "units").glob("*/done.json")))
        assert re.search(r"(\d+) of \1 records got no reply", line), line
        assert f"0 of {n} units are done" in line
        assert not list(out.rglob("llm.json")) and not (out / "stats.json").exists()
        fake.script = []
        fake.requests.clear()
        run_cli(*args, check=True)
        assert _messages(fake.requests) == failed
    finally:
        fake.close()
    assert records(out)


# --- case 12: builds that make nothing are errors --------------------------------------------

def test_imagery_whose_only_raster_is_truncated_is_an_error_naming_it(scene, tmp_path):
    """issue 10 case 12: every chip fails to read: exit 2, one line with the counts, and OUT
    holds nothing that blocks the same command once the raster is whole again."""
    own = copy_scene(scene, tmp_path / "in")
    own.raster.write_bytes(scene.raster.read_bytes()[:20_000])  # header whole, pixels gone
    out = tmp_path / "o"
    args = build_args(own, out, "--workers", "1", "--no-split-guard")
    line = one_line_error(run_cli(*args))
    match = re.fullmatch(r"error: no samples: (\d+) of (\d+) chips failed to read imagery "
                         + re.escape(str(own.raster)), line)
    assert match and match[1] == match[2] and int(match[1]) > 0, line
    assert not (out / "stats.json").exists() and not (out / "data").exists()
    shutil.copyfile(scene.raster, own.raster)
    run_cli(*args, check=True)
    assert json.loads((out / "stats.json").read_text())["samples"] > 0


def test_osm_file_without_elements_is_an_error(scene, tmp_path):
    """issue 10 case 12: an OSM file with no elements builds nothing: exit 2, one line."""
    empty = tmp_path / "empty.osm"
    empty.write_text('<?xml version="1.0"?>\n<osm version="0.6">\n</osm>\n')
    out = tmp_path / "o"
    line = one_line_error(run_cli(*build_args(Scene(scene.raster, empty), out)))
    assert line.startswith("error: no samples: ") and f"--osm {empty}: 0 elements" in line
    assert not (out / "stats.json").exists()


def test_mask_outside_the_imagery_is_an_error(scene, tmp_path):
    """issue 10 case 12: a mask that covers none of the imagery: exit 2, one line."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from scene import CRS, ORIGIN_X, ORIGIN_Y

    mask = tmp_path / "far.tif"
    with rasterio.open(mask, "w", driver="GTiff", width=64, height=64, count=1, dtype="uint8",
                       crs=CRS, transform=from_origin(ORIGIN_X + 50_000, ORIGIN_Y, 0.5, 0.5)
                       ) as dst:
        dst.write(np.ones((64, 64), dtype="uint8"), 1)
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"1": "building"}))
    out = tmp_path / "o"
    line = one_line_error(run_cli(
        "build-dataset", "counting-qa", f"--region={scene.bbox}", "--out", str(out),
        "--imagery", str(scene.raster), "--labels", str(mask), "--class-map", str(classes),
        "--chip-size", "128", "--split-block-deg", "1", "--no-progress", "--workers", "1"))
    assert line.startswith("error: no samples: ") and "no_mask" in line
    assert not (out / "stats.json").exists()


# --- case 11: an --out that cannot be used ---------------------------------------------------

def test_out_that_is_a_file_is_a_one_line_error(scene, tmp_path):
    """issue 10 case 11: --out names a file."""
    out = tmp_path / "file"
    out.write_text("x")
    line = one_line_error(run_cli(*build_args(scene, out)))
    assert line == f"error: --out {out}: is a file, not a folder"
    assert out.read_text() == "x"


def test_out_under_a_file_is_a_one_line_error(scene, tmp_path):
    """issue 10 case 11: --out lies under a file."""
    parent = tmp_path / "file"
    parent.write_text("x")
    out = parent / "sub" / "o"
    line = one_line_error(run_cli(*build_args(scene, out)))
    assert line == f"error: --out {out}: {parent} is a file, not a folder"


def test_read_only_out_is_a_one_line_error(scene, tmp_path):
    """issue 10 case 11: --out in a folder the build may not write to (read-only by its mode;
    root, who ignores modes, gets the immutable attribute as well)."""
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(parent)], check=True)
    try:
        out = parent / "o"
        line = one_line_error(run_cli(*build_args(scene, out)))
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(parent)], check=True)
        parent.chmod(stat.S_IRWXU)
    assert line.startswith(f"error: --out {out}: cannot write here (")
    assert not out.exists()
