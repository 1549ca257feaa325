"""How a worker makes the builder of a recipe (the recipes are listed in geoscribe.recipes)."""

from __future__ import annotations

from geoscribe.builders.context import BuildContext
from geoscribe.recipes import RECIPES


def make_builder(ctx: BuildContext):
    """The builder of `ctx.recipe` (its spec's builder class), opened inside the current
    (worker) process."""
    spec = RECIPES.get(ctx.recipe)
    if spec is None:
        raise ValueError(f"no builder for recipe {ctx.recipe!r}")
    return spec.builder.open(ctx)
