"""The output folder loads with webdataset and with datasets (as CLIP trainers read it)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import webdataset as wds
from datasets import load_dataset
from rasterio.transform import from_origin

from conftest import run_cli
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, SIZE, Scene, write_raster


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


# issue 12 case 1: every recipe's output, typed one way, loads with every consumer

VECTOR_RECIPES = ("skyscript-like", "rsvqa-like", "geochat-like", "rsteller-like")
MASK_RECIPES = ("counting-qa", "landcover-cls", "chatearthnet-like")


def _mask_inputs(d: Path) -> tuple[Path, Path, Path, str]:
    """A real GeoTIFF image and a co-registered label raster (classes 1 and 2, patches)."""
    d.mkdir(parents=True, exist_ok=True)
    image = d / "image.tif"
    write_raster(image, seed=5)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    rng = np.random.default_rng(7)
    for _ in range(150):
        y, x = rng.integers(0, SIZE - 20, 2)
        h, w = rng.integers(4, 20, 2)
        mask[y:y + h, x:x + w] = rng.integers(1, 3)
    profile = dict(driver="GTiff", width=SIZE, height=SIZE, count=1, dtype="uint8", crs=CRS,
                   transform=from_origin(ORIGIN_X, ORIGIN_Y, GSD, GSD), nodata=255)
    with rasterio.open(d / "mask.tif", "w", **profile) as dst:
        dst.write(mask, 1)
    (d / "classes.json").write_text(json.dumps({"1": "building", "2": "tree"}))
    return image, d / "mask.tif", d / "classes.json", Scene(image, d / "none.osm").bbox


SPLIT_ARGS = ("--split-block-deg", "0.0015", "--split-fractions", "0.5,0.25,0.25",
              "--image-format", "png", "--no-progress")


@pytest.fixture(scope="module")
def every_recipe(scene, tmp_path_factory) -> dict[str, Path]:
    """One build of each recipe (vector recipes on the generated scene, mask recipes on a
    generated label raster) and rsvqa-like again with LLM-reworded QA (tests/llm_fake.py)."""
    from llm_fake import FakeLLM

    root = tmp_path_factory.mktemp("recipes")
    outs = {}
    for recipe in VECTOR_RECIPES:
        outs[recipe] = root / recipe
        run_cli("build-dataset", recipe, f"--region={scene.bbox}", "--out", str(outs[recipe]),
                "--imagery", str(scene.raster), "--osm", str(scene.osm), *SPLIT_ARGS,
                check=True)
    image, mask, classes, bbox = _mask_inputs(root / "mask")
    for recipe in MASK_RECIPES:
        outs[recipe] = root / recipe
        run_cli("build-dataset", recipe, f"--region={bbox}", "--out", str(outs[recipe]),
                "--imagery", str(image), "--labels", str(mask), "--class-map", str(classes),
                "--chip-size", "128", *SPLIT_ARGS, check=True)
    fake = FakeLLM()
    try:
        outs["rsvqa-like+llm"] = root / "rsvqa-llm"
        run_cli("build-dataset", "rsvqa-like", f"--region={scene.bbox}", "--out",
                str(outs["rsvqa-like+llm"]), "--imagery", str(scene.raster), "--osm",
                str(scene.osm), "--llm", f"m@{fake.base_url}", "--llm-cache",
                str(root / "llm.sqlite"), *SPLIT_ARGS, check=True)
    finally:
        fake.close()
    return outs


def _tar_counts(out: Path) -> dict[str, int]:
    """Samples per split, counted from the shards with tarfile (one .json member each)."""
    counts: dict[str, int] = {}
    for shard in (out / "data").glob("*.tar"):
        with tarfile.open(shard) as tar:
            n = sum(1 for m in tar.getmembers() if m.name.endswith(".json"))
        split = shard.name.split("-")[0]
        counts[split] = counts.get(split, 0) + n
    return counts


def _records(out: Path) -> list[dict]:
    records = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            records += [json.load(tar.extractfile(m)) for m in tar.getmembers()
                        if m.name.endswith(".json")]
    return records


def _json_types(value, path: str, found: dict[str, set]) -> None:
    """The JSON type of every field path (list items under `path[]`), walked recursively."""
    kind = ("null" if value is None else "boolean" if isinstance(value, bool)
            else "number" if isinstance(value, int | float) else "string"
            if isinstance(value, str) else "array" if isinstance(value, list) else "object")
    found.setdefault(path, set()).add(kind)
    children = (value.items() if isinstance(value, dict)
                else (("[]", v) for v in value) if isinstance(value, list) else ())
    for name, child in children:
        _json_types(child, f"{path}.{name}" if name != "[]" else f"{path}[]", found)


def test_every_field_has_one_json_type_across_all_recipes(every_recipe):
    """issue 12 case 1: across all records of all recipes (with and without LLM fields and
    evidence), each field path has one JSON type besides null; answers are text with the
    typed value beside them."""
    found: dict[str, set] = {}
    records = [r for out in every_recipe.values() for r in _records(out)]
    assert {r["recipe"] for r in records} == set(VECTOR_RECIPES + MASK_RECIPES)
    for record in records:
        _json_types(record, "", found)
    mixed = {path: kinds for path, kinds in found.items() if len(kinds - {"null"}) > 1}
    assert mixed == {}
    qa = [q for r in records for q in r.get("qa", [])]
    assert any("answer_text" in q for q in qa)  # the LLM build reworded some
    for q in qa:
        assert isinstance(q["answer"], str)
        if "answer_number" in q:
            assert q["answer"] == str(q["answer_number"])
        if "answer_bool" in q:
            assert q["answer"] == ("yes" if q["answer_bool"] else "no")
    assert {q["type"] for q in qa if "answer_number" in q} == {"count", "total"}


@pytest.mark.parametrize("name", VECTOR_RECIPES + MASK_RECIPES + ("rsvqa-like+llm",))
def test_every_recipe_loads_with_datasets_and_webdataset(every_recipe, name, tmp_path):
    """issue 12 case 1: the folder loads through its card's configs with datasets (in memory
    and streaming) and with webdataset, with the shards' row count per split."""
    out = every_recipe[name]
    expected = _tar_counts(out)
    assert sum(expected.values()) > 0
    loaded = load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert {split: len(part) for split, part in loaded.items()} == expected
    for part in loaded.values():
        assert all(isinstance(q["answer"], str) for row in part for q in row["json"].get(
            "qa") or [])
    streamed = load_dataset(str(out), streaming=True)
    assert {split: sum(1 for _ in part) for split, part in streamed.items()} == expected
    urls = sorted(str(p) for p in (out / "data").glob("*.tar"))
    seen: dict[str, int] = {}
    for key, record in wds.WebDataset(urls, shardshuffle=False).decode().to_tuple(
            "__key__", "json"):
        assert record["id"] == key
        seen[record["split"]] = seen.get(record["split"], 0) + 1
    assert seen == expected
    sizes = json.loads((out / "data" / "sizes.json").read_text())  # issue 12 case 3
    rows = {shard: pq.read_metadata(out / "data" / shard.replace(".tar", ".parquet")).num_rows
            for shard in sizes}
    assert rows == sizes
    assert {split: sum(n for shard, n in sizes.items() if shard.startswith(f"{split}-"))
            for split in expected} == expected
