"""report_plots.py: the report's PNG plots exist, are real images with content, and the
CLIP histogram draws its threshold (issue 15)."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
from PIL import Image

from geoscribe.report_plots import PLOTS, write_plots
from geoscribe.report_scan import Scan, scan_output


def colours(path) -> int:
    """Distinct colours of a PNG (a blank canvas has one)."""
    image = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    return len(np.unique(image, axis=0))


def test_build_writes_non_empty_plots(built, tmp_path):
    """issue 15 tests: a build's report/ has the footprint map, splits, classes, caption
    lengths and drops as decodable PNGs with content; plots without data are not written."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    names = {p.name for p in (out / "report").glob("*.png")}
    assert {"footprints.png", "splits.png", "classes.png", "caption_length.png",
            "drops.png"} <= names
    assert "clip_scores.png" not in names and "answers.png" not in names  # no scores, no QA
    for name in names:
        path = out / "report" / name
        assert path.stat().st_size > 2000 and Image.open(path).size[0] >= 200
        assert colours(path) > 20, name


def test_clip_and_answer_plots(tmp_path):
    """issue 15: the CLIP score histogram with the --clip-min-score threshold as a red line,
    and answers per question type, from a scan that has them."""
    scan = Scan()
    scan.keys["train"] = ["a", "b", "c"]
    scan.clip_scores = [0.1, 0.2, 0.25, 0.3, 0.31]
    scan.qa_types = Counter({"count": 3, "presence": 2})
    scan.qa_answers = {"count": Counter({"0": 2, "1": 1}), "presence": Counter({"yes": 2})}
    stats = {"options": {"clip_min_score": 0.22}, "skipped": {"clip_below": 4}}
    written = write_plots(tmp_path, stats, scan)
    assert {"clip_scores.png", "answers.png", "drops.png", "splits.png"} <= set(written)
    clip = np.asarray(Image.open(tmp_path / "report" / "clip_scores.png").convert("RGB"))
    red = (clip[..., 0] > 200) & (clip[..., 1] < 60) & (clip[..., 2] < 60)
    assert red.sum() > 50  # the threshold line
    no_threshold = write_plots(tmp_path, {}, scan)
    assert "clip_scores.png" in no_threshold
    clip = np.asarray(Image.open(tmp_path / "report" / "clip_scores.png").convert("RGB"))
    assert not ((clip[..., 0] > 200) & (clip[..., 1] < 60) & (clip[..., 2] < 60)).sum()
    scan.clip_scores = []
    write_plots(tmp_path, stats, scan)
    assert not (tmp_path / "report" / "clip_scores.png").exists()  # stale plot removed
    assert set(PLOTS) >= set(written)


def test_scan_counts_what_the_plots_show(built):
    """issue 15: the scan's counts agree with the shards and stats (split sizes, one caption
    length and footprint per record)."""
    scan = scan_output(built)
    stats = json.loads((built / "stats.json").read_text())
    assert {s: len(k) for s, k in scan.keys.items()} == stats["samples_by_split"]
    assert len(scan.caption_words) == len(scan.footprints) == stats["samples"]
