"""Units of work: cells of a deterministic lon/lat grid that hold focus features."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from geoscribe.files import atomic_write_text
from geoscribe.region import cell_bounds, cell_index, cell_name
from geoscribe.shards import UnitPartWriter
from geoscribe.sources.feature_store import FeatureStore

DONE_MARKER = "done.json"


@dataclass(frozen=True)
class Unit:
    """One grid cell; `limit` caps how many of its focus features are built (for --limit)."""

    ix: int
    iy: int
    size_deg: float
    limit: int | None = None
    items: tuple = ()  # tile recipes: the unit's tiles as (raster index, col_off, row_off)
    work: int = 0  # estimated work: the chips it plans (focus features or tiles), see largest_first
    part: int = 0  # a dense cell is split into `parts` units, each a contiguous share of its foci
    parts: int = 1

    @property
    def name(self) -> str:
        cell = cell_name(self.ix, self.iy)
        return cell if self.parts == 1 else f"{cell}p{self.part + 1}of{self.parts}"

    def share(self, items: list) -> list:
        """This unit's contiguous share of its cell's `items` (all of them when not split):
        the shares of parts 0..parts-1, concatenated, are `items` in order."""
        n = len(items)
        return items[self.part * n // self.parts:(self.part + 1) * n // self.parts]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return cell_bounds(self.ix, self.iy, self.size_deg)


def plan_units(
    store: FeatureStore, region: BaseGeometry, size_deg: float, limit: int | None,
    max_chips: int | None = None,
) -> list[Unit]:
    """Units (grid cells, by the bbox centres of their features) holding at least one feature
    that meets the region — the foci the builder takes — in stable order; `limit` caps the
    foci over all units. A cell of more than `max_chips` foci is split into as many units
    (`Unit.part`) as keep each at most `max_chips`: no unit is a straggler many times the
    others' size (split_cell)."""
    counts: Counter[tuple[int, int]] = Counter()
    for cx, cy in store.centres_meeting(region):
        counts[cell_index(cx, cy, size_deg)] += 1
    units = []
    remaining = limit
    for ix, iy in sorted(counts):
        if remaining is not None and remaining <= 0:
            break
        n = counts[(ix, iy)]
        cap = None if remaining is None or n <= remaining else remaining
        units.extend(split_cell(Unit(ix, iy, size_deg, cap, work=n if cap is None else cap),
                                max_chips))
        if remaining is not None:
            remaining -= n if cap is None else cap
    return units


def split_cell(unit: Unit, max_chips: int | None) -> list[Unit]:
    """`unit` as ceil(work / max_chips) parts of near-equal work (itself when small enough).
    A part's samples are those of its share of the cell's foci, so the parts' samples, in
    part order, are the cell's: the same keys, records and shard bytes."""
    if not max_chips or unit.work <= max_chips:
        return [unit]
    parts = -(-unit.work // max_chips)
    return [replace(unit, part=index, parts=parts, work=len(range(unit.work)[
                index * unit.work // parts:(index + 1) * unit.work // parts]))
            for index in range(parts)]


def build_order(units: list[Unit], band: int = 2) -> list[Unit]:
    """The order to build units in: bands of `band` grid columns, the bands walked up and down
    in turn and each band row by row, left-right then right-left (a serpentine).

    Consecutive units are then close (neighbours inside a band, at most `band` columns apart
    where a band ends), so the raster tiles they share are more often still in GDAL's block
    cache than in grid order, which jumps back to the bottom at every new column. Shards keep
    grid order: the merger waits for earlier units.
    """
    bands: dict[int, dict[int, list[Unit]]] = defaultdict(lambda: defaultdict(list))
    first = min((u.ix for u in units), default=0)
    for unit in units:
        bands[(unit.ix - first) // band][unit.iy].append(unit)
    order: list[Unit] = []
    for index in sorted(bands):
        rows = bands[index]
        for turn, iy in enumerate(sorted(rows, reverse=index % 2 == 1)):
            order.extend(sorted(rows[iy], key=lambda u: u.ix, reverse=turn % 2 == 1))
    return order


def largest_first(units: list[Unit]) -> list[Unit]:
    """`units` by estimated work, largest first (ties keep their order): a scheduler that
    takes them in this order (longest processing time first) never starts a big unit last,
    so no run stalls at the end on one straggler. Every chip of a run has the same output
    area, so a unit's work is its chip count (`Unit.work`)."""
    return sorted(units, key=lambda unit: -unit.work)


def split_lanes(order: list[Unit], lanes: int) -> list[list[Unit]]:
    """`order` cut into `lanes` contiguous runs of near-equal length (one per worker), so each
    worker builds a compact area and reuses its own cached raster tiles."""
    lanes = max(1, min(lanes, len(order)))
    size, extra = divmod(len(order), lanes)
    runs, start = [], 0
    for index in range(lanes):
        end = start + size + (1 if index < extra else 0)
        runs.append(order[start:end])
        start = end
    return runs


def unit_dir(work_dir: Path, unit: Unit) -> Path:
    return work_dir / "units" / unit.name


def load_done(work_dir: Path, unit: Unit) -> dict | None:
    """The unit's completion record if it finished and its part tars are whole."""
    return read_marker(unit_dir(work_dir, unit), DONE_MARKER)


@contextmanager
def unit_parts(directory: Path, prefix: str = "") -> Iterator[UnitPartWriter]:
    """The part writer of a unit stage (the worker's, or the LLM stage's with `prefix`
    "llm-"); its temporary part tars are removed when the stage fails. finish_unit ends it."""
    writer = UnitPartWriter(directory, prefix)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise


def finish_unit(directory: Path, writer: UnitPartWriter, rejected: list[dict],
                rejected_name: str, marker_name: str, marker: dict) -> dict:
    """Close a unit stage: rename its part tars into place, write its rejections
    (`rejected_name`, one json per line), then its completion marker last: `marker` plus what
    the parts hold (samples, per split counts, payload bytes and byte ranges). Returns the
    marker's record."""
    writer.commit()
    atomic_write_text(directory / rejected_name,
                      "".join(json.dumps(r, sort_keys=True) + "\n" for r in rejected),
                      durable=False)
    record = {
        **marker,
        "samples": sum(writer.counts.values()),
        "samples_by_split": writer.counts,
        "payload_bytes_by_split": writer.bytes,
        "ranges": {split: r for split, r in writer.ranges.items() if r},
    }
    atomic_write_text(directory / marker_name, json.dumps(record, sort_keys=True))
    return record


def read_marker(directory: Path, marker_name: str, part_prefix: str = "") -> dict | None:
    """A completion marker's record if its part tars (`{part_prefix}{split}.tar`) are all
    there, each at least as long as the samples it recorded; None otherwise. Part tars are not
    fsync'd: after a power loss a marker can outlive a part's data, and then the work is done
    again."""
    marker = directory / marker_name
    if not marker.exists():
        return None
    try:
        stats = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    for split, count in stats.get("samples_by_split", {}).items():
        if not count:
            continue
        ranges = stats.get("ranges", {}).get(split)
        recorded_end = ranges[-1][2] if ranges else 0
        try:
            if (directory / f"{part_prefix}{split}.tar").stat().st_size < recorded_end:
                return None
        except OSError:
            return None
    return stats
