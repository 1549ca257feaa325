"""A static STAC API on loopback (issue 18): landing page with conformance, /collections/C,
/search by POST and GET (bbox, datetime, `query` eo:cloud_cover filters; pages of PAGE items
linked by `next`), a Planetary Computer style SAS token endpoint, and the items' COGs served
with HTTP Range support by a server that counts every byte it sends. No test reaches the
internet."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import rasterio
import rasterio.shutil
from rasterio.warp import transform_bounds
from rasterio.windows import Window

API = "/api/stac/v1"
TOKEN = "/api/sas/v1/token"
PAGE = 2
SAS = "st=2024-01-01&se=2099-01-01&sp=rl&sig=SASsecret123"
CONFORMS = ["https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
            "https://api.stacspec.org/v1.0.0/item-search#query",
            "https://api.stacspec.org/v1.0.0/collections",
            "https://api.stacspec.org/v1.0.0/ogcapi-features",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
            "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson"]


@dataclass
class FakeStac:
    """What the server holds (collections, items, files) and saw (requests, bytes sent)."""

    url: str = ""
    collections: dict[str, dict] = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # name -> COG on disk
    need_sas: bool = False  # files answer 403 without the SAS token
    ignore_query: bool = False  # a server without the `query` extension
    fail_next: list[int | tuple[int, str]] = field(default_factory=list)  # statuses the next
    # API calls answer, each alone or with the Retry-After header sent with it
    api_requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    api_times: list[float] = field(default_factory=list)  # time.monotonic() of each API call
    token_requests: int = 0
    file_requests: list[tuple[str, str, str, str]] = field(default_factory=list)
    # (method, name, Range header, User-Agent)
    bytes_sent: Counter = field(default_factory=Counter)  # file name -> bytes
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def api(self) -> str:
        return self.url + API

    def file_url(self, name: str) -> str:
        return f"{self.url}/files/{name}"

    def searches(self) -> int:
        return sum(1 for _, path in self.api_requests if path.endswith("/search"))

    def add_item(self, item_id: str, cog: Path, cloud: float | None, when: str,
                 collection: str = "s2", asset: str = "visual", extra_assets: dict | None = None
                 ) -> dict:
        """An item whose footprint is the COG's bounds, its `asset` the COG."""
        with rasterio.open(cog) as src:
            west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
            gsd = abs(src.transform.a)
        self.files[cog.name] = cog
        props = {"datetime": when, "gsd": gsd}
        if cloud is not None:
            props["eo:cloud_cover"] = cloud
        assets = {asset: {"href": self.file_url(cog.name), "roles": ["data"],
                          "type": "image/tiff; application=geotiff; profile=cloud-optimized"}}
        item = {"type": "Feature", "stac_version": "1.0.0", "id": item_id,
                "collection": collection, "bbox": [west, south, east, north],
                "geometry": {"type": "Polygon", "coordinates": [[
                    [west, south], [east, south], [east, north], [west, north],
                    [west, south]]]},
                "properties": props, "assets": {**(extra_assets or {}), **assets}, "links": []}
        self.items.append(item)
        return item


def make_cog(source: Path, target: Path, window: Window | None = None) -> Path:
    """A COG (tiled 256 px, overviews) of `source` or of a window of it."""
    with rasterio.open(source) as src:
        profile = {**src.profile}
        data = src.read(window=window)
        if window is not None:
            profile.update(width=int(window.width), height=int(window.height),
                           transform=src.window_transform(window))
    plain = target.with_suffix(".plain.tif")
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data)
    rasterio.shutil.copy(plain, target, driver="COG", BLOCKSIZE=256, COMPRESS="NONE")
    plain.unlink()
    return target


def collection(collection_id: str, license_id: str = "CC-BY-4.0") -> dict:
    return {"type": "Collection", "stac_version": "1.0.0", "id": collection_id,
            "description": "fake", "license": license_id,
            "providers": [{"name": "Fake Space Agency", "roles": ["producer", "licensor"]},
                          {"name": "Fake Host", "roles": ["host"]}],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                       "temporal": {"interval": [[None, None]]}},
            "links": [{"rel": "license", "href": "https://example.org/license"}]}


def _when(text: str | None) -> datetime | None:
    if not text or text == "..":
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def matches(item: dict, params: dict, ignore_query: bool = False) -> bool:
    """Whether an item passes a search's collections, bbox, datetime and query filters."""
    if params.get("collections") and item["collection"] not in params["collections"]:
        return False
    if params.get("bbox"):
        w, s, e, n = (float(v) for v in params["bbox"])
        iw, is_, ie, in_ = item["bbox"]
        if iw > e or ie < w or is_ > n or in_ < s:
            return False
    if params.get("datetime"):
        start, _, end = params["datetime"].partition("/")
        when = _when(item["properties"]["datetime"])
        lo, hi = _when(start), _when(end) if end else _when(start)
        if (lo and when < lo) or (hi and when > hi):
            return False
    for name, ops in ({} if ignore_query else params.get("query") or {}).items():
        value = item["properties"].get(name)
        if value is None or ("lte" in ops and value > ops["lte"]):
            return False
    return True


def _get_params(query: str) -> dict:
    raw = {k: v[0] for k, v in parse_qs(query).items()}
    params: dict = {}
    if raw.get("collections"):
        params["collections"] = raw["collections"].split(",")
    if raw.get("bbox"):
        params["bbox"] = raw["bbox"].split(",")
    if raw.get("datetime"):
        params["datetime"] = raw["datetime"]
    if raw.get("query"):
        params["query"] = json.loads(raw["query"])
    params["page"] = int(raw.get("page", 0))
    return params


