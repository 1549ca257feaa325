"""Requests-per-minute and tokens-per-minute limits shared by the request threads."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """A sliding-window limiter: at most `rpm` requests and `tpm` tokens per `window_s`.

    `acquire(tokens)` blocks until the request fits; tokens are an estimate made before the
    request (prompt + max reply), so the limit holds even when replies are long.
    """

    def __init__(self, rpm: int | None, tpm: int | None, window_s: float = 60.0,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self._clock, self._sleep = clock, sleep
        self._log: deque[tuple[float, int]] = deque()
        self._tokens = 0
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.window_s:
            self._tokens -= self._log.popleft()[1]

    def acquire(self, tokens: int = 0) -> float:
        """Wait until one more request of `tokens` fits; return the seconds waited."""
        if self.rpm is None and self.tpm is None:
            return 0.0
        if self.tpm is not None:
            tokens = min(tokens, self.tpm)  # a request larger than the budget waits for all
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                fits_requests = self.rpm is None or len(self._log) < self.rpm
                fits_tokens = self.tpm is None or self._tokens + tokens <= self.tpm
                if fits_requests and fits_tokens:
                    self._log.append((now, tokens))
                    self._tokens += tokens
                    return waited
                delay = (self._log[0][0] + self.window_s - now) if self._log else 0.01
            delay = max(delay, 0.001)
            self._sleep(delay)
            waited += delay
