"""A killed run resumes to output identical to an uninterrupted one."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import BIN, build_args, run_cli


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").glob("*.tar"))}


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
