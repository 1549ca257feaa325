"""Executors: lanes run in order, dry lanes steal from the far end, every task runs once."""

from __future__ import annotations

import os
import time

import pytest

from geoscribe.engine.executors import InProcessExecutor, LaneQueue, LocalPoolExecutor


def _drain(queue: LaneQueue, lane: int) -> list:
    taken = []
    while (item := queue.next(lane)) is not None:
        taken.append(item)
    return taken


def test_lane_queue_gives_a_lane_its_own_tasks_in_order():
    queue = LaneQueue([[1, 2, 3], [10, 11]])
    assert queue.active() == [0, 1]
    assert [queue.next(0), queue.next(0), queue.next(1), queue.next(0)] == [1, 2, 10, 3]


def test_dry_lane_steals_from_the_far_end_of_the_longest_lane():
    queue = LaneQueue([[1, 2, 3, 4, 5, 6], [10], [20, 21, 22]])
    assert queue.next(1) == 10
    assert queue.next(1) == 6  # lane 1 is dry: the last task of lane 0 (6 left)
    assert queue.next(1) == 5
    assert [queue.next(0), queue.next(0)] == [1, 2]  # lane 0 still goes on from its front
    assert queue.next(1) == 22  # lane 2 (3 left, lane 0: 2) is now the longest: its last task
    rest = _drain(queue, 1)
    assert sorted(rest) == [3, 4, 20, 21]
    assert queue.next(0) is None and queue.next(2) is None


def test_lane_queue_hands_out_every_task_once():
    lanes = [list(range(start, start + n)) for start, n in ((0, 7), (100, 0), (200, 3))]
    queue = LaneQueue(lanes)
    assert queue.active() == [0, 2]
    taken = []
    turn = 0
    while True:
        item = queue.next([0, 1, 2][turn % 3])
        turn += 1
        if item is None and not any(queue.queues):
            break
        if item is not None:
            taken.append(item)
    assert sorted(taken) == sorted(x for lane in lanes for x in lane)


def test_in_process_executor_runs_lanes_in_order():
    calls = []
    executor = InProcessExecutor(lambda: calls.append("closed"))
    assert list(executor.map_lanes(lambda x: x * 2, [[1, 2], [], [3]])) == [2, 4, 6]
    executor.close()
    assert calls == ["closed"]


def _slow_square(item: tuple[int, float]) -> tuple[int, int, int]:
    value, delay = item
    time.sleep(delay)
    return value, value * value, os.getpid()


def _fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three")
    return value


def _noop() -> None:
    """Warm-up of the test pools."""


def test_pool_runs_every_task_once_and_steals_to_keep_both_workers_busy():
    executor = LocalPoolExecutor(2, _noop)
    try:
        lanes = [[(v, 0.05) for v in range(8)], [(100, 0.0)]]
        results = list(executor.map_lanes(_slow_square, lanes))
    finally:
        executor.close()
    assert sorted(v for v, _, _ in results) == [*range(8), 100]
    assert all(square == v * v for v, square, _ in results)
    # lane 1 ran dry after one quick task and stole lane 0's tail: two processes did lane 0
    assert len({pid for v, _, pid in results if v < 8}) == 2
    assert os.getpid() not in {pid for _, _, pid in results}


def test_pool_reraises_a_task_error():
    executor = LocalPoolExecutor(2, _noop)
    try:
        with pytest.raises(ValueError, match="three"):
            list(executor.map_lanes(_fail_on_three, [[1, 2, 3, 4], [5, 6]]))
    finally:
        executor.close()


def test_pool_start_failure_is_raised_when_the_pool_is_used(monkeypatch):
    import geoscribe.engine.executors as executors

    def broken_context(preload: str):
        raise OSError("cannot start workers")

    monkeypatch.setattr(executors, "worker_context", broken_context)
    executor = LocalPoolExecutor(2, _noop)  # returns at once: the start runs in a thread
    with pytest.raises(OSError, match="cannot start workers"):
        list(executor.map_lanes(_fail_on_three, [[1]]))
    executor.close()  # nothing to shut down; no error


def test_workers_come_from_a_forkserver_on_linux_and_are_spawned_elsewhere(monkeypatch):
    import sys

    from geoscribe.engine.executors import worker_context

    monkeypatch.setattr(sys, "platform", "linux")
    assert worker_context("geoscribe.engine.worker").get_start_method() == "forkserver"
    for platform in ("darwin", "win32"):
        monkeypatch.setattr(sys, "platform", platform)
        assert worker_context("geoscribe.engine.worker").get_start_method() == "spawn"


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _pool_workers() -> list:
    """This process's grandchildren: the pool's workers (the forkserver's children)."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True)
            if p.status() != psutil.STATUS_ZOMBIE and p.ppid() != os.getpid()]


def test_an_interrupt_stops_running_tasks_at_once():
    """issue 10 case 7: an interrupt unwinding the caller (here raised while it handles a
    result) terminates the workers instead of waiting for their tasks."""
    import psutil

    executor = LocalPoolExecutor(2, _noop)
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        try:
            for _ in executor.map_lanes(_sleep, [[0.0, 60.0], [60.0]]):
                raise KeyboardInterrupt
        finally:
            executor.close()
    assert time.perf_counter() - started < 30
    _, alive = psutil.wait_procs(_pool_workers(), timeout=5)
    assert not alive


def test_close_is_the_one_place_that_stops_the_workers(monkeypatch):
    """issue 11 review (executors: map_lanes and close both stopped the workers): an interrupt
    unwinding through map_lanes and close() terminates the workers once, in close()."""
    import psutil

    stops = []
    original = LocalPoolExecutor._stop_workers

    def counted(self):
        stops.append(self)
        original(self)

    monkeypatch.setattr(LocalPoolExecutor, "_stop_workers", counted)
    executor = LocalPoolExecutor(2, _noop)
    lanes = executor.map_lanes(_sleep, [[0.0, 60.0], [60.0]])
    with pytest.raises(KeyboardInterrupt):
        try:
            for _ in lanes:
                raise KeyboardInterrupt
        finally:
            lanes.close()  # the caller drops the generator before closing the pool
            assert stops == []
            executor.close()
    assert stops == [executor]
    _, alive = psutil.wait_procs(_pool_workers(), timeout=5)
    assert not alive
