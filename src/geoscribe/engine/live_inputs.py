"""Live sources resolved before the pipeline (issue 18) into what it already reads:
`--osm overpass[:URL]` fetched (through the on-disk cache) for the area the build must know and
handed on as an OSM file, with its provenance (endpoint, date, queries); live `--imagery`
(earthengine:...) as RasterInfo rasters of cached GeoTIFFs, named in outputs by their public id
(never the cache path), with the source's license; and each source's request counters."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.region import Region, cell_bounds, cell_index, ingest_area
from geoscribe.sources.overpass import (
    PREFIX,
    OverpassClient,
    fetch_osm,
    overpass_url,
    parse_date,
)
from geoscribe.sources.remote import DiskCache, RemoteStats, cache_root
from geoscribe.types import RasterInfo

EARTHENGINE = "earthengine:"


@dataclass
class LiveOsm:
    """The OSM files the live sources became, their sources rows' extra fields (`uri`,
    endpoint, date, queries) by path, and the counters by source name."""

    paths: list[Path] = field(default_factory=list)
    details: dict[str, dict] = field(default_factory=dict)
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)


def ingest_area_for(config: BuildConfig, region: BaseGeometry, rasters: list[RasterInfo]
                    ) -> BaseGeometry:
    """The region grown by the largest chip (feature recipes) or tile a build can cut, so
    that everything seen in a chip or tile crossing the region's edge is known (issue 17
    case 2); foci stay inside the region (BuildContext.region)."""
    side = (config.max_chip_px if RECIPES[config.recipe].chips == "features"
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


def fetch_live_osm(config: BuildConfig, region: BaseGeometry, rasters: list[RasterInfo]
                   ) -> LiveOsm:
    """Fetch every `--osm overpass:URL` of the config (nothing to do without one)."""
    live = LiveOsm()
    urls = [url for url in (overpass_url(spec) for spec in config.osm) if url]
    if not urls or not RECIPES[config.recipe].needs_vectors:
        return live
    area = ingest_area_for(config, region, rasters)
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


@dataclass
class LiveImagery:
    """Rasters of live sources, their licenses (path -> license, attribution, name) and the
    counters of each source."""

    rasters: list[RasterInfo] = field(default_factory=list)
    licenses: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)


def is_live(spec: str) -> bool:
    """Whether an --imagery value names a live source rather than files."""
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


def earthengine_imagery(config: BuildConfig, spec: str, region: Region) -> LiveImagery:
    """`--imagery earthengine:COLLECTION`: the cells' cached GeoTIFFs as rasters."""
    from geoscribe.sources.earthengine import (
        EE_LICENSE,
        EESettings,
        fetch_collection,
        parse_datetime,
    )
    from geoscribe.sources.imagery import index_raster

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
    live = LiveImagery(remote_stats={"earthengine": stats})
    attribution = config.imagery_attribution or (
        f"Google Earth Engine: {collection} (terms: its Earth Engine Data Catalog page)")
    license_ = EE_LICENSE if config.imagery_license == "unknown" else config.imagery_license
    for image in images:
        try:
            info = index_raster(image.path)
        except InputError as exc:
            raise InputError(f"--imagery {image.uri}", exc.problem) from None
        live.rasters.append(replace(info, uri=image.uri, acquired=image.acquired))
        live.licenses[str(image.path)] = (license_, attribution, image.uri.rsplit("/", 1)[-1])
    return live


def live_imagery(config: BuildConfig, specs: list[str], region: Region) -> LiveImagery:
    """Every live --imagery source resolved (none: empty)."""
    live = LiveImagery()
    for spec in specs:
        part = earthengine_imagery(config, spec, region)
        live.rasters += part.rasters
        live.licenses.update(part.licenses)
        live.remote_stats.update(part.remote_stats)
    return live
