"""The report's plots (OUT/report/*.png, matplotlib Agg): chip footprints over the region,
class frequency, caption lengths, answers per question type, CLIP scores with the threshold,
drops by reason, samples per split (issue 15). Same inputs, same bytes: PNGs are written
without a timestamp or software version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from geoscribe.region import SPLITS
from geoscribe.report_scan import Scan

REPORT_DIR = "report"
SPLIT_COLOURS = {"train": "#1f77b4", "val": "#ff7f0e", "test": "#2ca02c"}
TOP_N = 20


def _figure(width: float = 6.0, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=80)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def plot_footprints(path: Path, stats: dict, scan: Scan) -> bool:
    """Chip footprints (rectangles and centres, by split) over the region's outline."""
    if not scan.footprints:
        return False
    from matplotlib.patches import Rectangle

    fig, ax = _figure(6, 5)
    bounds = (stats.get("region") or {}).get("bounds_wgs84")
    if bounds:
        west, south, east, north = bounds
        ax.add_patch(Rectangle((west, south), east - west, north - south, fill=False,
                               edgecolor="black", linestyle="--", label="region"))
    for split in SPLITS:
        boxes = [box for s, box in scan.footprints if s == split]
        for w, s, e, n in boxes:
            ax.add_patch(Rectangle((w, s), e - w, n - s, fill=False, linewidth=0.6,
                                   edgecolor=SPLIT_COLOURS[split]))
        if boxes:
            ax.scatter([(b[0] + b[2]) / 2 for b in boxes], [(b[1] + b[3]) / 2 for b in boxes],
                       s=6, color=SPLIT_COLOURS[split], label=f"{split} ({len(boxes)})")
    ax.autoscale_view()
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title("chip footprints")
    ax.legend(fontsize=8, loc="best")
    _save(fig, path)
    return True


def _barh(path: Path, items: list[tuple[str, float]], title: str, xlabel: str) -> bool:
    """A horizontal bar chart of (label, value), first item on top."""
    if not items:
        return False
    fig, ax = _figure(6, max(2.0, 0.28 * len(items) + 1))
    labels = [label[:40] for label, _ in items][::-1]
    ax.barh(range(len(items)), [value for _, value in items][::-1], color="#4c72b0")
    ax.set_yticks(range(len(items)), labels, fontsize=8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    _save(fig, path)
    return True


def plot_classes(path: Path, stats: dict, scan: Scan) -> bool:
    """The TOP_N most frequent classes / tags (records showing each)."""
    items = sorted(scan.classes.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return _barh(path, items, f"classes / tags (top {TOP_N})", "records")


def plot_caption_lengths(path: Path, stats: dict, scan: Scan) -> bool:
    """Histogram of caption lengths in words."""
    if not scan.caption_words:
        return False
    fig, ax = _figure()
    top = max(scan.caption_words)
    ax.hist(scan.caption_words, bins=range(0, top + 2), color="#4c72b0")
    ax.set_title("caption length")
    ax.set_xlabel("words")
    ax.set_ylabel("captions")
    _save(fig, path)
    return True


def plot_answers(path: Path, stats: dict, scan: Scan) -> bool:
    """Answers per question type: each type's most frequent answers (one panel a type)."""
    if not scan.qa_answers:
        return False
    import matplotlib.pyplot as plt

    kinds = sorted(scan.qa_answers)
    fig, axes = plt.subplots(len(kinds), 1, figsize=(6, 1.6 * len(kinds) + 0.6), dpi=80,
                             squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        answers = sorted(scan.qa_answers[kind].items(), key=lambda kv: (-kv[1], kv[0]))[:8]
        ax.bar(range(len(answers)), [n for _, n in answers], color="#55a868")
        ax.set_xticks(range(len(answers)), [a[:14] for a, _ in answers], fontsize=7)
        ax.set_title(f"{kind} ({scan.qa_types[kind]} questions)", fontsize=9)
    _save(fig, path)
    return True


def plot_clip(path: Path, stats: dict, scan: Scan) -> bool:
    """Histogram of CLIP scores, with the --clip-min-score threshold."""
    if not scan.clip_scores:
        return False
    fig, ax = _figure()
    ax.hist(scan.clip_scores, bins=30, color="#8172b2")
    threshold = (stats.get("options") or {}).get("clip_min_score")
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
        ax.legend(fontsize=8)
    ax.set_title("CLIP score (kept samples)")
    ax.set_xlabel("score")
    _save(fig, path)
    return True


def plot_drops(path: Path, stats: dict, scan: Scan) -> bool:
    """Samples dropped or skipped, by reason."""
    skipped = stats.get("skipped") or {}
    items = sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return _barh(path, items, "dropped / skipped by reason", "count")


def plot_splits(path: Path, stats: dict, scan: Scan) -> bool:
    """Samples per split."""
    fig, ax = _figure(4.5, 3)
    counts = [len(scan.keys.get(split, ())) for split in SPLITS]
    ax.bar(SPLITS, counts, color=[SPLIT_COLOURS[s] for s in SPLITS])
    for i, n in enumerate(counts):
        ax.text(i, n, str(n), ha="center", va="bottom", fontsize=8)
    ax.set_title("samples per split")
    _save(fig, path)
    return True


PLOTS: dict[str, Callable[[Path, dict, Scan], bool]] = {
    "footprints.png": plot_footprints, "splits.png": plot_splits,
    "classes.png": plot_classes, "caption_length.png": plot_caption_lengths,
    "answers.png": plot_answers, "clip_scores.png": plot_clip, "drops.png": plot_drops,
}


def write_plots(out: Path, stats: dict, scan: Scan) -> list[str]:
    """Write OUT/report/*.png (removing plots that no longer apply); the names written."""
    folder = out / REPORT_DIR
    folder.mkdir(exist_ok=True)
    written = []
    for name, plot in PLOTS.items():
        path = folder / name
        if plot(path, stats, scan):
            written.append(name)
        else:
            path.unlink(missing_ok=True)
    return written
