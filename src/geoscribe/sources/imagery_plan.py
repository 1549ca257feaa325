"""`--imagery-plan FILE`: several imagery sources, each with its GSD and license (issue 18).

The plan is YAML:

    min_object_px: 3        # optional; default --min-object-px
    max_chip_px: 2048       # optional; default --max-chip-px
    sources:
      - name: aerial-0.3m
        imagery: tiles/*.tif   # what --imagery takes (one value or a list); relative paths
                               # are relative to the plan file
        gsd_m: 0.3             # optional: measured from the rasters when absent
        license: CC-BY-4.0
        attribution: City survey

Each focus object gets its chip from the finest source (smallest gsd_m) in which it is visible
(its size in that source's pixels at gsd_m >= min_object_px) and fits (its chip window <=
max_chip_px source pixels): SkyScript's rule. Reading the rasters is the engine's job
(`engine.inputs`, with the function that reads --imagery); this module parses and describes.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geoscribe.config import yaml_problem
from geoscribe.errors import InputError
from geoscribe.types import RasterInfo

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # stac:URL, earthengine:ID, https://...


class SourceEntry(BaseModel):
    """One source of a plan file, as written."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    imagery: list[str] = Field(min_length=1)
    gsd_m: float | None = Field(default=None, gt=0)
    license: str = Field(default="unknown", min_length=1)
    attribution: str | None = None

    @field_validator("imagery", mode="before")
    @classmethod
    def _one_or_many(cls, value):
        return [value] if isinstance(value, str) else value


class PlanFile(BaseModel):
    """A plan file, as written."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceEntry] = Field(min_length=1)
    min_object_px: float | None = Field(default=None, ge=0)
    max_chip_px: int | None = Field(default=None, ge=16)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceEntry]) -> list[SourceEntry]:
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique ({', '.join(names)})")
        return value


@dataclass(frozen=True)
class PlanSource:
    """A plan source with its rasters indexed: `gsd_m` as given, else measured (the median
    of its rasters' ground resolutions)."""

    name: str
    gsd_m: float
    license: str
    attribution: str | None
    rasters: list[RasterInfo] = field(default_factory=list)
    gsd_given: bool = False


@dataclass(frozen=True)
class ImageryPlan:
    """The resolved plan: sources finest first, and the two thresholds of the rule."""

    sources: list[PlanSource]
    min_object_px: float
    max_chip_px: int

    def summary(self) -> dict:
        """The plan as stats.json records it (rasters by their public uri)."""
        return {"min_object_px": self.min_object_px, "max_chip_px": self.max_chip_px,
                "sources": [{"name": s.name, "gsd_m": s.gsd_m,
                             "gsd": "given" if s.gsd_given else "measured",
                             "license": s.license, "attribution": s.attribution,
                             "imagery": sorted(r.uri for r in s.rasters)}
                            for s in self.sources]}


def _validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "plan"
    return f"{where}: {first['msg']}"


def load_plan_file(path: Path) -> PlanFile:
    """Read and check a plan file; every problem is one InputError line."""
    option = f"--imagery-plan {path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(option, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(option, "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise InputError(option, yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise InputError(option, "expected a mapping with a 'sources' list")
    try:
        return PlanFile(**data)
    except ValidationError as exc:
        raise InputError(option, _validation_error(exc)) from None


def imagery_specs(entry: SourceEntry, plan_path: Path) -> list[str]:
    """A source's --imagery values, relative paths taken from the plan file's folder (live
    forms such as stac:URL and earthengine:ID pass unchanged)."""
    base = plan_path.parent
    return [spec if _SCHEME.match(spec) or Path(spec).is_absolute() else str(base / spec)
            for spec in entry.imagery]


def plan_source(entry: SourceEntry, rasters: list[RasterInfo]) -> PlanSource:
    """A source with its indexed rasters and its GSD (given, or measured from them)."""
    gsd = entry.gsd_m if entry.gsd_m is not None else round(
        statistics.median(r.gsd_m for r in rasters), 4)
    return PlanSource(entry.name, gsd, entry.license, entry.attribution, rasters,
                      entry.gsd_m is not None)


def resolve_plan(plan: PlanFile, sources: list[PlanSource], min_object_px: float,
                 max_chip_px: int) -> ImageryPlan:
    """The plan with its sources finest first; thresholds from the file, else the CLI's."""
    return ImageryPlan(
        sorted(sources, key=lambda s: (s.gsd_m, s.name)),
        min_object_px if plan.min_object_px is None else plan.min_object_px,
        max_chip_px if plan.max_chip_px is None else plan.max_chip_px)
