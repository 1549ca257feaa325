"""A real Label Studio server for the review tests (issue 14), started once per run, and
the helpers those tests share (tests/conftest.py imports the fixtures).

The server runs from .venv-label-studio (`make install-label-studio`) through
scripts/start_label_studio.sh, with a fresh data dir under the run's tmp folder, and is stopped
by PID (with any children it started) at the end. Without that venv the tests skip, unless
GEOSCRIBE_REQUIRE_LABEL_STUDIO is set (.ci/run sets it): then they fail.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
LS_VENV = Path(os.environ.get("LS_VENV", ROOT / ".venv-label-studio"))
USER, PASSWORD, TOKEN = "reviewer@geoscribe.test", "review-pass-123", "geoscribe-test-token"


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    data_dir: Path
    user: str
    password: str
    pid: int

    def api(self, method: str, path: str, **kwargs):
        """A call as a reviewer's browser or script makes it (token auth)."""
        response = requests.request(method, f"{self.url}{path}", timeout=60,
                                    headers={"Authorization": f"Token {self.token}"}, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path, limit: float = 420) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"Label Studio exited ({process.returncode}):\n"
                                 f"{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise AssertionError(f"Label Studio not ready after {limit} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> list[int]:
    """Terminate the server and every process it started, by PID; return those PIDs."""
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(family, timeout=20)
    for proc in alive:
        proc.kill()
    process.wait(timeout=20)
    return [proc.pid for proc in family]


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> Server:
    """The running server; skipped only when it is not installed and not required."""
    if not (LS_VENV / "bin" / "label-studio").exists():
        if os.environ.get("GEOSCRIBE_REQUIRE_LABEL_STUDIO"):
            pytest.fail(f"{LS_VENV} is missing and GEOSCRIBE_REQUIRE_LABEL_STUDIO is set; "
                        "run `make install-label-studio`")
        pytest.skip(f"Label Studio is not installed ({LS_VENV}); `make install-label-studio`")
    data_dir = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    log = data_dir.parent / "label-studio.log"
    env = {**os.environ, "PORT": str(port), "LS_VENV": str(LS_VENV),
           "LABEL_STUDIO_USERNAME": USER, "LABEL_STUDIO_PASSWORD": PASSWORD,
           "LABEL_STUDIO_USER_TOKEN": TOKEN}
    with open(log, "w") as fh:
        process = subprocess.Popen([str(ROOT / "scripts" / "start_label_studio.sh"),
                                    str(data_dir)], stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Server(url, TOKEN, data_dir, USER, PASSWORD, process.pid)
    finally:
        pids = stop(process)
        assert not [p for p in pids if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE], "orphans left"


def build(scene, out: Path, recipe: str, *extra: str) -> Path:
    """A finished build of the test scene (PNG chips) with the real CLI."""
    cmd = [str(Path(sys.executable).parent / "build-dataset"), recipe,
           f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--image-format", "png",
            "--split-block-deg", "0.0015", "--split-fractions", "0.5,0.25,0.25", "--seed", "0",
            "--no-progress", *extra]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="session")
def review_builds(scene, tmp_path_factory) -> dict[str, Path]:
    """One build per record kind: captions, questions, boxes + conversations (read-only: tests
    copy them before pulling into them)."""
    root = tmp_path_factory.mktemp("review-builds")
    tiles = ("--tile-px", "128", "--chip-size", "128")  # a few dozen tiles of the scene
    return {
        "skyscript-like": build(scene, root / "sk", "skyscript-like", "--chip-size", "128",
                                "--min-chip-px", "128"),
        "rsvqa-like": build(scene, root / "rv", "rsvqa-like", *tiles),
        "geochat-like": build(scene, root / "gc", "geochat-like", *tiles),
    }


def records_of(out: Path) -> dict[str, dict]:
    """key -> {member ext: bytes} of every sample in OUT's shards."""
    from geoscribe.shards import iter_samples

    return {s["__key__"]: s for tar in sorted((out / "data").glob("*.tar"))
            for s in iter_samples(tar)}


def review_cli(server: Server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`geoscribe review ...` as a user runs it (token from LABEL_STUDIO_API_KEY)."""
    extra = ["--url", server.url]
    if args[0] == "push":
        extra += ["--document-root", str(server.data_dir)]
    result = subprocess.run([str(Path(sys.executable).parent / "geoscribe"), "review", *args,
                             *extra], text=True, capture_output=True, timeout=300,
                            env={**os.environ, "LABEL_STUDIO_API_KEY": server.token})
    if check:
        assert result.returncode == 0, result.stderr
    return result


def project_tasks(server: Server, title: str) -> list[dict]:
    """The project's tasks (with predictions and annotations), by key."""
    project = next(p for p in server.api("GET", "/api/projects?page_size=100")["results"]
                   if p["title"] == title)
    body = server.api("GET", f"/api/tasks?project={project['id']}&page_size=1000&fields=all")
    return sorted(body["tasks"], key=lambda t: t["data"]["key"])


def annotate(server: Server, task: dict, results: list[dict], verdict: str,
             reason: str = "") -> None:
    """Submit an annotation as the labelling page does: the prediction's regions, as edited."""
    results = results + [{"from_name": "verdict", "to_name": "image", "type": "choices",
                          "value": {"choices": [verdict]}}]
    if reason:
        results.append({"from_name": "reason", "to_name": "image", "type": "textarea",
                        "value": {"text": [reason]}})
    server.api("POST", f"/api/tasks/{task['id']}/annotations", json={"result": results})
