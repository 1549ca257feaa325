"""issue 19: the Ray executor builds the same bytes as the local pool, retries failed units,
names a unit that fails every attempt, and resumes (with any executor) after a killed worker
or a killed driver."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, build_args, digests
from geoscribe.engine.ray_executor import MAX_ATTEMPTS, RayExecutor, RayOptions, prestart
from geoscribe.errors import InputError

SEEDS = (0, 1)


def ray_args(scene, out: Path, address: str, *extra: str) -> list[str]:
    return build_args(scene, out, "--executor", "ray", "--ray-address", address, *extra)


def run(args: list[str], timeout: float = 300, cwd: Path | None = None,
        **env: str) -> subprocess.CompletedProcess:
    """The real CLI with extra environment variables (the GEOSCRIBE_TEST_* fault hooks)."""
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env}, cwd=cwd)


def unit_names(out: Path) -> list[str]:
    """The units of a finished build, by their marker folders."""
    return sorted(p.parent.name for p in (out / ".geoscribe" / "units").glob("*/done.json"))


def file_digests(out: Path) -> dict[str, str]:
    """sha256 of every shard tar and parquet and of rejected.jsonl."""
    paths = sorted((out / "data").glob("*.tar")) + sorted((out / "data").glob("*.parquet"))
    paths.append(out / "rejected.jsonl")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def keys_and_records(out: Path) -> list[tuple[str, bytes]]:
    """(key, record json bytes) of every sample of every shard, in shard order."""
    pairs = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    pairs.append((member.name.rsplit(".", 1)[0], tar.extractfile(member).read()))
    return pairs


def assert_whole(out: Path, clean: Path) -> None:
    """OUT equals the clean build: same keys and records (none lost, none duplicated), same
    shard bytes, and no orphan tar (every tar in data/ is a listed shard; no part tar left)."""
    pairs = keys_and_records(out)
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys))
    assert pairs == keys_and_records(clean)
    assert file_digests(out) == file_digests(clean)
    listed = set(json.loads((out / "data" / "sizes.json").read_text()))
    on_disk = {p.name for p in (out / "data").iterdir() if ".tar" in p.name}
    assert on_disk == {name for name in listed if name.endswith(".tar")}
    assert not list((out / ".geoscribe" / "units").glob("*/*.tar"))
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def _scaled(task: tuple) -> int:
    """A task of the executor tests: (shared context, value); the context's `fail` value
    raises, each attempt logged in its `log` file."""
    shared, value = task
    if value == shared["fail"]:
        with open(shared["log"], "a", encoding="utf-8") as handle:
            handle.write(f"{value}\n")
        raise ValueError(f"value {value} refused")
    return shared["factor"] * value


@pytest.fixture
def executor(ray_cluster):
    """A RayExecutor joining the session's cluster; this module's tasks sent by value."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return RayExecutor(RayOptions(2))


def test_the_shared_context_is_put_in_the_object_store_once(executor, monkeypatch):
    """issue 19: 9 tasks in 2 lanes share one context: one ray.put, every result back."""
    puts = []
    real_put = executor.ray.put
    monkeypatch.setattr(executor.ray, "put", lambda obj: puts.append(obj) or real_put(obj))
    shared = {"factor": 3, "fail": None}
    lanes = [[(shared, i) for i in range(5)], [(shared, i) for i in range(5, 9)]]
    assert sorted(executor.map_lanes(_scaled, lanes)) == [3 * i for i in range(9)]
    assert puts == [shared]
    assert executor.failures == []


