"""Run summary and an HTML preview (thumbnails + captions) of a built dataset."""

from __future__ import annotations

import base64
import html
import json
import tarfile
from collections import Counter
from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.region import SPLITS
from geoscribe.resources import read_text
from geoscribe.shards import iter_samples


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


def _preview_boxes(record: dict) -> list[list[float]]:
    """Boxes to draw: the focus feature, else the evidence objects (tile recipes)."""
    focus = [f["bbox_px"] for f in record.get("features", []) if f.get("focus")]
    if focus:
        return focus
    return [o["bbox_px"] for o in (record.get("evidence") or {}).get("objects", [])][:30]


def _box_div(bbox: list[float], width: float) -> str:
    x0, y0, x1, y1 = bbox
    return (f'<div class="box" style="left:{x0 / width * 100:.2f}%;top:{y0 / width * 100:.2f}%;'
            f'width:{(x1 - x0) / width * 100:.2f}%;height:{(y1 - y0) / width * 100:.2f}%"></div>')


def _qa_lines(record: dict, limit: int = 4) -> str:
    items = record.get("qa") or []
    return "".join(f"<br>Q: {html.escape(str(q['question']))} A: {html.escape(str(q['answer']))}"
                   for q in items[:limit])


def preview_html(out: Path, stats: dict, per_split: int = 12) -> Path:
    """Write OUT/preview.html showing the run's `stats` and the first samples of each split;
    return its path."""
    rows = []
    for split in SPLITS:
        shown = 0
        for shard in sorted((out / "data").glob(f"{split}-*.tar")):
            for sample in iter_samples(shard):
                if shown >= per_split:
                    break
                record = json.loads(sample["json"])
                ext = "jpg" if "jpg" in sample else "png"
                b64 = base64.b64encode(sample[ext]).decode()
                w = record["chip"]["width"]
                box = "".join(_box_div(b, w) for b in _preview_boxes(record))
                rows.append(
                    f'<figure><div class="chip"><img src="data:image/{ext};base64,{b64}">{box}'
                    f"</div><figcaption><b>{split}</b> {html.escape(record['texts']['caption'])}"
                    f"{_qa_lines(record)}"
                    f"<br><small>{html.escape(record['id'])} · "
                    f"{html.escape(record['image']['license'])}"
                    f"</small></figcaption></figure>"
                )
                shown += 1
    summary = html.escape(json.dumps({k: stats.get(k) for k in
                                      ("recipe", "samples", "samples_by_split", "skipped")},
                                     indent=2, sort_keys=True))  # as stats.json orders them
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>geoscribe preview</title>
<style>body{{font-family:sans-serif;margin:1em}} figure{{display:inline-block;width:260px;
margin:6px;vertical-align:top}} .chip{{position:relative;width:256px;height:256px}}
.chip img{{width:256px;height:256px}} .box{{position:absolute;border:2px solid #f0f}}
figcaption{{font-size:12px}}</style></head><body><h1>geoscribe preview: {html.escape(str(out))}</h1>
<pre>{summary}</pre>{''.join(rows)}</body></html>"""
    path = out / "preview.html"
    path.write_text(page, encoding="utf-8")
    return path


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
        f"preview: {out / 'preview.html'}",
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


def qa_type_counts(data_dir: Path) -> dict[str, int]:
    """Questions per type (`qa[].type`) over every record of the shards in `data_dir`, read
    back from the shards themselves (only the JSON members are read)."""
    counts: Counter[str] = Counter()
    for shard in sorted(data_dir.glob("*.tar")):
        with tarfile.open(shard, "r") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".json"):
                    record = json.loads(tar.extractfile(member).read())
                    counts.update(str(q.get("type")) for q in record.get("qa") or ())
    return dict(sorted(counts.items()))


def add_qa_mix(stats: dict, out: Path) -> None:
    """Set `stats["qa_types"]`, the realised question mix of OUT's shards (absent when the
    records hold no questions)."""
    stats.pop("qa_types", None)
    counts = qa_type_counts(out / "data")
    if counts:
        stats["qa_types"] = counts


def _qa_mix_line(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return ", ".join(f"{name} {n} ({n / total:.0%})" for name, n in counts.items())


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _image_ext(out: Path) -> str | None:
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


def write_dataset_card(out: Path, stats: dict) -> Path:
    """Write OUT/README.md, a Hub dataset card with the license attribution of every input."""
    import jinja2

    licenses = [tuple(item) for item in stats.get("licenses", [])]
    spdx = sorted({lic for lic, _ in licenses})
    if "unknown" in spdx:
        hub_license = "unknown"
    else:
        hub_license = spdx[0].lower() if len(spdx) == 1 else "other"
    template = jinja2.Environment(autoescape=False, keep_trailing_newline=True).from_string(
        read_text("data_cards", "dataset_card.md.j2"))
    by_split = {k: v for k, v in stats.get("samples_by_split", {}).items() if v}
    text = template.render(
        hub_license=hub_license, recipe=stats.get("recipe", "?"),
        size_category=_size_category(stats.get("samples", 0)),
        data_files={split: f"data/{split}-*.tar" for split in by_split},
        image_ext=_image_ext(out),
        title=f"{stats.get('recipe', 'geoscribe')} dataset", version=stats.get("geoscribe_version"),
        samples=stats.get("samples", 0), samples_by_split=by_split,
        region=stats.get("region", {}).get("description", "?"), licenses=licenses,
        skipped=stats.get("skipped", {}), llm=stats.get("llm"),
        qa_types=stats.get("qa_types") or {}, qa_total=sum((stats.get("qa_types") or {}).values()),
    )
    path = out / "README.md"
    path.write_text(text.lstrip(), encoding="utf-8")
    return path
