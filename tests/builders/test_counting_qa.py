"""counting-qa end to end on generated masks, checked with scipy/numpy (the mask scene and its
build helper are shared with tests/builders/test_landcover_cls.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from conftest import run_cli
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, SIZE, Scene, write_raster
from test_cli_e2e import read_samples

TILE = 128
NODATA = 255
EIGHT = np.ones((3, 3), dtype=bool)


def _semantic_mask() -> np.ndarray:
    """Classes 1 (building) and 2 (tree) with the tricky cases placed at known pixels."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[10:20, 10:20] = 1
    mask[20:30, 20:30] = 1  # touches the first only diagonally: one component
    mask[10:20, 40:50] = 1
    mask[10:20, 51:61] = 1  # one background pixel apart: two components
    mask[60:70, 120:136] = 1  # crosses the tile edge at x=128: cut in two tiles
    mask[100:102, 100:102] = 1  # 4 px: under --min-object-px 10
    mask[200:230, 200:215] = 2
    mask[300:310, 300:330] = NODATA  # nodata splits nothing but is not an object
    rng = np.random.default_rng(3)
    for _ in range(120):
        y, x = rng.integers(400, SIZE - 12), rng.integers(0, SIZE - 12)  # first tiles stay clean
        h, w = rng.integers(2, 12, 2)
        mask[y:y + h, x:x + w] = rng.integers(1, 3)
    return mask


def _write_mask(path: Path, data: np.ndarray, gsd: float, nodata=NODATA) -> None:
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype="uint8", crs=CRS, transform=from_origin(ORIGIN_X, ORIGIN_Y, gsd, gsd),
                   nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def tile_scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiles")
    raster = d / "image.tif"
    write_raster(raster, seed=5)
    semantic = _semantic_mask()
    _write_mask(d / "semantic.tif", semantic, GSD)
    coarse = semantic[::2, ::2].copy()  # a mask at 1.0 m on the 0.5 m imagery's origin
    _write_mask(d / "coarse.tif", coarse, GSD * 2)
    (d / "classes.json").write_text(json.dumps({"1": "building", "2": "tree"}))
    return {"dir": d, "raster": raster, "semantic": semantic, "coarse": coarse,
            "scene": Scene(raster, d / "none.osm")}


def _build(tile_scene, recipe: str, mask: str, out: Path, *extra: str) -> list[dict]:
    d = tile_scene["dir"]
    run_cli("build-dataset", recipe, f"--region={tile_scene['scene'].bbox}", "--out", str(out),
            "--imagery", str(tile_scene["raster"]), "--labels", str(d / mask),
            "--class-map", str(d / "classes.json"), "--chip-size", str(TILE),
            "--image-format", "png", "--split-block-deg", "1", "--no-progress", *extra,
            check=True)
    return [json.loads(s["json"]) for s in read_samples(out)]


def _truth_counts(window: np.ndarray, min_px: int) -> dict[str, int]:
    counts = {}
    for value, name in ((1, "building"), (2, "tree")):
        labels, n = ndimage.label(window == value, structure=EIGHT)
        sizes = np.bincount(labels.ravel())[1:]
        counts[name] = int((sizes >= min_px).sum())
    return counts


def _window(mask: np.ndarray, record: dict, factor: int = 1) -> np.ndarray:
    w = record["chip"]["source_window"]
    full = np.kron(mask, np.ones((factor, factor), dtype=mask.dtype)) if factor > 1 else mask
    return full[w["row_off"]:w["row_off"] + w["height"], w["col_off"]:w["col_off"] + w["width"]]


