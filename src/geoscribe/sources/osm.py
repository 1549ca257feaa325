"""Read OSM files (.osm XML, .osm.pbf, .osm.bz2) with pyosmium into WGS84 features.

Nodes with tags become points, ways become lines (or polygons when closed and area-like),
and closed ways / multipolygon relations are assembled into areas by osmium.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
import shapely

from geoscribe.errors import InputError
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.osm_native import native_pass
from geoscribe.sources.osm_relations import (
    DEGENERATE,
    MISSING_NODES,
    NEGATIVE_NODES,
    AreaRelations,
    AreaRelationsPass,
    area_type_filter,
    partial_area,
)
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
AREA_BATCH = 1000  # features turned into shapely geometries at once
_FEATURE_ENTITIES = osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA  # what the pass yields
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


def tag_pairs(obj) -> list[tuple[str, str]]:
    """An osmium object's tags as (key, value) pairs, read straight from its C++ tag list.

    pyosmium's public iterator wraps each step in a Python object (5 µs a tag, most of the
    ingest's time on a city extract); this walks the same C++ iterator it wraps, and falls back
    to the public one where a pyosmium version lacks it (tests check both agree)."""
    data = getattr(obj, "_pyosmium_data", None)
    if data is None or not hasattr(data, "tags_next"):
        return [(tag.k, tag.v) for tag in obj.tags]
    step, position = data.tags_next, data.tags_begin()
    return [step(position) for _ in range(data.tags_size())]


def wkb_outside(hex_wkb: str, bounds: tuple[float, float, float, float]) -> bool:
    """Whether osmium's hex WKB of a line or multipolygon certainly lies outside `bounds`: read
    without GEOS, every ring closed with 4 points or more and the envelope disjoint from the
    bounds. False when unsure (any other shape or byte order, a malformed or empty geometry):
    what is not certainly outside is tested exactly later."""
    try:
        raw = bytes.fromhex(hex_wkb)
        kind, count = struct.unpack_from("<II", raw, 1)
        if raw[0] != 1 or kind not in (2, 6) or (kind == 2 and count < 2):
            return False
        rings = [(9, count, False)] if kind == 2 else _polygon_rings(raw, count)
        xs: list[float] = []
        ys: list[float] = []
        for offset, points, closed in rings:
            xy = struct.unpack_from(f"<{2 * points}d", raw, offset)
            if closed and (points < 4 or xy[:2] != xy[-2:]):
                return False
            xs.extend(xy[0::2])
            ys.extend(xy[1::2])
    except (ValueError, struct.error):
        return False
    minx, miny, maxx, maxy = bounds
    return bool(xs) and (max(xs) < minx or min(xs) > maxx or max(ys) < miny or min(ys) > maxy)


def _polygon_rings(raw: bytes, polygons: int) -> list[tuple[int, int, bool]]:
    """The rings of a little-endian multipolygon WKB: (offset of the coordinates, points,
    True); raises struct.error or ValueError when the bytes are not one."""
    rings, offset = [], 9
    for _ in range(polygons):
        order, kind, count = struct.unpack_from("<BII", raw, offset)
        if order != 1 or kind != 3:
            raise ValueError("not a little-endian polygon")
        offset += 9
        for _ in range(count):
            (points,) = struct.unpack_from("<I", raw, offset)
            rings.append((offset + 4, points, True))
            offset += 4 + 16 * points
    return rings


def covers_file(path: Path, bounds: tuple[float, float, float, float]) -> bool:
    """Whether `bounds` hold the bounding box a file's header declares (False if it declares
    none): then the objects are not tested against the bounds one by one while reading."""
    reader = osmium.io.Reader(str(path), osmium.osm.NOTHING)
    try:
        box = reader.header().box()
    finally:
        reader.close()
    if not box.valid():
        return False
    minx, miny, maxx, maxy = bounds
    low, high = box.bottom_left, box.top_right
    return minx <= low.lon and miny <= low.lat and high.lon <= maxx and high.lat <= maxy


TagSelect = Callable[[Iterable[tuple[str, str]]], "dict[str, str] | None"]


@dataclass(frozen=True)
class DecidingKeys:
    """A promise about `select`: it decides from the pairs whose key is in `keys` alone, and
    drops a feature with none of them, counted once by `count(n)` for n such features. The
    compiled pass then hands over only those pairs, and no point without one (a third of a
    city's tagged nodes: addresses, crossings); the Python pass asks `select` about all."""

    keys: frozenset[str]
    count: Callable[[int], None]


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
    select: TagSelect | None = None,
    deciding_keys: DecidingKeys | None = None,
) -> Iterator[Feature]:
    """Yield tagged features from an OSM file whose geometry intersects `bounds` (lon/lat).

    Ways with missing nodes, invalid areas and multipolygon relations with missing members are
    skipped and counted (such a relation is built from its closed rings where they close: see
    geoscribe.sources.osm_relations); a malformed file raises InputError. `select` decides a
    feature's tags from its (key, value) pairs, read straight from osmium, or drops the feature
    (None); it is only asked about features inside `bounds`, in file order (default: every
    tag; `deciding_keys`: a promise about `select`, see DecidingKeys). An OSM XML file that
    holds negative ids (JOSM) or a tag over 1024 bytes raises OsmRewriteNeeded, possibly after
    yielding some features: read it again with `rewrite=True` (slower: a rewritten copy is read,
    such tags are dropped and counted, negative ids are kept).
    """
    check_osm_path(path)
    select = select or dict
    if not rewrite:
        yield from _read_file(path, str(path), bounds, stats, _is_xml(path), select,
                              deciding_keys)
        return
    with tempfile.TemporaryDirectory(prefix="geoscribe-osm-") as tmp:
        offsets = largest_ids(path)
        copy = Path(tmp) / "rewritten.osm"
        rewrite_osm_xml(path, copy, offsets, lambda: stats.skip(f"osm_tag_too_long:{path}"))
        for feature in _read_file(copy, str(path), bounds, stats, False, select):
            if feature.osm_type is not None and feature.osm_id is not None:
                feature.osm_id = offsets.original(feature.osm_type, feature.osm_id)
            yield feature


