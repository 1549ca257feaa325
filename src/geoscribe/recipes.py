"""The registry: the recipe modules this version can build, each declaring its `RECIPE`.

A recipe is one module under builders/ with a `RecipeSpec` (geoscribe.types) next to its
builder; the rest of the package reads per-recipe knowledge from the spec (chips, inputs,
builder, options, LLM task, focus rule, demo kind) instead of naming recipes. This module
imports the builders, so it sits above them: checks/, engine/ and cli read it; what needs only
the names (`build-dataset --help`) reads geoscribe.recipe_names, which imports nothing
(tests/test_recipe_names.py keeps the two in step).
"""

from __future__ import annotations

from geoscribe.builders import (
    chatearthnet_like,
    counting_qa,
    geochat_like,
    landcover_cls,
    rsteller_like,
    rsvqa_like,
    skyscript_like,
)
from geoscribe.types import RecipeSpec

__all__ = ["MODULES", "RECIPES", "RecipeSpec", "recipe_inputs", "recipe_options"]

MODULES = (skyscript_like, rsvqa_like, geochat_like, counting_qa, landcover_cls,
           rsteller_like, chatearthnet_like)

RECIPES: dict[str, RecipeSpec] = {module.RECIPE.name: module.RECIPE for module in MODULES}


def recipe_options() -> frozenset[str]:
    """The BuildConfig fields some recipe declares as its own (the rest every recipe reads)."""
    return frozenset(name for spec in RECIPES.values() for name in spec.options)


def recipe_inputs(spec: RecipeSpec) -> str:
    """The input flags a recipe reads, in words (for `geoscribe recipes`)."""
    if spec.needs_masks:
        return ("--imagery + --labels label rasters (masks) with --class-map "
                "[--mask-kind semantic|instance]")
    return "--imagery + --osm and/or --labels vector files (OSM-style tag columns)"
