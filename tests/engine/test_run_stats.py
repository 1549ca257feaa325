"""engine/run_stats.py: the skip counters summed once, the no-samples reason and the run's
stats block (issue 11 case 'the engine reads like the flow', review: no_samples_reason and
the run stats summed the skip counters twice). Expected values are written out by hand."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from geoscribe.builders.context import SourceLicense
from geoscribe.engine.inputs import Inputs
from geoscribe.engine.run_stats import BuiltUnits, no_samples_reason, run_stats, unit_skips
from geoscribe.engine.units import Unit
from geoscribe.region import Region, parse_region

UNITS = [Unit(0, 0, 0.01), Unit(1, 0, 0.01)]
UNIT_STATS = {
    UNITS[0].name: {"unit": UNITS[0].name, "skipped": {"no_pixels": 2, "read_error:/h/a.tif": 1},
                    "focus_candidates": 4, "samples": 1, "seconds": 0.25},
    UNITS[1].name: {"unit": UNITS[1].name, "skipped": {"no_pixels": 3},
                    "focus_candidates": 5, "samples": 2, "seconds": 0.5},
}
INGEST = {"inputs": {"/h/x.osm": {"kind": "osm", "read": 10, "kept": 7,
                                  "skipped": {"untagged": 3, "no_pixels": 1}}},
          "failed_inputs": {"/h/bad.osm": "/h/bad.osm: unreadable"}}


def test_unit_skips_sums_every_units_counters():
    """issue 11 case 'engine flow': one sum of the units' skip counters."""
    assert unit_skips(UNIT_STATS) == Counter({"no_pixels": 5, "read_error:/h/a.tif": 1})
    assert unit_skips({}) == Counter()


def test_no_samples_reason_from_the_summed_counters():
    """issue 11 case 'engine flow': the reason is read from the one sum it is given."""
    skipped = unit_skips(UNIT_STATS)
    assert no_samples_reason(UNITS, skipped, INGEST, rejected=2) == \
        "1 of 8 chips failed to read imagery /h/a.tif"
    assert no_samples_reason(UNITS, Counter({"no_mask": 4, "tiny": 1}), INGEST, 0) == (
        "all 5 chips were skipped or rejected (no_mask=4: the --labels masks do not cover "
        "the imagery in the region, tiny=1)")
    assert no_samples_reason(UNITS, Counter(), INGEST, 3) == "all 3 records were rejected"
    assert no_samples_reason([], Counter(), INGEST, 0) == (
        "nothing to build in the region (--osm /h/x.osm: 10 elements read, 7 kept)")


def test_run_stats_names_inputs_publicly_and_adds_input_skips():
    """issue 11 case 'engine flow': the run's skips are the units' plus the inputs' (one per
    unreadable input), every input path replaced by its public name (an input's license uri;
    a failed input outside the data cache keeps the path as given)."""
    inputs = Inputs(rasters=[], failed_rasters={"/h/broken.tif": "unreadable"},
                    osm_paths=[Path("/h/x.osm")], label_paths=[], masks=[],
                    region=Region(parse_region("1,2,3,4").geometry, "1,2,3,4"), gdal_cache=0)
    licenses = {"/h/a.tif": SourceLicense("imagery", "a.tif", "CC-BY-4.0", "A"),
                "/h/x.osm": SourceLicense("osm", "x.osm", "ODbL-1.0", "OSM")}
    built = BuiltUnits(UNITS, UNIT_STATS, resumed=1, rejected=2,
                       shards=[{"shard": "train-000000.tar", "split": "train", "samples": 2},
                               {"shard": "val-000000.tar", "split": "val", "samples": 1}])
    stats = run_stats("skyscript-like", inputs, INGEST, licenses, built,
                      unit_skips(UNIT_STATS))
    assert stats["skipped"] == {"imagery_unreadable:/h/broken.tif": 1, "no_pixels": 6,
                                "read_error:a.tif": 1, "untagged": 3,
                                "vector_input_unreadable:/h/bad.osm": 1}
    assert stats["samples"] == 3
    assert stats["samples_by_split"] == {"train": 2, "val": 1, "test": 0}
    assert stats["focus_candidates"] == 9 and stats["rejected"] == 2
    assert stats["units"] == {"total": 2, "resumed": 1}
    assert stats["shards"] == ["train-000000.tar", "val-000000.tar"]
    assert stats["inputs"]["vectors"] == {"x.osm": INGEST["inputs"]["/h/x.osm"]}
    assert stats["inputs"]["vectors_failed"] == {"/h/bad.osm": "/h/bad.osm: unreadable"}
    assert stats["inputs"]["imagery_failed"] == {"/h/broken.tif": "unreadable"}
    assert stats["licenses"] == [("CC-BY-4.0", "A"), ("ODbL-1.0", "OSM")]
    assert stats["region"] == {"description": "1,2,3,4", "bounds_wgs84": [1.0, 2.0, 3.0, 4.0]}
