"""The inputs of a build, read and checked before OUT is touched: `--region demo` expanded,
imagery (and masks) indexed, vector files found, the region checked against the imagery."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import rasterio
import shapely
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.engine.live_inputs import (
    LiveInputs,
    earthengine_imagery,
    fetch_live_osm,
    is_earthengine,
    is_live_imagery,
    read_stac,
    uses_stac,
)
from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.region import Region, is_place_name, parse_region
from geoscribe.sources.imagery import expand_imagery, index_raster, is_remote
from geoscribe.sources.imagery_plan import (
    ImageryPlan,
    imagery_specs,
    load_plan_file,
    plan_source,
    resolve_plan,
)
from geoscribe.sources.overpass import overpass_url
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
    live: LiveInputs = field(default_factory=LiveInputs)  # what live sources add (issue 18)
    imagery_plan: ImageryPlan | None = None  # --imagery-plan: `rasters` are all its sources'


def read_inputs(config: BuildConfig) -> Inputs:
    """Index the imagery (and masks), check the vector files exist and the region overlaps."""
    if config.recipe not in RECIPES:
        raise InputError(f"recipe {config.recipe!r}", f"unknown; choose from {sorted(RECIPES)}")
    gdal_cache = config.gdal_cache_mb * 1024 * 1024
    live = LiveInputs()
    given = given_region(config, live)
    plan = None
    if config.imagery_plan is not None:
        plan, failed_rasters = read_imagery_plan(config, gdal_cache)
        rasters = [raster for source in plan.sources for raster in source.rasters]
    else:
        rasters, failed_rasters = read_imagery(config, gdal_cache, live, given)
    osm_paths, label_paths, masks = vector_inputs(config)
    region = build_region(config, rasters, given)
    live_osm = fetch_live_osm(config, region.geometry, rasters,
                              plan.max_chip_px if plan is not None else None)
    live.details.update(live_osm.details)
    live.remote_stats.update(live_osm.remote_stats)
    return Inputs(rasters, failed_rasters, osm_paths + live_osm.paths, label_paths, masks, region,
                  gdal_cache, live, plan)


def given_region(config: BuildConfig, live: LiveInputs) -> Region | None:
    """The region `--region` names, known before any imagery is read (live imagery is asked
    for it): a bbox or GeoJSON, a geocoded place name (counted in `live`), or None for
    `demo` (the demo imagery's region, found once the imagery is read)."""
    text = config.region.strip()
    if text.lower() == "demo":
        return None
    if is_place_name(text):
        return place_region(config, live.remote_stats)
    return parse_region(config.region)


def read_imagery(config: BuildConfig, gdal_cache: int, live: LiveInputs,
                 region: Region | None) -> tuple[list[RasterInfo], dict]:
    """The rasters of `--imagery`: a STAC search, Earth Engine cells and/or files (live
    sources add their licenses and counters to `live`)."""
    if uses_stac(config):
        return read_stac(config, region or parse_region(config.region), gdal_cache, live)
    files = [spec for spec in config.imagery if not is_live_imagery(spec)]
    if len(files) == len(config.imagery):
        return index_imagery(files, gdal_cache)
    region = region or parse_region(config.region)
    fetched = [raster for spec in config.imagery if is_earthengine(spec)
               for raster in earthengine_imagery(config, spec, region, live)]
    rasters, failed = index_imagery(files, gdal_cache) if files else ([], {})
    return rasters + fetched, failed


def min_object_px(config: BuildConfig) -> float:
    """--min-object-px, or the recipe's default when it is not given."""
    spec = RECIPES[config.recipe]
    return spec.min_object_px if config.min_object_px is None else config.min_object_px


def read_imagery_plan(config: BuildConfig, gdal_cache_bytes: int) -> tuple[ImageryPlan, dict]:
    """`--imagery-plan`: each source's imagery read as --imagery is (index_imagery; files only),
    its GSD measured when not given; with the unreadable rasters by path."""
    option = f"--imagery-plan {config.imagery_plan}"
    if config.imagery:
        raise InputError("--imagery-plan", "give either --imagery or --imagery-plan, not both")
    if RECIPES[config.recipe].chips != "features":
        raise InputError(option, f"{config.recipe} makes tiles, not object chips: give its "
                                 "imagery with --imagery")
    plan_file = load_plan_file(config.imagery_plan)
    sources, failed, owner = [], {}, {}
    for entry in plan_file.sources:
        try:
            rasters, bad = index_imagery(imagery_specs(entry, config.imagery_plan),
                                         gdal_cache_bytes)
        except InputError as exc:
            raise InputError(option, f"source {entry.name}: {exc}") from None
        for raster in rasters:
            if raster.path in owner:
                raise InputError(option, f"{raster.uri} is in sources {owner[raster.path]} "
                                         f"and {entry.name}")
            owner[raster.path] = entry.name
        sources.append(plan_source(entry, rasters))
        failed.update(bad)
    return resolve_plan(plan_file, sources, min_object_px(config), config.max_chip_px), failed


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
    """The OSM and label files a recipe reads (checked to exist), and its indexed masks; an
    `--osm overpass:URL` is checked here and fetched later (live_inputs)."""
    osm_paths = [Path(p) for p in config.osm if not overpass_url(p)]
    label_paths = [Path(p) for p in config.labels]
    if RECIPES[config.recipe].needs_masks:
        return [], [], index_masks(config, label_paths)
    if not config.osm and not label_paths:
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


def build_region(config: BuildConfig, rasters: list[RasterInfo], given: Region | None
                 ) -> Region:
    """The region of `--region` (`given`; for `demo`: the demo imagery's), checked to overlap
    the imagery."""
    if given is None:
        from geoscribe.sources import demo

        region = Region(demo.demo_region([r.bounds_wgs84 for r in rasters]), "demo")
    else:
        region = given
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
        "--imagery": [r.path for r in inputs.rasters if not is_remote(r.path)]
        + [path for path in inputs.failed_rasters if not is_remote(path)],
        "--imagery-plan": [str(config.imagery_plan)] if config.imagery_plan else [],
        "--osm": [str(p) for p in inputs.osm_paths],
        "--labels": [str(p) for p in inputs.label_paths] + [m.path for m in inputs.masks],
        "--class-map": [str(p) for p in config.class_map],
        "--tag-policy": [str(config.tag_policy)] if config.tag_policy else [],
    }
    return {option: sorted(set(paths)) for option, paths in files.items() if paths}


def input_names(inputs: Inputs) -> dict[str, str]:
    """How the run file names the cached files of live sources: their public id and cache
    key (`earthengine:C/ID#key`, `overpass:URL#key`), never the cache path."""
    names = {r.path: f"{r.uri}#{Path(r.path).name}" for r in inputs.rasters
             if r.path in inputs.live.raster_licenses and not is_remote(r.path)}
    names.update({path: f"{row['uri']}#{Path(path).name}"
                  for path, row in inputs.live.details.items() if row.get("uri")})
    return names
