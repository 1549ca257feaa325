"""RSTeller-style facts about the most salient OSM elements of a tile, and a template caption.

Salience: polygons ranked by their area inside the tile, then lines by their length inside
the tile (points only when a tile has neither); at most MAX_ELEMENTS are kept. Ranks use the
recorded (0.1-rounded) measure; ties go to the class phrase, then OSM type and id, then the
label reference. The caption is built from these facts only (wording in
prompts/captions/rsteller_template_v1.yaml).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from shapely.geometry.base import BaseGeometry

from geoscribe.qa.geometry_words import grid_position, orientation
from geoscribe.qa.rsvqa import shape_class
from geoscribe.text.templates import join_and, load_wording, with_article
from geoscribe.types import TileFeature

MAX_ELEMENTS = 3
WORDING = ("prompts", "captions", "rsteller_template_v1.yaml")


def rsteller_wording() -> tuple[str, str, dict]:
    """(template_id, sha256, wording) of the rsteller-like caption template."""
    return load_wording(*WORDING)


def geometry_kind(item: TileFeature) -> str:
    """'area' (polygons), 'line' (lines) or 'point', from the feature's own geometry."""
    kind = item.feature.geometry.geom_type
    if "Polygon" in kind:
        return "area"
    return "line" if "LineString" in kind else "point"


def _tie(item: TileFeature) -> tuple:
    f = item.feature
    return (item.name, f.osm_type or "", -1 if f.osm_id is None else f.osm_id,
            f.label_ref or "")


def salient(items: list[TileFeature], limit: int = MAX_ELEMENTS) -> list[TileFeature]:
    """The tile's most salient features: largest areas, then longest lines, else points."""
    areas = sorted((i for i in items if geometry_kind(i) == "area"),
                   key=lambda i: (-round(i.area_m2, 1), *_tie(i)))
    lines = sorted((i for i in items if geometry_kind(i) == "line"),
                   key=lambda i: (-round(i.length_m, 1), *_tie(i)))
    chosen = (areas + lines)[:limit]
    if chosen:
        return chosen
    return sorted((i for i in items if geometry_kind(i) == "point"), key=_tie)[:limit]


def element_facts(item: TileFeature, attributes: list[str], metric: BaseGeometry,
                  size: tuple[int, int]) -> dict:
    """The evidence of one element.

    `metric` is the part inside the tile in a metric frame (x east, y north) for shape and
    orientation; `size` is the chip's (width, height) for the grid position of the centroid.
    """
    kind = geometry_kind(item)
    centre = item.pixel_geometry.centroid
    f = item.feature
    return {
        "name": item.name,
        "attributes": list(attributes),
        "geometry": kind,
        "position": grid_position(centre.x, centre.y, *size),
        "area_m2": round(item.area_m2, 1) if kind == "area" else None,
        "length_m": round(item.length_m, 1) if kind == "line" else None,
        "shape": shape_class(metric) if kind == "area" else None,
        "orientation": orientation(metric) if kind != "point" else None,
        "clipped": item.clipped,
        "osm_type": f.osm_type,
        "osm_id": f.osm_id,
    }


def whole(value: float) -> int:
    """A recorded measure as the caption states it: rounded half up to an integer."""
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _size_word(area_m2: float, words: dict) -> str:
    for upper, word in words["sizes"]:
        if upper is None or area_m2 < upper:
            return word
    return words["sizes"][-1][1]


def element_phrase(element: dict, words: dict) -> str:
    """One element in words, e.g. 'a large square building of about 1,200 m² in the centre'."""
    kind = element["geometry"]
    described, adjective = element["name"], ""
    slots = {"attributes": "", "orientation": "", "clipped": "",
             "position": words["positions"][element["position"]]}
    if element["attributes"]:
        slots["attributes"] = words["attributes"].format(list=join_and(element["attributes"]))
    if element["orientation"]:
        slots["orientation"] = words["orientation"][kind].format(direction=element["orientation"])
    if element["clipped"]:
        slots["clipped"] = words["clipped"]
    if kind == "area":
        shape = "" if element["clipped"] else f" {element['shape']}"
        adjective = f"{_size_word(element['area_m2'], words)}{shape}"
        slots["area"] = f"{whole(element['area_m2']):,}"
    elif kind == "line":
        slots["length"] = f"{whole(element['length_m']):,}"
    return words[kind].format(described=with_article(described, adjective), **slots)


def elements_caption(elements: list[dict], words: dict) -> str:
    """The caption of a tile from its elements' facts only."""
    phrases = [element_phrase(e, words) for e in elements]
    if len(phrases) > 1:
        listed = words["join"].join(phrases[:-1]) + words["join_last"] + phrases[-1]
    else:
        listed = "".join(phrases)
    return words["caption"].format(elements=listed)
