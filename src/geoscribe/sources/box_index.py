"""A packed box index for the feature store, built once after the bulk insert (issue 17 case 8).

Filling SQLite's R*Tree row by row cost as much as the whole plain pyosmium pass over a city
extract (~14 µs a row). Instead each feature row carries its box and a Z-order (Morton) key of
its box centre; once every row is in, one B-tree index sorts the rows by (key, id), and every
run of `LEAF_SIZE` rows in that order becomes a leaf whose box goes into a small R*Tree (one
entry per leaf instead of one per feature). A box query walks the R*Tree to the leaves it meets,
then scans each leaf's key range in the index, testing each row's own box.

The boxes are stored as SQLite's R*Tree stores them (float32, rounded outward: `rtree_boxes`),
so a query returns exactly the features the R*Tree returned before.
"""

from __future__ import annotations

import sqlite3

import numpy as np

LEAF_SIZE = 32  # rows per leaf
_KEY_BITS = 26  # per axis: 52-bit keys

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS features_leaves USING rtree(
  id, minx, maxx, miny, maxy, +first_key, +first_id, +last_key, +last_id);
"""
# the rows in (key, id) order (rowids 1..n), every LEAF_SIZE of them a leaf: its box, its first
# and last (key, id)
_LEAVES = f"""
DROP TABLE IF EXISTS temp.ordered;
CREATE TEMP TABLE ordered AS SELECT zkey, id, minx, maxx, miny, maxy FROM features
  WHERE minx IS NOT NULL ORDER BY zkey, id;
INSERT INTO features_leaves
  SELECT a.leaf + 1, a.minx, a.maxx, a.miny, a.maxy, first.zkey, first.id, last.zkey, last.id
  FROM (SELECT (rowid - 1) / {LEAF_SIZE} AS leaf, min(minx) AS minx, max(maxx) AS maxx,
               min(miny) AS miny, max(maxy) AS maxy, min(rowid) AS lo, max(rowid) AS hi
        FROM ordered GROUP BY leaf) a
  JOIN ordered first ON first.rowid = a.lo JOIN ordered last ON last.rowid = a.hi;
DROP TABLE ordered;
"""
# a row's box meets the query box (?1 maxx, ?2 minx, ?3 maxy, ?4 miny), its leaf's too
MEETS = ("features_leaves l JOIN features f"
         " ON (f.zkey, f.id) >= (l.first_key, l.first_id)"
         " AND (f.zkey, f.id) <= (l.last_key, l.last_id)"
         " WHERE l.minx <= ?1 AND l.maxx >= ?2 AND l.miny <= ?3 AND l.maxy >= ?4"
         " AND f.minx <= ?1 AND f.maxx >= ?2 AND f.miny <= ?3 AND f.maxy >= ?4")


def _float32_down(values: np.ndarray) -> np.ndarray:
    """SQLite R*Tree's rtreeValueDown: the float32 at or below each double."""
    nearest = values.astype(np.float32).astype(np.float64)
    nudged = np.where(values < 0, values * (1 + 1 / 8388608), values * (1 - 1 / 8388608))
    return np.where(nearest > values, nudged.astype(np.float32).astype(np.float64), nearest)


def _float32_up(values: np.ndarray) -> np.ndarray:
    """SQLite R*Tree's rtreeValueUp: the float32 at or above each double."""
    nearest = values.astype(np.float32).astype(np.float64)
    nudged = np.where(values < 0, values * (1 - 1 / 8388608), values * (1 + 1 / 8388608))
    return np.where(nearest < values, nudged.astype(np.float32).astype(np.float64), nearest)


def rtree_boxes(bounds: np.ndarray) -> np.ndarray:
    """Shapely bounds (n x 4: minx, miny, maxx, maxy) as SQLite's R*Tree stores them, n x 4
    (minx, maxx, miny, maxy), float32 values rounded outward."""
    return np.column_stack([_float32_down(bounds[:, 0]), _float32_up(bounds[:, 2]),
                            _float32_down(bounds[:, 1]), _float32_up(bounds[:, 3])])


