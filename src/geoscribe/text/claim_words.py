"""The word tables of the claim checker (text/claims.py): sentence and clause splitters,
negation, position, orientation, size, shape, cut-by-edge and share words, template-list
items, and rsteller's size bins (issue 13)."""

from __future__ import annotations

import re

SENTENCE = re.compile(r"(?:[^.;!?]|\.(?=\d))+[.;!?]*")  # "1.5 km" ends no sentence
CLAUSE = re.compile(r"(?:[^,:()]|,(?=\d{3}))+")  # "1,240" ends no clause
NEGATOR = re.compile(r"\b(?:no|not|without|free of|none of|lacks?|lacking|lack of|absence of|"
                      r"nor|never|neither|zero)\b|n't\b", re.IGNORECASE)
BRIDGE = re.compile(r"^(?:\s|\b(?:a|an|any|the|single|other|more|visible|mapped|or|nor|and|"
                     r"sign of|signs of|trace of|kind of|type of|there|is|are)\b|,)*$",
                     re.IGNORECASE)
ABSENT_AFTER = re.compile(r"^\s*(?:is|are)\s+(?:absent|missing|not\b)", re.IGNORECASE)
CELLS = {"top left": "top left", "top-left": "top left", "upper left": "top left",
          "upper-left": "top left", "northwest": "top left", "north-west": "top left",
          "top right": "top right", "top-right": "top right", "upper right": "top right",
          "upper-right": "top right", "northeast": "top right", "north-east": "top right",
          "bottom left": "bottom left", "bottom-left": "bottom left",
          "lower left": "bottom left", "lower-left": "bottom left",
          "southwest": "bottom left", "south-west": "bottom left",
          "bottom right": "bottom right", "bottom-right": "bottom right",
          "lower right": "bottom right", "lower-right": "bottom right",
          "southeast": "bottom right", "south-east": "bottom right",
          "top": "top", "upper": "top", "north": "top", "northern": "top",
          "bottom": "bottom", "lower": "bottom", "south": "bottom", "southern": "bottom",
          "left": "left", "west": "left", "western": "left",
          "right": "right", "east": "right", "eastern": "right",
          "centre": "centre", "center": "centre", "middle": "centre", "central": "centre"}
POSITION = re.compile(r"\b(" + "|".join(sorted(CELLS, key=len, reverse=True)) + r")\b",
                       re.IGNORECASE)
BARE = frozenset({"top", "bottom", "left", "right", "upper", "lower", "north", "south", "east",
                   "west"})  # position words only after "the" or before "side", "part"...
PLACE_AFTER = re.compile(r"\s*(?:-hand\b|side|part|half|corner|portion|section|edge|area|"
                          r"end)\b", re.IGNORECASE)


def positions_in(text: str) -> list[re.Match]:
    """Position phrases of a text ("in the top left", "the upper part", "the north"), not
    "that is right" or "left behind"."""
    found = []
    for match in POSITION.finditer(text):
        word = match.group(1).lower()
        if word in BARE and not (re.search(r"\bthe\s+$", text[:match.start()], re.IGNORECASE)
                                  or PLACE_AFTER.match(text[match.end():])):
            continue
        found.append(match)
    return found


COMPASS = r"(north[- ]?east|north[- ]?west|south[- ]?east|south[- ]?west|north|south|east|west)"
ORIENTATION = re.compile(rf"\b{COMPASS}\s*(?:-|–|to)\s*{COMPASS}\b|\b(diagonal(?:ly)?|"
                          r"vertical(?:ly)?|horizontal(?:ly)?)\b", re.IGNORECASE)
AXES = {frozenset({"north", "south"}): "north-south", frozenset({"east", "west"}): "east-west",
         frozenset({"northeast", "southwest"}): "northeast-southwest",
         frozenset({"northwest", "southeast"}): "northwest-southeast"}
SHARE_PHRASE = re.compile(r"\b(?:a\s+)?(?:large|small|big)\s+(?:part|share|portion|proportion|"
                           r"fraction|area|areas|amount)\b|\blargely\b|\ba little\b",
                           re.IGNORECASE)
SIZES = {"small": "small", "tiny": "small", "little": "small", "medium": "medium",
          "medium-sized": "medium", "mid-sized": "medium", "moderate-sized": "medium",
          "large": "large", "big": "large", "huge": "large", "sizeable": "large",
          "sizable": "large", "massive": "large"}
SIZE = re.compile(r"\b(" + "|".join(sorted(SIZES, key=len, reverse=True)) + r")\b",
                   re.IGNORECASE)
SHAPES = {"square": "square", "rectangular": "rectangular", "rectangle": "rectangular",
           "elongated": "elongated", "long and narrow": "elongated", "round": "round",
           "circular": "round", "irregular": "irregular", "irregularly shaped": "irregular"}
SHAPE = re.compile(r"\b(" + "|".join(sorted(SHAPES, key=len, reverse=True)) + r")\b",
                    re.IGNORECASE)
EDGE = re.compile(r"\b(?:cut (?:off )?by the (?:image |picture |tile )?(?:edge|border|frame)|"
                   r"cut off|partly outside|partially outside|partly visible|partially "
                   r"visible|extends? (?:beyond|past|out of) the (?:image|frame|edge|tile)|"
                   r"truncated|clipped)\b", re.IGNORECASE)
MOSTLY = re.compile(r"\b(?:mostly|mainly|predominantly|dominated by|primarily|chiefly)\b",
                     re.IGNORECASE)
ITEM_END = r"([a-z][a-z'/-]*(?:\s+[a-z][a-z'/-]*){0,4}?)(?=\s*(?:[,;.]|$|\s+and\b))"
LISTED = re.compile(r"(?:[:,;]\s*|\bimage of\s+|\band\s+|\bwith\s+)(\d+|an?(?=\s))\s+" + ITEM_END,
                     re.IGNORECASE)  # the items of a template list ("also visible: 12 trees")
ONE_ITEM = re.compile(r"(?:[:,;]\s*|\band\s+|\bwith\s+)(an?)\s+" + ITEM_END,
                       re.IGNORECASE)  # an item of a list counted by its article ("and a tree")
SIZE_BINS = ((100.0, "small"), (1000.0, "medium"))  # rsteller's: < 100 m² small, < 1000 medium
WORD = re.compile(r"[a-z][a-z'-]+", re.IGNORECASE)


def size_word(area_m2: float | None) -> str | None:
    """rsteller's size word of an area (prompts/captions/rsteller_template_v1.yaml)."""
    if area_m2 is None:
        return None
    return next((word for limit, word in SIZE_BINS if area_m2 < limit), "large")
