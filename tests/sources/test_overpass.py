"""The Overpass client (issue 18, `--osm overpass[:URL]`) against a fake Overpass API on
loopback (tests/overpass_server.py) serving the generated scene's OSM file."""

from __future__ import annotations

import base64
import math
import socket
import time
from pathlib import Path

import osmium
import pytest
import shapely

from geoscribe.errors import InputError
from geoscribe.sources.overpass import (
    OverpassClient,
    Settings,
    build_query,
    fetch_osm,
    overpass_url,
    parse_date,
    query_boxes,
    slot_seconds,
)
from geoscribe.sources.remote import USER_AGENT, DiskCache, RemoteStats
from overpass_server import query_box, serve

FAST = Settings(backoff_s=0.01, read_timeout_s=0.5, connect_timeout_s=0.5)


@pytest.fixture()
def fake(scene):
    with serve(scene.osm) as (server, url):
        yield server, url


def scene_area(scene) -> shapely.Polygon:
    return shapely.box(*(float(v) for v in scene.bbox.split(",")))


def east_area(scene) -> shapely.Polygon:
    """The scene's part east of -81 (the scene straddles that meridian): one box of a grid of
    1 degree."""
    west, south, east, north = scene_area(scene).bounds
    assert west < -81.0 < east
    return shapely.box(-81.0, south, east, north)


def client(url: str, cache: Path, settings: Settings = FAST) -> OverpassClient:
    return OverpassClient(url, DiskCache(cache), RemoteStats(), settings)


def element_ids(path: Path) -> list[tuple[str, int]]:
    """Every element of an OSM file, in file order, read by osmium."""
    return [(obj.type_str(), obj.id) for obj in osmium.FileProcessor(str(path))]


def test_fetch_merges_every_cell_into_one_complete_file(scene, fake, tmp_path):
    """issue 18 overpass: the area is queried cell by cell on the query grid, and the replies
    merge into one OSM file holding each element of the area once, ways' nodes and relations'
    members included, like the local extract."""
    server, url = fake
    got = fetch_osm(client(url, tmp_path), scene_area(scene), None, cell_deg=0.002)
    assert len(got.queries) > 4 and server.answered == got.queries
    ids = element_ids(got.path)
    assert len(ids) == len(set(ids))  # a way crossing cells is met in several replies, kept once
    assert sorted(ids) == sorted(element_ids(scene.osm))
    nodes = {i for t, i in ids if t == "n"}
    for way in osmium.FileProcessor(str(got.path), osmium.osm.WAY):
        assert {n.ref for n in way.nodes} <= nodes


def test_query_boxes_follow_the_grid_and_cover_the_area():
    """issue 18 overpass: each query box lies in one cell of the grid and the boxes tile the
    area's bounds without overlap; cells that miss the area are not queried."""
    area = shapely.Polygon([(24.91, 60.15), (24.99, 60.15), (24.91, 60.19)])  # a triangle
    boxes = query_boxes(area, 0.02)
    for west, south, east, north in boxes:  # the cell of its centre holds the whole box
        ix, iy = math.floor((west + east) / 0.04), math.floor((south + north) / 0.04)
        assert ix * 0.02 - 1e-9 <= west < east <= (ix + 1) * 0.02 + 1e-9
        assert iy * 0.02 - 1e-9 <= south < north <= (iy + 1) * 0.02 + 1e-9
    union = shapely.union_all([shapely.box(*b) for b in boxes])
    assert union.area == pytest.approx(sum(shapely.box(*b).area for b in boxes))
    assert union.covers(area)
    cells = [shapely.box(ix * 0.02, iy * 0.02, (ix + 1) * 0.02, (iy + 1) * 0.02)
             for ix in range(1240, 1255) for iy in range(3000, 3015)]
    assert len(boxes) == sum(cell.intersects(area) for cell in cells) < 15  # corners left out


