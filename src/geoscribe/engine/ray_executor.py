"""The Ray executor (`--executor ray [--ray-address ADDR]`): the same unit tasks as the local
pool, run as Ray tasks on a local single-node cluster (started here) or on a running cluster.

- The build context (the first element of every task, the same object for all) is put in
  Ray's object store once (`ray.put`): each node fetches it once, not once per task.
- One Ray task per unit, at most `2 x CPUs` in flight (results are merged as they arrive, so
  the driver's memory stays bounded); the caller hands the units largest first
  (units.largest_first), so no big unit starts last and stalls the end of the run.
- A failed unit is retried (Ray re-runs it after an exception or a dead worker), up to
  MAX_ATTEMPTS attempts in all; a unit failing every attempt is recorded in `failures` by
  name and the other units still run (the caller reports the failures and exits non-zero).
- Units write their part tars and completion markers into OUT/.geoscribe/units (OUT on a
  filesystem every node shares, see docs/ray.md), exactly as with the local pool: a relaunch
  with any executor resumes from the markers.

Environment variables named GEOSCRIBE_* (and the one-thread-per-process variables) reach the
workers with every task (set before it runs), not through a job runtime environment: one
would send every worker's start through Ray's runtime-env agent, seconds on a busy machine.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from geoscribe.engine.executors import THREAD_VARIABLES
from geoscribe.errors import InputError

MAX_ATTEMPTS = 3  # attempts of a unit before it is reported as failed
START_ATTEMPTS = 2  # a local cluster's start times out after 30 s on a very busy machine


@dataclass
class UnitFailure:
    """A task that failed every attempt: its name and the last error's first line."""

    name: str
    error: str


@dataclass
class RayOptions:
    """How to reach (or start) the cluster."""

    workers: int
    address: str | None = None
    quiet: bool = False
    # run once per CPU at start (imports the pipeline): a function, or a module's name
    warmup: Callable[[], None] | str | None = None
    env: dict[str, str] = field(default_factory=dict)


def worker_env() -> dict[str, str]:
    """The variables the workers get: one thread per task, and the GEOSCRIBE_* settings."""
    env = {name: "1" for name in THREAD_VARIABLES}
    env.update({k: v for k, v in os.environ.items() if k.startswith("GEOSCRIBE_")})
    return env


MISSING_RAY = "needs Ray: pip install 'geoscribe[ray]'"


def import_ray():
    """The ray module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray", MISSING_RAY) from None
    return ray


def require_ray() -> None:
    """A one-line error at once when Ray is not installed (without importing it: a
    background start may be importing it right now)."""
    if importlib.util.find_spec("ray") is None:
        raise InputError("--executor ray", MISSING_RAY)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error when HOST:PORT does not accept connections (Ray itself waits minutes
    for an unreachable head); other forms (`auto`, `ray://...`) are left to Ray."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise InputError("--ray-address", f"no Ray head answers at {address} "
                         f"({exc.strerror or exc}); start one with `ray start --head`"
                         ) from None


def _warm(what: Callable[[], None] | str, env: dict[str, str]) -> None:
    """Run on a Ray worker: set `env`, then the warm-up, a function (unpickling it imported
    its module) or the name of a module to import (after `env` is set)."""
    os.environ.update(env)
    if isinstance(what, str):
        importlib.import_module(what)
    else:
        what()


def _call(fn: Callable, shared, rest: tuple, cwd: str, env: dict[str, str]):
    """Run on a Ray worker: fn over the task rebuilt from its shared part and its own, in the
    driver's working folder `cwd` (relative input and OUT paths then mean what they mean to
    the driver; on other nodes the folder must exist at the same path, see docs/ray.md)."""
    os.environ.update(env)
    if os.getcwd() != cwd:
        os.chdir(cwd)
    return fn((shared, *rest))


def interleave(lanes: Sequence[Sequence]) -> list:
    """The lanes' items taken one from each lane in turn (lane order kept within a lane)."""
    out: list = []
    longest = max((len(lane) for lane in lanes), default=0)
    for index in range(longest):
        out.extend(lane[index] for lane in lanes if index < len(lane))
    return out


