"""skyscript-like: one object-centred chip per groundable feature, captioned from its tags.

For each focus feature of a unit: plan the chip (whole object + margin), read only that
window, convert to 8-bit RGB, list every other visible feature with its box in chip pixels,
caption from a versioned template, assign the split of the focus's spatial block.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.builders.chip_window import choose_source, plan_chip
from geoscribe.builders.context import BuildContext
from geoscribe.builders.records import (
    chip_block,
    encode_image,
    feature_entry,
    image_block,
    key_part,
    provenance_block,
)
from geoscribe.builders.visible import ProjectedFeatures, bbox_px, visible
from geoscribe.geometry import bounds_in_pixels, chip_bounds_wgs84, project, project_many
from geoscribe.region import guarded_split
from geoscribe.sources.chip_reader import ChipReader
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.text.phrases import FeaturePhrase, describe
from geoscribe.text.tag_policy import TagPolicy, load_tag_policy
from geoscribe.text.templates import CaptionTemplate, count_others, load_caption_template
from geoscribe.types import ChipPlan, Feature, RecipeSpec, Sample


def sample_key(prefix: str, feature: Feature) -> str:
    """Stable key from recipe, source id and geometry; never contains dots."""
    wkb = feature.extra.get("wkb") or shapely.to_wkb(feature.geometry, hex=False)
    geom_hash = hashlib.sha256(wkb).hexdigest()[:10]
    source_id = key_part(feature.source_id)
    if len(source_id) > 48:  # keep tar member names short (ustar) and stable
        digest = hashlib.sha256(source_id.encode()).hexdigest()[:8]
        source_id = f"{source_id[:39]}-{digest}"
    return f"{prefix}_{feature.source}_{source_id}_{geom_hash}"


class SkyscriptBuilder:
    """Builds the samples of one unit; owns the worker's open rasters and feature store."""

    def __init__(self, ctx: BuildContext, store, policy: TagPolicy, template: CaptionTemplate):
        self.ctx = ctx
        self.store = store
        self.policy = policy
        self.template = template
        self.reader = ChipReader(ctx.rasters)
        # --imagery-plan: a chip is read (mosaics too) from its chosen source's rasters only
        plan = ctx.imagery_plan
        self.source_readers = {s.name: ChipReader(s.rasters) for s in plan.sources} if plan \
            else {}
        self.candidates = 0
        self._features: dict[int, Feature] = {}  # per-unit caches, keyed by store id
        self._projected: dict[tuple[int, str], BaseGeometry] = {}
        self._bounds: dict[tuple[int, str], tuple[float, ...]] = {}
        self._wgs84_bounds: dict[int, tuple[float, ...]] = {}
        self._phrases: dict[int, FeaturePhrase | None] = {}
        self._seen: dict[int, list[tuple[int, list[float], bool]]] = {}
        self._captions: dict[tuple, str] = {}
        self._crss = sorted({r.crs for r in ctx.rasters})

    @classmethod
    def open(cls, ctx: BuildContext) -> SkyscriptBuilder:
        """The builder of a worker: the feature store, tag policy and caption template of
        `ctx` opened in this process."""
        store = FeatureStore(Path(ctx.store_path), readonly=True)
        policy = load_tag_policy(Path(ctx.tag_policy_path) if ctx.tag_policy_path else None)
        return cls(ctx, store, policy, load_caption_template(ctx.caption_template))

    def close(self) -> None:
        self.reader.close()
        for reader in self.source_readers.values():
            reader.close()
        self.store.close()

    def unit_samples(self, unit, skip) -> Iterator[Sample]:
        """Samples of a unit: one per feature whose bbox centre lies in the unit's cell and
        that meets the region (the store also holds what lies around it, to be seen only)."""
        focus = list(self.store.centred_in(unit.bounds))
        if self.ctx.region is not None:
            shapely.prepare(self.ctx.region)
            focus = [f for f in focus if self.ctx.region.intersects(f.geometry)]
        if unit.limit is not None:
            focus = focus[: unit.limit]
        focus = unit.share(focus)  # a dense cell's units each build a share of its foci
        self.candidates = len(focus)
        return self.build(focus, skip)

    def build(self, focus_features: list[Feature], skip) -> Iterator[Sample]:
        """Yield samples for the focus features; call `skip(reason)` for each one dropped.

        Chips are planned first, so that the features visible in any of them are fetched
        from the store and projected once for the whole unit.
        """
        for cache in (self._features, self._projected, self._bounds, self._wgs84_bounds,
                      self._phrases):
            cache.clear()
        for feature in focus_features:
            self._features[feature.extra["store_id"]] = feature
        self._wgs84_bounds.update(zip(
            [f.extra["store_id"] for f in focus_features],
            shapely.bounds([f.geometry for f in focus_features]).tolist(), strict=True))
        if len(self._crss) <= 4:  # project the unit's focus features in one call per CRS
            self._project_batch(focus_features)
        planned = [self._plan(feature) for feature in focus_features]
        boxes = [p[2] for p in planned if not isinstance(p[1], str)]
        context = self._unit_context(boxes)
        self._seen = self._visible_in_chips([p[:2] for p in planned if not isinstance(p[1], str)],
                                            context)
        for focus, plan, bbox_wgs84, split in planned:
            result = plan if isinstance(plan, str) else self._build_one(
                focus, plan, bbox_wgs84, split, context)
            if isinstance(result, str):
                skip(result)
            else:
                yield result

    def _plan(self, focus: Feature):
        """(focus, plan or skip reason, chip bbox in WGS84, split)."""
        ctx = self.ctx
        store_id = focus.extra["store_id"]
        minx, miny, maxx, maxy = bounds = self._wgs84_bounds[store_id]
        cached = (lambda crs: self._projected_geometry(focus, crs), bounds,
                  lambda crs: self._bounds[(store_id, crs)])
        if ctx.imagery_plan is not None:  # --imagery-plan: the finest source that suits it
            plan = choose_source(focus.geometry, ctx.imagery_plan, ctx.chip, *cached)
        else:
            plan = plan_chip(focus.geometry, ctx.rasters, ctx.chip, *cached)
        if isinstance(plan, str):
            return focus, plan, None, None
        bbox_wgs84 = chip_bounds_wgs84(plan.transform, plan.out_size, plan.crs)
        split = guarded_split(((minx + maxx) / 2, (miny + maxy) / 2), bbox_wgs84,
                              ctx.split_block_deg, ctx.seed, ctx.split_fractions, ctx.split_guard)
        if split is None:
            return focus, "split_boundary", None, None
        return focus, plan, bbox_wgs84, split

    def _unit_context(self, boxes: list[tuple[float, ...]]) -> list[Feature]:
        """Every describable feature whose bbox meets one of the unit's chips (WGS84 boxes)."""
        if not boxes:
            return []
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                 max(b[2] for b in boxes), max(b[3] for b in boxes))
        return [f for f in self._context(self.store.ids_intersecting(union))
                if self._phrase(f) is not None]

    def _build_one(self, focus: Feature, plan: ChipPlan, bbox_wgs84, split: str,
                   context: list[Feature]) -> Sample | str:
        ctx = self.ctx
        reader = (self.source_readers[plan.imagery_source["name"]] if plan.imagery_source
                  else self.reader)
        chip = reader.read_checked(plan, ctx.qc, bbox_wgs84)
        if isinstance(chip, str):
            return chip
        planes, _ = chip
        features, other_phrases, inputs = self._visible_features(focus, plan, context)
        phrase = self._phrase(focus)
        others = count_others(other_phrases, ctx.max_others)
        caption_key = (phrase, tuple((o["phrase"], o["count"]) for o in others))
        caption = self._captions.get(caption_key)
        if caption is None:  # many chips share a caption: render each distinct one once
            caption = self._captions[caption_key] = self.template.render(
                focus=phrase.noun, focus_attributes=list(phrase.attributes), others=others)
        key = sample_key("sky", focus)
        record = self._record(key, split, plan, bbox_wgs84, features, inputs, caption,
                              phrase.noun)
        return Sample(key, split, encode_image(planes, ctx.image_format, ctx.jpeg_quality), record)

    def _project_batch(self, features: list[Feature]) -> None:
        for crs in self._crss:
            todo = [f for f in features if (f.extra["store_id"], crs) not in self._projected]
            geoms = project_many([f.geometry for f in todo], crs)
            bounds = shapely.bounds(geoms).tolist() if geoms else []
            for feature, geom, box in zip(todo, geoms, bounds, strict=True):
                key = (feature.extra["store_id"], crs)
                self._projected[key] = geom
                self._bounds[key] = tuple(box)

    def _context(self, ids: list[int]) -> list[Feature]:
        missing = [i for i in ids if i not in self._features]
        fetched = self.store.by_ids(missing)
        for feature in fetched:
            self._features[feature.extra["store_id"]] = feature
        if fetched and len(self._crss) <= 4:
            self._project_batch(fetched)
        return [self._features[i] for i in ids]

    def _projected_geometry(self, feature: Feature, crs: str) -> BaseGeometry:
        key = (feature.extra["store_id"], crs)
        geom = self._projected.get(key)
        if geom is None:
            geom = self._projected[key] = project(feature.geometry, crs)
            self._bounds[key] = geom.bounds
        return geom

    def _phrase(self, feature: Feature) -> FeaturePhrase | None:
        store_id = feature.extra["store_id"]
        if store_id not in self._phrases:
            self._phrases[store_id] = describe(feature.tags, self.policy)
        return self._phrases[store_id]

    def _visible_in_chips(self, chips: list[tuple[Feature, ChipPlan]],
                          context: list[Feature]) -> dict[int, list]:
        """What each planned chip of the unit shows, keyed by its focus's store id."""
        position = {f.extra["store_id"]: i for i, f in enumerate(context)}
        seen: dict[int, list] = {}
        for crs in sorted({plan.crs for _, plan in chips}):
            group = [(focus, plan) for focus, plan in chips if plan.crs == crs]
            keys = [(f.extra["store_id"], crs) for f in context]
            arrays = ProjectedFeatures.of([self._projected_geometry(f, crs) for f in context],
                                          [self._bounds[k] for k in keys])
            found = visible(arrays, [plan for _, plan in group], self.ctx.chip.node_box_px,
                            [position.get(focus.extra["store_id"]) for focus, _ in group])
            seen.update((focus.extra["store_id"], f) for (focus, _), f in zip(group, found,
                                                                                 strict=True))
        return seen

    def _visible_features(self, focus: Feature, plan: ChipPlan, context: list[Feature]):
        size, node_box = plan.out_size, self.ctx.chip.node_box_px
        focus_id = focus.extra.get("store_id")
        focus_crs = plan.focus_projected or project(focus.geometry, plan.crs)
        known = (self._bounds.get((focus_id, plan.crs))
                 if focus_crs is self._projected.get((focus_id, plan.crs)) else None)
        bbox, clipped = bbox_px(bounds_in_pixels(focus_crs, plan.transform, known),
                                focus_crs.geom_type == "Point", size, node_box)
        entries = [feature_entry(focus, bbox, True, clipped)]
        phrases, inputs = [], {focus.input}
        for index, bbox, clipped in self._seen[focus_id]:
            other = context[index]
            entries.append(feature_entry(other, bbox, False, clipped))
            phrases.append(self._phrases[other.extra["store_id"]].noun)
            inputs.add(other.input)
        return entries, phrases, inputs

    def _record(self, key, split, plan: ChipPlan, bbox_wgs84, features, inputs, caption, title):
        return {
            "id": key,
            "recipe": self.ctx.recipe,
            "split": split,
            "chip": chip_block(plan, bbox_wgs84),
            "image": image_block(self.ctx, plan),
            "features": features,
            "texts": {"caption": caption, "title": title},
            "generator": {"kind": "template", "template_id": self.template.template_id,
                          "prompt_sha256": self.template.sha256},
            "scores": {"clip": None},
            "review": {"status": "unreviewed"},
            "provenance": provenance_block(self.ctx, plan.raster.path, inputs,
                                           tag_policy_sha256=self.policy.sha256),
        }


RECIPE = RecipeSpec(
    "skyscript-like", "object-centred chips per OSM/label feature, captioned from tags",
    "features", SkyscriptBuilder, needs_vectors=True,
    options=("osm", "tag_policy", "margin", "min_chip_px", "max_chip_px", "min_object_px",
             "max_others", "imagery_plan"),
    focus=True, demo="vectors")
