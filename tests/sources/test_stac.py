"""STAC search, item choice, assets and signing (issue 18, `--imagery stac:URL`), against the
loopback STAC API of tests/stac_server.py (pystac-client talks to it over HTTP)."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box

from geoscribe.errors import InputError
from geoscribe.sources.remote import DiskCache, RemoteStats
from geoscribe.sources.stac import (
    StacQuery,
    choose_items,
    collection_license,
    pick_asset,
    search_stac,
    sign_mode,
)
from stac_server import SAS, TOKEN, StacServer


def _item(item_id: str, bounds, cloud=None, when="2023-06-01T00:00:00Z") -> dict:
    props = {"datetime": when} if cloud is None else {"datetime": when, "eo:cloud_cover": cloud}
    return {"id": item_id, "geometry": shapely.geometry.mapping(box(*bounds)),
            "properties": props, "assets": {}}


def _region(stac) -> shapely.Polygon:
    """The union of the items' footprints (what the scene's items cover)."""
    return shapely.union_all([shapely.box(*i["bbox"]) for i in stac.items])


def _search(stac, tmp_path, **options):
    stats = RemoteStats()
    query = StacQuery(stac.api, options.pop("collection", "s2"), **options)
    result = search_stac(query, _region(stac), DiskCache(tmp_path / "cache"), stats)
    return result, stats


def test_choose_items_least_cloudy_that_cover_the_region():
    """issue 18 (stac): ranked by cloud, the kept items are those adding uncovered area; a
    cloudier item covering only what is covered already is left out."""
    region = box(0, 0, 2, 1)
    items = [_item("east_cloudy", (1, 0, 2, 1), 50), _item("all", (0, 0, 2, 1), 20),
             _item("west", (0, 0, 1, 1), 5), _item("east_clear", (1, 0, 2, 1), 1)]
    assert [i["id"] for i in choose_items(items, region)] == ["east_clear", "west"]


def test_choose_items_tie_breaks_newest_then_id_and_unknown_cloud_last():
    """issue 18 (stac): equal cloud -> the newest first, then the smaller id; an item without
    eo:cloud_cover ranks after every item with one."""
    region = box(0, 0, 1, 1)
    items = [_item("b", (0, 0, 1, 1), 3, "2023-01-01T00:00:00Z"),
             _item("a", (0, 0, 1, 1), 3, "2023-01-01T00:00:00Z"),
             _item("new", (0, 0, 1, 1), 3, "2023-02-01T00:00:00Z"),
             _item("unknown", (0, 0, 1, 1), None, "2024-01-01T00:00:00Z")]
    assert [i["id"] for i in choose_items(items, region)] == ["new"]
    assert [i["id"] for i in choose_items(items[:2], region)] == ["a"]
    assert [i["id"] for i in choose_items([items[3], _item("x", (0, 0, .5, 1), 99)],
                                          region)] == ["x", "unknown"]


def test_pick_asset_visual_then_cog_data_then_named():
    """issue 18 (stac): `visual` by default, else the first COG data asset; --asset names one."""
    cog = {"type": "image/tiff; application=geotiff; profile=cloud-optimized",
           "roles": ["data"]}
    item = {"assets": {"thumb": {"type": "image/png", "roles": ["thumbnail"]},
                       "B04": cog, "B03": cog}}
    assert pick_asset(item, None) == "B04"
    assert pick_asset({"assets": {**item["assets"], "visual": cog}}, None) == "visual"
    assert pick_asset(item, "B03") == "B03"
    assert pick_asset(item, "nir") is None
    assert pick_asset({"assets": {"thumb": item["assets"]["thumb"]}}, None) is None


def test_collection_license_and_attribution():
    """issue 18 (stac): the collection's license, with its license link when proprietary, and
    its licensor/producer providers as the attribution."""
    coll = {"license": "proprietary", "links": [{"rel": "license",
                                                 "href": "https://x.org/terms?k=secret"}],
            "providers": [{"name": "Agency", "roles": ["licensor", "producer"]},
                          {"name": "Cloud", "roles": ["host"]}]}
    assert collection_license(coll) == ("proprietary (https://x.org/terms)", "Agency")
    assert collection_license({"license": "CC-BY-4.0"}) == ("CC-BY-4.0", None)


def test_sign_mode_planetary_computer_conventions():
    """issue 18 (stac): auto signs only for the Planetary Computer host; the token endpoint is
    derived from the API URL unless given; none never signs."""
    pc = "https://planetarycomputer.microsoft.com/api/stac/v1"
    assert sign_mode(StacQuery(pc, "naip")) == \
        "https://planetarycomputer.microsoft.com/api/sas/v1/token"
    assert sign_mode(StacQuery("https://earth-search.aws.element84.com/v1", "naip")) is None
    assert sign_mode(StacQuery(pc, "naip", sign="none")) is None
    assert sign_mode(StacQuery("http://h:1/api/stac/v1", "c", sign="planetary-computer")) == \
        "http://h:1/api/sas/v1/token"
    assert sign_mode(StacQuery("http://h/stac", "c", sign="planetary-computer:http://t/tok")) \
        == "http://t/tok"
    with pytest.raises(InputError, match="--stac-sign"):
        sign_mode(StacQuery("http://h/stac", "c", sign="aws"))


def test_search_chooses_least_cloudy_items_over_http(stac_api, tmp_path):
    """issue 18 (stac): the fake API's items: `west` (2 %) then `full` (10 %) cover the scene;
    `cloudy` (90 %, the newest) is left out; pages are followed (2 items a page)."""
    result, stats = _search(stac_api, tmp_path)
    assert [a.item_id for a in result.assets] == ["west", "full"]
    assert [a.href for a in result.assets] == [stac_api.file_url("a_west.tif"),
                                               stac_api.file_url("b_full.tif")]
    assert result.search["matched"] == 3
    assert (result.license, result.attribution) == ("CC-BY-4.0", "Fake Space Agency")
    assert stats.requests == 4 and stats.cache_hits == 0 and stats.bytes_read > 0


def test_max_cloud_excludes_items_also_when_the_server_ignores_query(stac_api, tmp_path):
    """issue 18 (stac): --max-cloud 5 keeps `west` alone, whether the API filters (`query`
    extension) or not (checked here too)."""
    result, _ = _search(stac_api, tmp_path / "a", max_cloud=5.0)
    assert [a.item_id for a in result.assets] == ["west"]
    stac_api.ignore_query = True
    try:
        result, _ = _search(stac_api, tmp_path / "b", max_cloud=5.0)
    finally:
        stac_api.ignore_query = False
    assert [a.item_id for a in result.assets] == ["west"]
    assert result.search["matched"] == 1


def test_second_search_is_served_from_the_disk_cache(stac_api, tmp_path):
    """issue 18 (stac): the same search again makes no request (every reply cached)."""
    _search(stac_api, tmp_path)
    before = list(stac_api.api_requests)
    result, stats = _search(stac_api, tmp_path)
    assert stac_api.api_requests == before
    assert stats.requests == 0 and stats.cache_hits == 4
    assert [a.item_id for a in result.assets] == ["west", "full"]


@pytest.mark.parametrize("options, message", [
    ({"collection": "landsat"}, "unknown collection 'landsat'"),
    ({"max_cloud": 1.0}, "no item of collection 's2' over the region (cloud cover <= 1 %)"),
    ({"datetime": "2020-01-01/2020-12-31"}, "no item of collection 's2' over the region"),
    ({"asset": "nir"}, "no item of collection 's2' over the region has the asset 'nir'"),
])
def test_search_errors_are_one_line(stac_api, tmp_path, options, message):
    """issue 18 (stac): unknown collection, no item, missing asset: one InputError line
    naming the API."""
    with pytest.raises(InputError) as caught:
        _search(stac_api, tmp_path, **options)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"--imagery stac:{stac_api.api}: ")


def test_dead_server_is_one_line(tmp_path):
    """issue 18 (stac): an API that does not answer is one line, not a traceback."""
    with StacServer() as stac:
        url = stac.api
    query = StacQuery(url.replace("http://", "http://user:pw@") + "?key=s3cret", "s2")
    with pytest.raises(InputError) as caught:
        search_stac(query, box(0, 0, 1, 1), DiskCache(tmp_path), RemoteStats())
    text = str(caught.value)
    assert f"cannot reach the STAC API ({url}): connection refused" in text
    assert "\n" not in text
    assert "s3cret" not in text and "pw" not in text


def test_planetary_computer_signing_with_the_token_endpoint(stac_api, tmp_path):
    """issue 18 (stac): planetary-computer signing fetches the collection's SAS token from the
    (derived) token endpoint and appends it to the URL read, never to the public href."""
    calls = stac_api.token_requests
    result, _ = _search(stac_api, tmp_path, sign="planetary-computer")
    assert stac_api.token_requests == calls + 1
    for asset in result.assets:
        assert asset.open_href == f"{asset.href}?{SAS}"
        assert SAS not in str(asset.row())
    custom = f"planetary-computer:{stac_api.url}{TOKEN}"
    result, _ = _search(stac_api, tmp_path, sign=custom)
    assert result.assets[0].open_href.endswith(SAS)


def test_unreadable_datetime_is_one_line(stac_api, tmp_path):
    """issue 18 (stac): a --datetime pystac-client cannot parse names the option."""
    with pytest.raises(InputError, match=r"^--datetime: 'june 2023': invalid datetime"):
        _search(stac_api, tmp_path, datetime="june 2023")


def test_busy_api_is_retried_and_counted(stac_api, tmp_path):
    """issue 18 (stac): 429 and 503 answers are retried (counted by status); a 400 is not."""
    stac_api.fail_next = [429, 503]
    result, stats = _search(stac_api, tmp_path / "a")
    assert [a.item_id for a in result.assets] == ["west", "full"]
    assert dict(stats.retries) == {"429": 1, "503": 1} and stats.requests == 6
    stac_api.fail_next = [400]
    with pytest.raises(InputError, match="answered HTTP 400"):
        _search(stac_api, tmp_path / "b")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(stac_api, tmp_path, status):
    """issue 18 mends case 2 (stac): a 429/503 carrying `Retry-After: 1` is asked again after
    the 1 s it asks (not the 0.5 s backoff), and counted by status."""
    stac_api.fail_next = [(status, "1")]
    first = len(stac_api.api_times)
    result, stats = _search(stac_api, tmp_path)
    refused, again = stac_api.api_times[first:first + 2]
    assert again - refused >= 0.95
    assert dict(stats.retries) == {str(status): 1}
    assert [a.item_id for a in result.assets] == ["west", "full"]


def test_giving_up_is_one_line_without_credentials(stac_api, tmp_path):
    """issue 18 mends case 1 (stac): an API that stays busy ends after 4 tries in one line
    naming the endpoint in its public form, with no credentials of the URL."""
    stac_api.fail_next = [(429, "0")] * 4
    api = stac_api.api.replace("http://", "http://user:pa55word@") + "?token=t0k"
    stats = RemoteStats()
    with pytest.raises(InputError) as caught:
        search_stac(StacQuery(api, "s2"), _region(stac_api), DiskCache(tmp_path), stats)
    message = str(caught.value)
    assert message.startswith(f"--imagery stac:{stac_api.api}: no answer after 4 tries "
                              "(last: HTTP 429)")
    assert "\n" not in message and "pa55word" not in message and "t0k" not in message
    assert stats.requests == 4 and dict(stats.retries) == {"429": 3}
    assert stac_api.fail_next == []


def test_items_without_the_asset_are_left_out_before_the_choice(stac_api, tmp_path):
    """issue 18 (stac): with --asset, an item lacking it is not chosen: `full` has no `nir`,
    so `cloudy` (which has) covers the east half after `west`."""
    with_nir = [i for i in stac_api.items if i["id"] in ("west", "cloudy")]
    for item in with_nir:
        item["assets"]["nir"] = dict(item["assets"]["visual"])
    try:
        result, _ = _search(stac_api, tmp_path, asset="nir")
    finally:
        for item in with_nir:
            del item["assets"]["nir"]
    assert [(a.item_id, a.asset) for a in result.assets] == [("west", "nir"), ("cloudy", "nir")]