def _spread(values: np.ndarray) -> np.ndarray:
    """The bits of each value (< 2**32) moved to the even places of a 64-bit word."""
    v = values.astype(np.uint64)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF),
                        (4, 0x0F0F0F0F0F0F0F0F), (2, 0x3333333333333333),
                        (1, 0x5555555555555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def zorder_keys(cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """Z-order keys of lon/lat points (52 bits; NaN counts as 0): near points, near keys."""
    top = (1 << _KEY_BITS) - 1
    with np.errstate(invalid="ignore"):
        qx = np.clip(np.nan_to_num((cx + 180.0) / 360.0 * (1 << _KEY_BITS)), 0, top)
        qy = np.clip(np.nan_to_num((cy + 90.0) / 180.0 * (1 << _KEY_BITS)), 0, top)
    return (_spread(qx) | (_spread(qy) << np.uint64(1))).astype(np.int64)


def build(db: sqlite3.Connection, rows: Rows | None = None) -> None:
    """(Re)build the index over every row of `features`. With `rows` (every row's id, key and
    stored box, as the writer kept them) the leaves are made with numpy, not read back and
    grouped in SQL (the same leaves, in a third of the time)."""
    db.executescript("DROP TABLE IF EXISTS features_leaves; DROP INDEX IF EXISTS features_zkey;"
                     + SCHEMA
                     + "CREATE INDEX features_zkey ON features(zkey, id, minx, maxx, miny, maxy);"
                     + ("" if rows is not None else _LEAVES))
    if rows is not None:
        with db:
            db.executemany("INSERT INTO features_leaves VALUES (?,?,?,?,?,?,?,?,?)", _leaves(rows))


class Rows:
    """The ids, keys and stored boxes (minx, maxx, miny, maxy) of rows as they are written
    (48 bytes a row: kept only up to MAX_ROWS, see FeatureStore)."""

    MAX_ROWS = 1_000_000  # beyond: the index reads the rows back (memory must not grow with
    # the region: ~50 MB here, ~4x that while the leaves are made)

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.count = 0

    def add(self, ids: np.ndarray, keys: np.ndarray, boxes: np.ndarray) -> None:
        self.chunks.append((ids, keys, boxes))
        self.count += len(ids)

    def remove_since(self, first_id: int) -> None:
        """Forget the rows from id `first_id` on (deleted)."""
        self.chunks = [(ids[keep], keys[keep], boxes[keep]) for ids, keys, boxes in self.chunks
                       if (keep := ids < first_id).any()]
        self.count = sum(len(ids) for ids, _, _ in self.chunks)


def _leaves(rows: Rows) -> list[tuple]:
    """The leaf rows of `_LEAVES`, from rows kept in memory: rows with a box, in (key, id)
    order, every LEAF_SIZE of them one leaf."""
    if not rows.chunks:
        return []
    ids, keys, boxes = (np.concatenate(parts) for parts in zip(*rows.chunks, strict=True))
    boxed = ~np.isnan(boxes[:, 0])  # an empty geometry has no box: stored as NULL
    ids, keys, boxes = ids[boxed], keys[boxed], boxes[boxed]
    if not len(ids):
        return []
    order = np.lexsort((ids, keys))
    ids, keys, boxes = ids[order], keys[order], boxes[order]
    starts = np.arange(0, len(ids), LEAF_SIZE)
    ends = np.minimum(starts + LEAF_SIZE, len(ids)) - 1
    columns = [np.minimum.reduceat(boxes[:, 0], starts), np.maximum.reduceat(boxes[:, 1], starts),
               np.minimum.reduceat(boxes[:, 2], starts), np.maximum.reduceat(boxes[:, 3], starts),
               keys[starts], ids[starts], keys[ends], ids[ends]]
    return list(zip(range(1, len(starts) + 1), *(column.tolist() for column in columns),
                    strict=True))
