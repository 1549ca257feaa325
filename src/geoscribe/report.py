"""Run summary, and the report of a built dataset: plots, HTML preview and dataset card
(written by report_plots, report_preview and report_card from one report_scan)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.region import SPLITS
from geoscribe.report_card import write_card
from geoscribe.report_plots import PLOTS, REPORT_DIR, write_plots
from geoscribe.report_preview import PER_SPLIT, write_preview
from geoscribe.report_scan import scan_output


def read_stats(out: Path) -> dict:
    """OUT/stats.json of a finished output, or a one-line error saying what is wrong with it
    (missing, not UTF-8, not JSON, not an object)."""
    path = out / "stats.json"
    if not path.exists():
        raise InputError(str(out), "no stats.json (not a finished geoscribe output)")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(str(path), "not UTF-8 text (corrupt)") from None
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"invalid JSON (line {exc.lineno}, column {exc.colno}: "
                                    f"{exc.msg})") from None
    if not isinstance(stats, dict):
        raise InputError(str(path), "expected a JSON object (corrupt)")
    return stats


def write_report(out: Path, stats: dict, allow_unknown_license: bool = False) -> list[str]:
    """Write OUT's plots (report/*.png), preview.html, README.md card and record.schema.json
    from one scan of its records; return the plots' names. Same inputs, same bytes."""
    scan = scan_output(out)
    plots = write_plots(out, stats, scan)
    write_preview(out, stats, scan, plots)
    write_card(out, stats, scan, plots, image_ext(out), allow_unknown_license)
    return plots


def preview_html(out: Path, stats: dict, per_split: int = PER_SPLIT) -> Path:
    """Write OUT/preview.html (and the plots it embeds) for `stats`; return its path."""
    scan = scan_output(out)
    return write_preview(out, stats, scan, write_plots(out, stats, scan), per_split)


def summary_lines(out: Path, stats: dict) -> list[str]:
    """Short human summary of a finished build."""
    by_split = stats.get("samples_by_split", {})
    lines = [
        f"built {stats.get('samples', 0)} samples "
        f"(train {by_split.get('train', 0)}, val {by_split.get('val', 0)}, "
        f"test {by_split.get('test', 0)}); {stats.get('rejected', 0)} rejected",
        f"shards:  {out / 'data'} ({len(stats.get('shards', []))} tar files + _stats.json and "
        ".parquet each, sizes.json)",
        f"stats:   {out / 'stats.json'}",
        f"preview: {out / 'preview.html'} (plots in {out / REPORT_DIR})",
        f"card:    {out / 'README.md'}",
    ]
    llm = stats.get("llm")
    if llm:
        lines.append(f"llm:     {llm['captioned']}/{llm['records']} records captioned by "
                     f"{llm['model']}; {sum(llm['rejected_records'].values())} rejected; "
                     f"{llm['requests']} requests ({llm['cache_hits']} cache hits), "
                     f"{llm['prompt_tokens'] + llm['completion_tokens']} tokens")
    if stats.get("qa_types"):
        lines.append(f"qa:      {_qa_mix_line(stats['qa_types'])}")
    skipped = stats.get("skipped", {})
    if skipped:
        top = sorted(skipped.items(), key=lambda kv: -kv[1])[:6]
        lines.append("skipped: " + ", ".join(f"{k}={v}" for k, v in top))
    empty = [split for split in SPLITS if not by_split.get(split)]
    if stats.get("samples") and empty:
        verb = "splits are" if len(empty) > 1 else "split is"
        lines.append(f"note:    the {' and '.join(empty)} {verb} empty (a small region; see "
                     "--split-block-deg and --split-fractions)")
    return lines


def report_lines(out: Path, stats: dict, plots: list[str]) -> list[str]:
    """What `geoscribe report` wrote, one line each."""
    from geoscribe.report_card import unknown_license_inputs

    lines = [f"plots:   {out / REPORT_DIR} ({', '.join(plots) or 'none'})",
             f"preview: {out / 'preview.html'} (seeded random sample per split, filterable)",
             f"card:    {out / 'README.md'} (+ record.schema.json)"]
    unknown = unknown_license_inputs(stats)
    if unknown:
        lines.append(f"warning: no license known for {', '.join(unknown)} (publish refuses it "
                     "without --allow-unknown-license)")
    return lines


def add_qa_mix(stats: dict, out: Path) -> None:
    """Set `stats["qa_types"]`, the realised question mix of OUT's shards (absent when the
    records hold no questions), from report_scan's one pass over the records (the report
    written next reuses it)."""
    stats.pop("qa_types", None)
    counts = scan_output(out).qa_types
    if counts:
        stats["qa_types"] = dict(sorted(counts.items()))


def _qa_mix_line(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{name} {n} ({n / total:.0%})" for name, n in counts.items())


def image_ext(out: Path) -> str | None:
    """The image member's extension in the first shard (jpg or png), None without shards.
    The card declares the columns with it, so `datasets` does not guess each field's type from
    a split's first five samples (a field null in all of them and text later failed)."""
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                ext = member.name.partition(".")[2]
                if ext not in ("json", "txt"):
                    return ext
    return None


def write_dataset_card(out: Path, stats: dict, allow_unknown_license: bool = False) -> Path:
    """Write OUT/README.md, the Hub dataset card (and record.schema.json beside it)."""
    scan = scan_output(out)
    plots = [name for name in PLOTS if (out / REPORT_DIR / name).exists()]
    return write_card(out, stats, scan, plots, image_ext(out), allow_unknown_license)
