"""rsvqa-like: tiles with presence/count/comparison/area/size/relation QA from OSM features."""

from __future__ import annotations

from geoscribe.builders.records import tile_feature_entry
from geoscribe.builders.tile_features import (
    VECTOR_TILE_OPTIONS,
    FeatureTileBuilder,
    counts_by_name,
)
from geoscribe.geometry import metric_frame
from geoscribe.qa.counting import counting_caption
from geoscribe.qa.rsvqa import (
    DEFAULT_WEIGHTS,
    AnswerBalancer,
    candidate_questions,
    rsvqa_templates,
    select_questions,
)
from geoscribe.text.phrases import describe
from geoscribe.types import ChipPlan, RecipeSpec


class RsvqaBuilder(FeatureTileBuilder):
    prefix = "vqa"

    def start_unit(self, unit=None) -> None:
        self.balancer = AnswerBalancer()
        self.vocabulary: list[str] = []
        if unit is not None:
            names = set()
            for feature in self.store.intersecting(unit.bounds):
                phrase = describe(feature.tags, self.policy)
                if phrase is not None:
                    names.add(phrase.noun)
            self.vocabulary = sorted(names)

    def describe_features(self, plan: ChipPlan, bbox_wgs84, key: str) -> dict | str:
        items = self.features_in_tile(plan, bbox_wgs84)
        to_metres = metric_frame(plan.transform, plan.crs, bbox_wgs84)
        candidates = candidate_questions(items, self.vocabulary, to_metres)
        weights = self.ctx.options["qa_weights"] or DEFAULT_WEIGHTS
        qa = select_questions(candidates, key, weights, self.ctx.options["qa_per_chip"],
                              self.balancer)
        if not qa:
            return "no_questions"
        counts = counts_by_name(items)
        template_id, sha, _ = rsvqa_templates()
        return {
            "features": [tile_feature_entry(i) for i in items],
            "texts": {"caption": counting_caption(counts)
                      if counts else "A satellite image with no mapped objects."},
            "qa": qa,
            "evidence": {"counts": counts,
                         "areas_m2": {n: round(sum(i.area_m2 for i in items if i.name == n), 2)
                                      for n in sorted(counts)}},
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
            "_inputs": sorted({i.feature.input for i in items}),
        }


RECIPE = RecipeSpec(
    "rsvqa-like", "tiles with presence/count/comparison/area/size/relation QA computed from "
    "OSM features", "tiles", RsvqaBuilder, needs_vectors=True,
    options=VECTOR_TILE_OPTIONS + ("qa_weights", "qa_per_chip"), demo="vector-tiles",
    task_categories=("visual-question-answering",), task_ids=("visual-question-answering",))
