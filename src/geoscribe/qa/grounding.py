"""Grounded instructions (GeoChat / refGeo style) from the features of a tile.

Boxes are written in GeoChat's format `{<x1><y1><x2><y2>|<θ>}`: corners as integers 0-100 of
the chip's width/height, θ the rotation in degrees of the geometry's minimum rotated rectangle
(polygons and lines; 0 for points; measured in image pixels, x right and y down, in -90..89,
squares in -45..44), or as plain JSON pixel boxes `[x1, y1, x2, y2]`. Box and θ are both of
the part of the feature inside the tile (`TileFeature.pixel_geometry`): a building cut by the
tile's edge is boxed and turned as it is seen, not as its whole outline.
A referring expression is the object's class plus, when the class is not unique in the chip,
its position in a 3x3 grid, plus its size for polygons; expressions that still match several
objects are not asked.
"""

from __future__ import annotations

import json
import math
from collections import Counter

import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.qa.rsvqa import size_class
from geoscribe.text.templates import join_and, load_wording, with_article
from geoscribe.types import TileFeature

GRID = (("top left", "top", "top right"), ("left", "centre", "right"),
        ("bottom left", "bottom", "bottom right"))


def geochat_templates() -> tuple[str, str, dict[str, str]]:
    return load_wording("prompts", "instructions", "geochat_v1.yaml")


def rotation_deg(geom_px: BaseGeometry) -> int:
    """Angle (degrees, -90..89) of the long side of the minimum rotated rectangle."""
    if geom_px.geom_type == "Point" or geom_px.is_empty:
        return 0
    rect = shapely.minimum_rotated_rectangle(geom_px)
    coords = list(rect.exterior.coords) if rect.geom_type == "Polygon" else list(rect.coords)
    if len(coords) < 2:
        return 0
    edges = [(coords[i], coords[i + 1]) for i in range(len(coords) - 1)]
    lengths = [math.dist(a, b) for a, b in edges]
    (x0, y0), (x1, y1) = edges[lengths.index(max(lengths))]
    angle = math.degrees(math.atan2(y1 - y0, x1 - x0))
    if len(edges) == 4 and min(lengths) > 0.99 * max(lengths):  # a square: any side will do
        angle = (angle + 45) % 90 - 45
    else:
        angle = (angle + 90) % 180 - 90
    rounded = int(round(angle))
    return -90 if rounded == 90 else rounded


def geochat_box(bbox_px, size: int, theta: int) -> str:
    """`{<x1><y1><x2><y2>|<θ>}` with corners scaled to 0-100."""
    x0, y0, x1, y1 = (max(0, min(100, round(v / size * 100))) for v in bbox_px)
    return f"{{<{x0}><{y0}><{x1}><{y1}>|<{theta}>}}"


def json_box(bbox_px) -> str:
    return json.dumps([round(v, 1) for v in bbox_px])


def position(bbox_px, size: int) -> str:
    cx, cy = (bbox_px[0] + bbox_px[2]) / 2, (bbox_px[1] + bbox_px[3]) / 2
    col = min(2, int(cx / size * 3))
    row = min(2, int(cy / size * 3))
    return GRID[row][col]


def referring_expressions(items: list[TileFeature], size: int) -> list[tuple[str, TileFeature]]:
    """Expressions that pick out exactly one object of the tile."""
    per_class = Counter(i.name for i in items)
    candidates = []
    for item in items:
        if per_class[item.name] == 1:
            expression = f"the {item.name}"
        else:
            size_word = f"{size_class(item.area_m2)} " if item.area_m2 > 0 else ""
            where = position(item.bbox_px, size)
            expression = f"the {size_word}{item.name} at the {where}" if where != "centre" \
                else f"the {size_word}{item.name} in the centre"
        candidates.append((expression, item))
    counts = Counter(expression for expression, _ in candidates)
    return [(e, i) for e, i in candidates if counts[e] == 1]


def grounded_conversations(items: list[TileFeature], size: int, box_format: str,
                           max_items: int = 6) -> list[dict]:
    """LLaVA-style turns: grounded description, referring and identify questions."""
    words = geochat_templates()[2]

    def box(item: TileFeature) -> str:
        if box_format == "json":
            return json_box(item.bbox_px)
        return geochat_box(item.bbox_px, size, rotation_deg(item.pixel_geometry))

    shown = items[:max_items]
    turns = [
        {"from": "human", "value": words["grounding_request"]},
        {"from": "gpt", "value": words["grounding_answer"].format(items=join_and(
            words["grounding_answer_item"].format(article_name=with_article(i.name), box=box(i))
            for i in shown))},
    ]
    for expression, item in referring_expressions(items, size)[:max_items]:
        turns.append({"from": "human", "value": words["refer_request"].format(
            expression=expression)})
        turns.append({"from": "gpt", "value": box(item)})
    for item in shown[:2]:
        turns.append({"from": "human", "value": words["identify_request"].format(box=box(item))})
        turns.append({"from": "gpt", "value": words["identify_answer"].format(
            article_name=with_article(item.name))})
    return turns
