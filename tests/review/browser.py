"""Headless Debian chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
NUL-terminated JSON on fds 3 and 4), so no websocket or browser-automation package is needed.
Used by the labelling-page screenshot test of issue 14."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless chromium with one page; `close` stops it and its children by PID."""

    def __init__(self, profile: Path, width: int = 1400, height: int = 1600) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: the protocol's fds are 3 (in) and 4 (out)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--hide-scrollbars",
             f"--window-size={width},{height}", "--no-first-run", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next = 0
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: bool = False, **params) -> dict:
        """One DevTools command; its result (events in between are dropped)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def set_cookies(self, url: str, cookies: dict[str, str]) -> None:
        self.send("Storage.setCookies", cookies=[{"name": k, "value": v, "url": url}
                                                 for k, v in cookies.items()])

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str, ready: str, limit: float = 90) -> bool:
        """Navigate and wait until the JS expression `ready` is true; False after `limit` s."""
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                if self.evaluate(ready):
                    return True
            time.sleep(0.5)
        return False

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        family = [self.proc.pid]
        with contextlib.suppress(psutil.NoSuchProcess):
            family += [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        for pid in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
