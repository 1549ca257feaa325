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
from geoscribe.region import SPLITS
from geoscribe.shard_meta import SIZES_FILE, metadata_path, metadata_row, read_metadata
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
    counts: dict[str, int] = {}
    for shard in shards:
        report.shards += 1
        before = report.samples
        report.problems.extend(shard_problems(shard, report, seen))
        counts[shard.name] = report.samples - before
    if shards:
        report.problems.extend(sizes_problems(out / "data", counts))
        report.problems.extend(split_problems(out, counts))
    return report


def split_problems(out: Path, counts: dict[str, int]) -> list[str]:
    """Shard names against the splits, and stats.json's shards and samples per split against
    the samples counted in the tars (issue 15)."""
    problems = [f"{name}: not a {'/'.join(SPLITS)} shard name" for name in counts
                if name.split("-")[0] not in SPLITS]
    try:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [*problems, "stats.json: missing"]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [*problems, f"stats.json: invalid JSON ({exc})"]
    by_split = {split: sum(n for name, n in counts.items() if name.split("-")[0] == split)
                for split in SPLITS}
    recorded = stats.get("samples_by_split") if isinstance(stats, dict) else None
    if not isinstance(recorded, dict) or {s: recorded.get(s, 0) for s in SPLITS} != by_split:
        problems.append(f"stats.json: samples_by_split {recorded} differs from the shards' "
                        f"{by_split}")
    listed = stats.get("shards") if isinstance(stats, dict) else None
    if isinstance(listed, list) and sorted(listed) != sorted(counts):
        problems.append(f"stats.json: shards {sorted(listed)} differ from data/'s "
                        f"{sorted(counts)}")
    return problems


def sizes_problems(data_dir: Path, counts: dict[str, int]) -> list[str]:
    """data/sizes.json against the samples counted in the tars (issue 12 case 3)."""
    path = data_dir / SIZES_FILE
    try:
        sizes = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{SIZES_FILE}: missing"]
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"{SIZES_FILE}: invalid JSON ({exc})"]
    if sizes != counts:
        return [f"{SIZES_FILE}: {sizes} differs from the shards' sample counts {counts}"]
    return []


def metadata_problems(shard: Path, records: list[dict]) -> list[str]:
    """The shard's parquet against its records: one row each, in order, the same values."""
    if not metadata_path(shard).exists():
        return [f"{metadata_path(shard).name}: missing"]
    try:
        expected = [metadata_row(record) for record in records]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []  # a record off the contract: reported by the record checks
    try:
        rows = read_metadata(shard)
    except Exception as exc:  # noqa: BLE001 (any unreadable parquet is one problem)
        return [f"{metadata_path(shard).name}: unreadable ({exc})"]
    if rows != expected:
        first = next((i for i, (a, b) in enumerate(zip(rows, expected, strict=False))
                      if a != b), min(len(rows), len(expected)))
        return [f"{metadata_path(shard).name}: differs from the tar's records "
                f"({len(rows)} rows, {len(expected)} samples; first difference at row {first})"]
    return []


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
    records: list[dict] = []
    with open(shard, "rb") as fh:
        reader = _HashingReader(fh)
        try:
            for sample in iter_samples(shard, io.BufferedReader(reader)):
                report.samples += 1
                found = sample_problems(shard, sample, seen)
                sample_list.extend(found)
                if not found:
                    records.append(json.loads(sample["json"]))
        except (tarfile.TarError, OSError, EOFError) as exc:
            sample_list.append(f"{shard.name}: unreadable tar, truncated or corrupt ({exc})")
        else:
            if not sample_list:
                problems.extend(metadata_problems(shard, records))
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
