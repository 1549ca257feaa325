"""sources/osm_xml.py: the rewrite that makes an OSM XML file readable whole by pyosmium:
negative ids mapped above the largest id, over-long tags dropped, entities refused.
The rewritten file is read back with osmium directly."""

from __future__ import annotations

import bz2
import gzip

import osmium
import pytest

from geoscribe.errors import InputError
from geoscribe.sources.osm_xml import (
    MAX_STRING_BYTES,
    IdOffsets,
    largest_ids,
    rewrite_osm_xml,
)

LONG = "x" * (MAX_STRING_BYTES + 1)
JOSM = f"""<?xml version='1.0' encoding='UTF-8'?>
<osm version='0.6' generator='JOSM'>
  <node id='7' lat='60.1' lon='24.9'><tag k='amenity' v='cafe'/></node>
  <node id='-1' lat='60.2' lon='24.8' action='modify'/>
  <node id='-2' lat='60.3' lon='24.8'/>
  <node id='-3' lat='60.3' lon='24.7'/>
  <way id='-5'><nd ref='-1'/><nd ref='-2'/><nd ref='-3'/><nd ref='-1'/>
    <tag k='building' v='yes'/><tag k='note' v='{LONG}'/><tag k='{LONG}' v='x'/></way>
  <way id='12'><nd ref='7'/><nd ref='-2'/><tag k='highway' v='path'/></way>
  <relation id='-1'><member type='way' ref='-5' role='outer'/>
    <tag k='type' v='multipolygon'/></relation>
</osm>
"""


@pytest.mark.parametrize("suffix", [".osm", ".osm.gz", ".osm.bz2"])
def test_largest_ids_per_type(tmp_path, suffix):
    """issue 11 tests mirror src: the first pass, through gzip/bz2 as well."""
    path = tmp_path / f"josm{suffix}"
    opener = {".osm": open, ".osm.gz": gzip.open, ".osm.bz2": bz2.open}[suffix]
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write(JOSM)
    assert largest_ids(path).largest == {"node": 7, "way": 12, "relation": 0}


def test_id_offsets_map_and_map_back():
    """issue 11 tests mirror src: -k is written as largest + k, and read back as -k."""
    offsets = IdOffsets({"node": 7, "way": 12, "relation": 0})
    assert [offsets.mapped("node", i) for i in (-1, -3, 7)] == [8, 10, 7]
    assert [offsets.original("node", i) for i in (8, 10, 7)] == [-1, -3, 7]
    assert offsets.original("relation", offsets.mapped("relation", -1)) == -1


def test_rewrite_is_read_whole_by_osmium(tmp_path):
    """issue 11 tests mirror src: after the rewrite osmium builds the way from the formerly
    negative nodes, and both over-long tags are gone (each counted once)."""
    src, out = tmp_path / "josm.osm", tmp_path / "fixed.osm"
    src.write_text(JOSM, encoding="utf-8")
    offsets = largest_ids(src)
    dropped = []
    rewrite_osm_xml(src, out, offsets, lambda: dropped.append(1))
    assert len(dropped) == 2

    nodes, ways, relations = {}, {}, {}
    for obj in osmium.FileProcessor(str(out)):
        tags = dict(obj.tags)
        if obj.is_node():
            nodes[obj.id] = (round(obj.location.lon, 6), round(obj.location.lat, 6))
        elif obj.is_way():
            ways[obj.id] = ([n.ref for n in obj.nodes], tags)
        else:
            relations[obj.id] = ([(m.type, m.ref, m.role) for m in obj.members], tags)
    assert nodes == {7: (24.9, 60.1), 8: (24.8, 60.2), 9: (24.8, 60.3), 10: (24.7, 60.3)}
    assert ways == {17: ([8, 9, 10, 8], {"building": "yes"}),
                    12: ([7, 9], {"highway": "path"})}
    assert relations == {1: ([("w", 17, "outer")], {"type": "multipolygon"})}
    assert offsets.original("way", 17) == -5


def test_entities_and_broken_xml_are_input_errors(tmp_path):
    """issue 11 tests mirror src: no entity expansion; malformed XML is one input error."""
    evil = tmp_path / "evil.osm"
    evil.write_text('<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY a "aaaa">]>'
                    "<osm><node id='1' lat='0' lon='0'/></osm>")
    with pytest.raises(InputError, match="entity declarations"):
        largest_ids(evil)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1'")
    with pytest.raises(InputError, match="malformed OSM data"):
        largest_ids(broken)


def test_non_numeric_id_is_an_input_error(tmp_path):
    """issue 11 tests mirror src: an id the rewrite cannot map."""
    src = tmp_path / "bad.osm"
    src.write_text("<osm><node id='abc' lat='0' lon='0'/></osm>")
    with pytest.raises(InputError, match="non-numeric id"):
        rewrite_osm_xml(src, tmp_path / "o.osm", IdOffsets(), lambda: None)
