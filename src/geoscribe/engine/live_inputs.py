"""Live sources resolved before the pipeline (issue 18) into what it already reads:
`--osm overpass[:URL]` fetched (through the on-disk cache) for the area the build must know and
handed on as an OSM file, with its provenance (endpoint, date, queries); `--imagery stac:URL`
as rasters opened by URL; `--imagery earthengine:...` as rasters of cached GeoTIFFs. Rasters
are named in outputs by their public id (never a cache path or a signed URL), with the
source's license; each source adds the rows stats.json `sources` lists to rebuild it, its
request counters (`remote_stats`) and the digests a resumed build compares (`LiveInputs`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import rasterio
import shapely
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.redact import redact_text
from geoscribe.region import Region, cell_bounds, cell_index, ingest_area
from geoscribe.sources.imagery import index_raster, remote_gdal_env
from geoscribe.sources.overpass import (
    PREFIX,
    OverpassClient,
    fetch_osm,
    overpass_url,
    parse_date,
)
from geoscribe.sources.remote import DiskCache, RemoteStats, cache_root
from geoscribe.sources.stac import StacQuery, is_stac, search_stac, secrets_of, stac_url
from geoscribe.types import RasterInfo

EARTHENGINE = "earthengine:"


@dataclass
class LiveInputs:
    """What the live sources of a build add to its inputs."""

    raster_licenses: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    # raster path -> (license, attribution, name outputs give it)
    details: dict[str, dict] = field(default_factory=dict)  # input path -> extra fields of its
    # stats.json `sources` row (its public `uri`, the endpoint, date and queries that rebuild it)
    sources: list[dict] = field(default_factory=list)  # extra stats.json `sources` rows
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)  # by source name
    digests: dict[str, str] = field(default_factory=dict)  # for the run's fingerprint


@dataclass
class LiveOsm:
    """The OSM files the live sources became, their sources rows' extra fields (`uri`,
    endpoint, date, queries) by path, and the counters by source name."""

    paths: list[Path] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)


def ingest_area_for(config: BuildConfig, region: BaseGeometry, rasters: list[RasterInfo],
                    max_chip_px: int | None = None) -> BaseGeometry:
    """The region grown by the largest chip (feature recipes) or tile a build can cut, so
    that everything seen in a chip or tile crossing the region's edge is known (issue 17
    case 2); foci stay inside the region (BuildContext.region)."""
    side = (max_chip_px or config.max_chip_px if RECIPES[config.recipe].chips == "features"
            else config.tile_px or config.chip_size)
    return ingest_area(region, side, [r.gsd_m for r in rasters])


def osm_date(config: BuildConfig, region: BaseGeometry, rasters: list[RasterInfo]
             ) -> str | None:
    """The date OSM is asked at: `--osm-date`, else the latest acquisition date of the imagery
    meeting the region (so the map matches the picture), else None (today's map)."""
    if config.osm_date:
        return parse_date(config.osm_date)
    dates = [r.acquired for r in rasters
             if r.acquired and region.intersects(shapely.box(*r.bounds_wgs84))]
    return parse_date(max(dates)) if dates else None


def fetch_live_osm(config: BuildConfig, region: BaseGeometry, rasters: list[RasterInfo],
                   max_chip_px: int | None = None) -> LiveOsm:
    """Fetch every `--osm overpass:URL` of the config (nothing to do without one) for the
    area ingest keeps (`max_chip_px`: an imagery plan's largest chip)."""
    live = LiveOsm()
    urls = [url for url in (overpass_url(spec) for spec in config.osm) if url]
    if not urls or not RECIPES[config.recipe].needs_vectors:
        return live
    area = ingest_area_for(config, region, rasters, max_chip_px)
    when = osm_date(config, region, rasters)
    stats = live.remote_stats.setdefault(PREFIX, RemoteStats())
    cache = DiskCache(cache_root(config.cache_dir) / PREFIX)
    for url in urls:
        client = OverpassClient(url, cache, stats)

        def bar(boxes, endpoint=client.public):
            return tqdm(boxes, desc=f"querying {endpoint}", unit=" cell",
                        disable=not config.progress)

        fetched = fetch_osm(client, area, when, config.osm_cell_deg, bar)
        live.paths.append(fetched.path)
        live.details[str(fetched.path)] = {"uri": f"{PREFIX}:{fetched.endpoint}",
                                           **fetched.provenance()}
    return live


def is_live_imagery(spec: str) -> bool:
    """Whether an --imagery value names a live imagery source (`stac:URL`,
    `earthengine:COLLECTION`) rather than files (paths, globs, http(s) URLs of rasters)."""
    return is_stac(spec) or is_earthengine(spec)


def is_earthengine(spec: str) -> bool:
    """Whether an --imagery value names an Earth Engine collection (`earthengine:...`)."""
    return spec.startswith(EARTHENGINE)


def region_cells(region: Region, size_deg: float, reach_m: float
                 ) -> list[tuple[float, float, float, float]]:
    """The lon/lat bounds of the unit-grid cells meeting the region grown by the reach of a
    chip `reach_m` metres a side (region.ingest_area)."""
    area = ingest_area(region.geometry, 1, [reach_m])
    minx, miny, maxx, maxy = area.bounds
    (ix0, iy0), (ix1, iy1) = cell_index(minx, miny, size_deg), cell_index(maxx, maxy, size_deg)
    cells = [cell_bounds(ix, iy, size_deg) for iy in range(iy0, iy1 + 1)
             for ix in range(ix0, ix1 + 1)]
    return [b for b in cells if area.intersects(shapely.box(*b))]


def earthengine_imagery(config: BuildConfig, spec: str, region: Region, live: LiveInputs
                        ) -> list[RasterInfo]:
    """`--imagery earthengine:COLLECTION`: the cells' cached GeoTIFFs as rasters (their
    licenses and the source's counters added to `live`)."""
    from geoscribe.sources.earthengine import (
        EE_LICENSE,
        EESettings,
        fetch_collection,
        parse_datetime,
    )

    collection = spec[len(EARTHENGINE):].strip()
    if not collection:
        raise InputError(f"--imagery {spec}", "name a collection: earthengine:COLLECTION")
    if not config.ee_url:
        raise InputError("--ee-url", "no Earth Engine endpoint given")
    start, end = parse_datetime(config.datetime)
    settings = EESettings(collection, config.ee_url, DiskCache(cache_root(config.cache_dir)
                                                               / "earthengine"),
                          config.ee_project, start, end, config.ee_scale, config.ee_concurrency)
    images, stats = fetch_collection(settings, lambda scale: region_cells(
        region, config.unit_deg, config.min_chip_px * scale))
    if not images:
        dates = f" between {start} and {end}" if start else ""
        raise InputError(f"--imagery {spec}", f"the collection has no image in the region{dates}")
    if "earthengine" in live.remote_stats:  # another collection of the same build
        live.remote_stats["earthengine"].add(stats)
    else:
        live.remote_stats["earthengine"] = stats
    attribution = config.imagery_attribution or (
        f"Google Earth Engine: {collection} (terms: its Earth Engine Data Catalog page)")
    license_ = EE_LICENSE if config.imagery_license == "unknown" else config.imagery_license
    rasters = []
    for image in images:
        try:
            info = index_raster(image.path)
        except InputError as exc:
            raise InputError(f"--imagery {image.uri}", exc.problem) from None
        rasters.append(replace(info, uri=image.uri, acquired=image.acquired))
        live.raster_licenses[str(image.path)] = (license_, attribution,
                                                 image.uri.rsplit("/", 1)[-1])
    return rasters


def uses_stac(config: BuildConfig) -> bool:
    """Whether `--imagery` names a STAC API; checks it is the only imagery and the STAC
    options come with it."""
    stac = [spec for spec in config.imagery if is_stac(spec)]
    if not stac:
        if config.collection:
            raise InputError("--collection", "needs --imagery stac:URL")
        return False
    if len(config.imagery) > 1:
        raise InputError("--imagery", "stac:URL cannot be combined with other --imagery")
    if not config.collection:
        raise InputError("--collection", "--imagery stac:URL needs the collection to search")
    return True


def stac_query(config: BuildConfig) -> StacQuery:
    """The STAC search of a config."""
    return StacQuery(stac_url(config.imagery[0]), str(config.collection), config.datetime,
                     config.max_cloud, config.asset, config.stac_sign)


def read_stac(config: BuildConfig, region: Region, gdal_cache_bytes: int,
              live: LiveInputs) -> tuple[list[RasterInfo], dict]:
    """The chosen items' assets as rasters read by URL (see sources.stac for the choice) and,
    by public URL, why others could not be read; an error when none can be read."""
    query = stac_query(config)
    stats = live.remote_stats.setdefault("stac", RemoteStats())
    cache = DiskCache(cache_root(config.cache_dir) / "stac")
    result = search_stac(query, region.geometry, cache, stats)
    secrets = secrets_of(query, result.assets)
    license_id = (config.imagery_license if config.imagery_license != "unknown"
                  else result.license)
    attribution = config.imagery_attribution or result.attribution
    rasters, failed = [], {}
    env = remote_gdal_env([asset.open_href for asset in result.assets])
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes, **env):
        for asset in result.assets:
            try:
                info = index_raster(asset.open_href)
            except InputError as exc:
                failed[asset.row()["href"]] = redact_text(exc.problem, secrets)
                continue
            rasters.append(replace(info, uri=asset.row()["href"],
                                   acquired=asset.datetime or info.acquired))
            live.raster_licenses[info.path] = (license_id, attribution, asset.item_id)
    if not rasters:
        raise InputError(query.option, f"no chosen asset is readable "
                         f"({next(iter(failed.values()))})")
    row = {**result.search, "license": license_id, "attribution": attribution or ""}
    live.sources.append(row)
    live.digests[f"{query.option} {query.collection}"] = "sha256:" + hashlib.sha256(
        json.dumps(row, sort_keys=True).encode()).hexdigest()
    return rasters, failed
