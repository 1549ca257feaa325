"""geochat-like: tiles with grounded instructions (GeoChat boxes or JSON pixel boxes)."""

from __future__ import annotations

from geoscribe.builders.records import tile_feature_entry
from geoscribe.builders.tile_features import (
    VECTOR_TILE_OPTIONS,
    FeatureTileBuilder,
    counts_by_name,
)
from geoscribe.qa.counting import counting_caption
from geoscribe.qa.grounding import geochat_templates, grounded_conversations, rotation_deg
from geoscribe.types import ChipPlan, RecipeSpec


class GeochatBuilder(FeatureTileBuilder):
    prefix = "gnd"

    def describe_features(self, plan: ChipPlan, bbox_wgs84, key: str) -> dict | str:
        items = self.features_in_tile(plan, bbox_wgs84)
        if not items:
            return "no_features"
        counts = counts_by_name(items)
        template_id, sha, _ = geochat_templates()
        box_format = self.ctx.options["box_format"]
        features = []
        for item in items:
            entry = tile_feature_entry(item)
            entry["rotation_deg"] = rotation_deg(item.pixel_geometry)
            features.append(entry)
        return {
            "features": features,
            "texts": {"caption": counting_caption(counts)},
            "conversations": grounded_conversations(items, plan.out_size, box_format),
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha,
                          "box_format": box_format},
            "_inputs": sorted({i.feature.input for i in items}),
        }


RECIPE = RecipeSpec(
    "geochat-like", "tiles with grounded instructions (GeoChat boxes) for the OSM features in "
    "them", "tiles", GeochatBuilder, needs_vectors=True,
    options=VECTOR_TILE_OPTIONS + ("box_format",), demo="vector-tiles",
    task_categories=("object-detection", "image-text-to-text", "visual-question-answering"),
    task_ids=("visual-question-answering",), hub_tags=("visual-grounding",))
