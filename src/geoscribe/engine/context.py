"""The BuildContext of a build (what every unit needs to know, built once from the config
and the inputs), with every input's license."""

from __future__ import annotations

from pathlib import Path

from geoscribe.builders.context import BuildContext, SourceLicense
from geoscribe.config import BuildConfig
from geoscribe.engine.inputs import Inputs, min_object_px
from geoscribe.recipes import RECIPES
from geoscribe.sources.chip_qc import ChipQC
from geoscribe.sources.registry_data import source_uri
from geoscribe.types import ChipSettings

OSM_LICENSE = ("ODbL-1.0", "© OpenStreetMap contributors")


def source_licenses(config: BuildConfig, inputs: Inputs) -> dict[str, SourceLicense]:
    """Every input by its real path, with the uri outputs name it by and its license."""
    licenses = {}
    for raster in inputs.rasters:
        license_id, attribution, name = inputs.live.raster_licenses.get(
            raster.path, (config.imagery_license, config.imagery_attribution,
                          Path(raster.path).name))
        licenses[raster.path] = SourceLicense("imagery", raster.uri, license_id, attribution,
                                              name)
    for source in inputs.imagery_plan.sources if inputs.imagery_plan else []:
        for raster in source.rasters:  # a plan's source: its own license, named by the plan
            licenses[raster.path] = SourceLicense("imagery", raster.uri, source.license,
                                                  source.attribution, source.name)
    for path in inputs.osm_paths:
        uri = inputs.live.details.get(str(path), {}).get("uri") or source_uri(path)
        licenses[str(path)] = SourceLicense("osm", uri, *OSM_LICENSE)
    for path in inputs.label_paths + [Path(m.path) for m in inputs.masks]:
        licenses[str(path)] = SourceLicense("labels", source_uri(path), config.labels_license,
                                            config.labels_attribution)
    return licenses


def chip_qc(config: BuildConfig) -> ChipQC:
    """The chip QC of a config: each check on (at its default bounds) or off."""
    return ChipQC(
        min_brightness=ChipQC.min_brightness if config.qc_brightness else None,
        max_brightness=ChipQC.max_brightness if config.qc_brightness else None,
        min_contrast=ChipQC.min_contrast if config.qc_contrast else None,
        max_cloud_fraction=ChipQC.max_cloud_fraction if config.qc_clouds else None)


def build_context(config: BuildConfig, inputs: Inputs, work: Path) -> BuildContext:
    """What every unit needs to know, built once."""
    spec = RECIPES[config.recipe]
    object_px = min_object_px(config)
    return BuildContext(
        recipe=config.recipe, work_dir=str(work), store_path=str(work / "features.sqlite"),
        rasters=inputs.rasters, licenses=source_licenses(config, inputs),
        unit_deg=config.unit_deg,
        split_block_deg=config.split_block_deg, split_fractions=config.split_fractions,
        split_guard=config.split_guard, seed=config.seed,
        chip=ChipSettings(out_size=config.chip_size, margin=config.margin,
                          min_chip_px=config.min_chip_px, max_chip_px=config.max_chip_px,
                          min_object_px=object_px),
        masks=inputs.masks, tile_px=config.tile_px or config.chip_size,
        min_object_px=object_px, qc=chip_qc(config), imagery_plan=inputs.imagery_plan,
        options={name: getattr(config, name) for name in spec.options},
        region=inputs.region.geometry,
        tag_policy_path=str(config.tag_policy) if config.tag_policy else None,
        max_others=config.max_others, image_format=config.image_format,
        jpeg_quality=config.jpeg_quality, gdal_cache_bytes=inputs.gdal_cache,
    )
