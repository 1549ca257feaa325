"""rsvqa-like end to end on the generated scene: answers recomputed with shapely in UTM."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import shapely
from affine import Affine

from conftest import run_cli
from test_cli_e2e import read_samples

NAMES = {("building", "yes"): "building", ("building", "house"): "house",
         ("building", "warehouse"): "warehouse building",
         ("highway", "residential"): "residential road", ("man_made", "water_tower"): "water tower"}


def _name(tags: dict) -> str:
    for key in ("building", "man_made", "highway"):
        if key in tags:
            return NAMES[(key, tags[key])]
    raise KeyError(tags)


def _geometry(feature):
    if feature.osm_type == "node":
        return shapely.Point(feature.utm[0])
    if feature.osm_type == "relation":
        return shapely.Polygon(feature.utm, [feature.inner])
    if feature.utm[0] == feature.utm[-1]:
        return shapely.Polygon(feature.utm)
    return shapely.LineString(feature.utm)


def _tile(record: dict):
    """The tile's footprint in the scene's UTM metres, from the record's transform."""
    t = Affine(*record["chip"]["transform"])
    size = record["chip"]["width"]
    corners = [t @ (0, 0), t @ (size, size)]
    return shapely.box(min(c[0] for c in corners), min(c[1] for c in corners),
                       max(c[0] for c in corners), max(c[1] for c in corners))


def _area_bin(m2: float) -> str:
    if m2 <= 0:
        return "0 m2"
    for upper, label in ((10, "between 0 and 10 m2"), (100, "between 10 and 100 m2"),
                         (1000, "between 100 and 1000 m2")):
        if m2 <= upper:
            return label
    return "more than 1000 m2"


@pytest.fixture(scope="module")
def vqa(scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("vqa") / "o"
    run_cli("build-dataset", "rsvqa-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--qa-per-chip", "60", "--no-progress", check=True)
    return out, [json.loads(s["json"]) for s in read_samples(out)]


def test_answers_match_shapely_truth(vqa, scene):
    _, records = vqa
    assert records
    checked = Counter()
    for record in records:
        tile = _tile(record)
        inside: dict[str, list] = {}
        for feature in scene.features:
            geom = _geometry(feature)
            part = geom.intersection(tile)
            size_in = part.area if geom.geom_type == "Polygon" else part.length
            if (geom.geom_type == "Point" and tile.covers(geom)) or size_in > 1e-6:
                inside.setdefault(_name(feature.tags), []).append(part)
        for q in record["qa"]:
            name = q["classes"][0]
            if q["type"] == "count":
                assert q["answer_number"] == len(inside.get(name, [])), (record["id"], q)
            elif q["type"] == "presence":
                assert q["answer"] == ("yes" if name in inside else "no"), (record["id"], q)
            elif q["type"] == "area":
                area = sum(g.area for g in inside[name])
                assert q["area_m2"] == pytest.approx(area, rel=1e-3, abs=0.5)
                assert q["answer"] == _area_bin(area)
            elif q["type"] == "comparison":
                a, b = (len(inside.get(c, [])) for c in q["classes"])
                assert q["counts"] == [a, b]
            checked[q["type"]] += 1
    assert checked["count"] and checked["presence"] and checked["area"]


def test_questions_unique_per_chip_and_types_balanced(vqa):
    _, records = vqa
    per_type: dict[str, Counter] = {}
    for record in records:
        questions = [q["question"] for q in record["qa"]]
        assert len(questions) == len(set(questions))
        for q in record["qa"]:
            per_type.setdefault(q["type"], Counter())[str(q["answer"])] += 1
    presence = per_type["presence"]
    assert presence["yes"] and presence["no"]


def test_qa_types_weights_turn_types_off(scene, tmp_path):
    out = tmp_path / "o"
    run_cli("build-dataset", "rsvqa-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(scene.osm), "--split-block-deg", "1",
            "--qa-types", "count=1,area=0,presence=0,comparison=0,size=0,shape=0,relation=0",
            "--no-progress", check=True)
    types = {q["type"] for s in read_samples(out) for q in json.loads(s["json"])["qa"]}
    assert types == {"count"}
    bad = run_cli("build-dataset", "rsvqa-like", f"--region={scene.bbox}", "--out",
                  str(tmp_path / "bad"), "--imagery", str(scene.raster), "--osm",
                  str(scene.osm), "--qa-types", "colour=1", "--no-progress")
    assert bad.returncode == 2 and "colour" in bad.stderr


def test_shape_answers(vqa, scene):
    """Ways are upright squares; the courtyard relation (a square ring, 84 % of its rectangle,
    4πA/P² = 0.34) is irregular."""
    _, records = vqa
    checked = 0
    for record in records:
        tile = _tile(record)
        shapes: dict[str, set] = {}
        for feature in scene.features:
            geom = _geometry(feature)
            if geom.geom_type == "Polygon" and tile.contains(geom):
                kind = "irregular" if feature.osm_type == "relation" else "square"
                shapes.setdefault(_name(feature.tags), set()).add(kind)
        for q in record["qa"]:
            if q["type"] == "shape":
                assert q["answer"] == ("yes" if q["shape"] in shapes[q["classes"][0]] else "no")
                checked += 1
    assert checked


def test_stats_and_card_report_the_realised_question_mix(vqa):
    """issue 17 case 6: stats.json's `qa_types` is the count of questions per type read from
    the shards, and the dataset card lists it."""
    out, records = vqa
    counted = Counter(q["type"] for record in records for q in record["qa"])
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["qa_types"] == dict(counted) and len(counted) >= 5
    card = (out / "README.md").read_text(encoding="utf-8")
    total = sum(counted.values())
    for qtype, n in counted.items():
        assert f"- `{qtype}`: {n} ({100 * n / total:.1f} %)" in card
