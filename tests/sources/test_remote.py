"""The live sources' shared parts (issue 18): cache folder, atomic cache, Retry-After, counters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from geoscribe.sources.remote import (
    USER_AGENT,
    DiskCache,
    RemoteStats,
    cache_root,
    request_key,
    retry_after_seconds,
)


def test_cache_root_order(monkeypatch, tmp_path):
    """issue 18: --cache-dir, then $GEOSCRIBE_CACHE, then $XDG_CACHE_HOME/geoscribe."""
    monkeypatch.setenv("GEOSCRIBE_CACHE", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("GEOSCRIBE_CACHE")
    assert cache_root() == tmp_path / "xdg" / "geoscribe"


def test_disk_cache_round_trip_leaves_no_partial_file(tmp_path):
    """issue 18: a reply is stored whole under its key; no temporary file stays behind."""
    cache = DiskCache(tmp_path)
    key = request_key("http://127.0.0.1:1/api", "[out:xml];node(1);out;")
    assert cache.get(key) is None
    cache.put(key, b"<osm/>")
    assert cache.get(key) == b"<osm/>"
    leftovers = [p for p in tmp_path.rglob(".part-*")]
    assert leftovers == []
    assert request_key("a", {"x": 1, "y": 2}) == request_key("a", {"y": 2, "x": 1})
    assert request_key("a", "q1") != request_key("a", "q2")


def test_retry_after_seconds_and_dates():
    """issue 18: Retry-After as seconds or as an HTTP date; the default when absent or bad."""
    assert retry_after_seconds({"Retry-After": "3"}, 1.0) == 3.0
    assert retry_after_seconds({}, 1.5) == 1.5
    assert retry_after_seconds({"Retry-After": "soon"}, 2.0) == 2.0
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds({"retry-after": later}, 0.0) <= 31


def test_remote_stats_counts_by_cause():
    """issue 18: requests, cache hits, bytes and retries by cause add up."""
    stats = RemoteStats()
    stats.count(requests=2, bytes_read=10, retry="429")
    stats.count(cache_hits=1, retry="429")
    stats.count(retry="504")
    assert stats.as_dict() == {"requests": 2, "cache_hits": 1, "bytes_read": 10,
                               "retries": {"429": 2, "504": 1}}
    assert USER_AGENT.startswith("geoscribe/")