class _Reader:
    """The state of one reading pass: objects met so far wait in `pending` (in file order)
    until a batch of them is turned into shapely geometries at once."""

    def __init__(self, name: str, bounds: tuple[float, float, float, float],
                 stats: SourceStats, can_rewrite: bool, select: TagSelect,
                 relations: AreaRelations, prefilter: bool = True) -> None:
        self.name, self.stats, self.can_rewrite, self.select = name, stats, can_rewrite, select
        self.bounds = bounds
        self.prefilter = prefilter  # lines and areas outside the bounds: tags never read
        self.box = shapely.box(*bounds)
        shapely.prepare(self.box)
        self.relations = relations
        self.wkb = osmium.geom.WKBFactory()
        self.pending: list[tuple] = []  # (kind, geometry data, tag pairs, osm type, osm id)
        self.area_ways = self.way_areas = 0  # closed ways that should be areas; areas built
        self.assembled: set[int] = set()  # relations osmium made an area of

    def add(self, obj) -> bool:
        """Note one object of the pass; True when a batch is ready for `flush`."""
        if obj.is_node():  # the most common first
            self._node(obj)
        elif obj.is_area():
            self._area(obj)
        elif obj.is_way():
            self._way(obj)
        return len(self.pending) >= AREA_BATCH

    def _node(self, obj) -> None:
        self.stats.read += 1
        loc = obj.location
        if not loc.valid():
            self.stats.skip(f"osm_node_invalid_location:{self.name}")
            return
        minx, miny, maxx, maxy = self.bounds
        lon, lat = loc.lon, loc.lat
        if minx <= lon <= maxx and miny <= lat <= maxy:  # outside: no tags read
            self.pending.append(("point", (lon, lat), tag_pairs(obj), "node", obj.id))

    def _way(self, obj) -> None:
        self.stats.read += 1
        line = self.way_line(obj)
        is_area = obj.is_closed() and closed_way_is_area(obj.tags)
        if line is MISSING_NODES or line is NEGATIVE_NODES:
            self.stats.skip(f"osm_way_missing_nodes:{self.name}")
        elif is_area:  # emitted as an area; osmium builds none of a degenerate ring (counted)
            self.area_ways += 1
        elif line is DEGENERATE:  # fewer than two nodes
            self.stats.skip(f"osm_way_missing_nodes:{self.name}")
        elif not (self.prefilter and wkb_outside(line, self.bounds)):
            self.pending.append(("line", line, tag_pairs(obj), "way", obj.id))

    def way_line(self, obj) -> str | bytes | None:
        """A way's line as hex WKB (every node, in order), or MISSING_NODES / NEGATIVE_NODES /
        DEGENERATE; kept for the relations when the way is a member of an area relation."""
        try:
            line = self.wkb.create_linestring(obj, use_nodes=osmium.geom.ALL)
        except osmium.InvalidLocationError:
            negative = self.can_rewrite and any(node.ref < 0 for node in obj.nodes)
            line = NEGATIVE_NODES if negative else MISSING_NODES
        except RuntimeError:  # one node
            line = DEGENERATE
        if obj.id in self.relations.way_ids:
            self.relations.lines[obj.id] = line
        if line is NEGATIVE_NODES and obj.tags:
            raise OsmRewriteNeeded("negative node ids")
        return line

    def _area(self, obj) -> None:
        if obj.from_way():
            if not closed_way_is_area(obj.tags):
                return
            self.way_areas += 1
            osm_type = "way"
        else:
            osm_type = "relation"
            self.assembled.add(obj.orig_id())
        try:
            wkb = self.wkb.create_multipolygon(obj)
        except (RuntimeError, osmium.InvalidLocationError):
            self.stats.skip(f"osm_area_invalid:{self.name}")
            return
        if not (self.prefilter and wkb_outside(wkb, self.bounds)):
            self.pending.append(("area", wkb, tag_pairs(obj), osm_type, obj.orig_id()))

    def flush(self) -> Iterator[Feature]:
        """The features of the pending objects, in order: geometries made for the whole batch
        at once; invalid or empty areas skipped and counted; tags decided (`select`) only for
        what lies inside the bounds."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        geoms, raw = _batch_geometries(batch)
        usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        inside = usable.copy()
        inside[usable] = shapely.intersects(geoms[usable], self.box)
        for (_, _, pairs, osm_type, osm_id), geom, wkb, ok, keep in zip(
                batch, geoms.tolist(), raw, usable.tolist(), inside.tolist(), strict=True):
            if not ok:
                self.stats.skip(f"osm_area_invalid:{self.name}")
            elif keep and (tags := self.select(pairs)) is not None:
                yield Feature("osm", geom, tags, self.name, osm_type, osm_id,
                              extra={"wkb": wkb} if wkb is not None else {})

    def finish(self) -> Iterator[Feature]:
        """After the pass: degenerate closed ways counted; the area relations osmium made no
        area of counted, or built from their closed rings (osm_relations' rule)."""
        if self.area_ways > self.way_areas:  # closed ways osmium could make no area of
            self.stats.skip(f"osm_area_invalid:{self.name}", self.area_ways - self.way_areas)
        relations = self.relations
        self.stats.read += len(relations.members)
        for relation_id, pairs in _unassembled(relations, self.assembled, self.can_rewrite):
            if not relations.incomplete(relation_id):  # every member there: osmium refused it
                self.stats.skip(f"osm_area_invalid:{self.name}")
                continue
            area = partial_area(relations, relation_id)
            if area is None:
                self.stats.skip(f"osm_relation_incomplete:{self.name}")
                continue
            self.stats.skip(f"osm_relation_partial:{self.name}")
            if area.intersects(self.box) and (tags := self.select(pairs)) is not None:
                yield Feature("osm", area, tags, self.name, "relation", relation_id)


def _unassembled(relations: AreaRelations, assembled: set[int], can_rewrite: bool
                 ) -> Iterator[tuple[int, tuple[tuple[str, str], ...]]]:
    """The area relations osmium made no area of, with their tag pairs; raises
    OsmRewriteNeeded if one of them lacks members only the rewrite can read."""
    missing = [rid for rid in relations.members if rid not in assembled]
    if can_rewrite and any(relations.needs_rewrite(rid) for rid in missing):
        raise OsmRewriteNeeded("negative member ids")
    for relation_id in missing:
        yield relation_id, relations.tags[relation_id]


def _batch_geometries(batch: list[tuple]) -> tuple[np.ndarray, list[bytes | None]]:
    """Shapely geometries of a batch: points from coordinates, lines and areas from WKB (a
    one-part multipolygon becomes its polygon; unreadable WKB becomes None); and each one's WKB
    where the bytes read are exactly its WKB (else None: points, the polygons taken out)."""
    geoms = np.empty(len(batch), dtype=object)
    raw: list[bytes | None] = [None] * len(batch)
    points = [i for i, item in enumerate(batch) if item[0] == "point"]
    others = [i for i, item in enumerate(batch) if item[0] != "point"]
    if points:
        geoms[points] = shapely.points([batch[i][1] for i in points])
    if others:
        # pyosmium writes hex WKB (the compiled pass bytes); GEOS reads bytes 5x faster than hex
        read = [bytes.fromhex(wkb) if isinstance(wkb := batch[i][1], str) else wkb
                for i in others]
        geoms[others] = shapely.from_wkb(read, on_invalid="ignore")
        single = (shapely.get_type_id(geoms) == 6) & (shapely.get_num_geometries(geoms) == 1)
        geoms[single] = shapely.get_geometry(geoms[single], 0)
        for i, wkb in zip(others, read, strict=True):
            raw[i] = wkb
        for i in np.flatnonzero(single).tolist():
            raw[i] = None
    return geoms, raw


class _MemberWays:
    """Handler for the untagged ways the tag filter drops: keeps the lines of relation
    members (untagged ways are what most multipolygon rings are made of)."""

    def __init__(self, reader: _Reader) -> None:
        self.reader = reader

    def way(self, obj) -> None:
        if obj.id in self.reader.relations.way_ids:
            self.reader.way_line(obj)


def _read_file(
    path: Path, name: str, bounds: tuple[float, float, float, float], stats: SourceStats,
    can_rewrite: bool, select: TagSelect, deciding_keys: DecidingKeys | None = None,
) -> Iterator[Feature]:
    """The reading pass over one file (see read_osm); `name` is the input as given. A PBF file
    is read by the compiled pass when it is installed (sources.osm_native), else by pyosmium."""
    native = None if can_rewrite or not path.name.lower().endswith(".pbf") else native_pass()
    if native is not None:
        yield from _read_native(native, path, name, bounds, stats, select, deciding_keys)
        return
    try:
        first_pass = AreaRelationsPass(scan_negative=can_rewrite)  # filled before any object
        reader = _Reader(name, bounds, stats, can_rewrite, select, first_pass.found,
                         prefilter=not covers_file(path, bounds))
        processor = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_areas(area_type_filter(), first_pass)
            .with_filter(osmium.filter.EmptyTagFilter())
            .with_filter(osmium.filter.EntityFilter(_FEATURE_ENTITIES))  # relations: areas
            .handler_for_filtered(_MemberWays(reader))
        )
        for obj in processor:
            if reader.add(obj):
                yield from reader.flush()
        yield from reader.flush()
        yield from reader.finish()
    except RuntimeError as exc:
        raise InputError(f"--osm {name}", f"malformed OSM data ({exc})") from None
    except ValueError as exc:  # libosmium: "OSM tag value is too long" and the like
        if can_rewrite and "too long" in str(exc):
            raise OsmRewriteNeeded(str(exc)) from None
        raise InputError(f"--osm {name}", f"unreadable OSM data ({exc})") from None


