"""engine/inputs.py: the inputs read and checked before OUT is touched (issue 11 case 'the
engine reads like the flow': input reading is its own module). Truth from pyproj/shapely on
the scene's known UTM footprint, not from the code under test."""

from __future__ import annotations

import json
import tarfile

import pytest
import shapely
import shapely.geometry
from pyproj import Transformer

from conftest import build_args, digests, run_cli
from geoscribe.config import make_config
from geoscribe.engine.inputs import input_files, read_inputs, resolve_demo
from geoscribe.errors import InputError
from nominatim_server import result
from scene import CRS, GSD, ORIGIN_X, ORIGIN_Y, SIZE


def _config(scene, out, **overrides):
    values = dict(recipe="skyscript-like", region=scene.bbox, out=out,
                  imagery=[str(scene.raster)], osm=[str(scene.osm)], workers=1,
                  progress=False)
    values.update(overrides)
    return make_config(**values)


def _footprint_wgs84() -> shapely.Polygon:
    """The scene raster's footprint in lon/lat, from its UTM corners (pyproj)."""
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    corners = [(ORIGIN_X, ORIGIN_Y), (ORIGIN_X + SIZE * GSD, ORIGIN_Y),
               (ORIGIN_X + SIZE * GSD, ORIGIN_Y - SIZE * GSD), (ORIGIN_X, ORIGIN_Y - SIZE * GSD)]
    return shapely.Polygon([t.transform(x, y) for x, y in corners])


def test_read_inputs_indexes_the_scene_and_touches_no_out(scene, tmp_path):
    """issue 11 case 'engine flow': read_inputs indexes the raster, keeps the vector files and
    the region, and does not create OUT."""
    out = tmp_path / "o"
    inputs = read_inputs(_config(scene, out))
    assert [r.path for r in inputs.rasters] == [str(scene.raster)]
    assert inputs.failed_rasters == {} and inputs.masks == []
    assert inputs.osm_paths == [scene.osm] and inputs.label_paths == []
    lon0, lat0, lon1, lat1 = (float(v) for v in scene.bbox.split(","))
    assert inputs.region.bounds == pytest.approx((lon0, lat0, lon1, lat1))
    assert inputs.region.geometry.contains(_footprint_wgs84())
    assert not out.exists()


def test_region_outside_the_imagery_names_the_imagery_footprint(scene, tmp_path):
    """issue 11 case 'engine flow': a region that misses the imagery is one line giving the
    imagery's lon/lat bounds (the union of the raster footprints)."""
    with pytest.raises(InputError) as caught:
        read_inputs(_config(scene, tmp_path / "o", region="10,10,10.01,10.01"))
    message = str(caught.value)
    assert message.startswith("--region 10,10,10.01,10.01: outside the imagery")
    values = message.split("lon/lat ")[1].rstrip(")").split(", ")
    assert [float(v) for v in values] == pytest.approx(_footprint_wgs84().bounds, abs=2e-5)


def test_missing_vector_file_is_named_by_its_option(scene, tmp_path):
    """issue 11 case 'engine flow': a missing --osm or --labels file is one line naming it."""
    missing = tmp_path / "nowhere.osm"
    with pytest.raises(InputError, match=f"^--osm {missing}: file not found$"):
        read_inputs(_config(scene, tmp_path / "o", osm=[str(missing)]))
    labels = tmp_path / "nowhere.geojson"
    with pytest.raises(InputError, match=f"^--labels {labels}: file not found$"):
        read_inputs(_config(scene, tmp_path / "o", labels=[str(labels)]))
    with pytest.raises(InputError, match="^--osm/--labels: give at least one"):
        read_inputs(_config(scene, tmp_path / "o", osm=[]))


def test_mask_recipe_without_a_mask_is_an_error(scene, tmp_path):
    """issue 11 case 'engine flow': a mask recipe needs --labels (a raster) and --class-map."""
    with pytest.raises(InputError, match="^--labels: .* needs a label raster"):
        read_inputs(_config(scene, tmp_path / "o", recipe="counting-qa", osm=[]))


def test_unreadable_raster_is_kept_aside_and_listed_as_an_input(scene, tmp_path):
    """issue 11 case 'engine flow': a broken raster among good ones is recorded as failed and
    still counts as an input file of the output (its change changes the fingerprint)."""
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff")
    config = _config(scene, tmp_path / "o", imagery=[str(scene.raster), str(broken)])
    inputs = read_inputs(config)
    assert list(inputs.failed_rasters) == [str(broken)]
    files = input_files(config, inputs)
    assert files == {"--imagery": sorted([str(scene.raster), str(broken)]),
                     "--osm": [str(scene.osm)]}


