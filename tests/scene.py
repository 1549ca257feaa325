"""A small synthetic scene generated in code: a UTM GeoTIFF and OSM XML at known places.

Geometry is defined in UTM metres (EPSG:32617) and converted to lon/lat for the OSM file,
so tests can check the pipeline's chips against pyproj/shapely independently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

CRS = "EPSG:32617"
ORIGIN_X, ORIGIN_Y = 500_000.0, 3_300_000.0
GSD = 0.5
SIZE = 1024  # pixels; the scene is 512 m square


@dataclass
class SceneFeature:
    """A feature of the scene: OSM type/id, tags, and its rings/points in UTM metres."""

    osm_type: str
    osm_id: int
    tags: dict[str, str]
    utm: list[tuple[float, float]]  # outer ring (closed) / line / single point
    inner: list[tuple[float, float]] | None = None


@dataclass
class Scene:
    raster: Path
    osm: Path
    features: list[SceneFeature] = field(default_factory=list)

    @property
    def bbox(self) -> str:
        t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        lon0, lat0 = t.transform(ORIGIN_X - 50, ORIGIN_Y - SIZE * GSD - 50)
        lon1, lat1 = t.transform(ORIGIN_X + SIZE * GSD + 50, ORIGIN_Y + 50)
        return f"{lon0:.6f},{lat0:.6f},{lon1:.6f},{lat1:.6f}"


def write_raster(path: Path, seed: int = 0, dtype: str = "uint8", gsd: float = GSD,
                 size: tuple[int, int] = (SIZE, SIZE),
                 origin: tuple[float, float] = (ORIGIN_X, ORIGIN_Y)) -> None:
    """A textured RGB raster (not blank, not compressible to nothing): `size` (width, height)
    pixels of `gsd` metres, its top-left corner at `origin` (UTM metres)."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    base = (np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 50 + 128
    bands = np.stack([base + rng.integers(-30, 30, (height, width)) for _ in range(3)])
    data = np.clip(bands, 20, 235).astype(dtype)
    profile = dict(driver="GTiff", width=width, height=height, count=3, dtype=dtype, crs=CRS,
                   transform=from_origin(*origin, gsd, gsd), tiled=True,
                   blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _square(cx: float, cy: float, half: float) -> list[tuple[float, float]]:
    return [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half),
            (cx - half, cy + half), (cx - half, cy - half)]


