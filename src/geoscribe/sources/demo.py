"""`--region demo`: real SpaceNet imagery + labels from the solaris 0.4.0 wheel (PyPI).

Scenes (both CC BY-SA 4.0, SpaceNet):
- Atlanta, 0.5 m panchromatic uint16 (EPSG:32616), 43 building footprints with OSM-style columns,
  and the same footprints as a 43-band instance stack (one band per building).
- Las Vegas, 0.3 m panchromatic uint16 (EPSG:4326), 9 roads with SpaceNet attributes mapped to
  OSM tags (see sources/label_mappings.py), and a road mask (0/255).

For counting-qa the 43-band stack is turned once into a one-band instance-id raster
(id = band number where the band is set; the bands do not overlap), written to the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
import shapely

from geoscribe.errors import InputError
from geoscribe.sources.registry_data import DERIVED, SOLARIS_WHEEL, derived_path, fetch_members

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
TILE_DEMO_OPTIONS = {"split_block_deg": 0.0015, "unit_deg": 0.002, "tile_px": 128,
                     "chip_size": 256}
KIND_OPTIONS = {"vectors": DEMO_OPTIONS, "masks": TILE_DEMO_OPTIONS}  # by the spec's demo kind


def _instance_ids(stack: Path, target: Path) -> Path:
    """One-band instance ids from a stack of one-object bands (written once)."""
    if target.exists():
        return target
    with rasterio.open(stack) as src:
        data = src.read()
        if int((data > 0).sum(axis=0).max()) > 1:
            raise InputError(str(stack), "instance bands overlap; cannot make an id raster")
        ids = np.where(data.max(axis=0) > 0, data.argmax(axis=0) + 1, 0).astype(np.uint8)
        profile = src.profile | {"count": 1, "dtype": "uint8", "nodata": None}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(ids, 1)
    tmp.replace(target)
    return target


def _tile_demo_labels(files: dict[str, Path]) -> dict:
    _archive, stack, _fragment = DERIVED[BUILDING_IDS]
    buildings = _instance_ids(files[stack], derived_path(BUILDING_IDS))
    building_map = derived_path("class_map_buildings.json")
    road_map = derived_path("class_map_roads.json")
    building_map.write_text(json.dumps({"*": "building"}), encoding="utf-8")
    road_map.write_text(json.dumps({"255": "road"}), encoding="utf-8")
    return {"labels": [str(buildings), str(files[ROAD_MASK])],
            "class_map": [str(building_map), str(road_map)],
            "mask_kind": ["instance", "semantic"]}


def demo_inputs(recipe: str, kind: str | None) -> dict:
    """Fetch (once) and return the demo's inputs and licenses for a recipe whose spec asks
    the demo for `kind` of labels: "vectors" (the building footprints) or "masks"."""
    files = fetch_members(SOLARIS_WHEEL)
    imagery = [str(files[m]) for m in DEMO_IMAGERY]
    if kind == "masks":
        labels = _tile_demo_labels(files)
    elif kind == "vectors":
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
