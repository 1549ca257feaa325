"""Ctrl-C and SIGTERM stop a build cleanly: workers stopped, finished units kept, one line,
exit 130/143, no process of the build left behind, and the same command resumes to the
shards of an uninterrupted build (issue 10 case 7)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

from conftest import BIN, build_args, run_cli
from llm_fake import FakeLLM

INTERRUPTED = "interrupted; re-run the same command to resume"


def shard_digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").glob("*.tar"))}


@contextmanager
def background_build(args: list[str]) -> Iterator[tuple[subprocess.Popen, list]]:
    """A build with slowed units, in its own session (its own process group, as a shell job);
    yields it and the list its processes get recorded in, and kills what is left at the end
    (only what a failing test leaves behind)."""
    env = dict(os.environ, GEOSCRIBE_TEST_UNIT_DELAY="0.4")
    proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    recorded: list[psutil.Process] = []
    try:
        yield proc, recorded
    finally:
        for process in [psutil.Process(proc.pid), *recorded] if proc.poll() is None else recorded:
            with suppress(psutil.Error):
                process.kill()
        proc.communicate()


def watch_until_units_done(proc: subprocess.Popen, out: Path, recorded: list,
                           ready: str = ".geoscribe/units/*/done.json") -> None:
    """Record the build's processes until files `ready` (a glob under OUT; default: a unit's
    completion marker) exist and its workers run."""
    seen: dict[int, psutil.Process] = {}
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                if child.pid not in seen:
                    seen[child.pid] = child
                    recorded.append(child)
        except psutil.Error:
            pass
        workers = [p for p in seen.values() if _parent_is_forkserver(p, seen)]
        if list(out.glob(ready)) and len(workers) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    cmdlines = [" ".join(_cmdline(p)) for p in seen.values()]
    assert any("forkserver" in c for c in cmdlines), cmdlines
    assert any("resource_tracker" in c for c in cmdlines), cmdlines


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _parent_is_forkserver(process: psutil.Process, seen: dict[int, psutil.Process]) -> bool:
    try:
        parent = seen.get(process.ppid())
    except psutil.Error:
        return False
    return parent is not None and "forkserver" in " ".join(_cmdline(parent))


def assert_nothing_left(proc: subprocess.Popen, recorded: list[psutil.Process]) -> None:
    """Every process recorded under the build, and every process of its session, is gone
    within a few seconds of its exit."""
    _, alive = psutil.wait_procs(recorded, timeout=10)
    assert not alive, [(p.pid, _cmdline(p)) for p in alive]
    left = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == proc.pid:
                left.append((process.pid, _cmdline(process)))
        except (OSError, psutil.Error):
            continue
    assert not left, left


def interrupt_and_resume(scene, built, tmp_path, signum: int, whole_group: bool,
                         ready: str = ".geoscribe/units/*/done.json") -> None:
    """Start, interrupt once `ready` exists, check exit code, message and processes; re-run
    and compare."""
    out = tmp_path / "out"
    args = build_args(scene, out, "--workers", "2")
    with background_build(args) as (proc, recorded):
        watch_until_units_done(proc, out, recorded, ready)
        if whole_group:
            os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C does
        else:
            os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signum, (proc.returncode, stderr)
        assert [line for line in stderr.splitlines() if line.strip()] == [INTERRUPTED], stderr
        assert_nothing_left(proc, recorded)
    assert not (out / "stats.json").exists()
    kept = len(list(out.glob(".geoscribe/units/*/done.json")))
    assert kept >= 1

    result = run_cli(*args, check=True)
    assert "already complete" not in result.stdout
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["units"]["resumed"] == kept
    assert shard_digests(out) == shard_digests(built)


def test_sigint_stops_the_build_and_it_resumes(scene, built, tmp_path):
    """issue 10 case 7: SIGINT to the main process while it merges finished units into a
    shard: exit 130, one line, no orphan, resumes to the same shards."""
    interrupt_and_resume(scene, built, tmp_path, signal.SIGINT, whole_group=False,
                         ready="data/*.tar.tmp")


def test_ctrl_c_to_the_process_group_stops_the_build(scene, built, tmp_path):
    """issue 10 case 7: Ctrl-C as a terminal sends it (to every process of the job): the
    workers print nothing, exit 130, one line, no orphan, resumes."""
    interrupt_and_resume(scene, built, tmp_path, signal.SIGINT, whole_group=True)


def test_sigterm_stops_the_build_and_it_resumes(scene, built, tmp_path):
    """issue 10 case 7: SIGTERM to the main process: exit 143, one line, no forkserver,
    resource tracker or worker left behind, resumes."""
    interrupt_and_resume(scene, built, tmp_path, signal.SIGTERM, whole_group=False)


def test_workers_end_when_the_main_process_is_killed(scene, tmp_path):
    """issue 10 case 7: even kill -9 of the main process (no handler can run) leaves no
    worker, forkserver or resource tracker behind."""
    out = tmp_path / "out"
    with background_build(build_args(scene, out, "--workers", "2")) as (proc, recorded):
        watch_until_units_done(proc, out, recorded)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        assert_nothing_left(proc, recorded)


def test_sigint_in_the_llm_stage_sends_no_queued_request(scene, tmp_path):
    """issue 10 case 7: Ctrl-C while the LLM stage waits for replies stops at once: exit 130,
    one line, and the requests still queued are never sent (only those in flight finish)."""
    fake = FakeLLM(delay=1.0)
    out = tmp_path / "out"
    args = build_args(scene, out, "--workers", "1", "--llm", f"fake-model@{fake.base_url}",
                      "--llm-concurrency", "1", "--llm-repairs", "0",
                      "--llm-cache", str(tmp_path / "cache.sqlite"))
    try:
        with background_build(args) as (proc, _):
            deadline = time.time() + 120
            # by the second request every record of the window has long been queued
            while (len(fake.chat_requests) < 2 and time.time() < deadline
                   and proc.poll() is None):
                time.sleep(0.05)
            assert len(fake.chat_requests) >= 2, "the LLM stage never got going"
            before = len(fake.chat_requests)
            os.kill(proc.pid, signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
            assert proc.returncode == 130, (proc.returncode, stderr)
            assert [line for line in stderr.splitlines() if line.strip()] == [INTERRUPTED]
        sent = len(fake.chat_requests)
        time.sleep(2.5)  # anything still queued would have been sent by now
        assert len(fake.chat_requests) == sent
        # only the request in flight at the signal (it started < 0.1 s before, 1 s to go)
        assert sent == before
    finally:
        fake.close()
