"""counting-qa: tiles with counting questions whose answers come from a label mask.

Objects are counted at the imagery's native resolution on the tile's source window (the mask
is read onto that grid), so every count is the count of the mask, whatever the output size.
"""

from __future__ import annotations

import numpy as np

from geoscribe.builders.tiles import MASK_TILE_OPTIONS, TileBuilder
from geoscribe.qa.counting import (
    PresenceBalancer,
    counting_caption,
    counting_questions,
    counting_templates,
)
from geoscribe.qa.objects import class_counts, instance_objects, semantic_objects
from geoscribe.types import ChipPlan, MaskInfo, RecipeSpec


class CountingQABuilder(TileBuilder):
    prefix = "cnt"

    def start_unit(self, unit=None) -> None:
        self.balancer = PresenceBalancer()

    def describe(self, values: np.ndarray, labelled: np.ndarray, mask: MaskInfo,
                 plan: ChipPlan, key: str) -> dict:
        min_px = self.ctx.min_object_px
        cmap = mask.class_map
        if mask.kind == "instance":
            objects = instance_objects(values, cmap.classes, cmap.default, min_px, labelled)
        else:
            objects = semantic_objects(values, cmap.classes, min_px, labelled)
        names = cmap.names
        counts = class_counts(objects, names)
        cut = class_counts([o for o in objects if o.cut], names)
        template_id, sha, _ = counting_templates()
        scale = plan.out_size / plan.side
        return {
            "texts": {"caption": counting_caption(counts)},
            "qa": counting_questions(counts, cut, key, self.balancer),
            "evidence": {
                "mask": mask.uri, "mask_kind": mask.kind, "min_object_px": min_px,
                "counts": counts, "cut_by_edge": cut,
                "unlabelled_fraction": round(1 - float(np.count_nonzero(labelled))
                                             / labelled.size, 4),
                "objects": [o.to_dict(scale) for o in objects],
            },
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
        }


RECIPE = RecipeSpec(
    "counting-qa", "tiles with counting QA (how many / any / more than / total) computed from "
    "a label mask", "tiles", CountingQABuilder, needs_masks=True,
    options=MASK_TILE_OPTIONS + ("min_object_px",), min_object_px=10, demo="masks",
    task_categories=("visual-question-answering",), task_ids=("visual-question-answering",))
