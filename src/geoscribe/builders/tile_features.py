"""Vector features inside a tile: what they are, where (chip pixels), how big (m²/m)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geoscribe.builders.chip_window import (
    ChipPlan,
    intersection_with_box,
    project,
    to_pixels,
    transformer_to_wgs84,
)
from geoscribe.builders.context import BuildContext
from geoscribe.builders.tiles import TileBuilder
from geoscribe.engine.feature_store import FeatureStore
from geoscribe.sources.feature import Feature
from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import load_tag_policy


@dataclass(frozen=True)
class TileFeature:
    """A feature as seen in one tile."""

    feature: Feature
    name: str  # readable class phrase, e.g. "residential road"
    pixel_geometry: BaseGeometry  # in chip pixels (as written), clipped to the tile
    bbox_px: tuple[float, float, float, float]  # bounds of pixel_geometry (nodes: ±4 px)
    clipped: bool  # the tile's edge cuts the feature
    area_m2: float  # area inside the tile (polygons), in a local UTM projection
    length_m: float  # length inside the tile (lines)


@lru_cache(maxsize=64)
def _to_utm(lon: float, lat: float) -> Transformer:
    zone = int((lon + 180) // 6) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    return Transformer.from_crs("EPSG:4326", CRS.from_epsg(epsg), always_xy=True)


def local_utm(geom_wgs84: BaseGeometry, lon: float, lat: float) -> BaseGeometry:
    """A WGS84 geometry in the UTM zone of (lon, lat) — metres, for areas and lengths."""
    transformer = _to_utm(round(lon, 0), round(lat, 0))

    def fn(coords):
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom_wgs84, fn)


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

    def features_in_tile(self, plan: ChipPlan, bbox_wgs84) -> list[TileFeature]:
        """Every describable feature intersecting the tile, in store order.

        Areas and lengths are of the part inside the tile, measured in the local UTM zone.
        """
        size = plan.out_size
        chip = shapely.box(0, 0, size, size)
        lon, lat = (bbox_wgs84[0] + bbox_wgs84[2]) / 2, (bbox_wgs84[1] + bbox_wgs84[3]) / 2
        to_crs = plan.transform
        to_wgs84 = transformer_to_wgs84(plan.crs)

        def pixels_to_metres(geom_px: BaseGeometry) -> BaseGeometry:
            def fn(coords):
                x = to_crs.a * coords[:, 0] + to_crs.b * coords[:, 1] + to_crs.c
                y = to_crs.d * coords[:, 0] + to_crs.e * coords[:, 1] + to_crs.f
                lons, lats = to_wgs84.transform(x, y)
                return np.column_stack([lons, lats])

            return local_utm(shapely.transform(geom_px, fn), lon, lat)

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
                box = (max(0.0, x - 4), max(0.0, y - 4), min(size, x + 4), min(size, y + 4))
                found.append(TileFeature(feature, phrase.noun, geom_px,
                                         tuple(round(v, 2) for v in box), False, 0.0, 0.0))
                continue
            inside = intersection_with_box(geom_px, chip)
            polygonal = "Polygon" in geom_px.geom_type
            if (inside.area if polygonal else inside.length) <= 1e-6:
                continue  # only touches the tile's edge: not in the image
            metric = pixels_to_metres(inside)
            found.append(TileFeature(
                feature, phrase.noun, inside, tuple(round(v, 2) for v in inside.bounds),
                not chip.contains(geom_px), metric.area if polygonal else 0.0,
                0.0 if polygonal else metric.length))
        return found


def counts_by_name(items: list[TileFeature]) -> dict[str, int]:
    """Features per class phrase, sorted by phrase."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
    return dict(sorted(counts.items()))
