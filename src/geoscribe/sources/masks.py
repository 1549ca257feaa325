"""Label rasters (masks): class maps, and reading a mask onto a chip's source grid.

A mask aligned with the imagery (same CRS and pixel grid) is read by window; any other mask
is reprojected onto the chip's source window with nearest-neighbour (WarpedVRT), so class
values are never blended. Mask nodata (or pixels outside the mask) are never objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import yaml
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geoscribe.errors import InputError
from geoscribe.sources.registry_data import source_uri

MASK_KINDS = ("semantic", "instance")


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


def load_class_map(path: Path) -> ClassMap:
    """Read a JSON or YAML mapping of pixel value -> class name (`"*"`: any other id)."""
    where = f"--class-map {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(where, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(where, "not a UTF-8 text file (expected JSON or YAML)") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(where, f"not valid JSON/YAML ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise InputError(where, "expected a non-empty mapping of pixel value -> class name")
    classes, default = {}, None
    for key, name in data.items():
        if not isinstance(name, str) or not name.strip():
            raise InputError(where, f"class name for {key!r} must be a non-empty string")
        if str(key).strip() == "*":
            default = name.strip()
            continue
        try:
            value = int(str(key).strip())
        except ValueError:
            raise InputError(where, f"key {key!r} is not an integer pixel value") from None
        if value in classes:
            raise InputError(where, f"pixel value {value} is listed twice")
        classes[value] = name.strip()
    return ClassMap(classes, default)


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


def index_mask(path: Path, class_map: ClassMap, kind: str) -> MaskInfo:
    """Open a mask once and describe it; a missing or unreadable file is an InputError."""
    where = f"--labels {path}"
    if kind not in MASK_KINDS:
        raise InputError(f"--mask-kind {kind}", f"must be one of {MASK_KINDS}")
    if kind == "semantic" and not class_map.classes:
        raise InputError(f"--labels {path}", "a semantic mask needs explicit pixel values in "
                         "its --class-map ('*' only applies to instance masks)")
    if not path.exists():
        raise InputError(where, "file not found")
    try:
        with rasterio.open(path) as src:
            if src.crs is None or src.transform.is_identity:
                raise InputError(where, "mask is not georeferenced")
            if src.count != 1:
                raise InputError(where, f"a mask must have 1 band (this one has {src.count})")
            if src.dtypes[0].startswith("float"):
                raise InputError(where, "mask values must be integers")
            return MaskInfo(str(path), src.crs.to_string(), tuple(src.transform)[:6],
                            src.width, src.height, src.nodata,
                            tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds)),
                            kind, class_map, uri=source_uri(path))
    except rasterio.errors.RasterioError as exc:
        raise InputError(where, f"unreadable raster ({exc})") from None


def _aligned_window(mask: MaskInfo, crs: str, transform: Affine) -> Window | None:
    """The mask window matching a grid exactly (same CRS, resolution, whole-pixel offset)."""
    if mask.crs != crs:
        return None
    m = Affine(*mask.transform)
    if not (np.isclose(m.a, transform.a) and np.isclose(m.e, transform.e)
            and m.b == transform.b == 0 and m.d == transform.d == 0):
        return None
    col = (transform.c - m.c) / m.a
    row = (transform.f - m.f) / m.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return Window(round(col), round(row), 0, 0)


def read_mask(mask: MaskInfo, crs: str, transform: Affine, width: int, height: int,
              datasets: dict) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid) of the mask on a grid; outside the mask and nodata are invalid."""
    src = datasets.get(mask.path)
    if src is None:
        src = datasets[mask.path] = rasterio.open(mask.path)
    aligned = _aligned_window(mask, crs, transform)
    if aligned is not None:
        window = Window(aligned.col_off, aligned.row_off, width, height)
        data = src.read(1, window=window, boundless=True, masked=True)
        values = np.ma.getdata(data)
        valid = ~np.ma.getmaskarray(data)
        if mask.nodata is None:  # boundless fill outside the file is not data either
            inside = np.zeros((height, width), dtype=bool)
            r0, c0 = max(0, -window.row_off), max(0, -window.col_off)
            r1 = min(height, mask.height - window.row_off)
            c1 = min(width, mask.width - window.col_off)
            if r1 > r0 and c1 > c0:
                inside[r0:r1, c0:c1] = True
            valid &= inside
        return values, valid
    with WarpedVRT(src, crs=crs, transform=transform, width=width, height=height,
                   resampling=Resampling.nearest, add_alpha=src.nodata is None) as vrt:
        values = vrt.read(1)
        valid = vrt.read_masks(1) > 0
    return values, valid
