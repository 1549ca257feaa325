"""Live imagery sources, resolved before the pipeline (issue 18) into what it already reads:
RasterInfo rasters of cached GeoTIFFs, named in outputs by their public id (never the cache
path), with the source's license and the counters stats.json reports under `remote`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import shapely

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.region import Region, cell_bounds, cell_index, ingest_area
from geoscribe.sources.remote import RemoteStats, cache_root
from geoscribe.types import RasterInfo

EARTHENGINE = "earthengine:"


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
    from geoscribe.sources.remote import DiskCache

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
