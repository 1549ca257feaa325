"""sources/geocode.py: `--region "Place, Country"` geocoded by a Nominatim (issue 18, place
names), against the loopback fake of tests/nominatim_server.py. Truth from shapely on the
polygons the fake serves."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import shape

from geoscribe.errors import InputError
from geoscribe.sources.geocode import geocode_place
from geoscribe.sources.remote import USER_AGENT, RemoteStats
from nominatim_server import result


def square(lon: float, lat: float, side: float) -> dict:
    ring = [[lon, lat], [lon + side, lat], [lon + side, lat + side], [lon, lat + side],
            [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def test_requests_keep_nominatims_pace_and_name_the_project(nominatim, tmp_path):
    """issue 18 place names: one request per second at most, each with the project's
    User-Agent and the search parameters."""
    names = ["Alpha, Testland", "Beta, Testland", "Gamma, Testland"]
    for i, name in enumerate(names):
        nominatim.places[name] = [result("relation", 10 + i, name, square(i, 0, 1))]
    stats = RemoteStats()
    for name in names:
        geocode_place(name, nominatim.url, tmp_path / "cache", stats)
    times = [r["time"] for r in nominatim.requests]
    assert len(times) == 3 and min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.95
    assert {r["agent"] for r in nominatim.requests} == {USER_AGENT}
    assert [r["query"]["q"] for r in nominatim.requests] == names
    assert stats.requests == 3 and stats.cache_hits == 0


def test_a_second_lookup_is_answered_by_the_cache(nominatim, tmp_path):
    """issue 18 place names: the reply is cached on disk: asking again (another process would
    read the same folder) makes no request."""
    nominatim.places["Alpha, Testland"] = [result("relation", 10, "Alpha", square(0, 0, 1))]
    first, second = RemoteStats(), RemoteStats()
    a = geocode_place("Alpha, Testland", nominatim.url, tmp_path / "cache", first)
    b = geocode_place("Alpha, Testland", nominatim.url, tmp_path / "cache", second)
    assert len(nominatim.requests) == 1
    assert (first.requests, first.cache_hits, second.requests, second.cache_hits) == (1, 0, 0, 1)
    assert a.geometry.equals(b.geometry) and a.provenance == b.provenance


def test_the_first_polygon_result_is_taken_and_named(nominatim, tmp_path, capsys):
    """issue 18 place names: an ambiguous name takes Nominatim's first polygon result (a
    point result before it is passed over) and the log says which; the provenance names the
    place, the OSM element and the geocoder."""
    point = result("node", 1, "Springfield (village)",
                   {"type": "Point", "coordinates": [5.0, 5.0]})
    first = result("relation", 2, "Springfield, Testland", square(1, 1, 0.5))
    other = result("relation", 3, "Springfield, Elsewhere", square(3, 3, 0.5))
    nominatim.places["Springfield"] = [point, first, other]
    place = geocode_place("Springfield", nominatim.url, tmp_path / "cache", RemoteStats())
    assert place.geometry.equals(shapely.make_valid(shape(first["geojson"])))
    assert place.provenance == {"place": "Springfield", "osm_type": "relation", "osm_id": 2,
                                "display_name": "Springfield, Testland", "result": 2,
                                "results": 3, "endpoint": nominatim.url}
    err = capsys.readouterr().err
    assert "3 places match; took result 2" in err and "relation 2" in err


def test_a_busy_geocoder_is_asked_again_at_the_same_pace(nominatim, tmp_path):
    """issue 18 place names: 429 and 503 are retried after their Retry-After, still one
    request per second, and counted by cause; an error status that stays is one line."""
    nominatim.places["Alpha"] = [result("relation", 10, "Alpha", square(0, 0, 1))]
    nominatim.statuses = [429, 503]
    stats = RemoteStats()
    place = geocode_place("Alpha", nominatim.url, tmp_path / "cache", stats)
    assert place.provenance["osm_id"] == 10 and len(nominatim.requests) == 3
    times = [r["time"] for r in nominatim.requests]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.95
    assert stats.requests == 3 and dict(stats.retries) == {"429": 1, "503": 1}
    nominatim.statuses = [500]
    with pytest.raises(InputError, match=r"^--region 'Beta': geocoder .* answered HTTP 500$"):
        geocode_place("Beta", nominatim.url, tmp_path / "cache", RemoteStats())


def test_a_geocoder_that_stays_busy_gives_up_in_one_line(nominatim, tmp_path):
    """issue 18 mends case 1 (place names): 429 on every try ends after 4 tries (3 retries)
    in one line naming the geocoder in its public form, without its credentials."""
    nominatim.places["Gamma"] = [result("relation", 11, "Gamma", square(0, 0, 1))]
    nominatim.statuses = [429] * 4
    stats = RemoteStats()
    endpoint = nominatim.url.replace("http://", "http://user:pa55word@")
    with pytest.raises(InputError) as caught:
        geocode_place("Gamma", endpoint, tmp_path / "cache", stats)
    message = str(caught.value)
    assert message == (f"--region 'Gamma': no answer after 4 tries (last: HTTP 429) "
                       f"(geocoder {nominatim.url})")
    assert len(nominatim.requests) == 4 and dict(stats.retries) == {"429": 3}


@pytest.mark.parametrize(("served", "needle"), [
    ([], "no place of that name"),
    ([result("node", 1, "A point", {"type": "Point", "coordinates": [5.0, 5.0]})],
     "only Point results, no polygon"),
])
def test_no_polygon_is_one_line(nominatim, tmp_path, served, needle):
    """issue 18 place names: no result, or a point without a polygon, is one line naming the
    place."""
    nominatim.places["Nowhere"] = served
    with pytest.raises(InputError) as caught:
        geocode_place("Nowhere", nominatim.url, tmp_path / "cache", RemoteStats())
    message = str(caught.value)
    assert message.startswith("--region 'Nowhere': ") and needle in message
    assert "\n" not in message


def test_an_unreachable_geocoder_is_one_line(tmp_path):
    """issue 18 place names: a geocoder that does not answer is one line naming it in its
    public form (no credentials)."""
    with pytest.raises(InputError) as caught:
        geocode_place("Alpha", "http://user:secret@127.0.0.1:9", tmp_path / "cache",
                      RemoteStats(), timeout=5)
    message = str(caught.value)
    assert message.startswith("--region 'Alpha': geocoder http://127.0.0.1:9 unreachable")
    assert "secret" not in message and "\n" not in message