def test_resolve_demo_leaves_other_regions_alone_and_refuses_own_inputs(monkeypatch):
    """issue 11 case 'engine flow': only `--region demo` is expanded; it brings its own imagery,
    so an --imagery given with it is an error naming the option."""
    values = {"region": "1,2,3,4", "recipe": "skyscript-like", "imagery": ["a.tif"]}
    assert resolve_demo(values) is values
    from geoscribe.sources import demo

    monkeypatch.setattr(demo, "demo_inputs", lambda recipe, kind: {"imagery": ["demo.tif"]})
    with pytest.raises(InputError, match="^--imagery: --region demo brings its own inputs"):
        resolve_demo({**values, "region": "demo"})
    filled = resolve_demo({"region": " Demo ", "recipe": "skyscript-like"})
    assert filled["imagery"] == ["demo.tif"]
    for key, value in demo.DEMO_OPTIONS.items():
        assert filled[key] == value



# --- issue 18: --region "Place, Country" geocoded (tests/nominatim_server.py) -----------------

PLACE = "Scene Town, Testland"


def _west_half_wgs84() -> shapely.Polygon:
    """The western half of the scene raster, in lon/lat (pyproj): the fake place's polygon."""
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    half = SIZE * GSD / 2
    corners = [(ORIGIN_X - 20, ORIGIN_Y + 20), (ORIGIN_X + half, ORIGIN_Y + 20),
               (ORIGIN_X + half, ORIGIN_Y - SIZE * GSD - 20),
               (ORIGIN_X - 20, ORIGIN_Y - SIZE * GSD - 20)]
    return shapely.Polygon([t.transform(x, y) for x, y in corners])


def _place_build(scene, out, nominatim, cache, *extra):
    args = [a if not a.startswith("--region=") else f"--region={PLACE}"
            for a in build_args(scene, out)]
    return run_cli(*args, "--geocoder-url", nominatim.url, "--cache-dir", str(cache), *extra)


def _focus_ids(out) -> list[int]:
    ids = []
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    record = json.loads(tar.extractfile(member).read())
                    ids += [f["osm_id"] for f in record["features"] if f["focus"]]
    return ids


def _feature_wgs84(feature) -> shapely.Geometry:
    t = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    points = [t.transform(x, y) for x, y in feature.utm]
    return shapely.Polygon(points) if len(points) > 3 and points[0] == points[-1] \
        else shapely.LineString(points) if len(points) > 1 else shapely.Point(points[0])


def test_a_place_name_builds_the_places_polygon(scene, nominatim, tmp_path):
    """issue 18 place names: `--region "Place, Country"` becomes the geocoded polygon: every
    record's focus lies in it, the shards equal a build given the same polygon as a GeoJSON
    file, and stats.json records the place, its OSM element, the geocoder and the request."""
    polygon = _west_half_wgs84()
    nominatim.places[PLACE] = [result("relation", 4242, "Scene Town, Testland",
                                      shapely.geometry.mapping(polygon))]
    run = _place_build(scene, tmp_path / "place", nominatim, tmp_path / "cache")
    assert run.returncode == 0, run.stderr
    geojson = tmp_path / "place.geojson"
    geojson.write_text(json.dumps(shapely.geometry.mapping(polygon)), encoding="utf-8")
    args = [a if not a.startswith("--region=") else f"--region={geojson}"
            for a in build_args(scene, tmp_path / "file")]
    run_cli(*args, check=True)
    assert digests(tmp_path / "place") == digests(tmp_path / "file")
    features = {f.osm_id: _feature_wgs84(f) for f in scene.features}
    inside = _focus_ids(tmp_path / "place")
    assert inside and all(features[i].intersects(polygon) for i in inside)
    assert any(not g.intersects(polygon) for g in features.values())  # the region cuts
    stats = json.loads((tmp_path / "place" / "stats.json").read_text(encoding="utf-8"))
    row = next(r for r in stats["sources"] if r["kind"] == "region")
    assert (row["place"], row["osm_type"], row["osm_id"], row["uri"]) == (
        PLACE, "relation", 4242, nominatim.url)
    assert row["license"] == "ODbL-1.0"
    assert stats["remote"]["nominatim"]["requests"] == 1
    assert stats["region"]["description"] == f"place {PLACE}"


