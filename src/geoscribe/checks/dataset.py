"""Validate a built output folder: every sample's record, text and image, and the stats."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from geoscribe.checks.schema import key_errors, record_errors
from geoscribe.shards import iter_samples, shard_stats_path
from geoscribe.sources.registry_data import sha256_of


@dataclass
class DatasetReport:
    samples: int = 0
    shards: int = 0
    problems: list[str] = field(default_factory=list)


def validate_dataset(out: Path) -> DatasetReport:
    """Check every shard under OUT/data against its stats json and the record contract."""
    report = DatasetReport()
    shards = sorted((out / "data").glob("*.tar"))
    if not shards:
        report.problems.append(f"{out / 'data'}: no shards")
    seen: set[str] = set()
    for shard in shards:
        report.shards += 1
        report.problems.extend(shard_file_problems(shard))
        try:
            for sample in iter_samples(shard):
                report.samples += 1
                report.problems.extend(sample_problems(shard, sample, seen))
        except (tarfile.TarError, OSError, EOFError) as exc:
            report.problems.append(f"{shard.name}: unreadable tar, truncated or corrupt ({exc})")
    return report


def shard_file_problems(shard: Path) -> list[str]:
    """A shard file against its stats json: present, readable, same size and sha256."""
    stats_path = shard_stats_path(shard)
    if not stats_path.exists():
        return [f"{shard.name}: missing stats json"]
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{stats_path.name}: invalid JSON ({exc})"]
    if not isinstance(stats, dict):
        return [f"{stats_path.name}: not a JSON object"]
    size = shard.stat().st_size
    if stats.get("tar_bytes") is not None and stats["tar_bytes"] != size:
        return [f"{shard.name}: {size} bytes, its stats json says {stats['tar_bytes']} "
                "(truncated or altered)"]
    if stats.get("sha256") is not None and stats["sha256"] != sha256_of(shard):
        return [f"{shard.name}: sha256 differs from its stats json (altered)"]
    return []


def sample_problems(shard: Path, sample: dict, seen: set[str]) -> list[str]:
    """One sample of a shard against the record contract (adds its key to `seen`)."""
    split = shard.name.split("-")[0]
    key = sample["__key__"]
    where = f"{shard.name}:{key}"
    problems = []
    if key in seen:
        problems.append(f"{where}: duplicate key")
    seen.add(key)
    if "json" not in sample or "txt" not in sample:
        return [*problems, f"{where}: missing .json or .txt"]
    try:
        record = json.loads(sample["json"])
        caption = sample["txt"].decode("utf-8")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [*problems, f"{where}: unreadable .json or .txt ({exc})"]
    if not isinstance(record, dict):
        return [*problems, f"{where}: .json is not an object"]
    problems.extend(f"{where}: {err}" for err in record_errors(record) + key_errors(record))
    if record.get("id") != key:
        problems.append(f"{where}: id {record.get('id')!r} != key")
    if record.get("split") != split:
        problems.append(f"{where}: split {record.get('split')!r} in {split} shard")
    if caption != _field(record, "texts").get("caption"):
        problems.append(f"{where}: .txt differs from texts.caption")
    return problems + image_problems(where, sample, record)


def image_problems(where: str, sample: dict, record: dict) -> list[str]:
    """A sample's image: present, decodable, RGB and of the record's chip size."""
    image_bytes = sample.get("jpg") or sample.get("png")
    if image_bytes is None:
        return [f"{where}: no .jpg/.png"]
    try:
        image = Image.open(io.BytesIO(image_bytes))
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return [f"{where}: unreadable image ({exc})"]
    chip = _field(record, "chip")
    if image.mode != "RGB" or image.size != (chip.get("width"), chip.get("height")):
        return [f"{where}: image {image.mode} {image.size} does not match chip"]
    return []


def _field(record: dict, name: str) -> dict:
    """A record's object field, {} when it is missing or not an object (the schema check
    reports that)."""
    value = record.get(name)
    return value if isinstance(value, dict) else {}
