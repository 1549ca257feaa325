"""Grounded instructions (GeoChat / refGeo style) from the features of a tile.

Boxes are written in GeoChat's format `{<x1><y1><x2><y2>|<θ>}`: corners as integers 0-100 of
the chip's width/height, θ the rotation in degrees of the geometry's minimum rotated rectangle
(polygons and lines; 0 for points; measured in image pixels, x right and y down, in -90..89,
squares in -45..44), or as plain JSON pixel boxes `[x1, y1, x2, y2]`. Box and θ are both of
the part of the feature inside the tile (`TileFeature.pixel_geometry`): a building cut by the
tile's edge is boxed and turned as it is seen, not as its whole outline.
A referring expression is the shortest of: the object's class; its class and its cell of a 3x3
grid; its size word (polygons), class and cell — that fits no other object of the tile (each
expression is evaluated against every object of the tile). An object none singles out is not
referred to: a theatre node in the cell of a theatre polygon ("the theatre at the top" fits
both; the polygon is "the large theatre at the top"), or one of two small houses in one cell.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Referent:
    """What a referring expression says: the class, and optionally size word and grid cell."""

    name: str
    size: str | None = None
    where: str | None = None

    def text(self) -> str:
        """'the theatre', 'the theatre at the top', 'the large theatre in the centre'."""
        described = f"{self.size} {self.name}" if self.size else self.name
        if self.where is None:
            return f"the {described}"
        return f"the {described} {'in' if self.where == 'centre' else 'at'} the {self.where}"

    def fits(self, item: TileFeature, size: int) -> bool:
        """Whether the object fits every attribute the expression states."""
        return (item.name == self.name
                and (self.size is None or _size_word(item) == self.size)
                and (self.where is None or position(item.bbox_px, size) == self.where))


def _size_word(item: TileFeature) -> str | None:
    return size_class(item.area_m2) if item.area_m2 > 0 else None


def referring_expressions(items: list[TileFeature], size: int) -> list[tuple[str, TileFeature]]:
    """Expressions that pick out exactly one object of the tile: the shortest of class, class
    at its 3x3-grid cell, and size + class at its cell (polygons) that fits no other object of
    the tile; an object no expression singles out is not referred to."""
    found = []
    for item in items:
        where = position(item.bbox_px, size)
        options = [Referent(item.name), Referent(item.name, where=where)]
        if _size_word(item):
            options.append(Referent(item.name, _size_word(item), where))
        for referent in options:
            if sum(referent.fits(other, size) for other in items) == 1:
                found.append((referent.text(), item))
                break
    return found


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