def test_a_rerun_asks_the_geocoder_nothing(scene, nominatim, tmp_path):
    """issue 18 place names: the reply is cached under --cache-dir: a re-run (here into a new
    OUT, so it builds again) makes zero requests and counts a cache hit."""
    polygon = _west_half_wgs84()
    nominatim.places[PLACE] = [result("relation", 4242, PLACE, shapely.geometry.mapping(polygon))]
    for out in ("first", "second"):
        run = _place_build(scene, tmp_path / out, nominatim, tmp_path / "cache")
        assert run.returncode == 0, run.stderr
    assert len(nominatim.requests) == 1
    stats = json.loads((tmp_path / "second" / "stats.json").read_text(encoding="utf-8"))
    assert stats["remote"]["nominatim"]["requests"] == 0
    assert stats["remote"]["nominatim"]["cache_hits"] == 1
    assert digests(tmp_path / "first") == digests(tmp_path / "second")


@pytest.mark.parametrize("case", ["no result", "unreachable"])
def test_a_place_the_geocoder_cannot_give_is_one_line(scene, nominatim, tmp_path, case):
    """issue 18 place names: no result, or an unreachable geocoder, is one line and exit 2,
    with nothing built."""
    if case == "unreachable":
        nominatim.url = "http://127.0.0.1:9"
    run = _place_build(scene, tmp_path / "o", nominatim, tmp_path / "cache")
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    needle = "no place of that name" if case == "no result" else "127.0.0.1:9 unreachable"
    assert needle in lines[0] and "Traceback" not in run.stderr
    assert not list((tmp_path / "o").glob("data/*.tar"))


def _write_plan(path, scene, thresholds: str = "") -> None:
    path.write_text(f"{thresholds}sources:\n  - name: aerial\n    imagery: {scene.raster}\n"
                    "    license: CC-BY-4.0\n", encoding="utf-8")


def test_imagery_plan_thresholds_default_to_the_cli_and_gsd_is_measured(scene, tmp_path):
    """issue 18 --imagery-plan: thresholds missing from the plan are --min-object-px and
    --max-chip-px (else the recipe's defaults), the file's own win; a source without gsd_m
    gets its raster's (0.5 m, the scene's known pixel size); the plan's rasters are the
    build's imagery and its file is an input of the output fingerprint."""
    plan_path = tmp_path / "plan.yaml"
    _write_plan(plan_path, scene)
    config = _config(scene, tmp_path / "o", imagery=[], imagery_plan=plan_path,
                     min_object_px=7, max_chip_px=300)
    inputs = read_inputs(config)
    plan = inputs.imagery_plan
    assert (plan.min_object_px, plan.max_chip_px) == (7, 300)
    assert [s.gsd_m for s in plan.sources] == [pytest.approx(GSD, abs=1e-4)]
    assert [r.path for r in inputs.rasters] == [str(scene.raster)]
    assert input_files(config, inputs)["--imagery-plan"] == [str(plan_path)]
    defaults = read_inputs(_config(scene, tmp_path / "o", imagery=[], imagery_plan=plan_path))
    assert (defaults.imagery_plan.min_object_px, defaults.imagery_plan.max_chip_px) == (3, 2048)
    _write_plan(plan_path, scene, "min_object_px: 9\nmax_chip_px: 100\n")
    own = read_inputs(config).imagery_plan
    assert (own.min_object_px, own.max_chip_px) == (9, 100)


def test_imagery_plan_with_imagery_or_a_tile_recipe_is_an_error(scene, tmp_path):
    """issue 18 --imagery-plan: given with --imagery, or to a tile recipe (no object to size),
    it is a one-line error (exit 2) from the real CLI."""
    from conftest import build_args, run_cli
    from test_cli_errors import assert_one_line_error

    plan_path = tmp_path / "plan.yaml"
    _write_plan(plan_path, scene)
    both = run_cli(*build_args(scene, tmp_path / "o"), "--imagery-plan", str(plan_path))
    assert both.returncode == 2
    assert_one_line_error(both, "--imagery-plan", "either --imagery or --imagery-plan")
    with pytest.raises(InputError, match="rsvqa-like makes tiles"):
        read_inputs(_config(scene, tmp_path / "o", recipe="rsvqa-like", imagery=[],
                            imagery_plan=plan_path))


def test_imagery_plan_raster_in_two_sources_is_an_error(scene, tmp_path):
    """issue 18 --imagery-plan: one raster in two sources (two licenses for the same pixels)
    is an error naming both sources."""
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text("sources:\n"
                         f"  - {{name: a, imagery: {scene.raster}, license: CC0-1.0}}\n"
                         f"  - {{name: b, imagery: {scene.raster.parent}, license: CC-BY-4.0}}\n",
                         encoding="utf-8")
    with pytest.raises(InputError, match="is in sources a and b"):
        read_inputs(_config(scene, tmp_path / "o", imagery=[], imagery_plan=plan_path))
