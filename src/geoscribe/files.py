"""File primitives at the bottom of the package: a text file written atomically."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write text to a temporary file (fsync'd when `durable`) and rename it over `path`;
    the temporary file is removed when that fails."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or an interrupt: no half-written file stays
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
