"""Chip quality checks applied before a record is made (each drop names its reason)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChipQC:
    """Thresholds for dropping unusable chips; each check below names its drop reason.

    Checks run in this order and the first that fires gives the reason:

    1. ``mostly_nodata``: the invalid fraction exceeds ``max_nodata_fraction``.
    2. ``blank_chip``: more than ``max_blank_fraction`` of all pixels are black (every band
       ``<= dark_level``) or white (every band ``>= bright_level``).
    3. ``too_dark`` / ``too_bright``: the mean grey level over valid pixels (grey = mean of the
       three bands) is below ``min_brightness`` / above ``max_brightness`` (as RSVQA did).
    4. ``low_contrast``: the (population) standard deviation of the grey level over valid
       pixels is below ``min_contrast`` (featureless water, desert, haze).
       Checks 3 and 4 use every second row and column (a quarter of the pixels).
    5. ``cloudy``: more than ``max_cloud_fraction`` of the valid pixels look like cloud: every
       band ``>= cloud_level`` and a band spread (max - min) ``<= cloud_max_spread``. With the
       default ``cloud_level=235`` the spread of such pixels is at most 20, so the spread test
       only matters for lower ``cloud_level`` values.

    Checks 3-5 are new and each is off when its threshold (``min_brightness``,
    ``max_brightness``, ``min_contrast``, ``max_cloud_fraction`` or ``cloud_level``) is None.
    They are computed exactly (on that sample for 3-4) and skipped when no pixel is valid.
    """

    max_nodata_fraction: float = 0.5
    max_blank_fraction: float = 0.9
    dark_level: int = 5
    bright_level: int = 250
    min_brightness: float | None = 30.0
    max_brightness: float | None = 225.0
    min_contrast: float | None = 4.0
    cloud_level: int | None = 235
    cloud_max_spread: int = 20
    max_cloud_fraction: float | None = 0.5

    def reason(self, rgb: np.ndarray, valid: np.ndarray | None) -> str | None:
        """Return a drop reason, or None if the chip is usable (rgb: (h, w, 3))."""
        return self.reason_planes(np.moveaxis(rgb, -1, 0), valid)

    def reason_planes(self, planes: np.ndarray, valid: np.ndarray | None) -> str | None:
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
        # a pixel cannot be both (dark_level < bright_level), so the counts add up exactly;
        # the extremes (cheap reductions) tell when a count is 0 without comparing every pixel
        brightest = int(low.max()) if low.size else 0
        blank = (_count_at_most(top, self.dark_level)
                 + (np.count_nonzero(low >= self.bright_level)
                    if brightest >= self.bright_level else 0))
        if top.size and blank / top.size > self.max_blank_fraction:
            return "blank_chip"
        return self._grey_reason(planes, valid) or self._cloud_reason(top, low, valid,
                                                                      brightest)

    def _grey_reason(self, planes: np.ndarray, valid: np.ndarray | None) -> str | None:
        """Brightness and contrast of the grey level over the valid pixels of every second row
        and column (a 2x2-strided sample: a quarter of the work; exact on that sample)."""
        checks = (self.min_brightness, self.max_brightness, self.min_contrast)
        if all(c is None for c in checks):
            return None
        valid = None if valid is None else valid[::2, ::2]
        # 3 * grey summed as uint16 (at most 765); sums and sums of squares in exact integers
        total = _sampled_band_sum(planes)
        n = total.size
        if valid is not None:
            total *= valid  # invalid pixels add nothing (cheaper than boolean indexing)
            n = np.count_nonzero(valid)
        if n == 0:
            return None
        flat = total.ravel()
        s1 = int(flat.sum(dtype=np.uint64))
        mean = s1 / (3 * n)
        if self.min_brightness is not None and mean < self.min_brightness:
            return "too_dark"
        if self.max_brightness is not None and mean > self.max_brightness:
            return "too_bright"
        if self.min_contrast is not None:
            wide = flat.astype(np.uint32)  # squares < 2**20; no BLAS (its threads spin)
            s2 = int(np.sum(wide * wide, dtype=np.uint64))
            # var(grey) = (n * sum(t^2) - sum(t)^2) / (9 n^2), with exact Python integers
            std = math.sqrt((n * s2 - s1 * s1) / (9 * n * n))
            if std < self.min_contrast:
                return "low_contrast"
        return None

    def _cloud_reason(
        self, top: np.ndarray, low: np.ndarray, valid: np.ndarray | None, brightest: int
    ) -> str | None:
        """Cloud-like pixels: bright in every band and nearly grey (low saturation).

        `brightest` is low.max(): when it is below cloud_level no pixel is bright in every
        band, and the per-pixel masks are not needed to know that."""
        if self.cloud_level is None or self.max_cloud_fraction is None:
            return None
        n = top.size if valid is None else np.count_nonzero(valid)
        if brightest < self.cloud_level:  # no cloud pixel: the counts below are all 0
            return "cloudy" if n and self.max_cloud_fraction < 0 else None
        cloud = low >= self.cloud_level
        if valid is not None:
            cloud &= valid
        # the spread test only removes pixels: skip it when the bright ones are already few
        if not n or np.count_nonzero(cloud) / n <= self.max_cloud_fraction:
            return None
        cloud &= top - low <= self.cloud_max_spread  # top >= low: no uint8 wrap-around
        if np.count_nonzero(cloud) / n > self.max_cloud_fraction:
            return "cloudy"
        return None


def _count_at_most(values: np.ndarray, level: int) -> int:
    """How many values are <= level (0 without a pass over them when the minimum is above)."""
    if not values.size or int(values.min()) > level:
        return 0
    return int(np.count_nonzero(values <= level))


def _sampled_band_sum(planes: np.ndarray) -> np.ndarray:
    """The bands summed as uint16 over every second row and column (the 2x2-strided sample).

    Contiguous uint8 rows of even width are read as little-endian uint16 pairs whose low byte
    is the even column: masking it off is cheaper than a strided uint8 -> uint16 cast."""
    rows = planes[:, ::2, :]
    if planes.dtype == np.uint8 and planes.shape[-1] % 2 == 0 and planes.strides[-1] == 1:
        even = rows.view("<u2") & 0xFF
        total = even[0] + even[1]
        for band in even[2:]:
            total += band
        return total
    rows = rows[:, :, ::2]
    total = np.add(rows[0], rows[1], dtype=np.uint16)
    for band in rows[2:]:
        np.add(total, band, out=total)
    return total
