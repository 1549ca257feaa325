"""The live sources' shared parts (issue 18): cache folder, atomic cache, Retry-After, counters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from geoscribe.errors import InputError
from geoscribe.sources.remote import (
    USER_AGENT,
    DiskCache,
    RemoteStats,
    RetryableFailure,
    RetryPolicy,
    cache_root,
    call_with_retries,
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


def scripted(*outcomes):
    """A call that raises the given failures in turn, then returns "ok"; `calls` counts."""
    queue = list(outcomes)

    def call():
        call.calls += 1
        if queue:
            raise queue.pop(0)
        return "ok"

    call.calls = 0
    return call


ENDPOINT = "http://user:s3cret@127.0.0.1:9/api?key=k3y"


def test_retries_wait_retry_after_else_the_backoff_and_count_causes():
    """issue 18 mends case 1: one retry loop for the live sources: a failure's own wait,
    else its Retry-After, else backoff_s * factor**(n-1); each retry counted by cause."""
    call = scripted(RetryableFailure("429", "HTTP 429", headers={"Retry-After": "3"}),
                    RetryableFailure("504", "HTTP 504"),
                    RetryableFailure("504", "HTTP 504", wait=0.25),
                    RetryableFailure("timeout", "timed out", headers={"retry-after": "x"}))
    stats, waits = RemoteStats(), []
    policy = RetryPolicy(attempts=5, backoff_s=0.5, factor=3.0)
    got = call_with_retries(call, policy, stats, "--src", ENDPOINT, sleep=waits.append)
    assert got == "ok" and call.calls == 5
    assert waits == [3.0, 0.5 * 3.0, 0.25, 0.5 * 3.0 ** 3]
    assert dict(stats.retries) == {"429": 1, "504": 2, "timeout": 1}


def test_giving_up_is_one_line_naming_the_endpoint_without_credentials():
    """issue 18 mends case 1: after `attempts` tries the loop gives up with one InputError
    line starting with `where`, naming the endpoint in its public form (no user, password,
    query), the last cause, and the number of tries."""
    call = scripted(*[RetryableFailure("503", f"HTTP 503 from {ENDPOINT}\nretry")] * 5)
    stats, waits = RemoteStats(), []
    with pytest.raises(InputError) as caught:
        call_with_retries(call, RetryPolicy(attempts=3), stats, "--src x", ENDPOINT,
                          label="the server ", sleep=waits.append)
    message = str(caught.value)
    assert message.startswith("--src x: no answer after 3 tries (last: HTTP 503")
    assert "(the server http://127.0.0.1:9/api)" in message
    assert "\n" not in message and "s3cret" not in message and "k3y" not in message
    assert "user" not in message
    assert call.calls == 3 and waits == [1.0, 2.0] and dict(stats.retries) == {"503": 2}


def test_a_cause_in_a_row_and_a_long_wait_end_the_tries_early():
    """issue 18 mends case 1: `in_a_row` gives up on a cause after that many failures of it
    in a row (another cause between resets it); a Retry-After over `max_wait_s` gives up at
    once, without waiting."""
    refused = RetryableFailure("connection", "cannot connect")
    call = scripted(refused, RetryableFailure("504", "HTTP 504"), refused, refused, refused)
    policy = RetryPolicy(attempts=10, in_a_row={"connection": 2})
    with pytest.raises(InputError, match=r"no answer after 4 tries \(last: cannot connect\)"):
        call_with_retries(call, policy, RemoteStats(), "--src", ENDPOINT, sleep=lambda s: None)
    assert call.calls == 4
    call, waits = scripted(RetryableFailure("429", "HTTP 429", headers={"Retry-After": "120"})
                           ), []
    with pytest.raises(InputError, match=r"the server asks to wait 120 s \(over 60 s\)"):
        call_with_retries(call, RetryPolicy(attempts=3, max_wait_s=60.0), RemoteStats(),
                          "--src", ENDPOINT, sleep=waits.append)
    assert call.calls == 1 and waits == []


def test_other_errors_and_a_source_rule_stop_at_once():
    """issue 18 mends case 1: an exception that is not a RetryableFailure passes through at
    once; `on_failure` sees each failure first and may raise (Overpass's split rule)."""
    call = scripted(ValueError("bad reply"))
    with pytest.raises(ValueError):
        call_with_retries(call, RetryPolicy(attempts=3), RemoteStats(), "--src", ENDPOINT)
    assert call.calls == 1
    seen = []

    def split(failure):
        seen.append(failure.cause)
        if len(seen) == 2:
            raise KeyError("split")

    stats = RemoteStats()
    call = scripted(*[RetryableFailure("504", "HTTP 504")] * 3)
    with pytest.raises(KeyError):
        call_with_retries(call, RetryPolicy(attempts=5), stats, "--src", ENDPOINT,
                          sleep=lambda s: None, on_failure=split)
    assert seen == ["504", "504"] and dict(stats.retries) == {"504": 1}


def test_a_retry_after_that_is_not_a_finite_number_falls_back_to_the_default():
    """Review of the retry loop: `Retry-After: inf` (or nan) must not become sleep(inf)."""
    for value in ("inf", "Infinity", "nan", "-inf"):
        assert retry_after_seconds({"Retry-After": value}, 2.5) == 2.5
    assert retry_after_seconds({"Retry-After": "7"}, 2.5) == 7.0


def test_every_policy_caps_the_wait_a_server_may_ask_for():
    """Review of the retry loop: a policy without an explicit cap still refuses a day-long
    Retry-After at once (one line), instead of sleeping a worker for a day."""
    def busy():
        raise RetryableFailure("429", "HTTP 429", headers={"Retry-After": "86400"})

    slept: list[float] = []
    with pytest.raises(InputError) as raised:
        call_with_retries(busy, RetryPolicy(3), RemoteStats(), "--imagery x", "https://h/",
                          sleep=slept.append)
    assert "86400 s" in str(raised.value) and "\n" not in str(raised.value)
    assert slept == []
    with pytest.raises(ValueError, match="at least 1 attempt"):
        RetryPolicy(0)
