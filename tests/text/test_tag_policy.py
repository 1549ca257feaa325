"""The packaged tag policy: denied keys, kept keys, primary-key priority, user policy files."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest
import yaml

from geoscribe.errors import InputError
from geoscribe.text.tag_policy import load_tag_policy


@pytest.fixture(scope="module")
def policy():
    return load_tag_policy()


def _packaged_text(*parts: str) -> str:
    node = resources.files("geoscribe")
    for part in parts:
        node = node.joinpath(part)
    return node.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "key",
    ["name", "name:fi", "addr:street", "addr:housenumber", "source", "source:geometry", "ref",
     "tiger:county", "wikidata", "wikipedia", "opening_hours", "operator", "layer",
     "contact:phone", "old_name"],
)
def test_denied_keys_are_dropped(policy, key):
    kept = policy.keep({"building": "yes", key: "something"})
    assert kept == {"building": "yes"}


def test_keep_primary_and_attribute_keys_only(policy):
    tags = {"building": "house", "building:levels": "2", "roof:shape": "gabled",
            "lanes": "1", "surface": "asphalt", "lit": "yes", "colour": "red",
            "highway": "residential", "name": "Main Street"}
    kept = policy.keep(tags)
    assert kept == {"building": "house", "building:levels": "2", "roof:shape": "gabled",
                    "lanes": "1", "surface": "asphalt", "highway": "residential"}


def test_keep_strips_and_drops_empty_values(policy):
    assert policy.keep({"building": "  yes ", "surface": "", "lanes": "   "}) == {
        "building": "yes"}


def test_primary_key_priority(policy):
    assert policy.primary_key({"building": "yes", "amenity": "school"}) == "amenity"
    assert policy.primary_key({"highway": "service", "bridge": "yes"}) == "bridge"
    assert policy.primary_key({"landuse": "grass", "leisure": "park"}) == "landuse"
    assert policy.primary_key({"building": "no", "man_made": "water_tower"}) == "man_made"
    assert policy.primary_key({"surface": "asphalt", "lanes": "2"}) is None
    assert policy.primary_key({}) is None


def test_policy_matches_packaged_yaml(policy):
    text = _packaged_text("prompts", "tag_policy.yaml")
    data = yaml.safe_load(text)
    assert policy.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert policy.primary_keys == tuple(data["primary_keys"])
    assert policy.deny_keys == frozenset(data["deny_keys"])
    # every primary key is kept, and none of them is denied
    for key in policy.primary_keys:
        assert policy.keep({key: "x"}) == {key: "x"}


def test_user_policy_file(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("deny_keys: [colour]\nprimary_keys: [craft, building]\n"
                    "attribute_keys: [colour, height]\n")
    policy = load_tag_policy(path)
    assert policy.keep({"building": "yes", "colour": "red", "height": "12", "name": "x"}) == {
        "building": "yes", "height": "12"}
    assert policy.primary_key({"building": "yes", "craft": "brewery"}) == "craft"
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_policy_files(tmp_path):
    with pytest.raises(InputError) as info:
        load_tag_policy(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(info.value)
    no_primary = tmp_path / "bad.yaml"
    no_primary.write_text("deny_keys: [name]\n")
    with pytest.raises(InputError):
        load_tag_policy(no_primary)
    broken = tmp_path / "broken.yaml"
    broken.write_text("primary_keys: [unclosed\n")
    with pytest.raises(InputError):
        load_tag_policy(broken)
