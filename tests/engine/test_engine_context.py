"""engine/context.py: the BuildContext built once from the config and the inputs (issue 11
case 'the engine reads like the flow': context building is its own step)."""

from __future__ import annotations

from geoscribe.config import make_config
from geoscribe.engine.context import build_context
from geoscribe.engine.inputs import read_inputs
from geoscribe.sources.chip_qc import ChipQC


def _config(scene, out, **overrides):
    values = dict(recipe="skyscript-like", region=scene.bbox, out=out,
                  imagery=[str(scene.raster)], osm=[str(scene.osm)], workers=1,
                  progress=False, imagery_license="CC-BY-4.0", imagery_attribution="Someone")
    values.update(overrides)
    return make_config(**values)


def test_context_names_every_input_with_its_license(scene, tmp_path):
    """issue 11 case 'engine flow': each input by its real path, with the name outputs use and
    its license (OSM: ODbL with the OSM attribution; imagery: the --imagery-license)."""
    config = _config(scene, tmp_path / "o")
    ctx = build_context(config, read_inputs(config), tmp_path / "o" / ".geoscribe")
    assert set(ctx.licenses) == {str(scene.raster), str(scene.osm)}
    imagery, osm = ctx.licenses[str(scene.raster)], ctx.licenses[str(scene.osm)]
    assert (imagery.kind, imagery.license, imagery.attribution, imagery.name) == \
        ("imagery", "CC-BY-4.0", "Someone", scene.raster.name)
    assert (osm.kind, osm.uri, osm.license) == ("osm", str(scene.osm), "ODbL-1.0")
    assert "OpenStreetMap contributors" in osm.attribution
    assert ctx.store_path == str(tmp_path / "o" / ".geoscribe" / "features.sqlite")


def test_context_carries_the_chip_and_qc_options(scene, tmp_path):
    """issue 11 case 'engine flow': chip sizes, the recipe's default min object size and each
    QC check on (at the class defaults) or off, as the config says."""
    config = _config(scene, tmp_path / "o", chip_size=96, min_chip_px=64, qc_brightness=False,
                     qc_clouds=True, qc_contrast=True)
    ctx = build_context(config, read_inputs(config), tmp_path / "w")
    assert (ctx.chip.out_size, ctx.chip.min_chip_px, ctx.tile_px) == (96, 64, 96)
    assert ctx.qc.min_brightness is None and ctx.qc.max_brightness is None
    assert ctx.qc.min_contrast == ChipQC.min_contrast
    assert ctx.qc.max_cloud_fraction == ChipQC.max_cloud_fraction
