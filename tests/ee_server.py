"""A loopback fake of the Earth Engine REST endpoints earthengine-api calls (issue 18): the
discovery document and algorithm list the library ships for its own tests, an OAuth token
endpoint, `value:compute` (one canned image per collection) and `image:computePixels`, which
answers with a GeoTIFF generated in code with rasterio: the requested grid read (nearest) from
a source raster. It records every request body, checks the request size limits as the real
service does, and can be told to fail the next requests (429 quota errors, "Too many
concurrent aggregations")."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ee
import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.vrt import WarpedVRT

EE_TESTS = Path(ee.__file__).parent / "tests"
TOKEN = "ya29.fake-access-token-SECRET"
MAX_BYTES = 48 * 1024 * 1024


@dataclass
class FakeImage:
    """The image the fake answers for a collection, read from `raster`."""

    raster: Path
    index: str = "20240501T101031_T17RLN"
    time_start: int = 1714557031000  # 2024-05-01T09:50:31Z
    bands: tuple[str, ...] = ("B4", "B3", "B2")
    scale: float = 0.5


@dataclass
class EEFake:
    """State of the fake: its images, what it received, the failures still to send."""

    images: dict[str, FakeImage] = field(default_factory=dict)
    requests: list[tuple[str, str, dict | None]] = field(default_factory=list)  # method, path
    auth_headers: list[str] = field(default_factory=list)
    failures: list[tuple[int, str, str, dict]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stall_after: int | None = None  # computePixels past this many wait for `release`
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self, method: str) -> list[dict]:
        """The JSON bodies received by `method` (`value:compute`, `image:computePixels`)."""
        return [body for _, path, body in self.requests if path.endswith(method)]

    def fail_next(self, n: int, status: int = 429, message: str = "Quota exceeded for quota "
                  "metric 'Read requests' and limit 'Read requests per minute'",
                  state: str = "RESOURCE_EXHAUSTED", retry_after: str | None = "0") -> None:
        """Answer the next `n` compute requests with an error."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.extend([(status, message, state, headers)] * n)


def discovery_document(url: str) -> bytes:
    """The library's test discovery document, for the v1 API at `url`."""
    text = (EE_TESTS / "cloud_api_discovery_document.json").read_text()
    doc = json.loads(text.replace("v1alpha/", "v1/"))
    doc["rootUrl"] = doc["baseUrl"] = url + "/"
    return json.dumps(doc).encode()


def pixel_bytes(dtype: str, bands: int) -> int:
    return np.dtype(dtype).itemsize * bands


def geotiff(image: FakeImage, grid: dict) -> bytes:
    """The requested grid of `image.raster` as GeoTIFF bytes (nearest; 0 outside)."""
    dims, aff = grid["dimensions"], grid["affineTransform"]
    transform = Affine(aff["scaleX"], aff.get("shearX", 0), aff["translateX"],
                       aff.get("shearY", 0), aff["scaleY"], aff["translateY"])
    with rasterio.open(image.raster) as src, WarpedVRT(
            src, crs=grid["crsCode"], transform=transform, width=dims["width"],
            height=dims["height"], resampling=Resampling.nearest) as vrt:
        data = vrt.read()
        profile = dict(driver="GTiff", width=dims["width"], height=dims["height"],
                       count=src.count, dtype=src.dtypes[0], crs=grid["crsCode"],
                       transform=transform)
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            dst.descriptions = tuple(image.bands[:src.count])
        return mem.read()


