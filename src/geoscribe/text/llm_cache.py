"""On-disk cache of LLM responses (SQLite): every reply is committed as soon as it arrives,
so a crash loses no paid response and a re-run makes no request for work already done.

A reply is keyed by the endpoint that wrote it (its public form: no credentials), the model,
the messages and the parameters: a rebuild against another server asks that server again, so a
record never names an endpoint for a text another one wrote."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path


def request_key(endpoint: str, model: str, messages: list[dict], params: dict) -> str:
    """sha256 of (endpoint, model, messages, parameters) — what decides the reply.
    `endpoint` is the public base URL (geoscribe.redact.public_url): never a credential."""
    blob = json.dumps({"endpoint": endpoint, "model": model, "messages": messages,
                       "params": params},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """A thread-safe key -> reply store in one SQLite file (WAL, committed per reply)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, "
                         "model TEXT, content TEXT, usage TEXT)")
        self._db.commit()

    def get(self, key: str) -> tuple[str, dict] | None:
        with self._lock:
            row = self._db.execute("SELECT content, usage FROM replies WHERE key = ?",
                                   (key,)).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def put(self, key: str, model: str, content: str, usage: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)",
                             (key, model, content, json.dumps(usage, sort_keys=True)))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
