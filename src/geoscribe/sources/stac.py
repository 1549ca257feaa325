"""STAC imagery (issue 18): search a STAC API collection over the region, choose the
least-cloudy items that together cover it, and name each chosen item's COG asset by URL so
rasterio reads only the windows the chips need (HTTP range requests).

Choice rule (per region, deterministic): the items the search returns (bbox of the region,
`--datetime`, `eo:cloud_cover <= --max-cloud`, the last also checked here for servers that
ignore the `query` extension; with `--max-cloud`, items without `eo:cloud_cover` are left out)
are ranked by cloud cover (lowest first; unknown last), then acquisition time (newest first),
then item id; walking that ranking, an item is kept when its footprint adds some of the region
not yet covered by the items kept before it, until the region is covered. The kept items are
listed in that rank, so a chip is cut from the least-cloudy kept item whose footprint holds it
(the planner takes the first raster that holds the chip; a chip on a seam is mosaicked, the
higher-ranked item first).

Asset: `--asset NAME`, else `visual`, else the first asset typed
`image/tiff; application=geotiff; profile=cloud-optimized` with role `data`; items without
such an asset are left out before the choice.

Every API reply (landing page, collection, search pages) is cached on disk by request
(sources.remote.DiskCache), so a re-run makes no new API request. Signing tokens (Planetary
Computer SAS) are never cached on disk nor written to an output."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geoscribe.errors import InputError
from geoscribe.redact import public_url, redact_text, url_secrets
from geoscribe.sources.remote import (
    USER_AGENT,
    DiskCache,
    RemoteStats,
    RetryableFailure,
    RetryPolicy,
    call_with_retries,
    request_key,
)

SCHEME = "stac:"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
DEFAULT_ASSET = "visual"
PC_SIGN = "planetary-computer"
PC_HOST = "planetarycomputer.microsoft.com"
RETRY_STATUS = (429, 500, 502, 503, 504)
STAC_RETRY = RetryPolicy(attempts=4, backoff_s=0.5, max_wait_s=60.0)  # waits 0.5, 1, 2 s
# between tries, or what Retry-After asks (at most 60 s)
COVER_TOLERANCE = 1e-9  # fraction of the region's area treated as no area at all


@dataclass(frozen=True)
class StacQuery:
    """What to search: the API (full URL, credentials included: held in memory only), the
    collection, an RFC 3339 datetime or interval, the cloud limit, the asset and signing."""

    url: str
    collection: str
    datetime: str | None = None
    max_cloud: float | None = None
    asset: str | None = None
    sign: str = "auto"

    @property
    def public(self) -> str:
        """The API URL in its public form (no user-info, query or fragment)."""
        return public_url(self.url)

    @property
    def option(self) -> str:
        """How errors name the source: `--imagery stac:<public URL>`."""
        return f"--imagery {SCHEME}{self.public}"


@dataclass
class ChosenAsset:
    """One chosen item: its id, time, cloud cover, GSD, footprint and asset URL (`href`:
    what outputs name it by; `open_href`: signed when the API wants it, for reading only)."""

    item_id: str
    datetime: str | None
    cloud_cover: float | None
    gsd: float | None
    asset: str
    href: str
    open_href: str

    def row(self) -> dict:
        """The item as stats.json lists it (public URL only)."""
        return {"id": self.item_id, "datetime": self.datetime, "eo:cloud_cover": self.cloud_cover,
                "gsd": self.gsd, "asset": self.asset, "href": public_url(self.href)}


@dataclass
class StacResult:
    """The chosen assets with the collection's license and attribution, and the search as
    stats.json `sources` records it."""

    assets: list[ChosenAsset]
    license: str
    attribution: str | None
    search: dict = field(default_factory=dict)


def is_stac(spec: str) -> bool:
    """Whether an `--imagery` value names a STAC API (`stac:URL`)."""
    return spec.startswith(SCHEME)


def stac_url(spec: str) -> str:
    """The API URL of `stac:URL`; an error when it is not http(s)."""
    url = spec[len(SCHEME):].strip()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise InputError(f"--imagery {SCHEME}{public_url(url)}",
                         "expected stac:http(s)://HOST/PATH (a STAC API)")
    return url


def _stac_io(cache: DiskCache, stats: RemoteStats, option: str):
    """pystac-client's HTTP layer with the on-disk reply cache, retries (remote's retry loop:
    counted by cause, `Retry-After` honoured) and the project's User-Agent."""
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    class CachedStacIO(StacApiIO):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.last_headers: dict = {}  # of the last reply (APIError drops them)
            self.session.hooks["response"].append(self._keep_headers)

        def _keep_headers(self, response, *args, **kwargs) -> None:
            self.last_headers = dict(response.headers)

        def request(self, href, method=None, headers=None, parameters=None) -> str:
            key = request_key("stac", href, (method or "GET").upper(), parameters)
            cached = cache.get(key)
            if cached is not None:
                stats.count(cache_hits=1)
                return cached.decode("utf-8")
            text = call_with_retries(lambda: self._once(href, method, headers, parameters),
                                     STAC_RETRY, stats, option, href, label="the STAC API ")
            cache.put(key, text.encode("utf-8"))
            return text

        def _once(self, href, method, headers, parameters) -> str:
            stats.count(requests=1)
            self.last_headers = {}
            try:
                text = super().request(href, method, headers, parameters)
            except APIError as exc:
                cause = _retry_cause(exc)
                if cause is None:
                    raise _api_error(option, href, exc) from None
                raise RetryableFailure(cause, _failure_text(href, exc),
                                       headers=self.last_headers) from None
            stats.count(bytes_read=len(text.encode("utf-8")))
            return text

    return CachedStacIO(headers={"User-Agent": USER_AGENT}, timeout=60, max_retries=None)


