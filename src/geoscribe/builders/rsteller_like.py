"""rsteller-like: tiles with facts about their most salient OSM elements, for LLM captions.

Without an LLM the caption is a deterministic template over those facts
(prompts/captions/rsteller_template_v1.yaml, geoscribe.qa.osm_elements).
"""

from __future__ import annotations

from geoscribe.builders.records import tile_feature_entry
from geoscribe.builders.tile_features import (
    VECTOR_TILE_OPTIONS,
    FeatureTileBuilder,
    counts_by_name,
)
from geoscribe.geometry import metric_frame
from geoscribe.qa.osm_elements import element_facts, elements_caption, rsteller_wording, salient
from geoscribe.types import ChipPlan, RecipeSpec


class RstellerBuilder(FeatureTileBuilder):
    prefix = "rst"

    def describe_features(self, plan: ChipPlan, bbox_wgs84, key: str) -> dict | str:
        to_metres = metric_frame(plan.transform, plan.crs, bbox_wgs84)
        items = self.features_in_tile(plan, bbox_wgs84, to_metres)
        if not items:
            return "no_features"
        size = (plan.out_size, plan.out_size)
        elements = [element_facts(item, list(item.attributes), to_metres(item.pixel_geometry),
                                  size) for item in salient(items)]
        template_id, sha, words = rsteller_wording()
        return {
            "features": [tile_feature_entry(i) for i in items],
            "texts": {"caption": elements_caption(elements, words)},
            "evidence": {"elements": elements, "counts": counts_by_name(items)},
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
            "_inputs": sorted({i.feature.input for i in items}),
        }


RECIPE = RecipeSpec(
    "rsteller-like", "tiles with facts about their largest OSM areas and longest lines "
    "(RSTeller style), captioned by template or LLM", "tiles", RstellerBuilder,
    needs_vectors=True, options=VECTOR_TILE_OPTIONS, llm_task="rsteller_caption",
    demo="vector-tiles")
