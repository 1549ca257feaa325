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
        """Return a drop reason, or None if the chip is usable (rgb: (h, w, 3))."""
        return self.reason_planes(np.moveaxis(rgb, -1, 0), valid)

    def reason_planes(self, planes: np.ndarray, valid: np.ndarray) -> str | None:
        """The same check on band planes (3, h, w), as the chip reader returns them."""
        if valid is not None and valid.size and (
            1.0 - np.count_nonzero(valid) / valid.size > self.max_nodata_fraction
        ):
            return "mostly_nodata"
        # Per-pixel max/min over the bands as element-wise ops on the planes: the same values
        # as a reduction over the band axis, much faster than reducing a short axis.
        top = low = planes[0]
        for band in planes[1:]:
            top = np.maximum(top, band)
            low = np.minimum(low, band)
        # a pixel cannot be both (dark_level < bright_level), so the counts add up exactly
        blank = (np.count_nonzero(top <= self.dark_level)
                 + np.count_nonzero(low >= self.bright_level))
        if top.size and blank / top.size > self.max_blank_fraction:
            return "blank_chip"
        return None
