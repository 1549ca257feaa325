"""rsteller-like end to end on the generated scene (plus roads and strips of known direction):
salient elements, positions and orientations recomputed with shapely in the scene's UTM zone."""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import pytest
import shapely
from test_rsvqa_like import _geometry, _tile

from conftest import run_cli
from scene import ORIGIN_X, ORIGIN_Y, Scene, SceneFeature, scene_features, write_osm, write_raster
from test_cli_e2e import read_samples

NAMES = {("building", "yes"): "building", ("building", "house"): "house",
         ("building", "warehouse"): "warehouse building",
         ("highway", "residential"): "residential road", ("highway", "service"): "service road",
         ("highway", "footway"): "footpath", ("man_made", "water_tower"): "water tower",
         ("landuse", "grass"): "grass area", ("leisure", "pitch"): "sports pitch"}
GRID = [["top left", "top", "top right"], ["left", "centre", "right"],
        ["bottom left", "bottom", "bottom right"]]
SECTORS = ["north-south", "northeast-southwest", "east-west", "northwest-southeast"]
WORDING = Path(__file__).parents[2] / "prompts" / "captions" / "rsteller_template_v1.yaml"


def _at(dx: float, dy: float) -> tuple[float, float]:
    return ORIGIN_X + dx, ORIGIN_Y + dy