def test_counting_qa_counts_are_the_mask_counts(tile_scene, tmp_path):
    records = _build(tile_scene, "counting-qa", "semantic.tif", tmp_path / "o")
    assert len(records) == (SIZE // TILE) ** 2
    for record in records:
        truth = _truth_counts(_window(tile_scene["semantic"], record), 10)
        assert record["evidence"]["counts"] == truth, record["id"]
        answers = {q["classes"][0]: q["answer_number"] for q in record["qa"]
                   if q["type"] == "count"}
        assert answers and all(truth[c] == n for c, n in answers.items())
        total = next(q for q in record["qa"] if q["type"] == "total")
        assert total["answer_number"] == sum(truth.values())
        for q in record["qa"]:
            assert q["classes"]
            if q["type"] == "presence":
                assert q["answer"] == ("yes" if truth[q["classes"][0]] else "no")
            if q["type"] == "comparison":
                a, b = q["classes"]
                assert q["answer"] == ("yes" if truth[a] > truth[b] else "no")


def test_tricky_cases_in_the_first_tile(tile_scene, tmp_path):
    records = _build(tile_scene, "counting-qa", "semantic.tif", tmp_path / "o")
    first = next(r for r in records if r["chip"]["source_window"]["col_off"] == 0
                 and r["chip"]["source_window"]["row_off"] == 0)
    boxes = [o["bbox_px"] for o in first["evidence"]["objects"]]
    assert [10, 10, 30, 30] in boxes  # the diagonal pair is one object
    assert [40, 10, 50, 20] in boxes and [51, 10, 61, 20] in boxes
    assert [100, 100, 102, 102] not in boxes  # 4 px object ignored
    edge = [o for o in first["evidence"]["objects"] if o["bbox_px"] == [120, 60, 128, 70]]
    assert edge and edge[0]["cut"] and first["evidence"]["cut_by_edge"]["building"] >= 1
    count = next(q for q in first["qa"] if q["type"] == "count" and q["classes"] == ["building"])
    assert count["cut_by_edge"] == first["evidence"]["cut_by_edge"]["building"]


def test_presence_answers_are_balanced(tile_scene, tmp_path):
    records = _build(tile_scene, "counting-qa", "semantic.tif", tmp_path / "o")
    answers = [q["answer"] for r in records for q in r["qa"] if q["type"] == "presence"]
    units = {json.loads((tmp_path / "o" / "stats.json").read_text())["units"]["total"]}
    assert "yes" in answers and "no" in answers
    assert abs(answers.count("yes") - answers.count("no")) <= max(units)


def test_mask_on_another_grid_is_read_with_nearest_neighbour(tile_scene, tmp_path):
    records = _build(tile_scene, "counting-qa", "coarse.tif", tmp_path / "o")
    assert records
    for record in records:
        truth = _truth_counts(_window(tile_scene["coarse"], record, factor=2), 10)
        assert record["evidence"]["counts"] == truth, record["id"]


def test_instance_masks_keep_touching_objects_apart(tile_scene, tmp_path):
    ids = np.zeros((SIZE, SIZE), dtype=np.uint8)
    ids[5:25, 5:25] = 1
    ids[5:25, 25:45] = 2  # touches id 1 along an edge
    ids[50:60, 50:53] = 3  # 30 px
    ids[70:72, 70:73] = 4  # 6 px: below the minimum
    d = tile_scene["dir"]
    _write_mask(d / "instances.tif", ids, GSD, nodata=None)
    (d / "any_building.json").write_text(json.dumps({"*": "building"}))
    out = tmp_path / "o"
    run_cli("build-dataset", "counting-qa", f"--region={tile_scene['scene'].bbox}", "--out",
            str(out), "--imagery", str(tile_scene["raster"]), "--labels", str(d / "instances.tif"),
            "--class-map", str(d / "any_building.json"), "--mask-kind", "instance",
            "--chip-size", str(TILE), "--split-block-deg", "1", "--no-progress", check=True)
    records = [json.loads(s["json"]) for s in read_samples(out)]
    first = next(r for r in records if r["chip"]["source_window"]["col_off"] == 0
                 and r["chip"]["source_window"]["row_off"] == 0)
    assert first["evidence"]["counts"] == {"building": 3}
    assert sorted(o["value"] for o in first["evidence"]["objects"]) == [1, 2, 3]
    others = [r for r in records if r is not first]
    assert all(r["evidence"]["counts"] == {"building": 0} for r in others)


def test_tile_recipes_need_a_class_map(tile_scene, tmp_path):
    result = run_cli("build-dataset", "counting-qa", f"--region={tile_scene['scene'].bbox}",
                     "--out", str(tmp_path / "o"), "--imagery", str(tile_scene["raster"]),
                     "--labels", str(tile_scene["dir"] / "semantic.tif"), "--no-progress")
    assert result.returncode == 2 and "--class-map" in result.stderr
    assert "Traceback" not in result.stderr


def test_counting_qa_demo_on_spacenet_masks(tmp_path):
    out = tmp_path / "demo"
    run_cli("build-dataset", "counting-qa", "--region", "demo", "--out", str(out),
            "--no-progress", check=True)
    records = [json.loads(s["json"]) for s in read_samples(out)]
    assert len(records) >= 30
    kinds = {r["evidence"]["mask_kind"] for r in records}
    assert kinds == {"instance", "semantic"}
    buildings = sum(r["evidence"]["counts"].get("building", 0) for r in records)
    assert buildings > 0
    assert all(r["image"]["license"] == "CC-BY-SA-4.0" for r in records)
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
