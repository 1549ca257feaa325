"""WebDataset writing: per-unit part tars, then deterministic shards with per-shard stats.

Samples are written once, in webdataset's tar layout (fixed mtime, owner and mode; the bytes
webdataset.TarWriter writes) into a unit's part tar; the writer records each sample's byte
range. Shards are then assembled by copying those ranges (whole tar members, headers included)
in unit order and closing the archive as tarfile does, so the same inputs give byte-identical
shards and no sample is re-encoded. A shard is written under a temporary name and renamed when
complete; its metadata parquet (shard_meta.py) follows it, and its stats json comes last.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from geoscribe.files import atomic_write_text
from geoscribe.region import SPLITS
from geoscribe.shard_meta import json_member, metadata_row, write_metadata, write_sizes

FIXED_MTIME = 0.0
OWNER = "geoscribe"
END_OF_ARCHIVE = tarfile.BLOCKSIZE * 2


def _ustar_template() -> bytearray:
    """A ustar header of a regular file with geoscribe's fixed fields; name, size and checksum
    are filled per member (the layout tarfile writes for USTAR_FORMAT)."""
    info = tarfile.TarInfo("x")
    info.mtime, info.mode, info.uname, info.gname = int(FIXED_MTIME), 0o644, OWNER, OWNER
    return bytearray(info.tobuf(tarfile.USTAR_FORMAT))


_TEMPLATE = _ustar_template()
# the fixed fields around name [0:100], size [124:136] and checksum [148:156]; the checksum
# is the sum of all header bytes with its own field read as spaces, so the fixed part of it
# is summed once
_MODE_IDS, _MTIME, _REST = bytes(_TEMPLATE[100:124]), bytes(_TEMPLATE[136:148]), bytes(
    _TEMPLATE[156:])
_FIXED_SUM = sum(_MODE_IDS) + sum(_MTIME) + sum(_REST) + 8 * ord(" ")


def ustar_header(name: str, size: int) -> bytes:
    """The 512-byte header tarfile would write for this member (names of <= 100 ASCII bytes)."""
    raw = name.encode("ascii")
    size_field = b"%011o\0" % size
    checksum = _FIXED_SUM + sum(raw) + sum(size_field)
    return b"".join((raw, bytes(100 - len(raw)), _MODE_IDS, size_field, _MTIME,
                     b"%06o\0 " % checksum, _REST))


class SampleTarWriter:
    """Writes samples in webdataset's layout: members KEY.EXT in sorted EXT order, fixed
    mtime/owner/mode, ustar headers, the archive closed as tarfile closes it. These are the
    bytes webdataset.TarWriter writes (tests/test_shards.py compares them); webdataset itself is
    not imported because it imports torch when torch is installed (seconds per worker), and the
    headers are made from a template because tarfile's per-member overhead was measurable."""

    def __init__(self, fileobj) -> None:
        self.fh = fileobj
        self.offset = 0

    def write(self, sample: dict) -> int:
        """Append one sample ({"__key__": ..., ext: bytes}); return its payload bytes."""
        key = sample["__key__"]
        total = 0
        chunks = []
        for ext in sorted(k for k in sample if not k.startswith("__")):
            data = sample[ext]
            name = f"{key}.{ext}"
            if len(name) > 100 or not name.isascii():
                raise ValueError(f"tar member name too long or not ASCII: {name!r}")
            padding = -len(data) % tarfile.BLOCKSIZE
            chunks += (ustar_header(name, len(data)), data, bytes(padding))
            total += len(data)
        members = b"".join(chunks)  # one write per sample
        self.fh.write(members)
        self.offset += len(members)
        return total

    def close(self) -> None:
        """End the archive: two zero blocks, then zeros up to a whole 10240-byte record."""
        end = self.offset + END_OF_ARCHIVE
        self.fh.write(bytes(END_OF_ARCHIVE + (-end % tarfile.RECORDSIZE)))
        self.offset = end + (-end % tarfile.RECORDSIZE)


def _tar_writer(fileobj) -> SampleTarWriter:
    return SampleTarWriter(fileobj)


