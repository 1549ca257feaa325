"""Usage errors, exit codes, --version and one-line errors of the CLI (issue 10 cases 10, 11)."""

from __future__ import annotations

import importlib.metadata
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import build_args, run_cli
from test_cli_errors import assert_one_line_error


def assert_usage_error(result, program: str, *needles: str) -> None:
    """click's usage message: a `Usage: PROGRAM ...` line, an `Error: ...` line, exit 2."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(f"Usage: {program} "), result.stderr
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert len(lines) <= 3, result.stderr  # Usage, the optional "Try ... for help.", Error


@pytest.mark.parametrize("args, needles", [
    (["--bogus"], ["--bogus"]),
    (["skyscript-like", "--out", "o"], ["--region"]),
    (["skyscript-like", "--region=1,2,3,4", "--out", "o", "--workers", "abc"], ["--workers"]),
    ([], ["recipe"]),
], ids=["unknown-option", "missing-region", "workers-abc", "no-arguments"])
def test_build_dataset_usage_errors(tmp_path, args, needles):
    """issue 10 case 10: usage errors of build-dataset are click's two lines and exit 2."""
    args = [str(tmp_path / a) if a == "o" else a for a in args]
    assert_usage_error(run_cli("build-dataset", *args), "build-dataset", *needles)
    assert not (tmp_path / "o").exists()


def test_geoscribe_unknown_subcommand():
    """issue 10 case 10: an unknown subcommand is a usage error, exit 2."""
    assert_usage_error(run_cli("geoscribe", "no-such-command"), "geoscribe", "no-such-command")


def test_geoscribe_without_arguments_shows_usage_and_exits_2():
    """issue 10 case 10: no arguments print the usage (with the commands), exit 2."""
    result = run_cli("geoscribe")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("Usage: geoscribe ")
    for command in ("recipes", "validate", "report"):
        assert command in result.stderr


@pytest.mark.parametrize("program", ["build-dataset", "geoscribe"])
def test_version(program):
    """issue 10 case 10: --version prints the installed version, exit 0."""
    result = run_cli(program, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"geoscribe {importlib.metadata.version('geoscribe')}"


def test_validate_exits_0_when_clean(built):
    """issue 10 case 10: validate on a clean build exits 0 and reports 0 problems."""
    result = run_cli("geoscribe", "validate", str(built))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("; 0 problems")


def _copy(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    return out


def test_validate_exits_1_on_a_problem(built, tmp_path):
    """issue 10 case 10: validate exits 1 when it reports a problem (here a shard without its
    stats json)."""
    out = _copy(built, tmp_path)
    stats = sorted((out / "data").glob("*_stats.json"))[0]
    stats.unlink()
    result = run_cli("geoscribe", "validate", str(out))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"{stats.name.removesuffix('_stats.json')}.tar: missing stats json" in result.stderr
    assert "; 1 problems" in result.stdout


def _member_offsets(shard: Path) -> list[int]:
    with tarfile.open(shard) as tar:
        return [member.offset for member in tar]


@pytest.mark.parametrize("cut", ["mid-member", "member-boundary"])
def test_validate_names_a_truncated_shard(built, tmp_path, cut):
    """issue 10 case 11: validate on a truncated shard reports it as a problem naming the
    shard and exits 1 (no traceback), whether the cut falls inside a member or between
    two (where a tar reader sees no error at all)."""
    out = _copy(built, tmp_path)
    shard = max((out / "data").glob("*.tar"), key=lambda p: p.stat().st_size)
    data = shard.read_bytes()
    offsets = _member_offsets(shard)
    size = offsets[-2] if cut == "member-boundary" else offsets[-2] + 700
    shard.write_bytes(data[:size])
    result = run_cli("geoscribe", "validate", str(out))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert any(line.startswith(f"{shard.name}: ") for line in result.stderr.splitlines()), \
        result.stderr


@pytest.mark.parametrize("content", ['{"samples": 3,', "\x00\x01garbage", "[1, 2]"],
                         ids=["truncated", "garbage", "not-an-object"])
def test_report_on_a_corrupt_stats_json(built, tmp_path, content):
    """issue 10 case 11: report on a corrupt stats.json is a one-line error, exit 2."""
    out = _copy(built, tmp_path)
    (out / "stats.json").write_text(content, encoding="utf-8")
    result = run_cli("geoscribe", "report", str(out))
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert_one_line_error(result, str(out / "stats.json"))


def test_yaml_config_error_is_one_line(scene, tmp_path):
    """issue 10 case 11: a YAML syntax error in --config is one line naming the file and the
    place (1-based line and column, as an editor shows them)."""
    config = tmp_path / "options.yaml"
    config.write_text("workers: 2\nlimit: [1, 2\nseed: 3\n", encoding="utf-8")
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yaml.safe_load(config.read_text(encoding="utf-8"))
    mark = caught.value.problem_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    result = run_cli(*build_args(scene, tmp_path / "o", "--config", str(config)))
    assert result.returncode == 2
    assert_one_line_error(result, f"--config {config}", "invalid YAML", where,
                          caught.value.problem)
    assert result.stderr.startswith("error: ")
    assert not (tmp_path / "o").exists()
