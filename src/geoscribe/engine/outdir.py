"""The --out folder of a build: checked before use, locked for one build at a time, emptied for
--overwrite or after a build that produced nothing."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import time
from pathlib import Path

from geoscribe.errors import InputError

WORK = ".geoscribe"
LOCK = "lock"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def run_file(out: Path) -> Path:
    """OUT/.geoscribe/run.json: the run's fingerprint and public config (written by the build
    once its inputs are read; its presence marks OUT as a geoscribe output)."""
    return out / WORK / "run.json"


def check_out(out: Path) -> None:
    """One-line errors for an --out that is a file, under a file, or not writable."""
    what = f"--out {out}"
    if out.exists() and not out.is_dir():
        raise InputError(what, "is a file, not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(what, f"{parent} is a file, not a folder")
    if out.exists() and any(p.name != WORK for p in out.iterdir()) \
            and not run_file(out).exists():
        raise InputError(what, "exists and is not a geoscribe output; use a new folder")


class OutLock:
    """An exclusive flock on OUT/.geoscribe/lock, held for the whole build.

    The kernel drops a flock when its process ends, however it ends (kill -9 too), so a lock
    can never outlive its build. The lock file holds the pid of the build that holds it. It is
    never deleted: a second build must lock the same file.
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self.path = out / WORK / LOCK
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock OUT, or fail at once naming the build that holds it."""
        what = f"--out {self.out}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(what, f"cannot write here ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_pid(fd)
            os.close(fd)
            raise InputError(what, f"in use by another build (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_pid(fd: int) -> str:
    """The pid written in a held lock file (its holder writes it right after locking)."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.02)
    return "unknown"


def empty_out(out: Path) -> None:
    """Remove everything in OUT but the lock file (held by this build)."""
    for path in out.iterdir():
        if path.name == WORK:
            for inner in path.iterdir():
                if inner.name != LOCK:
                    _remove(inner)
        else:
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
