"""Shared work of tile recipes: read a tile, its mask window, its split, its record skeleton."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from affine import Affine

from geoscribe.builders.context import BuildContext
from geoscribe.builders.records import (
    chip_block,
    encode_image,
    image_block,
    key_part,
    provenance_block,
)
from geoscribe.geometry import chip_bounds_wgs84, chip_transform
from geoscribe.region import guarded_split
from geoscribe.sources.chip_reader import ChipReader
from geoscribe.sources.masks import read_mask
from geoscribe.types import ChipPlan, MaskInfo, Sample

MIN_VALID_LABELS = 0.5  # tiles whose mask covers less than this fraction are skipped
TILE_OPTIONS = ("tile_px",)  # the BuildConfig fields every tile recipe reads (RecipeSpec.options)
MASK_TILE_OPTIONS = TILE_OPTIONS + ("class_map", "mask_kind")  # ... and those reading a mask


class TileBuilder:
    """Base of tile recipes: subclasses turn (tile, mask window) into QA/labels and text."""

    prefix = "tile"
    uses_mask = True

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.reader = ChipReader(ctx.rasters)
        self.mask_datasets: dict = {}
        self.candidates = 0

    @classmethod
    def open(cls, ctx: BuildContext) -> TileBuilder:
        """The builder of a worker, its inputs opened in this process."""
        return cls(ctx)

    def close(self) -> None:
        self.reader.close()
        for src in self.mask_datasets.values():
            src.close()
        self.mask_datasets.clear()

    def start_unit(self, unit=None) -> None:
        """Hook: reset per-unit state (e.g. answer balancing)."""

    def unit_samples(self, unit, skip) -> Iterator[Sample]:
        self.candidates = len(unit.items)
        self.start_unit(unit)
        for raster_index, col_off, row_off in unit.items:
            result = self._tile(raster_index, col_off, row_off)
            if isinstance(result, str):
                skip(result)
            else:
                yield result

    def _plan(self, raster_index: int, col_off: int, row_off: int) -> ChipPlan:
        raster = self.ctx.rasters[raster_index]
        side, out = self.ctx.tile_px, self.ctx.chip.out_size
        transform = chip_transform(raster.transform, col_off, row_off, side / out)
        return ChipPlan(raster, col_off, row_off, side, out, transform, False)

    def _split(self, bbox) -> str | None:
        """The tile's split, or None if the split guard drops it."""
        ctx = self.ctx
        centre = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
        return guarded_split(centre, bbox, ctx.split_block_deg, ctx.seed, ctx.split_fractions,
                             ctx.split_guard)

    def _mask_for(self, bbox) -> MaskInfo | None:
        for mask in self.ctx.masks:
            b = mask.bounds_wgs84
            if b[0] <= bbox[0] and b[1] <= bbox[1] and b[2] >= bbox[2] and b[3] >= bbox[3]:
                return mask
        for mask in self.ctx.masks:  # partial cover: the invalid part is reported
            b = mask.bounds_wgs84
            if b[0] < bbox[2] and b[2] > bbox[0] and b[1] < bbox[3] and b[3] > bbox[1]:
                return mask
        return None

    def _key(self, plan: ChipPlan) -> str:
        stem = key_part(Path(plan.raster.path).stem)[:32]
        digest = hashlib.sha256(plan.raster.uri.encode()).hexdigest()[:6]
        return f"{self.prefix}_{stem}-{digest}_c{plan.col_off}_r{plan.row_off}_s{plan.side}"

    def _tile(self, raster_index: int, col_off: int, row_off: int) -> Sample | str:
        ctx = self.ctx
        plan = self._plan(raster_index, col_off, row_off)
        bbox = chip_bounds_wgs84(plan.transform, plan.out_size, plan.crs)
        split = self._split(bbox)
        if split is None:
            return "split_boundary"
        mask = self._mask_for(bbox) if self.uses_mask else None
        if self.uses_mask and mask is None:
            return "no_mask"
        chip = self.reader.read_checked(plan, ctx.qc, bbox)
        if isinstance(chip, str):
            return chip
        planes, _ = chip
        key = self._key(plan)
        if self.uses_mask:
            source_grid = Affine(*plan.raster.transform) @ Affine.translation(col_off, row_off)
            values, labelled = read_mask(mask, plan.crs, source_grid, plan.side, plan.side,
                                         self.mask_datasets)
            if np.count_nonzero(labelled) < MIN_VALID_LABELS * labelled.size:
                return "mostly_unlabelled"
            body = self.describe(values, labelled, mask, plan, key)
            inputs = {mask.path}
        else:
            body = self.describe_features(plan, bbox, key)
            inputs = set(body.pop("_inputs", ())) if isinstance(body, dict) else set()
        if isinstance(body, str):
            return body
        record = {
            "id": key,
            "recipe": ctx.recipe,
            "split": split,
            "chip": chip_block(plan, bbox),
            "image": image_block(ctx, plan),
            "features": body.pop("features", []),
            **body,
            "scores": {"clip": None},
            "review": {"status": "unreviewed"},
            "provenance": provenance_block(ctx, plan.raster.path, inputs),
        }
        return Sample(record["id"], split, encode_image(planes, ctx.image_format,
                                                         ctx.jpeg_quality), record)

    def describe(self, values: np.ndarray, labelled: np.ndarray, mask: MaskInfo,
                 plan: ChipPlan, key: str) -> dict | str:
        """Recipe part of the record (texts, qa, evidence, generator) or a skip reason."""
        raise NotImplementedError

    def describe_features(self, plan: ChipPlan, bbox_wgs84, key: str) -> dict | str:
        """For recipes without a mask: the record part from the tile's vector features."""
        raise NotImplementedError
