"""The resume fingerprint's region digest and the order changes are named in."""

from __future__ import annotations

import shapely

from geoscribe.engine.fingerprint import changed_source, region_digest


def test_region_digest_ignores_ring_start_orientation_and_part_order():
    """A region re-saved by an editor (other ring start, clockwise, parts swapped) is the same
    region: a resume must not be refused for it; a moved vertex is another region."""
    square = shapely.Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])
    clockwise = shapely.Polygon([(1, 1), (1, 0), (0, 0), (0, 1)])
    assert square.exterior.is_ccw != clockwise.exterior.is_ccw  # really other orientation
    assert region_digest(square) == region_digest(clockwise)
    other = shapely.box(2, 2, 3, 3)
    assert region_digest(shapely.MultiPolygon([square, other])) == \
        region_digest(shapely.MultiPolygon([other, clockwise]))
    moved = shapely.Polygon([(0, 0), (1, 0), (1, 1.0001), (0, 1)])
    assert region_digest(moved) != region_digest(square)


def test_a_new_version_is_named_before_the_inputs_it_added():
    """An OUT begun by an older geoscribe that did not record some input (here the region) is
    refused naming the version, not blaming the region as 'added'."""
    previous = {"--osm a.osm": "sha256:1", "geoscribe version": "0.2.0"}
    current = {"--osm a.osm": "sha256:1", "--region 1,2,3,4": "sha256:2",
               "geoscribe version": "0.2.2"}
    assert changed_source(previous, current) == ("geoscribe version", "changed")
    same_version = dict(current, **{"--region 1,2,3,4": "sha256:3"})
    assert changed_source(current, same_version) == ("--region 1,2,3,4", "changed")
