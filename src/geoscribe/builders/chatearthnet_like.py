"""chatearthnet-like: tiles with land-cover shares (overall and per region), for LLM captions.

Without an LLM the caption is a deterministic template over the shares
(prompts/captions/chatearthnet_template_v1.yaml, geoscribe.qa.land_cover_shares).
"""

from __future__ import annotations

import numpy as np

from geoscribe.builders.tiles import MASK_TILE_OPTIONS, TileBuilder
from geoscribe.qa.land_cover_shares import (
    chatearthnet_wording,
    class_pixels,
    land_cover_caption,
    percent,
    region_windows,
    share_word,
    shares,
)
from geoscribe.types import ChipPlan, MaskInfo, RecipeSpec


class ChatEarthNetBuilder(TileBuilder):
    prefix = "cen"

    def describe(self, values: np.ndarray, labelled: np.ndarray, mask: MaskInfo,
                 plan: ChipPlan, key: str) -> dict | str:
        classes = mask.class_map.classes
        known = labelled & np.isin(values, list(classes))
        overall = class_pixels(values, known, classes)
        if not overall:
            return "no_known_class"
        total = sum(overall.values())
        regions = {region: class_pixels(values[window], known[window], classes)
                   for region, window in region_windows(*values.shape).items()}
        template_id, sha, words = chatearthnet_wording()
        overall_shares = shares(overall)
        name, share = next(iter(overall_shares.items()))
        percentages = {n: percent(c, total) for n, c in overall.items()}
        share_words = {n: w for n, p in percentages.items()
                       if (w := share_word(p, words["bins"])) is not None}
        return {
            "texts": {"caption": land_cover_caption(overall, regions, words)},
            "label": {"class": name, "share": round(share, 4),
                      "shares": {n: round(s, 4) for n, s in overall_shares.items()}},
            "evidence": {
                "mask": mask.uri,
                "labelled_pixels": total,
                "regions": {region: {n: round(s, 4) for n, s in shares(pixels).items()}
                            for region, pixels in regions.items()},
                "share_words": share_words,
                "percentages": percentages,
            },
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
        }


RECIPE = RecipeSpec(
    "chatearthnet-like", "tiles with land-cover shares overall and per region (ChatEarthNet "
    "style), captioned by template or LLM", "tiles", ChatEarthNetBuilder, needs_masks=True,
    options=MASK_TILE_OPTIONS, llm_task="chatearthnet_caption", min_object_px=0,
    demo="land-cover", task_categories=("image-to-text",))