# json.dumps(record, ensure_ascii=False, separators=(",", ":")) without a new encoder per call
_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def record_json(record: dict) -> bytes:
    """A record as its sample's KEY.json member (compact UTF-8; records are built in a fixed
    key order, so no sorting is needed for stable bytes)."""
    return _RECORD_JSON(record).encode("utf-8")


def sample_members(key: str, image_ext: str, image: bytes, record: dict) -> dict:
    """The WebDataset sample: KEY.jpg|png, KEY.txt (== texts.caption) and KEY.json."""
    return {
        "__key__": key,
        image_ext: image,
        "txt": record["texts"]["caption"].encode("utf-8"),
        "json": record_json(record),
    }


class UnitPartWriter:
    """Writes one unit's samples into a temporary tar per split; `commit` renames them."""

    def __init__(self, unit_dir: Path, prefix: str = "") -> None:
        self.unit_dir = unit_dir
        self.prefix = prefix  # "llm-" for the LLM stage's parts
        unit_dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, object] = {}
        self._writers: dict[str, SampleTarWriter] = {}
        self.counts = {split: 0 for split in SPLITS}
        self.bytes = {split: 0 for split in SPLITS}
        self.ranges: dict[str, list[list]] = {split: [] for split in SPLITS}

    def write(self, split: str, members: dict) -> None:
        """Append a sample; remember its [key, start, end] byte range in the part tar."""
        if split not in self._writers:
            fh = open(self.unit_dir / f"{self.prefix}{split}.tar.tmp", "wb")  # noqa: SIM115
            self._files[split] = fh
            self._writers[split] = _tar_writer(fh)
        writer = self._writers[split]
        start = writer.offset
        self.bytes[split] += writer.write(members)
        self.ranges[split].append([members["__key__"], start, writer.offset])
        self.counts[split] += 1

    def commit(self) -> None:
        for split, writer in self._writers.items():
            writer.close()
            fh = self._files[split]
            if not fh.closed:  # no fsync: a unit is cheap to redo; its marker comes last
                fh.close()
            os.replace(self.unit_dir / f"{self.prefix}{split}.tar.tmp",
                       self.unit_dir / f"{self.prefix}{split}.tar")

    def abort(self) -> None:
        for split, writer in self._writers.items():
            try:
                writer.close()
            finally:
                (self.unit_dir / f"{self.prefix}{split}.tar.tmp").unlink(missing_ok=True)


def shard_stats_path(shard: Path) -> Path:
    """The stats json written next to a shard: `data/train-000000.tar` ->
    `data/train-000000_stats.json`."""
    return shard.with_name(f"{shard.name.removesuffix('.tar')}_stats.json")


def iter_samples(tar_path: Path, stream: BinaryIO | None = None) -> Iterator[dict]:
    """Read samples back from a tar written by this module (members grouped by key); from
    `stream` (read once, front to back) instead of opening `tar_path` when it is given."""
    current: dict | None = None
    how = {"name": tar_path, "mode": "r"} if stream is None else {"fileobj": stream, "mode": "r|"}
    with tarfile.open(**how) as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            data = tar.extractfile(member).read()
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key}
            current[ext] = data
    if current is not None:
        yield current


