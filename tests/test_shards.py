"""Shard writing: caps by count and bytes, fixed tar metadata, read-back."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import webdataset as wds

from geoscribe.shards import (
    ShardSink,
    encode_sample,
    iter_samples,
    sample_members,
    shard_stats_path,
)


def _record(key: str) -> dict:
    return {"id": key, "texts": {"caption": f"caption of {key}"}}


def _write(tmp_path, n: int, max_samples: int, max_bytes: int, payload: int = 100):
    sink = ShardSink(tmp_path, "train", max_samples, max_bytes)
    for i in range(n):
        key = f"k{i:03d}"
        sink.write(sample_members(key, "jpg", bytes([i % 256]) * payload, _record(key)), "u1")
    return sink.close()


def test_count_cap_splits_shards(tmp_path):
    shards = _write(tmp_path, 7, max_samples=3, max_bytes=10**9)
    assert [s["samples"] for s in shards] == [3, 3, 1]
    assert [s["shard"] for s in shards] == ["train-000000.tar", "train-000001.tar",
                                            "train-000002.tar"]
    assert not list(tmp_path.glob("*.tmp"))


def test_byte_cap_splits_shards(tmp_path):
    one = len(encode_sample(sample_members("k000", "jpg", b"x" * 600, _record("k000"))))
    shards = _write(tmp_path, 6, max_samples=1000, max_bytes=2 * one + 10, payload=600)
    for shard in shards:
        assert shard["member_bytes"] <= 2 * one + 10
    assert [s["samples"] for s in shards] == [2, 2, 2]


def test_shard_bytes_equal_a_plain_webdataset_tarwriter_archive(tmp_path):
    shards = _write(tmp_path, 5, max_samples=10, max_bytes=10**9)
    reference = tmp_path / "reference.tar"
    with open(reference, "wb") as fh:
        writer = wds.TarWriter(fh, user="geoscribe", group="geoscribe", mode=0o644, mtime=0.0,
                               encoder=False)
        writer.tarstream.format = tarfile.USTAR_FORMAT  # plain ustar headers, no pax records
        for i in range(5):
            key = f"k{i:03d}"
            writer.write(sample_members(key, "jpg", bytes([i % 256]) * 100, _record(key)))
        writer.close()
    assert (tmp_path / shards[0]["shard"]).read_bytes() == reference.read_bytes()


def test_members_have_fixed_metadata_and_round_trip(tmp_path):
    shards = _write(tmp_path, 4, max_samples=10, max_bytes=10**9)
    path = tmp_path / shards[0]["shard"]
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            assert member.mtime == 0 and member.mode == 0o644 and member.uname == "geoscribe"
    samples = list(iter_samples(path))
    assert [s["__key__"] for s in samples] == ["k000", "k001", "k002", "k003"]
    assert samples[2]["txt"] == b"caption of k002"
    assert json.loads(samples[2]["json"])["id"] == "k002"
    assert shards[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_samples_give_identical_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _write(tmp_path / "a", 5, 10, 10**9)
    b = _write(tmp_path / "b", 5, 10, 10**9)
    assert a[0]["sha256"] == b[0]["sha256"]


def test_shard_stats_path_sits_next_to_its_shard(tmp_path):
    """issue 11 (dedupe 3): the one spelling of a shard's stats json."""
    assert shard_stats_path(tmp_path / "train-000003.tar") == tmp_path / "train-000003_stats.json"
    assert shard_stats_path(Path("data/val-000000.tar")) == Path("data/val-000000_stats.json")


def test_abort_drops_the_shard_being_written_and_keeps_finished_ones(tmp_path):
    """issue 11 review (partial shards): the sink removes what it began on abort: the
    half-written `.tar.tmp` goes, the shards it finished stay whole (readable by tarfile)."""
    sink = ShardSink(tmp_path, "train", 2, 10**9)
    for i in range(3):  # two in train-000000 (closed), one in train-000001 (open)
        key = f"k{i:03d}"
        sink.write(sample_members(key, "jpg", b"x" * 50, _record(key)), "u1")
    assert (tmp_path / "train-000001.tar.tmp").exists()
    sink.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train-000000.parquet",
                                                          "train-000000.tar"]
    with tarfile.open(tmp_path / "train-000000.tar") as tar:
        assert len(tar.getmembers()) == 2 * 3  # jpg, json, txt of two samples
    sink.abort()  # nothing open: nothing to do
