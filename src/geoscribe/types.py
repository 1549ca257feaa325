"""Shared types at the bottom of the package: what sources yield, chips are planned as,
builders produce, and what a recipe declares. Every layer may import these; this module
imports nothing from geoscribe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from affine import Affine
from shapely.geometry.base import BaseGeometry


@dataclass
class Feature:
    """One OSM element or vector label, in WGS84 lon/lat."""

    source: str  # "osm" | "labels"
    geometry: BaseGeometry
    tags: dict[str, str]
    input: str  # the file it came from
    osm_type: str | None = None  # node | way | relation
    osm_id: int | None = None
    label_ref: str | None = None  # "<file stem>:<row>" for vector labels
    extra: dict = field(default_factory=dict)  # "wkb": exactly the geometry's WKB, if known

    @property
    def source_id(self) -> str:
        """Stable, dot-free id of the feature within its source."""
        if self.osm_type and self.osm_id is not None:
            return f"{self.osm_type[0]}{self.osm_id}"
        return (self.label_ref or "unknown").replace(".", "-").replace(":", "-")


@dataclass
class RasterInfo:
    """What the pipeline needs to know about one raster file, picklable for workers."""

    path: str
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    bands: list[int]
    bounds_wgs84: tuple[float, float, float, float]
    gsd_m: float
    acquired: str | None
    rule: str  # "passthrough" | "stretch"
    stretch: list[tuple[float, float]] = field(default_factory=list)
    all_valid: bool = False  # no nodata value and no mask: reads need no mask
    uri: str = ""  # how outputs name the file (`path` is only for opening it); index_raster
    # sets it with sources.registry_data.source_uri; left empty it is the path as given

    def __post_init__(self) -> None:
        if not self.uri:
            self.uri = self.path

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ChipSettings:
    """Chip geometry options (pixels are source pixels unless named out_*)."""

    out_size: int = 256
    margin: float = 0.25
    min_chip_px: int = 128
    max_chip_px: int = 2048
    min_object_px: float = 3.0
    node_box_px: int = 4


@dataclass(frozen=True)
class ChipPlan:
    """Where a chip comes from and how its pixels map to the world."""

    raster: RasterInfo
    col_off: int
    row_off: int
    side: int
    out_size: int
    transform: Affine
    mosaic: bool
    focus_projected: BaseGeometry | None = None  # the focus geometry in the chip's CRS
    imagery_source: dict | None = None  # --imagery-plan: the source chosen and why

    @property
    def crs(self) -> str:
        return self.raster.crs


@dataclass(frozen=True)
class TileFeature:
    """A feature as seen in one tile."""

    feature: Feature
    name: str  # readable class phrase, e.g. "residential road"
    pixel_geometry: BaseGeometry  # in chip pixels (as written), clipped to the tile
    bbox_px: tuple[float, float, float, float]  # bounds of pixel_geometry (nodes: ± node box)
    clipped: bool  # the tile's edge cuts the feature
    area_m2: float  # area inside the tile (polygons), in a local UTM projection
    length_m: float  # length inside the tile (lines)
    attributes: tuple[str, ...] = ()  # its phrase's attributes, e.g. ("paved",)


@dataclass
class Sample:
    """A finished sample: key, split, encoded image, caption text and the record."""

    key: str
    split: str
    image: bytes
    record: dict


@dataclass(frozen=True)
class ClassMap:
    """Mask value (or instance id) -> class name; `default` names ids not listed ('*')."""

    classes: dict[int, str]
    default: str | None = None

    @property
    def names(self) -> list[str]:
        """Class names in first-seen value order (the default last)."""
        names = list(dict.fromkeys(self.classes[v] for v in sorted(self.classes)))
        if self.default and self.default not in names:
            names.append(self.default)
        return names


@dataclass(frozen=True)
class MaskInfo:
    """A label raster and how to read it."""

    path: str
    crs: str
    transform: tuple[float, ...]
    width: int
    height: int
    nodata: float | None
    bounds_wgs84: tuple[float, float, float, float]
    kind: str
    class_map: ClassMap
    uri: str = ""  # how outputs name the file (`path` is only for opening it); index_mask
    # sets it with sources.registry_data.source_uri; left empty it is the path as given

    def __post_init__(self) -> None:
        if not self.uri:
            object.__setattr__(self, "uri", self.path)


@dataclass(frozen=True)
class SourceLicense:
    """License and attribution of one input file."""

    kind: str  # imagery | osm | labels
    uri: str
    license: str
    attribution: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class RecipeSpec:
    """What a recipe declares (in its own module, as `RECIPE`; geoscribe.recipes lists them):
    the rest of the package reads per-recipe knowledge from here instead of naming recipes."""

    name: str
    description: str
    chips: str  # "features" (one chip per vector feature) | "tiles" (a grid of tiles)
    builder: type  # its builder class: `builder.open(ctx)` is called in each worker
    needs_masks: bool = False  # --labels are label rasters (with --class-map/--mask-kind)
    needs_vectors: bool = False  # --osm/--labels are vector files, read into the feature store
    options: tuple[str, ...] = ()  # BuildConfig fields it reads that not every recipe reads
    llm_task: str | None = None  # its own --llm task (text.llm_tasks.TASKS); None: rewrite
    focus: bool = False  # its records have exactly one focus feature (else none)
    min_object_px: float = 3.0  # the default of --min-object-px
    # what `--region demo` gives it (sources.demo.DEMO_KINDS): "vectors" (footprint and road
    # vectors, object chips) | "vector-tiles" (the same, tiles) | "masks" (instance-id and road
    # masks) | "land-cover" (the derived building/road/other raster) | None (no demo)
    demo: str | None = None
    # the dataset card's Hub `task_categories` and `task_ids` (issue 15)
    task_categories: tuple[str, ...] = ("image-to-text", "zero-shot-image-classification")
    task_ids: tuple[str, ...] = ("image-captioning",)
    hub_tags: tuple[str, ...] = ()  # more Hub `tags` than remote-sensing, geoscribe, its name
