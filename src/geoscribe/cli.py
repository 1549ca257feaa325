"""Command-line entry points: `build-dataset` and `geoscribe` (typer)."""

from __future__ import annotations

import functools
import os
import signal
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from geoscribe import __version__
from geoscribe.errors import GeoscribeError, InputError

build_app = typer.Typer(add_completion=False, rich_markup_mode=None,
                        help="Build a remote-sensing vision-language dataset.")
tools_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                        help="geoscribe tools: list recipes, validate and report outputs.")

Opt = typer.Option
# the ClickException class of the click that typer runs on: recent typer versions carry their
# own copy of click, so `click.ClickException` would not match what typer raises
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = "interrupted; re-run the same command to resume"
HELP_PANELS = ("Sources", "Chips", "Text / LLM", "Filters", "Run")
NOMINATIM_URL = "https://nominatim.openstreetmap.org"  # --geocoder-url's default
RUN_PANEL = HELP_PANELS[-1]  # where --help and --version go
HELP_RECIPE = "geoscribe.help_recipe"  # ctx.meta key: the recipe named before --help
EE_URL = "https://earthengine-highvolume.googleapis.com"  # --ee-url's default (issue 18)
RECIPE_HELP = "Recipe name."  # the RECIPE argument's help, completed when help is shown
OVERPASS_URL = "https://overpass-api.de/api/interpreter"  # `--osm overpass`'s server


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwinds the run (workers stopped, finished units kept).

    A BaseException, like KeyboardInterrupt, so no `except Exception` swallows it; not a
    KeyboardInterrupt, which typer turns into a silent exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum  # 130 for SIGINT, 143 for SIGTERM, as shells report


def _interrupt(signum: int, _frame) -> None:
    """First SIGINT/SIGTERM: unwind by raising Interrupted. Another one while the run unwinds
    exits at once (the workers follow the main process out, see engine/executors.py)."""
    for sig in INTERRUPT_SIGNALS:
        signal.signal(sig, _exit_now)
    raise Interrupted(signum)


def _exit_now(signum: int, _frame) -> None:
    os.write(2, f"{INTERRUPTED}\n".encode())
    os._exit(128 + signum)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"geoscribe {__version__}")
        raise typer.Exit()


VersionOpt = Annotated[bool, Opt("--version", callback=_show_version, is_eager=True,
                                 help="Print the version and exit.")]


def _panel(title: str) -> Callable[..., Any]:
    """typer.Option with its `--help` panel set."""
    return functools.partial(Opt, rich_help_panel=title)


Src, Chip, Text, Filt, Run = (_panel(t) for t in HELP_PANELS)


def _recipe_help() -> str:
    """The RECIPE argument's help: the recipes' names (recipe_names: without importing the
    builders, which the registry does)."""
    from geoscribe.recipe_names import recipe_names

    return f"Recipe name: {', '.join(recipe_names())} (see `geoscribe recipes`)."


def _recipe_in(args: list[str]):
    """The spec of the first argument that names a recipe (None when none does; the
    registry, which imports every builder, only then)."""
    from geoscribe.recipe_names import recipe_names

    name = next((a for a in args if not a.startswith("-") and a in recipe_names()), None)
    if name is None:
        return None
    from geoscribe.recipes import RECIPES

    return RECIPES[name]


def _hidden_options(spec) -> frozenset[str]:
    """The parameters of other recipes' own options, which `spec`'s help leaves out (none,
    and nothing imported, for the plain --help)."""
    if spec is None:
        return frozenset()
    from geoscribe.config import FLAG_FIELDS
    from geoscribe.recipes import recipe_options

    fields = recipe_options() - set(spec.options)
    return frozenset(fields | {flag for flag, field in FLAG_FIELDS.items() if field in fields})


