"""OSM from an Overpass API server (`--osm overpass[:URL]`, issue 18), turned into one OSM XML
file that the ordinary OSM reader ingests.

The area is queried cell by cell on a fixed grid of `cell_deg` degrees (the query grid,
aligned on 0,0 so the same area always gives the same queries), each cell clipped to the area's
bounds. A query asks for every node, way and relation in its box, recursed down
(`(._;>;)`: ways' nodes, relations' members and their nodes) so osmium can build every
geometry, at a fixed date (`[date:"..."]`) when one is given. Each query is retried on 429
(waiting what `Retry-After` says, else what `/api/status` says of the next free slot), on 504,
on a reply timeout and on a `runtime error` remark (Overpass's timeout/`maxsize` answer); after
`split_after` such overload answers in a row the box is split into 4 and each quarter queried
instead (at most `max_depth` times). Retries go through sources.remote.call_with_retries
(bounded; the last failure is a one-line InputError naming the endpoint in its public form);
the `/api/status` wait and the split stay here.

Every good reply is stored in the DiskCache under (public endpoint, query), and every split
under (public endpoint, query, "split"), as soon as it arrives: a re-run, or a resume after a
kill, asks again for nothing it already has. The replies are merged by osmium's
MergeInputReader (each element once, in id order) into one file, so the ingest meets each
element once, exactly as it would in a local extract.

Transport: `requests`, not overpy. overpy parses a reply into Python objects and does not give
back the XML, which osmium (the OSM reader) needs; it also neither honours `Retry-After` nor
exposes the status code and headers a retry rule needs, and a reply kept as bytes is what the
cache stores. The full endpoint URL (with any user:password, which requests sends as basic
auth) is only held in memory; outputs, cache keys and messages use its public form.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import osmium
import requests
import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.errors import InputError
from geoscribe.redact import public_url, redact_text
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

PREFIX = "overpass"
CELL_DEG = 0.05  # the query grid: ~5.5 km cells, far under the public servers' limits
QUERY_TIMEOUT_S = 180  # [timeout:...] asked of the server
MAXSIZE = 512 * 1024 * 1024  # [maxsize:...] bytes of server memory asked for (its default)
OVERLOAD = ("504", "timeout", "remark")  # causes that ask for a smaller query when repeated
BoxT = tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def overpass_url(spec: str) -> str | None:
    """The endpoint of an `--osm overpass:URL` value, None for a file path."""
    head, sep, url = spec.partition(":")
    if head.lower() != PREFIX:
        return None
    if not sep or not url.strip():
        raise InputError(f"--osm {spec}", "give the server as overpass:URL")
    if not re.match(r"^https?://[^/?#\s]+", url.strip()):
        raise InputError(f"--osm {PREFIX}:{public_url(url)}",
                         "not an http(s) URL of an Overpass API interpreter")
    return url.strip()


def parse_date(text: str) -> str:
    """`--osm-date` (YYYY-MM-DD or an ISO date-time) as Overpass wants it: UTC, seconds, Z."""
    value = text.strip()
    try:
        if len(value) == 10:
            when = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--osm-date {text}", "not a date (YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM:SSZ)") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_query(box: BoxT, when: str | None, timeout_s: int = QUERY_TIMEOUT_S,
                maxsize: int = MAXSIZE) -> str:
    """The Overpass QL of one box: everything in it, recursed down, at `when` (or now)."""
    west, south, east, north = (f"{v:.7f}" for v in box)
    dated = f'[date:"{when}"]' if when else ""
    bbox = f"({south},{west},{north},{east})"
    return (f"[out:xml][timeout:{timeout_s}][maxsize:{maxsize}]{dated};"
            f"(node{bbox};way{bbox};relation{bbox};);(._;>;);out meta;")


def query_boxes(area: BaseGeometry, cell_deg: float = CELL_DEG) -> list[BoxT]:
    """The boxes to query for `area`: each cell of the `cell_deg` grid that meets it, clipped
    to the area's bounds, in grid order (rows south to north, west to east)."""
    west, south, east, north = area.bounds
    shapely.prepare(area)
    boxes = []
    for iy in range(math.floor(south / cell_deg), math.floor(north / cell_deg) + 1):
        for ix in range(math.floor(west / cell_deg), math.floor(east / cell_deg) + 1):
            cell = (max(west, ix * cell_deg), max(south, iy * cell_deg),
                    min(east, (ix + 1) * cell_deg), min(north, (iy + 1) * cell_deg))
            if cell[0] < cell[2] and cell[1] < cell[3] and area.intersects(shapely.box(*cell)):
                boxes.append(tuple(round(v, 7) for v in cell))
    return boxes


