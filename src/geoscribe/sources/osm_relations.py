"""Multipolygon relations osmium cannot assemble because members are missing from the extract.

A first pass over the file's relations lists the area relations (`type=multipolygon` or
`type=boundary` with a tag besides `type`, the ones osmium assembles) and their member ways;
the reading pass keeps the line of every such member way it meets. A relation one of whose
member ways is absent from the file, or lacks node locations, is *incomplete*. The rule for an
incomplete relation (docs/architecture.md, "Incomplete multipolygon relations"):

- the closed rings formed by its present `outer` member ways (or ways with an empty role) are
  its outer area, the closed rings of its present `inner` ways are cut out of it; member lines
  that close no ring are left out;
- if no outer ring closes, nothing is built and the relation is counted as
  `osm_relation_incomplete:<input>`; otherwise the area is built (holes whose ways are missing
  are missing too) and counted as `osm_relation_partial:<input>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import osmium
import shapely
from shapely.geometry.base import BaseGeometry

AREA_RELATION_TYPES = ("multipolygon", "boundary")
OUTER_ROLES = ("outer", "")
MISSING_NODES = None  # a member way present in the file without every node location
NEGATIVE_NODES = b""  # ... whose missing nodes have negative ids (JOSM: needs the rewrite)
DEGENERATE = ""  # a member way with every node location but fewer than two nodes


@dataclass
class AreaRelations:
    """The area relations of a file: member ways (id, role) and tags per relation, each member way's
    line as met in the reading pass (hex WKB, or MISSING_NODES / NEGATIVE_NODES / DEGENERATE)."""

    members: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    tags: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    negative_refs: set[int] = field(default_factory=set)  # relations naming a negative way id
    way_ids: set[int] = field(default_factory=set)
    lines: dict[int, str | bytes | None] = field(default_factory=dict)

    def incomplete(self, relation_id: int) -> bool:
        """Whether a member way is missing from the file or lacks node locations."""
        return any(self.lines.get(way_id, MISSING_NODES) in (MISSING_NODES, NEGATIVE_NODES)
                   for way_id, _ in self.members[relation_id])

    def needs_rewrite(self, relation_id: int) -> bool:
        """Whether the relation's missing parts are negative ids (readable only rewritten)."""
        return (relation_id < 0 or relation_id in self.negative_refs
                or any(self.lines.get(way_id) == NEGATIVE_NODES
                       for way_id, _ in self.members[relation_id]))


def is_area_relation(tags) -> bool:
    """Whether osmium assembles a relation with these tags into an area that keeps a tag."""
    return tags.get("type") in AREA_RELATION_TYPES and len(tags) > 1


class AreaRelationsPass:
    """The first pass, as a handler for osmium's own relation pass of the area assembly (the
    file is read once for both): every area relation of the file and its member ways in
    `found` (`scan_negative`: note relations naming negative way ids). Install it after
    `area_type_filter()`: only area-typed relations then reach Python."""

    def __init__(self, scan_negative: bool) -> None:
        self.found = AreaRelations()
        self.scan_negative = scan_negative

    def relation(self, relation) -> None:  # returns None: lets every relation pass
        if not is_area_relation(relation.tags):
            return
        found = self.found
        ways = [(m.ref, m.role) for m in relation.members if m.type == "w"]
        found.members[relation.id] = ways
        found.tags[relation.id] = tuple((tag.k, tag.v) for tag in relation.tags
                                        if tag.k != "type")  # as osmium's areas: no `type`
        found.way_ids.update(way_id for way_id, _ in ways)
        if self.scan_negative and any(way_id < 0 for way_id, _ in ways):
            found.negative_refs.add(relation.id)


def area_type_filter() -> osmium.filter.TagFilter:
    """The relations osmium assembles into areas (and the only ones it reads for them)."""
    return osmium.filter.TagFilter(*(("type", kind) for kind in AREA_RELATION_TYPES))


def _faces(lines: list[BaseGeometry]) -> BaseGeometry:
    """The area enclosed by the closed rings the lines form (nested rings: the outermost)."""
    faces = shapely.get_parts(shapely.polygonize(lines))
    return shapely.union_all(faces) if len(faces) else shapely.Polygon()


def partial_area(relations: AreaRelations, relation_id: int) -> BaseGeometry | None:
    """The area of an incomplete relation from its present closed rings (the module's rule),
    a Polygon or MultiPolygon, or None when no outer ring closes."""
    outer, inner = [], []
    for way_id, role in relations.members[relation_id]:
        line = relations.lines.get(way_id)
        if line:
            (outer if role in OUTER_ROLES else inner if role == "inner" else []).append(
                shapely.from_wkb(line))
    area = _faces(outer)
    if inner and not area.is_empty:
        area = area.difference(_faces(inner))
    polygons = [p for p in shapely.get_parts(area) if p.geom_type == "Polygon" and p.area > 0]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
