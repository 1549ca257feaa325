"""Mappings from known label schemas to OSM-style tags (documented in the README).

SpaceNet roads (SpaceNet 3 / solaris samples) carry numeric attributes; we map them to the
OSM tags they were derived from (SpaceNet 3 road_type codes follow OSM highway classes).
"""

from __future__ import annotations

import contextlib
import json
import re

SPACENET_ROAD_TYPE = {
    "1": "motorway", "2": "primary", "3": "secondary", "4": "tertiary",
    "5": "residential", "6": "unclassified", "7": "track",
}
SPACENET_PAVED = {"1": "paved", "2": "unpaved"}

_HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"\s*=>\s*(NULL|"((?:[^"\\]|\\.)*)")')


def is_spacenet_roads(columns: set[str]) -> bool:
    """SpaceNet road labels have road_type and lane_number/paved columns."""
    return "road_type" in columns and ("paved" in columns or "lane_number" in columns)


def spacenet_road_tags(props: dict) -> dict[str, str]:
    """OSM-style tags for one SpaceNet road: highway, surface, lanes, bridge, oneway."""
    tags: dict[str, str] = {}
    road_type = str(props.get("road_type", "")).strip()
    if road_type in SPACENET_ROAD_TYPE:
        tags["highway"] = SPACENET_ROAD_TYPE[road_type]
    paved = str(props.get("paved", "")).strip()
    if paved in SPACENET_PAVED:
        tags["surface"] = SPACENET_PAVED[paved]
    lanes = str(props.get("lane_number", props.get("lane_numbe", ""))).strip()
    if lanes.isdigit() and int(lanes) > 0:
        tags["lanes"] = lanes
    if str(props.get("bridge_typ", "")).strip() == "1":
        tags["bridge"] = "yes"
    if str(props.get("one_way_ty", "")).strip() == "1":
        tags["oneway"] = "yes"
    return tags


def parse_hstore(text: str) -> dict[str, str]:
    """Parse an osm2pgsql hstore string `"k"=>"v", ...` into a dict."""
    tags = {}
    for match in _HSTORE_PAIR.finditer(text or ""):
        if match.group(2) != "NULL":
            tags[match.group(1).replace('\\"', '"')] = match.group(3).replace('\\"', '"')
    return tags


def column_tags(props: dict) -> dict[str, str]:
    """Tags from columns named like OSM keys, plus an hstore/JSON `tags` field if present."""
    tags: dict[str, str] = {}
    raw = props.get("tags")
    if isinstance(raw, dict):
        tags.update({str(k): str(v) for k, v in raw.items()})
    elif isinstance(raw, str) and raw.strip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            tags.update({str(k): str(v) for k, v in json.loads(raw).items()})
    elif isinstance(raw, str):
        tags.update(parse_hstore(raw))
    for key, value in props.items():
        if key == "tags" or value is None:
            continue
        if isinstance(value, float) and value != value:  # NaN
            continue
        text = str(value).strip()
        if text:
            tags.setdefault(key, text)
    return tags
