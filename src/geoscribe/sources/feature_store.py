"""An on-disk spatial index of features (SQLite), so memory does not grow with region.

The main process streams every source into the store once; workers open it read-only and
query features by box (a packed box index, built once when the rows are in: box_index).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe.sources import box_index
from geoscribe.types import Feature

SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
  id INTEGER PRIMARY KEY, source TEXT, osm_type TEXT, osm_id INTEGER, label_ref TEXT,
  input TEXT, tags TEXT, wkb BLOB, cx REAL, cy REAL,
  zkey INTEGER, minx REAL, maxx REAL, miny REAL, maxy REAL);
"""
# json.dumps(tags, sort_keys=True) builds an encoder per call; one encoder, the same text
_encode_tags = json.JSONEncoder(sort_keys=True).encode
_MAX_REMEMBERED = 100_000  # tag sets whose JSON text is remembered
_known_json: dict[tuple, str] = {}


def _tags_json(tags: dict) -> str:
    """`tags` as sorted JSON text, remembered per tag set whose keys and values are all strings
    (the same few sets recur, e.g. building=yes, and encoding costs ten lookups)."""
    items = tuple(tags.items())
    try:
        return _known_json[items]
    except (KeyError, TypeError):  # not seen, or unhashable
        text = _encode_tags(tags)
    if all(type(key) is str and type(value) is str for key, value in items):  # 1 == True
        if len(_known_json) >= _MAX_REMEMBERED:
            _known_json.clear()
        _known_json[items] = text
    return text


