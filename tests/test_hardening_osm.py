"""End-to-end hardening of the vector and imagery inputs (issue 10, cases 8 and 11): the real
CLI on the generated scene with duplicated OSM input, a JOSM file, an over-long tag and a raster
in a local engineering CRS."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from conftest import build_args, run_cli
from scene import to_josm, with_long_tag


def _digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").glob("*.tar"))}


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text(encoding="utf-8"))


def _local_crs_raster(path: Path) -> Path:
    crs = CRS.from_wkt('LOCAL_CS["Site grid",LOCAL_DATUM["Site datum",10000],UNIT["metre",1],'
                       'AXIS["X",EAST],AXIS["Y",NORTH]]')
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8",
                       crs=crs, transform=Affine(1.0, 0.0, 1000.0, 0.0, -1.0, 2000.0)) as dst:
        dst.write(np.full((3, 64, 64), 120, np.uint8))
    return path


def test_same_osm_file_twice_gives_the_shards_of_one(built, scene, tmp_path):
    """issue 10 case 8: `--osm f --osm f` builds the shards of one `--osm f`, byte for byte,
    and stats count every element of the second copy as a duplicate."""
    out = tmp_path / "twice"
    run_cli(*build_args(scene, out, "--osm", str(scene.osm), "--workers", "1"), check=True)
    assert _digests(out) == _digests(built) and _digests(out)
    stats, once = _stats(out), _stats(built)
    assert stats["samples"] == once["samples"]
    kept = once["inputs"]["vectors"][str(scene.osm)]["kept"]
    assert kept == len(scene.features)
    assert stats["skipped"][f"duplicate_element:{scene.osm}"] == kept


def test_josm_file_builds_every_feature(built, scene, tmp_path):
    """issue 10 case 8: the scene saved JOSM-style (negative ids) gives as many samples as the
    scene, and nothing is skipped as invalid or missing nodes."""
    josm = tmp_path / "josm.osm"
    to_josm(scene.osm, josm)
    out = tmp_path / "josm"
    args = [a if a != str(scene.osm) else str(josm) for a in build_args(scene, out)]
    run_cli(*args, "--workers", "1", check=True)
    stats = _stats(out)
    assert stats["samples"] == _stats(built)["samples"]
    assert not [k for k in stats["skipped"] if k.startswith("osm_")]
    assert stats["inputs"]["vectors"][str(josm)]["kept"] == len(scene.features)
    validated = run_cli("geoscribe", "validate", str(out))  # negative ids in keys and records
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_over_long_tag_is_dropped_not_fatal(built, scene, tmp_path):
    """issue 10 case 11: an OSM tag value over 1 KiB is dropped and counted; the build goes on,
    and no temporary feature store is left."""
    long_osm = tmp_path / "long.osm"
    way = next(f for f in scene.features if f.osm_type == "way")
    with_long_tag(scene.osm, long_osm, way.osm_id, size=1500)
    out = tmp_path / "long"
    args = [a if a != str(scene.osm) else str(long_osm) for a in build_args(scene, out)]
    result = run_cli(*args, "--workers", "1")
    assert result.returncode == 0, result.stderr
    stats = _stats(out)
    assert stats["skipped"][f"osm_tag_too_long:{long_osm}"] == 1
    assert stats["samples"] == _stats(built)["samples"]
    assert not list(out.rglob("*.tmp"))


def test_raster_in_a_local_crs_is_skipped_among_good_ones(scene, tmp_path):
    """issue 10 case 11: a raster whose CRS has no way to WGS84 is skipped and counted as
    imagery_unreadable next to a good raster, and is a one-line error when it is the only one."""
    local = _local_crs_raster(tmp_path / "site.tif")
    out = tmp_path / "mixed"
    result = run_cli(*build_args(scene, out, "--imagery", str(local), "--workers", "1"))
    assert result.returncode == 0, result.stderr
    stats = _stats(out)
    assert stats["skipped"][f"imagery_unreadable:{local}"] == 1
    assert stats["samples"] > 0
    args = build_args(scene, tmp_path / "alone")
    args[args.index(str(scene.raster))] = str(local)
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --imagery {local}: its CRS (Site grid) cannot be transformed to WGS84"]


def _record_names(out: Path) -> list[str]:
    import tarfile

    names = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            names += tar.getnames()
    return names


def test_incomplete_relation_reaches_stats_partial_or_counted(scene, tmp_path):
    """issue 17 case 4: the scene's courtyard building (relation 7001) with its inner way
    missing from the file is built from its outer ring and counted as osm_relation_partial in
    stats.json; with its outer way missing it is in no record and counted as
    osm_relation_incomplete."""
    import re

    text = scene.osm.read_text(encoding="utf-8")
    ways = re.findall(r'<way id="(\d+)" version="1">(?:(?!</way>).)*</way>', text)
    member_ways = re.findall(r'<member type="way" ref="(\d+)" role="(\w+)"/>', text)
    assert [role for _, role in member_ways] == ["outer", "inner"] and ways
    for (way_id, role), counter in zip(member_ways, ("osm_relation_incomplete",
                                                     "osm_relation_partial"), strict=True):
        osm = tmp_path / f"no_{role}.osm"
        osm.write_text(re.sub(rf'<way id="{way_id}" version="1">(?:(?!</way>).)*</way>', "",
                              text), encoding="utf-8")
        out = tmp_path / role
        args = [a if a != str(scene.osm) else str(osm) for a in build_args(scene, out)]
        run_cli(*args, "--workers", "1", check=True)
        skipped = _stats(out)["skipped"]
        assert skipped[f"{counter}:{osm}"] == 1
        assert not [k for k in skipped if k.startswith("osm_relation") and counter not in k]
        in_records = any("r7001" in name for name in _record_names(out))
        assert in_records == (counter == "osm_relation_partial")