def handler(stac: FakeStac) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def reply(self, status: int, body, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path.startswith("/files/"):
                return self.file(parts.path[len("/files/"):], parts.query, head)
            if parts.path.startswith(TOKEN + "/"):
                stac.token_requests += 1
                return self.reply(200, {"token": SAS, "msft:expiry": "2099-01-01T00:00:00Z"})
            stac.api_requests.append(("GET", parts.path))
            stac.api_times.append(time.monotonic())
            if stac.fail_next:
                return self.fail(stac.fail_next.pop(0))
            path = parts.path.rstrip("/")
            if path == API:
                return self.reply(200, self.landing())
            if path == API + "/conformance":
                return self.reply(200, {"conformsTo": CONFORMS})
            if path.startswith(API + "/collections/"):
                cid = path.rsplit("/", 1)[-1]
                if cid not in stac.collections:
                    return self.reply(404, {"code": "NotFound", "description": cid})
                return self.reply(200, self.with_links(stac.collections[cid]))
            if path == API + "/search":
                return self.search(_get_params(parts.query))
            return self.reply(404, {"code": "NotFound"})

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path.rstrip("/")
            stac.api_requests.append(("POST", path))
            stac.api_times.append(time.monotonic())
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            if stac.fail_next:
                return self.fail(stac.fail_next.pop(0))
            if path != API + "/search":
                return self.reply(404, {"code": "NotFound"})
            return self.search(body)

        def fail(self, failure: int | tuple[int, str]) -> None:
            """Answer a failure of `fail_next`: its status, with its Retry-After if it has one."""
            status, retry_after = failure if isinstance(failure, tuple) else (failure, None)
            self.reply(status, {"code": "Busy"},
                       {"Retry-After": retry_after} if retry_after is not None else None)

        def landing(self) -> dict:
            api = stac.api
            return {"type": "Catalog", "id": "fake-stac", "stac_version": "1.0.0",
                    "description": "loopback STAC API", "conformsTo": CONFORMS,
                    "links": [{"rel": "self", "href": api}, {"rel": "root", "href": api},
                              {"rel": "conformance", "href": api + "/conformance"},
                              {"rel": "data", "href": api + "/collections"},
                              {"rel": "search", "href": api + "/search", "method": "GET",
                               "type": "application/geo+json"},
                              {"rel": "search", "href": api + "/search", "method": "POST",
                               "type": "application/geo+json"}]}

        def with_links(self, coll: dict) -> dict:
            api = stac.api
            links = [{"rel": "self", "href": f"{api}/collections/{coll['id']}"},
                     {"rel": "root", "href": api}, {"rel": "parent", "href": api}]
            return {**coll, "links": coll["links"] + links}

        def search(self, params: dict) -> None:
            found = [i for i in stac.items if matches(i, params, stac.ignore_query)]
            page = int(params.get("page", 0))
            links = []
            if (page + 1) * PAGE < len(found):
                links.append({"rel": "next", "href": stac.api + "/search", "method": "POST",
                              "body": {**params, "page": page + 1}, "merge": False})
            self.reply(200, {"type": "FeatureCollection",
                             "features": found[page * PAGE:(page + 1) * PAGE],
                             "links": links})

        def file(self, name: str, query: str, head: bool) -> None:
            if name not in stac.files:
                return self.reply(404, {"code": "NotFound"})
            if stac.need_sas and parse_qs(query).get("sig") != [parse_qs(SAS)["sig"][0]]:
                return self.reply(403, {"code": "AuthenticationFailed"})
            data = stac.files[name].read_bytes()
            rng = self.headers.get("Range") or ""
            with stac.lock:
                stac.file_requests.append(("HEAD" if head else "GET", name, rng,
                                           self.headers.get("User-Agent") or ""))
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
                body = data[start:end + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            else:
                body = data
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "image/tiff")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
                with stac.lock:
                    stac.bytes_sent[name] += len(body)

    return Handler


class StacServer:
    """The fake STAC API and file server on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.stac = FakeStac()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(self.stac))
        self.stac.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeStac:
        self.thread.start()
        return self.stac

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def scene_api(stac: FakeStac, scene, folder: Path) -> FakeStac:
    """Collection `s2` over the scene of tests/scene.py: `west` (the scene's west half, 2 %
    cloud), `full` (the scene, 10 %) and `cloudy` (other pixels, 90 %, the newest)."""
    from scene import write_raster

    folder.mkdir(parents=True, exist_ok=True)
    full = make_cog(scene.raster, folder / "b_full.tif")
    west = make_cog(scene.raster, folder / "a_west.tif", Window(0, 0, 512, 1024))
    other = folder / "other.plain.tif"
    write_raster(other, seed=7)
    cloudy = make_cog(other, folder / "c_cloudy.tif")
    stac.collections["s2"] = collection("s2")
    stac.add_item("full", full, 10.0, "2023-06-02T10:00:00Z")
    stac.add_item("west", west, 2.0, "2023-06-01T10:00:00Z")
    stac.add_item("cloudy", cloudy, 90.0, "2023-06-03T10:00:00Z")
    return stac


@pytest.fixture(scope="module")
def stac_api(scene, tmp_path_factory):
    """The fake STAC API serving the scene's collection (see scene_api)."""
    with StacServer() as stac:
        yield scene_api(stac, scene, tmp_path_factory.mktemp("stac"))
