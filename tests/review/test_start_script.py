"""issue 14: scripts/start_label_studio.sh fails fast (exit 2, one line) when its port is taken
or its arguments are wrong, before touching the data dir."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from review_server import LS_VENV, ROOT, free_port

SCRIPT = ROOT / "scripts" / "start_label_studio.sh"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LS_VENV": str(LS_VENV), **env})


@pytest.mark.skipif(not (LS_VENV / "bin" / "label-studio").exists()
                    and not os.environ.get("GEOSCRIBE_REQUIRE_LABEL_STUDIO"),
                    reason="Label Studio is not installed (make install-label-studio)")
def test_taken_port_fails_fast(tmp_path):
    """issue 14: a taken port is reported at once, the data dir is not made."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        started = time.monotonic()
        result = _run(str(tmp_path / "data"), PORT=str(port))
        assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is taken" in result.stderr
    assert not (tmp_path / "data").exists()


def test_missing_data_dir_and_short_token_are_errors(tmp_path):
    """issue 14: DATA_DIR is required; the token must be longer than 5 characters."""
    assert _run().returncode == 2
    if (LS_VENV / "bin" / "label-studio").exists():
        short = _run(str(tmp_path / "d"), LABEL_STUDIO_USER_TOKEN="abc",
                     PORT=str(free_port()))
        assert short.returncode == 2 and "longer than 5 characters" in short.stderr
        assert not (tmp_path / "d").exists()
