"""OUT/preview.html: the plots, then a contact sheet of a seeded random sample per split, each
chip with all its boxes drawn and labelled (the focus highlighted), its caption, QA and
conversations, filterable by split and class in the page (no server) (issue 15)."""

from __future__ import annotations

import base64
import html
import io
import json
import random
from pathlib import Path

from geoscribe.region import SPLITS
from geoscribe.report_plots import REPORT_DIR
from geoscribe.report_scan import Scan, record_classes
from geoscribe.shards import iter_samples

PER_SPLIT = 24
FOCUS_COLOUR = "#ff00ff"  # magenta: the focus feature
BOX_COLOUR = "#00ffff"  # cyan: every other object
NODATA_FLAG = 0.25  # a chip with more black (nodata) pixels than this is flagged
MAX_BOXES = 60
STYLE = """body{font-family:sans-serif;margin:1em;background:#fafafa}
figure{display:inline-block;width:260px;margin:6px;vertical-align:top;background:#fff;
padding:4px;border:1px solid #ddd}
.chip{position:relative;width:256px;height:256px}.chip img,.chip svg{position:absolute;
left:0;top:0;width:256px;height:256px}figcaption{font-size:12px}
.nodata{border:3px solid #d00}.flag{color:#d00;font-weight:bold}
.plots img{max-width:480px;margin:4px;border:1px solid #ddd}
details{font-size:11px}"""
SCRIPT = """function fromHash(){var h=new URLSearchParams(location.hash.slice(1));
['split','cls'].forEach(function(id){if(h.has(id)){document.getElementById(id).value=h.get(id);}});
applyFilter();}
function applyFilter(){var s=document.getElementById('split').value;
var c=document.getElementById('cls').value;var shown=0;
document.querySelectorAll('figure.sample').forEach(function(f){
var ok=(s===''||f.dataset.split===s)&&(c===''||f.dataset.classes.split('|').indexOf(c)>=0);
f.style.display=ok?'inline-block':'none';if(ok){shown++;}});
document.getElementById('shown').textContent=shown;}"""


def sample_keys(scan: Scan, seed: int, per_split: int = PER_SPLIT) -> dict[str, list[str]]:
    """A seeded random sample of at most `per_split` keys of each split, in shard order."""
    chosen = {}
    for split in SPLITS:
        keys = scan.keys.get(split, [])
        picked = set(random.Random(f"{seed}:{split}").sample(keys, min(per_split, len(keys))))
        chosen[split] = [key for key in keys if key in picked]
    return chosen


