"""Read vector labels (GeoJSON, GeoPackage, Shapefile) whose columns are OSM-style tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer

from geoscribe.errors import InputError
from geoscribe.geometry import coords_transform
from geoscribe.sources.feature import SourceStats
from geoscribe.sources.label_mappings import column_tags, is_spacenet_roads, spacenet_road_tags
from geoscribe.types import Feature

LABEL_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


def check_labels_path(path: Path) -> None:
    """Fail with a one-line error if the path is not a vector label file."""
    if not path.exists():
        raise InputError(f"--labels {path}", "file not found")
    if not path.name.lower().endswith(LABEL_SUFFIXES):
        raise InputError(f"--labels {path}",
                         f"unknown vector file type (expected {LABEL_SUFFIXES})")


def _to_wgs84(geoms: np.ndarray, crs_text: str | None) -> np.ndarray:
    if not crs_text:
        return geoms
    crs = CRS.from_user_input(crs_text)
    if crs.equals(CRS.from_epsg(4326)) or crs.equals(CRS.from_user_input("OGC:CRS84")):
        return geoms
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely.transform(geoms, coords_transform(transformer))


def read_labels(
    path: Path,
    bounds: tuple[float, float, float, float],
    stats: SourceStats,
) -> Iterator[Feature]:
    """Yield labelled features intersecting `bounds` (lon/lat), reprojected to WGS84."""
    check_labels_path(path)
    import pyogrio.errors
    import pyogrio.raw  # imported here: it pulls in pandas, which OSM-only runs don't need

    try:
        meta, _, wkb, fields = pyogrio.raw.read(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(f"--labels {path}", f"unreadable vector file ({exc})") from None
    columns = list(meta["fields"])
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    try:
        geoms = _to_wgs84(geoms, meta.get("crs"))
    except Exception as exc:  # pyproj raises several types for bad CRS definitions
        raise InputError(f"--labels {path}", f"unusable CRS {meta.get('crs')!r} ({exc})") from None
    spacenet_roads = is_spacenet_roads(set(columns))
    area_box = shapely.box(*bounds)
    name = str(path)
    for row, geom in enumerate(geoms):
        stats.read += 1
        if geom is None or geom.is_empty:
            stats.skip(f"labels_empty_geometry:{name}")
            continue
        if not geom.intersects(area_box):
            continue
        props = {col: fields[i][row] for i, col in enumerate(columns)}
        tags = spacenet_road_tags(props) if spacenet_roads else column_tags(props)
        osm_id = props.get("osm_id")
        yield Feature(
            "labels",
            geom,
            tags,
            name,
            osm_type=None,
            osm_id=int(osm_id) if isinstance(osm_id, (int, np.integer)) and osm_id > 0 else None,
            label_ref=f"{path.stem}:{row}",
        )
