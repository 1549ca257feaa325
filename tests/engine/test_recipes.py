"""The recipe table (engine/recipes.py): every recipe has a builder of the right kind, a
description, and flags that agree with each other and with its builder."""

from __future__ import annotations

import pytest

from conftest import run_cli
from geoscribe.builders.context import BuildContext
from geoscribe.builders.tiles import TileBuilder
from geoscribe.engine.recipes import make_builder
from geoscribe.recipes import RECIPES
from geoscribe.sources.feature_store import FeatureStore

NAMES = sorted(RECIPES)


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


def test_tools_recipes_lists_every_recipe_with_its_description():
    """issue 11: `geoscribe recipes` prints one line per recipe of the table."""
    result = run_cli("geoscribe", "recipes", check=True)
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(RECIPES)
    for line, spec in zip(lines, RECIPES.values(), strict=True):
        assert line.split(None, 1)[1] == spec.description
