"""The sliding-window limiter, on a simulated clock (no real waiting)."""

from __future__ import annotations

import threading

from geoscribe.text.rate_limit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def test_requests_per_minute_never_exceeded():
    clock = FakeClock()
    limiter = RateLimiter(rpm=5, tpm=None, clock=clock.time, sleep=clock.sleep)
    granted = []
    for _ in range(23):
        limiter.acquire(10)
        granted.append(clock.now)
    assert _max_in_window(granted, 60.0) == 5
    assert granted[5] >= 60.0  # the sixth request waited for the window to move
    assert granted[-1] >= 4 * 60.0


def test_tokens_per_minute_never_exceeded():
    clock = FakeClock()
    limiter = RateLimiter(rpm=None, tpm=1000, clock=clock.time, sleep=clock.sleep)
    granted = []
    for _ in range(12):
        limiter.acquire(300)
        granted.append(clock.now)
    assert _max_in_window(granted, 60.0) == 3  # 3 x 300 <= 1000 < 4 x 300
    big = limiter.acquire(5000)  # larger than the budget: waits for an empty window, once
    assert big >= 0


def test_no_limits_never_wait():
    limiter = RateLimiter(rpm=None, tpm=None, sleep=lambda s: (_ for _ in ()).throw(
        AssertionError("slept")))
    assert all(limiter.acquire(10**6) == 0.0 for _ in range(100))
