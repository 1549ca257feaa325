"""Read OSM files (.osm XML, .osm.pbf, .osm.bz2) with pyosmium into WGS84 features.

Nodes with tags become points, ways become lines (or polygons when closed and area-like),
and closed ways / multipolygon relations are assembled into areas by osmium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import osmium
import shapely
from shapely.geometry import LineString, Point

from geoscribe.errors import InputError
from geoscribe.sources.feature import Feature, SourceStats

OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".osm.xml")

# Closed ways with one of these keys are areas (unless area=no); others stay lines.
AREA_KEYS = frozenset(
    [
        "building", "landuse", "natural", "leisure", "amenity", "aeroway", "man_made",
        "military", "shop", "tourism", "water", "wetland", "place_of_worship", "historic",
        "office", "craft", "parking", "golf", "power", "sport",
    ]
)
LINEAR_VALUES = {"natural": {"coastline", "cliff", "ridge", "tree_row"},
                 "man_made": {"pipeline", "embankment", "breakwater", "groyne", "pier"},
                 "power": {"line", "minor_line", "cable"}, "leisure": {"track"}}


def closed_way_is_area(tags: dict[str, str]) -> bool:
    """Whether a closed way is an area (osm area semantics, simplified and documented)."""
    if tags.get("area") == "no":
        return False
    if tags.get("area") == "yes":
        return True
    for key in AREA_KEYS.intersection(tags):  # tags hold few keys: look up only theirs
        value = tags[key]
        if value and value not in LINEAR_VALUES.get(key, ()):
            return True
    return False


def _tags(obj) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def _closed_way_problem(way) -> str | None:
    """Why osmium will build no area from a closed way: a node without a location, or fewer
    than 3 distinct points (no ring); None when it will."""
    points = set()
    for node in way.nodes:
        location = node.location
        if not location.valid():
            return "osm_way_missing_nodes"
        points.add((location.x, location.y))
    return "osm_area_invalid" if len(points) < 3 else None


def check_osm_path(path: Path) -> None:
    """Fail with a one-line error if the path is not a readable OSM file."""
    if not path.exists():
        raise InputError(f"--osm {path}", "file not found")
    if not path.name.lower().endswith(OSM_SUFFIXES):
        raise InputError(f"--osm {path}", f"unknown OSM file type (expected one of {OSM_SUFFIXES})")


def read_osm(
    path: Path,
    bounds: tuple[float, float, float, float],
    stats: SourceStats,
) -> Iterator[Feature]:
    """Yield tagged features from an OSM file whose geometry intersects `bounds` (lon/lat).

    Ways with missing nodes are skipped and counted; a malformed file raises InputError.
    """
    check_osm_path(path)
    minx, miny, maxx, maxy = bounds
    area_box = shapely.box(minx, miny, maxx, maxy)
    name = str(path)
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas()
        .with_filter(osmium.filter.EmptyTagFilter())
    )
    wkb = osmium.geom.WKBFactory()
    try:
        for obj in processor:
            if obj.is_node():
                stats.read += 1
                loc = obj.location
                if not loc.valid():
                    stats.skip(f"osm_node_invalid_location:{name}")
                    continue
                if minx <= loc.lon <= maxx and miny <= loc.lat <= maxy:
                    yield Feature("osm", Point(loc.lon, loc.lat), _tags(obj), name, "node", obj.id)
            elif obj.is_way():
                stats.read += 1
                tags = _tags(obj)
                if obj.is_closed() and closed_way_is_area(tags):
                    # emitted as an area below; osmium builds no area when nodes are missing
                    reason = _closed_way_problem(obj)
                    if reason:
                        stats.skip(f"{reason}:{name}")
                    continue
                coords = []
                missing = False
                for node in obj.nodes:
                    if not node.location.valid():
                        missing = True
                        break
                    coords.append((node.location.lon, node.location.lat))
                if missing or len(coords) < 2:
                    stats.skip(f"osm_way_missing_nodes:{name}")
                    continue
                line = LineString(coords)
                if line.intersects(area_box):
                    yield Feature("osm", line, tags, name, "way", obj.id)
            elif obj.is_area():
                tags = _tags(obj)
                if obj.from_way():
                    if not closed_way_is_area(tags):
                        continue
                    osm_type, osm_id = "way", obj.orig_id()
                else:
                    stats.read += 1
                    osm_type, osm_id = "relation", obj.orig_id()
                try:
                    geom = shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(obj)))
                except (RuntimeError, osmium.InvalidLocationError, shapely.errors.GEOSException):
                    stats.skip(f"osm_area_invalid:{name}")
                    continue
                if geom.is_empty:
                    stats.skip(f"osm_area_invalid:{name}")
                    continue
                if len(geom.geoms) == 1:
                    geom = geom.geoms[0]
                if geom.intersects(area_box):
                    yield Feature("osm", geom, tags, name, osm_type, osm_id)
    except RuntimeError as exc:
        raise InputError(f"--osm {path}", f"malformed OSM data ({exc})") from None
