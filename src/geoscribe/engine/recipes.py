"""The recipes this version can build, and how a worker makes each one's builder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geoscribe.builders.context import BuildContext


@dataclass(frozen=True)
class RecipeSpec:
    """What a recipe needs: object-centred chips from vectors, or tiles with a label raster."""

    name: str
    description: str
    chips: str  # "features" (one chip per vector feature) | "tiles" (a grid of tiles)
    needs_masks: bool = False
    needs_vectors: bool = False
    min_object_px: float = 3.0


RECIPES = {
    spec.name: spec for spec in (
        RecipeSpec("skyscript-like", "object-centred chips per OSM/label feature, captioned "
                   "from tags", "features", needs_vectors=True),
        RecipeSpec("rsvqa-like", "tiles with presence/count/comparison/area/size/relation QA "
                   "computed from OSM features", "tiles", needs_vectors=True),
        RecipeSpec("geochat-like", "tiles with grounded instructions (GeoChat boxes) for the "
                   "OSM features in them", "tiles", needs_vectors=True),
        RecipeSpec("counting-qa", "tiles with counting QA (how many / any / more than / total) "
                   "computed from a label mask", "tiles", needs_masks=True, min_object_px=10),
        RecipeSpec("landcover-cls", "tiles labelled with the majority class of a label raster "
                   "(with its share)", "tiles", needs_masks=True, min_object_px=0),
        RecipeSpec("rsteller-like", "tiles with facts about their largest OSM areas and "
                   "longest lines (RSTeller style), captioned by template or LLM", "tiles",
                   needs_vectors=True),
        RecipeSpec("chatearthnet-like", "tiles with land-cover shares overall and per region "
                   "(ChatEarthNet style), captioned by template or LLM", "tiles",
                   needs_masks=True, min_object_px=0),
    )
}


def make_builder(ctx: BuildContext):
    """The builder of `ctx.recipe`, opened inside the current (worker) process."""
    if ctx.recipe == "skyscript-like":
        from geoscribe.builders.skyscript_like import SkyscriptBuilder
        from geoscribe.sources.feature_store import FeatureStore
        from geoscribe.text.tag_policy import load_tag_policy
        from geoscribe.text.templates import load_caption_template

        store = FeatureStore(Path(ctx.store_path), readonly=True)
        policy = load_tag_policy(Path(ctx.tag_policy_path) if ctx.tag_policy_path else None)
        return SkyscriptBuilder(ctx, store, policy, load_caption_template(ctx.caption_template))
    if ctx.recipe == "rsvqa-like":
        from geoscribe.builders.rsvqa_like import RsvqaBuilder

        return RsvqaBuilder(ctx)
    if ctx.recipe == "geochat-like":
        from geoscribe.builders.geochat_like import GeochatBuilder

        return GeochatBuilder(ctx)
    if ctx.recipe == "counting-qa":
        from geoscribe.builders.counting_qa import CountingQABuilder

        return CountingQABuilder(ctx)
    if ctx.recipe == "landcover-cls":
        from geoscribe.builders.landcover_cls import LandcoverBuilder

        return LandcoverBuilder(ctx)
    if ctx.recipe == "rsteller-like":
        from geoscribe.builders.rsteller_like import RstellerBuilder

        return RstellerBuilder(ctx)
    if ctx.recipe == "chatearthnet-like":
        from geoscribe.builders.chatearthnet_like import ChatEarthNetBuilder

        return ChatEarthNetBuilder(ctx)
    raise ValueError(f"no builder for recipe {ctx.recipe!r}")