def nodata_fraction(image_bytes: bytes) -> float:
    """Share of a chip's pixels that are black in every band (what nodata becomes)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"))
    return float((pixels.max(axis=2) <= 2).mean()) if pixels.size else 0.0


def record_boxes(record: dict) -> list[tuple[list[float], str, bool]]:
    """(bbox_px, label, focus) of every object of a record: its features, else the objects of
    its evidence (mask recipes)."""
    boxes = []
    for feature in record.get("features") or ():
        tags = feature.get("tags") or {}
        label = next((f"{k}={v}" for k, v in tags.items()), feature.get("source", ""))
        if feature.get("bbox_px"):
            boxes.append((feature["bbox_px"], label, bool(feature.get("focus"))))
    if not boxes:
        for obj in (record.get("evidence") or {}).get("objects") or ():
            if obj.get("bbox_px"):
                boxes.append((obj["bbox_px"], str(obj.get("class_name", "")), False))
    boxes.sort(key=lambda item: item[2])  # the focus drawn last, on top
    return boxes[-MAX_BOXES:]


def boxes_svg(record: dict) -> str:
    """An SVG overlay in chip pixels with each box and its label."""
    chip = record.get("chip") or {}
    width, height = chip.get("width", 256), chip.get("height", 256)
    parts = []
    for (x0, y0, x1, y1), label, focus in record_boxes(record):
        colour = FOCUS_COLOUR if focus else BOX_COLOUR
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{max(y1 - y0, 1):.1f}" fill="none" stroke="{colour}" '
            f'stroke-width="{3 if focus else 2}"/><text x="{x0 + 2:.1f}" '
            f'y="{max(y0 - 2, 9):.1f}" font-size="9" fill="{colour}">'
            f"{html.escape(label[:30])}</text>")
    return (f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">'
            f"{''.join(parts)}</svg>")


def text_block(record: dict) -> str:
    """Caption, then QA and conversations (folded when long)."""
    caption = html.escape(str((record.get("texts") or {}).get("caption", "")))
    qa = "".join(f"<li>Q: {html.escape(str(q.get('question')))} <b>A: "
                 f"{html.escape(str(q.get('answer')))}</b></li>"
                 for q in record.get("qa") or ())
    turns = "".join(f"<li><i>{html.escape(str(t.get('from')))}</i>: "
                    f"{html.escape(str(t.get('value')))}</li>"
                    for t in record.get("conversations") or ())
    extra = ""
    if qa:
        extra += f"<details open><summary>QA</summary><ul>{qa}</ul></details>"
    if turns:
        extra += f"<details><summary>conversation</summary><ul>{turns}</ul></details>"
    return f'<span class="caption">{caption}</span>{extra}'


def figure_html(split: str, sample: dict) -> str:
    """One chip of the contact sheet."""
    record = json.loads(sample["json"])
    ext = "jpg" if "jpg" in sample else "png"
    image = sample[ext]
    nodata = nodata_fraction(image)
    flagged = nodata > NODATA_FLAG
    classes = record_classes(record)
    flag = (f'<br><span class="flag">{nodata:.0%} nodata (black) pixels</span>'
            if flagged else "")
    mime = "jpeg" if ext == "jpg" else "png"
    return (
        f'<figure class="sample{" nodata" if flagged else ""}" data-split="{split}" '
        f'data-classes="{html.escape("|".join(classes))}"><div class="chip">'
        f'<img src="data:image/{mime};base64,{base64.b64encode(image).decode()}">'
        f"{boxes_svg(record)}</div><figcaption><b>{split}</b> {text_block(record)}{flag}"
        f"<br><small>{html.escape(str(record.get('id')))} · "
        f"{html.escape(', '.join(classes[:6]))}</small></figcaption></figure>")


def sheet(out: Path, chosen: dict[str, list[str]]) -> list[str]:
    """The figures of the chosen keys, split by split, in shard order."""
    figures = []
    for split in SPLITS:
        wanted = set(chosen.get(split, ()))
        for shard in sorted((out / "data").glob(f"{split}-*.tar")):
            if not wanted:
                break
            for sample in iter_samples(shard):
                if sample["__key__"] in wanted:
                    wanted.discard(sample["__key__"])
                    figures.append(figure_html(split, sample))
    return figures


def plots_html(out: Path, plots: list[str]) -> str:
    """The plots as embedded PNGs."""
    return "".join(
        f'<img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode((out / REPORT_DIR / name).read_bytes()).decode()}">'
        for name in plots)


def controls(scan: Scan) -> str:
    """The split and class filters."""
    splits = "".join(f'<option value="{s}">{s}</option>' for s in SPLITS)
    classes = "".join(f'<option value="{html.escape(c)}">{html.escape(c)} ({n})</option>'
                      for c, n in sorted(scan.classes.items(), key=lambda kv: (-kv[1], kv[0])))
    return (f'<p>split <select id="split" onchange="applyFilter()"><option value="">all'
            f'</option>{splits}</select> class <select id="cls" onchange="applyFilter()">'
            f'<option value="">all</option>{classes}</select> showing <span id="shown">'
            f"</span> chips</p>")


def write_preview(out: Path, stats: dict, scan: Scan, plots: list[str],
                  per_split: int = PER_SPLIT) -> Path:
    """Write OUT/preview.html; return its path."""
    seed = (stats.get("options") or {}).get("seed") or 0
    figures = sheet(out, sample_keys(scan, seed, per_split))
    summary = html.escape(json.dumps({k: stats.get(k) for k in
                                      ("recipe", "samples", "samples_by_split", "skipped")},
                                     indent=2, sort_keys=True))
    title = f"geoscribe preview: {stats.get('recipe', '')}"
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}'
            f"</title><style>{STYLE}</style><script>{SCRIPT}</script></head>"
            f'<body onload="fromHash()"><h1>{html.escape(title)}</h1><pre>{summary}</pre>'
            f'<div class="plots">{plots_html(out, plots)}</div>'
            f"<h2>Samples (seeded random, up to {per_split} per split; "
            f'<span style="color:{FOCUS_COLOUR}">focus</span>, '
            f'<span style="color:#0aa">other objects</span>)</h2>{controls(scan)}'
            f"{''.join(figures)}</body></html>")
    path = out / "preview.html"
    path.write_text(page, encoding="utf-8")
    return path
