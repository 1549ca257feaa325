"""The inputs of a build, read and checked before OUT is touched: `--region demo` expanded,
imagery (and masks) indexed, vector files found, the region checked against the imagery."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import rasterio
import shapely
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.region import Region, is_place_name, parse_region
from geoscribe.sources.imagery import expand_imagery, index_raster
from geoscribe.sources.remote import RemoteStats, cache_root
from geoscribe.types import RasterInfo


def resolve_demo(values: dict) -> dict:
    """Fill the inputs and settings of `--region demo` (fetching the data once)."""
    if str(values.get("region", "")).strip().lower() != "demo":
        return values
    from geoscribe.sources import demo

    filled = dict(values)
    recipe = str(values.get("recipe", ""))
    spec = RECIPES.get(recipe)
    for key, value in demo.demo_inputs(recipe, spec.demo if spec else None).items():
        if key in ("imagery", "labels", "class_map", "mask_kind") and filled.get(key):
            raise InputError(f"--{key.replace('_', '-')}",
                             "--region demo brings its own inputs; drop this option")
        filled[key] = value
    for key, value in demo.demo_options(spec.demo).items():
        filled.setdefault(key, value)
    return filled


@dataclass
class Inputs:
    """The inputs of a build, read and checked before OUT is touched."""

    rasters: list[RasterInfo]
    failed_rasters: dict
    osm_paths: list[Path]
    label_paths: list[Path]
    masks: list
    region: Region
    gdal_cache: int
    remote_stats: dict[str, RemoteStats] = field(default_factory=dict)  # live sources' counters


def read_inputs(config: BuildConfig) -> Inputs:
    """Index the imagery (and masks), check the vector files exist and the region overlaps."""
    if config.recipe not in RECIPES:
        raise InputError(f"recipe {config.recipe!r}", f"unknown; choose from {sorted(RECIPES)}")
    gdal_cache = config.gdal_cache_mb * 1024 * 1024
    rasters, failed_rasters = index_imagery(config.imagery, gdal_cache)
    osm_paths, label_paths, masks = vector_inputs(config)
    remote_stats: dict[str, RemoteStats] = {}
    region = build_region(config, rasters, remote_stats)
    return Inputs(rasters, failed_rasters, osm_paths, label_paths, masks, region, gdal_cache,
                  remote_stats)


def index_imagery(specs: list[str], gdal_cache_bytes: int) -> tuple[list[RasterInfo], dict]:
    """The readable rasters of `--imagery` and, by path, why the others could not be read;
    an error when none can be read."""
    if not specs:
        raise InputError("--imagery", "no imagery given (a GeoTIFF/COG file, directory or glob)")
    paths = expand_imagery(specs)
    rasters, failed = [], {}
    bar = tqdm(paths, desc="indexing imagery", unit=" file", disable=len(paths) < 5)
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes):
        for path in bar:
            try:
                rasters.append(index_raster(path))
            except InputError as exc:
                failed[str(path)] = str(exc)
    if not rasters:
        raise InputError(f"--imagery {specs[0]}", next(iter(failed.values())).split(": ", 1)[-1])
    return rasters, failed


def vector_inputs(config: BuildConfig) -> tuple[list[Path], list[Path], list]:
    """The OSM and label files a recipe reads (checked to exist), and its indexed masks."""
    osm_paths = [Path(p) for p in config.osm]
    label_paths = [Path(p) for p in config.labels]
    if RECIPES[config.recipe].needs_masks:
        return [], [], index_masks(config, label_paths)
    if not osm_paths and not label_paths:
        raise InputError("--osm/--labels", "give at least one OSM file or vector label file")
    for option, paths in (("--osm", osm_paths), ("--labels", label_paths)):
        for path in paths:
            if not path.exists():
                raise InputError(f"{option} {path}", "file not found")
    return osm_paths, label_paths, []


def index_masks(config: BuildConfig, label_paths: list[Path]) -> list:
    """Masks of tile recipes: --labels rasters with their --class-map and --mask-kind."""
    from geoscribe.sources.masks import index_mask, load_class_map

    if not label_paths:
        raise InputError("--labels", f"{config.recipe} needs a label raster (mask)")
    if not config.class_map:
        raise InputError("--class-map", f"{config.recipe} needs a class map (JSON or YAML)")
    maps, kinds = list(config.class_map), list(config.mask_kind or ["semantic"])
    for name, values in (("--class-map", maps), ("--mask-kind", kinds)):
        if len(values) not in (1, len(label_paths)):
            raise InputError(name, f"give one for all --labels or one per --labels "
                             f"({len(label_paths)}), not {len(values)}")
    maps = maps * len(label_paths) if len(maps) == 1 else maps
    kinds = kinds * len(label_paths) if len(kinds) == 1 else kinds
    loaded = {path: load_class_map(Path(path)) for path in set(maps)}
    return [index_mask(path, loaded[cmap], kind)
            for path, cmap, kind in zip(label_paths, maps, kinds, strict=True)]


def build_region(config: BuildConfig, rasters: list[RasterInfo],
                 remote_stats: dict[str, RemoteStats] | None = None) -> Region:
    """The region of `--region` (for `demo`: the demo imagery's; for a place name: its
    geocoded polygon, counted in `remote_stats`), checked to overlap the imagery."""
    if config.region.strip().lower() == "demo":
        from geoscribe.sources import demo

        region = Region(demo.demo_region([r.bounds_wgs84 for r in rasters]), "demo")
    elif is_place_name(config.region):
        region = place_region(config, {} if remote_stats is None else remote_stats)
    else:
        region = parse_region(config.region)
    footprint = shapely.union_all([shapely.box(*r.bounds_wgs84) for r in rasters])
    if not region.geometry.intersects(footprint):
        fb = ", ".join(f"{v:.5f}" for v in footprint.bounds)
        raise InputError(f"--region {config.region}",
                         f"outside the imagery (imagery covers lon/lat {fb})")
    return region


def place_region(config: BuildConfig, remote_stats: dict[str, RemoteStats]) -> Region:
    """The polygon of the place `--region` names, from `--geocoder-url` (cached under
    `--cache-dir`/nominatim)."""
    from geoscribe.sources.geocode import SOURCE, geocode_place

    if not config.geocoder_url:
        raise InputError(f"--region {config.region!r}", "a place name needs --geocoder-url")
    stats = remote_stats.setdefault(SOURCE, RemoteStats())
    place = geocode_place(config.region.strip(), config.geocoder_url,
                          cache_root(config.cache_dir) / SOURCE, stats)
    return Region(place.geometry, f"place {config.region.strip()}", place.provenance)


def input_files(config: BuildConfig, inputs: Inputs) -> dict[str, list[str]]:
    """Every file the output depends on, by the option that named it."""
    files = {
        "--imagery": [r.path for r in inputs.rasters] + list(inputs.failed_rasters),
        "--osm": [str(p) for p in inputs.osm_paths],
        "--labels": [str(p) for p in inputs.label_paths] + [m.path for m in inputs.masks],
        "--class-map": [str(p) for p in config.class_map],
        "--tag-policy": [str(config.tag_policy)] if config.tag_policy else [],
    }
    return {option: sorted(set(paths)) for option, paths in files.items() if paths}

