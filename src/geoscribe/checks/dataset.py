"""Validate a built output folder: every sample's record, text and image, and the stats."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from geoscribe.checks.schema import key_errors, record_errors
from geoscribe.shards import iter_samples


@dataclass
class DatasetReport:
    samples: int = 0
    shards: int = 0
    problems: list[str] = field(default_factory=list)


def validate_dataset(out: Path) -> DatasetReport:
    """Check every shard under OUT/data against the record contract."""
    report = DatasetReport()
    shards = sorted((out / "data").glob("*.tar"))
    if not shards:
        report.problems.append(f"{out / 'data'}: no shards")
    seen: set[str] = set()
    for shard in shards:
        report.shards += 1
        split = shard.name.split("-")[0]
        if not (shard.parent / f"{shard.name.removesuffix('.tar')}_stats.json").exists():
            report.problems.append(f"{shard.name}: missing stats json")
        for sample in iter_samples(shard):
            report.samples += 1
            key = sample["__key__"]
            where = f"{shard.name}:{key}"
            if key in seen:
                report.problems.append(f"{where}: duplicate key")
            seen.add(key)
            if "json" not in sample or "txt" not in sample:
                report.problems.append(f"{where}: missing .json or .txt")
                continue
            record = json.loads(sample["json"])
            for err in record_errors(record) + key_errors(record):
                report.problems.append(f"{where}: {err}")
            if record.get("id") != key:
                report.problems.append(f"{where}: id {record.get('id')!r} != key")
            if record.get("split") != split:
                report.problems.append(f"{where}: split {record.get('split')!r} in {split} shard")
            if sample["txt"].decode("utf-8") != record.get("texts", {}).get("caption"):
                report.problems.append(f"{where}: .txt differs from texts.caption")
            image_bytes = sample.get("jpg") or sample.get("png")
            if image_bytes is None:
                report.problems.append(f"{where}: no .jpg/.png")
                continue
            image = Image.open(io.BytesIO(image_bytes))
            if image.mode != "RGB" or image.size != (record["chip"]["width"],
                                                     record["chip"]["height"]):
                report.problems.append(f"{where}: image {image.mode} {image.size} "
                                       "does not match chip")
    return report
