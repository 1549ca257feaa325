"""skyscript-like: one object-centred chip per groundable feature, captioned from its tags.

For each focus feature of a unit: plan the chip (whole object + margin), read only that
window, convert to 8-bit RGB, list every other visible feature with its box in chip pixels,
caption from a versioned template, assign the split of the focus's spatial block.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from PIL import Image
from shapely.geometry.base import BaseGeometry

from geoscribe import __version__
from geoscribe.builders.chip_window import (
    ChipPlan,
    plan_chip,
    project,
    to_pixels,
    transformer_to_wgs84,
)
from geoscribe.builders.context import BuildContext
from geoscribe.region import block_split, cell_index, splits_touched
from geoscribe.sources.chip_reader import ChipReader, ChipReadError
from geoscribe.sources.feature import Feature
from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import TagPolicy
from geoscribe.text.templates import CaptionTemplate, count_others

RECIPE = "skyscript-like"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class Sample:
    """A finished sample: key, split, encoded image, caption text and the record."""

    key: str
    split: str
    image: bytes
    record: dict


def sample_key(prefix: str, feature: Feature) -> str:
    """Stable key from recipe, source id and geometry; never contains dots."""
    geom_hash = hashlib.sha256(shapely.to_wkb(feature.geometry, hex=False)).hexdigest()[:10]
    source_id = _UNSAFE.sub("-", feature.source_id)
    return f"{prefix}_{feature.source}_{source_id}_{geom_hash}"


def encode_image(rgb: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode an RGB array as JPEG (fixed settings, deterministic) or PNG."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb, mode="RGB")
    if fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=False)
    return buffer.getvalue()


def _bbox_px(geom_px, out_size: int, node_box: int) -> tuple[list[float], bool]:
    """Bounds of a pixel-space geometry, clipped to the chip; points get a small box."""
    if geom_px.geom_type == "Point":
        x, y = geom_px.x, geom_px.y
        raw = [x - node_box, y - node_box, x + node_box, y + node_box]
    else:
        raw = list(geom_px.bounds)
    clipped = [max(0.0, raw[0]), max(0.0, raw[1]), min(float(out_size), raw[2]),
               min(float(out_size), raw[3])]
    was_clipped = clipped != raw
    return [round(v, 2) for v in clipped], was_clipped


def _feature_entry(feature: Feature, bbox: list[float], focus: bool, clipped: bool) -> dict:
    return {
        "source": feature.source,
        "osm_type": feature.osm_type,
        "osm_id": feature.osm_id,
        "label_ref": feature.label_ref,
        "tags": dict(sorted(feature.tags.items())),
        "bbox_px": bbox,
        "focus": focus,
        "clipped": clipped,
    }


class SkyscriptBuilder:
    """Builds the samples of one unit; owns the worker's open rasters and feature store."""

    def __init__(self, ctx: BuildContext, store, policy: TagPolicy, template: CaptionTemplate):
        self.ctx = ctx
        self.store = store
        self.policy = policy
        self.template = template
        self.reader = ChipReader(ctx.rasters)
        self._features: dict[int, Feature] = {}  # per-unit caches, keyed by store id
        self._projected: dict[tuple[int, str], BaseGeometry] = {}
        self._phrases: dict[int, str | None] = {}

    def close(self) -> None:
        self.reader.close()

    def build(self, focus_features: list[Feature], skip) -> Iterator[Sample]:
        """Yield samples for the focus features; call `skip(reason)` for each one dropped."""
        self._features.clear()
        self._projected.clear()
        self._phrases.clear()
        for feature in focus_features:
            result = self._build_one(feature)
            if isinstance(result, str):
                skip(result)
            else:
                yield result

    def _build_one(self, focus: Feature) -> Sample | str:
        ctx = self.ctx
        plan = plan_chip(focus.geometry, ctx.rasters, ctx.chip)
        if isinstance(plan, str):
            return plan
        bbox_wgs84 = self._chip_bounds_wgs84(plan)
        centre = focus.geometry.envelope.centroid
        split = block_split(*cell_index(centre.x, centre.y, ctx.split_block_deg), ctx.seed,
                            ctx.split_fractions)
        if ctx.split_guard and len(
            splits_touched(bbox_wgs84, ctx.split_block_deg, ctx.seed, ctx.split_fractions)
        ) > 1:
            return "split_boundary"
        try:
            rgb, valid = self.reader.read(plan)
        except ChipReadError as exc:
            return f"read_error:{exc.path}"
        reason = ctx.qc.reason(rgb, valid)
        if reason:
            return reason
        features, other_phrases, inputs = self._visible_features(focus, plan, bbox_wgs84)
        phrase = describe(focus.tags, self.policy)
        caption = self.template.render(
            focus=phrase.noun,
            focus_attributes=list(phrase.attributes),
            others=count_others(other_phrases, ctx.max_others),
        )
        key = sample_key("sky", focus)
        record = self._record(key, split, plan, bbox_wgs84, features, inputs, caption,
                              phrase.noun)
        return Sample(key, split, encode_image(rgb, ctx.image_format, ctx.jpeg_quality), record)

    @staticmethod
    def _chip_bounds_crs(plan: ChipPlan) -> tuple[float, float, float, float]:
        t, size = plan.transform, plan.out_size
        xs = [t.c, t.c + t.a * size, t.c + t.b * size, t.c + (t.a + t.b) * size]
        ys = [t.f, t.f + t.d * size, t.f + t.e * size, t.f + (t.d + t.e) * size]
        return min(xs), min(ys), max(xs), max(ys)

    def _chip_bounds_wgs84(self, plan: ChipPlan) -> tuple[float, float, float, float]:
        transformer = transformer_to_wgs84(plan.crs)
        return tuple(transformer.transform_bounds(*self._chip_bounds_crs(plan), densify_pts=21))

    def _context(self, ids: list[int]) -> list[Feature]:
        missing = [i for i in ids if i not in self._features]
        for feature in self.store.by_ids(missing):
            self._features[feature.extra["store_id"]] = feature
        return [self._features[i] for i in ids]

    def _projected_geometry(self, feature: Feature, crs: str) -> BaseGeometry:
        key = (feature.extra["store_id"], crs)
        geom = self._projected.get(key)
        if geom is None:
            geom = self._projected[key] = project(feature.geometry, crs)
        return geom

    def _phrase(self, feature: Feature) -> str | None:
        store_id = feature.extra["store_id"]
        if store_id not in self._phrases:
            phrase = describe(feature.tags, self.policy)
            self._phrases[store_id] = phrase.noun if phrase else None
        return self._phrases[store_id]

    def _visible_features(self, focus: Feature, plan: ChipPlan, bbox_wgs84):
        size = plan.out_size
        chip_box = shapely.box(0, 0, size, size)
        cx0, cy0, cx1, cy1 = self._chip_bounds_crs(plan)
        node_box = self.ctx.chip.node_box_px
        entries, phrases, inputs = [], [], {focus.input}
        focus_crs = plan.focus_projected or project(focus.geometry, plan.crs)
        bbox, clipped = _bbox_px(to_pixels(focus_crs, plan.transform), size, node_box)
        entries.append(_feature_entry(focus, bbox, True, clipped))
        focus_id = focus.extra.get("store_id")
        for other in self._context(self.store.ids_intersecting(bbox_wgs84)):
            if other.extra["store_id"] == focus_id:
                continue
            phrase = self._phrase(other)
            if phrase is None:
                continue
            projected = self._projected_geometry(other, plan.crs)
            ox0, oy0, ox1, oy1 = projected.bounds
            if ox0 > cx1 or ox1 < cx0 or oy0 > cy1 or oy1 < cy0:
                continue
            geom_px = to_pixels(projected, plan.transform)
            if not geom_px.intersects(chip_box):
                continue
            bbox, clipped = _bbox_px(geom_px, size, node_box)
            if bbox[2] <= bbox[0] and bbox[3] <= bbox[1]:
                continue
            entries.append(_feature_entry(other, bbox, False, clipped))
            phrases.append(phrase)
            inputs.add(other.input)
        return entries, phrases, inputs

    def _sources(self, raster_path: str, inputs: set[str]) -> list[dict]:
        """Provenance entries (license, attribution) of the raster and every vector input used."""
        sources = []
        for uri in [raster_path, *sorted(inputs)]:
            lic = self.ctx.licenses.get(uri)
            if lic is not None:
                sources.append({"kind": lic.kind, "uri": uri, "license": lic.license,
                                "attribution": lic.attribution})
        return sources

    def _record(self, key, split, plan: ChipPlan, bbox_wgs84, features, inputs, caption, title):
        raster = plan.raster
        image_license = self.ctx.licenses.get(raster.path)
        sources = self._sources(raster.path, inputs)
        t = plan.transform
        return {
            "id": key,
            "recipe": RECIPE,
            "split": split,
            "chip": {
                "bbox_wgs84": [round(v, 8) for v in bbox_wgs84],
                "crs": plan.crs,
                "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
                "gsd_m": raster.gsd_m * plan.side / plan.out_size,
                "width": plan.out_size,
                "height": plan.out_size,
                "source_window": {"col_off": plan.col_off, "row_off": plan.row_off,
                                  "width": plan.side, "height": plan.side},
            },
            "image": {
                "source": (image_license.name if image_license and image_license.name
                           else raster.path.rsplit("/", 1)[-1]),
                "uri": raster.path,
                "acquired": raster.acquired,
                "license": image_license.license if image_license else "unknown",
                "attribution": image_license.attribution if image_license else None,
                "conversion": raster.rule,
            },
            "features": features,
            "texts": {"caption": caption, "title": title},
            "generator": {"kind": "template", "template_id": self.template.template_id,
                          "prompt_sha256": self.template.sha256},
            "scores": {"clip": None},
            "review": {"status": "unreviewed"},
            "provenance": {
                "sources": sources,
                "licenses": sorted({s["license"] for s in sources}),
                "geoscribe_version": __version__,
                "tag_policy_sha256": self.policy.sha256,
            },
        }
