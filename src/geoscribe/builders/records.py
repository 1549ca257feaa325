"""The parts of a record every recipe writes the same way: chip, image, features,
provenance, and the encoded image itself."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from geoscribe import __version__
from geoscribe.builders.context import BuildContext
from geoscribe.geometry import ground_resolution_m
from geoscribe.types import ChipPlan, Feature, TileFeature

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def key_part(text: str) -> str:
    """`text` made safe for a sample key: every run of characters other than ASCII letters,
    digits, `_` and `-` becomes one `-` (so keys never hold dots or slashes)."""
    return _UNSAFE.sub("-", text)


def chip_block(plan: ChipPlan, bbox_wgs84) -> dict:
    """`chip`: where the pixels are (CRS, affine of the pixels as written, source window)."""
    t = plan.transform
    return {
        "bbox_wgs84": [round(v, 8) for v in bbox_wgs84],
        "crs": plan.crs,
        "transform": [t.a, t.b, t.c, t.d, t.e, t.f],
        "gsd_m": chip_gsd_m(plan),
        "width": plan.out_size,
        "height": plan.out_size,
        "source_window": {"col_off": plan.col_off, "row_off": plan.row_off,
                          "width": plan.side, "height": plan.side},
    }


def chip_gsd_m(plan: ChipPlan) -> float:
    """Ground metres per chip pixel (as written) at the chip's centre, measured in the local
    UTM zone (geometry.ground_resolution_m), to a tenth of a micrometre."""
    half = plan.out_size / 2
    return round(ground_resolution_m(plan.transform, plan.crs, half, half), 7)


def image_block(ctx: BuildContext, plan: ChipPlan) -> dict:
    """`image`: the raster the chip came from, its license and 8-bit conversion rule; with
    --imagery-plan also `imagery_source`, the plan's source chosen and why."""
    raster = plan.raster
    lic = ctx.licenses.get(raster.path)
    block = {
        "source": lic.name if lic and lic.name else raster.uri.rsplit("/", 1)[-1],
        "uri": raster.uri,
        "acquired": raster.acquired,
        "license": lic.license if lic else "unknown",
        "attribution": lic.attribution if lic else None,
        "conversion": raster.rule,
    }
    if plan.imagery_source is not None:
        block["imagery_source"] = plan.imagery_source
    return block


def provenance_block(ctx: BuildContext, raster_path: str, inputs, **extra) -> dict:
    """`provenance`: every input used (raster first, then by uri) with its uri (never the
    path it was read from), license and attribution."""
    inputs = sorted((ctx.licenses[p] for p in inputs if p in ctx.licenses),
                    key=lambda lic: lic.uri)
    raster = ctx.licenses.get(raster_path)
    sources = [{"kind": lic.kind, "uri": lic.uri, "license": lic.license,
                "attribution": lic.attribution}
               for lic in ([raster] if raster is not None else []) + inputs]
    return {"sources": sources, "licenses": sorted({s["license"] for s in sources}),
            "geoscribe_version": __version__, **extra}


def feature_entry(feature: Feature, bbox: list[float], focus: bool, clipped: bool) -> dict:
    """One entry of a record's `features`: the feature's identity, tags and pixel box."""
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


def tile_feature_entry(item: TileFeature) -> dict:
    """The `features` entry of a feature seen in a tile: never the focus, with the area and
    length of its part inside the tile."""
    return {**feature_entry(item.feature, list(item.bbox_px), False, item.clipped),
            "area_m2": round(item.area_m2, 2), "length_m": round(item.length_m, 2)}


def encode_image(planes: np.ndarray, fmt: str, quality: int) -> bytes:
    """Encode RGB planes (3, h, w) as JPEG (fixed settings, deterministic) or PNG."""
    buffer = io.BytesIO()
    height, width = planes.shape[1:]
    bands = [Image.frombuffer("L", (width, height), np.ascontiguousarray(band), "raw", "L", 0, 1)
             for band in planes]  # no copies: PIL reads the planes in place
    image = Image.merge("RGB", bands)
    if fmt == "png":
        image.save(buffer, format="PNG", optimize=False)
    else:
        image.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=False)
    return buffer.getvalue()
