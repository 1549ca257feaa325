"""Executors: run units in this process or on a local process pool, behind one interface."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


class InProcessExecutor:
    """Runs units one after another in the calling process (used for --workers 1)."""

    def __init__(self, initializer: Callable, initargs: tuple, finalizer: Callable) -> None:
        self.initializer, self.initargs, self.finalizer = initializer, initargs, finalizer

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator:
        self.initializer(*self.initargs)
        try:
            for item in items:
                yield fn(item)
        finally:
            self.finalizer()


class LocalPoolExecutor:
    """A pool of worker processes (spawned: nothing opened in the parent is inherited)."""

    def __init__(self, workers: int, initializer: Callable, initargs: tuple) -> None:
        self.workers = workers
        self.initializer, self.initargs = initializer, initargs

    def map_unordered(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context,
                                 initializer=self.initializer, initargs=self.initargs) as pool:
            pending = set()
            queue = iter(items)
            for item in queue:  # keep at most 2 tasks per worker in flight
                pending.add(pool.submit(fn, item))
                if len(pending) >= 2 * self.workers:
                    break
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending.add(pool.submit(fn, nxt))
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


def make_executor(workers: int, initializer: Callable, initargs: tuple, finalizer: Callable):
    """The executor for `--workers N` (in-process when N == 1)."""
    if workers <= 1:
        return InProcessExecutor(initializer, initargs, finalizer)
    return LocalPoolExecutor(workers, initializer, initargs)
