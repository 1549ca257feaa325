"""`--region demo`: real SpaceNet imagery + labels from the solaris 0.4.0 wheel (PyPI).

Scenes (both CC BY-SA 4.0, SpaceNet):
- Atlanta, 0.5 m panchromatic uint16 (EPSG:32616), 43 building footprints with OSM-style columns.
- Las Vegas, 0.3 m panchromatic uint16 (EPSG:4326), 9 roads with SpaceNet attributes mapped to
  OSM tags (see sources/label_mappings.py).
"""

from __future__ import annotations

import shapely

from geoscribe.sources.registry_data import SOLARIS_WHEEL, fetch_members

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


def demo_inputs() -> dict:
    """Fetch (once) and return the demo's inputs, licenses and region geometry."""
    files = fetch_members(SOLARIS_WHEEL)
    imagery = [str(files[m]) for m in DEMO_IMAGERY]
    labels = [str(files[m]) for m in DEMO_LABELS]
    return {
        "imagery": imagery,
        "labels": labels,
        "imagery_license": SPACENET_LICENSE,
        "imagery_attribution": SPACENET_ATTRIBUTION,
        "labels_license": SPACENET_LICENSE,
        "labels_attribution": SPACENET_ATTRIBUTION,
    }


def demo_region(raster_bounds: list[tuple[float, float, float, float]]):
    """The demo region: the union of the demo scenes' footprints."""
    return shapely.union_all([shapely.box(*b) for b in raster_bounds])