class PanelCommand(TyperCommand):
    """A command whose plain-text `--help` lists its options in panels (HELP_PANELS order),
    as rich would, without needing rich. `build-dataset RECIPE --help` starts with the
    recipe's description and lists only the options that recipe reads."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if set(args) & set(ctx.help_option_names):  # --help is eager: runs inside parse_args
            ctx.meta[HELP_RECIPE] = _recipe_in(args)
        return super().parse_args(ctx, args)

    def format_help_text(self, ctx: typer.Context, formatter: Any) -> None:
        spec = ctx.meta.get(HELP_RECIPE)
        if spec is not None:
            formatter.write_paragraph()
            formatter.write_text(f"{spec.name}: {spec.description}")
        super().format_help_text(ctx, formatter)

    def format_options(self, ctx: typer.Context, formatter: Any) -> None:
        hidden = _hidden_options(ctx.meta.get(HELP_RECIPE))
        args, panels = [], {title: [] for title in HELP_PANELS}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.name in hidden:
                continue
            if param.param_type_name == "argument":
                args.append((record[0], record[1].replace(RECIPE_HELP, _recipe_help())))
            else:
                panels.setdefault(getattr(param, "rich_help_panel", None) or RUN_PANEL,
                                  []).append(record)
        for title, records in (("Arguments", args), *panels.items()):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)




@build_app.command(cls=PanelCommand, context_settings={"help_option_names": ["-h", "--help"]})
def build_dataset(
    recipe: Annotated[str, typer.Argument(help=RECIPE_HELP)],
    region: Annotated[str, Src(help="bbox min_lon,min_lat,max_lon,max_lat (write "
                                    "--region=-81.99,29.68,-81.98,29.69 for western "
                                    "longitudes), a GeoJSON file, or 'demo'.")],
    out: Annotated[Path, Run(help="Output folder (created; re-running resumes).")],
    imagery: Annotated[list[str] | None, Src(help="GeoTIFF/COG file, directory or glob; "
                                                   "repeat for a mosaic.")] = None,
    imagery_plan: Annotated[Path | None, Src(help="Object chips: YAML of several imagery "
                                                 "sources (imagery, gsd_m, license, "
                                                 "attribution); each object's chip comes from "
                                                 "the finest source where it is visible and "
                                                 "fits (docs/live-sources.md). Instead of "
                                                 "--imagery.")] = None,
    osm: Annotated[list[str] | None, Src(help="OSM file (.osm, .osm.pbf, .osm.bz2), or "
                                              "overpass[:URL] to query an Overpass API "
                                              f"(default {OVERPASS_URL}); repeatable.")
                   ] = None,
    osm_date: Annotated[str | None, Src(help="Date of the Overpass map (YYYY-MM-DD or "
                                             "ISO time; default: the imagery's acquisition "
                                             "date when known, else today's).")] = None,
    osm_cell_deg: Annotated[float | None, Src(help="Overpass query grid cell, degrees "
                                                   "(default 0.05; split on overload).")
                            ] = None,
    labels: Annotated[list[str] | None, Src(help="Vector recipes: vector labels (.geojson/"
                                                 ".gpkg/.shp) with OSM-style tag columns; mask "
                                                 "recipes: label rasters (with --class-map). "
                                                 "`geoscribe recipes` says which. "
                                                 "Repeatable.")] = None,
    config: Annotated[Path | None, Run(help="YAML file of options (flags override it).")] = None,
    version: VersionOpt = False,
    workers: Annotated[int | None, Run(help="Worker processes (default: CPU cores).")] = None,
    limit: Annotated[int | None, Run(help="Build at most N focus features (quick tries).")] = None,
    seed: Annotated[int | None, Chip(help="Seed of the split assignment (default 0).")] = None,
    chip_size: Annotated[int | None, Chip(help="Output chip side in pixels (default 256).")] = None,
    margin: Annotated[float | None, Chip(help="Margin around the object, as a fraction of "
                                             "its size on each side (default 0.25).")] = None,
    min_chip_px: Annotated[int | None, Chip(help="Smallest source window side "
                                                "(default 128 px).")] = None,
    max_chip_px: Annotated[int | None, Chip(help="Objects needing a larger window are skipped "
                                                "as too_large (default 2048 px).")] = None,
    min_object_px: Annotated[float | None, Chip(help="skyscript-like: objects smaller than "
                                                    "this many source pixels are skipped "
                                                    "(default 3); counting-qa: mask objects "
                                                    "with fewer pixels inside the tile are "
                                                    "not counted (default 10).")] = None,
    class_map: Annotated[list[Path] | None, Src(help="Mask recipes: JSON/YAML of mask value "
                                                     "(or instance id; '*' = any other id) "
                                                     "-> class name; one for all --labels "
                                                     "or one per --labels.")] = None,
    mask_kind: Annotated[list[str] | None, Src(help="Mask recipes: semantic (default; objects"
                                                    " are 8-connected components) or "
                                                    "instance (one id per object); one for "
                                                    "all --labels or one per --labels.")] = None,
    tile_px: Annotated[int | None, Chip(help="Tile recipes: tile side in source pixels "
                                            "(default: --chip-size).")] = None,
    qa_types: Annotated[str | None, Text(help="rsvqa-like: question types and sampling "
                                             "weights, e.g. presence=2,count=2,comparison=1,"
                                             "area=1,size=1,shape=1,relation=1 (0 turns a type "
                                             "off).")] = None,
    qa_per_chip: Annotated[int | None, Text(help="rsvqa-like: questions per tile "
                                                "(default 8).")] = None,
    clip: Annotated[str | None, Filt(help="Score image-text alignment with open_clip "
                                         "MODEL[:PRETRAINED] (PRETRAINED: checkpoint path, "
                                         "open_clip tag, or 'random').")] = None,
    clip_min_score: Annotated[float | None, Filt(help="Keep pairs with a CLIP score >= S.")
                              ] = None,
    clip_keep_fraction: Annotated[float | None, Filt(help="Keep the top fraction F of pairs by "
                                                         "CLIP score over the whole run.")
                                  ] = None,
    clip_device: Annotated[str | None, Filt(help="auto (default), cpu, cuda or cuda:N.")] = None,
    clip_batch_size: Annotated[int | None, Filt(help="CLIP batch size (default 64).")] = None,
    clip_workers: Annotated[int | None, Filt(help="Image decoding workers feeding CLIP "
                                                 "(default 2).")] = None,
    dedup: Annotated[bool | None, Filt("--dedup/--no-dedup",
                                      help="Drop exact and near-duplicate chips across the "
                                           "run, keeping the best-scored (default off).")
                     ] = None,
    llm: Annotated[str | None, Text(help="Write texts with an LLM: MODEL (the OpenAI API; key from "
                                        "OPENAI_API_KEY) or MODEL@BASE_URL (any OpenAI-"
                                        "compatible server: vLLM, llama.cpp, Ollama), e.g. "
                                        "qwen2.5@http://127.0.0.1:8080/v1.")] = None,
    llm_rewrites: Annotated[int | None, Text(help="LLM: rewrites per caption (default 2).")
                            ] = None,
    llm_max_words: Annotated[int | None, Text(help="LLM: longest caption/rewrite in words "
                                                  "(default 80).")] = None,
    llm_temperature: Annotated[float | None, Text(help="LLM: sampling temperature "
                                                      "(default 0.2).")] = None,
    llm_max_tokens: Annotated[int | None, Text(help="LLM: max reply tokens (default 400).")
                              ] = None,
    llm_json_mode: Annotated[str | None, Text(help="LLM structured output: auto (default: JSON "
                                                  "schema, falling back to JSON object, then "
                                                  "prompt only), json_schema, json_object, "
                                                  "prompt.")] = None,
    llm_repairs: Annotated[int | None, Text(help="LLM: follow-up requests naming the problem "
                                                "when a reply is invalid or unfaithful "
                                                "(default 2).")] = None,
    llm_concurrency: Annotated[int | None, Text(help="LLM: requests in flight (default 4).")
                               ] = None,
    llm_rpm: Annotated[int | None, Text(help="LLM: requests per minute limit.")] = None,
    llm_tpm: Annotated[int | None, Text(help="LLM: tokens per minute limit (estimated before "
                                            "each request).")] = None,
    llm_max_retries: Annotated[int | None, Text(help="LLM: retries on 429/5xx/timeouts "
                                                    "(default 5).")] = None,
    llm_timeout: Annotated[float | None, Text(help="LLM: seconds per request (default 60).")
                           ] = None,
    llm_cache: Annotated[Path | None, Text(help="LLM response cache (SQLite; default "
                                               "~/.cache/geoscribe/llm/responses.sqlite).")
                         ] = None,
    llm_price_in: Annotated[float | None, Text(help="LLM: USD per 1M prompt tokens, for the "
                                                   "cost estimate in stats.json.")] = None,
    llm_price_out: Annotated[float | None, Text(help="LLM: USD per 1M completion tokens.")
                             ] = None,
    qc_brightness: Annotated[bool | None, Filt("--qc-brightness/--no-qc-brightness",
                                              help="Drop chips whose mean grey level is outside "
                                                   "30-225 (default on).")] = None,
    qc_contrast: Annotated[bool | None, Filt("--qc-contrast/--no-qc-contrast",
                                            help="Drop featureless chips (grey std < 4; "
                                                 "default on).")] = None,
    qc_clouds: Annotated[bool | None, Filt("--qc-clouds/--no-qc-clouds",
                                          help="Drop chips > 50 % bright, unsaturated "
                                               "(cloud-like) pixels (default on).")] = None,
    box_format: Annotated[str | None, Text(help="geochat-like: geochat ({<x1><y1><x2><y2>|<θ>},"
                                               " 0-100) or json (pixel boxes).")] = None,
    unit_deg: Annotated[float | None, Run(help="Work unit grid size in degrees "
                                               "(default 0.01).")] = None,
    max_unit_chips: Annotated[int | None, Run(help="Feature recipes: a grid cell with more "
                                                   "focus features is split into units of at "
                                                   "most N (default 500; same samples).")
                              ] = None,
    split_block_deg: Annotated[float | None, Chip(help="Split block grid size in degrees "
                                                      "(default 0.01).")] = None,
    split_fractions: Annotated[str | None, Chip(help="train,val,test fractions "
                                                    "(default 0.8,0.1,0.1).")] = None,
    split_guard: Annotated[bool | None, Chip("--split-guard/--no-split-guard",
                                            help="Drop chips that overlap blocks of another "
                                                 "split (default on).")] = None,
    image_format: Annotated[str | None, Chip(help="jpg (default) or png.")] = None,
    jpeg_quality: Annotated[int | None, Chip(help="JPEG quality (default 95).")] = None,
    shard_max_samples: Annotated[int | None, Run(help="Samples per shard (default 1000).")] = None,
    shard_max_bytes: Annotated[int | None, Run(help="Bytes per shard (default 512 MiB).")] = None,
    tag_policy: Annotated[Path | None, Src(help="YAML tag deny/allow lists (default: "
                                                "packaged prompts/tag_policy.yaml).")] = None,
    imagery_license: Annotated[str | None, Src(help="License of the imagery (SPDX id).")] = None,
    imagery_attribution: Annotated[str | None, Src(help="Attribution of the imagery.")] = None,
    collection: Annotated[str | None, Src(help="--imagery stac:URL: the STAC collection to "
                                               "search (e.g. sentinel-2-l2a, naip).")] = None,
    datetime: Annotated[str | None, Src(help="Live imagery (stac:, earthengine:): acquisition "
                                             "time, an RFC 3339 instant or interval "
                                             "(2023-06-01/2023-08-31; '..' leaves an end "
                                             "open).")] = None,
    max_cloud: Annotated[float | None, Src(help="--imagery stac:URL: keep items with "
                                                "eo:cloud_cover <= P percent.")] = None,
    asset: Annotated[str | None, Src(help="--imagery stac:URL: the item asset to read "
                                          "(default: visual, else the first COG data "
                                          "asset).")] = None,
    stac_sign: Annotated[str | None, Run(help="--imagery stac:URL: asset URL signing: auto "
                                              "(default: Planetary Computer's host), none, or "
                                              "planetary-computer[:TOKEN_URL] (default: the "
                                              "API's /api/sas/v1/token).")] = None,
    labels_license: Annotated[str | None, Src(help="License of the --labels files.")] = None,
    labels_attribution: Annotated[str | None, Src(help="Attribution of the labels.")] = None,
    executor: Annotated[str | None, Run(help="local (process pool; default) or ray (a Ray "
                                              "cluster: pip install 'geoscribe[ray]').")
                        ] = None,
    ray_address: Annotated[str | None, Run(help="--executor ray: the cluster to join "
                                                "(HOST:PORT of `ray start --head`, or 'auto'; "
                                                "default: start a local one with --workers "
                                                "CPUs).")] = None,
    cache_dir: Annotated[Path | None, Run(help="Cache of live sources' replies (default "
                                               "~/.cache/geoscribe; $GEOSCRIBE_CACHE).")
                         ] = None,
    ee_project: Annotated[str | None, Src(help="--imagery earthengine:COLLECTION: the Cloud "
                                               "project billed (default: the credentials').")
                          ] = None,
    ee_url: Annotated[str | None, Src(help=f"Earth Engine API base (default {EE_URL}).")
                      ] = None,
    ee_scale: Annotated[float | None, Src(help="Earth Engine: metres per pixel (default: the "
                                               "bands' nominal scale).")] = None,
    ee_concurrency: Annotated[int | None, Run(help="Earth Engine: requests in flight "
                                                   "(default 4).")] = None,
    geocoder_url: Annotated[str, Src(envvar="GEOSCRIBE_GEOCODER_URL",
                                     help="Nominatim geocoder of a --region place name "
                                          "(\"Helsinki, Finland\"); cached under --cache-dir, "
                                          "one request per second.")
                            ] = NOMINATIM_URL,
    gdal_cache_mb: Annotated[int | None, Run(help="GDAL block cache per process "
                                               "(default 64 MB).")] = None,
    progress: Annotated[bool, Run("--progress/--no-progress",
                                  help="Show progress bars.")] = True,
    quiet: Annotated[bool, Run("--quiet", help="No progress bars and no executor logs "
                                               "(errors and the summary only).")] = False,
    overwrite: Annotated[bool, Run(help="Rebuild OUT from scratch, discarding what an earlier "
                                        "build left there.")] = False,
) -> None:
    """Build RECIPE over REGION into OUT: WebDataset shards, stats.json and preview.html."""
    flags = dict(locals())  # every parameter above, by name (the first statement: nothing else yet)
    prestart_ray(flags)  # before the pipeline's imports
    from geoscribe.config import config_from_flags
    from geoscribe.engine.build import build, resolve_demo

    del flags["version"]
    quiet = flags.pop("quiet")
    flags["progress"] = flags["progress"] and not quiet
    cfg = config_from_flags(config_file=flags.pop("config"),
                            resolve=lambda values: resolve_demo(with_overpass_url(values)),
                            **flags)
    if cfg.ee_url is None:  # the endpoint's default lives here, never below the CLI
        cfg = cfg.model_copy(update={"ee_url": EE_URL})
    lines: list[str] = []
    stats = build(cfg, lambda stats: lines.extend(finish(cfg.out, stats)))  # under OUT's lock
    if stats.get("resumed") == "already complete":
        typer.echo(f"{cfg.out} is already complete (nothing to do).")
    _echo(lines)


def prestart_ray(flags: dict) -> None:
    """`--executor ray --ray-address ADDR`: begin joining the cluster (and booting the job's
    workers) in the background now, while this process imports the pipeline and reads its
    inputs; the build's executor takes the connection over (engine/ray_executor.py)."""
    if flags.get("executor") != "ray" or not flags.get("ray_address"):
        return
    from geoscribe.engine.ray_executor import RayOptions, prestart

    progress = flags["progress"] and not flags["quiet"]
    prestart(RayOptions(flags["workers"] or 1, flags["ray_address"], quiet=not progress,
                        warmup="geoscribe.engine.worker"))


