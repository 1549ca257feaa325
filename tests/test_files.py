"""files.py: a text file written atomically (temporary file renamed over the target)."""

from __future__ import annotations

import os

import pytest

from geoscribe.files import atomic_write_text


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path, durable):
    """issue 11 tests mirror src: the text lands whole, UTF-8, and the .tmp is renamed away."""
    path = tmp_path / "stats.json"
    path.write_text("old")
    atomic_write_text(path, "näme ✓\n", durable=durable)
    assert path.read_bytes() == "näme ✓\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    """issue 11 tests mirror src: the rename is the last step, so a crash before it leaves
    the previous content in place."""
    path = tmp_path / "card.md"
    path.write_text("old")

    def boom(*_args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert (tmp_path / "card.md.tmp").read_text() == "new"
