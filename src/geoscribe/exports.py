"""`geoscribe export`: a built output folder as LLaVA / GeoChat instruction data or RSVQA files.

Reads the shards under DIR/data (any recipe; a downloaded output works the same) and writes:

- llava: DEST/{split}.json, a JSON list of {"id", "image": "images/KEY.ext", "conversations"}
  (LLaVA-1.5's instruct layout), and DEST/images/KEY.jpg|png (the shard's bytes, unchanged).
  Turns: the record's own `conversations`; else one human/gpt pair per `qa` item (the question
  with LLaVA-1.5's short-answer prompt, the answer as text); else "Describe the image." and
  the caption. Exactly one `<image>` token per sample, leading the first human turn (LLaVA's
  and GeoChat's `preprocess_multimodal` take one image feature per token); turns alternate
  human/gpt starting with human.
- geochat: the same layout with GeoChat's markup: every box is `{<x1><y1><x2><y2>|<θ>}` on a
  0-100 grid (a pixel JSON box is converted from the record's feature with that box, θ
  included; a box matching no feature is scaled, θ 0), a
  phrase followed by a box in an answer becomes `<p>phrase</p> {box}` (what GeoChat's parser
  reads), and a `[refer]` request names its phrase as GeoChat's referring prompt does
  ("[refer] Give me the location of <p>phrase</p>"); `[grounding]`, `[identify]` stay where
  the record has them.
- rsvqa: DEST/{prefix}_split_{split}_images.json, _questions.json, _answers.json as the RSVQA
  release lays them out (ids link images -> questions -> answers; ids are unique across
  splits), images as DEST/Images_{prefix}/{image id}.jpg|png (RSVQA: Images_LR/{id}.tif).
  Question types: RSVQA_TYPES maps geoscribe's names to RSVQA's; other types keep their name.
  Records without `qa` items are left out.

DEST is written under a temporary name beside it and renamed when complete.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from geoscribe.errors import InputError
from geoscribe.region import SPLITS
from geoscribe.shards import iter_samples

FORMATS = ("llava", "geochat", "rsvqa")
IMAGE_TOKEN = "<image>"
SHORT_ANSWER = "Answer the question using a single word or phrase."  # LLaVA-1.5's VQA prompt
DESCRIBE = "Describe the image."
RSVQA_TYPES = {"presence": "presence", "comparison": "comp", "count": "count", "area": "area"}
GEOCHAT_BOX = re.compile(r"\{<(-?\d+)><(-?\d+)><(-?\d+)><(-?\d+)>(?:\|<(-?\d+)>)?\}")
JSON_BOX = re.compile(r"\[\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?),\s*"
                      r"(-?\d+(?:\.\d+)?)\s*\]")
ARTICLE = re.compile(r"\b(?:a|an|the)\s", re.IGNORECASE)
TASK_TAG = re.compile(r"^\s*\[(refer)\]\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One sample of the output: its split, tar key, image bytes and extension, record."""

    split: str
    key: str
    ext: str
    image: bytes
    record: dict


def _shards(out: Path, splits: tuple[str, ...]) -> list[Path]:
    data = out / "data"
    if not data.is_dir() or not any(data.glob("*.tar")):
        raise InputError(str(out), "not a geoscribe output (no data/*.tar shards)")
    return [shard for split in splits for shard in sorted(data.glob(f"{split}-*.tar"))]


