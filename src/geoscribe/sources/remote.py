"""What every live source shares (issue 18): the project's User-Agent, the on-disk cache of
responses (one file per request key, written atomically, so a killed run keeps every reply it
got and a re-run or resume asks again for nothing), the `Retry-After` rule, the retry loop
(`call_with_retries`), and the counters a run reports per source (requests, cache hits, retries
by cause, bytes read).

The cache lives under `--cache-dir`, else the user cache root (`$GEOSCRIBE_CACHE`, else
`$XDG_CACHE_HOME/geoscribe`, `~/.cache/geoscribe`); its path is never written to an output."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar

from geoscribe import __version__
from geoscribe.errors import InputError
from geoscribe.redact import public_url, redact_text, url_secrets
from geoscribe.sources.registry_data import cache_dir

T = TypeVar("T")
USER_AGENT = f"geoscribe/{__version__} (+https://github.com/geoscribe/geoscribe)"


def cache_root(explicit: str | os.PathLike | None = None) -> Path:
    """The live sources' cache folder: `explicit` (`--cache-dir`), else the user cache root
    (registry_data.cache_dir: $GEOSCRIBE_CACHE, $XDG_CACHE_HOME/geoscribe, ~/.cache/geoscribe)."""
    return Path(explicit) if explicit else cache_dir()


def request_key(*parts: object) -> str:
    """sha256 of the JSON of `parts` (endpoint in its public form, query, parameters)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class DiskCache:
    """key -> bytes, one file per key under `folder`, each written to a temporary file and
    renamed into place (a reader never sees half a reply)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        """Where the reply of `key` is (or will be) stored."""
        return self.folder / key[:2] / key

    def get(self, key: str) -> bytes | None:
        """The stored reply of `key`, or None."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def retry_after_seconds(headers: dict | None, default: float) -> float:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), else `default`."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not value:
        return default
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else default  # "inf", "nan"
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        when = parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return default


@dataclass
class RemoteStats:
    """Counters of one live source, as stats.json reports them under `remote.<source>`."""

    requests: int = 0
    cache_hits: int = 0
    bytes_read: int = 0
    retries: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, requests: int = 0, cache_hits: int = 0, bytes_read: int = 0,
              retry: str | None = None) -> None:
        """Add to the counters (thread-safe); `retry` names the cause (`429`, `504`, ...)."""
        with self._lock:
            self.requests += requests
            self.cache_hits += cache_hits
            self.bytes_read += bytes_read
            if retry:
                self.retries[retry] += 1

    def add(self, other: RemoteStats) -> None:
        """Add `other`'s counters to these (two inputs of one source in one build)."""
        with self._lock:
            self.requests += other.requests
            self.cache_hits += other.cache_hits
            self.bytes_read += other.bytes_read
            self.retries.update(other.retries)

    def as_dict(self) -> dict:
        """The counters as plain JSON."""
        return {"requests": self.requests, "cache_hits": self.cache_hits,
                "bytes_read": self.bytes_read, "retries": dict(sorted(self.retries.items()))}


class RetryableFailure(Exception):
    """A failed try worth another: `cause` (the name `RemoteStats.retries` counts it under:
    `429`, `504`, `timeout`, ...), `detail` (a short text for the give-up line), and either the
    reply's `headers` (their `Retry-After` is honoured) or a `wait` the source worked out itself
    (seconds; None: Retry-After, else the backoff)."""

    def __init__(self, cause: str, detail: str, headers: Mapping | None = None,
                 wait: float | None = None) -> None:
        super().__init__(detail)
        self.cause, self.detail, self.headers, self.wait = cause, detail, headers, wait


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a source tries: `attempts` in all (the first included); without Retry-After
    the n-th wait is `backoff_s * factor**(n-1)`, at most `backoff_cap_s`; a server asking to
    wait longer than `max_wait_s` (default 600 s) ends the tries at once; `in_a_row` gives up
    on a cause after that many failures of it in a row (e.g. a refused connection)."""

    attempts: int
    backoff_s: float = 1.0
    factor: float = 2.0
    backoff_cap_s: float = 60.0
    max_wait_s: float | None = 600.0
    in_a_row: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a retry policy needs at least 1 attempt, not {self.attempts}")

    def backoff(self, failures: int) -> float:
        """The wait after the `failures`-th failure when the server names none."""
        return min(self.backoff_s * self.factor ** (failures - 1), self.backoff_cap_s)


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, stats: RemoteStats,
                      where: str, endpoint: str, *, label: str = "",
                      sleep: Callable[[float], None] = time.sleep,
                      on_failure: Callable[[RetryableFailure], None] | None = None) -> T:
    """`call()` tried until it returns, at most `policy.attempts` times: each
    RetryableFailure it raises is counted by cause in `stats.retries` and followed by a wait
    (the failure's own, else its `Retry-After`, else the backoff); any other exception passes
    through at once. `on_failure` sees every failure first and may raise (a source's own rule,
    e.g. Overpass splitting a box). Giving up is one InputError starting with `where` that
    names `endpoint` (after `label`, e.g. "geocoder ") in its public form, credentials
    redacted.

    Hand-written rather than urllib3's Retry or tenacity: urllib3's Retry lives inside a
    `requests` transport, which Earth Engine's library (httplib2) does not use, and it neither
    counts causes nor lets Overpass split a box; tenacity is not a dependency and would still
    need this module's cause, Retry-After, counter and one-line parts, which are the whole
    loop but for its few lines of counting."""
    streak: Counter = Counter()
    for tries in range(1, policy.attempts + 1):
        try:
            return call()
        except RetryableFailure as failure:
            if on_failure is not None:
                on_failure(failure)
            streak = Counter({failure.cause: streak[failure.cause] + 1})
            limit = policy.in_a_row.get(failure.cause, policy.attempts)
            if tries >= policy.attempts or streak[failure.cause] >= limit:
                raise _give_up(where, endpoint, label, f"no answer after {tries} tries "
                               f"(last: {failure.detail})") from None
            wait = failure.wait if failure.wait is not None else retry_after_seconds(
                dict(failure.headers or {}), policy.backoff(tries))
            if policy.max_wait_s is not None and wait > policy.max_wait_s:
                raise _give_up(where, endpoint, label, f"the server asks to wait {wait:.0f} s "
                               f"(over {policy.max_wait_s:.0f} s); try later") from None
            stats.count(retry=failure.cause)
            sleep(wait)
    raise AssertionError("attempts must be at least 1")


def _give_up(where: str, endpoint: str, label: str, problem: str) -> InputError:
    """The one line a source gives up with: `where`, the problem, the endpoint (public form;
    said once: not again when `where` names it already), credentials redacted."""
    public = public_url(endpoint)
    named = "" if public in where else f" ({label}{public})"
    return InputError(where, redact_text(" ".join(problem.split()) + named,
                                         url_secrets(endpoint)))
