"""The inputs of a build, read and checked before OUT is touched: `--region demo` expanded,
imagery (and masks) indexed, vector files found, the region checked against the imagery."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rasterio
import shapely
from tqdm import tqdm

from geoscribe.config import BuildConfig
from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.region import Region, parse_region
from geoscribe.sources.imagery import expand_imagery, index_raster
from geoscribe.sources.imagery_plan import (
    ImageryPlan,
    imagery_specs,
    load_plan_file,
    plan_source,
    resolve_plan,
)
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
    imagery_plan: ImageryPlan | None = None  # --imagery-plan: `rasters` are all its sources'


def read_inputs(config: BuildConfig) -> Inputs:
    """Index the imagery (and masks), check the vector files exist and the region overlaps."""
    if config.recipe not in RECIPES:
        raise InputError(f"recipe {config.recipe!r}", f"unknown; choose from {sorted(RECIPES)}")
    gdal_cache = config.gdal_cache_mb * 1024 * 1024
    plan = None
    if config.imagery_plan is not None:
        plan, failed_rasters = read_imagery_plan(config, gdal_cache)
        rasters = [raster for source in plan.sources for raster in source.rasters]
    else:
        rasters, failed_rasters = index_imagery(config.imagery, gdal_cache)
    osm_paths, label_paths, masks = vector_inputs(config)
    region = build_region(config, rasters)
    return Inputs(rasters, failed_rasters, osm_paths, label_paths, masks, region, gdal_cache,
                  plan)


def min_object_px(config: BuildConfig) -> float:
    """--min-object-px, or the recipe's default when it is not given."""
    spec = RECIPES[config.recipe]
    return spec.min_object_px if config.min_object_px is None else config.min_object_px


def read_imagery_plan(config: BuildConfig, gdal_cache_bytes: int) -> tuple[ImageryPlan, dict]:
    """`--imagery-plan`: each source's imagery read as --imagery is (index_imagery), its GSD
    measured when not given; with the unreadable rasters by path."""
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


def build_region(config: BuildConfig, rasters: list[RasterInfo]) -> Region:
    """The region of `--region` (for `demo`: the demo imagery's), checked to overlap the
    imagery."""
    if config.region.strip().lower() == "demo":
        from geoscribe.sources import demo

        region = Region(demo.demo_region([r.bounds_wgs84 for r in rasters]), "demo")
    else:
        region = parse_region(config.region)
    footprint = shapely.union_all([shapely.box(*r.bounds_wgs84) for r in rasters])
    if not region.geometry.intersects(footprint):
        fb = ", ".join(f"{v:.5f}" for v in footprint.bounds)
        raise InputError(f"--region {config.region}",
                         f"outside the imagery (imagery covers lon/lat {fb})")
    return region


def input_files(config: BuildConfig, inputs: Inputs) -> dict[str, list[str]]:
    """Every file the output depends on, by the option that named it."""
    files = {
        "--imagery": [r.path for r in inputs.rasters] + list(inputs.failed_rasters),
        "--imagery-plan": [str(config.imagery_plan)] if config.imagery_plan else [],
        "--osm": [str(p) for p in inputs.osm_paths],
        "--labels": [str(p) for p in inputs.label_paths] + [m.path for m in inputs.masks],
        "--class-map": [str(p) for p in config.class_map],
        "--tag-policy": [str(config.tag_policy)] if config.tag_policy else [],
    }
    return {option: sorted(set(paths)) for option, paths in files.items() if paths}

