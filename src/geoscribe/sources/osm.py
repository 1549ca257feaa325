"""Read OSM files (.osm XML, .osm.pbf, .osm.bz2) with pyosmium into WGS84 features.

Nodes with tags become points, ways become lines (or polygons when closed and area-like),
and closed ways / multipolygon relations are assembled into areas by osmium.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import osmium
import shapely
from shapely.geometry import LineString, Point

from geoscribe.errors import InputError
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.osm_xml import largest_ids, rewrite_osm_xml
from geoscribe.types import Feature

OSM_SUFFIXES = (".osm", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz", ".osm.xml")
OSM_XML_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.xml")

# Closed ways with one of these keys are areas (unless area=no); others stay lines. Listed
# most common first: they are looked up in this order.
AREA_KEYS = (
    "building", "landuse", "natural", "leisure", "amenity", "man_made", "parking", "power",
    "shop", "tourism", "water", "wetland", "aeroway", "military", "place_of_worship",
    "historic", "office", "craft", "golf", "sport",
)
AREA_BATCH = 1000  # areas turned into shapely geometries at once
LINEAR_VALUES = {"natural": {"coastline", "cliff", "ridge", "tree_row"},
                 "man_made": {"pipeline", "embankment", "breakwater", "groyne", "pier"},
                 "power": {"line", "minor_line", "cable"}, "leisure": {"track"}}


def closed_way_is_area(tags) -> bool:
    """Whether a closed way is an area (osm area semantics, simplified and documented).

    `tags` is a dict or an osmium tag list: only `.get` is used, so an osmium object's tags are
    looked up in C++ without building a dict first."""
    area = tags.get("area")
    if area == "no":
        return False
    if area == "yes":
        return True
    for key in AREA_KEYS:
        value = tags.get(key)
        if value and value not in LINEAR_VALUES.get(key, ()):
            return True
    return False


def _tags(obj) -> dict[str, str]:
    return {t.k: t.v for t in obj.tags}


def _area_features(
    batch: list[tuple[str, dict, str, int]], area_box, name: str, stats: SourceStats
) -> Iterator[Feature]:
    """Features of a batch of (hex WKB, tags, osm type, osm id) areas, in order: one shapely
    call per step for the whole batch; invalid or empty geometries skipped and counted."""
    geoms = shapely.from_wkb([item[0] for item in batch], on_invalid="ignore")
    single = shapely.get_num_geometries(geoms) == 1
    geoms[single] = shapely.get_geometry(geoms[single], 0)  # a one-part multipolygon: its part
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    inside = usable.copy()
    inside[usable] = shapely.intersects(geoms[usable], area_box)
    for (_, tags, osm_type, osm_id), geom, ok, keep in zip(batch, geoms, usable, inside,
                                                          strict=True):
        if not ok:
            stats.skip(f"osm_area_invalid:{name}")
        elif keep:
            yield Feature("osm", geom, tags, name, osm_type, osm_id)


def check_osm_path(path: Path) -> None:
    """Fail with a one-line error if the path is not a readable OSM file."""
    if not path.exists():
        raise InputError(f"--osm {path}", "file not found")
    if not path.name.lower().endswith(OSM_SUFFIXES):
        raise InputError(f"--osm {path}", f"unknown OSM file type (expected one of {OSM_SUFFIXES})")


class OsmRewriteNeeded(Exception):
    """The file must be read through the XML rewrite: negative ids or an over-long tag."""


def _is_xml(path: Path) -> bool:
    return path.name.lower().endswith(OSM_XML_SUFFIXES)


def read_osm(
    path: Path,
    bounds: tuple[float, float, float, float],
    stats: SourceStats,
    rewrite: bool = False,
) -> Iterator[Feature]:
    """Yield tagged features from an OSM file whose geometry intersects `bounds` (lon/lat).

    Ways with missing nodes, relations with missing members and invalid areas are skipped and
    counted; a malformed file raises InputError. An OSM XML file that holds negative ids (JOSM)
    or a tag over 1024 bytes raises OsmRewriteNeeded, possibly after yielding some features:
    read it again with `rewrite=True` (slower: a rewritten copy is read, such tags are dropped
    and counted, negative ids are kept).
    """
    check_osm_path(path)
    if not rewrite:
        yield from _read_file(path, str(path), bounds, stats, can_rewrite=_is_xml(path))
        return
    with tempfile.TemporaryDirectory(prefix="geoscribe-osm-") as tmp:
        offsets = largest_ids(path)
        copy = Path(tmp) / "rewritten.osm"
        rewrite_osm_xml(path, copy, offsets, lambda: stats.skip(f"osm_tag_too_long:{path}"))
        for feature in _read_file(copy, str(path), bounds, stats, can_rewrite=False):
            if feature.osm_type is not None and feature.osm_id is not None:
                feature.osm_id = offsets.original(feature.osm_type, feature.osm_id)
            yield feature


def _line_feature(obj, name: str, area_box, stats: SourceStats, can_rewrite: bool
                  ) -> Feature | None:
    """A way that is not an area as a line feature (None if outside `area_box` or broken)."""
    coords = []
    for node in obj.nodes:
        if not node.location.valid():
            _missing_nodes(obj, can_rewrite)
            coords = []
            break
        coords.append((node.location.lon, node.location.lat))
    if len(coords) < 2:
        stats.skip(f"osm_way_missing_nodes:{name}")
        return None
    line = LineString(coords)
    return Feature("osm", line, _tags(obj), name, "way", obj.id) if line.intersects(area_box) \
        else None


def _missing_nodes(way, can_rewrite: bool) -> None:
    """A way lacks node locations: negative node ids are only readable through the rewrite."""
    if can_rewrite and any(node.ref < 0 for node in way.nodes):
        raise OsmRewriteNeeded("negative node ids")


def _is_multipolygon(relation) -> bool:
    """Whether osmium assembles this relation into an area that keeps some tag."""
    tags = relation.tags
    return tags.get("type") in ("multipolygon", "boundary") and len(tags) > 1


def _read_file(
    path: Path, name: str, bounds: tuple[float, float, float, float], stats: SourceStats,
    can_rewrite: bool,
) -> Iterator[Feature]:
    """The reading pass over one file (see read_osm); `name` is the input as given."""
    minx, miny, maxx, maxy = bounds
    area_box = shapely.box(minx, miny, maxx, maxy)
    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas()
        .with_filter(osmium.filter.EmptyTagFilter())
    )
    wkb = osmium.geom.WKBFactory()
    area_ways = way_areas = 0  # closed ways that should become areas; areas built from ways
    areas: list[tuple[str, dict, str, int]] = []  # built areas waiting for their geometry
    relations: dict[int, bool] = {}  # multipolygon relation -> whether it names a negative id
    assembled: set[int] = set()  # relations osmium made an area of
    try:
        for obj in processor:
            if obj.is_area():
                if obj.from_way():
                    if not closed_way_is_area(obj.tags):
                        continue
                    way_areas += 1
                    osm_type, osm_id = "way", obj.orig_id()
                else:
                    stats.read += 1
                    osm_type, osm_id = "relation", obj.orig_id()
                    assembled.add(osm_id)
                try:
                    areas.append((wkb.create_multipolygon(obj), _tags(obj), osm_type, osm_id))
                except (RuntimeError, osmium.InvalidLocationError):
                    stats.skip(f"osm_area_invalid:{name}")
                if len(areas) >= AREA_BATCH:
                    yield from _area_features(areas, area_box, name, stats)
                    areas = []
                continue
            if areas:  # keep the file's order: areas read so far go first
                yield from _area_features(areas, area_box, name, stats)
                areas = []
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
                if obj.is_closed() and closed_way_is_area(obj.tags):
                    # emitted as an area below; osmium builds no area when nodes are missing
                    try:
                        wkb.create_linestring(obj)
                    except osmium.InvalidLocationError:
                        _missing_nodes(obj, can_rewrite)
                        stats.skip(f"osm_way_missing_nodes:{name}")
                        continue
                    except RuntimeError:  # too few distinct points: osmium builds no area
                        pass
                    area_ways += 1
                    continue
                line = _line_feature(obj, name, area_box, stats, can_rewrite)
                if line is not None:
                    yield line
            elif obj.is_relation() and _is_multipolygon(obj):
                relations[obj.id] = can_rewrite and any(member.ref < 0 for member in obj.members)
        if areas:
            yield from _area_features(areas, area_box, name, stats)
        if area_ways > way_areas:  # closed ways osmium could make no area of (degenerate rings)
            stats.skip(f"osm_area_invalid:{name}", area_ways - way_areas)
        _count_incomplete_relations(relations, assembled, name, stats, can_rewrite)
    except RuntimeError as exc:
        raise InputError(f"--osm {name}", f"malformed OSM data ({exc})") from None
    except ValueError as exc:  # libosmium: "OSM tag value is too long" and the like
        if can_rewrite and "too long" in str(exc):
            raise OsmRewriteNeeded(str(exc)) from None
        raise InputError(f"--osm {name}", f"unreadable OSM data ({exc})") from None


def _count_incomplete_relations(relations: dict[int, bool], assembled: set[int], name: str,
                                stats: SourceStats, can_rewrite: bool) -> None:
    """Count multipolygon relations osmium made no area of (members missing from the file)."""
    missing = [rid for rid in relations if rid not in assembled]
    if can_rewrite and any(relations[rid] or rid < 0 for rid in missing):
        raise OsmRewriteNeeded("negative member ids")
    if missing:
        stats.read += len(missing)
        stats.skip(f"osm_relation_missing_members:{name}", len(missing))
