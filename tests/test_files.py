"""files.py: atomic_write_text (issue 11 review, partial files: nothing half-written stays)."""

from __future__ import annotations

import errno
import os

import pytest

from geoscribe import files
from geoscribe.files import atomic_write_text


def test_atomic_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two", durable=False)
    assert path.read_text(encoding="utf-8") == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    """issue 11 review (partial files): a full disk while writing (here fsync failing with
    ENOSPC) raises, keeps the previous content and removes the `.tmp` it began."""
    path = tmp_path / "stats.json"
    path.write_text("old", encoding="utf-8")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError) as caught:
        atomic_write_text(path, "new")
    assert caught.value.errno == errno.ENOSPC
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]
