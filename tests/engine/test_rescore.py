"""engine/rescore.py (`geoscribe score`): errors on an output it cannot rescore (issue 11
review: rescore repeated the CLI's stats.json check without its corrupt-file cases)."""

from __future__ import annotations

import shutil

from conftest import run_cli
from test_cli_errors import assert_one_line_error


def test_score_on_a_corrupt_stats_json_is_one_line(built, tmp_path):
    """issue 11 review (one stats.json reader): `geoscribe score` on an output whose
    stats.json is corrupt is a one-line error naming it, exit 2, and leaves data/ alone."""
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    (out / "stats.json").write_text('{"samples": 3,', encoding="utf-8")
    before = sorted(p.name for p in (out / "data").iterdir())
    result = run_cli("geoscribe", "score", str(out), "--dedup", "--no-progress")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert_one_line_error(result, f"{out / 'stats.json'}: invalid JSON")
    assert sorted(p.name for p in (out / "data").iterdir()) == before


def test_score_without_stats_json_is_one_line(built, tmp_path):
    """issue 11 review (one stats.json reader): no stats.json: not a finished output."""
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    (out / "stats.json").unlink()
    result = run_cli("geoscribe", "score", str(out), "--dedup", "--no-progress")
    assert result.returncode == 2
    assert_one_line_error(result, f"{out}: no stats.json")
