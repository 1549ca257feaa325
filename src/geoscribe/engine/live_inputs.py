"""Live vector sources resolved before the pipeline (issue 18): `--osm overpass[:URL]` fetched
(through the on-disk cache) for the area the build must know and handed on as an OSM file,
with its provenance (endpoint, date, queries) and its request counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry.base import BaseGeometry
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.recipes import RECIPES
from geoscribe.region import ingest_area
from geoscribe.sources.overpass import (
    PREFIX,
    OverpassClient,
    fetch_osm,
    overpass_url,
    parse_date,
)
from geoscribe.sources.remote import DiskCache, RemoteStats, cache_root
from geoscribe.types import RasterInfo


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
    import shapely

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