def with_overpass_url(values: dict) -> dict:
    """`--osm overpass` (no URL) is the public Overpass API, OVERPASS_URL."""
    osm = [f"overpass:{OVERPASS_URL}" if str(spec).strip().lower() == "overpass" else spec
           for spec in values.get("osm") or ()]
    return {**values, "osm": osm} if osm else values


def finish(out: Path, stats: dict) -> list[str]:
    """Write OUT's plots, preview.html and dataset card for `stats`; return the run's summary
    lines."""
    from geoscribe.report import summary_lines, write_report

    write_report(out, stats)
    return summary_lines(out, stats)


def _echo(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


@tools_app.callback()
def tools(version: VersionOpt = False) -> None:
    """geoscribe tools: list recipes, validate and report outputs."""


@tools_app.command("recipes")
def recipes() -> None:
    """List the recipes this version can build, the inputs each reads and its demo."""
    from geoscribe.recipes import RECIPES, recipe_inputs
    from geoscribe.sources.demo import DEMO_DESCRIPTIONS

    for name, spec in RECIPES.items():
        demo = DEMO_DESCRIPTIONS[spec.demo] if spec.demo else "none"
        typer.echo(f"{name:18s} {spec.description}\n{'':18s} inputs: {recipe_inputs(spec)}"
                   f"\n{'':18s} --region demo: {demo}")


@tools_app.command("validate")
def validate(out: Annotated[Path, typer.Argument(help="A build-dataset output folder.")]) -> None:
    """Check every sample of OUT against the record contract; exit 1 on any problem."""
    from geoscribe.checks.dataset import validate_dataset

    if not (out / "data").is_dir():
        raise InputError(str(out), "not a geoscribe output (no data/ folder)")
    report = validate_dataset(out)
    for problem in report.problems[:50]:
        typer.echo(problem, err=True)
    typer.echo(f"{report.samples} samples in {report.shards} shards; "
               f"{len(report.problems)} problems")
    raise typer.Exit(1 if report.problems else 0)


@tools_app.command("score")
def score(
    out: Annotated[Path, typer.Argument(help="A build-dataset output folder.")],
    clip: Annotated[str | None, Opt(help="open_clip MODEL[:PRETRAINED] (checkpoint path, "
                                         "open_clip tag, or 'random').")] = None,
    clip_min_score: Annotated[float | None, Opt(help="Keep pairs with a score >= S.")] = None,
    clip_keep_fraction: Annotated[float | None, Opt(help="Keep the top fraction F.")] = None,
    clip_device: Annotated[str, Opt(help="auto, cpu, cuda or cuda:N.")] = "auto",
    clip_batch_size: Annotated[int, Opt(help="Batch size.")] = 64,
    clip_workers: Annotated[int, Opt(help="Image decoding workers.")] = 2,
    dedup: Annotated[bool, Opt("--dedup/--no-dedup", help="Drop duplicates.")] = False,
    progress: Annotated[bool, Opt("--progress/--no-progress")] = True,
) -> None:
    """(Re)score OUT in place with another CLIP model: new shards with the same keys."""
    from geoscribe.engine.filtering import FilterOptions
    from geoscribe.engine.rescore import rescore

    if not clip and not dedup:
        raise InputError("geoscribe score", "give --clip MODEL[:PRETRAINED] and/or --dedup")
    if clip_keep_fraction is not None and not 0 < clip_keep_fraction <= 1:
        raise InputError("--clip-keep-fraction", "must be in (0, 1]")
    stats = rescore(out, FilterOptions(clip, clip_min_score, clip_keep_fraction, clip_device,
                                       clip_batch_size, clip_workers, dedup), progress)
    _echo(finish(out, stats))


@tools_app.command("report")
def report(out: Annotated[Path, typer.Argument(help="A build-dataset output folder.")]) -> None:
    """(Re)write OUT's plots (report/*.png), preview.html, dataset card (README.md) and
    record.schema.json; same inputs, same bytes."""
    from geoscribe.report import read_stats, report_lines, write_report

    stats = read_stats(out)
    try:
        plots = write_report(out, stats)
    except tarfile.TarError as exc:
        raise InputError(str(out / "data"), f"a shard is unreadable ({exc}); "
                         f"`geoscribe validate {out}` names it") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(str(out / "stats.json"), f"unexpected content ({exc})") from None
    _echo(report_lines(out, stats, plots))


@tools_app.command("publish")
def publish(
    out: Annotated[Path, typer.Argument(help="A build-dataset output folder.")],
    repo: Annotated[str, Opt("--repo", help="Hub dataset repository USER/NAME (created "
                                            "when missing).")],
    private: Annotated[bool, Opt("--private", help="Create the repository private.")] = False,
    revision: Annotated[str | None, Opt("--revision", help="Branch to commit to (created "
                                                           "when missing; default main).")
                        ] = None,
    dry_run: Annotated[Path | None, Opt("--dry-run", help="Write the folder that would be "
                                                          "uploaded here instead; no network.")
                       ] = None,
    allow_unknown_license: Annotated[bool, Opt("--allow-unknown-license",
                                                help="Publish although an input has no "
                                                     "license (recorded in the card).")
                                     ] = False,
) -> None:
    """Upload OUT to the Hugging Face Hub as a dataset (card, shards, index, preview); a
    re-run sends only what changed. Token: HF_TOKEN or the cached login."""
    from geoscribe import publish as pub

    pub.check_repo(repo)
    files = pub.prepare(out, allow_unknown_license)
    if dry_run is not None:
        folder = pub.dry_run(files, dry_run)
        typer.echo(f"{folder}: {len(files)} files that `--repo {repo}` would receive "
                   "(nothing uploaded)")
        return
    done = pub.upload(files, repo, private, revision)
    typer.echo(f"{done.url}: {len(done.sent)} files sent, {len(done.unchanged)} unchanged, "
               f"{len(done.deleted)} deleted" + (f" (revision {revision})" if revision else ""))


@tools_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="A build-dataset output folder (built or "
                                             "downloaded).")],
    format: Annotated[str, Opt("--format", help="llava, geochat or rsvqa.")],  # noqa: A002
    dest: Annotated[Path, Opt("--out", help="Folder to write (must be empty or new).")],
    split: Annotated[str, Opt(help="all (default), or train, val, test (comma-separated).")
                     ] = "all",
    prefix: Annotated[str, Opt(help="rsvqa: file name prefix, as RSVQA's LR/HR.")
                      ] = "geoscribe",
    overwrite: Annotated[bool, Opt(help="Replace a non-empty --out folder.")] = False,
) -> None:
    """Export OUT as LLaVA or GeoChat instruction data, or as RSVQA's json files."""
    from geoscribe.exports import export as run_export

    counts = run_export(out, format, dest, split, prefix, overwrite)
    typer.echo(f"{dest}: {format} export, " + ", ".join(f"{split} {n}" for split, n in
                                                        counts.items()) + " samples")


