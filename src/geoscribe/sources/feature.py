"""The vector feature every source yields: WGS84 geometry + OSM-style tags + provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

from shapely.geometry.base import BaseGeometry


@dataclass
class Feature:
    """One OSM element or vector label, in WGS84 lon/lat."""

    source: str  # "osm" | "labels"
    geometry: BaseGeometry
    tags: dict[str, str]
    input: str  # the file it came from
    osm_type: str | None = None  # node | way | relation
    osm_id: int | None = None
    label_ref: str | None = None  # "<file stem>:<row>" for vector labels
    extra: dict = field(default_factory=dict)

    @property
    def source_id(self) -> str:
        """Stable, dot-free id of the feature within its source."""
        if self.osm_type and self.osm_id is not None:
            return f"{self.osm_type[0]}{self.osm_id}"
        return (self.label_ref or "unknown").replace(".", "-").replace(":", "-")


@dataclass
class SourceStats:
    """What a source reader saw: elements read, kept, and skipped by reason (naming inputs)."""

    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n
