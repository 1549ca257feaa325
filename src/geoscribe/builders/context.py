"""Everything a worker needs to build a unit; picklable, holds no open files."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from geoscribe.sources.chip_qc import ChipQC
from geoscribe.sources.imagery_plan import ImageryPlan
from geoscribe.types import ChipSettings, MaskInfo, RasterInfo, SourceLicense


@dataclass
class BuildContext:
    """Run-wide settings shared by every unit of a build."""

    recipe: str
    work_dir: str
    store_path: str
    rasters: list[RasterInfo]
    licenses: dict[str, SourceLicense]
    unit_deg: float
    split_block_deg: float
    split_fractions: tuple[float, float, float]
    split_guard: bool
    seed: int
    chip: ChipSettings = field(default_factory=ChipSettings)
    qc: ChipQC = field(default_factory=ChipQC)
    caption_template: str = "skyscript_caption_v1.j2"
    tag_policy_path: str | None = None
    max_others: int = 5
    image_format: str = "jpg"
    jpeg_quality: int = 95
    gdal_cache_bytes: int = 64 * 1024 * 1024
    masks: list[MaskInfo] = field(default_factory=list)
    tile_px: int = 256
    min_object_px: float = 10.0  # mask objects: fewer pixels inside the chip are ignored
    # the recipe's own options (its spec's `options`), by BuildConfig field name: a recipe
    # that adds an option reads it here, so no engine or context code names it
    options: dict[str, Any] = field(default_factory=dict)
    region: BaseGeometry | None = None  # WGS84: foci must meet it (the store holds more)
    imagery_plan: ImageryPlan | None = None  # --imagery-plan: each focus's source by its size


@dataclass(frozen=True)
class PackedContext:
    """A BuildContext pickled once by the main process: tasks carry these bytes (cheap to send
    again with every unit), and a worker unpickles them only when the key changes."""

    key: str  # sha256 of `data`
    data: bytes

    @classmethod
    def pack(cls, ctx: BuildContext) -> PackedContext:
        data = pickle.dumps(ctx, protocol=pickle.HIGHEST_PROTOCOL)
        return cls(hashlib.sha256(data).hexdigest(), data)

    def unpack(self) -> BuildContext:
        return pickle.loads(self.data)  # noqa: S301 - bytes made by pack() in this build
