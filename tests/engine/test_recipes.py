"""The registry (recipes.py) and make_builder (engine/recipes.py): each recipe module declares
its RECIPE, the registry lists the modules, every recipe has a builder of the right kind, a
description, flags that agree with each other and with its builder, and options that are what
its recipe reads."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from conftest import build_args, digests, run_cli
from geoscribe.builders.context import BuildContext
from geoscribe.builders.tiles import TileBuilder
from geoscribe.config import BuildConfig
from geoscribe.engine.recipes import make_builder
from geoscribe.recipes import MODULES, RECIPES, recipe_options
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.types import RecipeSpec

NAMES = sorted(RECIPES)
SRC = Path(__file__).resolve().parents[2] / "src" / "geoscribe"


def _context(recipe: str, tmp_path) -> BuildContext:
    store = tmp_path / "features.sqlite"
    FeatureStore(store).close()  # an empty store: what a worker opens read-only
    return BuildContext(recipe=recipe, work_dir=str(tmp_path), store_path=str(store),
                        rasters=[], licenses={}, unit_deg=0.01, split_block_deg=0.05,
                        split_fractions=(0.8, 0.1, 0.1), split_guard=True, seed=0)


def test_the_table_has_the_recipes_a_user_can_name():
    """issue 11: seven recipes, each keyed by its own name, with a one-line description."""
    assert len(NAMES) == 7
    for name, spec in RECIPES.items():
        assert spec.name == name
        assert name == name.lower() and " " not in name
        assert spec.description.strip() and "\n" not in spec.description


@pytest.mark.parametrize("name", NAMES)
def test_flags_are_consistent(name):
    """issue 11: object-centred chips come from vectors; a tile recipe reads either a label
    raster or vectors, never both; the object size floor is not negative."""
    spec = RECIPES[name]
    assert spec.chips in ("features", "tiles")
    if spec.chips == "features":
        assert spec.needs_vectors and not spec.needs_masks
    else:
        assert spec.needs_masks != spec.needs_vectors
    assert spec.min_object_px >= 0


@pytest.mark.parametrize("name", NAMES)
def test_every_recipe_has_a_builder_of_its_kind(name, tmp_path):
    """issue 11: make_builder opens each recipe's builder, from the recipe's own module; tile
    recipes get a TileBuilder that reads a mask exactly when the recipe needs masks."""
    spec = RECIPES[name]
    builder = make_builder(_context(name, tmp_path))
    try:
        assert builder.ctx.recipe == name
        assert type(builder).__module__ == f"geoscribe.builders.{name.replace('-', '_')}"
        assert callable(builder.unit_samples) and callable(builder.close)
        assert isinstance(builder, TileBuilder) == (spec.chips == "tiles")
        if spec.chips == "tiles":
            assert builder.uses_mask == spec.needs_masks
    finally:
        builder.close()


def test_tile_recipes_key_their_samples_apart(tmp_path):
    """issue 11: each tile recipe has its own sample key prefix."""
    prefixes = []
    for name in NAMES:
        if RECIPES[name].chips == "tiles":
            builder = make_builder(_context(name, tmp_path))
            prefixes.append(builder.prefix)
            builder.close()
    assert len(set(prefixes)) == len(prefixes)
    assert "tile" not in prefixes  # the base class's placeholder


def test_an_unknown_recipe_has_no_builder(tmp_path):
    with pytest.raises(ValueError, match="no builder"):
        make_builder(_context("not-a-recipe", tmp_path))


def test_tools_recipes_lists_every_recipe_with_its_inputs_and_demo():
    """issue 11: `geoscribe recipes` prints a line per recipe of the table; issue 12 case 4:
    under it the inputs it reads (vector files or label rasters) and its `--region demo`."""
    result = run_cli("geoscribe", "recipes", check=True)
    lines = result.stdout.splitlines()
    heads = [i for i, line in enumerate(lines) if not line[:1].isspace()]
    assert [lines[i].split()[0] for i in heads] == list(RECIPES)
    for i, spec in zip(heads, RECIPES.values(), strict=True):
        assert lines[i].split(None, 1)[1] == spec.description
        inputs, demo = lines[i + 1].strip(), lines[i + 2].strip()
        assert inputs.startswith("inputs: --imagery")
        assert ("label rasters" in inputs) == spec.needs_masks
        assert ("--osm" in inputs and "vector files" in inputs) == spec.needs_vectors
        assert demo.startswith("--region demo: SpaceNet") or (
            demo.startswith("--region demo: a building/road/other raster derived"))


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_module_declares_its_recipe_next_to_its_builder(module):
    """issue 11 case registry: a registered module holds `RECIPE`, a RecipeSpec whose builder
    class is defined in that same module and can be opened (`open(ctx)`); the registry keys
    it by its name."""
    spec = module.RECIPE
    assert isinstance(spec, RecipeSpec)
    assert inspect.isclass(spec.builder) and spec.builder.__module__ == module.__name__
    assert callable(getattr(spec.builder, "open", None))
    assert RECIPES[spec.name] is spec


def test_names_are_unique():
    """issue 11 case registry: no two modules declare the same recipe name."""
    names = [module.RECIPE.name for module in MODULES]
    assert len(set(names)) == len(names) == len(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_options_are_config_fields(name):
    """issue 11 case registry: a spec's own options are real BuildConfig fields, each named
    once, and never the options every recipe reads (recipe, region, imagery, ...)."""
    options = RECIPES[name].options
    assert len(set(options)) == len(options)
    assert set(options) <= set(BuildConfig.model_fields)
    assert not set(options) & {"recipe", "region", "out", "imagery", "labels", "chip_size",
                               "seed", "workers", "llm", "clip"}


def test_recipe_names_are_spelled_only_in_their_own_module():
    """issue 11 case registry (R7, stricter): a recipe's name is a string literal in one
    source file only, its own module."""
    where: dict[str, set[str]] = {name: set() for name in RECIPES}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in where:
                where[node.value].add(str(path.relative_to(SRC)))
    for module in MODULES:
        own = module.__name__.removeprefix("geoscribe.").replace(".", "/") + ".py"
        assert where[module.RECIPE.name] == {own}, module.RECIPE.name


def _build(scene, out: Path, recipe: str, *extra: str) -> dict[str, str]:
    args = build_args(scene, out, "--workers", "1", "--limit", "6", *extra)
    args[1] = recipe
    run_cli(*args, check=True)
    return digests(out)


@pytest.mark.parametrize(("recipe", "own", "other"), [
    ("skyscript-like", "--margin=0.6", "--qa-per-chip=2"),
    ("rsvqa-like", "--qa-per-chip=2", "--margin=0.6"),
])
def test_options_are_what_the_recipe_reads(scene, tmp_path, recipe, own, other):
    """issue 11 case registry: on the test scene, changing one of the recipe's own options
    changes its shards, and changing another recipe's own option leaves them byte-identical
    (so the spec's `options`, which decide `build-dataset RECIPE --help`, are right)."""
    spec = RECIPES[recipe]
    own_field = own[2:].split("=")[0].replace("-", "_")
    other_field = other[2:].split("=")[0].replace("-", "_")
    assert own_field in spec.options
    assert other_field in recipe_options() - set(spec.options)
    base = _build(scene, tmp_path / "base", recipe)
    assert base
    assert _build(scene, tmp_path / "other", recipe, other) == base
    assert _build(scene, tmp_path / "own", recipe, own) != base
