"""A loopback Nominatim for `--region "Place, Country"` (issue 18): it answers
`/search?q=...&format=json&polygon_geojson=1` from the results a test gives per place name
(none: `[]`), and records every request (time, query, User-Agent). No test reaches the
internet."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from shapely.geometry import shape


@dataclass
class FakeNominatim:
    """The results it serves by query and the requests it saw."""

    url: str = ""
    places: dict[str, list[dict]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # {"time", "path", "query", "agent"}
    statuses: list[int] = field(default_factory=list)  # replies to give first (Retry-After 0)


def result(osm_type: str, osm_id: int, name: str, geojson: dict) -> dict:
    """One search result as Nominatim's `format=json&polygon_geojson=1` writes it."""
    geometry = shape(geojson)
    x0, y0, x1, y1 = geometry.bounds
    return {"place_id": osm_id + 7, "licence": "Data © OpenStreetMap contributors, ODbL 1.0.",
            "osm_type": osm_type, "osm_id": osm_id, "lat": str(geometry.centroid.y),
            "lon": str(geometry.centroid.x), "class": "boundary", "type": "administrative",
            "display_name": name, "importance": 0.5,
            "boundingbox": [str(y0), str(y1), str(x0), str(x1)], "geojson": geojson}


def _handler(server: FakeNominatim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            server.requests.append({"time": time.monotonic(), "path": parts.path,
                                    "query": query, "agent": self.headers.get("User-Agent")})
            if parts.path != "/search" or query.get("format") != "json" \
                    or query.get("polygon_geojson") != "1":
                self.send_error(400)
                return
            if server.statuses:
                self.send_response(server.statuses.pop(0))
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = json.dumps(server.places.get(query.get("q", ""), [])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def nominatim():
    """A FakeNominatim served on 127.0.0.1 for one test."""
    fake = FakeNominatim()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()
