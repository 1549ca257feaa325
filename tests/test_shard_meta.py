"""data/sizes.json and the per-shard metadata parquet beside the shards (issue 12 case 3):
read with open_clip's own code and with pyarrow, checked against the tars read with tarfile."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds

from conftest import run_cli

SPLITS = ("train", "val", "test")


def _tar_records(shard: Path) -> list[tuple[dict, str]]:
    """(record, caption) of every sample of a shard, in tar order, read with tarfile."""
    with tarfile.open(shard) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    keys = list(dict.fromkeys(name.partition(".")[0] for name in members))
    return [(json.loads(members[f"{k}.json"]), members[f"{k}.txt"].decode()) for k in keys]


def _shards(out: Path, split: str) -> list[Path]:
    return sorted((out / "data").glob(f"{split}-*.tar"))


def test_open_clip_get_dataset_size_reads_sizes_json(built):
    """issue 12 case 3: open_clip's get_dataset_size finds every split's sample count."""
    from open_clip_train.data import get_dataset_size

    for split in SPLITS:
        shards = _shards(built, split)
        if not shards:
            continue
        last = shards[-1].name.removesuffix(".tar").split("-")[1]
        pattern = str(built / "data" / f"{split}-{{000000..{last}}}.tar")
        total, count = get_dataset_size(pattern)
        assert count == len(shards)
        assert total == sum(len(_tar_records(s)) for s in shards)


def test_open_clip_trainer_loads_the_train_split_as_the_readme_says(built):
    """issue 12 case 3: the README's open_clip options, parsed by open_clip's own argument
    parser, give a training loader (get_data) sized from sizes.json, no --train-num-samples
    needed (without sizes.json get_data raises). The loader is not iterated: open_clip 3.3's
    tarfile_to_samples_nothrow fails on webdataset 1.x's samples (KeyError 'fname') for any
    shards, an upstream incompatibility."""
    import torch
    from open_clip_train.data import get_data
    from open_clip_train.params import parse_args

    shards = _shards(built, "train")
    assert len(shards) == 1
    args = parse_args(["--train-data", str(built / "data" / "train-{000000..000000}.tar"),
                       "--dataset-type", "webdataset", "--workers", "1", "--batch-size", "1"])
    args.distributed, args.world_size = False, 1

    def preprocess(image):
        return torch.zeros(3, 4, 4) + image.size[0]

    data = get_data(args, (preprocess, preprocess), epoch=0,
                    tokenizer=lambda texts: torch.tensor([[len(t) for t in texts]]))
    loader = data["train"].dataloader
    expected = len(_tar_records(shards[0]))
    assert loader.num_samples == loader.num_batches == expected


def _expected_row(record: dict, caption: str) -> dict:
    west, south, east, north = record["chip"]["bbox_wgs84"]
    focus = [f for f in record["features"] if f["focus"]]
    return {"key": record["id"], "split": record["split"], "recipe": record["recipe"],
            "caption": caption, "lon_min": west, "lat_min": south, "lon_max": east,
            "lat_max": north, "lon": pytest.approx((west + east) / 2, abs=1e-8),
            "lat": pytest.approx((south + north) / 2, abs=1e-8),
            "focus_tags": ([{"key": k, "value": v} for k, v in sorted(focus[0]["tags"].items())]
                           if focus else None),
            "n_features": len(record["features"]), "n_qa": len(record.get("qa", [])),
            "clip_score": record["scores"]["clip"],
            "review_status": record["review"]["status"],
            "generator_kind": record["generator"]["kind"],
            "template_id": record["generator"].get("template_id")}


def _check_parquets(out: Path) -> int:
    """Every shard's parquet has one row per sample, in order, with the record's values."""
    total = 0
    for shard in sorted((out / "data").glob("*.tar")):
        rows = pq.read_table(shard.with_suffix(".parquet")).to_pylist()
        samples = _tar_records(shard)
        assert len(rows) == len(samples) > 0
        for row, (record, caption) in zip(rows, samples, strict=True):
            want = _expected_row(record, caption)
            got = {k: row[k] for k in want}
            assert got == want
        total += len(rows)
    return total


def _check_sizes(out: Path) -> None:
    sizes = json.loads((out / "data" / "sizes.json").read_text())
    assert sizes == {s.name: len(_tar_records(s)) for s in (out / "data").glob("*.tar")}


def test_parquet_rows_are_the_tar_records(built):
    """issue 12 case 3: the per-shard parquet equals the tars' records (pyarrow vs tarfile)."""
    stats = json.loads((built / "stats.json").read_text())
    assert _check_parquets(built) == stats["samples"]
    _check_sizes(built)


def _add_duplicate(shard: Path) -> str:
    """Append a copy of the shard's first sample under a new key (webdataset's TarWriter)."""
    with tarfile.open(shard) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    keys = list(dict.fromkeys(name.partition(".")[0] for name in members))
    samples = [{"__key__": k, **{n.partition(".")[2]: v for n, v in members.items()
                                 if n.partition(".")[0] == k}} for k in keys]
    copy = dict(samples[0])
    record = json.loads(copy["json"])
    record["id"] = copy["__key__"] = "zz_duplicate"
    copy["json"] = json.dumps(record).encode()
    with wds.TarWriter(str(shard)) as sink:
        for sample in [*samples, copy]:
            sink.write(sample)
    return keys[0]


def test_score_dedup_rewrites_sizes_and_parquets_with_the_shards(built, tmp_path):
    """issue 12 case 3: after `geoscribe score --dedup` drops a duplicate, sizes.json and the
    parquets agree with the new tars, and `geoscribe validate` checks both."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    before = len(_tar_records(out / "data" / "train-000000.tar"))
    _add_duplicate(out / "data" / "train-000000.tar")
    run_cli("geoscribe", "score", str(out), "--dedup", "--no-progress", check=True)
    assert len(_tar_records(out / "data" / "train-000000.tar")) == before
    _check_sizes(out)
    _check_parquets(out)
    result = run_cli("geoscribe", "validate", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_reports_sizes_and_parquet_out_of_step(built, tmp_path):
    """issue 12 case 3: a wrong sizes.json, a parquet missing a row or a missing parquet are
    each reported by `geoscribe validate`."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    sizes = json.loads((out / "data" / "sizes.json").read_text())
    sizes["train-000000.tar"] += 1
    (out / "data" / "sizes.json").write_text(json.dumps(sizes))
    table = pq.read_table(out / "data" / "train-000000.parquet")
    pq.write_table(table.slice(1), out / "data" / "train-000000.parquet")
    (out / "data" / "val-000000.parquet").unlink()
    result = run_cli("geoscribe", "validate", str(out))
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert "sizes.json" in text
    assert "train-000000.parquet: differs" in text
    assert "val-000000.parquet: missing" in text
