"""builders/tile_features.FeatureTileBuilder.features_in_tile: the boxes of nodes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import shapely
from affine import Affine
from pyproj import Transformer

from geoscribe.builders.tile_features import FeatureTileBuilder
from geoscribe.text.tag_policy import load_tag_policy
from geoscribe.types import ChipPlan, ChipSettings, Feature, RasterInfo

CRS = "EPSG:32617"
ORIGIN_X, ORIGIN_Y, GSD, SIZE = 500_000.0, 3_300_000.0, 0.5, 128


class _Store:
    def __init__(self, features):
        self.features = features

    def intersecting(self, bbox):
        return list(self.features)


def _builder(node_box_px: int, features) -> FeatureTileBuilder:
    """A builder without inputs to open: its store is the given features."""
    builder = object.__new__(FeatureTileBuilder)
    builder.ctx = SimpleNamespace(chip=ChipSettings(node_box_px=node_box_px))
    builder.store = _Store(features)
    builder.policy = load_tag_policy(None)
    return builder


def _plan() -> ChipPlan:
    transform = Affine(GSD, 0.0, ORIGIN_X, 0.0, -GSD, ORIGIN_Y)
    raster = RasterInfo("r.tif", CRS, tuple(transform)[:6], SIZE, SIZE, 3, "uint8", None,
                        [1, 2, 3], (0.0, 0.0, 1.0, 1.0), GSD, None, "passthrough")
    return ChipPlan(raster, 0, 0, SIZE, SIZE, transform, False)


@pytest.mark.parametrize("node_box_px", [4, 7])
def test_node_box_is_the_chip_setting(node_box_px):
    """issue 11 (dedupe 5): a node's box is ± ChipSettings.node_box_px (default 4) around it,
    clipped to the tile."""
    assert ChipSettings().node_box_px == 4
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    col, row = 40.25, 2.5  # near the top edge: the box is clipped there
    lon, lat = to_wgs84.transform(ORIGIN_X + col * GSD, ORIGIN_Y - row * GSD)
    tower = Feature("osm", shapely.Point(lon, lat), {"man_made": "water_tower"}, "s.osm",
                    "node", 1)
    [item] = _builder(node_box_px, [tower]).features_in_tile(_plan(), (0, 0, 1, 1))
    expected = (col - node_box_px, max(0.0, row - node_box_px), col + node_box_px,
                row + node_box_px)
    assert item.bbox_px == pytest.approx(expected, abs=0.011)


def _building(osm_id: int, col: float, row: float, half: float, tags: dict) -> Feature:
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    x, y = ORIGIN_X + col * GSD, ORIGIN_Y - row * GSD
    ring = [to_wgs84.transform(x + dx, y + dy)
            for dx, dy in ((-half, -half), (half, -half), (half, half), (-half, half))]
    return Feature("osm", shapely.Polygon(ring), tags, "s.osm", "way", osm_id)


def test_rsteller_builds_one_metric_frame_and_describes_each_feature_once(monkeypatch):
    """issue 11 mends: rsteller-like built a second metric frame and described every feature
    a second time for its attributes; the attributes now travel on the TileFeature."""
    import geoscribe.builders.rsteller_like as rsteller_like
    import geoscribe.builders.tile_features as tile_features
    from geoscribe.text.phrases import describe

    features = [_building(1, 30, 30, 6, {"building": "yes", "roof:shape": "gabled"}),
                _building(2, 90, 90, 4, {"highway": "pedestrian", "area": "yes",
                                         "surface": "paved"})]
    policy = load_tag_policy(None)
    frames, described = [], []
    real_frame = tile_features.metric_frame

    def counting_frame(*args):
        frames.append(args)
        return real_frame(*args)

    def counting_describe(tags, pol):
        described.append(tags)
        return describe(tags, pol)

    for module in (tile_features, rsteller_like):
        monkeypatch.setattr(module, "metric_frame", counting_frame, raising=False)
        monkeypatch.setattr(module, "describe", counting_describe, raising=False)
    builder = object.__new__(rsteller_like.RstellerBuilder)
    builder.ctx = SimpleNamespace(chip=ChipSettings())
    builder.store = _Store(features)
    builder.policy = policy
    body = builder.describe_features(_plan(), (0, 0, 1, 1), "key")
    assert len(frames) == 1
    assert len(described) == len(features)
    attributes = [describe(f.tags, policy).attributes for f in features]
    items = builder.features_in_tile(_plan(), (0, 0, 1, 1))
    assert [i.attributes for i in items] == attributes and any(attributes)
    assert len(body["evidence"]["elements"]) == 2
