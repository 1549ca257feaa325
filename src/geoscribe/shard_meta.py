"""What is written beside the shards for tools that do not read tars (issue 12 case 3).

- `data/{split}-NNNNNN.parquet`: one row per sample of the shard of the same name, in shard
  order (img2dataset, NeMo Curator and DataComp tooling filter and count from such files);
- `data/sizes.json`: shard file name -> sample count, as open_clip's `get_dataset_size` reads
  it from the shards' folder (so `--train-num-samples` is not needed).

Both are written atomically (a temporary name, then a rename) by the shard writer, after the
shard itself, by every command that writes shards (build, `geoscribe score`).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from geoscribe.files import atomic_write_text

SIZES_FILE = "sizes.json"

# (column, arrow type name); pyarrow is imported only where a table is made or read
COLUMNS = (
    ("key", "string"), ("split", "string"), ("recipe", "string"), ("caption", "string"),
    ("lon_min", "float64"), ("lat_min", "float64"), ("lon_max", "float64"),
    ("lat_max", "float64"), ("lon", "float64"), ("lat", "float64"),
    ("primary_class", "string"), ("focus_tags", "tags"), ("n_features", "int64"),
    ("n_qa", "int64"), ("n_turns", "int64"), ("clip_score", "float64"),
    ("clip_model", "string"), ("review_status", "string"), ("generator_kind", "string"),
    ("template_id", "string"), ("model", "string"),
)


def metadata_path(shard: Path) -> Path:
    """`data/train-000000.tar` -> `data/train-000000.parquet`."""
    return shard.with_name(f"{shard.name.removesuffix('.tar')}.parquet")


def json_member(members: bytes | memoryview) -> bytes:
    """The KEY.json member's bytes of one sample given as its raw tar members (ustar headers
    as shards.SampleTarWriter writes them)."""
    offset = 0
    while offset + tarfile.BLOCKSIZE <= len(members):
        header = bytes(members[offset:offset + tarfile.BLOCKSIZE])
        name = header[:100].rstrip(b"\0")
        size = int(header[124:136].strip(b"\0 ") or b"0", 8)
        start = offset + tarfile.BLOCKSIZE
        if name.endswith(b".json"):
            return bytes(members[start:start + size])
        offset = start + size + (-size % tarfile.BLOCKSIZE)
    raise ValueError("sample without a .json member")


def _primary_class(record: dict) -> str | None:
    """The tile's label class; else the class with most objects (ties: first by name)."""
    label = record.get("label")
    if label:
        return label.get("class")
    counts = (record.get("evidence") or {}).get("counts") or {}
    if counts and max(counts.values()) > 0:
        return min(counts, key=lambda name: (-counts[name], name))
    return None


def metadata_row(record: dict) -> dict:
    """The parquet row of one record (see COLUMNS and the README's Output section); a field
    the record lacks is null."""
    box = (record.get("chip") or {}).get("bbox_wgs84")
    west, south, east, north = box or (None,) * 4
    focus = next((f for f in record.get("features") or [] if f.get("focus")), None)
    generator, scores = record.get("generator") or {}, record.get("scores") or {}
    return {
        "key": record.get("id"), "split": record.get("split"), "recipe": record.get("recipe"),
        "caption": (record.get("texts") or {}).get("caption"),
        "lon_min": west, "lat_min": south, "lon_max": east, "lat_max": north,
        "lon": round((west + east) / 2, 8) if box else None,
        "lat": round((south + north) / 2, 8) if box else None,
        "primary_class": _primary_class(record),
        "focus_tags": ([{"key": k, "value": v} for k, v in sorted(focus["tags"].items())]
                       if focus else None),
        "n_features": len(record.get("features") or []), "n_qa": len(record.get("qa") or []),
        "n_turns": len(record.get("conversations") or []),
        "clip_score": scores.get("clip"), "clip_model": scores.get("clip_model"),
        "review_status": (record.get("review") or {}).get("status"),
        "generator_kind": generator.get("kind"), "template_id": generator.get("template_id"),
        "model": generator.get("model"),
    }


def metadata_schema():
    """The arrow schema of a shard's parquet (focus_tags: list<struct<key, value>>)."""
    import pyarrow as pa

    kinds = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(),
             "tags": pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))}
    return pa.schema([(name, kinds[kind]) for name, kind in COLUMNS])


def write_metadata(shard: Path, rows: list[dict]) -> Path:
    """Write the shard's parquet under a temporary name, then rename it into place. The table
    is parsed from JSON lines by Arrow's reader against the fixed schema: converting Python
    lists (pa.array) imports pandas, seconds per build process."""
    import pyarrow.json as pa_json
    import pyarrow.parquet as pq

    path = metadata_path(shard)
    tmp = path.with_name(path.name + ".tmp")
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    table = pa_json.read_json(io.BytesIO(lines.encode("utf-8")), parse_options=pa_json.ParseOptions(
        explicit_schema=metadata_schema(), unexpected_field_behavior="error"))
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    return path


def read_metadata(shard: Path) -> list[dict]:
    """The rows of a shard's parquet, as metadata_row gives them."""
    import pyarrow.parquet as pq

    return pq.read_table(metadata_path(shard)).to_pylist()


def write_sizes(data_dir: Path, shards: list[dict]) -> Path:
    """data/sizes.json: {shard file name: samples} of every shard written."""
    path = data_dir / SIZES_FILE
    sizes = {shard["shard"]: shard["samples"] for shard in shards}
    atomic_write_text(path, json.dumps(dict(sorted(sizes.items())), indent=2))
    return path
