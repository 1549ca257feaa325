"""`--region "Place, Country"`: the place's polygon from a Nominatim geocoder (issue 18).

One `/search?q=...&format=json&polygon_geojson=1` request per place, under Nominatim's usage
policy: the project's User-Agent and at most one request per second (the time of the last
request is kept in the cache folder, so separate runs sharing a cache keep the pace too).
Replies are cached on disk by endpoint (public form) and query: a re-run asks nothing.
The region is Nominatim's first result with a (Multi)Polygon geometry; a place with no result,
or with only points or lines, is a one-line error.

requests is used rather than osmnx.geocode_to_gdf: osmnx keeps the result list to itself (it
cannot say which of several results it took, nor whether a reply came from its cache or the
network, which the run's counters need), re-sorts Nominatim's ranking by `importance`, retries
429/504 without end, and caches outside the project's atomic reply cache (sources.remote).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geoscribe.errors import InputError
from geoscribe.redact import public_url
from geoscribe.sources.remote import (
    USER_AGENT,
    DiskCache,
    RemoteStats,
    RetryableFailure,
    RetryPolicy,
    call_with_retries,
    request_key,
    retry_after_seconds,
)

SOURCE = "nominatim"  # the cache folder's and the counters' name
MIN_GAP_S = 1.0  # Nominatim's usage policy: at most one request per second
RETRIES = 3  # on 429 / 503, after the Retry-After wait (at most MAX_WAIT_S)
MAX_WAIT_S = 30.0
POLYGONS = ("Polygon", "MultiPolygon")
_PACE = threading.Lock()


@dataclass(frozen=True)
class Place:
    """A geocoded place: its polygon (WGS84) and what names it for a rebuild."""

    geometry: BaseGeometry
    provenance: dict


def geocode_place(name: str, endpoint: str, folder: Path, stats: RemoteStats,
                  timeout: float = 30.0) -> Place:
    """The polygon of place `name` from the Nominatim at `endpoint` (replies cached in
    `folder`); says on stderr which result it took when there were several."""
    results = search(name, endpoint, folder, stats, timeout)
    where = f"--region {name!r}"
    if not results:
        raise InputError(where, f"no place of that name at {public_url(endpoint)}")
    index = next((i for i, r in enumerate(results)
                  if (r.get("geojson") or {}).get("type") in POLYGONS), None)
    if index is None:
        kinds = sorted({str((r.get("geojson") or {}).get("type", "no geometry")) for r in results})
        raise InputError(where, f"the geocoder found only {', '.join(kinds)} results, no polygon "
                                "(give a bbox or a GeoJSON file)")
    chosen = results[index]
    geometry = shapely.make_valid(shape(chosen["geojson"]))
    provenance = {"place": name, "osm_type": chosen.get("osm_type"),
                  "osm_id": chosen.get("osm_id"), "display_name": chosen.get("display_name"),
                  "result": index + 1, "results": len(results),
                  "endpoint": public_url(endpoint)}
    if len(results) > 1:
        print(f"--region {name!r}: {len(results)} places match; took result {index + 1} "
              f"(the first polygon): {chosen.get('osm_type')} {chosen.get('osm_id')} "
              f"{chosen.get('display_name')!r}", file=sys.stderr)
    return Place(geometry, provenance)


def search(name: str, endpoint: str, folder: Path, stats: RemoteStats,
           timeout: float) -> list[dict]:
    """Nominatim's results for `name` (a list of dicts), from the cache or one request."""
    params = {"q": name, "format": "json", "polygon_geojson": 1, "limit": 10}
    cache = DiskCache(folder)
    key = request_key(public_url(endpoint), "search", params)
    cached = cache.get(key)
    if cached is not None:
        stats.count(cache_hits=1)
        return json.loads(cached)
    where = f"--region {name!r}"
    body = fetch(endpoint, params, folder, stats, timeout, where)
    try:
        results = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        results = None
    if not isinstance(results, list):
        raise InputError(where, f"geocoder {public_url(endpoint)} replied with no Nominatim "
                                "JSON result list")
    cache.put(key, body)
    return results


def fetch(endpoint: str, params: dict, folder: Path, stats: RemoteStats, timeout: float,
          where: str) -> bytes:
    """GET `endpoint`/search at the policy's pace with the project's User-Agent; 429/503
    retried after their Retry-After (remote's retry loop); any other failure is one line
    starting with `where`."""
    public = public_url(endpoint)

    def once() -> bytes:
        wait_turn(folder)
        try:
            response = requests.get(endpoint.rstrip("/") + "/search", params=params,
                                    timeout=timeout, headers={"User-Agent": USER_AGENT})
        except requests.RequestException as exc:
            raise InputError(where, f"geocoder {public} unreachable "
                                    f"({type(exc).__name__})") from None
        stats.count(requests=1, bytes_read=len(response.content))
        status = response.status_code
        if status in (429, 503):
            raise RetryableFailure(str(status), f"HTTP {status}", wait=min(
                MAX_WAIT_S, retry_after_seconds(dict(response.headers), MIN_GAP_S)))
        if status != 200:
            raise InputError(where, f"geocoder {public} answered HTTP {status}")
        return response.content

    return call_with_retries(once, RetryPolicy(RETRIES + 1), stats, where, endpoint,
                             label="geocoder ")


def wait_turn(folder: Path, gap: float = MIN_GAP_S) -> None:
    """Sleep until `gap` seconds have passed since the last request any run made through
    `folder` (the mtime of its `last-request` file), then mark this one."""
    stamp = folder / "last-request"
    with _PACE:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            delay = stamp.stat().st_mtime + gap - time.time()
        except FileNotFoundError:
            delay = 0.0
        if delay > 0:
            time.sleep(min(delay, gap))
        stamp.touch()
