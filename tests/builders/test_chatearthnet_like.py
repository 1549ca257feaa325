"""chatearthnet-like end to end on generated WorldCover-like rasters: shares overall and per
region, words, percentages and caption numbers recomputed with numpy."""

from __future__ import annotations

import hashlib
import json
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from conftest import run_cli
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, SIZE, Scene, write_raster
from test_cli_e2e import read_samples

WORLDCOVER = {10: "tree cover", 20: "shrubland", 30: "grassland", 40: "cropland",
              50: "built-up", 60: "bare / sparse vegetation", 70: "snow and ice",
              80: "permanent water bodies", 90: "herbaceous wetland", 95: "mangroves",
              100: "moss and lichen"}
NODATA, UNLISTED = 0, 99
BINS = [(50, "mostly"), (25, "a large part"), (10, "some"), (1, "a little")]  # on whole percent
TILE = 256
REGIONS = {"top left": (slice(0, 128), slice(0, 128)),
           "top right": (slice(0, 128), slice(128, 256)),
           "bottom left": (slice(128, 256), slice(0, 128)),
           "bottom right": (slice(128, 256), slice(128, 256)),
           "centre": (slice(64, 192), slice(64, 192))}
COARSE_GSD, COARSE_OFFSET = 2.0, 3.0  # the reprojected raster: 2 m pixels, origin 3 m west/north
WORDING = Path(__file__).parents[2] / "prompts" / "captions" / "chatearthnet_template_v1.yaml"


def _land_cover(shape: tuple[int, int], block: int, seed: int) -> np.ndarray:
    """Patches of WorldCover classes, rare classes and nodata/unlisted specks."""
    rng = np.random.default_rng(seed)
    codes = np.array([10, 20, 30, 40, 50, 60, 80, 90, 95])
    patches = rng.choice(codes, size=(shape[0] // block, shape[1] // block),
                         p=[0.3, 0.05, 0.15, 0.2, 0.1, 0.05, 0.1, 0.03, 0.02])
    data = np.kron(patches, np.ones((block, block), dtype=np.uint8)).astype(np.uint8)
    for value, n in ((100, 300), (70, 40), (NODATA, 500), (UNLISTED, 500)):
        rows, cols = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
        data[rows, cols] = value
    return data


def _aligned() -> np.ndarray:
    data = _land_cover((SIZE, SIZE), 32, seed=11)
    data[0:256, 0:256] = 10  # first tile: tree cover with a cropland top-left quadrant
    data[0:128, 0:128] = 40
    data[256:512, 512:768] = UNLISTED  # a tile with no known class
    return data


def _write(path: Path, data: np.ndarray, origin: tuple[float, float], gsd: float) -> None:
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype="uint8", crs=CRS, transform=from_origin(*origin, gsd, gsd),
                   nodata=NODATA)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _coarse_on_fine_grid(coarse: np.ndarray) -> np.ndarray:
    """The coarse raster sampled at the imagery's pixel centres (each centre lies strictly
    inside one coarse pixel), nodata outside it."""
    centres = np.arange(SIZE) * GSD + GSD / 2
    cols = np.floor((centres + COARSE_OFFSET) / COARSE_GSD).astype(int)
    rows = cols  # the grids are offset equally west and north
    inside = (cols >= 0) & (cols < coarse.shape[1])
    out = np.full((SIZE, SIZE), NODATA, dtype=np.uint8)
    r, c = np.ix_(rows[inside], cols[inside])
    out[np.ix_(np.flatnonzero(inside), np.flatnonzero(inside))] = coarse[r, c]
    return out


@pytest.fixture(scope="module")
def cover(tmp_path_factory):
    d = tmp_path_factory.mktemp("cen")
    raster = d / "image.tif"
    write_raster(raster, seed=9)
    aligned = _aligned()
    _write(d / "aligned.tif", aligned, (ORIGIN_X, ORIGIN_Y), GSD)
    n = 8 * math.ceil((SIZE * GSD + COARSE_OFFSET) / COARSE_GSD / 8)  # covers the imagery
    coarse = _land_cover((n, n), 8, seed=12)
    _write(d / "coarse.tif", coarse, (ORIGIN_X - COARSE_OFFSET, ORIGIN_Y + COARSE_OFFSET),
           COARSE_GSD)
    (d / "worldcover.yaml").write_text("".join(f'{k}: "{v}"\n' for k, v in WORLDCOVER.items()))
    return {"dir": d, "raster": raster, "aligned": aligned,
            "coarse": _coarse_on_fine_grid(coarse), "scene": Scene(raster, d / "none.osm")}


