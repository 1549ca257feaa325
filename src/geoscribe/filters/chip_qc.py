"""Chip quality checks applied before a record is made (each drop names its reason)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChipQC:
    """Thresholds: drop chips mostly nodata, or mostly black/white (blank)."""

    max_nodata_fraction: float = 0.5
    max_blank_fraction: float = 0.9
    dark_level: int = 5
    bright_level: int = 250

    def reason(self, rgb: np.ndarray, valid: np.ndarray) -> str | None:
        """Return a drop reason, or None if the chip is usable."""
        if valid.size and 1.0 - valid.mean() > self.max_nodata_fraction:
            return "mostly_nodata"
        darkest = rgb.max(axis=-1) <= self.dark_level
        brightest = rgb.min(axis=-1) >= self.bright_level
        if (darkest | brightest).mean() > self.max_blank_fraction:
            return "blank_chip"
        return None
