"""The chip footprint (geometry.chip_footprint / chip_bounds_wgs84) on north-up and rotated
grids, checked against the four corners projected independently with pyproj."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Transformer

from geoscribe.geometry import (
    chip_bounds_wgs84,
    chip_footprint,
    chip_transform,
    coords_transform,
    local_utm,
    project,
    project_many,
)

CRS = "EPSG:32633"
SIZE = 256


def _corners_wgs84(transform: Affine, size: int) -> tuple[list[float], list[float]]:
    """The chip's four corners in WGS84, each pixel corner mapped by hand and then by pyproj."""
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lons, lats = [], []
    for col, row in ((0, 0), (size, 0), (0, size), (size, size)):
        x = transform.a * col + transform.b * row + transform.c
        y = transform.d * col + transform.e * row + transform.f
        lon, lat = to_wgs84.transform(x, y)
        lons.append(lon)
        lats.append(lat)
    return lons, lats


def _rotated(degrees: float, gsd: float = 0.5) -> Affine:
    return (Affine.translation(500_000.0, 6_650_000.0) @ Affine.rotation(degrees)
            @ Affine.scale(gsd, -gsd))


@pytest.mark.parametrize("degrees", [17.0, 45.0, -30.0, 120.0])
def test_footprint_of_a_rotated_chip_covers_its_four_corners(degrees):
    """issue 11 (dedupe 4): rotated grids: the box of the four projected corners."""
    transform = _rotated(degrees)
    assert transform.b != 0 and transform.d != 0
    lons, lats = _corners_wgs84(transform, SIZE)
    west, south, east, north = chip_bounds_wgs84(transform, SIZE, CRS)
    # the densified edges may bulge a hair past the corners, never fall inside them (beyond
    # float noise: 1e-9 deg is a tenth of a millimetre)
    tol = 1e-7
    assert west <= min(lons) + 1e-9 and east >= max(lons) - 1e-9
    assert south <= min(lats) + 1e-9 and north >= max(lats) - 1e-9
    assert abs(west - min(lons)) < tol and abs(east - max(lons)) < tol
    assert abs(south - min(lats)) < tol and abs(north - max(lats)) < tol
    # the north-up reading of the same transform (corner + a*size, e*size) misses the
    # rotation: its box is a different one
    t = transform
    naive = (min(t.c, t.c + t.a * SIZE), min(t.f, t.f + t.e * SIZE),
             max(t.c, t.c + t.a * SIZE), max(t.f, t.f + t.e * SIZE))
    assert chip_footprint(transform, SIZE) != pytest.approx(naive)


def test_footprint_in_the_crs_is_the_box_of_the_corners():
    transform = _rotated(33.0, gsd=0.3)
    xs, ys = zip(*(transform @ (c, r) for c, r in ((0, 0), (SIZE, 0), (0, SIZE), (SIZE, SIZE))),
                 strict=True)
    assert chip_footprint(transform, SIZE) == pytest.approx((min(xs), min(ys), max(xs), max(ys)),
                                                           abs=1e-6)
    width = SIZE * 0.3 * (math.cos(math.radians(33)) + math.sin(math.radians(33)))
    box = chip_footprint(transform, SIZE)
    assert box[2] - box[0] == pytest.approx(width, abs=1e-6)


def test_north_up_footprint_is_bit_identical_to_the_tile_formula():
    """North-up grids keep their exact bbox_wgs84 (shards stay byte-identical)."""
    t = Affine(0.5, 0.0, 500_123.25, 0.0, -0.5, 6_650_321.75)
    xs, ys = [t.c, t.c + t.a * SIZE], [t.f, t.f + t.e * SIZE]
    old = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform_bounds(
        min(xs), min(ys), max(xs), max(ys), densify_pts=5)
    assert chip_footprint(t, SIZE) == (min(xs), min(ys), max(xs), max(ys))
    assert chip_bounds_wgs84(t, SIZE, CRS) == tuple(old)


def test_one_coordinate_transform_serves_project_project_many_and_local_utm():
    """issue 11 mends: the three reprojections share coords_transform; each vertex lands
    where pyproj puts it."""
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    line = shapely.LineString([(15.0, 52.0), (15.01, 52.02), (14.99, 52.03)])
    expected = [to_utm.transform(x, y) for x, y in line.coords]
    fn = coords_transform(to_utm)
    assert np.allclose(fn(np.array(line.coords)), expected, rtol=0, atol=1e-9)
    for geom in (project(line, CRS), project_many([line], CRS)[0], local_utm(line, 15.0, 52.0)):
        assert np.allclose(np.array(geom.coords), expected, rtol=0, atol=1e-9)
    assert project_many([], CRS) == []


def test_chip_transform_is_affines_product():
    """issue 11 mends: builders/tiles.py now plans with chip_transform; the same floats as
    affine's matrix product."""
    grid = (0.5, 0.0, 500_000.0, 0.0, -0.5, 3_300_000.0)
    expected = Affine(*grid) @ Affine.translation(256, 384) @ Affine.scale(2.0)
    assert tuple(chip_transform(grid, 256, 384, 2.0)) == tuple(expected)


def test_grid_footprint_is_the_polygon_of_the_corners_on_a_rotated_grid():
    """issue 17 case 1: the footprint of a turned grid is its own quadrilateral (area w x h
    pixels), not the box of its corners."""
    from geoscribe.geometry import grid_footprint

    transform = _rotated(25.0, gsd=0.5)
    poly = grid_footprint(transform, 300, 200)
    assert poly.area == pytest.approx(300 * 200 * 0.25)
    assert poly.area < shapely.box(*poly.bounds).area * 0.8
    for col, row in ((0.5, 0.5), (299.5, 0.5), (0.5, 199.5), (299.5, 199.5)):
        assert poly.contains(shapely.Point(transform @ (col, row)))
    assert not poly.contains(shapely.Point(transform @ (-0.5, 100)))


@pytest.mark.parametrize("lat", [0.0, 45.0, 60.17, 75.0])
def test_ground_resolution_on_web_mercator_is_geodesic(lat):
    """issue 17 case 3: one Web Mercator pixel of 1 unit is cos(lat) ground metres: checked
    with pyproj.Geod over its two sides."""
    from pyproj import Geod

    from geoscribe.geometry import ground_resolution_m

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(24.94, lat)
    transform = Affine(1.0, 0.0, x, 0.0, -1.0, y)
    to_wgs84 = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    p0, p1, p2 = (to_wgs84.transform(*(transform @ cr)) for cr in ((0, 0), (1, 0), (0, 1)))
    geod = Geod(ellps="WGS84")
    truth = math.sqrt(geod.inv(*p0, *p1)[2] * geod.inv(*p0, *p2)[2])
    assert ground_resolution_m(transform, "EPSG:3857", 0, 0) == pytest.approx(truth, rel=0.002)
