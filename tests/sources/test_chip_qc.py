"""Chip QC drops mostly-nodata and blank chips, and keeps ordinary imagery."""

from __future__ import annotations

import numpy as np

from geoscribe.sources.chip_qc import ChipQC


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


# --- brightness, contrast and cloud checks -------------------------------------------------

ALL = np.ones((64, 64), bool)


def _two_level(a: int, b: int, n_a: int = 2048, shape=(64, 64)) -> np.ndarray:
    """A grey chip whose first n_a pixels (row-major) are level a and the rest level b."""
    flat = np.full(shape[0] * shape[1], b, np.uint8)
    flat[:n_a] = a
    return np.repeat(flat.reshape(shape)[..., None], 3, axis=2)


def _reference(rgb: np.ndarray, valid: np.ndarray, qc: ChipQC) -> str | None:
    """The new checks written plainly in float64 over the band axis (nodata/blank pass);
    brightness and contrast on every second row and column, as documented."""
    px = rgb[valid].astype(np.float64)
    grey = rgb[::2, ::2][valid[::2, ::2]].astype(np.float64).mean(axis=1)
    if qc.min_brightness is not None and grey.mean() < qc.min_brightness:
        return "too_dark"
    if qc.max_brightness is not None and grey.mean() > qc.max_brightness:
        return "too_bright"
    if qc.min_contrast is not None and grey.std() < qc.min_contrast:
        return "low_contrast"
    cloud = (px.min(axis=1) >= qc.cloud_level) & (np.ptp(px, axis=1) <= qc.cloud_max_spread)
    if cloud.mean() > qc.max_cloud_fraction:
        return "cloudy"
    return None


def test_too_dark_below_min_brightness_only():
    assert ChipQC().reason(_two_level(20, 38), ALL) == "too_dark"  # mean 29, std 9
    assert ChipQC().reason(_two_level(21, 39), ALL) is None  # mean 30: just inside
    assert ChipQC(min_brightness=None).reason(_two_level(20, 38), ALL) is None


def test_too_bright_above_max_brightness_only():
    assert ChipQC().reason(_two_level(216, 236), ALL) == "too_bright"  # mean 226
    assert ChipQC().reason(_two_level(215, 235), ALL) is None  # mean 225, 50 % cloud
    qc = ChipQC(max_brightness=None, max_cloud_fraction=None)
    assert qc.reason(_two_level(216, 236), ALL) is None


def test_low_contrast_below_min_std():
    assert ChipQC().reason(_two_level(100, 107), ALL) == "low_contrast"  # std 3.5
    assert ChipQC().reason(_two_level(100, 108), ALL) is None  # std exactly 4
    assert ChipQC().reason(_two_level(100, 100), ALL) == "low_contrast"
    assert ChipQC(min_contrast=None).reason(_two_level(100, 100), ALL) is None


def test_grey_is_the_mean_of_the_bands():
    rgb = _two_level(100, 108)
    rgb[..., 0] = 0  # every pixel: (0, v, v) -> grey 2 v / 3, mean 69.3, std 2.67
    assert ChipQC().reason(rgb, ALL) == "low_contrast"


def test_cloudy_above_max_cloud_fraction():
    # 2049 of 4096 pixels at 240 (cloud), the rest at 100: mean 170, high contrast
    assert ChipQC().reason(_two_level(240, 100, n_a=2049), ALL) == "cloudy"
    assert ChipQC().reason(_two_level(240, 100, n_a=2048), ALL) is None  # exactly 50 %
    assert ChipQC().reason(_two_level(234, 100, n_a=3000), ALL) is None  # below cloud_level
    qc = ChipQC(max_cloud_fraction=None)
    assert qc.reason(_two_level(240, 100, n_a=2049), ALL) is None
    assert ChipQC(cloud_level=None).reason(_two_level(240, 100, n_a=2049), ALL) is None


def test_coloured_bright_pixels_are_not_cloud():
    rgb = _two_level(230, 100, n_a=3000)
    rgb[:, :, 0] = np.where(rgb[:, :, 0] == 230, 250, 100)  # (250, 230, 230): spread 20
    assert ChipQC(cloud_level=200).reason(rgb, ALL) == "cloudy"
    rgb[:, :, 0] = np.where(rgb[:, :, 0] == 250, 251, 100)  # spread 21: saturated, not cloud
    assert ChipQC(cloud_level=200).reason(rgb, ALL) is None


