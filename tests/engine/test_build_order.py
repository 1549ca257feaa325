"""build_order: every unit once, each close to the one built before it."""

from __future__ import annotations

import json
import random

from conftest import build_args, digests, run_cli
from geoscribe.engine.units import Unit, build_order, split_lanes


def test_full_grid_is_walked_in_small_steps():
    units = [Unit(ix, iy, 0.01) for ix in range(100, 107) for iy in range(50, 58)]
    order = build_order(units)
    assert sorted(order, key=lambda u: (u.ix, u.iy)) == units
    for a, b in zip(order, order[1:], strict=False):
        assert abs(a.ix - b.ix) <= 2 and abs(a.iy - b.iy) <= 1 and (a.ix, a.iy) != (b.ix, b.iy)


def test_sparse_units_are_a_permutation():
    rng = random.Random(3)
    cells = {(rng.randrange(-5, 9), rng.randrange(-4, 6)) for _ in range(40)}
    units = [Unit(ix, iy, 0.01) for ix, iy in sorted(cells)]
    order = build_order(units)
    assert len(order) == len(units) and set(order) == set(units)
    assert build_order([]) == []


def test_split_lanes_cuts_the_order_into_contiguous_near_equal_runs():
    units = [Unit(ix, iy, 0.01) for ix in range(5) for iy in range(5)]
    order = build_order(units)
    for lanes in (1, 2, 3, 4, 7):
        runs = split_lanes(order, lanes)
        assert len(runs) == lanes
        assert [u for run in runs for u in run] == order  # contiguous, in order, nothing lost
        sizes = [len(run) for run in runs]
        assert max(sizes) - min(sizes) <= 1
    assert split_lanes(order[:2], 4) == [[order[0]], [order[1]]]  # never an empty lane
    assert split_lanes([], 3) == [[]]


def test_split_cells_build_the_same_samples_as_whole_cells(scene, built, tmp_path):
    """issue 19 (stragglers): --max-unit-chips 1 splits every cell of more than one focus into
    one unit per focus; the keys, records, images and shard tars are those of the unsplit
    build (only the unit names in rejected.jsonl and the shards' stats differ)."""
    out = tmp_path / "split"
    run_cli(*build_args(scene, out, "--workers", "2", "--max-unit-chips", "1"), check=True)
    split_stats = json.loads((out / "stats.json").read_text())
    whole_stats = json.loads((built / "stats.json").read_text())
    assert split_stats["units"]["total"] > whole_stats["units"]["total"]
    assert split_stats["samples"] == whole_stats["samples"]
    assert digests(out) == digests(built)
    for parquet in sorted((built / "data").glob("*.parquet")):
        assert (out / "data" / parquet.name).read_bytes() == parquet.read_bytes()
