"""sources/imagery_plan.py: the --imagery-plan file (issue 18), read and checked; bad files are
one-line errors (exit 2) through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import build_args, run_cli
from geoscribe.errors import InputError
from geoscribe.sources.imagery_plan import SourceEntry, imagery_specs, load_plan_file
from test_cli_errors import assert_one_line_error

GOOD = """\
sources:
  - name: aerial
    imagery: {raster}
    gsd_m: 0.5
    license: CC-BY-4.0
"""


def _plan_args(scene, out: Path, plan: Path) -> list[str]:
    """The scene's CLI call with --imagery-plan instead of --imagery."""
    args = build_args(scene, out)
    at = args.index("--imagery")
    return args[:at] + ["--imagery-plan", str(plan)] + args[at + 2:]


@pytest.mark.parametrize(("text", "needles"), [
    ("sources:\n  - name: a\n    imagery: [x.tif\n", ("invalid YAML", "line")),
    (GOOD + "    resolution: 2\n", ("sources.0.resolution", "Extra inputs")),
    (GOOD + "max_chip: 64\n", ("max_chip", "Extra inputs")),
    ("sources:\n  - name: a\n    license: CC0-1.0\n", ("sources.0.imagery", "required")),
    (GOOD.replace("0.5", "-0.3"), ("sources.0.gsd_m", "greater than 0")),
    (GOOD + "min_object_px: -1\n", ("min_object_px", "greater than or equal to 0")),
    ("sources: []\n", ("sources", "at least 1")),
    ("- a\n- b\n", ("expected a mapping",)),
    (GOOD + GOOD.split("\n", 1)[1], ("source names must be unique",)),
])
def test_bad_plan_file_is_one_line_exit_2(scene, tmp_path, text, needles):
    """issue 18 --imagery-plan: a YAML error, an unknown key (in a source or at the top), a
    source without imagery, a negative gsd_m or threshold, no sources, not a mapping,
    duplicate names: one line naming the plan file and the problem, exit 2, no output."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(text.format(raster=scene.raster), encoding="utf-8")
    result = run_cli(*_plan_args(scene, tmp_path / "o", plan))
    assert result.returncode == 2
    assert_one_line_error(result, f"--imagery-plan {plan}", *needles)
    assert not (tmp_path / "o").exists()


def test_plan_source_with_missing_imagery_names_the_source(scene, tmp_path):
    """issue 18 --imagery-plan: a source whose imagery is not there is one line naming the
    source and the file, exit 2."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD.format(raster="nowhere/*.tif"), encoding="utf-8")
    result = run_cli(*_plan_args(scene, tmp_path / "o", plan))
    assert result.returncode == 2
    assert_one_line_error(result, "source aerial", "nowhere/*.tif", "glob matches no files")


def test_plan_file_errors_are_input_errors(tmp_path):
    """issue 18 --imagery-plan: a missing plan file is an InputError naming it."""
    with pytest.raises(InputError, match="cannot read"):
        load_plan_file(tmp_path / "none.yaml")


def test_imagery_specs_are_relative_to_the_plan_file(tmp_path):
    """issue 18 --imagery-plan: relative imagery paths and globs are taken from the plan
    file's folder; absolute paths and live forms (stac:URL, earthengine:ID, URLs) pass as
    they are, so a plan entry takes whatever --imagery takes."""
    plan = tmp_path / "plans" / "plan.yaml"
    entry = SourceEntry(name="s", imagery=["a.tif", "tiles/*.tif", "/data/b.tif",
                                           "stac:https://example.test/v1",
                                           "earthengine:USDA/NAIP/DOQQ"])
    assert imagery_specs(entry, plan) == [str(tmp_path / "plans" / "a.tif"),
                                          str(tmp_path / "plans" / "tiles" / "*.tif"),
                                          "/data/b.tif", "stac:https://example.test/v1",
                                          "earthengine:USDA/NAIP/DOQQ"]
    assert SourceEntry(name="s", imagery="one.tif").imagery == ["one.tif"]
