"""The Hub dataset card (OUT/README.md): YAML header built as data, prose from
data_cards/dataset_card.md.j2, both filled from the run's stats and one scan of its records
(issue 15). Same inputs, same bytes."""

from __future__ import annotations

from pathlib import Path

import yaml

from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.region import SPLITS
from geoscribe.report_scan import Scan
from geoscribe.resources import read_text

SCHEMA_FILE = "record.schema.json"
# the Hub's size_categories values (upper bounds)
HUB_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
             (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
             (1_000_000_000, "100M<n<1B"), (10_000_000_000, "1B<n<10B"),
             (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
# SPDX ids whose Hub license id is not the lowercased SPDX id
HUB_LICENSE_IDS = {"ODbL-1.0": "odbl", "PDDL-1.0": "pddl", "ODC-By-1.0": "odc-by"}
UNKNOWN_LICENSES = {"", "unknown", "none", "noassertion"}
OSM_LICENSE = "ODbL-1.0"
LIMITATIONS = (
    "Labels come from OpenStreetMap or the given label files, not from the pixels: objects "
    "mapped after (or demolished before) the image was taken, misregistration between vectors "
    "and imagery, and unmapped objects all end up in the texts and boxes.",
    "Texts are machine-generated from those labels (templates, or an LLM checked against the "
    "computed facts); they describe what is mapped, not everything that is visible.",
    "Splits are made by spatial blocks; a small region gives small or empty val/test splits.",
    "Image statistics (colours, GSD) follow the input imagery only; the dataset does not "
    "cover other sensors, seasons or regions.",
)


def size_category(n: int) -> str:
    """The Hub's size category of a dataset of `n` samples."""
    return next((name for limit, name in HUB_SIZES if n < limit), "n>1T")


def unknown_license_inputs(stats: dict) -> list[str]:
    """The inputs (public names) whose license is missing or unknown."""
    return [row["uri"] for row in stats.get("sources") or ()
            if str(row.get("license") or "").lower() in UNKNOWN_LICENSES]


def licenses_of(stats: dict) -> list[str]:
    """The distinct licenses of the run's inputs, sorted."""
    rows = stats.get("sources")
    if rows:
        return sorted({str(row.get("license") or "unknown") for row in rows})
    return sorted({str(item[0]) for item in stats.get("licenses") or ()})


def hub_license(licenses: list[str]) -> tuple[str, str | None]:
    """(Hub `license`, `license_name` for `other`): the Hub id of the one license, `unknown`
    when one is unknown, else `other` named after all of them."""
    if not licenses or any(lic.lower() in UNKNOWN_LICENSES for lic in licenses):
        return "unknown", None
    if len(licenses) == 1:
        return HUB_LICENSE_IDS.get(licenses[0], licenses[0].lower()), None
    return "other", "-and-".join(HUB_LICENSE_IDS.get(lic, lic.lower()) for lic in licenses)


def has_osm(stats: dict) -> bool:
    """Whether OpenStreetMap data went into the dataset (an OSM input or an ODbL license)."""
    rows = stats.get("sources") or ()
    return (any(row.get("kind") == "osm" for row in rows)
            or OSM_LICENSE in licenses_of(stats))


def reviewed(stats: dict) -> int:
    """How many records a person reviewed (the `review` block of a review pull)."""
    review = stats.get("review")
    return int(review.get("reviewed") or 0) if isinstance(review, dict) else 0


def card_yaml(stats: dict, image_ext: str | None) -> dict:
    """The card's YAML header, as data."""
    recipe = stats.get("recipe", "geoscribe")
    spec = RECIPES.get(recipe)
    license_id, license_name = hub_license(licenses_of(stats))
    header: dict = {"pretty_name": pretty_name(stats), "language": ["en"],
                    "license": license_id}
    if license_name:
        header["license_name"] = license_name
    header.update({
        "annotations_creators": (["expert-generated", "machine-generated"] if reviewed(stats)
                                 else ["machine-generated"]),
        "language_creators": ["machine-generated"],
        "multilinguality": ["monolingual"],
        "size_categories": [size_category(int(stats.get("samples", 0)))],
        "source_datasets": ["original"],
        "task_categories": list(spec.task_categories) if spec else ["image-to-text"],
        "task_ids": list(spec.task_ids) if spec else [],
        "tags": ["remote-sensing", "geoscribe", recipe, *(spec.hub_tags if spec else ()),
                 *(["openstreetmap"] if has_osm(stats) else [])],
    })
    if image_ext:
        header["dataset_info"] = {"features": [
            {"name": "__key__", "dtype": "string"}, {"name": "__url__", "dtype": "string"},
            {"name": "json", "dtype": "json"}, {"name": image_ext, "dtype": "image"},
            {"name": "txt", "dtype": "string"}]}
    by_split = stats.get("samples_by_split") or {}
    header["configs"] = [{"config_name": "default", "data_files": [
        {"split": split, "path": f"data/{split}-*.tar"} for split in SPLITS
        if by_split.get(split)]}]
    return header


def pretty_name(stats: dict) -> str:
    """A short human title: recipe and region."""
    region = (stats.get("region") or {}).get("description") or "?"
    return f"geoscribe {stats.get('recipe', 'dataset')}: {region}"[:100]


def options_yaml(stats: dict) -> str:
    """The build options recorded in stats.json, as a YAML block (keys sorted)."""
    options = stats.get("options")
    if not options:
        return ""
    return yaml.safe_dump(options, sort_keys=True, default_flow_style=None,
                          allow_unicode=True).strip()


def wilson_text(review: dict) -> str:
    """`83.3 % (95 % Wilson interval 61.2–94.2 %)` of a review block."""
    rate = review.get("acceptance_rate")
    if rate is None:
        return "n/a"
    lo, hi = (review.get("acceptance_wilson95") or (None, None))[:2]
    interval = (f" (95 % Wilson interval {100 * lo:.1f}–{100 * hi:.1f} %)"
                if lo is not None and hi is not None else "")
    return f"{100 * rate:.1f} %{interval}"


def card_context(out: Path, stats: dict, scan: Scan, plots: list[str],
                 allow_unknown_license: bool) -> dict:
    """Everything the prose template reads."""
    recipe = stats.get("recipe", "?")
    spec = RECIPES.get(recipe)
    by_split = stats.get("samples_by_split") or {}
    options = stats.get("options") or {}
    review = stats.get("review") if isinstance(stats.get("review"), dict) else None
    qa_types = dict(sorted(scan.qa_types.items())) or stats.get("qa_types") or {}
    return {
        "title": pretty_name(stats), "recipe": recipe,
        "description": spec.description if spec else "", "version":
            stats.get("geoscribe_version"), "samples": stats.get("samples", 0),
        "samples_by_split": {s: by_split.get(s, 0) for s in SPLITS},
        "region": stats.get("region") or {}, "imagery": (stats.get("inputs") or {}).get(
            "imagery") or [], "sources": stats.get("sources") or [],
        "licenses": [tuple(item) for item in stats.get("licenses") or ()],
        "unknown": unknown_license_inputs(stats), "allow_unknown": allow_unknown_license,
        "osm": has_osm(stats), "options": options_yaml(stats), "split_options": {
            k: options.get(k) for k in ("split_block_deg", "split_fractions", "seed",
                                        "split_guard") if k in options},
        "generators": [(*row, n) for row, n in sorted(scan.generators.items())],
        "llm": stats.get("llm"), "filters": stats.get("filters"),
        "clip_min_score": options.get("clip_min_score"),
        "clip_keep_fraction": options.get("clip_keep_fraction"),
        "skipped": stats.get("skipped") or {}, "qa_types": qa_types,
        "qa_total": sum(qa_types.values()), "review": review,
        "acceptance": wilson_text(review) if review else "", "wilson_text": wilson_text,
        "plots": plots,
        "schema_fields": schema_fields(), "limitations": LIMITATIONS,
        "citation_key": f"geoscribe_{recipe.replace('-', '_')}",
    }


def schema_fields() -> list[tuple[str, str]]:
    """(field, description) of the record schema's top-level properties."""
    import json

    schema = json.loads(read_text("schemas", SCHEMA_FILE))
    required = set(schema.get("required") or ())
    return [(name, ("required; " if name in required else "") + str(
        prop.get("description") or prop.get("type") or ""))
            for name, prop in (schema.get("properties") or {}).items()]


def write_schema(out: Path) -> Path:
    """Copy the packaged record schema to OUT/record.schema.json (the card points to it)."""
    path = out / SCHEMA_FILE
    path.write_text(read_text("schemas", SCHEMA_FILE), encoding="utf-8")
    return path


def render_card(out: Path, stats: dict, scan: Scan, plots: list[str], image_ext: str | None,
                allow_unknown_license: bool = False) -> str:
    """The card's text: YAML header, then the prose."""
    import jinja2

    header = yaml.safe_dump(card_yaml(stats, image_ext), sort_keys=False, allow_unicode=True)
    template = jinja2.Environment(autoescape=False, keep_trailing_newline=True,
                                  trim_blocks=True, lstrip_blocks=True).from_string(
        read_text("data_cards", "dataset_card.md.j2"))
    body = template.render(**card_context(out, stats, scan, plots, allow_unknown_license))
    return f"---\n{header}---\n\n{body.lstrip()}"


def write_card(out: Path, stats: dict, scan: Scan, plots: list[str], image_ext: str | None,
               allow_unknown_license: bool = False) -> Path:
    """Write OUT/README.md and OUT/record.schema.json; return the card's path."""
    write_schema(out)
    path = out / "README.md"
    path.write_text(render_card(out, stats, scan, plots, image_ext, allow_unknown_license),
                    encoding="utf-8")
    return path


def check_licenses(stats: dict, allow_unknown_license: bool) -> None:
    """Refuse to publish a dataset with an input whose license is unknown (naming it)."""
    unknown = unknown_license_inputs(stats)
    if not stats.get("sources"):
        unknown = [] if "unknown" not in licenses_of(stats) else ["an input (see stats.json)"]
    if unknown and not allow_unknown_license:
        raise InputError(unknown[0], "no license known for this input (give "
                         "--imagery-license/--labels-license when building, or publish with "
                         "--allow-unknown-license)" + (f"; also {', '.join(unknown[1:])}"
                                                       if len(unknown) > 1 else ""))
