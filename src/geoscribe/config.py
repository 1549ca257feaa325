"""Run configuration (pydantic): built from CLI flags or a YAML file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geoscribe.errors import InputError
from geoscribe.redact import public_llm, public_spec, public_url, redact_text

# fields the dataset card does not list as options: paths and licenses (listed per input)
NOT_CARD_OPTIONS = frozenset({"out", "region", "imagery", "imagery_plan", "osm", "labels",
                              "class_map", "tag_policy", "imagery_license", "imagery_attribution",
                              "labels_license", "labels_attribution"})
# options of `--imagery stac:URL` (issue 18): listed on the card only when set
STAC_OPTIONS = ("collection", "datetime", "max_cloud", "asset")


class BuildConfig(BaseModel):
    """Everything that defines a build. Fields marked `affects_output=False` don't change bytes."""

    model_config = ConfigDict(extra="forbid")

    recipe: str
    region: str
    out: Path
    imagery: list[str] = Field(default_factory=list)
    imagery_plan: Path | None = None
    osm: list[str] = Field(default_factory=list)
    osm_date: str | None = None
    osm_cell_deg: float = Field(default=0.05, gt=0, le=1,
                                json_schema_extra={"affects_output": False})
    labels: list[str] = Field(default_factory=list)
    imagery_license: str = "unknown"
    imagery_attribution: str | None = None
    collection: str | None = None  # --imagery stac:URL (issue 18): the collection searched,
    datetime: str | None = None  # live imagery's acquisition time (instant or interval),
    max_cloud: float | None = Field(default=None, ge=0, le=100)  # eo:cloud_cover limit (%),
    asset: str | None = None  # the item asset read (default: visual, else the COG data asset)
    stac_sign: str = Field(default="auto", json_schema_extra={"affects_output": False})
    labels_license: str = "unknown"
    labels_attribution: str | None = None
    tag_policy: Path | None = None
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1,
                         json_schema_extra={"affects_output": False})
    executor: str = Field(default="local", json_schema_extra={"affects_output": False})
    ray_address: str | None = Field(default=None, json_schema_extra={"affects_output": False})
    limit: int | None = Field(default=None, ge=1)
    seed: int = 0
    unit_deg: float = Field(default=0.01, gt=0)
    max_unit_chips: int = Field(default=500, ge=1, json_schema_extra={"affects_output": False})
    split_block_deg: float = Field(default=0.01, gt=0)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_guard: bool = True
    chip_size: int = Field(default=256, ge=16, le=4096)
    margin: float = Field(default=0.25, ge=0, le=5)
    min_chip_px: int = Field(default=128, ge=8)
    max_chip_px: int = Field(default=2048, ge=16)
    min_object_px: float | None = Field(default=None, ge=0)
    class_map: list[Path] = Field(default_factory=list)
    mask_kind: list[str] = Field(default_factory=list)
    tile_px: int | None = Field(default=None, ge=8, le=8192)
    qa_weights: dict[str, float] = Field(default_factory=dict)
    qa_per_chip: int = Field(default=8, ge=1, le=100)
    box_format: str = "geochat"
    clip: str | None = None
    clip_min_score: float | None = None
    clip_keep_fraction: float | None = Field(default=None, gt=0, le=1)
    clip_device: str = "auto"
    clip_batch_size: int = Field(default=64, ge=1,
                                 json_schema_extra={"affects_output": False})
    clip_workers: int = Field(default=2, ge=0, json_schema_extra={"affects_output": False})
    dedup: bool = False
    llm: str | None = None
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_top_p: float = Field(default=1.0, gt=0, le=1)
    llm_max_tokens: int = Field(default=400, ge=16)
    llm_rewrites: int = Field(default=2, ge=0, le=10)
    llm_max_words: int = Field(default=80, ge=5)
    llm_json_mode: str = "auto"
    llm_repairs: int = Field(default=2, ge=0, le=10)
    llm_concurrency: int = Field(default=4, ge=1, json_schema_extra={"affects_output": False})
    llm_rpm: int | None = Field(default=None, ge=1, json_schema_extra={"affects_output": False})
    llm_tpm: int | None = Field(default=None, ge=1, json_schema_extra={"affects_output": False})
    llm_max_retries: int = Field(default=5, ge=0, json_schema_extra={"affects_output": False})
    llm_timeout: float = Field(default=60.0, gt=0, json_schema_extra={"affects_output": False})
    llm_cache: Path | None = Field(default=None, json_schema_extra={"affects_output": False})
    cache_dir: Path | None = Field(default=None, json_schema_extra={"affects_output": False})
    ee_project: str | None = Field(default=None, json_schema_extra={"affects_output": False})
    ee_url: str | None = Field(default=None, json_schema_extra={"affects_output": False})
    ee_scale: float | None = Field(default=None, gt=0)
    ee_concurrency: int = Field(default=4, ge=1, le=64,
                                json_schema_extra={"affects_output": False})
    geocoder_url: str | None = Field(default=None, json_schema_extra={"affects_output": False})
    llm_price_in: float | None = Field(default=None, ge=0,
                                       json_schema_extra={"affects_output": False})
    llm_price_out: float | None = Field(default=None, ge=0,
                                        json_schema_extra={"affects_output": False})
    qc_brightness: bool = True
    qc_contrast: bool = True
    qc_clouds: bool = True
    max_others: int = Field(default=5, ge=0)
    image_format: str = "jpg"
    jpeg_quality: int = Field(default=95, ge=50, le=100)
    shard_max_samples: int = Field(default=1000, ge=1)
    shard_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    gdal_cache_mb: int = Field(default=64, ge=8, json_schema_extra={"affects_output": False})
    progress: bool = Field(default=True, json_schema_extra={"affects_output": False})
    overwrite: bool = Field(default=False, json_schema_extra={"affects_output": False})

    @field_validator("split_fractions")
    @classmethod
    def _fractions_sum_to_one(cls, value: tuple[float, float, float]):
        if any(v < 0 for v in value) or abs(sum(value) - 1.0) > 1e-6:
            raise ValueError("split fractions must be >= 0 and sum to 1")
        return value

    @field_validator("image_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("jpg", "png"):
            raise ValueError("image format must be jpg or png")
        return value

    @field_validator("clip_device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value not in ("auto", "cpu", "cuda") and not value.startswith("cuda:"):
            raise ValueError("clip device must be auto, cpu, cuda or cuda:N")
        return value

    @field_validator("llm_json_mode")
    @classmethod
    def _known_json_mode(cls, value: str) -> str:
        if value not in ("auto", "json_schema", "json_object", "prompt"):
            raise ValueError("LLM JSON mode must be auto, json_schema, json_object or prompt")
        return value

    @field_validator("box_format")
    @classmethod
    def _known_box_format(cls, value: str) -> str:
        if value not in ("geochat", "json"):
            raise ValueError("box format must be geochat or json")
        return value

    @field_validator("qa_weights")
    @classmethod
    def _known_qa_types(cls, value: dict[str, float]) -> dict[str, float]:
        known = {"presence", "count", "comparison", "area", "size", "shape", "relation"}
        for name, weight in value.items():
            if name not in known:
                raise ValueError(f"unknown question type {name!r} (known: {sorted(known)})")
            if weight < 0:
                raise ValueError(f"weight of {name} must be >= 0")
        return value

    @field_validator("mask_kind")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        for kind in value:
            if kind not in ("semantic", "instance"):
                raise ValueError(f"mask kind {kind!r} must be semantic or instance")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in ("local", "ray"):
            raise ValueError(f"{value!r} is not an executor: local or ray")
        return value

    @field_validator("ray_address")
    @classmethod
    def _address_needs_ray(cls, value: str | None, info) -> str | None:
        if value and info.data.get("executor") != "ray":
            raise ValueError("needs --executor ray")
        return value

    def public_dump(self) -> dict:
        """The config as recorded in OUT's run file: `llm` and the live sources' URLs without
        the endpoints' credentials (the API key is never part of a config), no Ray address."""
        data = self.model_dump(mode="json", exclude={"ray_address"})  # a machine's address
        if data.get("llm"):
            data["llm"] = public_llm(data["llm"])
        return public_urls(data)

    def card_options(self) -> dict:
        """The options that shape the output, as the dataset card lists them (issue 15): no
        file paths (the card names the inputs by their public names), no run settings, licenses
        listed with the inputs, `llm` without the endpoint's credentials."""
        data = self.public_dump()
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra or {}
            run_only = isinstance(extra, dict) and extra.get("affects_output") is False
            unset_stac = name in STAC_OPTIONS and data.get(name) is None
            if name in NOT_CARD_OPTIONS or run_only or unset_stac:
                data.pop(name, None)
        return data

    def output_fingerprint(self, sources: dict[str, str]) -> str:
        """Hash of every option that changes output bytes, plus `sources`: a content digest of
        every input file and of every file that shapes the texts (engine.fingerprint)."""
        data = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            extra = field.json_schema_extra or {}
            if isinstance(extra, dict) and extra.get("affects_output") is False:
                data.pop(name, None)
        data.pop("out", None)
        if data.get("llm"):  # the endpoint as the cache keys it: credentials change no text
            data["llm"] = public_llm(data["llm"])
        data["inputs"] = sources
        data = public_urls(data)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def public_urls(data: dict) -> dict:
    """`data` (a config dump) with the URLs of live sources (`--imagery stac:URL`,
    `--stac-sign`, `--osm overpass:URL`, `--ee-url`, `--geocoder-url`) in their public form
    (no credentials; issue 18)."""
    data["imagery"] = [redact_text(spec) for spec in data.get("imagery") or []]
    data["osm"] = [public_spec(spec) for spec in data.get("osm") or []]
    for name in ("ee_url", "geocoder_url"):
        if data.get(name):
            data[name] = public_url(data[name])
    if data.get("stac_sign"):
        data["stac_sign"] = redact_text(data["stac_sign"])
    return data


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line (str(exc) spans lines): its place and problem."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or exc
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"invalid YAML ({where}{' '.join(str(problem).split())})"


def load_yaml_config(path: Path) -> dict:
    """Read a YAML config file of BuildConfig fields."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InputError(f"--config {path}", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"--config {path}", "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise InputError(f"--config {path}", yaml_problem(exc)) from None
    if not isinstance(data, dict):
        raise InputError(f"--config {path}", "expected a mapping of options")
    return data


def make_config(**values) -> BuildConfig:
    """Build a BuildConfig, turning validation errors into one-line InputErrors."""
    try:
        return BuildConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InputError(f"--{where.replace('_', '-')}", first["msg"]) from None


def parse_qa_types(text: str) -> dict[str, float]:
    """`--qa-types presence=2,count=1` -> {"presence": 2.0, "count": 1.0}."""
    try:
        return {k.strip(): float(v) for k, v in
                (item.split("=") for item in text.split(",") if item)}
    except ValueError:
        raise InputError("--qa-types", f"{text!r} is not type=weight,...") from None


def parse_split_fractions(text: str) -> tuple[float, ...]:
    """`--split-fractions 0.8,0.1,0.1` -> (0.8, 0.1, 0.1) (the model checks there are 3)."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError("--split-fractions", f"{text!r} is not 3 numbers") from None


FLAG_FIELDS = {"qa_types": "qa_weights"}  # build-dataset flags named apart from their field


def flag_values(flags: dict) -> dict:
    """BuildConfig fields from build-dataset's flags: parsed, unset (None or empty) ones left
    out so the YAML file's values (or the defaults) stand."""
    values = {k: v for k, v in flags.items() if k not in ("qa_types", "split_fractions")}
    if flags.get("qa_types") is not None:
        values[FLAG_FIELDS["qa_types"]] = parse_qa_types(flags["qa_types"])
    if flags.get("split_fractions") is not None:
        values["split_fractions"] = parse_split_fractions(flags["split_fractions"])
    return {k: v for k, v in values.items() if v is not None and v != []}


def config_from_flags(recipe: str, region: str, out: Path, config_file: Path | None, *,
                      progress: bool = True, overwrite: bool = False,
                      resolve: Callable[[dict], dict] | None = None, **flags) -> BuildConfig:
    """The BuildConfig of a build-dataset command line: the --config YAML file, overridden by
    the flags given; `resolve` (the engine's `--region demo` expansion) sees the merged values
    before they are validated."""
    values: dict = load_yaml_config(config_file) if config_file else {}
    values.update(flag_values(flags))
    values.update(recipe=recipe, region=region, out=out, progress=progress, overwrite=overwrite)
    return make_config(**(resolve(values) if resolve else values))
