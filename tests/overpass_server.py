"""A fake Overpass API on 127.0.0.1 for the issue-18 tests: it answers the Overpass QL queries
it receives from a local OSM XML file (the bbox and the date parsed from the query; every node,
way and relation in the box, recursed down like `(._;>;)`), as Overpass XML, and injects 429
(with Retry-After), 504, slow replies and `runtime error` remarks on demand. It counts the
requests and the queries, checks the User-Agent (a request without geoscribe's is refused
with 403, as some public servers do) and serves /api/status."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

BBOX = re.compile(r"node\(([-\d.]+),([-\d.]+),([-\d.]+),([-\d.]+)\)")
DATE = re.compile(r'\[date:"([^"]+)"\]')


@dataclass
class OsmData:
    """The elements of an OSM XML file, each kept as its XML text."""

    nodes: dict[int, tuple[float, float, str]] = field(default_factory=dict)  # lat, lon, xml
    ways: dict[int, tuple[list[int], str]] = field(default_factory=dict)
    relations: dict[int, tuple[list[tuple[str, int]], str]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> OsmData:
        data = cls()
        for el in ET.parse(path).getroot():
            ident, text = int(el.get("id")), ET.tostring(el, encoding="unicode").strip()
            if el.tag == "node":
                data.nodes[ident] = (float(el.get("lat")), float(el.get("lon")), text)
            elif el.tag == "way":
                data.ways[ident] = ([int(nd.get("ref")) for nd in el.iter("nd")], text)
            elif el.tag == "relation":
                data.relations[ident] = ([(m.get("type"), int(m.get("ref")))
                                          for m in el.iter("member")], text)
        return data

    def select(self, south: float, west: float, north: float, east: float) -> str:
        """Overpass XML of everything in the box, recursed down (ways' nodes, relations'
        members and their nodes)."""
        nodes = {i for i, (lat, lon, _) in self.nodes.items()
                 if south <= lat <= north and west <= lon <= east}
        ways = {i for i, (refs, _) in self.ways.items() if nodes.intersection(refs)}
        rels = {i for i, (members, _) in self.relations.items()
                if any((t == "node" and r in nodes) or (t == "way" and r in ways)
                       for t, r in members)}
        for members, _ in (self.relations[i] for i in rels):
            ways |= {r for t, r in members if t == "way" and r in self.ways}
            nodes |= {r for t, r in members if t == "node" and r in self.nodes}
        for i in ways:
            nodes |= {r for r in self.ways[i][0] if r in self.nodes}
        body = ([self.nodes[i][2] for i in sorted(nodes)] + [self.ways[i][1] for i in sorted(ways)]
                + [self.relations[i][1] for i in sorted(rels)])
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator='
                '"Overpass API fake">\n<note>fake</note>\n<meta osm_base="2024-01-01T00:00:00Z"/>\n'
                + "\n".join(body) + "\n</osm>\n")


def query_box(query: str) -> tuple[float, float, float, float]:
    """(south, west, north, east) of a query."""
    match = BBOX.search(query)
    assert match, query
    return tuple(float(v) for v in match.groups())


class FakeOverpass:
    """The server's state: data, injected faults, and what it received."""

    def __init__(self, osm: Path) -> None:
        self.data = OsmData.read(osm)
        self.lock = threading.Lock()
        self.faults: list[tuple] = []  # consumed in order: ("429", retry_after|None), ("504",),
        #                                ("slow", seconds), ("remark",)
        self.max_area_deg2: float | None = None  # 504 for any larger box
        self.hold_after: int | None = None  # hold every interpreter request after this many
        self.released = threading.Event()
        self.status_text = "Connected as: 1\nRate limit: 2\n2 slots available now.\n"
        self.requests: list[dict] = []  # every request: path, query, user agent
        self.answered: list[str] = []  # queries answered with data
        self.dates: list[str | None] = []
        self.auth: list[str | None] = []

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/api/interpreter"

    def interpreter(self, query: str) -> tuple[int, dict, bytes]:
        """(status, headers, body) of one query."""
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
            held = self.hold_after is not None and len(self.answered) >= self.hold_after
        if held:
            self.released.wait(60)
        south, west, north, east = query_box(query)
        if fault and fault[0] == "429":
            return 429, ({"Retry-After": str(fault[1])} if fault[1] is not None else {}), b""
        if fault and fault[0] == "504" or (self.max_area_deg2 is not None and
                                           (north - south) * (east - west) > self.max_area_deg2):
            return 504, {}, b"<html>Gateway Timeout</html>"
        if fault and fault[0] == "slow":
            threading.Event().wait(fault[1])
        date = DATE.search(query)
        body = self.data.select(south, west, north, east)
        if fault and fault[0] == "remark":
            body = body.replace("</osm>", "<remark> runtime error: Query timed out in "
                                "\"query\" at line 1 after 2 seconds. </remark>\n</osm>")
        else:
            with self.lock:
                self.answered.append(query)
                self.dates.append(date.group(1) if date else None)
        return 200, {"Content-Type": "application/osm3s+xml"}, body.encode()


def _handler(fake: FakeOverpass):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _reply(self, status: int, headers: dict, body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def _record(self, query: str | None) -> bool:
            agent = self.headers.get("User-Agent", "")
            with fake.lock:
                fake.requests.append({"path": self.path, "query": query, "agent": agent})
                fake.auth.append(self.headers.get("Authorization"))
            if not agent.startswith("geoscribe/"):
                self._reply(403, {}, b"a User-Agent naming the application is required")
                return False
            return True

        def do_GET(self) -> None:
            if self._record(None):
                self._reply(200, {"Content-Type": "text/plain"}, fake.status_text.encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            query = (form.get("data") or [""])[0]
            if self._record(query):
                self._reply(*fake.interpreter(query))

    return Handler


@contextmanager
def serve(osm: Path) -> Iterator[tuple[FakeOverpass, str]]:
    """Run a FakeOverpass of `osm` in a thread; yield it and its interpreter URL."""
    fake = FakeOverpass(osm)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, fake.url(server.server_address[1])
    finally:
        fake.released.set()
        server.shutdown()
        server.server_close()
