"""Deduplication across a run: exact (pixel) duplicates and near (perceptual) duplicates."""

from __future__ import annotations

import hashlib
import math

import numpy as np
from PIL import Image
from scipy.fft import dctn

NEAR_DUPLICATE_BITS = 4
"""Two pHashes differing in at most this many of their 64 bits are near duplicates."""

_HASH_SIDE = 32  # the grey image is reduced to 32 x 32 before the DCT
_LOW = 8  # the top-left 8 x 8 DCT coefficients make the 64 bits


def pixel_hash(image: Image.Image) -> str:
    """sha256 (hex) of the size and decoded RGB pixels: equal for equal pixels, whatever the
    file's bytes (metadata, PNG compression level) are."""
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def perceptual_hash(image: Image.Image) -> int:
    """64-bit DCT perceptual hash (pHash) as an int in [0, 2**64).

    Steps: PIL grey ("L", ITU-R 601-2 luma) as float, reduced to 32 x 32 with the BOX filter
    (area average; exact block means when the size is a multiple of 32), orthonormal 2-D DCT-II
    (``scipy.fft.dctn(norm="ortho")``), the top-left 8 x 8 coefficients (DC included). A bit is
    1 when its coefficient is strictly greater than the median of all 64 (the imagehash
    convention; while the DC is the largest coefficient, as for any ordinary image, the bits
    equal those from the median of the 63 AC coefficients). Bits are packed row-major, the
    first coefficient (DC) being the most significant bit.
    """
    grey = Image.fromarray(np.asarray(image.convert("L"), dtype=np.float32))  # mode "F"
    small = np.asarray(grey.resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BOX), np.float64)
    low = dctn(small, type=2, norm="ortho")[:_LOW, :_LOW].ravel()
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (a ^ b).bit_count()


def _rank(item: tuple[str, str, int, float | None]) -> tuple[float, str]:
    """Sort key: best score first (None and NaN last), then smallest key."""
    score = item[3]
    missing = score is None or math.isnan(score)
    return (math.inf if missing else -score, item[0])


def _bands(value: int, n_bands: int) -> list[tuple[int, int]]:
    """(band index, band bits) for n_bands disjoint, near-equal slices of the 64 bits."""
    edges = [round(i * 64 / n_bands) for i in range(n_bands + 1)]
    return [(i, (value >> lo) & ((1 << (hi - lo)) - 1))
            for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False))]


def deduplicate(
    items: list[tuple[str, str, int, float | None]],
    max_bits: int = NEAR_DUPLICATE_BITS,
) -> dict[str, str]:
    """Return key -> reason for the items to drop as duplicates; the rest are kept.

    Items are (key, pixel_hash, phash, score). They are visited best first (score descending,
    None/NaN scores last, ties by key ascending), so the best item of a group is the one kept.
    A visited item is dropped as ``duplicate_exact_of:<kept key>`` if a kept item has the same
    pixel hash, else as ``duplicate_near_of:<kept key>`` if kept items are within ``max_bits``
    differing phash bits (the best-ranked such item is named); otherwise it is kept. Only kept
    items absorb others, so grouping is greedy, not transitive.

    Near search is exact, not approximate: the 64 bits are split into ``max_bits + 1`` disjoint
    bands (5 by default) and kept hashes are indexed by each band's value. Two hashes differing
    in at most ``max_bits`` bits agree on at least one band (pigeonhole), so comparing only
    with kept hashes sharing a band finds every match a brute-force scan would.
    """
    if not 0 <= max_bits < 64:
        raise ValueError(f"max_bits must be in [0, 63], got {max_bits}")
    keys = [item[0] for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys in deduplicate() input")
    n_bands = max_bits + 1
    exact: dict[str, str] = {}  # pixel hash -> kept key
    index: dict[tuple[int, int], list[int]] = {}  # (band, band bits) -> kept positions
    kept: list[tuple[str, int]] = []  # (key, phash), in visiting order
    dropped: dict[str, str] = {}
    for key, pix, phash, _score in sorted(items, key=_rank):
        if pix in exact:
            dropped[key] = f"duplicate_exact_of:{exact[pix]}"
            continue
        bands = _bands(phash, n_bands)
        candidates = {pos for band in bands for pos in index.get(band, ())}
        near = [pos for pos in candidates if hamming(phash, kept[pos][1]) <= max_bits]
        if near:
            dropped[key] = f"duplicate_near_of:{kept[min(near)][0]}"
            continue
        exact[pix] = key
        for band in bands:
            index.setdefault(band, []).append(len(kept))
        kept.append((key, phash))
    return dropped