def test_query_is_complete_dated_and_bounded():
    """issue 18 overpass: a query recurses down (`(._;>;)`), carries the date and the server
    limits, and names the box south, west, north, east."""
    query = build_query((24.9, 60.1, 25.0, 60.2), "2021-06-01T00:00:00Z")
    assert '[date:"2021-06-01T00:00:00Z"]' in query and "(._;>;);" in query
    assert "[timeout:" in query and "[maxsize:" in query
    assert query_box(query) == (60.1, 24.9, 60.2, 25.0)
    assert "[date:" not in build_query((24.9, 60.1, 25.0, 60.2), None)
    assert parse_date("2021-06-01") == "2021-06-01T00:00:00Z"
    assert parse_date("2021-06-01T12:00:00+02:00") == "2021-06-01T10:00:00Z"
    with pytest.raises(InputError, match="--osm-date"):
        parse_date("June 2021")


def test_the_date_reaches_the_server(scene, fake, tmp_path):
    """issue 18 overpass: the date asked for is the date the server receives."""
    server, url = fake
    fetch_osm(client(url, tmp_path), scene_area(scene), "2020-05-04T00:00:00Z")
    assert server.dates and set(server.dates) == {"2020-05-04T00:00:00Z"}


def test_retry_after_is_honoured(scene, fake, tmp_path):
    """issue 18 overpass: a 429 is retried after the wait its Retry-After asks, and counted."""
    server, url = fake
    server.faults = [("429", 1)]
    ovp = client(url, tmp_path)
    started = time.monotonic()
    fetch_osm(ovp, east_area(scene), None)
    assert time.monotonic() - started >= 1.0
    assert ovp.stats.retries == {"429": 1}
    assert [r["path"] for r in server.requests].count("/api/interpreter") == 2


def test_429_without_retry_after_waits_for_the_status_slot(scene, fake, tmp_path):
    """issue 18 overpass: a 429 without Retry-After asks /api/status when the next slot is
    free and waits that long."""
    server, url = fake
    server.faults = [("429", None)]
    server.status_text = ("Connected as: 1\nRate limit: 2\n"
                          "Slot available after: 2030-01-01T00:00:01Z, in 1 seconds.\n")
    started = time.monotonic()
    fetch_osm(client(url, tmp_path), scene_area(scene), None)
    assert time.monotonic() - started >= 1.0
    assert "/api/status" in [r["path"] for r in server.requests]
    assert slot_seconds("Rate limit: 2\n2 slots available now.\n") == 0.0
    assert slot_seconds("Slot available after: x, in 7 seconds.\nSlot available after: y, "
                        "in 3 seconds.\n") == 3.0


def test_repeated_504_splits_the_query_in_four(scene, fake, tmp_path):
    """issue 18 overpass: a box the server answers with 504 twice is asked again as 4
    quarters, and the merged result is the same."""
    server, url = fake
    area = east_area(scene)
    whole = fetch_osm(client(url, tmp_path / "whole"), area, None, cell_deg=1.0)
    server.answered.clear()
    server.max_area_deg2 = area.area / 3
    ovp = client(url, tmp_path / "split")
    got = fetch_osm(ovp, area, None, cell_deg=1.0)
    assert len(whole.queries) == 1 and len(got.queries) == 4 and server.answered == got.queries
    assert ovp.stats.retries == {"504": 1, "split_504": 1}
    assert sorted(element_ids(got.path)) == sorted(element_ids(whole.path))
    again = fetch_osm(client(url, tmp_path / "split"), area, None, cell_deg=1.0)
    assert again.queries == got.queries  # the split is remembered too


