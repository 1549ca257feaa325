"""Tile chips for recipes that describe whole tiles (counting-qa, landcover-cls).

Each raster is cut into whole `tile_px` windows from its top-left corner (partial edge
tiles are dropped); a tile belongs to the unit (grid cell) holding its centre, and to the
run only if its centre lies in the region.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from geoscribe.engine.units import Unit
from geoscribe.geometry import transformer_to_wgs84
from geoscribe.region import cell_index
from geoscribe.types import RasterInfo


def plan_tile_units(
    rasters: list[RasterInfo], region: BaseGeometry, unit_deg: float, tile_px: int,
    limit: int | None,
) -> list[Unit]:
    """Units (grid order) each listing its tiles as (raster index, col_off, row_off)."""
    cells: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
    shapely.prepare(region)
    for index, raster in enumerate(rasters):
        cols = np.arange(0, raster.width - tile_px + 1, tile_px)
        rows = np.arange(0, raster.height - tile_px + 1, tile_px)
        if not len(cols) or not len(rows):
            continue
        cc, rr = np.meshgrid(cols, rows)
        t = Affine(*raster.transform)
        cx = t.c + t.a * (cc + tile_px / 2) + t.b * (rr + tile_px / 2)
        cy = t.f + t.d * (cc + tile_px / 2) + t.e * (rr + tile_px / 2)
        lon, lat = transformer_to_wgs84(raster.crs).transform(cx.ravel(), cy.ravel())
        inside = shapely.contains_xy(region, lon, lat)
        for col, row, x, y, keep in zip(cc.ravel(), rr.ravel(), lon, lat, inside, strict=True):
            if keep:
                cells[cell_index(x, y, unit_deg)].append((index, int(col), int(row)))
    units, remaining = [], limit
    for ix, iy in sorted(cells):
        items = sorted(cells[(ix, iy)])
        if remaining is not None:
            if remaining <= 0:
                break
            items = items[:remaining]
            remaining -= len(items)
        units.append(Unit(ix, iy, unit_deg, None, tuple(items), work=len(items)))
    return units