def scene_features(n_buildings: int = 24) -> list[SceneFeature]:
    """Buildings on a grid (small: their windows are exactly min_chip_px), plus others."""
    feats = []
    osm_id = 1000
    step = 440.0 / 6
    for i in range(n_buildings):
        cx = ORIGIN_X + 40 + (i % 6) * step
        cy = ORIGIN_Y - 40 - (i // 6) * step
        half = 4.0 + (i % 5) * 2.5  # 8..18 m buildings
        tags = {"building": "yes", "name": f"House {i}", "addr:street": "Main"}
        if i % 4 == 1:
            tags = {"building": "house", "roof:shape": "gabled", "source": "survey"}
        feats.append(SceneFeature("way", osm_id, tags, _square(cx, cy, half)))
        osm_id += 1
    # a water tower node, a road, a big building needing a downsampled window,
    # and a multipolygon relation (courtyard building)
    feats.append(SceneFeature("node", 5001, {"man_made": "water_tower", "name": "Tower"},
                              [(ORIGIN_X + 300.0, ORIGIN_Y - 300.0)]))
    feats.append(SceneFeature("way", 6001, {"highway": "residential", "surface": "asphalt",
                                            "lanes": "2", "ref": "R1"},
                              [(ORIGIN_X + 60.0, ORIGIN_Y - 380.0),
                               (ORIGIN_X + 120.0, ORIGIN_Y - 385.0)]))
    feats.append(SceneFeature("way", 6002, {"building": "warehouse"},
                              _square(ORIGIN_X + 400.0, ORIGIN_Y - 420.0, 45.0)))
    feats.append(SceneFeature("relation", 7001, {"type": "multipolygon", "building": "yes"},
                              _square(ORIGIN_X + 200.0, ORIGIN_Y - 440.0, 20.0),
                              inner=_square(ORIGIN_X + 200.0, ORIGIN_Y - 440.0, 8.0)))
    return feats


def write_osm(path: Path, features: list[SceneFeature], missing_node_way: bool = False) -> None:
    """Write features as OSM XML (nodes first, then ways, then relations)."""
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    nodes, ways, relations = [], [], []
    next_node = 1

    def add_nodes(coords, closed):
        nonlocal next_node
        ids = []
        pts = coords[:-1] if closed else coords
        for x, y in pts:
            lon, lat = t.transform(x, y)
            nodes.append(f'<node id="{next_node}" version="1" lat="{lat:.9f}" lon="{lon:.9f}"/>')
            ids.append(next_node)
            next_node += 1
        return ids + [ids[0]] if closed else ids

    def tag_xml(tags):
        return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())

    next_way = 90000
    for f in features:
        if f.osm_type == "node":
            lon, lat = t.transform(*f.utm[0])
            nodes.append(f'<node id="{f.osm_id}" version="1" lat="{lat:.9f}" lon="{lon:.9f}">'
                         f"{tag_xml(f.tags)}</node>")
        elif f.osm_type == "way":
            closed = f.utm[0] == f.utm[-1]
            refs = "".join(f'<nd ref="{i}"/>' for i in add_nodes(f.utm, closed))
            ways.append(f'<way id="{f.osm_id}" version="1">{refs}{tag_xml(f.tags)}</way>')
        else:
            members = []
            for role, ring in (("outer", f.utm), ("inner", f.inner)):
                refs = "".join(f'<nd ref="{i}"/>' for i in add_nodes(ring, True))
                ways.append(f'<way id="{next_way}" version="1">{refs}</way>')
                members.append(f'<member type="way" ref="{next_way}" role="{role}"/>')
                next_way += 1
            relations.append(f'<relation id="{f.osm_id}" version="1">{"".join(members)}'
                             f"{tag_xml(f.tags)}</relation>")
    if missing_node_way:
        ways.append('<way id="99999" version="1"><nd ref="1"/><nd ref="987654321"/>'
                    '<tag k="highway" v="service"/></way>')
    nodes.sort(key=lambda s: int(s.split('"')[1]))
    body = "\n".join(nodes + ways + relations)
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" '
                    f'generator="geoscribe-tests">\n{body}\n</osm>\n', encoding="utf-8")


def make_scene(directory: Path, missing_node_way: bool = False) -> Scene:
    directory.mkdir(parents=True, exist_ok=True)
    raster = directory / "scene_utm.tif"
    osm = directory / "scene.osm"
    feats = scene_features()
    write_raster(raster)
    write_osm(osm, feats, missing_node_way=missing_node_way)
    return Scene(raster, osm, feats)


def to_josm(source: Path, target: Path) -> None:
    """Rewrite an OSM XML file of write_osm as JOSM saves new objects: every id and reference
    negated, single quotes, no version, action='modify'."""
    text = re.sub(r'(id|ref)="(\d+)"', r"\1='-\2'", source.read_text(encoding="utf-8"))
    target.write_text(text.replace(' version="1"', " action='modify'"), encoding="utf-8")


def with_long_tag(source: Path, target: Path, osm_id: int, size: int = 1100) -> None:
    """A copy of an OSM XML file of write_osm whose way `osm_id` has a `description` tag of
    `size` bytes (over libosmium's 1024-byte limit)."""
    text = source.read_text(encoding="utf-8")
    head = f'<way id="{osm_id}" version="1">'
    assert head in text
    target.write_text(text.replace(head, head + f'<tag k="description" v="{"x" * size}"/>'),
                      encoding="utf-8")


def copy_scene(scene: Scene, directory: Path) -> Scene:
    """A copy of a scene's files in `directory`, for a test that changes them."""
    import shutil

    directory.mkdir(parents=True)
    raster, osm = directory / scene.raster.name, directory / scene.osm.name
    shutil.copyfile(scene.raster, raster)
    shutil.copyfile(scene.osm, osm)
    return Scene(raster, osm, scene.features)