def _log_line(path: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")


def test_the_warm_up_runs_once_per_cluster_cpu_at_start(ray_cluster, tmp_path):
    """issue 19: the warm-up (the pipeline's import) starts on every CPU of the cluster when
    the executor is created, before any unit task."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    log = tmp_path / "warm.log"
    executor = RayExecutor(RayOptions(2, warmup=functools.partial(_log_line, str(log))))
    ray.get(executor.warming)
    assert len(executor.warming) == executor.cpus() == 2
    assert len(log.read_text().splitlines()) == 2


def test_a_prestarted_start_is_taken_over_with_its_warm_up(ray_cluster, tmp_path):
    """issue 19 (Ray's cost): the CLI's prestart (begun before the pipeline's imports) is the
    start the run's executor uses: the warm-up ran once per cluster CPU, not once more."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    log = tmp_path / "warm.log"
    warm = functools.partial(_log_line, str(log))
    prestart(RayOptions(2, warmup=warm))
    executor = RayExecutor(RayOptions(2, warmup=warm))
    ray.get(executor.warming)
    assert len(log.read_text().splitlines()) == executor.cpus() == 2


def test_a_prestart_with_other_options_is_not_taken_over(ray_cluster, tmp_path):
    """issue 19 (Ray's cost): a prestart made for other options (a config file changed them)
    is stopped, and the executor makes its own start (its own warm-up)."""
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    early, late = tmp_path / "early.log", tmp_path / "late.log"
    prestart(RayOptions(3, quiet=True, warmup=functools.partial(_log_line, str(early))))
    executor = RayExecutor(RayOptions(2, warmup=functools.partial(_log_line, str(late))))
    ray.get(executor.warming)
    assert len(late.read_text().splitlines()) == 2


def test_joining_a_cluster_runs_in_the_background(ray_cluster, monkeypatch):
    """issue 19 (Ray's cost): with an address, creating the executor returns while the
    cluster is still being joined (the driver reads its inputs meanwhile); the first tasks
    wait for the join."""
    from geoscribe.engine import ray_executor

    ray_executor.import_ray().cloudpickle.register_pickle_by_value(sys.modules[__name__])
    gate = threading.Event()
    real_connect = ray_executor.connect
    monkeypatch.setattr(ray_executor, "connect",
                        lambda ray, opts: gate.wait(60) and real_connect(ray, opts))
    executor = RayExecutor(RayOptions(2, address=ray_cluster))
    assert executor.start.running
    gate.set()
    shared = {"factor": 5, "fail": None}
    assert sorted(executor.map_lanes(_scaled, [[(shared, 1), (shared, 2)]])) == [5, 10]
    assert not executor.start.running  # not closed: that would leave the module's cluster


def _env_value(task: tuple) -> str | None:
    """A task of the executor tests: (shared, NAME) -> the worker's value of NAME."""
    return os.environ.get(task[1])


def test_geoscribe_variables_reach_every_task_without_a_runtime_env(executor, monkeypatch):
    """issue 19 (Ray's cost): the driver's GEOSCRIBE_* variables reach the tasks with the
    tasks themselves (no job runtime environment, which sends every worker's start through
    Ray's runtime-env agent), also on a cluster this run did not start."""
    monkeypatch.setenv("GEOSCRIBE_RAY_TEST_VALUE", "seen")
    lanes = [[(None, "GEOSCRIBE_RAY_TEST_VALUE")], [(None, "OMP_NUM_THREADS")]]
    assert sorted(executor.map_lanes(_env_value, lanes)) == ["1", "seen"]


def test_a_task_failing_every_attempt_is_recorded_by_name_and_the_rest_run(executor,
                                                                          tmp_path):
    """issue 19: MAX_ATTEMPTS (3) attempts of the failing task, then it is listed with its
    error; every other task's result comes back."""
    shared = {"factor": 2, "fail": 4, "log": str(tmp_path / "attempts.log")}
    results = sorted(executor.map_lanes(_scaled, [[(shared, i) for i in range(7)]]))
    assert results == [2 * i for i in range(7) if i != 4]
    assert MAX_ATTEMPTS == 3
    assert (tmp_path / "attempts.log").read_text().splitlines() == ["4"] * 3
    assert [f.name for f in executor.failures] == ["4"]  # named by the task's last element
    assert "value 4 refused" in executor.failures[0].error


def test_ray_build_is_byte_identical_to_the_local_pool(scene, built, ray_cluster, tmp_path):
    """issue 19: same inputs and seed -> the same shard, parquet and rejected bytes (OUT given
    as a relative path: the workers write where the driver means)."""
    out = tmp_path / "ray"
    args = ray_args(scene, Path("ray"), ray_cluster, "--workers", "2")
    result = run(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_whole(out, built)
    assert digests(out) == digests(built)
    run_file = json.loads((out / ".geoscribe" / "run.json").read_text())
    assert run_file["config"]["executor"] == "ray"
    assert ray_cluster not in (out / ".geoscribe" / "run.json").read_text()  # no address


def test_a_build_starting_its_own_cluster_ends_cleanly(scene, built, tmp_path):
    """issue 19 (Ray's cost): without --ray-address the build starts a local cluster (from
    the main thread) and leaves it in the background while it writes its report: exit 0 and
    the clean run's bytes."""
    out = tmp_path / "cold"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run([str(BIN / "build-dataset"),
                             *build_args(scene, out, "--executor", "ray", "--workers", "2")[1:]],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_whole(out, built)


def test_a_unit_failing_every_attempt_is_named_and_the_rest_is_built(scene, built, ray_cluster,
                                                                     tmp_path):
    """issue 19: 3 attempts, then the run exits non-zero naming the unit; the other units are
    built and kept, and the next run (no fault) resumes to the clean output."""
    failing = unit_names(built)[len(unit_names(built)) // 2]
    out, log = tmp_path / "fail", tmp_path / "faults.log"
    args = ray_args(scene, out, ray_cluster)
    result = run(args, GEOSCRIBE_TEST_FAIL_UNIT=failing, GEOSCRIBE_TEST_FAULT_LOG=str(log))
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert f"failed 3 times: {failing} " in error and "injected failure" in error
    assert log.read_text().splitlines() == [f"fail {failing}"] * 3
    assert unit_names(out) == [u for u in unit_names(built) if u != failing]
    assert not (out / "stats.json").exists()
    again = run(args)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "stats.json").read_text())["units"]["resumed"] == \
        len(unit_names(built)) - 1
    assert_whole(out, built)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_killed_worker_is_replaced_and_its_unit_built_again(scene, built, ray_cluster,
                                                              tmp_path, seed):
    """issue 19: a worker process killed (SIGKILL) inside a unit, chosen by seed: Ray retries
    the unit on a new worker and the run's output equals the clean run's."""
    victim = random.Random(seed).choice(unit_names(built))
    out, log = tmp_path / "killed", tmp_path / "faults.log"
    result = run(ray_args(scene, out, ray_cluster), GEOSCRIBE_TEST_KILL_UNIT=victim,
                 GEOSCRIBE_TEST_FAULT_LOG=str(log))
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [f"kill {victim}"]
    assert_whole(out, built)


def kill_driver_after(args: list[str], out: Path, units: int) -> int:
    """Start a build with slowed units, SIGKILL its driver once `units` are done; how many
    markers it left."""
    env = dict(os.environ, GEOSCRIBE_TEST_UNIT_DELAY="0.4")
    proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    markers = out / ".geoscribe" / "units"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(markers.glob("*/done.json"))) < units:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "stats.json").exists(), "run finished before it could be killed"
    return len(list(markers.glob("*/done.json")))


@pytest.mark.parametrize("seed,resume_with", [(0, "ray"), (1, "local")])
def test_a_killed_driver_resumes_with_any_executor(scene, built, ray_cluster, tmp_path, seed,
                                                   resume_with):
    """issue 19: kill -9 the driver after a seed-chosen number of units; the relaunch (Ray or
    the local pool) resumes the finished units and equals the clean run."""
    out = tmp_path / "driver"
    done = kill_driver_after(ray_args(scene, out, ray_cluster), out,
                             random.Random(seed).randint(1, 6))
    args = (ray_args(scene, out, ray_cluster) if resume_with == "ray"
            else build_args(scene, out, "--workers", "2"))
    result = run(args)
    assert result.returncode == 0, result.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["units"]["resumed"] >= done >= 1
    assert_whole(out, built)


def test_a_missing_ray_is_a_one_line_error_at_once(monkeypatch):
    """issue 19 (Ray's cost): without Ray installed, creating the executor fails at once with
    the install hint, found without importing Ray in the caller's thread (a background start
    may be importing it then)."""
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else real_find_spec(name, *args))
    with pytest.raises(InputError, match=r"needs Ray: pip install 'geoscribe\[ray\]'"):
        RayExecutor(RayOptions(2))


def test_an_unreachable_ray_address_is_a_one_line_error(scene, tmp_path):
    """issue 19: --ray-address where no head listens: exit 2 at once with one line (Ray
    itself would wait minutes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends
    result = run(ray_args(scene, tmp_path / "out", f"127.0.0.1:{port}"), timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"no Ray head answers at 127.0.0.1:{port}" in lines[0]