class Handler(BaseHTTPRequestHandler):
    """Routes the library's requests to the fake's answers."""

    fake: EEFake

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json",
              headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, state: str, headers: dict | None = None):
        body = {"error": {"code": status, "message": message, "status": state}}
        self._send(status, json.dumps(body).encode(), headers=headers)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        with self.fake.lock:
            self.fake.requests.append(("GET", path, None))
        if path.endswith("/$discovery/rest"):
            self._send(200, discovery_document(self.fake.url))
        elif path.endswith("/algorithms"):
            self.fake.auth_headers.append(self.headers.get("Authorization", ""))
            self._send(200, (EE_TESTS / "algorithms.json").read_bytes())
        else:
            self._error(404, f"no such path {path}", "NOT_FOUND")

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path.endswith("/token"):
            self._send(200, json.dumps({"access_token": TOKEN, "expires_in": 3600,
                                        "token_type": "Bearer"}).encode())
            return
        body = json.loads(raw or b"{}")
        with self.fake.lock:
            self.fake.requests.append(("POST", path, body))
            self.fake.auth_headers.append(self.headers.get("Authorization", ""))
            failure = self.fake.failures.pop(0) if self.fake.failures else None
        if failure is not None:
            status, message, state, headers = failure
            self._error(status, message, state, headers)
        elif path.endswith("/value:compute"):
            self._compute(body)
        elif path.endswith("/image:computePixels"):
            stall = self.fake.stall_after
            if stall is not None and len(self.fake.bodies("image:computePixels")) > stall:
                self.fake.release.wait(60)
            self._pixels(body)
        else:
            self._error(404, f"no such method {path}", "NOT_FOUND")

    def _collection(self, body: dict) -> str | None:
        return next((name for name in re.findall(r'"constantValue": "([^"]+)"',
                                                 json.dumps(body)) if "/" in name), None)

    def _compute(self, body: dict) -> None:
        name = self._collection(body)
        image = self.fake.images.get(name or "")
        if image is None:
            self._error(400, f"ImageCollection.load: ImageCollection asset '{name}' not found "
                             "(does not exist or caller does not have access).",
                        "INVALID_ARGUMENT")
            return
        kind = {"type": "PixelType", "precision": "int", "min": 0, "max": 255}
        result = {"id": f"{name}/{image.index}", "time_start": image.time_start,
                  "bands": list(image.bands), "types": {b: kind for b in image.bands},
                  "scales": [image.scale] * len(image.bands)}
        self._send(200, json.dumps({"result": result}).encode())

    def _pixels(self, body: dict) -> None:
        text = json.dumps(body)
        name = next((n for n in self.fake.images if f"{n}/" in text), None)
        if name is None:
            self._error(400, "Image.load: asset not found", "INVALID_ARGUMENT")
            return
        dims = body["grid"]["dimensions"]
        size = dims["width"] * dims["height"] * pixel_bytes("uint8", 3)
        if max(dims["width"], dims["height"]) > 32768 or size > MAX_BYTES:
            self._error(400, f"Total request size ({size} bytes) must be less than or equal "
                             f"to {MAX_BYTES} bytes.", "INVALID_ARGUMENT")
            return
        self._send(200, geotiff(self.fake.images[name], body["grid"]), "image/tiff")


def start(fake: EEFake) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve `fake` on 127.0.0.1 (a free port) in a daemon thread; sets `fake.url`."""
    handler = type("EEHandler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def credentials_file(folder: Path, fake: EEFake) -> Path:
    """A service-account key file (what GOOGLE_APPLICATION_CREDENTIALS names) whose token
    endpoint is the fake's; its RSA key is generated here."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = folder / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "fake-project",
        "private_key_id": "KEYID-SECRET-123", "private_key": pem,
        "client_email": "builder@fake-project.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": f"{fake.url}/token"}))
    return path


COLLECTION = "COPERNICUS/S2_FAKE"


def serve_fake(scene, tmp_path: Path, monkeypatch):
    """(For a fixture) the fake serving the scene's raster as COLLECTION, with a service
    account whose token comes from it (GOOGLE_APPLICATION_CREDENTIALS; HOME holds no stored
    credentials)."""
    fake = EEFake(images={COLLECTION: FakeImage(scene.raster)})
    server, thread = start(fake)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials_file(home, fake)))
    yield fake
    fake.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)
