"""Dedup: pixel hash, pHash (checked against an independent numpy pHash), banded search."""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from geoscribe.filters.dedup import (
    NEAR_DUPLICATE_BITS,
    deduplicate,
    hamming,
    perceptual_hash,
    pixel_hash,
)


def _texture(seed: int, size: int = 256) -> Image.Image:
    """A smooth random scene (low-res noise upscaled) with fine grain on top."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(40, 215, (16, 16, 3), dtype=np.uint8))
    arr = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), np.int16)
    arr = arr + rng.integers(-8, 9, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _roundtrip(image: Image.Image, fmt: str, **save) -> tuple[bytes, Image.Image]:
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    data = buf.getvalue()
    return data, Image.open(io.BytesIO(data)).convert("RGB")


def _reference_phash(image: Image.Image) -> tuple[int, float]:
    """pHash written from scratch: integer luma, block means, DCT by its matrix definition.

    Returns the hash and the smallest |coefficient - median| (how far from a bit flip).
    """
    rgb = np.asarray(image.convert("RGB"), np.int64)
    # PIL's "L" conversion (ITU-R 601-2 in 16-bit fixed point, rounded)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    h, w = luma.shape
    assert h % 32 == 0 and w % 32 == 0
    blocks = luma.reshape(32, h // 32, 32, w // 32).mean(axis=(1, 3))
    n = np.arange(32)
    basis = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 64) * math.sqrt(2 / 32)
    basis[0] /= math.sqrt(2)  # orthonormal DCT-II
    coef = (basis @ blocks @ basis.T)[:8, :8].ravel()
    values = sorted(coef)
    median = (values[31] + values[32]) / 2
    bits = [c > median for c in coef]
    return sum(1 << (63 - i) for i, b in enumerate(bits) if b), min(abs(coef - median))


def test_reference_luma_matches_pil():
    img = _texture(5)
    rgb = np.asarray(img, np.int64)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    assert np.array_equal(luma, np.asarray(img.convert("L")))


def _noise(seed: int, size: int) -> Image.Image:
    """Pure noise: its hash depends on every detail of the reduction (filter, luma)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("kind", ["smooth", "noise"])
@pytest.mark.parametrize("seed", range(4))
def test_phash_matches_an_independent_implementation_bit_for_bit(kind, seed):
    size = 256 if seed % 2 else 320
    img = _texture(seed, size) if kind == "smooth" else _noise(seed, size)
    expected, margin = _reference_phash(img)
    assert margin > 1e-3  # float32 vs float64 rounding cannot flip a bit here
    assert perceptual_hash(img) == expected
    assert 0 <= perceptual_hash(img) < 2**64


def test_unrelated_textures_are_far_apart():
    hashes = [_reference_phash(_texture(s))[0] for s in range(4)]
    for i in range(4):
        for j in range(i + 1, 4):
            assert bin(hashes[i] ^ hashes[j]).count("1") > NEAR_DUPLICATE_BITS
            assert hamming(perceptual_hash(_texture(i)), perceptual_hash(_texture(j))) > 4


def test_hamming_counts_differing_bits():
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(2**64 - 1, 0) == 64


def test_same_pixels_in_two_png_files_are_exact_duplicates():
    img = _texture(1)
    info = PngImagePlugin.PngInfo()
    info.add_text("source", "elsewhere")
    data_a, a = _roundtrip(img, "PNG", compress_level=1)
    data_b, b = _roundtrip(img, "PNG", compress_level=9, pnginfo=info)
    assert data_a != data_b
    assert pixel_hash(a) == pixel_hash(b) == pixel_hash(img)
    items = [("a", pixel_hash(a), perceptual_hash(a), 0.2),
             ("b", pixel_hash(b), perceptual_hash(b), 0.3)]
    assert deduplicate(items) == {"a": "duplicate_exact_of:b"}


def test_pixel_hash_includes_the_size():
    flat = np.full((4, 8, 3), 7, np.uint8)
    assert pixel_hash(Image.fromarray(flat)) != pixel_hash(Image.fromarray(flat.reshape(8, 4, 3)))