class FeatureStore:
    """SQLite-backed feature table with a packed box index over WGS84 bounds.

    A writable store builds its box index when it is queried or closed after a write."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path, self.readonly = path, readonly
        self.stale = False  # rows written since the box index was built
        if readonly:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        else:
            self.db = sqlite3.connect(path)
            # written once by ingest into a temporary file that replaces the store only when
            # complete: no rollback journal or fsync needed (a failed write removes the file)
            self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        # what a store begun empty wrote, for its box index (else the index reads the rows)
        self.written = box_index.Rows() if not readonly and self.next_id() == 1 else None

    def close(self) -> None:
        """Build the box index if rows were written since, then close."""
        self._fresh_index()
        self.db.close()

    def abandon(self) -> None:
        """Close without building anything (the store is about to be removed)."""
        self.db.close()

    def _fresh_index(self) -> None:
        if self.stale and not self.readonly:
            box_index.build(self.db, self.written)
            self.stale = False

    def add_many(self, features: Iterable[Feature], batch: int = 5000,
                 on_duplicate: Callable[[Feature], None] | None = None) -> int:
        """Insert features (in batches, one transaction each); return how many.

        With `on_duplicate`, an OSM element already stored (same type and id, from any input)
        or met earlier in the stream is not stored again: it is passed to `on_duplicate`."""
        if on_duplicate is not None:
            self._index_osm_ids()
        self.stale = True
        total = 0
        pending: list[Feature] = []
        next_id = self.next_id()
        for feature in features:
            pending.append(feature)
            if len(pending) >= batch:
                total += self._flush(self._unique(pending, on_duplicate), next_id + total)
                pending = []
        total += self._flush(self._unique(pending, on_duplicate), next_id + total)
        return total

    def next_id(self) -> int:
        """The id the next stored feature gets."""
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM features").fetchone()[0] + 1

    def _index_osm_ids(self) -> None:
        with self.db:
            self.db.execute("CREATE INDEX IF NOT EXISTS features_osm ON features(osm_type, osm_id)")

    def _unique(self, features: list[Feature], on_duplicate: Callable[[Feature], None] | None
                ) -> list[Feature]:
        """`features` less the OSM elements already stored or earlier in the list (in order);
        features without an OSM type and id (labels) are all kept."""
        if on_duplicate is None:
            return features
        keys = {(f.osm_type, f.osm_id) for f in features
                if f.osm_type is not None and f.osm_id is not None}
        seen = set()
        for osm_type in {key[0] for key in keys}:
            ids = [osm_id for kind, osm_id in keys if kind == osm_type]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = self.db.execute(
                    f"SELECT osm_id FROM features WHERE osm_type = ? AND osm_id IN "
                    f"({','.join('?' * len(chunk))})", (osm_type, *chunk))
                seen.update((osm_type, row[0]) for row in rows)
        unique = []
        for feature in features:
            key = (feature.osm_type, feature.osm_id)
            if feature.osm_type is None or feature.osm_id is None:  # labels: no OSM identity
                unique.append(feature)
            elif key in seen:
                on_duplicate(feature)
            else:
                seen.add(key)
                unique.append(feature)
        return unique

    def _flush(self, features: list[Feature], first_id: int) -> int:
        """Insert a batch with ids from `first_id` (bounds and WKB made for all at once)."""
        if not features:
            return 0
        geoms = [f.geometry for f in features]
        wkbs = [f.extra.get("wkb") for f in features]  # a reader's WKB, when it has it
        if missing := [i for i, wkb in enumerate(wkbs) if wkb is None]:
            for i, wkb in zip(missing, shapely.to_wkb([geoms[i] for i in missing]), strict=True):
                wkbs[i] = wkb
        bounds = shapely.bounds(geoms)
        cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
        ids = np.arange(first_id, first_id + len(features), dtype=np.int64)
        keys, boxes = box_index.zorder_keys(cx, cy), box_index.rtree_boxes(bounds)
        rows = [
            (fid, feature.source, feature.osm_type, feature.osm_id, feature.label_ref,
             feature.input, _tags_json(feature.tags), wkb, *rest)
            for fid, feature, wkb, *rest in zip(
                ids.tolist(), features, wkbs, cx.tolist(), cy.tolist(), keys.tolist(),
                *boxes.T.tolist(), strict=True)
        ]
        with self.db:
            self.db.executemany(
                "INSERT INTO features VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if self.written is not None:
            self.written.add(ids, keys, boxes)
            if self.written.count > box_index.Rows.MAX_ROWS:  # a large region: read back instead
                self.written = None
        return len(rows)

    def remove_since(self, first_id: int) -> None:
        """Delete every feature stored from id `first_id` on (an input that failed part-way)."""
        self.stale = True
        with self.db:
            self.db.execute("DELETE FROM features WHERE id >= ?", (first_id,))
        if self.written is not None:
            self.written.remove_since(first_id)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM features").fetchone()[0]

    def _rows(self, sql: str, args: tuple) -> Iterator[Feature]:
        for row in self.db.execute(sql, args):
            fid, source, osm_type, osm_id, label_ref, inp, tags, wkb = row
            yield Feature(
                source=source, geometry=shapely.from_wkb(wkb), tags=json.loads(tags),
                input=inp, osm_type=osm_type, osm_id=osm_id, label_ref=label_ref,
                extra={"store_id": fid, "wkb": wkb},
            )

    _COLUMNS = "f.id, f.source, f.osm_type, f.osm_id, f.label_ref, f.input, f.tags, f.wkb"

    def intersecting(self, bounds: tuple[float, float, float, float]) -> Iterator[Feature]:
        """Features whose bounding box intersects `bounds` (minx, miny, maxx, maxy)."""
        minx, miny, maxx, maxy = bounds
        self._fresh_index()
        sql = f"SELECT {self._COLUMNS} FROM {box_index.MEETS} ORDER BY f.id"
        return self._rows(sql, (maxx, minx, maxy, miny))

    def ids_intersecting(self, bounds: tuple[float, float, float, float]) -> list[int]:
        """Ids of features whose bounding box intersects `bounds`, in id order."""
        minx, miny, maxx, maxy = bounds
        self._fresh_index()
        rows = self.db.execute(f"SELECT f.id FROM {box_index.MEETS} ORDER BY f.id",
                               (maxx, minx, maxy, miny))
        return [row[0] for row in rows]

    def by_ids(self, ids: list[int]) -> list[Feature]:
        """Features with the given ids, in id order."""
        found: list[Feature] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.extend(self._rows(
                f"SELECT {self._COLUMNS} FROM features f WHERE f.id IN ({marks}) ORDER BY f.id",
                tuple(chunk)))
        return found

    def centred_in(self, bounds: tuple[float, float, float, float]) -> Iterator[Feature]:
        """Features whose bbox centre lies in [minx, maxx) x [miny, maxy) (a unit's own)."""
        minx, miny, maxx, maxy = bounds
        self._fresh_index()
        # a centre inside the bounds is inside the feature's box: the box index finds them all
        sql = (f"SELECT {self._COLUMNS} FROM {box_index.MEETS}"
               " AND f.cx >= ?2 AND f.cx < ?1 AND f.cy >= ?4 AND f.cy < ?3 ORDER BY f.id")
        return self._rows(sql, (maxx, minx, maxy, miny))

    def centres(self) -> Iterator[tuple[float, float]]:
        """Every feature's bbox centre."""
        yield from self.db.execute("SELECT cx, cy FROM features")

    def centres_meeting(self, region: BaseGeometry, batch: int = 4096
                        ) -> Iterator[tuple[float, float]]:
        """The bbox centres of the features whose geometry meets `region` (WGS84): the foci a
        build plans its units for (the store also holds features around the region, to be
        seen in chips only)."""
        shapely.prepare(region)
        minx, miny, maxx, maxy = region.bounds
        self._fresh_index()
        rows = self.db.execute(f"SELECT f.cx, f.cy, f.wkb FROM {box_index.MEETS}",
                               (maxx, minx, maxy, miny))
        while chunk := rows.fetchmany(batch):
            meets = shapely.intersects(region, shapely.from_wkb([row[2] for row in chunk]))
            yield from ((cx, cy) for (cx, cy, _), hit in zip(chunk, meets, strict=True) if hit)