def item_name(item) -> str:
    """A task's name for reports: its unit's name (the last element), else its repr."""
    last = item[-1] if isinstance(item, tuple) and item else item
    return str(getattr(last, "name", last))


class ClusterStart:
    """Joining the cluster at options.address and starting the warm-up tasks, in a
    background thread begun at creation: the driver imports its pipeline and reads its inputs
    meanwhile, and the job's workers boot on the other cores (as the local pool's forkserver
    does). Starting a local cluster (no address) is done in the calling thread, as Ray's node
    start needs the main thread. `wait()` joins the thread and raises what the start raised.
    The thread is not a daemon: a run that ends early still leaves the cluster cleanly (Ray's
    exit handler)."""

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self.ray = None
        self.started_here = False
        self.warming: list = []  # the warm-up tasks (refs)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="geoscribe-ray-start")
        if options.address:
            self._thread.start()
        else:  # a local cluster is started from the main thread (Ray's node start needs it)
            self._run()

    def matches(self, options: RayOptions) -> bool:
        """Whether this start serves `options` (same cluster, same logging)."""
        mine = self.options
        return (mine.address, mine.quiet) == (options.address, options.quiet) and \
            (bool(options.address) or mine.workers == options.workers)

    def _run(self) -> None:
        try:
            self.ray = import_ray()
            self.started_here = connect(self.ray, self.options)
            self.warming = warm_up(self.ray, self.options)
        except BaseException as exc:  # raised to the caller by wait()
            self._error = exc

    def wait(self) -> ClusterStart:
        """This start, finished (its error raised)."""
        self._join()
        if self._error is not None:
            raise self._error
        return self

    @property
    def running(self) -> bool:
        """Whether the background start is still under way."""
        return self._thread.is_alive()

    def _join(self) -> None:
        if self._thread.ident is not None:
            self._thread.join()

    def stop(self) -> None:
        """Leave the cluster (stopping it if this start started it)."""
        self._join()
        ray = self.ray
        if ray is not None and ray.is_initialized() and (self.started_here or
                                                         self.options.address):
            ray.shutdown()


_PRESTARTED: list[ClusterStart] = []  # the start prestart() began, until a RayExecutor takes it


def prestart(options: RayOptions) -> None:
    """Begin joining the cluster now (the CLI calls this before it imports the pipeline); the
    run's RayExecutor takes this start over when its options match."""
    _PRESTARTED.append(ClusterStart(options))


def take_start(options: RayOptions) -> ClusterStart:
    """The prestarted start matching `options`, else a new one (a prestart that does not
    match, as when a config file changed the options, is stopped first)."""
    while _PRESTARTED:
        start = _PRESTARTED.pop()
        if start.matches(options):
            return start
        start.stop()
    return ClusterStart(options)


def connect(ray, opts: RayOptions) -> bool:
    """Join the cluster at opts.address, or start a local one with `workers` CPUs; whether
    this call started the cluster (nothing is done when Ray is initialised already)."""
    kwargs: dict = dict(include_dashboard=False, log_to_driver=not opts.quiet,
                        logging_level=logging.ERROR if opts.quiet else logging.WARNING,
                        configure_logging=True)
    if ray.is_initialized():  # an embedding program (or a test) started Ray already
        return False
    if opts.address:
        check_reachable(opts.address)
        kwargs["address"] = opts.address
    else:
        kwargs["num_cpus"] = opts.workers
    attempts = 1 if opts.address else START_ATTEMPTS
    for attempt in range(attempts):
        try:
            ray.init(**kwargs)
            break
        except Exception as exc:  # noqa: BLE001 - Ray raises bare Exceptions on start-up
            ray.shutdown()  # what the failed start left
            if attempt + 1 == attempts:
                where = opts.address or "a local cluster"
                raise InputError("--ray-address" if opts.address else "--executor ray",
                                 f"cannot start or reach {where}: "
                                 f"{_first_line(exc)}") from None
    return not opts.address