def _retry_cause(exc: Exception) -> str | None:
    """Why a failed API request is worth another try (429, 5xx, a dropped connection or a
    timeout: the HTTP status or `connection`), or None (other statuses, a refused
    connection: the server is not there)."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return str(status) if status in RETRY_STATUS else None
    return None if "refused" in str(exc).lower() else "connection"


def _failure_text(href: str, exc: Exception) -> str:
    """A failed API request in a few words: `HTTP <status>`, `connection refused`, `timed
    out`, else the error's text with the URL's secrets redacted."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status}"
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "timed out"
    return redact_text(" ".join(str(exc).split())[:160], url_secrets(href))


def _api_error(option: str, href: str, exc: Exception) -> InputError:
    """One line for a failed API request, the URL in its public form."""
    status = getattr(exc, "status_code", None)
    where = public_url(href)
    if status is None:
        return InputError(option, f"cannot reach the STAC API ({where}): "
                                  f"{_failure_text(href, exc)}")
    return InputError(option, f"the STAC API answered HTTP {status} for {where}")


def search_stac(query: StacQuery, region: BaseGeometry, cache: DiskCache,
                stats: RemoteStats) -> StacResult:
    """Search the collection over the region and choose the items and assets to read."""
    from pystac_client import Client

    stac_io = _stac_io(cache, stats, query.option)
    client = Client.open(query.url, stac_io=stac_io)
    collection = _collection(client, query)
    items = [item for item in _search(client, query, region).items_as_dicts()
             if _cloud_ok(item, query.max_cloud)]
    if not items:
        raise InputError(query.option, f"no item of collection {query.collection!r} over the "
                         f"region{_filters_text(query)}")
    readable = [item for item in items if pick_asset(item, query.asset)]
    if not readable:
        what = f"the asset {query.asset!r}" if query.asset else (
            f"a {DEFAULT_ASSET!r} asset or a cloud-optimized GeoTIFF data asset")
        raise InputError(query.option, f"no item of collection {query.collection!r} over the "
                         f"region has {what} (--asset names the asset to read)")
    assets = [_chosen_asset(item, query) for item in choose_items(readable, region)]
    _sign_assets(assets, query, stats)
    license_id, attribution = collection_license(collection)
    return StacResult(assets, license_id, attribution, _search_row(query, items, assets,
                                                                   license_id, attribution))


