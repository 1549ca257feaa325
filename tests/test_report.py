"""report.py: the one reader of stats.json and a preview written from the stats it is given
(issue 11 review: preview_html re-read stats.json and rescore repeated the CLI's check)."""

from __future__ import annotations

import json
import shutil

import pytest

from geoscribe.errors import InputError
from geoscribe.report import preview_html, read_stats


@pytest.mark.parametrize("content, needle", [
    ('{"samples": 3,', "invalid JSON (line 1"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text (corrupt)"),
    ("[1, 2]", "expected a JSON object (corrupt)"),
], ids=["truncated", "not-utf8", "not-an-object"])
def test_read_stats_is_one_line_on_a_corrupt_file(tmp_path, content, needle):
    """issue 11 review (one stats.json reader): each corruption is one line naming the file."""
    path = tmp_path / "stats.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_stats(tmp_path)
    assert str(caught.value).startswith(f"{path}: {needle}")
    assert "\n" not in str(caught.value)


def test_read_stats_without_a_file_names_the_folder(tmp_path):
    """issue 11 review (one stats.json reader): no stats.json: not a finished output."""
    with pytest.raises(InputError, match="no stats.json"):
        read_stats(tmp_path)
    (tmp_path / "stats.json").write_text('{"samples": 2}', encoding="utf-8")
    assert read_stats(tmp_path) == {"samples": 2}


def test_preview_shows_the_stats_it_is_given_as_stats_json_orders_them(built, tmp_path):
    """issue 11 review (one stats.json reader): the preview is written from the stats passed
    in (no stats.json needed), and the stats block is the same whether those stats come from
    memory (insertion order) or from stats.json (sorted keys)."""
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    from_file = preview_html(out, read_stats(out)).read_text(encoding="utf-8")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    stats["samples_by_split"] = {split: stats["samples_by_split"][split]
                                 for split in ("train", "val", "test")}  # as the build has it
    (out / "stats.json").unlink()
    assert preview_html(out, stats).read_text(encoding="utf-8") == from_file
    stats["recipe"] = "renamed-in-memory"
    assert "renamed-in-memory" in preview_html(out, stats).read_text(encoding="utf-8")
