"""`--region demo`: real SpaceNet imagery + labels from the solaris 0.4.0 wheel (PyPI).

Scenes (both CC BY-SA 4.0, SpaceNet):
- Atlanta, 0.5 m panchromatic uint16 (EPSG:32616), 43 building footprints with OSM-style columns,
  and the same footprints as a 43-band instance stack (one band per building).
- Las Vegas, 0.3 m panchromatic uint16 (EPSG:4326), 9 roads with SpaceNet attributes mapped to
  OSM tags (see sources/label_mappings.py), and a road mask (0/255).

A recipe's spec names its demo kind (RecipeSpec.demo):
- "vectors" / "vector-tiles": the building footprints and roads as vector labels (object chips /
  tiles);
- "masks": the 43-band stack turned once into a one-band instance-id raster (id = band number
  where the band is set; the bands do not overlap) and the road mask (255 = road);
- "land-cover": a land-cover raster per scene derived from the same masks: 1 building (any
  footprint band set; Atlanta), 2 road (road mask 255; Las Vegas), 3 other (every other pixel:
  Atlanta has no road labels and Las Vegas no building labels, so each scene has two classes).
Derived rasters are written once to the cache, their pixels checked against pinned sha256s,
and named in outputs by their source member with a `#fragment` (registry_data.DERIVED).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import rasterio
import shapely

from geoscribe.errors import GeoscribeError, InputError
from geoscribe.sources.registry_data import (
    DERIVED,
    DERIVED_PIXELS_SHA256,
    SOLARIS_WHEEL,
    derived_path,
    fetch_members,
)

SPACENET_LICENSE = "CC-BY-SA-4.0"
SPACENET_ATTRIBUTION = (
    "SpaceNet (spacenet.ai; imagery © Maxar/DigitalGlobe), CC BY-SA 4.0, "
    "sample files of the solaris 0.4.0 package"
)
DEMO_IMAGERY = ("solaris/data/sample_geotiff.tif", "solaris/data/road_mask_input.tif")
DEMO_LABELS = ("solaris/data/geotiff_labels.geojson",
               "solaris/data/sample_roads_for_masking.geojson")
# Two scenes of ~400 m are tiny: small split blocks, and a seed (searched once over 0..11)
# that gives all three splits with the split guard on.
DEMO_OPTIONS = {"split_block_deg": 0.0015, "unit_deg": 0.002, "seed": 11}


BUILDING_IDS = "atlanta_building_ids.tif"  # from the instance stack (registry_data.DERIVED)
ROAD_MASK = "solaris/data/sample_road_raster_mask.tif"
# Tiles of 128 px (64 m in Atlanta, 35 m in Las Vegas): ~150 tiles; seeds chosen (searched
# once over 0..10) so that val and test get several tiles each.
TILE_DEMO_OPTIONS = {"split_block_deg": 0.0015, "unit_deg": 0.002, "tile_px": 128,
                     "chip_size": 256, "seed": 4}
# vector tiles keep fewer tiles (those with features or questions): their own seed
VECTOR_TILE_DEMO_OPTIONS = TILE_DEMO_OPTIONS | {"seed": 6}
# by the spec's demo kind (RecipeSpec.demo)
KIND_OPTIONS = {"vectors": DEMO_OPTIONS, "vector-tiles": VECTOR_TILE_DEMO_OPTIONS,
                "masks": TILE_DEMO_OPTIONS, "land-cover": TILE_DEMO_OPTIONS}
DEMO_KINDS = tuple(KIND_OPTIONS)
DEMO_DESCRIPTIONS = {  # what `geoscribe recipes` says each demo kind gets
    "vectors": "SpaceNet building footprints and roads as vector labels, a chip per object",
    "vector-tiles": "SpaceNet building footprints and roads as vector labels, on 128 px tiles",
    "masks": "SpaceNet building instance ids and road mask, on 128 px tiles",
    "land-cover": "a building/road/other raster derived from the SpaceNet footprint and road "
                  "masks, on 128 px tiles",
}


LAND_COVER_CLASSES = {1: "building", 2: "road", 3: "other"}  # values of the derived rasters
BUILDING, ROAD, OTHER = LAND_COVER_CLASSES
LAND_COVER = ("atlanta_land_cover.tif", "vegas_land_cover.tif")  # registry_data.DERIVED


def instance_ids(stack: np.ndarray, where: str) -> np.ndarray:
    """One-band instance ids (band number, 0 = none) from a stack of one-object bands."""
    if int((stack > 0).sum(axis=0).max()) > 1:
        raise InputError(where, "instance bands overlap; cannot make an id raster")
    return np.where(stack.max(axis=0) > 0, stack.argmax(axis=0) + 1, 0).astype(np.uint8)


def land_cover(stack: np.ndarray, where: str) -> np.ndarray:
    """Land-cover classes from a footprint stack (building) or a 0/255 road mask (road);
    every other pixel is `other`."""
    if stack.shape[0] > 1:
        return np.where(instance_ids(stack, where) > 0, BUILDING, OTHER).astype(np.uint8)
    return np.where(stack[0] == 255, ROAD, OTHER).astype(np.uint8)


DERIVATIONS = {"instance-ids": instance_ids, "land-cover": land_cover}  # DERIVED fragments


def pixels_sha256(path: Path) -> str:
    """sha256 of a one-band raster's pixel bytes (what the pinned digests cover)."""
    with rasterio.open(path) as src:
        return hashlib.sha256(np.ascontiguousarray(src.read(1)).tobytes()).hexdigest()