review_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                         help="Review records in Label Studio and pull the corrections back.")
tools_app.add_typer(review_app, name="review")
OutArg = Annotated[Path, typer.Argument(help="A build-dataset output folder.")]
ProjectOpt = Annotated[str, Opt("--project", help="Label Studio project name.")]
UrlOpt = Annotated[str, Opt("--url", help="Label Studio server.")]
TokenOpt = Annotated[str | None, Opt("--token", help="API token (default: "
                                                      "$LABEL_STUDIO_API_KEY).")]


def _review_client(url: str, token: str | None):
    from geoscribe.review.client import LabelStudio

    return LabelStudio(url, token)


@review_app.command("push")
def review_push(
    out: OutArg, project: ProjectOpt,
    sample: Annotated[int | None, Opt(help="Push a sample of N records (default: all).")] = None,
    stratify: Annotated[str | None, Opt(help="Stratify the sample by class, split, score or "
                                             "generator.")] = None,
    seed: Annotated[int, Opt(help="Seed of the sample.")] = 0,
    document_root: Annotated[Path | None, Opt(help="The server's LOCAL_FILES_DOCUMENT_ROOT "
                                                   "(default: that variable); chips go to "
                                                   "DOCROOT/files/geoscribe-PROJECT.")] = None,
    url: UrlOpt = "http://127.0.0.1:8080", token: TokenOpt = None,
) -> None:
    """Push OUT's records (or a sample) as tasks with their generated content pre-filled."""
    from geoscribe.review.push import PushOptions, push

    done = push(out, _review_client(url, token),
                PushOptions(project, sample, stratify, seed, document_root))
    typer.echo(f"project {project!r} ({done['kind']}): {done['pushed']} tasks pushed, "
               f"{done['already_there']} already there ({done['selected']} selected)")


