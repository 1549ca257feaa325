"""End-to-end: the real CLI on the generated UTM scene, checked independently."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import rasterio
import shapely
from affine import Affine
from PIL import Image
from pyproj import Transformer
from rasterio.windows import Window

from conftest import build_args, run_cli
from scene import CRS


def read_samples(out: Path) -> list[dict]:
    samples = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            grouped: dict[str, dict] = {}
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                grouped.setdefault(key, {"__key__": key, "__shard__": shard.name})[ext] = (
                    tar.extractfile(member).read())
            samples.extend(grouped.values())
    return samples


def by_osm_id(samples: list[dict]) -> dict[tuple[str, int], dict]:
    result = {}
    for s in samples:
        record = json.loads(s["json"])
        focus = next(f for f in record["features"] if f["focus"])
        result[(focus["osm_type"], focus["osm_id"])] = s
    return result


def test_build_writes_valid_shards_and_stats(built: Path, scene):
    stats = json.loads((built / "stats.json").read_text())
    samples = read_samples(built)
    assert stats["samples"] == len(samples) >= 15
    assert sum(stats["samples_by_split"].values()) == len(samples)
    for shard in (built / "data").glob("*.tar"):
        shard_stats = json.loads((built / "data" / f"{shard.stem}_stats.json").read_text())
        assert shard_stats["shard"] == shard.name
        assert shard_stats["samples"] == sum(1 for s in samples if s["__shard__"] == shard.name)
    result = run_cli("geoscribe", "validate", str(built))
    assert result.returncode == 0, result.stdout + result.stderr
    shown = sum(min(24, n) for n in stats["samples_by_split"].values())  # issue 15: up to 24
    assert (built / "preview.html").read_text().count('<figure class="sample') == shown
    card = (built / "README.md").read_text()
    assert "\nlicense: unknown\n" in card.split("---")[1]  # the scene's imagery has no license
    assert "ODbL-1.0" in card and "© OpenStreetMap contributors" in card


def test_every_scene_feature_is_a_focus_once(built: Path, scene):
    samples = by_osm_id(read_samples(built))
    stats = json.loads((built / "stats.json").read_text())
    expected = {(f.osm_type, f.osm_id) for f in scene.features}
    skipped = sum(v for k, v in stats["skipped"].items() if not k.startswith("no_groundable"))
    assert set(samples) <= expected
    assert len(samples) + skipped == len(expected)


def _focus_px(feature, transform: Affine) -> tuple[float, float, float, float]:
    inv = ~transform
    pts = [inv @ xy for xy in feature.utm + (feature.inner or [])]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def test_focus_inside_chip_and_bbox_px_matches_projection(built: Path, scene):
    samples = by_osm_id(read_samples(built))
    to_wgs = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    checked = 0
    for feature in scene.features:
        sample = samples.get((feature.osm_type, feature.osm_id))
        if sample is None:
            continue
        record = json.loads(sample["json"])
        chip = record["chip"]
        assert chip["crs"] == CRS
        transform = Affine(*chip["transform"])
        x0, y0, x1, y1 = _focus_px(feature, transform)
        focus = next(f for f in record["features"] if f["focus"])
        if feature.osm_type == "node":
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            bx = focus["bbox_px"]
            assert abs((bx[0] + bx[2]) / 2 - cx) <= 2 and abs((bx[1] + bx[3]) / 2 - cy) <= 2
        else:
            assert np.allclose(focus["bbox_px"], [x0, y0, x1, y1], atol=2.0), feature.osm_id
        assert x0 >= 0 and y0 >= 0 and x1 <= chip["width"] and y1 <= chip["height"]
        # the chip's lon/lat box contains the feature
        lonlat = [to_wgs.transform(*xy) for xy in feature.utm]
        bbox = shapely.box(*chip["bbox_wgs84"])
        assert bbox.buffer(1e-7).contains(shapely.MultiPoint(lonlat))
        checked += 1
    assert checked >= 15


def test_other_visible_features_listed_with_boxes(built: Path, scene):
    samples = read_samples(built)
    feats = {(f.osm_type, f.osm_id): f for f in scene.features}
    for sample in samples:
        record = json.loads(sample["json"])
        transform = Affine(*record["chip"]["transform"])
        size = record["chip"]["width"]
        listed = {(f["osm_type"], f["osm_id"]) for f in record["features"] if not f["focus"]}
        focus = next(f for f in record["features"] if f["focus"])
        for key, feature in feats.items():
            if key == (focus["osm_type"], focus["osm_id"]):
                continue
            x0, y0, x1, y1 = _focus_px(feature, transform)
            visible = x1 > 0 and y1 > 0 and x0 < size and y0 < size
            if feature.osm_type == "way" and len(feature.utm) == 2:  # a line: test the segment
                inv = ~transform
                visible = shapely.LineString([inv @ p for p in feature.utm]).intersects(
                    shapely.box(0, 0, size, size))
            assert (key in listed) == visible, (record["id"], key)


def test_chip_pixels_equal_source_window(built: Path, scene):
    samples = read_samples(built)
    exact = 0
    with rasterio.open(scene.raster) as src:
        for sample in samples:
            record = json.loads(sample["json"])
            win = record["chip"]["source_window"]
            chip = np.asarray(Image.open(io.BytesIO(sample["png"])).convert("RGB"))
            raw = src.read(window=Window(win["col_off"], win["row_off"], win["width"],
                                         win["height"]))
            raw = np.moveaxis(raw, 0, -1)
            if win["width"] == record["chip"]["width"]:
                assert np.array_equal(chip, raw), record["id"]
                exact += 1
            else:  # downsampled: compare with an independent box-filter resize
                ref = np.asarray(Image.fromarray(raw).resize(chip.shape[:2][::-1], Image.BOX))
                assert np.abs(chip.astype(int) - ref.astype(int)).mean() < 6, record["id"]
    assert exact >= 12


def test_caption_txt_matches_record_and_tags(built: Path):
    for sample in read_samples(built):
        record = json.loads(sample["json"])
        caption = sample["txt"].decode()
        assert caption == record["texts"]["caption"]
        focus = next(f for f in record["features"] if f["focus"])
        assert "name" not in focus["tags"] and not any(k.startswith("addr:")
                                                       for k in focus["tags"])
        assert "House" not in caption and "Tower" not in caption  # names are not groundable
        if focus["tags"].get("man_made") == "water_tower":
            assert "water tower" in caption and record["texts"]["title"] == "water tower"
        if focus["tags"].get("roof:shape") == "gabled":
            assert "gabled roof" in caption
        if "roof:shape" not in focus["tags"]:
            assert "roof" not in caption
        others = [f for f in record["features"] if not f["focus"]]
        if not others:
            assert "also visible" not in caption
        assert record["image"]["license"]
        assert "ODbL-1.0" in record["provenance"]["licenses"]
        assert record["generator"]["kind"] == "template"


def test_splits_are_spatially_disjoint(built: Path):
    boxes = {"train": [], "val": [], "test": []}
    for sample in read_samples(built):
        record = json.loads(sample["json"])
        boxes[record["split"]].append(shapely.box(*record["chip"]["bbox_wgs84"]))
        assert sample["__shard__"].startswith(record["split"] + "-")
    assert all(boxes.values()), {k: len(v) for k, v in boxes.items()}
    for a in boxes:
        for b in boxes:
            if a < b:
                for ga in boxes[a]:
                    for gb in boxes[b]:
                        assert ga.intersection(gb).area == 0


def test_keys_are_stable_and_dot_free(built: Path):
    for sample in read_samples(built):
        record = json.loads(sample["json"])
        assert "." not in sample["__key__"] and record["id"] == sample["__key__"]


def test_same_inputs_give_byte_identical_shards(built: Path, scene, tmp_path):
    out = tmp_path / "again"
    run_cli(*build_args(scene, out, "--workers", "1"), check=True)

    def digests(folder):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((folder / "data").glob("*.tar"))}

    assert digests(out) == digests(built)
    assert digests(out)


def test_rerun_is_a_no_op(built: Path, scene):
    before = {p.name: p.stat().st_mtime_ns for p in (built / "data").glob("*.tar")}
    result = run_cli(*build_args(scene, built), check=True)
    assert "already complete" in result.stdout
    assert before == {p.name: p.stat().st_mtime_ns for p in (built / "data").glob("*.tar")}
