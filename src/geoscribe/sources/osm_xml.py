"""Rewrite an OSM XML file into one pyosmium reads whole (the slow path, used only when needed).

libosmium refuses a whole file over one tag key or value longer than 1024 bytes, and its node
location index drops negative ids (JOSM's new, unsaved objects), so ways built from them lose
their geometry. The rewrite drops over-long tags (counted) and maps negative ids of each type
to positive ones above the file's largest id of that type; `IdOffsets.original` maps them back.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from geoscribe.errors import InputError

MAX_STRING_BYTES = 1024  # libosmium's max_osm_string_length (256 * 4)
OBJECT_TYPES = ("node", "way", "relation")
CHUNK = 1 << 20


@dataclass
class IdOffsets:
    """Per OSM type, the largest positive id in the file: negative id -k was written as max + k."""

    largest: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OBJECT_TYPES, 0))

    def mapped(self, osm_type: str, osm_id: int) -> int:
        return self.largest[osm_type] - osm_id if osm_id < 0 else osm_id

    def original(self, osm_type: str, osm_id: int) -> int:
        largest = self.largest[osm_type]
        return largest - osm_id if osm_id > largest else osm_id


def _open(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def _refuse_entities(*_args) -> None:
    raise InputError("--osm", "entity declarations are not allowed in OSM XML")


def _parse(path: Path, start: Callable, end: Callable | None = None) -> None:
    """Stream the file through expat (no DTD entities, nothing fetched) calling the handlers."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = _refuse_entities
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    try:
        with _open(path) as raw:
            while chunk := raw.read(CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except (expat.ExpatError, OSError, EOFError) as exc:
        raise InputError(f"--osm {path}", f"malformed OSM data ({exc})") from None
    except InputError as exc:
        raise InputError(f"--osm {path}", exc.problem) from None


def largest_ids(path: Path) -> IdOffsets:
    """The largest positive id of each OSM type in the file (a first pass)."""
    offsets = IdOffsets()

    def start(name: str, attrs: dict[str, str]) -> None:
        if name in offsets.largest and attrs.get("id", "").isdigit():
            offsets.largest[name] = max(offsets.largest[name], int(attrs["id"]))

    _parse(path, start)
    return offsets


def _too_long(*values: str | None) -> bool:
    return any(v is not None and len(v.encode("utf-8")) > MAX_STRING_BYTES for v in values)


def _fixed_attrs(name: str, attrs: dict[str, str], offsets: IdOffsets) -> dict[str, str]:
    """Attributes with negative ids mapped and an over-long user name or role emptied."""
    attrs = dict(attrs)
    if name in OBJECT_TYPES and "id" in attrs:
        attrs["id"] = str(offsets.mapped(name, int(attrs["id"])))
    elif name == "nd" and "ref" in attrs:
        attrs["ref"] = str(offsets.mapped("node", int(attrs["ref"])))
    elif name == "member" and attrs.get("type") in OBJECT_TYPES and "ref" in attrs:
        attrs["ref"] = str(offsets.mapped(attrs["type"], int(attrs["ref"])))
    for key in ("user", "role"):
        if _too_long(attrs.get(key)):
            attrs[key] = ""
    return attrs


def rewrite_osm_xml(path: Path, out: Path, offsets: IdOffsets, on_long_tag: Callable[[], None]
                    ) -> None:
    """Write `path` (OSM XML, maybe compressed) to `out` with ids mapped by `offsets` and every
    tag whose key or value is over MAX_STRING_BYTES dropped (`on_long_tag` called for each)."""
    skipping = 0  # depth inside a dropped element

    with out.open("w", encoding="utf-8") as dst:
        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal skipping
            if skipping or (name == "tag" and _too_long(attrs.get("k"), attrs.get("v"))):
                if not skipping:
                    on_long_tag()
                skipping += 1
                return
            try:
                fixed = _fixed_attrs(name, attrs, offsets)
            except ValueError:
                raise InputError("--osm", f"<{name}> with a non-numeric id") from None
            dst.write(f"<{name}" + "".join(f" {k}={quoteattr(v)}" for k, v in fixed.items())
                      + ">")

        def end(name: str) -> None:
            nonlocal skipping
            if skipping:
                skipping -= 1
            else:
                dst.write(f"</{name}>\n")

        dst.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        _parse(path, start, end)
