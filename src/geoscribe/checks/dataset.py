"""Validate a built output folder: every sample's record, text and image, and the stats."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from geoscribe.checks.schema import key_errors, record_errors
from geoscribe.shards import iter_samples, shard_stats_path


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
        report.problems.extend(shard_problems(shard, report, seen))
    return report


class _HashingReader(io.RawIOBase):
    """A file read once, front to back, whose sha256 is taken on the way."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.digest = fh, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.fh.readinto(buffer)
        self.digest.update(memoryview(buffer)[:n])
        return n

    def hexdigest(self) -> str:
        """The sha256 of the whole file (what is not read yet is read now)."""
        for block in iter(lambda: self.fh.read(1 << 20), b""):
            self.digest.update(block)
        return self.digest.hexdigest()


def shard_problems(shard: Path, report: DatasetReport, seen: set[str]) -> list[str]:
    """A shard's file problems (`shard_file_problems`) then its samples' problems, the file
    read once for both (counts its samples in `report`)."""
    expected, problems = shard_file_problems(shard)
    sample_list: list[str] = []
    with open(shard, "rb") as fh:
        reader = _HashingReader(fh)
        try:
            for sample in iter_samples(shard, io.BufferedReader(reader)):
                report.samples += 1
                sample_list.extend(sample_problems(shard, sample, seen))
        except (tarfile.TarError, OSError, EOFError) as exc:
            sample_list.append(f"{shard.name}: unreadable tar, truncated or corrupt ({exc})")
        if expected is not None and expected != reader.hexdigest():
            problems.append(f"{shard.name}: sha256 differs from its stats json (altered)")
    return problems + sample_list


def shard_file_problems(shard: Path) -> tuple[str | None, list[str]]:
    """A shard file against its stats json: present, readable, same size; and the sha256
    the shard must have (None: nothing to compare, or already wrong)."""
    stats_path = shard_stats_path(shard)
    if not stats_path.exists():
        return None, [f"{shard.name}: missing stats json"]
    try:
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [f"{stats_path.name}: invalid JSON ({exc})"]
    if not isinstance(stats, dict):
        return None, [f"{stats_path.name}: not a JSON object"]
    size = shard.stat().st_size
    if stats.get("tar_bytes") is not None and stats["tar_bytes"] != size:
        return None, [f"{shard.name}: {size} bytes, its stats json says {stats['tar_bytes']} "
                      "(truncated or altered)"]
    return stats.get("sha256"), []


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
