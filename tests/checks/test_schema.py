"""The record schema (schemas/record.schema.json) and the checks it cannot express."""

from __future__ import annotations

import copy

import pytest

from geoscribe.checks.schema import key_errors, record_errors


def _feature(focus: bool) -> dict:
    return {"source": "osm", "osm_type": "way", "osm_id": 42, "tags": {"building": "yes"},
            "bbox_px": [10.0, 10.0, 50.0, 60.0], "focus": focus}


@pytest.fixture()
def record() -> dict:
    return {
        "id": "x-11531y3613_w42",
        "recipe": "skyscript-like",
        "split": "train",
        "chip": {"bbox_wgs84": [24.9, 60.1, 24.91, 60.11], "crs": "EPSG:32635",
                 "transform": [0.5, 0.0, 385000.0, 0.0, -0.5, 6670000.0], "gsd_m": 0.5,
                 "width": 256, "height": 256},
        "image": {"source": "local", "uri": "file:///data/a.tif", "acquired": None,
                  "license": "CC-BY-4.0"},
        "features": [_feature(True), _feature(False)],
        "texts": {"caption": "A satellite image of a building."},
        "generator": {"kind": "template", "template_id": "skyscript-caption@v1",
                      "prompt_sha256": "0" * 64},
        "scores": {"clip": None},
        "review": {"status": "unreviewed"},
        "provenance": {"sources": [{"kind": "osm", "uri": "file:///x.osm.pbf",
                                    "license": "ODbL-1.0"}],
                       "licenses": ["ODbL-1.0"], "geoscribe_version": "0.1.0"},
    }


def test_valid_record_passes(record):
    assert record_errors(record) == []
    assert key_errors(record) == []


@pytest.mark.parametrize(
    "field",
    ["id", "recipe", "split", "chip", "image", "features", "texts", "generator", "scores",
     "review", "provenance"],
)
def test_missing_required_field(record, field):
    del record[field]
    errors = record_errors(record)
    assert errors
    assert any(field in e for e in errors)


def test_dotted_id(record):
    record["id"] = "cell.1_w42"
    assert record_errors(record)  # the schema pattern
    assert key_errors(record) == ["id: keys must not contain dots"]


def test_two_focus_features(record):
    record["features"] = [_feature(True), _feature(True)]
    assert record_errors(record)


def test_no_focus_feature(record):
    record["features"] = [_feature(False)]
    assert record_errors(record)


@pytest.mark.parametrize("split", ["training", "dev", "", None])
def test_bad_split(record, split):
    record["split"] = split
    errors = record_errors(record)
    assert errors and all(e.startswith("split") for e in errors)


@pytest.mark.parametrize(
    ("path", "value"),
    [(("chip", "bbox_wgs84"), [200.0, 0.0, 1.0, 1.0]), (("chip", "gsd_m"), 0),
     (("chip", "transform"), [1, 2, 3]), (("generator", "prompt_sha256"), "abc"),
     (("review", "status"), "maybe"), (("texts", "caption"), ""),
     (("provenance", "licenses"), [])],
)
def test_bad_nested_values(record, path, value):
    target = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    errors = record_errors(record)
    assert errors
    assert any(e.startswith("/".join(path)) for e in errors)


def test_generator_needs_template_or_model(record):
    del record["generator"]["template_id"]
    assert record_errors(record)
    with_model = copy.deepcopy(record)
    with_model["generator"]["model"] = "some-llm"
    assert record_errors(with_model) == []


def test_empty_caption_key_error(record):
    record["texts"]["caption"] = "   "
    assert key_errors(record) == ["texts/caption: empty caption"]


@pytest.mark.parametrize("endpoint", ["http://user:pass@127.0.0.1:8080/v1",
                                      "http://127.0.0.1:8080/v1?token=abc",
                                      "http://127.0.0.1:8080/v1#sig"])
def test_endpoint_with_credentials_is_invalid(record, endpoint):
    """issue 10 case 1: `geoscribe validate` flags an endpoint that would publish credentials."""
    record["generator"]["endpoint"] = "http://127.0.0.1:8080/v1"
    assert record_errors(record) == []
    record["generator"]["endpoint"] = endpoint
    assert any(e.startswith("generator/endpoint:") for e in record_errors(record))