class ShardSink:
    """Writes samples of one split into data/{split}-NNNNNN.tar, capped by count and bytes.

    A sample arrives as the raw bytes of its tar members (headers included), as written by
    UnitPartWriter; `bytes` caps count those member bytes.
    """

    def __init__(self, data_dir: Path, split: str, max_samples: int, max_bytes: int) -> None:
        self.data_dir = data_dir
        self.split = split
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self.index = 0
        self.shards: list[dict] = []
        self._fh = None
        self._count = 0
        self._bytes = 0
        self._units: list[str] = []
        self._rows: list[dict] = []  # the shard's metadata parquet rows
        self._started = 0.0

    @property
    def name(self) -> str:
        return f"{self.split}-{self.index:06d}"

    def write_raw(self, members_bytes: bytes, unit: str) -> None:
        """Append one sample's tar members (a whole number of 512-byte blocks)."""
        size = len(members_bytes)
        if self._fh is not None and (
            self._count >= self.max_samples or self._bytes + size > self.max_bytes
        ):
            self._close_shard()
        if self._fh is None:
            self._open_shard()
        self._fh.write(members_bytes)
        self._hash.update(members_bytes)
        self._rows.append(metadata_row(json.loads(json_member(members_bytes))))
        self._count += 1
        self._bytes += size
        if not self._units or self._units[-1] != unit:
            self._units.append(unit)

    def write(self, sample: dict, unit: str) -> None:
        """Append a sample given as a dict of members (encoded like a part tar would be)."""
        self.write_raw(encode_sample(sample), unit)

    def _open_shard(self) -> None:
        self._fh = open(self.data_dir / f"{self.name}.tar.tmp", "wb")  # noqa: SIM115
        self._hash = hashlib.sha256()
        self._count = self._bytes = 0
        self._units = []
        self._rows = []
        self._started = time.perf_counter()

    def _close_shard(self) -> None:
        written = self._bytes + END_OF_ARCHIVE
        padding = -written % tarfile.RECORDSIZE  # as tarfile.close() pads the archive
        tail = b"\0" * (END_OF_ARCHIVE + padding)
        self._fh.write(tail)
        self._hash.update(tail)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        final = self.data_dir / f"{self.name}.tar"
        os.replace(self.data_dir / f"{self.name}.tar.tmp", final)
        write_metadata(final, self._rows)
        self.shards.append({
            "shard": final.name,
            "split": self.split,
            "samples": self._count,
            "member_bytes": self._bytes,
            "tar_bytes": final.stat().st_size,
            "sha256": self._hash.hexdigest(),
            "units": list(self._units),
            "write_seconds": round(time.perf_counter() - self._started, 4),
        })
        self._fh = None
        self.index += 1

    def close(self) -> list[dict]:
        if self._fh is not None:
            self._close_shard()
        return self.shards

    def abort(self) -> None:
        """Drop the shard being written (its `.tar.tmp`), if any; finished shards stay."""
        if self._fh is None:
            return
        fh, self._fh = self._fh, None
        with contextlib.suppress(OSError):  # closing flushes: it can fail as the write did
            fh.close()
        (self.data_dir / f"{self.name}.tar.tmp").unlink(missing_ok=True)


def encode_sample(sample: dict) -> bytes:
    """The tar member bytes of one sample, exactly as a part tar stores them."""
    buffer = io.BytesIO()
    writer = _tar_writer(buffer)
    writer.write(sample)
    return buffer.getvalue()


def copy_ranges(part: Path, ranges: list[list], sink: ShardSink, unit: str) -> None:
    """Copy samples (by their recorded byte ranges) from a part tar into a shard sink."""
    with open(part, "rb") as fh:
        data = fh.read()  # a part is one unit's samples: small enough to read at once
    view = memoryview(data)
    for _key, start, end in ranges:
        sink.write_raw(view[start:end], unit)


def write_shards(new_dir: Path, tars: list[Path], rewrite, max_samples: int,
                 max_bytes: int, origin: str = "rescored_from") -> list[dict]:
    """The samples of `tars` that `rewrite` keeps, in new shards under `new_dir` (made afresh)
    with their parquet, stats json and sizes.json (each shard's source shards under `origin`);
    return the shard records. A failure leaves no half-written shard. Used by `geoscribe score`
    and `geoscribe review pull`."""
    if new_dir.exists():
        shutil.rmtree(new_dir)
    new_dir.mkdir()
    shards = []
    for split in SPLITS:
        sink = ShardSink(new_dir, split, max_samples, max_bytes)
        try:
            for tar in (t for t in tars if t.name.startswith(f"{split}-")):
                for sample in iter_samples(tar):
                    kept = rewrite(sample)
                    if kept is not None:
                        sink.write(kept, tar.stem)
        except BaseException:
            sink.abort()
            raise
        for shard in sink.close():
            shard[origin] = shard.pop("units")
            atomic_write_text(shard_stats_path(new_dir / shard["shard"]),
                              json.dumps(shard, indent=2))
            shards.append(shard)
    write_sizes(new_dir, shards)
    return shards


def replace_data_dir(out: Path, new_dir: Path) -> None:
    """Swap `new_dir` (complete shards) in as OUT/data; the old shards are removed last."""
    old_dir = out / "data.old"
    if old_dir.exists():
        shutil.rmtree(old_dir)
    (out / "data").rename(old_dir)
    new_dir.rename(out / "data")
    shutil.rmtree(old_dir)