def _build(cover, mask: str, out: Path) -> list[dict]:
    d = cover["dir"]
    run_cli("build-dataset", "chatearthnet-like", f"--region={cover['scene'].bbox}", "--out",
            str(out), "--imagery", str(cover["raster"]), "--labels", str(d / mask),
            "--class-map", str(d / "worldcover.yaml"), "--split-block-deg", "1",
            "--no-progress", check=True)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    return [json.loads(s["json"]) for s in read_samples(out)]


def _pixels(window: np.ndarray) -> dict[str, int]:
    counts: dict[str, int] = {}
    for code, name in WORLDCOVER.items():
        n = int((window == code).sum())
        if n:
            counts[name] = n
    return counts


def _percent(count: int, total: int) -> int:
    return math.floor(Fraction(100 * count, total) + Fraction(1, 2))


def _word(count: int, total: int) -> str | None:
    return next((word for lower, word in BINS if _percent(count, total) >= lower), None)


def _check(record: dict, full: np.ndarray) -> None:
    w = record["chip"]["source_window"]
    assert w["width"] == w["height"] == TILE
    window = full[w["row_off"]:w["row_off"] + TILE, w["col_off"]:w["col_off"] + TILE]
    pixels = _pixels(window)
    total = sum(pixels.values())
    ev, label = record["evidence"], record["label"]
    assert ev["labelled_pixels"] == total
    ranked = sorted(pixels, key=lambda k: (-pixels[k], k))
    assert label["class"] == ranked[0]
    assert label["share"] == pytest.approx(pixels[ranked[0]] / total, abs=1e-4)
    assert set(label["shares"]) == set(pixels)
    for name, count in pixels.items():
        assert label["shares"][name] == pytest.approx(count / total, abs=1e-4)
    assert list(ev["regions"]) == list(REGIONS)
    for region, (rows, cols) in REGIONS.items():
        part = _pixels(window[rows, cols])
        assert set(ev["regions"][region]) == set(part), region
        for name, count in part.items():
            assert ev["regions"][region][name] == pytest.approx(count / sum(part.values()),
                                                                abs=1e-4)
    assert ev["percentages"] == {n: _percent(c, total) for n, c in pixels.items()}
    words = {n: _word(c, total) for n, c in pixels.items()}
    assert ev["share_words"] == {n: w for n, w in words.items() if w is not None}
    _check_caption(record, pixels, total, window)


def _check_caption(record: dict, pixels: dict[str, int], total: int, window) -> None:
    caption = record["texts"]["caption"]
    ranked = sorted(pixels, key=lambda k: (-pixels[k], k))
    mentioned = [n for n in ranked if _word(pixels[n], total)]
    numbers = [int(n) for n in re.findall(r"\d+", caption)]
    assert numbers == [record["evidence"]["percentages"][n] for n in mentioned], caption
    for name in mentioned:
        assert f"{name} ({_percent(pixels[name], total)}%)" in caption
    for name in set(pixels) - set(mentioned):
        assert name not in caption
    for region, (rows, cols) in REGIONS.items():
        part = _pixels(window[rows, cols])
        top = sorted(part, key=lambda k: (-part[k], k))[0] if part else None
        named = f"the {region} is mostly {top}" in caption
        mostly = top is not None and _word(part[top], sum(part.values())) == "mostly"
        assert named == (mostly and top != ranked[0]), (caption, region)


def test_shares_words_and_caption_on_the_imagery_grid(cover, tmp_path):
    records = _build(cover, "aligned.tif", tmp_path / "o")
    assert len(records) == 15  # one tile has no known class
    sha = hashlib.sha256(WORDING.read_bytes()).hexdigest()
    for record in records:
        assert record["recipe"] == "chatearthnet-like" and record["id"].startswith("cen_")
        assert record["generator"] == {"kind": "template",
                                       "template_id": "chatearthnet-like@v1",
                                       "prompt_sha256": sha}
        assert record["evidence"]["mask"].endswith("aligned.tif")
        _check(record, cover["aligned"])
    words = {w for r in records for w in r["evidence"]["share_words"].values()}
    assert words == {"mostly", "a large part", "some", "a little"}
    assert any(n == 0 for r in records for n in r["evidence"]["percentages"].values())
    first = next(r for r in records if r["chip"]["source_window"]["col_off"] == 0
                 and r["chip"]["source_window"]["row_off"] == 0)
    assert first["texts"]["caption"] == ("A satellite image mostly covered by tree cover (75%), "
                                         "with a large part of cropland (25%); "
                                         "the top left is mostly cropland.")
    stats = json.loads((tmp_path / "o" / "stats.json").read_text())
    assert "no_known_class" in json.dumps(stats["skipped"])


def test_raster_on_another_grid_is_read_with_nearest_neighbour(cover, tmp_path):
    records = _build(cover, "coarse.tif", tmp_path / "o")
    assert len(records) == 16
    for record in records:
        _check(record, cover["coarse"])
