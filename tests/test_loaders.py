"""The output folder loads with webdataset and with datasets (as CLIP trainers read it)."""

from __future__ import annotations

import json
import tarfile

import webdataset as wds
from datasets import load_dataset


def _expected(built):
    keys = {}
    for shard in (built / "data").glob("*.tar"):
        with tarfile.open(shard) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".txt"):
                    keys[m.name[:-4]] = tar.extractfile(m).read().decode()
    return keys


def test_webdataset_reads_image_text_pairs(built):
    urls = sorted(str(p) for p in (built / "data").glob("*.tar"))
    dataset = wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple(
        "__key__", "png", "txt", "json")
    seen = {}
    for key, image, text, record in dataset:
        assert image.size == (record["chip"]["width"], record["chip"]["height"])
        assert text == record["texts"]["caption"]
        seen[key] = text
    assert seen == _expected(built)


def test_datasets_load_dataset_webdataset(built, tmp_path):
    files = {split: sorted(str(p) for p in (built / "data").glob(f"{split}-*.tar"))
             for split in ("train", "val", "test")}
    files = {k: v for k, v in files.items() if v}
    ds = load_dataset("webdataset", data_files=files, cache_dir=str(tmp_path / "hf"))
    total = 0
    stats = json.loads((built / "stats.json").read_text())
    for split, part in ds.items():
        assert len(part) == stats["samples_by_split"][split]
        row = part[0]
        assert row["txt"] == row["json"]["texts"]["caption"]
        assert row["json"]["split"] == split
        total += len(part)
    assert total == stats["samples"]
