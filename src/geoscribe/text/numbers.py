"""Numbers and their units in English text: digits and number words (text2num's alpha2digit:
"seventy-five percent" -> 75, "one hundred" -> 100), with the unit that follows them (%, m,
m², ha, km, km²) converted exactly to a base unit (m for lengths, m² for areas). Issue 13."""

from __future__ import annotations

import re
from dataclasses import dataclass

from text_to_num import alpha2digit

# unit as written -> (kind, factor to the base unit of its kind)
UNITS = {
    "%": ("percent", 1.0), "percent": ("percent", 1.0), "per cent": ("percent", 1.0),
    "m²": ("area", 1.0), "m2": ("area", 1.0), "sq m": ("area", 1.0),
    "square metres": ("area", 1.0), "square meters": ("area", 1.0),
    "square metre": ("area", 1.0), "square meter": ("area", 1.0),
    "ha": ("area", 10_000.0), "hectares": ("area", 10_000.0), "hectare": ("area", 10_000.0),
    "km²": ("area", 1e6), "km2": ("area", 1e6), "square kilometres": ("area", 1e6),
    "square kilometers": ("area", 1e6),
    "m": ("length", 1.0), "metres": ("length", 1.0), "meters": ("length", 1.0),
    "metre": ("length", 1.0), "meter": ("length", 1.0),
    "km": ("length", 1000.0), "kilometres": ("length", 1000.0),
    "kilometers": ("length", 1000.0), "kilometre": ("length", 1000.0),
    "kilometer": ("length", 1000.0),
    # imperial units, exact: a share restated as "12 acres" is an area, not a percentage
    "acres": ("area", 4046.8564224), "acre": ("area", 4046.8564224),
    "square feet": ("area", 0.09290304), "sq ft": ("area", 0.09290304),
    "feet": ("length", 0.3048), "foot": ("length", 0.3048), "ft": ("length", 0.3048),
    "yards": ("length", 0.9144), "yard": ("length", 0.9144),
    "miles": ("length", 1609.344), "mile": ("length", 1609.344),
}
_UNIT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_QUANTITY = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?!\d)(?!st\b|nd\b|rd\b|th\b)"
    rf"(?:\s*(?:({_UNIT})(?![\w²])))?", re.IGNORECASE)


@dataclass(frozen=True)
class Quantity:
    """One number in a text: its value in the base unit of its kind, where it stands."""

    value: float  # in the base unit: m for lengths, m² for areas, percent points for %
    number: float  # as written (1.5 of "1.5 km")
    kind: str  # "count" (no unit), "percent", "length" or "area"
    start: int
    end: int
    written: str


_ORDINAL = re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|"
                      r"tenth|eleventh|twelfth)\b", re.IGNORECASE)


def digits(text: str) -> str:
    """The text with every number word written in digits ("one hundred" -> "100"); ordinal
    words stay words ("a second hand shop" names a class, it counts nothing)."""
    kept = [m.group(0) for m in _ORDINAL.finditer(text)]
    masked = _ORDINAL.sub("\ue000", text)
    converted = alpha2digit(masked, "en", threshold=0)
    parts = converted.split("\ue000")
    if len(parts) != len(kept) + 1:  # the converter moved a placeholder: keep its reading
        return alpha2digit(text, "en", threshold=0)
    return "".join(p + (kept[i] if i < len(kept) else "") for i, p in enumerate(parts))


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` (already in digits: see `digits`), in order, with its unit."""
    found = []
    for match in _QUANTITY.finditer(text):
        value = float(match.group(1).replace(",", ""))
        unit = (match.group(2) or "").lower()
        kind, factor = UNITS.get(unit, ("count", 1.0))
        found.append(Quantity(value * factor, value, kind, match.start(), match.end(),
                              match.group(0).strip()))
    return found


def same_value(stated: float, fact: float, kind: str) -> bool:
    """Whether a stated value states a fact: percentages within 1 point, others within 2 %
    (or half a unit): 1.5 km states 1,500 m, 0.5 ha states 5,000 m²."""
    if kind == "percent":
        return abs(stated - fact) <= 1.0
    return abs(stated - fact) <= max(0.02 * abs(fact), 0.5)
