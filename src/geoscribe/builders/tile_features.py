"""Vector features inside a tile: what they are, where (chip pixels), how big (m²/m)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.builders.context import BuildContext
from geoscribe.builders.tiles import TILE_OPTIONS, TileBuilder
from geoscribe.geometry import intersection_with_box, metric_frame, project, to_pixels
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import load_tag_policy
from geoscribe.types import ChipPlan, TileFeature

# the BuildConfig fields every tile recipe of vector features reads (RecipeSpec.options)
VECTOR_TILE_OPTIONS = TILE_OPTIONS + ("osm", "tag_policy")


class FeatureTileBuilder(TileBuilder):
    """Tile recipes that describe OSM/label features (rsvqa-like, geochat-like)."""

    uses_mask = False

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.store = FeatureStore(Path(ctx.store_path), readonly=True)
        self.policy = load_tag_policy(Path(ctx.tag_policy_path) if ctx.tag_policy_path
                                      else None)

    def close(self) -> None:
        super().close()
        self.store.close()

    def features_in_tile(self, plan: ChipPlan, bbox_wgs84,
                         pixels_to_metres: Callable[[BaseGeometry], BaseGeometry] | None = None,
                         ) -> list[TileFeature]:
        """Every describable feature intersecting the tile, in store order.

        Areas and lengths are of the part inside the tile, measured in the local UTM zone
        (`pixels_to_metres`: the tile's `metric_frame`, when the caller has built it).
        """
        size, half = plan.out_size, self.ctx.chip.node_box_px
        chip = shapely.box(0, 0, size, size)
        if pixels_to_metres is None:
            pixels_to_metres = metric_frame(plan.transform, plan.crs, bbox_wgs84)
        found = []
        for feature in self.store.intersecting(bbox_wgs84):
            phrase = describe(feature.tags, self.policy)
            if phrase is None:
                continue
            geom_px = to_pixels(project(feature.geometry, plan.crs), plan.transform)
            if not geom_px.intersects(chip):
                continue
            if geom_px.geom_type == "Point":
                x, y = geom_px.x, geom_px.y
                box = (max(0.0, x - half), max(0.0, y - half), min(size, x + half),
                       min(size, y + half))
                found.append(TileFeature(feature, phrase.noun, geom_px,
                                         tuple(round(v, 2) for v in box), False, 0.0, 0.0,
                                         tuple(phrase.attributes)))
                continue
            inside = intersection_with_box(geom_px, chip)
            polygonal = "Polygon" in geom_px.geom_type
            if (inside.area if polygonal else inside.length) <= 1e-6:
                continue  # only touches the tile's edge: not in the image
            metric = pixels_to_metres(inside)
            found.append(TileFeature(
                feature, phrase.noun, inside, tuple(round(v, 2) for v in inside.bounds),
                not chip.contains(geom_px), metric.area if polygonal else 0.0,
                0.0 if polygonal else metric.length, tuple(phrase.attributes)))
        return found


def counts_by_name(items: list[TileFeature]) -> dict[str, int]:
    """Features per class phrase, sorted by phrase."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
    return dict(sorted(counts.items()))
