"""`build-dataset --osm overpass:URL` end to end (issue 18): the real CLI against the loopback
fake Overpass API (tests/overpass_server.py) serving the scene's OSM file gives the records the
same file gives locally; a re-run asks nothing; a build killed mid-way asks again nothing it got;
a dead server is one line and exit 2; credentials in the URL are never written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, build_args, digests, run_cli
from overpass_server import serve
from test_hardening_secrets import assert_no_secret, secret_forms
from test_llm_e2e import records

PASSWORD = "ovp-pw-7d1c0e"


def live_args(scene, out: Path, url: str, cache: Path, *extra: str) -> list[str]:
    """build_args with the scene's OSM file replaced by the Overpass endpoint."""
    args = build_args(scene, out, "--workers", "2", "--cache-dir", str(cache), *extra)
    args[args.index(str(scene.osm))] = f"overpass:{url}"
    return args


def comparable(out: Path) -> list[tuple]:
    """Each record's key, texts, chip and boxes (its provenance names the input, which
    differs)."""
    rows = []
    for rec in records(out):
        boxes = [(f["osm_type"], f["osm_id"], f["bbox_px"], f["focus"]) for f in rec["features"]]
        rows.append((rec["id"], rec["split"], json.dumps(rec["texts"], sort_keys=True),
                     json.dumps(rec["chip"], sort_keys=True), json.dumps(boxes)))
    return sorted(rows)


@pytest.fixture(scope="module")
def fake(scene):
    with serve(scene.osm) as (server, url):
        yield server, url


@pytest.fixture(scope="module")
def live(scene, fake, tmp_path_factory):
    """One build from the fake server, its URL holding user:password."""
    server, url = fake
    root = tmp_path_factory.mktemp("live")
    secret_url = url.replace("http://", f"http://geo-user:{PASSWORD}@")
    result = run_cli(*live_args(scene, root / "out", secret_url, root / "cache"))
    assert result.returncode == 0, result.stderr
    return root, result, list(server.requests)


def test_overpass_build_equals_the_local_file_build(built, live, fake):
    """issue 18 overpass: the same data from the server or as a local OSM file gives the same
    records (keys, splits, texts, chips, boxes); stats.json records the queries, the date and
    the public endpoint, and counts the requests."""
    root, _result, asked = live
    _server, url = fake
    assert comparable(root / "out") == comparable(built)
    stats = json.loads((root / "out" / "stats.json").read_text(encoding="utf-8"))
    [row] = [r for r in stats["sources"] if r["kind"] == "osm"]
    queries = [r["query"] for r in asked if r["query"]]
    assert row["uri"] == f"overpass:{url}" and row["endpoint"] == url
    assert row["queries"] == queries and row["date"] is None
    assert row["osm_base"] == row["acquired"] == "2024-01-01T00:00:00Z"  # the fake's data date
    card = (root / "out" / "README.md").read_text(encoding="utf-8")
    assert (f"`overpass:{url}`: {len(queries)} Overpass queries, undated (the server's data "
            "as of 2024-01-01T00:00:00Z)") in card
    counters = stats["remote"]["overpass"]
    assert counters["requests"] == len(asked) and counters["cache_hits"] == 0
    assert counters["bytes_read"] > 0 and row["license"] == "ODbL-1.0"


def test_credentials_in_the_url_are_never_written(live):
    """issue 18 overpass: user:password in --osm overpass:URL reach no file of OUT or the
    cache, and not the console."""
    root, result, _asked = live
    assert_no_secret(result, [root], secret_forms(PASSWORD, "geo-user"))


def test_a_rerun_makes_no_request(scene, built, live, fake, tmp_path):
    """issue 18 overpass: a new build of the same region with the same cache asks the
    server nothing and writes the same shards."""
    root, _result, _asked = live
    server, url = fake
    before = len(server.requests)
    out = tmp_path / "again"
    run_cli(*live_args(scene, out, url, root / "cache"), check=True)
    assert len(server.requests) == before
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["remote"]["overpass"]["requests"] == 0
    assert stats["remote"]["overpass"]["cache_hits"] >= 1
    assert digests(out) == digests(root / "out")


def test_a_killed_build_asks_again_nothing_it_got(scene, tmp_path):
    """issue 18 overpass: a build killed (kill -9) while querying, re-run, asks again none of
    the queries already answered, and completes."""
    with serve(scene.osm) as (server, url):
        server.hold_after = 3  # the 4th query waits until released
        args = live_args(scene, tmp_path / "out", url, tmp_path / "cache",
                         "--osm-cell-deg", "0.01")
        proc = subprocess.Popen([str(BIN / args[0]), *args[1:]], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and len(server.requests) < 4:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        first = list(server.answered)
        assert len(first) == 3 and len(server.requests) == 4
        server.hold_after = None
        server.released.set()
        server.requests.clear()
        run_cli(*args, check=True)
        again = [r["query"] for r in server.requests]
        assert again and not set(again) & set(first)
        stats = json.loads((tmp_path / "out" / "stats.json").read_text(encoding="utf-8"))
        [row] = [r for r in stats["sources"] if r["kind"] == "osm"]
        assert sorted(row["queries"]) == sorted(first + again)


def test_a_dead_server_is_one_line_and_exit_2(scene, tmp_path):
    """issue 18 overpass: nothing listening at the URL: one line naming the endpoint, exit 2,
    no traceback, OUT not created; a URL that is not http(s) likewise."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/interpreter"
    for spec_url, words in ((url, "cannot connect"), ("ftp://x.org/api", "not an http")):
        out = tmp_path / "out"
        result = run_cli(*live_args(scene, out, spec_url, tmp_path / "cache"))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and spec_url in lines[0]
        assert "Traceback" not in result.stderr and not out.exists()


def test_no_data_from_the_server_names_the_endpoint_not_the_cache(scene, tmp_path):
    """issue 18 overpass: a server with nothing in the region: the one-line `no samples`
    error names the input as overpass:URL, never the cache file it became."""
    empty = tmp_path / "empty.osm"
    empty.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6"/>\n',
                     encoding="utf-8")
    with serve(empty) as (_server, url):
        cache = tmp_path / "cache"
        result = run_cli(*live_args(scene, tmp_path / "out", url, cache))
    assert result.returncode == 2, result.stderr
    assert f"--osm overpass:{url}: 0 elements read" in result.stderr
    assert str(cache) not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bare_overpass_is_the_documented_default_server():
    """issue 18 overpass: `--osm overpass` without a URL means the CLI's documented default,
    the only place the URL is written; other values are kept as given."""
    from geoscribe.cli import OVERPASS_URL, with_overpass_url

    values = with_overpass_url({"osm": ["a.osm", "overpass", "overpass:http://h/api"]})
    assert values["osm"] == ["a.osm", f"overpass:{OVERPASS_URL}", "overpass:http://h/api"]
    assert OVERPASS_URL.startswith("https://") and OVERPASS_URL.endswith("/api/interpreter")
    result = run_cli("build-dataset", "--help")
    assert OVERPASS_URL in "".join(result.stdout.split())  # help text wraps lines
