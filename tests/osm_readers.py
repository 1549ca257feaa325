"""The two OSM readers (the Python pass on pyosmium, the compiled pass of native/osm) for the
tests that must hold for both, and an independent pyosmium reading of what lies near a box."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import osmium
import pytest
import shapely

from geoscribe.sources.osm_native import native_pass, native_status

READERS = ("python", "native")


@contextmanager
def osm_reader(name: str) -> Iterator[None]:
    """Read PBF files with reader `name` inside the block. Without the compiled pass, a test
    for it is skipped, or fails where GEOSCRIBE_REQUIRE_OSM_NATIVE=1 (CI: .ci/run builds it)."""
    before = os.environ.get("GEOSCRIBE_OSM_NATIVE")
    os.environ["GEOSCRIBE_OSM_NATIVE"] = "1" if name == "native" else "0"
    try:
        if name == "native" and native_pass() is None:
            message = f"the compiled OSM pass is {native_status()}"
            if os.environ.get("GEOSCRIBE_REQUIRE_OSM_NATIVE") == "1":
                pytest.fail(message)
            pytest.skip(message)
        yield
    finally:
        if before is None:
            os.environ.pop("GEOSCRIBE_OSM_NATIVE", None)
        else:
            os.environ["GEOSCRIBE_OSM_NATIVE"] = before


@pytest.fixture(params=READERS)
def reader(request) -> Iterator[str]:
    """Each test using it runs once per OSM reader."""
    with osm_reader(request.param):
        yield request.param


@pytest.fixture()
def python_reader() -> Iterator[str]:
    """The Python pass (tests of its own internals)."""
    with osm_reader("python"):
        yield "python"


def envelopes_meeting(path: Path, bounds) -> tuple[set[tuple[str, int]], int]:
    """Independently (pyosmium and shapely): the tagged objects whose geometry's envelope meets
    `bounds`, as (type, id), and how many tagged objects the pass yields in all."""
    box, wkb, near, total = shapely.box(*bounds), osmium.geom.WKBFactory(), set(), 0
    for obj in (osmium.FileProcessor(str(path)).with_locations().with_areas()
                .with_filter(osmium.filter.EmptyTagFilter())):
        try:
            if obj.is_node():
                key, geom = ("node", obj.id), wkb.create_point(obj)
            elif obj.is_area():
                kind = "way" if obj.from_way() else "relation"
                key, geom = (kind, obj.orig_id()), wkb.create_multipolygon(obj)
            elif obj.is_way():
                key, geom = ("way", obj.id), wkb.create_linestring(obj)
            else:
                continue
        except (RuntimeError, osmium.InvalidLocationError):
            continue
        total += 1
        if shapely.envelope(shapely.from_wkb(geom, on_invalid="ignore")).intersects(box):
            near.add(key)
    return near, total