def _search(client, query: StacQuery, region: BaseGeometry):
    """pystac-client's search (lazy: pages are fetched as items are read); a datetime it
    cannot parse is one line."""
    try:
        return client.search(collections=[query.collection], bbox=list(region.bounds),
                             datetime=query.datetime, method="POST",
                             query=({"eo:cloud_cover": {"lte": query.max_cloud}}
                                    if query.max_cloud is not None else None))
    except Exception as exc:  # pystac-client raises a bare Exception for a bad datetime
        raise InputError("--datetime", f"{query.datetime!r}: {exc}") from None


def _collection(client, query: StacQuery) -> dict:
    """The collection's JSON; an error naming it when the API does not know it."""
    try:
        return client.get_collection(query.collection).to_dict()
    except InputError as exc:
        if "HTTP 404" in exc.problem:
            raise InputError(query.option, f"unknown collection {query.collection!r}") from None
        raise


def _filters_text(query: StacQuery) -> str:
    parts = [f"datetime {query.datetime}" if query.datetime else "",
             f"cloud cover <= {query.max_cloud:g} %" if query.max_cloud is not None else ""]
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def _cloud_ok(item: dict, max_cloud: float | None) -> bool:
    if max_cloud is None:
        return True
    cloud = item.get("properties", {}).get("eo:cloud_cover")
    return cloud is not None and float(cloud) <= max_cloud


def _rank(item: dict) -> tuple:
    """Least cloud (unknown last), then newest, then id."""
    props = item.get("properties", {})
    cloud = props.get("eo:cloud_cover")
    when = props.get("datetime") or props.get("start_datetime")
    try:
        stamp = datetime.fromisoformat(str(when).replace("Z", "+00:00")).timestamp()
    except ValueError:
        stamp = float("-inf")
    return (cloud is None, float(cloud) if cloud is not None else 0.0, -stamp, str(item["id"]))


def choose_items(items: list[dict], region: BaseGeometry) -> list[dict]:
    """The ranked items that together cover the region, each adding some of it (see the
    module rule)."""
    kept, covered = [], shapely.Polygon()
    tolerance = region.area * COVER_TOLERANCE
    for item in sorted(items, key=_rank):
        part = shape(item["geometry"]).intersection(region) if item.get("geometry") else None
        if part is None or part.difference(covered).area <= tolerance:
            continue
        kept.append(item)
        covered = covered.union(part)
        if region.difference(covered).area <= tolerance:
            break
    return kept


def pick_asset(item: dict, wanted: str | None) -> str | None:
    """The asset key to read of an item (see the module rule); None when it has none."""
    assets = item.get("assets") or {}
    if wanted:
        return wanted if wanted in assets else None
    if DEFAULT_ASSET in assets:
        return DEFAULT_ASSET
    for name, asset in assets.items():
        kind = " ".join(str(asset.get("type", "")).split()).lower()
        if kind == COG_TYPE.lower() and "data" in (asset.get("roles") or []):
            return name
    return None


def _chosen_asset(item: dict, query: StacQuery) -> ChosenAsset:
    name = str(pick_asset(item, query.asset))
    props = item.get("properties", {})
    asset = item["assets"][name]
    href = asset["href"]
    gsd = asset.get("gsd", props.get("gsd"))
    return ChosenAsset(str(item["id"]), props.get("datetime") or props.get("start_datetime"),
                       props.get("eo:cloud_cover"), gsd, name, href, href)


