"""Chip QC drops mostly-nodata and blank chips, and keeps ordinary imagery."""

from __future__ import annotations

import numpy as np

from geoscribe.filters.chip_qc import ChipQC


def _texture(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(30, 220, (64, 64, 3), dtype=np.uint8)


def test_textured_chip_passes():
    assert ChipQC().reason(_texture(), np.ones((64, 64), bool)) is None


def test_mostly_nodata_is_dropped_at_the_threshold():
    valid = np.ones((64, 64), bool)
    valid[:33] = False  # 51.6 % nodata
    assert ChipQC().reason(_texture(), valid) == "mostly_nodata"
    valid[:] = True
    valid[:31] = False  # 48.4 % nodata
    assert ChipQC().reason(_texture(), valid) is None


def test_black_and_white_chips_are_blank():
    valid = np.ones((64, 64), bool)
    assert ChipQC().reason(np.zeros((64, 64, 3), np.uint8), valid) == "blank_chip"
    assert ChipQC().reason(np.full((64, 64, 3), 255, np.uint8), valid) == "blank_chip"
    half = _texture()
    half[:32] = 0  # 50 % black is still an image
    assert ChipQC().reason(half, valid) is None


def test_thresholds_are_configurable():
    valid = np.ones((64, 64), bool)
    valid[:16] = False
    assert ChipQC(max_nodata_fraction=0.2).reason(_texture(), valid) == "mostly_nodata"
