"""landcover-cls end to end on the generated semantic mask of test_counting_qa, the majority
class and its share recomputed from the mask with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import test_counting_qa
from rasterio.windows import Window
from test_counting_qa import _build

from geoscribe.builders.landcover_cls import LandcoverBuilder
from geoscribe.sources.masks import ClassMap, MaskInfo

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


def _describe(values: np.ndarray, labelled: np.ndarray, classes: dict[int, str]):
    mask = MaskInfo("m.tif", "EPSG:32617", (1, 0, 0, 0, -1, 0), 4, 4, None, (0, 0, 1, 1),
                    "semantic", ClassMap(classes))
    builder = LandcoverBuilder.__new__(LandcoverBuilder)  # describe reads no context
    return builder.describe(values, labelled, mask, None, "key")


def test_shares_of_values_with_one_name_add_up_and_ties_go_by_name():
    """issue 11 tests mirror src: values 1 and 3 are both 'tree' (6/12 + 2/12 = 2/3); pixels
    of unmapped values and unlabelled pixels are not counted."""
    values = np.array([[1, 1, 1, 2], [1, 1, 1, 2], [3, 3, 2, 2], [9, 9, 2, 2]])
    labelled = np.ones((4, 4), dtype=bool)
    labelled[3, 2:] = False
    body = _describe(values, labelled, {1: "tree", 2: "water", 3: "tree"})
    assert body["label"] == {"class": "tree", "share": round(8 / 12, 4),
                             "shares": {"tree": round(8 / 12, 4), "water": round(4 / 12, 4)}}
    assert body["evidence"]["labelled_pixels"] == 12
    tie = _describe(np.array([[1, 2], [2, 1]]), np.ones((2, 2), dtype=bool),
                    {1: "water", 2: "grass"})
    assert tie["label"]["class"] == "grass" and tie["label"]["share"] == 0.5


def test_no_known_class_is_a_skip_reason():
    """issue 11 tests mirror src: a tile whose labelled pixels are all of unmapped values."""
    assert _describe(np.full((2, 2), 7), np.ones((2, 2), dtype=bool), {1: "tree"}) == \
        "no_known_class"