def collection_license(collection: dict) -> tuple[str, str | None]:
    """(license, attribution) of a STAC collection: its `license` (with the first `license`
    link's URL when the license is `proprietary`/`various`/`other`), and the names of its
    licensor and producer providers."""
    license_id = str(collection.get("license") or "unknown")
    if license_id.lower() in ("proprietary", "various", "other"):
        links = [link["href"] for link in collection.get("links", [])
                 if link.get("rel") == "license" and link.get("href")]
        if links:
            license_id = f"{license_id} ({public_url(links[0])})"
    names = [p["name"] for p in collection.get("providers", [])
             if p.get("name") and {"licensor", "producer"} & set(p.get("roles") or [])]
    return license_id, ", ".join(dict.fromkeys(names)) or None


def sign_mode(query: StacQuery) -> str | None:
    """The token endpoint to sign asset URLs with (Planetary Computer convention), or None.

    `none`: no signing; `planetary-computer[:TOKEN_URL]`: sign, the token endpoint given or
    derived from the API URL (`.../api/stac/v1` -> `.../api/sas/v1/token`); `auto`: sign when
    the API's host is the Planetary Computer's."""
    mode, _, token_url = query.sign.partition(":")
    if mode == "none" or (mode == "auto" and not urlsplit(query.url).hostname.endswith(PC_HOST)):
        return None
    if mode not in ("auto", PC_SIGN):
        raise InputError("--stac-sign", f"{query.sign!r}: expected auto, none or "
                         f"{PC_SIGN}[:TOKEN_URL]")
    if token_url:
        return token_url
    base = query.url.split("?", 1)[0].rstrip("/")
    if base.endswith("/api/stac/v1"):
        return base[: -len("/api/stac/v1")] + "/api/sas/v1/token"
    parts = urlsplit(query.url)
    return f"{parts.scheme}://{parts.netloc}/api/sas/v1/token"


def _sign_assets(assets: list[ChosenAsset], query: StacQuery, stats: RemoteStats) -> None:
    """Append the collection's SAS token to each asset URL it reads with (not cached)."""
    token_url = sign_mode(query)
    if token_url is None:
        return
    token = sas_token(token_url, query.collection, stats)
    for asset in assets:
        joiner = "&" if "?" in asset.open_href else "?"
        asset.open_href = f"{asset.open_href}{joiner}{token}"


def sas_token(token_url: str, collection: str, stats: RemoteStats) -> str:
    """The SAS token of `collection` from a Planetary Computer token endpoint
    (GET TOKEN_URL/COLLECTION -> {"token": ...})."""
    import requests

    url = f"{token_url.rstrip('/')}/{collection}"
    stats.count(requests=1)
    try:
        reply = requests.get(url, headers={"User-Agent": USER_AGENT}, timeout=60)
    except requests.RequestException as exc:
        raise InputError("--stac-sign", f"cannot reach the token endpoint "
                         f"({public_url(url)}): {type(exc).__name__}") from None
    stats.count(bytes_read=len(reply.content))
    try:
        token = reply.json()["token"] if reply.ok else None
    except (ValueError, KeyError, TypeError):
        token = None
    if not token:
        raise InputError("--stac-sign", f"the token endpoint ({public_url(url)}) answered "
                         f"HTTP {reply.status_code} without a token")
    return str(token).lstrip("?")


def _search_row(query: StacQuery, items: list[dict], assets: list[ChosenAsset],
                license_id: str, attribution: str | None) -> dict:
    """The search as stats.json `sources` lists it: enough to rebuild the same choice."""
    return {"kind": "stac", "uri": query.public, "license": license_id,
            "attribution": attribution or "", "acquired": None,
            "collection": query.collection, "datetime": query.datetime,
            "max_cloud": query.max_cloud, "asset": query.asset or "default",
            "signing": "planetary-computer" if sign_mode(query) else "none",
            "matched": len(items), "items": [asset.row() for asset in assets]}


def secrets_of(query: StacQuery, assets: list[ChosenAsset]) -> list[str]:
    """Every credential part of the API URL and of the signed asset URLs (to redact)."""
    found = url_secrets(query.url)
    for asset in assets:
        found += url_secrets(asset.open_href)
    return found