def _sample(split: str, shard: Path, members: dict) -> Sample:
    key = members["__key__"]
    ext = next((e for e in ("jpg", "png") if e in members), None)
    if ext is None or "json" not in members:
        raise InputError(str(shard), f"sample {key} has no jpg/png image or no json record "
                                     "(not a geoscribe shard)")
    try:
        record = json.loads(members["json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(shard), f"sample {key}: invalid record json ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(str(shard), f"sample {key}: the record is not a JSON object")
    return Sample(split, key, ext, members[ext], record)


def read_samples(out: Path, splits: tuple[str, ...]) -> Iterator[Sample]:
    """Every sample of `splits` in OUT's shards, in shard order; one-line errors for a folder
    that is not a geoscribe output or a shard that cannot be read."""
    for shard in _shards(out, splits):
        split = shard.name.split("-")[0]
        try:
            for members in iter_samples(shard):
                yield _sample(split, shard, members)
        except tarfile.TarError as exc:
            raise InputError(str(shard), f"unreadable shard ({exc})") from None


def one_image(turns: list[dict]) -> list[dict]:
    """Turns with every `<image>` token removed and one leading the first human turn (what
    LLaVA's preprocess does to a one-image sample); checks human/gpt alternation."""
    cleaned = [{"from": t["from"], "value": str(t["value"]).replace(IMAGE_TOKEN, "").strip()}
               for t in turns]
    roles = [t["from"] for t in cleaned]
    if not cleaned or roles != ["human", "gpt"] * (len(roles) // 2) or len(roles) % 2:
        raise ValueError(f"turns do not alternate human/gpt starting with human: {roles}")
    cleaned[0]["value"] = f"{IMAGE_TOKEN}\n{cleaned[0]['value']}"
    return cleaned


def record_turns(record: dict) -> list[dict]:
    """The record's conversation: its own turns, else its QA items, else its caption."""
    if record.get("conversations"):
        return list(record["conversations"])
    if record.get("qa"):
        turns = []
        for item in record["qa"]:
            turns.append({"from": "human", "value": f"{item['question']}\n{SHORT_ANSWER}"})
            turns.append({"from": "gpt", "value": str(item["answer"])})
        return turns
    return [{"from": "human", "value": DESCRIBE},
            {"from": "gpt", "value": record["texts"]["caption"]}]


def _grid_box(bbox_px, width: int, height: int, theta: int) -> str:
    x0, y0, x1, y1 = (max(0, min(100, round(v / side * 100)))
                      for v, side in zip(bbox_px, (width, height, width, height), strict=True))
    return f"{{<{x0}><{y0}><{x1}><{y1}>|<{theta}>}}"


def _json_to_grid(text: str, record: dict) -> str:
    """Pixel JSON boxes as GeoChat boxes (θ of the record's feature with that box, else 0)."""
    chip = record.get("chip") or {}
    width, height = chip.get("width"), chip.get("height")
    if not width or not height:
        return text
    features = {tuple(round(v, 1) for v in f["bbox_px"]): f
                for f in record.get("features") or [] if f.get("bbox_px")}

    def convert(match: re.Match) -> str:
        box = tuple(float(v) for v in match.groups())
        feature = features.get(tuple(round(v, 1) for v in box))
        if feature is None:
            return _grid_box(box, width, height, 0)
        return _grid_box(feature["bbox_px"], width, height, int(feature.get("rotation_deg") or 0))

    return JSON_BOX.sub(convert, text)


def _phrase_start(segment: str) -> int | None:
    """Where the noun phrase ending `segment` starts (its last article after the last
    punctuation), or None when there is none."""
    tail_from = max(segment.rfind(c) for c in ",.;:!?") + 1
    starts = [m.start() for m in ARTICLE.finditer(segment, tail_from)]
    return starts[-1] if starts else None


def mark_phrases(text: str) -> str:
    """`a building {box}` -> `<p>a building</p> {box}` for every box preceded by a phrase."""
    if "<p>" in text:
        return text
    parts, last = [], 0
    for match in GEOCHAT_BOX.finditer(text):
        segment = text[last:match.start()]
        start = _phrase_start(segment)
        if start is None or not segment[start:].strip():
            parts.append(segment)
        else:
            parts.append(f"{segment[:start]}<p>{segment[start:].strip()}</p> ")
        parts.append(match.group(0))
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)


def geochat_turn(turn: dict, record: dict) -> dict:
    """One turn in GeoChat's markup (grid boxes, `<p>` phrases, GeoChat's refer prompt)."""
    value = _json_to_grid(turn["value"], record)
    if turn["from"] == "gpt":
        value = mark_phrases(value)
    else:
        refer = TASK_TAG.match(value.replace(f"{IMAGE_TOKEN}\n", ""))
        if refer and "<p>" not in refer.group(2) and not GEOCHAT_BOX.search(refer.group(2)):
            prefix = f"{IMAGE_TOKEN}\n" if value.startswith(IMAGE_TOKEN) else ""
            value = f"{prefix}[refer] Give me the location of <p>{refer.group(2).strip()}</p>"
    return {"from": turn["from"], "value": value}


def chat_entry(sample: Sample, fmt: str) -> dict:
    """A LLaVA-layout entry for the sample: id, image path, conversations."""
    try:
        turns = one_image(record_turns(sample.record))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(sample.key, f"cannot read the record's conversation ({exc})") from None
    if fmt == "geochat":
        turns = [geochat_turn(t, sample.record) for t in turns]
    return {"id": sample.record.get("id", sample.key), "image": f"images/{sample.key}.{sample.ext}",
            "conversations": turns}


def write_chat(samples: Iterator[Sample], tmp: Path, fmt: str) -> dict[str, int]:
    """DEST/{split}.json and DEST/images/ for llava or geochat; samples written per split."""
    (tmp / "images").mkdir()
    entries: dict[str, list[dict]] = {}
    for sample in samples:
        (tmp / "images" / f"{sample.key}.{sample.ext}").write_bytes(sample.image)
        entries.setdefault(sample.split, []).append(chat_entry(sample, fmt))
    for split, items in entries.items():
        (tmp / f"{split}.json").write_text(json.dumps(items, ensure_ascii=False, indent=1),
                                           encoding="utf-8")
    return {split: len(items) for split, items in entries.items()}


@dataclass
class RsvqaTables:
    """The three RSVQA tables of one split."""

    images: list[dict]
    questions: list[dict]
    answers: list[dict]


def _rsvqa_add(tables: RsvqaTables, record: dict, ids: dict[str, int], key: str) -> None:
    image_id = ids["image"]
    ids["image"] += 1
    question_ids = []
    for item in record["qa"]:
        qid, aid = ids["question"], ids["answer"]
        ids["question"] += 1
        ids["answer"] += 1
        kind = str(item.get("type", ""))
        tables.questions.append({"id": qid, "img_id": image_id,
                                 "type": RSVQA_TYPES.get(kind, kind),
                                 "question": str(item["question"]), "answers_ids": [aid],
                                 "active": True})
        tables.answers.append({"id": aid, "question_id": qid, "answer": str(item["answer"]),
                               "active": True})
        question_ids.append(qid)
    tables.images.append({"id": image_id, "questions_ids": question_ids, "active": True,
                          "original_name": key})


def write_rsvqa(samples: Iterator[Sample], tmp: Path, prefix: str) -> dict[str, int]:
    """RSVQA's three json files per split and Images_{prefix}/{id}.ext; ids unique overall."""
    images_dir = tmp / f"Images_{prefix}"
    images_dir.mkdir()
    ids = {"image": 0, "question": 0, "answer": 0}
    tables: dict[str, RsvqaTables] = {}
    for sample in samples:
        if not sample.record.get("qa"):
            continue
        table = tables.setdefault(sample.split, RsvqaTables([], [], []))
        (images_dir / f"{ids['image']}.{sample.ext}").write_bytes(sample.image)
        try:
            _rsvqa_add(table, sample.record, ids, sample.key)
        except (KeyError, TypeError) as exc:
            raise InputError(sample.key, f"unexpected qa item ({exc})") from None
    if not tables:
        raise InputError("--format rsvqa", "the output has no qa items (a QA recipe's output "
                                           "is needed, e.g. rsvqa-like)")
    for split, table in tables.items():
        for name in ("images", "questions", "answers"):
            path = tmp / f"{prefix}_split_{split}_{name}.json"
            path.write_text(json.dumps({name: getattr(table, name)}, ensure_ascii=False),
                            encoding="utf-8")
    return {split: len(table.images) for split, table in tables.items()}


def _check_dest(dest: Path, overwrite: bool) -> None:
    if dest.exists() and not dest.is_dir():
        raise InputError(str(dest), "exists and is not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise InputError(str(dest), "not empty (give --overwrite to replace it)")


def _parse_splits(split: str) -> tuple[str, ...]:
    if split == "all":
        return SPLITS
    chosen = tuple(s.strip() for s in split.split(","))
    unknown = [s for s in chosen if s not in SPLITS]
    if unknown:
        raise InputError("--split", f"unknown split {unknown[0]!r} (choose all or "
                                    f"{', '.join(SPLITS)})")
    return chosen


def export(out: Path, fmt: str, dest: Path, split: str = "all", prefix: str = "geoscribe",
           overwrite: bool = False) -> dict[str, int]:
    """Export OUT to DEST in `fmt`; return the exported samples per split."""
    if fmt not in FORMATS:
        raise InputError("--format", f"unknown format {fmt!r} (choose {', '.join(FORMATS)})")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
        raise InputError("--prefix", f"{prefix!r} is not a plain file-name prefix")
    splits = _parse_splits(split)
    _check_dest(dest, overwrite)
    _shards(out, splits)  # fail before creating anything
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        samples = read_samples(out, splits)
        counts = write_rsvqa(samples, tmp, prefix) if fmt == "rsvqa" else write_chat(
            samples, tmp, fmt)
        if not counts:
            raise InputError(str(out), f"no samples in split {split!r}")
        tmp.chmod(0o755)  # mkdtemp made it private
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return counts
