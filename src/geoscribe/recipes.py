"""The recipes this version can build: one spec each, the only place a recipe is named.

The rest of the package reads per-recipe knowledge from the spec (what chips it cuts, what
inputs it needs, which builder class makes its samples, what the demo gives it) instead of
comparing recipe names. This module imports nothing from geoscribe, so every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecipeSpec:
    """What a recipe needs: object-centred chips from vectors, or tiles with a label raster."""

    name: str
    description: str
    chips: str  # "features" (one chip per vector feature) | "tiles" (a grid of tiles)
    builder: str  # dotted path of its builder class (opened in each worker by the engine)
    needs_masks: bool = False
    needs_vectors: bool = False
    min_object_px: float = 3.0
    demo: str | None = None  # what `--region demo` gives it: "vectors" | "masks" | None

    @property
    def focus(self) -> bool:
        """Its records have exactly one focus feature (object-centred chips); else none."""
        return self.chips == "features"


_BUILDERS = "geoscribe.builders."

RECIPES = {
    spec.name: spec for spec in (
        RecipeSpec("skyscript-like", "object-centred chips per OSM/label feature, captioned "
                   "from tags", "features", _BUILDERS + "skyscript_like.SkyscriptBuilder",
                   needs_vectors=True, demo="vectors"),
        RecipeSpec("rsvqa-like", "tiles with presence/count/comparison/area/size/relation QA "
                   "computed from OSM features", "tiles", _BUILDERS + "rsvqa_like.RsvqaBuilder",
                   needs_vectors=True),
        RecipeSpec("geochat-like", "tiles with grounded instructions (GeoChat boxes) for the "
                   "OSM features in them", "tiles", _BUILDERS + "geochat_like.GeochatBuilder",
                   needs_vectors=True),
        RecipeSpec("counting-qa", "tiles with counting QA (how many / any / more than / total) "
                   "computed from a label mask", "tiles",
                   _BUILDERS + "counting_qa.CountingQABuilder", needs_masks=True,
                   min_object_px=10, demo="masks"),
        RecipeSpec("landcover-cls", "tiles labelled with the majority class of a label raster "
                   "(with its share)", "tiles", _BUILDERS + "landcover_cls.LandcoverBuilder",
                   needs_masks=True, min_object_px=0),
        RecipeSpec("rsteller-like", "tiles with facts about their largest OSM areas and "
                   "longest lines (RSTeller style), captioned by template or LLM", "tiles",
                   _BUILDERS + "rsteller_like.RstellerBuilder", needs_vectors=True),
        RecipeSpec("chatearthnet-like", "tiles with land-cover shares overall and per region "
                   "(ChatEarthNet style), captioned by template or LLM", "tiles",
                   _BUILDERS + "chatearthnet_like.ChatEarthNetBuilder", needs_masks=True,
                   min_object_px=0),
    )
}
