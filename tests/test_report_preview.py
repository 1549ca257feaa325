"""report_preview.py: the HTML preview opened in headless chromium (Debian's, installed by
.ci/run) and checked by its pixels; the seeded sample, the boxes, the nodata flag and the
in-page filter (issue 15)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from geoscribe.report import preview_html
from geoscribe.report_preview import BOX_COLOUR, FOCUS_COLOUR, figure_html, record_boxes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WINDOW = (1280, 5000)


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Run headless chromium (no sandbox: tests run as root in CI)."""
    assert CHROMIUM, "chromium is not installed (.ci/run installs it)"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", *args], capture_output=True, text=True,
                          timeout=120)


def screenshot(page: Path, tmp_path: Path, name: str) -> np.ndarray:
    """The page rendered by chromium, as an RGB array."""
    shot = tmp_path / f"{name}.png"
    chromium(f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             page.as_uri())
    return np.asarray(Image.open(shot).convert("RGB")).astype(int)


def variant(page: Path, name: str, pattern: str, repl: str) -> Path:
    """A copy of the page with `pattern` replaced (the same layout: chips keep their size)."""
    text, n = re.subn(pattern, repl, page.read_text(encoding="utf-8"))
    assert n, pattern
    path = page.with_name(f"{name}.html")
    path.write_text(text, encoding="utf-8")
    return path


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def near(image: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    return (np.abs(image - hex_rgb(colour)).sum(axis=2) < tol)


@pytest.fixture
def preview(built, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    return out / "preview.html"


def test_preview_renders_chips_boxes_and_captions_in_chromium(preview, tmp_path):
    """issue 15 tests: the page is screenshotted in headless chromium; against the same page
    without chip images, without box overlays and without captions (same layout), the
    screenshot differs by the chips' pixels, by magenta (focus) and cyan (other objects) box
    pixels, and by caption text pixels."""
    shown = preview.read_text().count('<figure class="sample')
    assert shown >= 3
    full = screenshot(preview, tmp_path, "full")
    no_chips = screenshot(variant(preview, "nochips", r'<img src="data:image/png;base64,[^"]+">',
                                  '<img src="">'), tmp_path, "nochips")
    no_boxes = screenshot(variant(preview, "noboxes", r"<svg .*?</svg>", ""), tmp_path,
                          "noboxes")
    no_text = screenshot(variant(preview, "notext", r'<span class="caption">[^<]*</span>',
                                 '<span class="caption"></span>'), tmp_path, "notext")
    chip_pixels = (np.abs(full - no_chips).sum(axis=2) > 30).sum()
    assert chip_pixels > 0.3 * 256 * 256 * shown  # most of each 256 px chip is drawn
    box_diff = np.abs(full - no_boxes).sum(axis=2) > 30
    assert (box_diff & near(full, FOCUS_COLOUR)).sum() > 100 * shown  # a focus box per chip
    assert (np.abs(full - no_text).sum(axis=2) > 30).sum() > 200 * shown


def test_tile_recipe_draws_every_object_box(tmp_path):
    """issue 15: a tile recipe (rsvqa-like demo: no focus) has every object's box drawn in
    the page, in the other-objects colour, as chromium renders it."""
    from conftest import run_cli

    out = tmp_path / "rsvqa"
    run_cli("build-dataset", "rsvqa-like", "--region", "demo", "--out", str(out),
            "--workers", "1", "--no-progress", check=True)
    page = out / "preview.html"
    assert page.read_text().count(f'stroke="{BOX_COLOUR}"') >= 3
    full = screenshot(page, tmp_path, "full")
    no_boxes = screenshot(variant(page, "noboxes", r"<svg .*?</svg>", ""), tmp_path, "nob")
    box_diff = np.abs(full - no_boxes).sum(axis=2) > 30
    assert (box_diff & near(full, BOX_COLOUR)).sum() > 300
    assert not (box_diff & near(full, FOCUS_COLOUR)).sum()


def test_filter_by_split_and_class_in_the_page(preview):
    """issue 15: the in-page filter (no server): opening the page with #split=val shows only
    val chips, #cls=<class> only chips of that class (chromium runs the page's script)."""
    page = preview.read_text()
    splits = re.findall(r'<figure class="sample[^"]*" data-split="(\w+)"', page)
    assert {"train", "val"} <= set(splits)
    dom = chromium("--dump-dom", preview.as_uri() + "#split=val").stdout
    visible = re.findall(r'data-split="(\w+)"[^>]*style="display: inline-block;"', dom)
    assert visible and set(visible) == {"val"} and len(visible) == splits.count("val")
    cls = re.search(r'data-classes="([^"|]+)', page).group(1)
    dom = chromium("--dump-dom", preview.as_uri() + f"#cls={cls}").stdout
    shown = re.findall(r'data-classes="([^"]*)"[^>]*style="display: inline-block;"', dom)
    assert shown and all(cls in c.split("|") for c in shown)
    assert len(shown) == sum(cls in c.split("|") for c in
                             re.findall(r'data-classes="([^"]*)"', page))


def test_preview_is_a_seeded_random_sample_per_split(built, tmp_path):
    """issue 15: up to per_split chips per split, drawn at random (seeded: the same page each
    time), not simply the first ones of each shard."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    stats = json.loads((out / "stats.json").read_text())
    keys = {}
    for split in ("train", "val", "test"):
        with tarfile.open(out / "data" / f"{split}-000000.tar") as tar:
            keys[split] = list(dict.fromkeys(m.name.partition(".")[0] for m in tar))
    page = preview_html(out, stats, per_split=3).read_text()
    assert preview_html(out, stats, per_split=3).read_text() == page
    shown = re.findall(r'data-split="(\w+)".*?<small>([^ ]+) ·', page)
    for split, names in keys.items():
        mine = [key for s, key in shown if s == split]
        assert len(mine) == min(3, len(names)) and set(mine) <= set(names)
    train = [key for s, key in shown if s == "train"]
    assert len(keys["train"]) > 6 and train != keys["train"][:3]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_mostly_nodata_chip_is_flagged_and_all_boxes_are_labelled():
    """issue 15: a chip 45 % black (nodata) is flagged on its figure; every feature's box is
    drawn with its label, the focus one in the focus colour; mask objects get boxes too."""
    image = np.full((100, 100, 3), 120)
    image[:45] = 0
    record = {"id": "k", "chip": {"width": 100, "height": 100}, "texts": {"caption": "c"},
              "features": [{"tags": {"building": "yes"}, "bbox_px": [1, 2, 30, 40],
                            "focus": True},
                           {"tags": {"highway": "service"}, "bbox_px": [50, 50, 90, 60]}]}
    sample = {"__key__": "k", "json": json.dumps(record).encode(), "png": _png(image)}
    figure = figure_html("train", sample)
    assert "45% nodata" in figure and 'class="sample nodata"' in figure
    assert figure.count("<rect") == 2
    assert f'stroke="{FOCUS_COLOUR}"' in figure and "building=yes" in figure
    assert f'stroke="{BOX_COLOUR}"' in figure and "highway=service" in figure
    clean = figure_html("train", {**sample, "png": _png(np.full((100, 100, 3), 120))})
    assert "nodata" not in clean
    tile = {"evidence": {"objects": [{"class_name": "road", "bbox_px": [0, 1, 2, 3]}]}}
    assert record_boxes(tile) == [([0, 1, 2, 3], "road", False)]