def _rotated_rect(cx: float, cy: float, length: float, width: float, bearing: float):
    """A rectangle whose long side has the given bearing (degrees from north), closed ring."""
    ux, uy = math.sin(math.radians(bearing)), math.cos(math.radians(bearing))
    vx, vy = -uy, ux
    pts = [(cx + sx * length / 2 * ux + sy * width / 2 * vx,
            cy + sx * length / 2 * uy + sy * width / 2 * vy)
           for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return pts + [pts[0]]


# extra features in the scene's emptier south-west, with the direction each must get
EXTRA = [
    (SceneFeature("way", 8001, {"highway": "service"}, [_at(30, -400), _at(32, -500)]),
     "north-south"),
    (SceneFeature("way", 8002, {"highway": "service", "surface": "gravel"},
                  [_at(50, -500), _at(110, -440)]), "northeast-southwest"),
    (SceneFeature("way", 8003, {"highway": "footway"}, [_at(70, -395), _at(120, -445)]),
     "northwest-southeast"),
    (SceneFeature("way", 8004, {"landuse": "grass"},
                  _rotated_rect(*_at(165, -485), 60, 10, 90)), "east-west"),
    (SceneFeature("way", 8005, {"leisure": "pitch"},
                  _rotated_rect(*_at(225, -480), 40, 8, 45)), "northeast-southwest"),
]
KNOWN_DIRECTIONS = {8001: "north-south", 6001: "east-west",
                    **{f.osm_id: d for f, d in EXTRA}}


def _name(tags: dict) -> str:
    for key in ("building", "man_made", "highway", "landuse", "leisure"):
        if key in tags:
            return NAMES[(key, tags[key])]
    raise KeyError(tags)


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _truth(record: dict, features: list[SceneFeature]) -> list[dict]:
    """Every scene feature in the tile: kind, measure of the part inside, that part."""
    tile = _tile(record)
    found = []
    for feature in features:
        geom = _geometry(feature)
        part = geom.intersection(tile)
        if geom.geom_type == "Point":
            if tile.covers(geom):
                found.append({"f": feature, "kind": "point", "measure": 0.0, "part": geom})
        elif geom.geom_type == "Polygon" and part.area > 1e-6:
            found.append({"f": feature, "kind": "area", "measure": part.area, "part": part})
        elif geom.geom_type == "LineString" and part.length > 1e-6:
            found.append({"f": feature, "kind": "line", "measure": part.length, "part": part})
    return found


def _cell(fraction: float) -> int | None:
    """Grid index 0..2 of a fraction of the tile side; None within 1e-6 of a cell edge."""
    scaled = 3 * fraction
    if abs(scaled - round(scaled)) < 1e-6 and 0 < round(scaled) < 3:
        return None
    return min(2, max(0, math.floor(scaled)))


def _direction(part) -> str | None | bool:
    """Compass word of the long axis (rectangle ratio >= 2), None if not elongated, False if
    too close to a threshold to call."""
    rect = shapely.minimum_rotated_rectangle(part)
    coords = list(rect.exterior.coords if rect.geom_type == "Polygon" else rect.coords)
    sides = [(coords[i + 1][0] - coords[i][0], coords[i + 1][1] - coords[i][1])
             for i in range(min(2, len(coords) - 1))]
    lengths = [math.hypot(*s) for s in sides]
    ratio = max(lengths) / min(lengths) if len(sides) == 2 and min(lengths) > 0 else math.inf
    if abs(ratio - 2) < 1e-3:
        return False
    if ratio < 2:
        return None
    dx, dy = sides[lengths.index(max(lengths))]
    bearing = math.degrees(math.atan2(dx, dy)) % 180
    if min(abs(bearing - edge) for edge in (22.5, 67.5, 112.5, 157.5)) < 1e-3:
        return False
    return SECTORS[int(((bearing + 22.5) % 180) // 45)]


@pytest.fixture(scope="module")
def rst(scene, tmp_path_factory):
    d = tmp_path_factory.mktemp("rst")
    # relations last: their member ways take ids above the extra ways' (OSM files sort ids)
    features = sorted(scene_features() + [f for f, _ in EXTRA],
                      key=lambda f: f.osm_type == "relation")
    write_osm(d / "scene.osm", features)
    out = d / "o"
    run_cli("build-dataset", "rsteller-like", f"--region={scene.bbox}", "--out", str(out),
            "--imagery", str(scene.raster), "--osm", str(d / "scene.osm"),
            "--split-block-deg", "1", "--no-progress", check=True)
    return out, [json.loads(s["json"]) for s in read_samples(out)], features


def test_records_validate_and_name_their_template(rst):
    out, records, _ = rst
    assert len(records) == 16
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
    sha = hashlib.sha256(WORDING.read_bytes()).hexdigest()
    for record in records:
        assert record["recipe"] == "rsteller-like" and record["id"].startswith("rst_")
        assert record["generator"] == {"kind": "template", "template_id": "rsteller-like@v1",
                                       "prompt_sha256": sha}
        assert not any(f["focus"] for f in record["features"])
        assert record["provenance"]["sources"][-1]["license"] == "ODbL-1.0"


def test_elements_are_the_largest_areas_then_longest_lines(rst):
    _, records, features = rst
    lines_seen = 0
    for record in records:
        truth = _truth(record, features)
        assert len(record["features"]) == len(truth), record["id"]
        counts: dict[str, int] = {}
        for t in truth:
            counts[_name(t["f"].tags)] = counts.get(_name(t["f"].tags), 0) + 1
        assert record["evidence"]["counts"] == dict(sorted(counts.items()))
        areas = sorted((t for t in truth if t["kind"] == "area"), key=lambda t: -t["measure"])
        lines = sorted((t for t in truth if t["kind"] == "line"), key=lambda t: -t["measure"])
        points = [t for t in truth if t["kind"] == "point"]
        expected = (areas + lines)[:3] or points[:3]
        elements = record["evidence"]["elements"]
        assert [e["geometry"] for e in elements] == [t["kind"] for t in expected], record["id"]
        by_id = {t["f"].osm_id: t for t in truth}
        for element, want in zip(elements, expected, strict=True):
            mine = by_id[element["osm_id"]]
            assert element["osm_type"] == mine["f"].osm_type
            assert element["name"] == _name(mine["f"].tags)
            key = "area_m2" if element["geometry"] == "area" else "length_m"
            other = "length_m" if key == "area_m2" else "area_m2"
            assert element[other] is None
            assert element[key] == pytest.approx(mine["measure"], rel=0.01)
            assert element[key] == pytest.approx(want["measure"], rel=0.01)  # rank by measure
            inside = _tile(record).contains(_geometry(mine["f"]))
            assert element["clipped"] is (not inside)
            lines_seen += element["geometry"] == "line"
    assert lines_seen >= 4


def test_positions_shapes_and_orientations(rst):
    _, records, features = rst
    known_checked = set()
    for record in records:
        tile = _tile(record)
        minx, miny, maxx, maxy = tile.bounds
        by_id = {t["f"].osm_id: t for t in _truth(record, features)}
        for element in record["evidence"]["elements"]:
            truth = by_id[element["osm_id"]]
            c = truth["part"].centroid
            col = _cell((c.x - minx) / (maxx - minx))
            row = _cell((maxy - c.y) / (maxy - miny))  # rows grow southwards
            if col is not None and row is not None:
                assert element["position"] == GRID[row][col], (record["id"], element)
            if element["geometry"] == "area":
                assert element["shape"] in ("square", "rectangular", "elongated", "round",
                                            "irregular")
                if element["osm_id"] == 8004 and not element["clipped"]:
                    assert element["shape"] == "elongated"
            else:
                assert element["shape"] is None
            direction = _direction(truth["part"])
            if direction is not False:
                assert element["orientation"] == direction, (record["id"], element)
            if element["osm_id"] in KNOWN_DIRECTIONS:
                assert element["orientation"] == KNOWN_DIRECTIONS[element["osm_id"]]
                known_checked.add(element["osm_id"])
    assert known_checked == set(KNOWN_DIRECTIONS)


def test_caption_states_only_the_facts(rst):
    _, records, features = rst
    vocabulary = {_name(f.tags) for f in features}
    for record in records:
        caption = record["texts"]["caption"]
        elements = record["evidence"]["elements"]
        assert caption.startswith("A satellite image showing ")
        facts = set()
        for element in elements:
            for key in ("area_m2", "length_m"):
                if element[key] is not None:
                    facts.add(_half_up(element[key]))
                    assert f"{_half_up(element[key]):,}" in caption
            for phrase in element["attributes"]:
                facts.update(int(n) for n in re.findall(r"\d+", phrase))
                assert phrase in caption
            assert element["position"] in caption
            if element["orientation"]:
                assert element["orientation"] in caption
        numbers = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\d|\d", caption)}
        assert numbers <= facts, (caption, facts)
        names = {e["name"] for e in elements}
        assert all(name in caption for name in names)
        rest = caption
        for name in sorted(names, key=len, reverse=True):
            rest = rest.replace(name, "")
        for other in vocabulary - names:
            assert not re.search(rf"\b{re.escape(other)}\b", rest), (caption, other)


def test_tiles_without_features_are_skipped(scene, tmp_path):
    write_osm(tmp_path / "one.osm", [f for f, _ in EXTRA][:1])
    raster = tmp_path / "image.tif"
    write_raster(raster)
    out = tmp_path / "o"
    run_cli("build-dataset", "rsteller-like", f"--region={Scene(raster, tmp_path).bbox}",
            "--out", str(out), "--imagery", str(raster), "--osm", str(tmp_path / "one.osm"),
            "--split-block-deg", "1", "--no-progress", check=True)
    records = [json.loads(s["json"]) for s in read_samples(out)]
    assert len(records) == 1
    assert [e["osm_id"] for e in records[0]["evidence"]["elements"]] == [8001]
    stats = json.loads((out / "stats.json").read_text())
    assert "no_features" in json.dumps(stats["skipped"])
    assert sum(_counts(stats["skipped"])) == 15


def _counts(skipped) -> list[int]:
    """Every count in the stats' skip-reason tree."""
    if isinstance(skipped, dict):
        return [n for value in skipped.values() for n in _counts(value)]
    return [skipped] if isinstance(skipped, int) else []
