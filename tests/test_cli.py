"""build-dataset --help: options grouped in panels, the recipe names listed (issue 11)."""

from __future__ import annotations

import re

import typer

from conftest import build_args, run_cli
from geoscribe.cli import HELP_PANELS, build_app
from geoscribe.recipes import RECIPES


def help_sections(text: str) -> dict[str, str]:
    """The --help text by section title ('Arguments', 'Sources', ...)."""
    sections: dict[str, str] = {}
    title = None
    for line in text.splitlines():
        match = re.fullmatch(r"(\S[^:]*):", line)
        if match:
            title = match.group(1)
            sections[title] = ""
        elif title is not None:
            sections[title] += line + "\n"
    return sections


def test_help_panels_and_recipe_names():
    """issue 11: `build-dataset --help` lists every recipe and groups every option in panels."""
    sections = help_sections(run_cli("build-dataset", "--help", check=True).stdout)
    assert list(sections) == ["Arguments", "Sources", "Chips", "Text / LLM", "Filters", "Run"]
    assert list(sections)[1:] == list(HELP_PANELS)
    arguments = "".join(sections["Arguments"].split())  # lines may wrap at a hyphen
    for name in RECIPES:
        assert name in arguments, name
    listed = re.findall(r"(?m)^  (--[a-z-]+)", "".join(sections[t] for t in HELP_PANELS))
    command = typer.main.get_command(build_app)
    options = [p.opts[0] for p in command.params if p.param_type_name == "option"]
    assert sorted(listed) == sorted(options)  # each option once, none left out of a panel
    assert "-h, --help" in sections["Run"]


def test_help_panel_of_options():
    """issue 11: options sit in their panel (a source, a chip, an LLM, a filter, a run flag)."""
    sections = help_sections(run_cli("build-dataset", "--help", check=True).stdout)
    expected = {"--osm": "Sources", "--chip-size": "Chips", "--llm-rpm": "Text / LLM",
                "--clip": "Filters", "--workers": "Run"}
    for option, panel in expected.items():
        holders = [t for t in HELP_PANELS if re.search(rf"(?m)^  {option}\b", sections[t])]
        assert holders == [panel], (option, holders)


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?m)^  (--[a-z-]+)", text))


def test_recipe_help_lists_only_that_recipes_options():
    """issue 11 case registry: `build-dataset RECIPE --help` (and -h) starts with the recipe's
    description and lists the common options and its own, not another recipe's."""
    for flag in ("--help", "-h"):
        rsvqa = run_cli("build-dataset", "rsvqa-like", flag, check=True).stdout
        assert RECIPES["rsvqa-like"].description.split()[0] in rsvqa.split("Arguments:")[0]
        assert {"--qa-types", "--qa-per-chip", "--tile-px", "--osm", "--region", "--llm",
                "--workers"} <= _options(rsvqa)
        assert not {"--margin", "--box-format", "--class-map"} & _options(rsvqa)
    sky = run_cli("build-dataset", "skyscript-like", "--help", check=True).stdout
    assert {"--margin", "--min-chip-px", "--min-object-px", "--osm", "--llm"} <= _options(sky)
    assert not {"--qa-types", "--qa-per-chip", "--tile-px", "--class-map"} & _options(sky)
    counting = run_cli("build-dataset", "--workers", "2", "counting-qa", "-h", check=True).stdout
    assert {"--class-map", "--mask-kind", "--min-object-px", "--tile-px"} <= _options(counting)
    assert not {"--osm", "--margin", "--qa-types"} & _options(counting)


def test_plain_or_unknown_recipe_help_lists_every_option():
    """issue 11 case registry: without a known recipe, --help lists every option."""
    for args in (("--help",), ("no-such-recipe", "--help")):
        text = run_cli("build-dataset", *args, check=True).stdout
        assert {"--qa-types", "--margin", "--box-format", "--class-map"} <= _options(text)


def test_labels_help_names_vector_labels_and_label_rasters_by_recipe_kind():
    """issue 12 case 4: `--labels` takes vector files for the vector recipes and label rasters
    for the mask recipes (not "rasters only" for tile recipes), pointing at `geoscribe recipes`."""
    vector = next(n for n, s in RECIPES.items() if s.needs_vectors and s.chips == "tiles")
    for recipe in (vector, next(n for n, s in RECIPES.items() if s.needs_masks)):
        text = " ".join(run_cli("build-dataset", recipe, "--help", check=True).stdout.split())
        assert ("Vector recipes: vector labels (.geojson/.gpkg/.shp) with OSM-style tag columns; "
                "mask recipes: label rasters (with --class-map). `geoscribe recipes` says which."
                ) in text


def test_plain_help_and_version_import_no_builder():
    """review follow-up (issue 11 registry): `build-dataset --help` and `--version` list the
    recipes without importing a builder (the registry imports them all, over a second); the
    names they give are the registry's."""
    import subprocess
    import sys

    script = ("import sys\nfrom geoscribe.cli import build_dataset_main\nsys.argv = "
              "['build-dataset', sys.argv[1]]\ntry:\n    build_dataset_main()\n"
              "except SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m.startswith('geoscribe.builders.')))\n")
    for flag in ("--help", "--version"):
        out = subprocess.run([sys.executable, "-c", script, flag], capture_output=True,
                             text=True, check=True).stdout
        assert out.rstrip().endswith("[]"), out[-300:]
    text = " ".join(run_cli("build-dataset", "--help", check=True).stdout.split())
    assert f"Recipe name: {', '.join(RECIPES)} (see" in text


def test_progress_bar_shows_samples_per_second_and_quiet_hides_it(scene, tmp_path):
    """issue 19 (progress): the units bar shows units, samples, samples/s and ETA; --quiet
    hides every bar and keeps the summary."""
    args = [a for a in build_args(scene, tmp_path / "bar", "--workers", "1")
            if a != "--no-progress"]
    shown = run_cli(*args, check=True)
    assert "building skyscript-like" in shown.stderr and "samples/s" in shown.stderr
    assert re.search(r"\d+/\d+ \[\d\d:\d\d<\d\d:\d\d", shown.stderr)  # units done/total, ETA
    quiet_args = [a for a in build_args(scene, tmp_path / "quiet", "--workers", "1")
                  if a != "--no-progress"] + ["--quiet"]
    quiet = run_cli(*quiet_args, check=True)
    assert "building" not in quiet.stderr and "reading" not in quiet.stderr
    assert quiet.stdout.startswith("built ")