def test_jpeg_qualities_are_near_but_not_exact_duplicates():
    img = _texture(2)
    _, hi = _roundtrip(img, "JPEG", quality=95)
    _, lo = _roundtrip(img, "JPEG", quality=70)
    assert pixel_hash(hi) != pixel_hash(lo)
    assert hamming(perceptual_hash(hi), perceptual_hash(lo)) <= NEAR_DUPLICATE_BITS
    items = [("hi", pixel_hash(hi), perceptual_hash(hi), 0.31),
             ("lo", pixel_hash(lo), perceptual_hash(lo), 0.30)]
    assert deduplicate(items) == {"lo": "duplicate_near_of:hi"}


def test_slightly_brighter_image_is_a_near_duplicate():
    img = _texture(3)
    brighter = Image.fromarray((np.asarray(img, np.int16) + 3).clip(0, 255).astype(np.uint8))
    assert pixel_hash(brighter) != pixel_hash(img)
    assert hamming(perceptual_hash(brighter), perceptual_hash(img)) <= NEAR_DUPLICATE_BITS
    other = _texture(4)
    items = [(k, pixel_hash(i), perceptual_hash(i), None)
             for k, i in [("x", brighter), ("w", img), ("z", other)]]
    assert deduplicate(items) == {"x": "duplicate_near_of:w"}  # no scores: smallest key kept


def test_best_score_is_kept_none_ranks_lowest_ties_by_key():
    items = [("a", "p", 1, None), ("b", "p", 1, 0.1), ("c", "p", 1, 0.5), ("d", "p", 1, 0.5)]
    assert deduplicate(items) == {k: "duplicate_exact_of:c" for k in "abd"}
    items = [("a", "p", 0, None), ("b", "q", 0b111, None)]  # 3 bits apart, both unscored
    assert deduplicate(items) == {"b": "duplicate_near_of:a"}
    items = [("a", "p", 0, math.nan), ("b", "q", 0, -5.0)]  # NaN ranks like None
    assert deduplicate(items) == {"a": "duplicate_near_of:b"}


def test_threshold_edge_and_inputs():
    five = 0b11111 << 30  # 5 bits set, straddling bands
    assert deduplicate([("a", "p", 0, 1.0), ("b", "q", five, 0.0)]) == {}
    four = 0b1111 << 30
    assert deduplicate([("a", "p", 0, 1.0), ("b", "q", four, 0.0)]) == {
        "b": "duplicate_near_of:a"}
    assert deduplicate([]) == {}
    with pytest.raises(ValueError):
        deduplicate([("a", "p", 0, 1.0), ("a", "q", 9, 0.0)])


def _brute_force(items, max_bits):
    """O(n^2) reference: visit best first, compare with every kept item."""
    order = sorted(items, key=lambda it: (it[3] is None, -(it[3] or 0.0), it[0]))
    kept, dropped = [], {}
    for key, pix, ph, _ in order:
        same = [k for k, p, _h in kept if p == pix]
        near = [k for k, _p, h in kept if bin(h ^ ph).count("1") <= max_bits]
        if same:
            dropped[key] = f"duplicate_exact_of:{same[0]}"
        elif near:
            dropped[key] = f"duplicate_near_of:{near[0]}"
        else:
            kept.append((key, pix, ph))
    return dropped


@pytest.mark.parametrize("max_bits", [NEAR_DUPLICATE_BITS, 0, 2, 7])
def test_banded_search_equals_brute_force(max_bits):
    rng = random.Random(max_bits)
    bases = [rng.getrandbits(64) for _ in range(60)]
    items = []
    for i in range(300):
        if i < 60:
            ph = bases[i]
        else:  # planted: a base with 0..7 random bits flipped
            ph = rng.choice(bases)
            for bit in rng.sample(range(64), rng.randint(0, 7)):
                ph ^= 1 << bit
        pix = f"pix{rng.randint(0, 20)}" if rng.random() < 0.1 else f"own{i}"
        score = None if rng.random() < 0.1 else round(rng.random(), 2)
        items.append((f"k{i:03d}", pix, ph, score))
    rng.shuffle(items)
    expected = _brute_force(items, max_bits)
    assert deduplicate(items, max_bits=max_bits) == expected
    reasons = [r.split(":")[0] for r in expected.values()]
    assert "duplicate_exact_of" in reasons
    if max_bits:
        assert "duplicate_near_of" in reasons
    assert len(expected) < len(items) - 50  # the unrelated bases survive
