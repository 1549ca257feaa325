"""One place imaged by three sources (0.3 m, 1 m and 10 m GSD rasters, generated in code) with
OSM objects of several sizes, for `--imagery-plan` (issue 18).

The 1 m and 10 m rasters cover the same 1600 m square; the 0.3 m source (two rasters) only
its top-left 422.4 x 420 m. Everything is in UTM 17N metres (scene.CRS), so the truth is
plain arithmetic on the objects' UTM coordinates, read back from the OSM file's lon/lat with
pyproj.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyproj import Transformer

from scene import CRS, SceneFeature, write_osm, write_raster

X0, Y0 = 500_000.0, 3_300_000.0
SIDE_M = 1600.0
FINE_SIDE_M = 420.0


@dataclass(frozen=True)
class PlanRaster:
    """One raster of a source: its source, file name, GSD and where it lies (metres from the
    scene's top-left corner: x offset, width, height)."""

    name: str
    file: str
    gsd: float
    width_m: float
    height_m: float
    x_off_m: float = 0.0

    def box(self) -> tuple[float, float, float, float]:
        """Its footprint in UTM metres (minx, miny, maxx, maxy)."""
        return (X0 + self.x_off_m, Y0 - self.height_m, X0 + self.x_off_m + self.width_m, Y0)


STRIP_M = 2.4  # the 0.3 m source's second raster: an 8 px strip east of its first
RASTERS = (PlanRaster("aerial-0.3m", "fine/a03.tif", 0.3, FINE_SIDE_M, FINE_SIDE_M),
           PlanRaster("aerial-0.3m", "fine/a03_strip.tif", 0.3, STRIP_M, FINE_SIDE_M,
                      FINE_SIDE_M),
           PlanRaster("ortho-1m", "ortho/o1m.tif", 1.0, SIDE_M, SIDE_M),
           PlanRaster("sentinel-10m", "s10m.tif", 10.0, SIDE_M, SIDE_M))

# (osm id, centre x, centre y (metres from the top-left corner, y down), side in metres)
OBJECTS = (
    (101, 100, 100, 1.0),  # too small in every source
    (102, 200, 100, 4.0),  # 0.3 m
    (103, 300, 100, 10.0),  # 0.3 m
    (104, 800, 200, 8.0),  # not on the 0.3 m raster: 1 m
    (105, 420, 200, 6.0),  # across the 0.3 m raster's edge: 1 m
    (106, 200, 300, 20.0),  # too large at 0.3 m: 1 m
    (107, 800, 500, 40.0),  # 1 m
    (108, 1200, 300, 46.0),  # too large at 1 m, too small at 10 m
    (109, 400, 900, 60.0),  # 10 m
    (110, 800, 1100, 300.0),  # 10 m
    (111, 800, 800, 600.0),  # too large in every source
    (112, 420.25, 60, 3.5),  # 0.3 m, on both its rasters, its window beyond them (a mosaic)
)
NODE = (201, 350.0, 350.0)  # a point: visible everywhere, so the finest


def square(cx: float, cy: float, side: float) -> list[tuple[float, float]]:
    """A closed square ring of `side` metres around (cx, cy), UTM metres."""
    h = side / 2
    return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h),
            (cx - h, cy - h)]


def plan_features() -> list[SceneFeature]:
    """The scene's OSM objects: named buildings of every size, and a water tower node."""
    feats = [SceneFeature("way", osm_id, {"building": "yes", "name": f"Hall {osm_id}"},
                          square(X0 + x, Y0 - y, side)) for osm_id, x, y, side in OBJECTS]
    osm_id, x, y = NODE
    feats.append(SceneFeature("node", osm_id, {"man_made": "water_tower"}, [(X0 + x, Y0 - y)]))
    return feats


def make_plan_scene(directory: Path) -> Path:
    """Write the three rasters and the OSM file under `directory`; returns the OSM file."""
    for i, raster in enumerate(RASTERS):
        path = directory / raster.file
        path.parent.mkdir(parents=True, exist_ok=True)
        write_raster(path, seed=i, gsd=raster.gsd, size=(round(raster.width_m / raster.gsd),
                                                         round(raster.height_m / raster.gsd)),
                     origin=(X0 + raster.x_off_m, Y0))
    osm = directory / "plan.osm"
    write_osm(osm, plan_features())
    return osm


def region_bbox(inset_m: float = 20.0) -> str:
    """The scene's square, `inset_m` inside the rasters' edges, as a lon/lat bbox."""
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon0, lat0 = t.transform(X0 + inset_m, Y0 - SIDE_M + inset_m)
    lon1, lat1 = t.transform(X0 + SIDE_M - inset_m, Y0 - inset_m)
    return f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}"