def test_new_checks_use_valid_pixels_only():
    rgb = _two_level(40, 30)
    valid = ALL.copy()
    valid[:24] = False  # 37.5 % nodata, black there
    rgb[:24] = 0
    assert ChipQC().reason(rgb, valid) is None  # mean over valid pixels 31.25
    assert ChipQC().reason(rgb, None) == "too_dark"  # mean over all pixels ~19.5
    cloud = _two_level(240, 100, n_a=1800)
    valid = ALL.copy()
    valid[-10:] = False  # 640 non-cloud pixels invalid: 1800 / 3456 > 0.5
    assert ChipQC().reason(cloud, valid) == "cloudy"
    assert ChipQC().reason(cloud, ALL) is None
    cloud = _two_level(240, 100, n_a=2100)
    valid = ALL.copy()
    valid[:10] = False  # 640 cloud pixels invalid: 1460 / 3456 < 0.5 (2100 / 4096 > 0.5)
    assert ChipQC().reason(cloud, valid) is None
    assert ChipQC().reason(cloud, ALL) == "cloudy"


def test_checks_run_in_the_documented_order():
    assert ChipQC().reason(np.zeros((64, 64, 3), np.uint8), ALL) == "blank_chip"
    assert ChipQC().reason(_two_level(10, 10), ALL) == "too_dark"  # also low contrast
    flat_cloud = _two_level(240, 240)  # too bright, low contrast, cloudy
    assert ChipQC().reason(flat_cloud, ALL) == "too_bright"
    assert ChipQC(max_brightness=None).reason(flat_cloud, ALL) == "low_contrast"
    assert ChipQC(max_brightness=None, min_contrast=None).reason(flat_cloud, ALL) == "cloudy"
    off = ChipQC(max_brightness=None, min_contrast=None, max_cloud_fraction=None)
    assert off.reason(flat_cloud, ALL) is None


def test_no_valid_pixel_skips_the_new_checks():
    valid = np.zeros((64, 64), bool)
    assert ChipQC().reason(_two_level(240, 240), valid) == "mostly_nodata"
    assert ChipQC(max_nodata_fraction=1.0).reason(_two_level(100, 100), valid) is None


def test_planes_and_rgb_agree_and_match_a_float_reference():
    rng = np.random.default_rng(7)
    seen = set()
    for i in range(300):
        level = rng.integers(0, 256)
        spread = rng.integers(0, 40)
        lo, hi = max(level - spread, 0), min(level + spread, 255) + 1
        rgb = rng.integers(lo, hi, (32, 48, 3), dtype=np.uint8)
        valid = rng.random((32, 48)) > 0.2 if i % 2 else np.ones((32, 48), bool)
        qc = ChipQC(max_blank_fraction=1.0, cloud_level=int(rng.integers(200, 250)))
        got = qc.reason(rgb, valid)
        assert got == qc.reason_planes(np.ascontiguousarray(np.moveaxis(rgb, -1, 0)), valid)
        assert got == _reference(rgb, valid, qc)
        seen.add(got)
    assert seen == {None, "too_dark", "too_bright", "low_contrast", "cloudy"}


def test_odd_sizes_and_extreme_levels_agree_with_the_reference():
    """Odd widths (no uint16 pair view), no mask, and chips whose extremes decide the blank
    and cloud counts without a per-pixel pass, against the plain float reference."""
    rng = np.random.default_rng(11)
    for i in range(200):
        shape = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        lo = int(rng.choice([0, 3, 30, 200, 236, 250]))
        rgb = rng.integers(lo, min(lo + 30, 255) + 1, (*shape, 3), dtype=np.uint8)
        valid = np.ones(shape, bool) if i % 3 else rng.random(shape) > 0.3
        valid[0, 0] = True  # the reference needs a valid pixel in the 2x2 sample
        qc = ChipQC(max_nodata_fraction=1.0, max_blank_fraction=1.0)
        planes = np.ascontiguousarray(np.moveaxis(rgb, -1, 0))
        got = qc.reason_planes(planes, None if i % 3 and i % 2 else valid)
        assert got == qc.reason(rgb, valid) == _reference(rgb, valid, qc)
