"""Tag values to phrases: object nouns, attributes, singular forms, articles."""

from __future__ import annotations

import pytest

from geoscribe.text.phrases import attribute_phrases, describe, object_phrase, readable
from geoscribe.text.tag_policy import load_tag_policy


@pytest.fixture(scope="module")
def policy():
    return load_tag_policy()


def test_readable():
    assert readable("water_tower") == "water tower"
    assert readable("grass;sand") == "grass and sand"
    assert readable(" a ; b_c ;") == "a and b c"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("man_made", "water_tower", "water tower"), ("building", "yes", "building"),
     ("building", "apartments", "apartment building"), ("building", "office", "office building"),
     ("highway", "residential", "residential road"), ("highway", "bus_stop", "bus stop"),
     ("landuse", "industrial", "industrial area"), ("power", "tower", "power tower"),
     ("shop", "bakery", "bakery shop"), ("bridge", "yes", "bridge"),
     ("amenity", "yes", "amenity"), ("unknown_key", "some_thing", "some thing")],
)
def test_object_phrase(key, value, expected):
    assert object_phrase(key, value) == expected


def test_lanes_singular_and_plural():
    assert attribute_phrases({"lanes": "1"}, None) == ("1 lane",)
    assert attribute_phrases({"lanes": "4"}, None) == ("4 lanes",)
    assert attribute_phrases({"building:levels": "1"}, None) == ("1 level",)
    assert attribute_phrases({"building:levels": "12"}, None) == ("12 levels",)


def test_attributes_only_from_templated_tags():
    tags = {"surface": "gravel", "oneway": "yes", "width": "5", "lit": "yes", "covered": "no",
            "roof:shape": "flat"}
    assert attribute_phrases(tags, None) == ("a gravel surface", "a flat roof")
    # the primary key is never repeated as an attribute; yes/no values are not phrased
    assert attribute_phrases({"surface": "asphalt"}, "surface") == ()
    assert attribute_phrases({"surface": "no"}, None) == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("asphalt", "an asphalt surface"), ("unpaved", "an unpaved surface"),
     ("paved", "a paved surface"), ("concrete", "a concrete surface")],
)
def test_attribute_articles(value, expected):
    assert attribute_phrases({"surface": value}, None) == (expected,)


def test_roof_articles():
    assert attribute_phrases({"roof:shape": "onion"}, None) == ("an onion roof",)
    assert attribute_phrases({"roof:shape": "hipped"}, None) == ("a hipped roof",)


def test_describe(policy):
    tags = policy.keep({"building": "yes", "amenity": "school", "building:levels": "3",
                        "name": "Central School", "addr:street": "Main"})
    phrase = describe(tags, policy)
    assert phrase is not None
    assert phrase.noun == "school"
    assert phrase.attributes == ("3 levels",)
    road = describe({"highway": "residential", "lanes": "1", "surface": "asphalt"}, policy)
    assert road.noun == "residential road"
    assert set(road.attributes) == {"an asphalt surface", "1 lane"}
    assert describe({"surface": "asphalt"}, policy) is None
    assert describe({}, policy) is None
