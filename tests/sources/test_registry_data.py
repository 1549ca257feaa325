"""How outputs name inputs: canonical source ids for cache files, paths as given otherwise."""

from __future__ import annotations

from geoscribe.sources.registry_data import derived_path, source_uri


def test_cache_files_are_named_by_canonical_source_ids(tmp_path, monkeypatch):
    """issue 10 case 9: a fetched member and a file derived from one."""
    monkeypatch.setenv("GEOSCRIBE_CACHE", str(tmp_path / "home" / "cache"))
    member = tmp_path / "home" / "cache" / "registry" / "solaris/data/sample_geotiff.tif"
    assert source_uri(member) == "pypi:solaris==0.4.0/solaris/data/sample_geotiff.tif"
    assert source_uri(str(derived_path("atlanta_building_ids.tif"))) == \
        "pypi:solaris==0.4.0/solaris/data/sample_inst_mask.tif#instance-ids"
    unknown = tmp_path / "home" / "cache" / "registry" / "other.tif"
    assert source_uri(unknown) == str(unknown)  # not a known member: the path as given


def test_other_paths_are_kept_as_given(tmp_path, monkeypatch):
    """issue 10 case 9: relative stays relative, nothing is resolved."""
    monkeypatch.setenv("GEOSCRIBE_CACHE", str(tmp_path / "cache"))
    assert source_uri("inputs/scene.tif") == "inputs/scene.tif"
    assert source_uri("../data/scene.osm") == "../data/scene.osm"
    assert source_uri(tmp_path / "x.tif") == str(tmp_path / "x.tif")
