"""The recipes' names, known without importing their builders: the registry
(geoscribe.recipes) imports every builder, over a second that `build-dataset --help` need not
pay. Each recipe is the module builders/<name, `-` as `_`>.py, whose RECIPE carries the name;
the registry lists the same modules (tests/test_recipe_names.py)."""

from __future__ import annotations

BUILDER_MODULES = ("skyscript_like", "rsvqa_like", "geochat_like", "counting_qa",
                   "landcover_cls", "rsteller_like", "chatearthnet_like")


def recipe_names() -> list[str]:
    """The recipe names, in the registry's order."""
    return [module.replace("_", "-") for module in BUILDER_MODULES]