def warm_up(ray, opts: RayOptions) -> list:
    """Start one task per cluster CPU running opts.warmup, not waited for: the job's workers
    start and import the pipeline while the driver reads its inputs; the unit tasks then
    reuse them."""
    if opts.warmup is None:
        return []
    remote = ray.remote(_warm).options(num_cpus=1)
    env = task_env(opts)
    return [remote.remote(opts.warmup, env) for _ in range(cluster_cpus(ray, opts.workers))]


def task_env(opts: RayOptions) -> dict[str, str]:
    """The variables every task sets on its worker before it runs."""
    return {**worker_env(), **opts.env}


def cluster_cpus(ray, default: int) -> int:
    """The cluster's CPUs (how many tasks may run at once)."""
    return max(1, int(ray.cluster_resources().get("CPU", default)))


class RayExecutor:
    """Runs tasks `(shared, *rest)` as Ray tasks; `failures` lists the tasks that failed every
    attempt once map_lanes is exhausted. Tasks run wherever a CPU is free (no worker keeps a
    lane), so the caller hands one lane, largest units first (`largest_first`). A running
    cluster is joined in the background (ClusterStart): creating the executor then returns
    at once."""

    largest_first = True

    def __init__(self, options: RayOptions) -> None:
        require_ray()
        self.options = options
        self.failures: list[UnitFailure] = []
        self.start = take_start(options)

    @property
    def ray(self):
        """The ray module, once the cluster is joined."""
        return self.start.wait().ray

    @property
    def warming(self) -> list:
        """The warm-up tasks (refs), once started."""
        return self.start.wait().warming

    def cpus(self) -> int:
        """The cluster's CPUs (how many tasks may run at once)."""
        return cluster_cpus(self.ray, self.options.workers)

    def map_lanes(self, fn: Callable, lanes: Sequence[Sequence]) -> Iterator:
        """fn over every item as Ray tasks, results as they complete; the items' shared first
        element is put in the object store once."""
        ray = self.ray
        remote = ray.remote(_call).options(num_cpus=1, max_retries=MAX_ATTEMPTS - 1,
                                           retry_exceptions=True)
        shared_refs: dict[int, object] = {}
        queue = interleave(lanes)
        queue.reverse()  # pop() from the end takes the first item
        pending: dict = {}
        window, cwd, env = 2 * self.cpus(), os.getcwd(), task_env(self.options)

        def submit() -> None:
            while queue and len(pending) < window:
                item = queue.pop()
                shared = item[0]
                if id(shared) not in shared_refs:
                    shared_refs[id(shared)] = ray.put(shared)
                pending[remote.remote(fn, shared_refs[id(shared)], tuple(item[1:]), cwd,
                                      env)] = item

        submit()
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                item = pending.pop(done[0])
                submit()
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayError as exc:  # every attempt failed (task or worker)
                    self.failures.append(UnitFailure(item_name(item), _first_line(exc)))
                    continue
                yield result
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise

    def close(self) -> None:
        """Leave the cluster (stopping it if this run started it). After a normal end this
        happens in a background thread while the driver merges and writes its report (Python
        joins the thread before the process exits); an error or an interrupt leaves at once."""
        unwinding = sys.exc_info()[1]
        if unwinding is not None:
            self.start.stop()
            return
        threading.Thread(target=self.start.stop, name="geoscribe-ray-stop").start()


def _first_line(exc: BaseException) -> str:
    """The meaningful first line of a task's error (the unit's own message when it has one)."""
    cause = getattr(exc, "cause", None)
    text = str(cause) if cause is not None else str(exc)
    for line in text.splitlines():
        if line.strip() and not line.startswith(("ray::", "Traceback")):
            return line.strip()
    return type(exc).__name__
