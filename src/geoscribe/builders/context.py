"""Everything a worker needs to build a unit; picklable, holds no open files."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field

from shapely.geometry.base import BaseGeometry

from geoscribe.sources.chip_qc import ChipQC
from geoscribe.sources.masks import MaskInfo
from geoscribe.types import ChipSettings, RasterInfo


@dataclass(frozen=True)
class SourceLicense:
    """License and attribution of one input file."""

    kind: str  # imagery | osm | labels
    uri: str
    license: str
    attribution: str | None = None
    name: str | None = None


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
    qa_weights: dict[str, float] = field(default_factory=dict)  # rsvqa-like sampling weights
    qa_per_chip: int = 8
    box_format: str = "geochat"  # geochat-like: "geochat" | "json"
    region: BaseGeometry | None = None  # WGS84: foci must meet it (the store holds more)


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