def _read_native(native, path: Path, name: str, bounds: tuple[float, float, float, float],
                 stats: SourceStats, select: TagSelect, deciding_keys: DecidingKeys | None
                 ) -> Iterator[Feature]:
    """The reading pass of `_read_file` through the compiled pass: it hands over, in batches,
    the objects the Python pass keeps in `pending` (same order, WKB as bytes) and afterwards
    its counts and the area relations; geometries, tags and relation repair stay here."""
    try:
        reader = _Reader(name, bounds, stats, False, select, AreaRelations(),
                         prefilter=not covers_file(path, bounds))
        reading = native.Pass(str(path), tuple(map(float, bounds)), reader.prefilter,
                              list(AREA_KEYS), LINEAR_VALUES,
                              None if deciding_keys is None else deciding_keys.keys, AREA_BATCH)
        while batch := reading.next_batch():  # read on in a thread of its own meanwhile
            reader.pending = batch
            yield from reader.flush()
        summary = reading.summary()
        stats.read += summary["read"]
        if deciding_keys is not None and summary["points_without_keys"]:
            deciding_keys.count(summary["points_without_keys"])
        for reason, key in (("osm_node_invalid_location", "node_invalid_location"),
                            ("osm_way_missing_nodes", "way_missing_nodes"),
                            ("osm_area_invalid", "area_invalid")):
            if summary[key]:
                stats.skip(f"{reason}:{name}", summary[key])
        reader.area_ways, reader.way_areas = summary["area_ways"], summary["way_areas"]
        reader.assembled = set(summary["assembled"])
        relations = reader.relations
        relations.members, relations.tags = summary["members"], summary["tags"]
        relations.way_ids = {way_id for ways in relations.members.values() for way_id, _ in ways}
        relations.lines = summary["lines"]
        yield from reader.finish()
    except RuntimeError as exc:
        raise InputError(f"--osm {name}", f"malformed OSM data ({exc})") from None
    except ValueError as exc:
        raise InputError(f"--osm {name}", f"unreadable OSM data ({exc})") from None
