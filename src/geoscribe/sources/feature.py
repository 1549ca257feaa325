"""What a source reader reports besides its features (geoscribe.types.Feature)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SourceStats:
    """What a source reader saw: elements read, kept, and skipped by reason (naming inputs)."""

    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n