@review_app.command("pull")
def review_pull(out: OutArg, project: ProjectOpt, url: UrlOpt = "http://127.0.0.1:8080",
                token: TokenOpt = None) -> None:
    """Apply the project's annotations to OUT: corrections written, rejects removed."""
    from geoscribe.review.pull import pull

    stats, done = pull(out, _review_client(url, token), project)
    for key, problems in sorted(done["invalid"].items()):
        typer.echo(f"not applied (breaks the record contract): {key}: {problems[0]}", err=True)
    typer.echo(f"pulled {done['tasks']} tasks: {done['accepted']} accepted, {done['corrected']} "
               f"edited, {done['rejected']} rejected now; {len(done['invalid'])} invalid edits "
               f"not applied; {done['boxes_added_not_applied']} added boxes not applied")
    _echo(finish(out, stats))


@review_app.command("status")
def review_status(out: OutArg, project: ProjectOpt, url: UrlOpt = "http://127.0.0.1:8080",
                  token: TokenOpt = None) -> None:
    """Print the project's review progress and the dataset's review counts."""
    from geoscribe.review.status import status_lines

    _echo(status_lines(out, _review_client(url, token), project))


def _run(app: typer.Typer) -> None:
    """Run a typer app: one-line errors (exit 2), usage errors as click prints them (exit 2),
    SIGINT/SIGTERM as one line (exit 130/143), and the commands' own exit codes."""
    for sig in INTERRUPT_SIGNALS:
        signal.signal(sig, _interrupt)
    try:
        code = app(standalone_mode=False)  # a command's typer.Exit code comes back here
    except GeoscribeError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except Interrupted as exc:
        typer.echo(INTERRUPTED, err=True)
        code = exc.exit_code
    except USAGE_ERROR as exc:
        exc.show()
        code = exc.exit_code
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, EOFError):
        code = 1
    finally:  # the run is over: a signal now ends the process as it would any program
        for sig in INTERRUPT_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
    sys.exit(code if isinstance(code, int) else 0)


def build_dataset_main() -> None:
    """Entry point of `build-dataset`."""
    _run(build_app)


def geoscribe_main() -> None:
    """Entry point of `geoscribe`."""
    _run(tools_app)
