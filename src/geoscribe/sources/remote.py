"""What every live source shares (issue 18): the project's User-Agent, the on-disk cache of
responses (one file per request key, written atomically, so a killed run keeps every reply it
got and a re-run or resume asks again for nothing), the `Retry-After` rule, and the counters a
run reports per source (requests, cache hits, retries by cause, bytes read).

The cache lives under `--cache-dir`, else the user cache root (`$GEOSCRIBE_CACHE`, else
`$XDG_CACHE_HOME/geoscribe`, `~/.cache/geoscribe`); its path is never written to an output."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from geoscribe import __version__
from geoscribe.sources.registry_data import cache_dir

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
        return max(0.0, float(value))
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

    def as_dict(self) -> dict:
        """The counters as plain JSON."""
        return {"requests": self.requests, "cache_hits": self.cache_hits,
                "bytes_read": self.bytes_read, "retries": dict(sorted(self.retries.items()))}
