"""recipe_names.py: the recipes' names without importing the builders (review follow-up of
issue 11's registry: a fast `build-dataset --help`)."""

from __future__ import annotations

from geoscribe.recipe_names import BUILDER_MODULES, recipe_names
from geoscribe.recipes import MODULES, RECIPES


def test_the_names_are_the_registrys():
    """review follow-up (issue 11 registry): the light list names the registry's modules and
    recipes, in its order."""
    assert [m.__name__.rsplit(".", 1)[1] for m in MODULES] == list(BUILDER_MODULES)
    assert recipe_names() == list(RECIPES)
