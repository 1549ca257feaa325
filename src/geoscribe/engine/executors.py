"""Executors: run tasks in this process or on a local process pool, behind one interface.

A pool is started as soon as it is created, while the main process is still reading the
inputs. On Linux, workers are forked from a forkserver: a clean server process that imported the
pipeline once (so N workers do not each import it again) and has never opened a raster;
elsewhere (macOS, where forking after some system libraries are loaded is unsafe, and Windows)
they are spawned. Either way tasks carry everything they
need and workers never inherit open files or threads from the main process.

Interrupts: a terminal sends Ctrl-C (SIGINT) to the whole process group, but only the main
process acts on it: the forkserver (started with SIGINT ignored) and the workers ignore it, and
an interrupt unwinding the main process through `close()` terminates the workers (their units
are not done; the next run builds them). A worker also ends itself as soon as the main
process is gone, however that ended (even kill -9), so no worker, forkserver or resource
tracker outlives its build.

Tasks come in lanes (one per worker): a lane's tasks run in order with one in flight, so the
worker that finishes a task is the idle one that takes the lane's next task and keeps its
GDAL block cache warm on neighbouring windows; a lane that runs dry steals from the far end
of the longest remaining lane, so every worker stays busy to the end.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class InProcessExecutor:
    """Runs tasks one after another in the calling process (used for --workers 1)."""

    def __init__(self, finalizer: Callable[[], None]) -> None:
        self.finalizer = finalizer

    def map_lanes(self, fn: Callable, lanes: Sequence[Sequence]) -> Iterator:
        """fn over every item, lane after lane, in order."""
        for lane in lanes:
            for item in lane:
                yield fn(item)

    def close(self) -> None:
        self.finalizer()


class LaneQueue:
    """Tasks in lanes. `next(lane)` is the lane's next task in order; when the lane is dry, the
    last task of the longest remaining lane (the one farthest from where that lane's worker
    is); None when no task is left."""

    def __init__(self, lanes: Sequence[Sequence]) -> None:
        self.queues = [deque(lane) for lane in lanes]

    def active(self) -> list[int]:
        """The lanes that hold tasks."""
        return [index for index, queue in enumerate(self.queues) if queue]

    def next(self, lane: int):
        if self.queues[lane]:
            return self.queues[lane].popleft()
        longest = max(self.queues, key=len)
        return longest.pop() if longest else None


def worker_context(preload: str) -> multiprocessing.context.BaseContext:
    """forkserver preloading module `preload` on Linux, else spawn."""
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([preload])
        return context
    return multiprocessing.get_context("spawn")


def start_forkserver_deaf(context: multiprocessing.context.BaseContext) -> None:
    """Start the forkserver (and the resource tracker) with SIGINT ignored, which they and the
    workers forked from it inherit: no worker can die of a Ctrl-C before guard_worker runs."""
    if (context.get_start_method() != "forkserver"
            or threading.current_thread() is not threading.main_thread()):
        return
    from multiprocessing import forkserver  # POSIX only

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def guard_worker(main_pid: int) -> None:
    """Run first in every worker: leave SIGINT to the main process, and end this worker when
    the main process `main_pid` is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_after, args=(main_pid,), daemon=True,
                     name="geoscribe-orphan-guard").start()


def _exit_after(main_pid: int) -> None:
    """Wait until process `main_pid` has ended, then end this process."""
    try:
        pidfd = os.pidfd_open(main_pid)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (not Linux): spawned workers, parent = main
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    select.select([pidfd], [], [])  # readable once the process has exited
    os._exit(1)


class LocalPoolExecutor:
    """A pool of worker processes (see worker_context), started and warmed up with `warmup` in
    the background from creation."""

    def __init__(self, workers: int, warmup: Callable[[], None]) -> None:
        self.workers = workers
        for name in THREAD_VARIABLES:  # one thread per worker process: the pool is the parallelism
            os.environ.setdefault(name, "1")
        self._pool: ProcessPoolExecutor | None = None
        self._error: BaseException | None = None
        try:  # here, as signal handlers can only be set in the main thread
            context = worker_context(warmup.__module__)
            start_forkserver_deaf(context)
        except Exception as exc:  # raised to the caller when it first uses the pool
            context, self._error = None, exc
        # starting workers waits for the forkserver's imports: a thread does it, so the caller
        # reads its inputs meanwhile
        self._starter = threading.Thread(target=self._start, args=(warmup, context),
                                         daemon=True, name="geoscribe-pool-start")
        self._starter.start()

    def _start(self, warmup: Callable[[], None], context) -> None:
        if context is None:
            return
        try:
            pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                       initializer=guard_worker, initargs=(os.getpid(),))
            for _ in range(self.workers):
                pool.submit(warmup)
            self._pool = pool
        except BaseException as exc:  # raised to the caller when it first uses the pool
            self._error = exc

    @property
    def pool(self) -> ProcessPoolExecutor:
        """The started pool (waits for the start; raises what the start raised)."""
        self._starter.join()
        if self._error is not None:
            raise self._error
        assert self._pool is not None
        return self._pool

    def map_lanes(self, fn: Callable, lanes: Sequence[Sequence]) -> Iterator:
        """fn over every item, results as they complete, one task in flight per lane (see
        LaneQueue)."""
        queue = LaneQueue(lanes)
        pending: dict = {}

        def submit_next(lane: int) -> None:
            item = queue.next(lane)
            if item is not None:
                pending[self.pool.submit(fn, item)] = lane

        for lane in queue.active():
            submit_next(lane)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    submit_next(pending.pop(future))  # before the caller merges the result
                    yield future.result()
        except BaseException:  # an error, an interrupt, or the caller dropped us: queued
            for future in pending:  # tasks are not started; close() ends the running ones
                future.cancel()
            raise

    def close(self) -> None:
        """Shut the pool down: wait for running tasks, unless an interrupt (a BaseException
        that is not an Exception, such as KeyboardInterrupt) is unwinding the caller, when
        the workers are terminated (the one place that stops them)."""
        self._starter.join()
        if self._pool is None:
            return
        unwinding = sys.exc_info()[1]
        if unwinding is not None and not isinstance(unwinding, Exception):
            self._stop_workers()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _stop_workers(self) -> None:
        """Terminate the workers now, whatever they run (unfinished units are built again by
        the next run: a unit's marker is written last)."""
        if self._pool is None:
            return
        # ProcessPoolExecutor names its processes only here (terminate_workers() is 3.14+)
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(5)
            if process.exitcode is None:
                process.kill()
                process.join()


def make_executor(workers: int, warmup: Callable[[], None], finalizer: Callable[[], None]):
    """The executor for `--workers N` (in-process when N == 1)."""
    if workers <= 1:
        return InProcessExecutor(finalizer)
    return LocalPoolExecutor(workers, warmup)
