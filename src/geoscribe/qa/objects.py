"""Objects in a label mask window: 8-connected components (semantic) or ids (instance).

Every count the QA generators write comes from here, and the record keeps this evidence
(per-object pixel counts, boxes, and whether the chip edge cuts the object).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class MaskObject:
    """One object inside a chip's mask window."""

    class_name: str
    value: int  # the mask value (semantic) or the instance id
    pixels: int  # pixels of the object inside the chip
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 in mask-window pixels (x1, y1 exclusive)
    cut: bool  # touches the chip edge (the object may continue outside)

    def to_dict(self, scale: float = 1.0) -> dict:
        data = asdict(self)
        data["bbox_px"] = [round(v * scale, 2) for v in self.bbox]
        del data["bbox"]
        return data


def _touches_edge(sl: tuple[slice, slice], shape: tuple[int, int]) -> bool:
    rows, cols = sl
    return rows.start == 0 or cols.start == 0 or rows.stop == shape[0] or cols.stop == shape[1]


def _box(sl: tuple[slice, slice]) -> tuple[int, int, int, int]:
    rows, cols = sl
    return int(cols.start), int(rows.start), int(cols.stop), int(rows.stop)


def semantic_objects(
    mask: np.ndarray, class_map: dict[int, str], min_pixels: int, valid: np.ndarray | None = None
) -> list[MaskObject]:
    """8-connected components of each class value with at least `min_pixels` pixels."""
    from scipy import ndimage  # here, not at import: the recipe registry imports every builder

    objects = []
    for value in sorted(class_map):
        region = mask == value
        if valid is not None:
            region &= np.asarray(valid, dtype=bool)  # a 0/1 uint8 mask works too
        if not region.any():
            continue
        labels, count = ndimage.label(region, structure=EIGHT_CONNECTED)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        for index, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None or sizes[index] < min_pixels:
                continue
            objects.append(MaskObject(class_map[value], int(value), int(sizes[index]),
                                      _box(sl), _touches_edge(sl, mask.shape)))
    return objects


def instance_objects(
    mask: np.ndarray, class_map: dict[int, str], default_class: str | None, min_pixels: int,
    valid: np.ndarray | None = None,
) -> list[MaskObject]:
    """Each instance id (> 0) with at least `min_pixels` pixels; touching ids stay apart."""
    from scipy import ndimage  # here, not at import: the recipe registry imports every builder

    ids = mask.astype(np.int64, copy=False)
    if valid is not None:
        ids = np.where(valid, ids, 0)
    if not ids.any():
        return []
    uniques, inverse, counts = np.unique(ids.ravel(), return_inverse=True, return_counts=True)
    dense = inverse.reshape(ids.shape) + 1  # 1..n labels for find_objects
    slices = ndimage.find_objects(dense)
    objects = []
    for index, (value, count) in enumerate(zip(uniques, counts, strict=True)):
        if value <= 0 or count < min_pixels:  # 0 (and negative ids) are background
            continue
        name = class_map.get(int(value), default_class)
        if name is None:
            continue
        sl = slices[index]
        objects.append(MaskObject(name, int(value), int(count), _box(sl),
                                  _touches_edge(sl, mask.shape)))
    return objects


def class_counts(objects: list[MaskObject], classes: list[str]) -> dict[str, int]:
    """Objects per class name, zero for classes without objects."""
    counts = {name: 0 for name in classes}
    for obj in objects:
        counts[obj.class_name] = counts.get(obj.class_name, 0) + 1
    return counts
