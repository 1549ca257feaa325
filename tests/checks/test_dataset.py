"""checks/dataset.py (`geoscribe validate`): shards against their stats json and the record
contract, each shard read once. Expected values come from tarfile/hashlib directly."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

from geoscribe.checks.dataset import validate_dataset


def _copy(built: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(built / "data", out / "data")
    shutil.copy(built / "stats.json", out / "stats.json")
    return out


def _train(out: Path) -> Path:
    return out / "data" / "train-000000.tar"


def _rewrite(shard: Path, change) -> None:
    """Rewrite a shard with `change(name, data) -> data` applied to every member, and its
    stats json to match (so only record problems remain)."""
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.isfile()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in members:
            data = change(member.name, data)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    shard.write_bytes(buffer.getvalue())
    stats_path = shard.with_name(shard.name.removesuffix(".tar") + "_stats.json")
    stats = json.loads(stats_path.read_text())
    stats.update(tar_bytes=len(buffer.getvalue()),
                 sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    stats_path.write_text(json.dumps(stats))


def test_clean_build_has_no_problems_and_counts_every_sample(built):
    """issue 11 mends: a finished build validates; samples = distinct keys in the tars."""
    report = validate_dataset(built)
    shards = sorted((built / "data").glob("*.tar"))
    keys = set()
    for shard in shards:
        with tarfile.open(shard) as tar:
            keys |= {m.name.partition(".")[0] for m in tar if m.isfile()}
    assert report.problems == []
    assert (report.shards, report.samples) == (len(shards), len(keys))


def test_altered_byte_of_same_size_is_a_sha256_problem(built, tmp_path):
    """issue 11 mends: the hash taken while reading the samples still catches an altered
    byte that keeps the size (the image bytes, so every record stays valid)."""
    out = _copy(built, tmp_path)
    shard = _train(out)
    data = bytearray(shard.read_bytes())
    data[-1100] ^= 0xFF  # inside the last member or the end padding: the records parse
    shard.write_bytes(bytes(data))
    problems = validate_dataset(out).problems
    assert f"{shard.name}: sha256 differs from its stats json (altered)" in problems


def test_each_shard_is_opened_once(built, tmp_path, monkeypatch):
    """issue 11 mends: validate read every shard twice (once to hash, once for samples)."""
    out = _copy(built, tmp_path)
    opened: list[str] = []
    real_open = builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file).endswith(".tar"):
            opened.append(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(tarfile, "bltn_open", counting_open)
    report = validate_dataset(out)
    assert report.problems == []
    names = sorted(p.name for p in (out / "data").glob("*.tar"))
    assert sorted(opened) == names


def test_truncated_shard_is_named_with_its_size(built, tmp_path):
    """issue 11 mends: a cut shard: the size problem (no hash compared), then the tar error."""
    out = _copy(built, tmp_path)
    shard = _train(out)
    size = shard.stat().st_size
    shard.write_bytes(shard.read_bytes()[: size // 2])
    problems = [p for p in validate_dataset(out).problems if p.startswith(shard.name)]
    assert problems[0].startswith(f"{shard.name}: {size // 2} bytes, its stats json says {size}")
    assert not any("sha256" in p for p in problems)


def test_missing_stats_json_still_checks_the_samples(built, tmp_path):
    """issue 11 mends: without its stats json a shard is still read and its samples counted."""
    out = _copy(built, tmp_path)
    shard = _train(out)
    shard.with_name("train-000000_stats.json").unlink()
    report = validate_dataset(out)
    assert report.problems == [f"{shard.name}: missing stats json"]
    assert report.samples == validate_dataset(built).samples


def test_caption_and_split_mismatches_are_reported(built, tmp_path):
    """issue 11 mends: .txt must equal texts.caption; a record's split must be its shard's."""
    out = _copy(built, tmp_path)
    shard = _train(out)
    with tarfile.open(shard) as tar:
        first = next(m.name.partition(".")[0] for m in tar if m.isfile())

    def change(name: str, data: bytes) -> bytes:
        if name == f"{first}.txt":
            return b"another caption"
        if name == f"{first}.json":
            record = json.loads(data)
            record["split"] = "val"
            return json.dumps(record).encode()
        return data

    _rewrite(shard, change)
    problems = validate_dataset(out).problems
    assert problems == [f"{shard.name}:{first}: split 'val' in train shard",
                        f"{shard.name}:{first}: .txt differs from texts.caption"]


def test_no_shards_is_a_problem(tmp_path):
    """issue 11 mends: an output without shards."""
    (tmp_path / "data").mkdir()
    report = validate_dataset(tmp_path)
    assert report.problems == [f"{tmp_path / 'data'}: no shards"]
    assert (report.shards, report.samples) == (0, 0)


def test_stats_json_splits_and_shards_against_the_tars(built, tmp_path):
    """issue 15 (validate: splits): stats.json's samples per split and shard list are checked
    against the samples counted in the tars, and a shard named after no split is reported."""
    out = _copy(built, tmp_path)
    assert validate_dataset(out).problems == []
    stats = json.loads((out / "stats.json").read_text())
    counted = {}
    for split in ("train", "val", "test"):
        with tarfile.open(out / "data" / f"{split}-000000.tar") as tar:
            counted[split] = len({m.name.partition(".")[0] for m in tar if m.isfile()})
    stats["samples_by_split"] = {**counted, "val": counted["val"] + 1}
    stats["shards"] = [*stats["shards"], "train-000009.tar"]
    (out / "stats.json").write_text(json.dumps(stats))
    shutil.copy(out / "data" / "test-000000.tar", out / "data" / "extra-000000.tar")
    shutil.copy(out / "data" / "test-000000_stats.json", out / "data" / "extra-000000_stats.json")
    problems = validate_dataset(out).problems
    assert "extra-000000.tar: not a train/val/test shard name" in problems
    assert any(p.startswith("stats.json: samples_by_split") and f"'val': {counted['val'] + 1}"
               in p for p in problems)
    assert any(p.startswith("stats.json: shards") and "train-000009.tar" in p
               for p in problems)
