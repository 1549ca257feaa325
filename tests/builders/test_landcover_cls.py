"""landcover-cls end to end on the generated semantic mask of test_counting_qa, the majority
class and its share recomputed from the mask with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import test_counting_qa
from rasterio.windows import Window
from test_counting_qa import _build

tile_scene = test_counting_qa.tile_scene  # the module fixture of the generated mask scene


def test_landcover_majority_and_share(tile_scene, tmp_path):
    records = _build(tile_scene, "landcover-cls", "semantic.tif", tmp_path / "o")
    assert records
    with rasterio.open(tile_scene["dir"] / "semantic.tif") as src:
        for record in records:
            w = record["chip"]["source_window"]
            data = src.read(1, window=Window(w["col_off"], w["row_off"], w["width"], w["height"]))
            known = data[np.isin(data, [1, 2])]
            if known.size == 0:
                continue
            values, counts = np.unique(known, return_counts=True)
            best = values[np.argmax(counts)]
            name = {1: "building", 2: "tree"}[int(best)]
            assert record["label"]["class"] == name
            assert record["label"]["share"] == pytest.approx(counts.max() / known.size, abs=1e-4)
            assert record["texts"]["caption"] == f"A satellite image of {name}."
