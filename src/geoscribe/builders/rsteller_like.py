"""rsteller-like: tiles with facts about their most salient OSM elements, for LLM captions.

Without an LLM the caption is a deterministic template over those facts
(prompts/captions/rsteller_template_v1.yaml, geoscribe.qa.osm_elements).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.builders.chip_window import ChipPlan, transformer_to_wgs84
from geoscribe.builders.rsvqa_like import _entry
from geoscribe.builders.tile_features import FeatureTileBuilder, counts_by_name, local_utm
from geoscribe.qa.osm_elements import element_facts, elements_caption, rsteller_wording, salient
from geoscribe.text.phrases import describe


def metric_frame(plan: ChipPlan, bbox_wgs84) -> Callable[[BaseGeometry], BaseGeometry]:
    """Chip pixels -> metres in the local UTM zone of the tile (x east, y north)."""
    t = plan.transform
    to_wgs84 = transformer_to_wgs84(plan.crs)
    lon, lat = (bbox_wgs84[0] + bbox_wgs84[2]) / 2, (bbox_wgs84[1] + bbox_wgs84[3]) / 2

    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        x = t.a * coords[:, 0] + t.b * coords[:, 1] + t.c
        y = t.d * coords[:, 0] + t.e * coords[:, 1] + t.f
        return np.column_stack(to_wgs84.transform(x, y))

    return lambda geom: local_utm(shapely.transform(geom, to_lonlat), lon, lat)


class RstellerBuilder(FeatureTileBuilder):
    prefix = "rst"

    def describe_features(self, plan: ChipPlan, bbox_wgs84, key: str) -> dict | str:
        items = self.features_in_tile(plan, bbox_wgs84)
        if not items:
            return "no_features"
        to_metres = metric_frame(plan, bbox_wgs84)
        size = (plan.out_size, plan.out_size)
        elements = []
        for item in salient(items):
            attributes = describe(item.feature.tags, self.policy).attributes
            elements.append(element_facts(item, list(attributes),
                                          to_metres(item.pixel_geometry), size))
        template_id, sha, words = rsteller_wording()
        return {
            "features": [_entry(i) for i in items],
            "texts": {"caption": elements_caption(elements, words)},
            "evidence": {"elements": elements, "counts": counts_by_name(items)},
            "generator": {"kind": "template", "template_id": template_id, "prompt_sha256": sha},
            "_inputs": sorted({i.feature.input for i in items}),
        }
