"""report_card.py: the Hub dataset card from stats.json and the records (issue 15)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from huggingface_hub import DatasetCard

from geoscribe.errors import InputError
from geoscribe.recipes import RECIPES
from geoscribe.report import write_dataset_card, write_report
from geoscribe.report_card import check_licenses, hub_license, size_category
from geoscribe.resources import read_text

# the Hub's task category of each kind of recipe, as the issue lists them
EXPECTED_TASKS = {"captions": "image-to-text", "qa": "visual-question-answering",
                  "grounding": "object-detection", "classification": "image-classification"}


def header_of(text: str) -> dict:
    return yaml.safe_load(text.split("---")[1])


def stats_for(recipe: str, **extra) -> dict:
    return {"recipe": recipe, "samples": 5, "samples_by_split": {"train": 5},
            "region": {"description": "1,2,3,4", "bounds_wgs84": [1, 2, 3, 4]},
            "licenses": [["CC-BY-4.0", "Someone"]],
            "sources": [{"kind": "imagery", "uri": "a.tif", "license": "CC-BY-4.0",
                         "attribution": "Someone", "acquired": "2021-05-01"}], **extra}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_task_categories_follow_the_recipe(tmp_path, recipe):
    """issue 15: task_categories/task_ids by recipe (not image-to-text for all): captions ->
    image-to-text, QA -> visual-question-answering, geochat-like -> object-detection,
    landcover-cls -> image-classification; the card parses with huggingface_hub."""
    text = write_dataset_card(tmp_path, stats_for(recipe)).read_text()
    header = header_of(text)
    spec = RECIPES[recipe]
    if spec.name.endswith("-qa") or spec.name.startswith("rsvqa"):
        kind = "qa"
    elif "grounded" in spec.description:
        kind = "grounding"
    elif spec.name.endswith("-cls"):
        kind = "classification"
    else:
        kind = "captions"
    assert EXPECTED_TASKS[kind] in header["task_categories"]
    if kind != "captions":
        assert "image-to-text" not in header["task_categories"]
    assert DatasetCard(text).data.task_categories == header["task_categories"]
    assert header["annotations_creators"] == ["machine-generated"]


def test_size_categories_are_hub_values():
    """issue 15: every size maps to one of the Hub's size_categories."""
    assert [size_category(n) for n in (0, 999, 1000, 999_999, 1_000_000, 2_000_000,
                                       10_000_000, 3_000_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "1M<n<10M", "1M<n<10M", "10M<n<100M",
        "1B<n<10B"]


def test_licenses_map_to_hub_ids():
    """issue 15: one license -> its Hub id (ODbL -> odbl); several -> other, named."""
    assert hub_license(["CC-BY-SA-4.0"]) == ("cc-by-sa-4.0", None)
    assert hub_license(["ODbL-1.0"]) == ("odbl", None)
    assert hub_license(["CC-BY-4.0", "ODbL-1.0"]) == ("other", "cc-by-4.0-and-odbl")
    assert hub_license(["unknown", "ODbL-1.0"]) == ("unknown", None)


def test_odbl_text_only_when_osm_is_an_input(tmp_path):
    """issue 15: the ODbL paragraph appears only when OSM data went in."""
    plain = write_dataset_card(tmp_path, stats_for("skyscript-like")).read_text()
    assert "Open Database License" not in plain and "openstreetmap" not in header_of(plain)[
        "tags"]
    osm = stats_for("skyscript-like")
    osm["sources"].append({"kind": "osm", "uri": "x.osm.pbf", "license": "ODbL-1.0",
                           "attribution": "© OpenStreetMap contributors", "acquired": None})
    text = write_dataset_card(tmp_path, osm).read_text()
    assert "Open Database License" in text and "openstreetmap" in header_of(text)["tags"]
    assert header_of(text)["license"] == "other"


def test_review_block_sets_creators_and_acceptance(tmp_path):
    """issue 15 (contract with issue 14's review pull): stats.json's `review` makes the card
    say it was reviewed, with the measured acceptance rate and its Wilson interval, and
    annotations_creators expert-generated (plus machine-generated)."""
    review = {"project": "p1", "reviewed": 12, "accepted": 9, "edited": 2, "rejected": 1,
              "acceptance_rate": 0.75, "acceptance_wilson95": [0.4677, 0.9111],
              "mean_caption_edit_distance": 3.5,
              "by_recipe": {"skyscript-like": {"reviewed": 12, "accepted": 9, "edited": 2,
                                               "rejected": 1, "acceptance_rate": 0.75,
                                               "acceptance_wilson95": [0.4677, 0.9111],
                                               "mean_caption_edit_distance": 3.5}},
              "by_generator": {"template": {"reviewed": 4, "accepted": 1, "edited": 0,
                                            "rejected": 3, "acceptance_rate": 0.25,
                                            "acceptance_wilson95": [0.0456, 0.6994],
                                            "mean_caption_edit_distance": None}}}
    (tmp_path / "stats.json").write_text(json.dumps(stats_for("skyscript-like",
                                                              review=review)))
    stats = json.loads((tmp_path / "stats.json").read_text())
    text = write_dataset_card(tmp_path, stats).read_text()
    assert header_of(text)["annotations_creators"] == ["expert-generated",
                                                       "machine-generated"]
    assert "75.0 % (95 % Wilson interval 46.8–91.1 %)" in text
    assert "12\nrecords reviewed, 9 accepted, 2 edited,\n1 rejected" in text
    assert "project `p1`" in text
    # per recipe and per generator: counts, rate with its interval, mean edit distance
    assert ("| skyscript-like | 12 | 9 | 2 | 1 | 75.0 % (95 % Wilson interval 46.8–91.1 %)"
            " | 3.5 |") in text
    assert "| template | 4 | 1 | 0 | 3 | 25.0 % (95 % Wilson interval 4.6–69.9 %) | — |" in text
    unreviewed = write_dataset_card(tmp_path, {**stats, "review": {**review, "reviewed": 0}})
    assert header_of(unreviewed.read_text())["annotations_creators"] == ["machine-generated"]


def test_card_records_options_sources_schema_and_citation(built, tmp_path):
    """issue 15: a real build's card lists its options (from stats.json), every input with
    its license and attribution, pretty_name/language, the citation; record.schema.json is
    written beside it; and `report` twice gives the same bytes."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    (out / "README.md").unlink()
    (out / "record.schema.json").unlink()
    stats = json.loads((out / "stats.json").read_text())
    write_report(out, stats)
    text = (out / "README.md").read_text()
    header = header_of(text)
    assert header["pretty_name"] and header["language"] == ["en"]
    assert (out / "record.schema.json").read_text() == read_text("schemas",
                                                                 "record.schema.json")
    assert "chip_size: 128" in text and "split_block_deg: 0.0015" in text
    assert str(tmp_path) not in text and "/root" not in text  # no machine paths
    for row in stats["sources"]:
        assert f"`{row['uri']}`" in text
    assert "```bibtex" in text
    before = {p.name: p.read_bytes() for p in [out / "README.md", out / "preview.html",
                                               *(out / "report").glob("*.png")]}
    write_report(out, json.loads((out / "stats.json").read_text()))
    assert before == {p.name: p.read_bytes() for p in [out / "README.md", out / "preview.html",
                                                       *(out / "report").glob("*.png")]}


def test_unknown_license_refused_naming_every_input():
    """issue 15: check_licenses names the input without a license; the override passes."""
    stats = stats_for("skyscript-like")
    stats["sources"] += [{"kind": "labels", "uri": "l.geojson", "license": "unknown"},
                         {"kind": "imagery", "uri": "b.tif", "license": "unknown"}]
    with pytest.raises(InputError, match=r"^l\.geojson: no license known .*; also b\.tif$"):
        check_licenses(stats, allow_unknown_license=False)
    check_licenses(stats, allow_unknown_license=True)