def quarters(box: BoxT) -> list[BoxT]:
    """A box split in 4 (SW, SE, NW, NE)."""
    west, south, east, north = box
    mx, my = round((west + east) / 2, 7), round((south + north) / 2, 7)
    return [(west, south, mx, my), (mx, south, east, my), (west, my, mx, north),
            (mx, my, east, north)]


class Overloaded(Exception):
    """The server answered a query with repeated 504s/timeouts: ask smaller ones."""


@dataclass
class Settings:
    """How hard the client tries: the HTTP timeouts, the retry bound and waits, and when it
    splits a query."""

    read_timeout_s: float = QUERY_TIMEOUT_S + 30
    connect_timeout_s: float = 10.0
    max_retries: int = 6  # retries of one query before the build fails
    connect_retries: int = 2  # retries when the server cannot be reached at all
    backoff_s: float = 2.0  # first wait after a 504/timeout/refused connection, then doubled
    max_wait_s: float = 600.0  # a server asking to wait longer fails the build
    split_after: int = 2  # overload answers in a row before a query is split in 4
    max_depth: int = 3  # splits of one grid cell at most (1/64 of a cell)


class OverpassClient:
    """Queries one Overpass endpoint through the cache, counting into `stats`."""

    def __init__(self, url: str, cache: DiskCache, stats: RemoteStats,
                 settings: Settings | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.public = public_url(url)
        self.cache, self.stats = cache, stats
        self.settings = settings or Settings()
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def fetch(self, box: BoxT, when: str | None, depth: int = 0) -> list[str]:
        """The queries whose cached replies together cover `box` (split when the server was
        overloaded), asking the server only for what the cache does not hold."""
        query = build_query(box, when)
        key = request_key(self.public, query)
        split_key = request_key(self.public, query, "split")
        if self.cache.path(key).exists():
            self.stats.count(cache_hits=1)
            return [query]
        if self.cache.path(split_key).exists():
            self.stats.count(cache_hits=1)
        else:
            try:
                self.cache.put(key, self.ask(query, can_split=depth < self.settings.max_depth))
                return [query]
            except Overloaded:
                self.cache.put(split_key, b"split")
        return [q for part in quarters(box) for q in self.fetch(part, when, depth + 1)]

    def reply(self, query: str) -> bytes:
        """The cached reply of `query` (after `fetch`)."""
        data = self.cache.get(request_key(self.public, query))
        if data is None:
            raise InputError(self.where, "a cached reply vanished; re-run to fetch it again")
        return data

    @property
    def where(self) -> str:
        return f"--osm {PREFIX}:{self.public}"

    def ask(self, query: str, can_split: bool) -> bytes:
        """One query's reply, retried within the bounds of the settings (remote's retry
        loop); Overpass's own rule stays here: `split_after` overload answers in a row raise
        Overloaded when the box may still be split."""
        settings = self.settings
        policy = RetryPolicy(settings.max_retries + 1, settings.backoff_s, 2.0,
                             settings.max_wait_s, settings.max_wait_s,
                             {"connection": settings.connect_retries + 1})
        overloads = 0

        def split_when_overloaded(failure: RetryableFailure) -> None:
            nonlocal overloads
            overloads = overloads + 1 if failure.cause in OVERLOAD else 0
            if can_split and overloads >= settings.split_after:
                self.stats.count(retry=f"split_{failure.cause}")
                raise Overloaded(query)

        return call_with_retries(lambda: self._try(query), policy, self.stats, self.where,
                                 self.url, sleep=self.sleep, on_failure=split_when_overloaded)

    @staticmethod
    def _cause_text(cause: str) -> str:
        return {"connection": "cannot connect", "timeout": "no reply in time",
                "remark": "the server gave up on the query"}.get(cause, f"HTTP {cause}")

    def _failure(self, cause: str, wait: float | None = None) -> RetryableFailure:
        return RetryableFailure(cause, self._cause_text(cause), wait=wait)

    def _try(self, query: str) -> bytes:
        """One request: the reply, or a RetryableFailure (its cause, and its wait or None
        for the backoff)."""
        settings = self.settings
        try:
            response = self.session.post(self.url, data={"data": query}, timeout=(
                settings.connect_timeout_s, settings.read_timeout_s))
        except requests.Timeout:
            self.stats.count(requests=1)
            raise self._failure("timeout") from None
        except requests.ConnectionError:
            self.stats.count(requests=1)
            raise self._failure("connection") from None
        except requests.RequestException as exc:
            raise InputError(self.where, f"cannot query ({type(exc).__name__})") from None
        self.stats.count(requests=1, bytes_read=len(response.content))
        return self._judge(response)

    def _judge(self, response: requests.Response) -> bytes:
        """What a reply means: good data, or a RetryableFailure (or an error)."""
        status = response.status_code
        if status == 200:
            if b"<osm" not in response.content[:2000]:
                raise InputError(self.where, "the reply is not OSM XML (is this an Overpass "
                                 "API interpreter URL?)")
            if re.search(rb"<remark>\s*runtime error", response.content[-4000:]):
                raise self._failure("remark")
            return response.content
        if status == 429:
            wait = retry_after_seconds(response.headers, -1.0)
            raise self._failure("429", wait if wait >= 0 else self.slot_wait())
        if status in (502, 503, 504):
            raise self._failure("504" if status == 504 else str(status))
        detail = " ".join(response.text.split())[:200]
        raise InputError(self.where, f"HTTP {status} ({redact_text(detail)})")

    def slot_wait(self) -> float | None:
        """Seconds until the next free slot, as the server's /api/status tells it (None when
        it cannot be asked or says nothing useful)."""
        if not self.url.rstrip("/").endswith("/interpreter"):
            return None
        status_url = self.url.rstrip("/")[: -len("interpreter")] + "status"
        try:
            response = self.session.get(status_url, timeout=(
                self.settings.connect_timeout_s, 30))
        except requests.RequestException:
            return None
        self.stats.count(requests=1, bytes_read=len(response.content))
        return slot_seconds(response.text) if response.ok else None


def slot_seconds(status_text: str) -> float | None:
    """The wait /api/status announces: 0 when a slot is free now, else the soonest slot's
    `in N seconds`, else None."""
    if re.search(r"^\s*[1-9]\d* slots? available now", status_text, re.M):
        return 0.0
    waits = [float(s) for s in re.findall(r"in (\d+) seconds?", status_text)]
    return min(waits) if waits else None


@dataclass
class OsmFetch:
    """What an Overpass input became: the merged OSM file and how to rebuild it."""

    path: Path
    endpoint: str  # public form
    date: str | None
    queries: list[str]
    osm_base: str | None = None  # the server's data timestamp (the latest of the replies)

    def provenance(self) -> dict:
        """The fields stats.json's `sources` row of this input gets: the endpoint, the date
        asked, the data's timestamp (`osm_base`; with no date asked, the date that rebuilds
        the same map) and every query; `acquired`: the date the map shows."""
        return {"endpoint": self.endpoint, "date": self.date, "osm_base": self.osm_base,
                "acquired": self.date or self.osm_base, "queries": self.queries}


def fetch_osm(client: OverpassClient, area: BaseGeometry, when: str | None,
              cell_deg: float = CELL_DEG, progress: Callable[[Iterator], Iterator] = iter
              ) -> OsmFetch:
    """Query `area` box by box (through the cache) and merge the replies into one OSM XML file
    in the cache (reused when it exists, so its bytes and date stay those of the first run)."""
    queries: list[str] = []
    for box in progress(iter(query_boxes(area, cell_deg))):
        queries.extend(client.fetch(box, when))
    merged = client.cache.folder / "merged" / f"{request_key(client.public, queries)}.osm"
    replies = [client.reply(q) for q in queries]
    if not merged.exists():
        merge_replies(replies, merged)
    return OsmFetch(merged, client.public, when, queries, osm_base(replies))


def osm_base(replies: list[bytes]) -> str | None:
    """The latest `<meta osm_base="...">` timestamp of Overpass replies (None without one)."""
    found = [m.group(1).decode() for data in replies
             if (m := re.search(rb'<meta osm_base="([^"]+)"', data[:4000]))]
    return max(found, default=None)


def merge_replies(replies: list[bytes], target: Path) -> None:
    """Write the replies as one OSM XML file, each element once, in type and id order
    (osmium's MergeInputReader), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".part-{target.name}")
    tmp.unlink(missing_ok=True)
    reader = osmium.MergeInputReader()
    for data in replies:
        reader.add_buffer(data, "osm")
    writer = osmium.SimpleWriter(str(tmp), overwrite=True)
    try:
        reader.apply(writer, simplify=True)
    except RuntimeError as exc:
        raise InputError(f"--osm {PREFIX}", f"a reply is not readable OSM XML ({exc})") from None
    finally:
        writer.close()
    tmp.replace(target)
