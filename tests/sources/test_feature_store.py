"""FeatureStore (sources/feature_store.py): R*Tree box queries against brute force, centre
queries, duplicate OSM elements, removal, and the read-only store a worker opens.

Coordinates lie on a 1/256-degree grid, which float32 (the R*Tree's storage) holds exactly,
so the index must return exactly what the brute-force checks over shapely envelopes say."""

from __future__ import annotations

import random
import sqlite3

import pytest
import shapely

from geoscribe.sources.feature_store import FeatureStore
from geoscribe.types import Feature

STEP = 1 / 256


def _coord(rng: random.Random) -> float:
    return rng.randint(0, 512) * STEP  # 0 .. 2 degrees


def _geometry(rng: random.Random, kind: int):
    x, y = 10 + _coord(rng), 50 + _coord(rng)
    w, h = rng.randint(0, 20) * STEP, rng.randint(0, 20) * STEP
    if kind == 0:
        return shapely.Point(x, y)
    if kind == 1:
        return shapely.LineString([(x, y), (x + w, y + h), (x + w, y)])
    return shapely.box(x, y, x + w + STEP, y + h + STEP)


def _features(n: int, seed: int = 1) -> list[Feature]:
    rng = random.Random(seed)
    features = []
    for i in range(n):
        geometry = _geometry(rng, i % 3)
        if i % 5 == 4:  # a vector label: no OSM identity
            features.append(Feature("labels", geometry, {"class": str(i % 7)}, "labels.gpkg",
                                    label_ref=f"labels:{i}"))
        else:
            features.append(Feature("osm", geometry, {"building": "yes", "n": str(i)},
                                    "scene.osm", osm_type=("node", "way", "way")[i % 3],
                                    osm_id=i))
    return features


def _query(rng: random.Random) -> tuple[float, float, float, float]:
    x0, x1 = sorted((10 + _coord(rng), 10 + _coord(rng)))
    y0, y1 = sorted((50 + _coord(rng), 50 + _coord(rng)))
    if rng.random() < 0.3:  # narrow boxes: edges touch feature bounds often
        x1, y1 = x0 + rng.randint(0, 4) * STEP, y0 + rng.randint(0, 4) * STEP
    return x0, y0, x1, y1


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "features.sqlite"
    features = _features(1200)
    store = FeatureStore(path)
    assert store.add_many(features, batch=97) == len(features)
    store.close()
    return path, features


def _same(found: Feature, original: Feature) -> bool:
    return (found.geometry.equals_exact(original.geometry, 0) and found.tags == original.tags
            and (found.source, found.input, found.osm_type, found.osm_id, found.label_ref)
            == (original.source, original.input, original.osm_type, original.osm_id,
                original.label_ref))


def test_box_queries_return_exactly_the_features_whose_bbox_intersects(stored):
    """issue 11: intersecting/ids_intersecting == brute force over envelopes, in id order."""
    path, features = stored
    store = FeatureStore(path, readonly=True)
    rng = random.Random(5)
    hits = 0
    for _ in range(60):
        query = _query(rng)
        box = shapely.box(*query)
        want = [i + 1 for i, f in enumerate(features) if box.intersects(f.geometry.envelope)]
        found = list(store.intersecting(query))
        assert [f.extra["store_id"] for f in found] == want
        assert store.ids_intersecting(query) == want
        for feature in found:
            assert _same(feature, features[feature.extra["store_id"] - 1])
        hits += len(want)
    assert hits > 100  # the queries are not all empty
    store.close()


def test_centred_in_is_half_open_on_bbox_centres(stored):
    """issue 11: a feature belongs to the box its bbox centre lies in, [min, max) each axis."""
    path, features = stored
    store = FeatureStore(path, readonly=True)
    rng = random.Random(9)
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
               for b in (f.geometry.bounds for f in features)]
    for _ in range(40):
        x0, y0, x1, y1 = _query(rng)
        want = [i + 1 for i, (cx, cy) in enumerate(centres) if x0 <= cx < x1 and y0 <= cy < y1]
        assert [f.extra["store_id"] for f in store.centred_in((x0, y0, x1, y1))] == want
    assert sorted(store.centres()) == sorted(centres)
    store.close()


