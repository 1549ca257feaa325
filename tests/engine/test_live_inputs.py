"""engine/live_inputs.py (issue 18, `--osm overpass[:URL]`): the Overpass input is fetched
before the pipeline, for the region grown as ingest grows it, at the imagery's date, and handed
on as an OSM file with its provenance. The server is the loopback fake (tests/overpass_server)."""

from __future__ import annotations

import shutil

import pytest
import rasterio
import shapely
from pyproj import Transformer

from geoscribe.config import make_config
from geoscribe.engine.inputs import read_inputs
from geoscribe.engine.live_inputs import is_earthengine, is_live_imagery
from geoscribe.errors import InputError
from overpass_server import query_box, serve
from scene import CRS, GSD


@pytest.fixture()
def fake(scene):
    with serve(scene.osm) as (server, url):
        yield server, url


def _config(scene, tmp_path, url, **overrides):
    values = dict(recipe="skyscript-like", region=scene.bbox, out=tmp_path / "o",
                  imagery=[str(scene.raster)], osm=[f"overpass:{url}"], workers=1,
                  progress=False, cache_dir=tmp_path / "cache", max_chip_px=256)
    values.update(overrides)
    return make_config(**values)


def test_the_region_grown_by_the_largest_chip_is_queried(scene, fake, tmp_path):
    """issue 18 overpass: the queries cover the region grown by the farthest a chip reaches
    (max_chip_px x GSD x sqrt 2, issue 17 case 2), measured here in UTM metres with pyproj."""
    server, url = fake
    inputs = read_inputs(_config(scene, tmp_path, url))
    queried = shapely.union_all([shapely.box(w, s, e, n) for s, w, n, e in
                                 (query_box(q) for q in server.answered)])
    reach = 256 * GSD * 2 ** 0.5
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    west, south, east, north = (float(v) for v in scene.bbox.split(","))
    for lon, lat, dx, dy in ((west, south, -1, -1), (east, north, 1, 1), (west, north, -1, 1)):
        x, y = to_utm.transform(lon, lat)
        corner = to_wgs84.transform(x + dx * reach * 0.7, y + dy * reach * 0.7)  # 0.7: < 1/√2
        assert queried.covers(shapely.Point(corner))
    [path] = inputs.osm_paths
    row = inputs.live.details[str(path)]
    assert row["uri"] == f"overpass:{url}" and row["queries"] == server.answered
    assert row["date"] is None and inputs.live.remote_stats["overpass"].requests == len(
        server.requests)


def test_the_date_is_the_imagerys_unless_osm_date_says_otherwise(scene, fake, tmp_path):
    """issue 18 overpass: OSM is asked at the imagery's acquisition date when known, at
    --osm-date when given."""
    server, url = fake
    raster = tmp_path / "dated.tif"
    shutil.copyfile(scene.raster, raster)
    with rasterio.open(raster, "r+") as dst:
        dst.update_tags(TIFFTAG_DATETIME="2019:07:14 10:11:12")
    read_inputs(_config(scene, tmp_path, url, imagery=[str(raster)]))
    assert set(server.dates) == {"2019-07-14T00:00:00Z"}
    server.dates.clear()
    inputs = read_inputs(_config(scene, tmp_path, url, imagery=[str(raster)],
                                 osm_date="2016-01-02"))
    assert set(server.dates) == {"2016-01-02T00:00:00Z"}
    assert inputs.live.details[str(inputs.osm_paths[0])]["date"] == "2016-01-02T00:00:00Z"


def test_a_bad_osm_date_is_refused_before_any_request(scene, fake, tmp_path):
    """issue 18 overpass: an --osm-date that is no date is one line, and nothing is asked."""
    server, url = fake
    with pytest.raises(InputError, match="--osm-date"):
        read_inputs(_config(scene, tmp_path, url, osm_date="last summer"))
    assert server.requests == []


def test_overpass_and_a_local_file_together(scene, fake, tmp_path):
    """issue 18 overpass: `--osm overpass:URL` may come with local OSM files; both are read."""
    _server, url = fake
    inputs = read_inputs(_config(scene, tmp_path, url,
                                 osm=[str(scene.osm), f"overpass:{url}"]))
    assert inputs.osm_paths[0] == scene.osm and len(inputs.osm_paths) == 2
    assert inputs.osm_paths[1].suffix == ".osm" and inputs.osm_paths[1].exists()



@pytest.mark.parametrize(("spec", "live", "earthengine"), [
    ("stac:https://earth-search.aws.element84.com/v1", True, False),
    ("stac:http://user:pw@127.0.0.1:8000/api", True, False),
    ("earthengine:COPERNICUS/S2_SR_HARMONIZED", True, True),
    ("earthengine:", True, True),
    ("scene.tif", False, False),
    ("/data/tiles/*.tif", False, False),
    ("https://example.org/cog.tif", False, False),
    ("/vsicurl/https://example.org/cog.tif", False, False),
    ("stac.tif", False, False),
])
def test_one_name_covers_every_live_imagery_form(spec, live, earthengine):
    """issue 18 mends case 4: `is_live_imagery` names both live imagery forms (stac:,
    earthengine:); files, globs and URLs of rasters (read over HTTP, but files) are not."""
    assert is_live_imagery(spec) is live
    assert is_earthengine(spec) is earthengine