@pytest.mark.parametrize("fault", [("slow", 1.5), ("remark",), ("504",)])
def test_a_timeout_or_overload_is_retried(scene, fake, tmp_path, fault):
    """issue 18 overpass: a reply that takes too long, a `runtime error` remark and a 504 are
    retried (once each here), counted by cause."""
    server, url = fake
    server.faults = [fault]
    ovp = client(url, tmp_path)
    got = fetch_osm(ovp, east_area(scene), None, cell_deg=1.0)
    cause = {"slow": "timeout", "remark": "remark", "504": "504"}[fault[0]]
    assert ovp.stats.retries == {cause: 1}
    assert ovp.stats.requests == 2 and len(got.queries) == 1


def test_a_rerun_makes_no_request(scene, fake, tmp_path):
    """issue 18 overpass: every reply is cached under (endpoint, query): the same fetch again
    asks the server nothing and gives the same file."""
    server, url = fake
    first = fetch_osm(client(url, tmp_path), scene_area(scene), None, cell_deg=0.003)
    asked = len(server.requests)
    ovp = client(url, tmp_path)
    second = fetch_osm(ovp, scene_area(scene), None, cell_deg=0.003)
    assert len(server.requests) == asked
    assert ovp.stats.requests == 0 and ovp.stats.cache_hits == len(first.queries)
    assert second.path == first.path and second.queries == first.queries


def test_retries_are_bounded_and_end_in_one_line_naming_the_endpoint(scene, fake, tmp_path):
    """issue 18 overpass: a server that keeps failing ends the fetch with one line naming the
    endpoint, after a bounded number of tries."""
    server, url = fake
    server.faults = [("504",)] * 50
    settings = Settings(backoff_s=0.01, max_retries=3, max_depth=0)
    with pytest.raises(InputError) as err:
        fetch_osm(client(url, tmp_path, settings), east_area(scene), None, cell_deg=1.0)
    assert len(server.requests) == 4
    assert "\n" not in str(err.value) and url in str(err.value)
    assert "no answer after 4 tries (last: HTTP 504)" in str(err.value)


def test_a_dead_server_is_one_line(scene, tmp_path):
    """issue 18 overpass: nothing listening at the endpoint is a one-line error naming it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/interpreter"
    with pytest.raises(InputError, match="cannot connect") as err:
        fetch_osm(client(url, tmp_path), scene_area(scene), None)
    assert url in str(err.value) and "\n" not in str(err.value)


def test_a_bad_url_is_refused():
    """issue 18 overpass: `--osm overpass:` needs an http(s) URL; credentials never shown."""
    assert overpass_url("scene.osm") is None
    assert overpass_url("overpass:https://x.org/api/interpreter") == "https://x.org/api/interpreter"
    for bad in ("overpass:", "overpass:ftp://u:secret-pw@x.org/api", "overpass:not a url"):
        with pytest.raises(InputError) as err:
            overpass_url(bad)
        assert "secret-pw" not in str(err.value)


def test_credentials_are_sent_but_never_stored(scene, fake, tmp_path):
    """issue 18 overpass: user:password in the URL goes to the server as basic auth; cache keys,
    cache files, the merged file and the provenance hold only the public endpoint."""
    server, url = fake
    secret_url = url.replace("http://", "http://geouser:pw-4411secret@")
    got = fetch_osm(client(secret_url, tmp_path), scene_area(scene), None)
    expected = "Basic " + base64.b64encode(b"geouser:pw-4411secret").decode()
    assert set(server.auth) == {expected}
    assert got.endpoint == url and "pw-4411secret" not in str(got.provenance())
    for path in tmp_path.rglob("*"):
        assert "pw-4411secret" not in str(path) and "geouser" not in str(path)
        if path.is_file():
            assert b"pw-4411secret" not in path.read_bytes()


def test_every_request_names_the_project(scene, fake, tmp_path):
    """issue 18 overpass: every request carries geoscribe's User-Agent (the fake refuses
    requests without one, as some servers do)."""
    server, url = fake
    fetch_osm(client(url, tmp_path), scene_area(scene), None, cell_deg=0.003)
    assert server.requests and {r["agent"] for r in server.requests} == {USER_AGENT}