def test_by_ids_returns_the_asked_features_in_id_order(stored):
    """issue 11: by_ids (chunked by 500) returns each asked id once; in id order for ids
    given in order (as its caller passes them; each chunk is sorted on its own)."""
    path, features = stored
    store = FeatureStore(path, readonly=True)
    ids = random.Random(2).sample(range(1, len(features) + 1), 700)
    found = store.by_ids(sorted(ids))
    assert [f.extra["store_id"] for f in found] == sorted(ids)
    assert sorted(f.extra["store_id"] for f in store.by_ids(ids)) == sorted(ids)
    assert all(_same(f, features[f.extra["store_id"] - 1]) for f in found)
    store.close()


def test_readonly_store_refuses_writes(stored, tmp_path):
    """issue 11: a worker's read-only store reads but cannot write, nor create a file."""
    path, features = stored
    store = FeatureStore(path, readonly=True)
    assert store.count() == len(features)
    with pytest.raises(sqlite3.OperationalError):
        store.add_many(_features(3, seed=4))
    with pytest.raises(sqlite3.OperationalError):
        store.remove_since(1)
    assert store.count() == len(features)
    store.close()
    with pytest.raises(sqlite3.OperationalError):
        FeatureStore(tmp_path / "missing.sqlite", readonly=True).count()
    assert not (tmp_path / "missing.sqlite").exists()


def test_duplicate_osm_elements_are_stored_once(tmp_path):
    """issue 11: with on_duplicate, an OSM (type, id) already stored or earlier in the stream
    is handed back instead of stored; labels are always stored."""
    store = FeatureStore(tmp_path / "dup.sqlite")
    first = _features(40)
    store.add_many(first)
    again = _features(60, seed=7)  # ids 0..59: 0..39 repeat (if OSM), plus in-stream repeats
    again += [Feature("osm", shapely.Point(10, 50), {}, "b.osm", "node", 45),
              Feature("osm", shapely.Point(10, 50), {}, "b.osm", "way", 45)]
    seen_keys = {(f.osm_type, f.osm_id) for f in first if f.osm_type}
    want_dup, want_new = [], []
    for feature in again:
        key = (feature.osm_type, feature.osm_id)
        if feature.osm_type is not None and key in seen_keys:
            want_dup.append(feature)
        else:
            want_new.append(feature)
            if feature.osm_type is not None:
                seen_keys.add(key)
    duplicates: list[Feature] = []
    assert store.add_many(again, batch=7, on_duplicate=duplicates.append) == len(want_new)
    assert duplicates == want_dup and want_dup
    assert store.count() == len(first) + len(want_new)
    stored = store.by_ids(list(range(len(first) + 1, store.next_id())))
    assert all(_same(s, w) for s, w in zip(stored, want_new, strict=True))


def test_remove_since_drops_features_and_their_index_entries(tmp_path):
    """issue 11: remove_since forgets features from an id on, in the table and the R*Tree."""
    store = FeatureStore(tmp_path / "rm.sqlite")
    features = _features(50)
    store.add_many(features)
    store.remove_since(21)
    assert store.count() == 20 and store.next_id() == 21
    everything = (0.0, 0.0, 90.0, 90.0)
    assert store.ids_intersecting(everything) == list(range(1, 21))
    assert [f.extra["store_id"] for f in store.intersecting(everything)] == list(range(1, 21))


def test_centres_meeting_a_region_against_brute_force(tmp_path):
    """issue 17 case 2: the store holds features around the region too (to be seen in chips);
    the units are planned for those whose geometry meets the region, whatever their bbox
    centre: checked against shapely over every feature, for an L-shaped region."""
    features = _features(600, seed=4)
    store = FeatureStore(tmp_path / "s.sqlite")
    store.add_many(features)
    region = shapely.Polygon([(10.3, 50.3), (11.5, 50.3), (11.5, 50.8), (10.8, 50.8),
                              (10.8, 51.6), (10.3, 51.6)])
    expected = sorted(((g.bounds[0] + g.bounds[2]) / 2, (g.bounds[1] + g.bounds[3]) / 2)
                      for g in (f.geometry for f in features) if region.intersects(g))
    found = sorted(store.centres_meeting(region, batch=50))
    assert found == expected  # grid coordinates: exact in float64
    box = shapely.box(*region.bounds)
    # the L's notch holds features that meet the region's box but not the region: left out
    assert any(box.intersects(f.geometry) and not region.intersects(f.geometry)
               for f in features)
    # and features that meet the region with their bbox centre outside its box are in
    assert any(not box.contains(shapely.Point(c)) for c in found)
