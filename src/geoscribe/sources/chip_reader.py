"""Read a planned chip's pixels: a windowed read, or a warped mosaic across files."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import rasterio
import rasterio.errors
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geoscribe.geometry import chip_bounds_wgs84
from geoscribe.sources.imagery import to_rgb8_planes
from geoscribe.types import ChipPlan, RasterInfo


class ChipReadError(Exception):
    """A raster failed while reading a chip (e.g. a truncated file); named by its uri, as
    the skip reason `read_error:<uri>` is written into stats."""

    def __init__(self, uri: str, detail: str) -> None:
        super().__init__(f"{uri}: {detail}")
        self.uri = uri


class ChipReader:
    """Keeps rasters open inside one worker process (never across a fork)."""

    def __init__(self, rasters: list[RasterInfo], max_open: int = 16) -> None:
        self.rasters = rasters
        self.max_open = max_open
        self._open: OrderedDict[str, rasterio.io.DatasetReader] = OrderedDict()

    def _dataset(self, path: str):
        if path in self._open:
            self._open.move_to_end(path)
            return self._open[path]
        src = rasterio.open(path)
        self._open[path] = src
        if len(self._open) > self.max_open:
            _, old = self._open.popitem(last=False)
            old.close()
        return src

    def close(self) -> None:
        for src in self._open.values():
            src.close()
        self._open.clear()

    def read(self, plan: ChipPlan) -> tuple[np.ndarray, np.ndarray]:
        """Return (rgb uint8 (h, w, 3), valid mask (h, w) bool) for the plan."""
        planes, valid = self.read_planes(plan)
        if valid is None:
            valid = np.ones(planes.shape[1:], dtype=bool)
        return np.ascontiguousarray(np.moveaxis(planes, 0, -1)), valid

    def read_checked(self, plan: ChipPlan, qc, bounds_wgs84: tuple[float, ...] | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None] | str:
        """Planes and valid mask of a chip, or the reason it is dropped (read error, QC).
        `bounds_wgs84`: the chip's `chip_bounds_wgs84` when the caller has it already."""
        try:
            planes, valid = self.read_planes(plan, bounds_wgs84)
        except ChipReadError as exc:
            return f"read_error:{exc.uri}"
        return qc.reason_planes(planes, valid) or (planes, valid)

    def read_planes(self, plan: ChipPlan, bounds_wgs84: tuple[float, ...] | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return (rgb uint8 planes (3, h, w), valid mask (h, w) or None if all valid).
        `bounds_wgs84`: the chip's `chip_bounds_wgs84` if known (a mosaic needs it)."""
        if not plan.mosaic:
            return self._read_window(plan)
        if bounds_wgs84 is None:
            bounds_wgs84 = chip_bounds_wgs84(plan.transform, plan.out_size, plan.crs)
        return self._read_mosaic(plan, bounds_wgs84)

    def _read_window(self, plan: ChipPlan) -> tuple[np.ndarray, np.ndarray]:
        info = plan.raster
        if plan.side > plan.out_size:
            resampling = Resampling.average
        elif plan.side < plan.out_size:
            resampling = Resampling.bilinear
        else:
            resampling = Resampling.nearest
        try:
            src = self._dataset(info.path)
            data = src.read(
                info.bands,
                window=Window(plan.col_off, plan.row_off, plan.side, plan.side),
                out_shape=(len(info.bands), plan.out_size, plan.out_size),
                resampling=resampling,
                masked=not info.all_valid,
            )
        except rasterio.errors.RasterioError as exc:
            raise ChipReadError(info.uri, str(exc).splitlines()[0]) from None
        if info.all_valid:
            return to_rgb8_planes(data, info), None
        valid = ~np.ma.getmaskarray(data).any(axis=0)
        return to_rgb8_planes(np.ma.getdata(data), info), valid

    def _read_mosaic(self, plan: ChipPlan, bounds_wgs84: tuple[float, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
        size = plan.out_size
        planes = np.zeros((3, size, size), dtype=np.uint8)
        valid = np.zeros((size, size), dtype=bool)
        t = plan.transform
        west, south, east, north = bounds_wgs84
        ordered = [plan.raster] + [r for r in self.rasters if r.path != plan.raster.path]
        for info in ordered:
            b = info.bounds_wgs84
            if b[0] > east or b[2] < west or b[1] > north or b[3] < south:
                continue
            try:
                src = self._dataset(info.path)
                with WarpedVRT(
                    src, crs=plan.crs, transform=t, width=size, height=size,
                    resampling=Resampling.bilinear, add_alpha=src.nodata is None,
                ) as vrt:
                    data = vrt.read(info.bands)
                    mask = vrt.read_masks(1) > 0
            except rasterio.errors.RasterioError as exc:
                raise ChipReadError(info.uri, str(exc).splitlines()[0]) from None
            fill = mask & ~valid
            if fill.any():
                planes[:, fill] = to_rgb8_planes(data, info)[:, fill]
                valid |= fill
            if valid.all():
                break
        return planes, valid