def derived_raster(name: str, files: dict[str, Path]) -> Path:
    """The derived raster `name` (registry_data.DERIVED), made once from its fetched member
    and checked against its pinned pixel digest (remade when the cached copy differs)."""
    target = derived_path(name)
    digest = DERIVED_PIXELS_SHA256[name]
    if target.exists() and pixels_sha256(target) == digest:
        return target
    _archive, member, fragment = DERIVED[name]
    with rasterio.open(files[member]) as src:
        data = DERIVATIONS[fragment](src.read(), str(files[member]))
        profile = src.profile | {"count": 1, "dtype": "uint8", "nodata": None}
    if hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest() != digest:
        raise GeoscribeError(f"demo data: checksum mismatch for {name} derived from {member}")
    tmp = target.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data, 1)
    tmp.replace(target)
    return target


def _class_map(name: str, mapping: dict) -> str:
    """A class map in the cache (written atomically when missing or different)."""
    path = derived_path(name)
    text = json.dumps(mapping)
    if not (path.exists() and path.read_text(encoding="utf-8") == text):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return str(path)


def _tile_demo_labels(files: dict[str, Path]) -> dict:
    buildings = derived_raster(BUILDING_IDS, files)
    return {"labels": [str(buildings), str(files[ROAD_MASK])],
            "class_map": [_class_map("class_map_buildings.json", {"*": "building"}),
                          _class_map("class_map_roads.json", {"255": "road"})],
            "mask_kind": ["instance", "semantic"]}


def _land_cover_labels(files: dict[str, Path]) -> dict:
    return {"labels": [str(derived_raster(name, files)) for name in LAND_COVER],
            "class_map": [_class_map("class_map_land_cover.json", LAND_COVER_CLASSES)],
            "mask_kind": ["semantic"]}


def demo_inputs(recipe: str, kind: str | None) -> dict:
    """Fetch (once) and return the demo's inputs and licenses for a recipe whose spec asks
    the demo for `kind` of labels (DEMO_KINDS)."""
    files = fetch_members(SOLARIS_WHEEL)
    imagery = [str(files[m]) for m in DEMO_IMAGERY]
    if kind == "masks":
        labels = _tile_demo_labels(files)
    elif kind == "land-cover":
        labels = _land_cover_labels(files)
    elif kind in ("vectors", "vector-tiles"):
        labels = {"labels": [str(files[m]) for m in DEMO_LABELS]}
    else:
        raise InputError(f"--region demo with {recipe}",
                         "the demo data (SpaceNet footprints, roads and their masks) has "
                         "no inputs for this recipe; give --imagery and --osm or --labels")
    return {
        "imagery": imagery,
        **labels,
        "imagery_license": SPACENET_LICENSE,
        "imagery_attribution": SPACENET_ATTRIBUTION,
        "labels_license": SPACENET_LICENSE,
        "labels_attribution": SPACENET_ATTRIBUTION,
    }


def demo_options(kind: str) -> dict:
    """The settings the demo gives a recipe whose spec asks for `kind` of labels (defaults:
    the user's flags win)."""
    return KIND_OPTIONS[kind]


def demo_region(raster_bounds: list[tuple[float, float, float, float]]):
    """The demo region: the union of the demo scenes' footprints."""
    return shapely.union_all([shapely.box(*b) for b in raster_bounds])
