"""landcover-cls: one label per tile, the majority class of a label raster, with its share."""

from __future__ import annotations

import numpy as np

from geoscribe.builders.tiles import MASK_TILE_OPTIONS, TileBuilder
from geoscribe.text.templates import load_wording
from geoscribe.types import ChipPlan, MaskInfo, RecipeSpec


def landcover_templates() -> tuple[str, str, dict[str, str]]:
    return load_wording("prompts", "qa", "landcover_v1.yaml")


class LandcoverBuilder(TileBuilder):
    prefix = "lc"

    def describe(self, values: np.ndarray, labelled: np.ndarray, mask: MaskInfo,
                 plan: ChipPlan, key: str) -> dict | str:
        cmap = mask.class_map
        known = labelled & np.isin(values, list(cmap.classes))
        total = int(np.count_nonzero(known))
        if total == 0:
            return "no_known_class"
        found, counts = np.unique(values[known], return_counts=True)
        shares = {cmap.classes[int(v)]: 0.0 for v in found}
        for value, count in zip(found, counts, strict=True):
            shares[cmap.classes[int(value)]] += count / total
        ranked = sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))
        name, share = ranked[0]
        template_id, sha, words = landcover_templates()
        return {
            "texts": {"caption": words["caption"].format(name=name)},
            "qa": [{"question": words["question"], "answer": name, "type": "classification",
                    "classes": [name]}],
            "label": {"class": name, "share": round(share, 4),
                      "shares": {k: round(v, 4) for k, v in ranked}},
            "evidence": {"mask": mask.uri, "labelled_pixels": total},
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
        }


RECIPE = RecipeSpec(
    "landcover-cls", "tiles labelled with the majority class of a label raster (with its "
    "share)", "tiles", LandcoverBuilder, needs_masks=True, options=MASK_TILE_OPTIONS,
    min_object_px=0, demo="land-cover", task_categories=("image-classification",),
    task_ids=("multi-class-image-classification",))
