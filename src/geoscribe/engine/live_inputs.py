"""Live sources resolved before the pipeline (issue 18): each becomes what the pipeline already
reads (here: STAC items -> RasterInfo rasters opened by URL), with its licenses, the rows
stats.json `sources` lists to rebuild it, its counters (`remote_stats`) and the digests a
resumed build compares."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import rasterio

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.redact import redact_text
from geoscribe.region import Region
from geoscribe.sources.imagery import index_raster, remote_gdal_env
from geoscribe.sources.remote import DiskCache, RemoteStats, cache_root
from geoscribe.sources.stac import StacQuery, is_stac, search_stac, secrets_of, stac_url
from geoscribe.types import RasterInfo


@dataclass
class LiveInputs:
    """What the live sources of a build add to its inputs."""

    raster_licenses: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)
    # raster path -> (license, attribution, name outputs give it)
    sources: list[dict] = field(default_factory=list)  # extra stats.json `sources` rows
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)  # by source name
    digests: dict[str, str] = field(default_factory=dict)  # for the run's fingerprint


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
