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


def test_killed_run_resumes_to_identical_output(scene, built, tmp_path):
    out = tmp_path / "killed"
    args = build_args(scene, out, "--workers", "1")
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
    done_before = len(list(units.glob("*/done.json")))
    assert done_before >= 2
    assert not (out / "stats.json").exists(), "run finished before it could be killed"
    result = run_cli(*args, check=True)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units"]["resumed"] == done_before
    assert digests(out) == digests(built)
    assert "already complete" not in result.stdout
