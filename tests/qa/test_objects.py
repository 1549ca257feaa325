"""Objects in mask windows: 8-connected components (semantic) and instance ids.

Expected values are worked out by hand from the generated arrays or with scipy.ndimage.label
using an explicit 3x3 (8-connected) structure, never copied from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from geoscribe.qa.objects import MaskObject, class_counts, instance_objects, semantic_objects

EIGHT = np.ones((3, 3), dtype=int)  # explicit 8-connectivity for the reference counts
BUILDING = {1: "building"}


def _square(mask: np.ndarray, row: int, col: int, size: int, value: int = 1) -> None:
    mask[row:row + size, col:col + size] = value


def _by_bbox(objects: list[MaskObject]) -> dict[tuple[int, int, int, int], MaskObject]:
    return {obj.bbox: obj for obj in objects}


def test_squares_touching_only_diagonally_are_one_component():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 3, 3, 4)  # rows/cols 3..6
    _square(mask, 7, 7, 4)  # rows/cols 7..10: corner (6,6)-(7,7) touches diagonally
    objects = semantic_objects(mask, BUILDING, min_pixels=1)
    assert len(objects) == 1
    obj = objects[0]
    assert obj.pixels == 32
    assert obj.bbox == (3, 3, 11, 11)
    assert obj.cut is False
    assert obj.class_name == "building" and obj.value == 1


def test_squares_separated_by_one_background_pixel_are_two_components():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 3, 3, 4)  # cols 3..6
    _square(mask, 3, 8, 4)  # cols 8..11: column 7 is background
    objects = semantic_objects(mask, BUILDING, min_pixels=1)
    assert len(objects) == 2
    boxes = _by_bbox(objects)
    assert set(boxes) == {(3, 3, 7, 7), (8, 3, 12, 7)}
    assert all(obj.pixels == 16 and not obj.cut for obj in objects)


def test_diagonal_gap_of_one_pixel_separates():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 3, 3, 4)  # ends at (6, 6)
    _square(mask, 8, 8, 4)  # starts at (8, 8): (7, 7) is background
    assert len(semantic_objects(mask, BUILDING, min_pixels=1)) == 2


@pytest.mark.parametrize(
    ("row", "col", "size"),
    [(0, 5, 4), (5, 0, 4), (16, 5, 4), (5, 16, 4), (0, 0, 3), (17, 17, 3)],
)
def test_object_cut_by_edge_is_counted_and_flagged(row, col, size):
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, row, col, size)
    objects = semantic_objects(mask, BUILDING, min_pixels=4)
    assert len(objects) == 1
    obj = objects[0]
    assert obj.cut is True
    assert obj.pixels == size * size
    assert obj.bbox == (col, row, col + size, row + size)


def test_interior_object_is_not_cut_even_one_pixel_from_edge():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 1, 1, 18)  # rows/cols 1..18; row/col 0 and 19 are background
    (obj,) = semantic_objects(mask, BUILDING, min_pixels=1)
    assert obj.cut is False
    assert obj.bbox == (1, 1, 19, 19)


def test_small_objects_are_dropped_inside_and_when_cut():
    mask = np.zeros((30, 30), dtype=np.uint8)
    _square(mask, 10, 10, 3)  # 9 px inside: below 10, dropped
    _square(mask, 0, 20, 3)  # 9 px cut by the top edge: dropped too
    _square(mask, 20, 3, 4)  # 16 px: kept
    _square(mask, 26, 24, 4)  # 16 px cut by bottom edge: kept, cut
    objects = semantic_objects(mask, BUILDING, min_pixels=10)
    boxes = _by_bbox(objects)
    assert set(boxes) == {(3, 20, 7, 24), (24, 26, 28, 30)}
    assert boxes[(3, 20, 7, 24)].cut is False
    assert boxes[(24, 26, 28, 30)].cut is True


def test_min_pixels_threshold_is_inclusive():
    mask = np.zeros((10, 10), dtype=np.uint8)
    _square(mask, 2, 2, 3)  # 9 pixels
    assert len(semantic_objects(mask, BUILDING, min_pixels=9)) == 1
    assert semantic_objects(mask, BUILDING, min_pixels=10) == []


def test_valid_mask_removes_pixels_and_splits_objects():
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[5:10, 2:15] = 1  # one 5 x 13 bar
    assert len(semantic_objects(mask, BUILDING, min_pixels=1)) == 1
    valid = np.ones_like(mask, dtype=bool)
    valid[:, 8] = False  # a nodata column through the bar
    objects = semantic_objects(mask, BUILDING, min_pixels=1, valid=valid)
    boxes = _by_bbox(objects)
    assert set(boxes) == {(2, 5, 8, 10), (9, 5, 15, 10)}
    assert boxes[(2, 5, 8, 10)].pixels == 5 * 6
    assert boxes[(9, 5, 15, 10)].pixels == 5 * 6


def test_valid_mask_given_as_0_1_integers_works_like_bool():
    mask = np.zeros((12, 12), dtype=np.uint8)
    mask[2:6, 1:11] = 1
    valid = np.ones(mask.shape, dtype=np.uint8)
    valid[:, 5] = 0
    semantic = semantic_objects(mask, BUILDING, min_pixels=1, valid=valid)
    assert sorted(obj.bbox for obj in semantic) == [(1, 2, 5, 6), (6, 2, 11, 6)]
    (instance,) = instance_objects(mask, {}, "building", min_pixels=1, valid=valid)
    assert instance.pixels == 4 * 9


def test_valid_mask_can_remove_an_object_entirely_or_shrink_below_minimum():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 2, 2, 4)  # 16 px, fully nodata below
    _square(mask, 10, 10, 4)  # 16 px, half nodata -> 8 px
    valid = np.ones_like(mask, dtype=bool)
    valid[2:6, 2:6] = False
    valid[10:12, 10:14] = False
    assert semantic_objects(mask, BUILDING, min_pixels=10, valid=valid) == []
    (obj,) = semantic_objects(mask, BUILDING, min_pixels=8, valid=valid)
    assert obj.pixels == 8
    assert obj.bbox == (10, 12, 14, 14)


def test_multiple_classes_are_labelled_separately():
    mask = np.zeros((20, 20), dtype=np.uint8)
    _square(mask, 2, 2, 4, value=1)
    _square(mask, 2, 6, 4, value=2)  # touches class 1 along an edge: still its own object
    _square(mask, 12, 12, 4, value=2)
    _square(mask, 12, 2, 4, value=3)  # value 3 is not in the class map: ignored
    classes = {1: "building", 2: "road"}
    objects = semantic_objects(mask, classes, min_pixels=1)
    names = sorted((obj.class_name, obj.value, obj.bbox) for obj in objects)
    assert names == [
        ("building", 1, (2, 2, 6, 6)),
        ("road", 2, (6, 2, 10, 6)),
        ("road", 2, (12, 12, 16, 16)),
    ]
    assert class_counts(objects, ["building", "road", "tree"]) == {
        "building": 1, "road": 2, "tree": 0}


def test_values_sharing_a_class_name_are_counted_per_value():
    mask = np.zeros((10, 10), dtype=np.uint8)
    _square(mask, 2, 2, 3, value=1)
    _square(mask, 2, 5, 3, value=2)  # adjacent, different value, same name
    objects = semantic_objects(mask, {1: "building", 2: "building"}, min_pixels=1)
    assert len(objects) == 2
    assert class_counts(objects, ["building"]) == {"building": 2}


def test_empty_mask_has_no_objects():
    mask = np.zeros((16, 16), dtype=np.uint8)
    assert semantic_objects(mask, BUILDING, min_pixels=1) == []
    assert instance_objects(mask, {}, "building", min_pixels=1) == []


@pytest.mark.parametrize("seed", range(8))
def test_random_masks_match_scipy_counts(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(20, 60)), int(rng.integers(20, 60)))
    mask = rng.choice([0, 1, 2], size=shape, p=[0.55, 0.25, 0.2]).astype(np.uint8)
    valid = rng.random(shape) > 0.1
    min_pixels = int(rng.integers(1, 6))
    classes = {1: "building", 2: "road"}
    objects = semantic_objects(mask, classes, min_pixels=min_pixels, valid=valid)

    for value, name in classes.items():
        labels, count = ndimage.label((mask == value) & valid, structure=EIGHT)
        sizes = np.array([(labels == i).sum() for i in range(1, count + 1)], dtype=int)
        kept = np.flatnonzero(sizes >= min_pixels) + 1
        mine = [obj for obj in objects if obj.class_name == name]
        assert len(mine) == len(kept)
        assert sorted(obj.pixels for obj in mine) == sorted(sizes[kept - 1].tolist())
        expected_cut = 0
        for i in kept:
            rows, cols = np.nonzero(labels == i)
            if rows.min() == 0 or cols.min() == 0 or rows.max() == shape[0] - 1 \
                    or cols.max() == shape[1] - 1:
                expected_cut += 1
        assert sum(obj.cut for obj in mine) == expected_cut


def test_instances_touching_along_an_edge_stay_separate():
    mask = np.zeros((20, 20), dtype=np.uint16)
    _square(mask, 4, 4, 5, value=7)
    _square(mask, 4, 9, 5, value=12)  # shares the edge between columns 8 and 9
    objects = instance_objects(mask, {}, "building", min_pixels=1)
    by_id = {obj.value: obj for obj in objects}
    assert set(by_id) == {7, 12}
    assert by_id[7].bbox == (4, 4, 9, 9) and by_id[7].pixels == 25
    assert by_id[12].bbox == (9, 4, 14, 9) and by_id[12].pixels == 25
    assert all(obj.class_name == "building" and not obj.cut for obj in objects)
    # the same pixels as a semantic mask would be one component
    assert len(semantic_objects((mask > 0).astype(np.uint8), BUILDING, min_pixels=1)) == 1


def test_instance_classes_default_and_unmapped_ids():
    mask = np.zeros((20, 20), dtype=np.int32)
    _square(mask, 0, 0, 3, value=1)  # mapped, cut by the corner
    _square(mask, 5, 5, 3, value=2)  # mapped to another class
    _square(mask, 10, 10, 3, value=300)  # not mapped: default class
    _square(mask, 15, 15, 2, value=4)  # 4 pixels: below min_pixels
    class_map = {1: "building", 2: "tank"}
    objects = instance_objects(mask, class_map, "building", min_pixels=5)
    got = sorted((obj.value, obj.class_name, obj.pixels, obj.cut) for obj in objects)
    assert got == [(1, "building", 9, True), (2, "tank", 9, False),
                   (300, "building", 9, False)]
    # without a default class, unmapped ids are skipped
    objects = instance_objects(mask, class_map, None, min_pixels=5)
    assert sorted(obj.value for obj in objects) == [1, 2]


def test_instance_valid_mask_removes_pixels():
    mask = np.zeros((12, 12), dtype=np.uint16)
    _square(mask, 2, 2, 4, value=5)
    _square(mask, 7, 7, 4, value=6)
    valid = np.ones(mask.shape, dtype=bool)
    valid[2:4, 2:6] = False  # half of id 5
    valid[7:11, 7:11] = False  # all of id 6
    objects = instance_objects(mask, {}, "car", min_pixels=1, valid=valid)
    assert len(objects) == 1
    obj = objects[0]
    assert obj.value == 5 and obj.pixels == 8 and obj.bbox == (2, 4, 6, 6)


def test_instance_split_id_counts_once_with_bbox_spanning_parts():
    mask = np.zeros((12, 12), dtype=np.uint16)
    mask[1:3, 1:3] = 9
    mask[8:10, 6:11] = 9
    (obj,) = instance_objects(mask, {}, "car", min_pixels=1)
    assert obj.pixels == 4 + 10
    assert obj.bbox == (1, 1, 11, 10)


@pytest.mark.parametrize("seed", range(4))
def test_random_instance_masks_match_numpy(seed):
    rng = np.random.default_rng(100 + seed)
    mask = rng.integers(0, 40, size=(32, 48)).astype(np.uint16)
    mask[rng.random(mask.shape) < 0.4] = 0
    min_pixels = 20
    class_map = {i: "odd" for i in range(1, 40, 2)}
    objects = instance_objects(mask, class_map, None, min_pixels=min_pixels)
    expected = {}
    for value in range(1, 40, 2):
        rows, cols = np.nonzero(mask == value)
        if len(rows) >= min_pixels:
            expected[value] = (len(rows), (cols.min(), rows.min(), cols.max() + 1,
                                           rows.max() + 1))
    assert {obj.value: (obj.pixels, obj.bbox) for obj in objects} == expected
    assert all(obj.class_name == "odd" for obj in objects)


def test_to_dict_scales_bbox():
    obj = MaskObject("building", 1, 12, (2, 3, 6, 7), True)
    data = obj.to_dict(scale=0.5)
    assert data == {"class_name": "building", "value": 1, "pixels": 12, "cut": True,
                    "bbox_px": [1.0, 1.5, 3.0, 3.5]}
    assert obj.to_dict()["bbox_px"] == [2, 3, 6, 7]
    assert obj.to_dict(scale=1 / 3)["bbox_px"] == [0.67, 1.0, 2.0, 2.33]
