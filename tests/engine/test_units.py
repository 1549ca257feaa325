"""engine/units: unit planning (plan_units) and finish_unit, the one end of a unit stage
(worker and LLM stage)."""

from __future__ import annotations

import json
import random

import pytest
import shapely

from geoscribe.engine.units import (
    finish_unit,
    largest_first,
    plan_units,
    read_marker,
    unit_parts,
)
from geoscribe.region import cell_index
from geoscribe.shards import UnitPartWriter, iter_samples, sample_members
from geoscribe.sources.feature_store import FeatureStore
from geoscribe.types import Feature


def _record(key: str) -> dict:
    return {"id": key, "texts": {"caption": f"caption of {key}"}}


def test_finish_unit_writes_parts_rejections_then_the_marker(tmp_path):
    """issue 11 (dedupe 6): parts renamed, rejections written, marker last and readable."""
    directory = tmp_path / "u"
    writer = UnitPartWriter(directory, prefix="llm-")
    for key, split in (("a", "train"), ("b", "train"), ("c", "val")):
        writer.write(split, sample_members(key, "png", b"\x89PNG" + key.encode(), _record(key)))
    rejected = [{"id": "d", "reasons": ["schema"]}, {"id": "e", "reasons": ["x"]}]
    record = finish_unit(directory, writer, rejected, "llm_rejected.jsonl", "llm.json",
                         {"unit": "u", "samples": 99, "part_prefix": "llm-"})
    assert sorted(p.name for p in directory.iterdir()) == [
        "llm-train.tar", "llm-val.tar", "llm.json", "llm_rejected.jsonl"]
    lines = (directory / "llm_rejected.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rejected
    assert record["samples"] == 3  # what the parts hold, not the marker passed in
    assert record["samples_by_split"]["train"] == 2 and record["samples_by_split"]["val"] == 1
    assert set(record["ranges"]) == {"train", "val"}
    assert record["unit"] == "u"
    assert json.loads((directory / "llm.json").read_text()) == record
    assert read_marker(directory, "llm.json", "llm-") == record
    keys = [s["__key__"] for s in iter_samples(directory / "llm-train.tar")]
    assert keys == ["a", "b"]
    for split, ranges in record["ranges"].items():
        size = (directory / f"llm-{split}.tar").stat().st_size
        assert all(0 <= start < end <= size for _, start, end in ranges)


def test_unit_parts_removes_its_temporary_parts_when_the_stage_fails(tmp_path):
    """issue 11 case 'one unit stage shared by the worker and the LLM stage': a stage that
    fails inside unit_parts leaves no part tar, temporary or renamed."""
    with pytest.raises(KeyboardInterrupt), unit_parts(tmp_path / "u", "llm-") as writer:
        writer.write("train", sample_members("k1", "png", b"png", _record("k1")))
        assert (tmp_path / "u" / "llm-train.tar.tmp").exists()
        raise KeyboardInterrupt
    assert list((tmp_path / "u").iterdir()) == []


def test_units_are_planned_for_the_features_meeting_the_region(tmp_path):
    """issue 17 case 2: the store holds features beyond the region; units (and --limit) count
    only the features meeting it: a building in the region, one across its edge (bbox centre
    outside it) and one in the notch of an L-shaped region (inside its box, not in it)."""
    region = shapely.Polygon([(0, 0), (0.02, 0), (0.02, 0.01), (0.01, 0.01), (0.01, 0.02),
                              (0, 0.02)])
    inside = shapely.box(0.002, 0.002, 0.003, 0.003)
    across = shapely.box(0.019, 0.004, 0.026, 0.005)  # centre 0.0225: outside the region's box
    notch = shapely.box(0.015, 0.015, 0.016, 0.016)
    beyond = shapely.box(0.05, 0.05, 0.051, 0.051)
    store = FeatureStore(tmp_path / "s.sqlite")
    store.add_many([Feature("osm", g, {"building": "yes"}, "x.osm", osm_type="way", osm_id=i)
                    for i, g in enumerate((inside, across, notch, beyond))])
    size = 0.01
    cells = {(u.ix, u.iy) for u in plan_units(store, region, size, None)}
    expected = {cell_index(*g.centroid.coords[0], size) for g in (inside, across)}
    assert cells == expected
    limited = plan_units(store, region, size, 1)
    assert len(limited) == 1 and limited[0].limit is None


def test_units_carry_their_work_and_are_scheduled_largest_first(tmp_path):
    """issue 19 (stragglers): a unit's estimated work is its focus features (capped by
    --limit); largest_first orders units by it, ties in their given order."""
    rng = random.Random(19)
    per_cell = {(0, 0): 1, (1, 0): 7, (0, 1): 3, (1, 1): 7}  # cells of 0.01 degrees
    boxes = []
    for (ix, iy), n in per_cell.items():
        for _ in range(n):
            x, y = ix * 0.01 + rng.uniform(0.001, 0.008), iy * 0.01 + rng.uniform(0.001, 0.008)
            boxes.append(shapely.box(x, y, x + 0.0005, y + 0.0005))
    store = FeatureStore(tmp_path / "s.sqlite")
    store.add_many([Feature("osm", g, {"building": "yes"}, "x.osm", osm_type="way", osm_id=i)
                    for i, g in enumerate(boxes)])
    region = shapely.box(0, 0, 0.02, 0.02)
    units = plan_units(store, region, 0.01, None)
    truth = {cell_index(*g.centroid.coords[0], 0.01): 0 for g in boxes}
    for g in boxes:
        truth[cell_index(*g.centroid.coords[0], 0.01)] += 1
    assert {(u.ix, u.iy): u.work for u in units} == truth
    ordered = largest_first(units)
    assert [u.work for u in ordered] == sorted(truth.values(), reverse=True)
    sevens = [u for u in units if u.work == 7]
    assert ordered[:2] == sevens  # ties keep grid order
    capped = plan_units(store, region, 0.01, 5)
    assert sum(u.work for u in capped) == 5


def test_a_dense_cell_is_split_into_contiguous_shares_of_its_foci(tmp_path):
    """issue 19 (stragglers): a cell of 7 foci with max_chips=3 becomes 3 units of 2, 2 and
    3 foci (work), named apart; their shares of any list are contiguous and, concatenated,
    the list; cells within the bound are not split."""
    boxes = [shapely.box(0.001 * i + 0.001, 0.002, 0.001 * i + 0.0015, 0.0025) for i in range(7)]
    boxes.append(shapely.box(0.012, 0.002, 0.0125, 0.0025))  # the next cell: 1 focus
    store = FeatureStore(tmp_path / "s.sqlite")
    store.add_many([Feature("osm", g, {"building": "yes"}, "x.osm", osm_type="way", osm_id=i)
                    for i, g in enumerate(boxes)])
    units = plan_units(store, shapely.box(0, 0, 0.02, 0.01), 0.01, None, max_chips=3)
    assert [(u.ix, u.part, u.parts, u.work) for u in units] == [
        (0, 0, 3, 2), (0, 1, 3, 2), (0, 2, 3, 3), (1, 0, 1, 1)]
    assert len({u.name for u in units}) == 4
    assert units[3].name == plan_units(store, shapely.box(0, 0, 0.02, 0.01), 0.01, None)[1].name
    items = list(range(7))
    assert [units[i].share(items) for i in range(3)] == [[0, 1], [2, 3], [4, 5, 6]]
    assert units[3].share(items) == items
