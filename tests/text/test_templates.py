"""Caption templates: id and sha256, articles, plurals, joins, and captions built from tags."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest

from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import load_tag_policy
from geoscribe.text.templates import (
    count_others,
    counted,
    join_and,
    load_caption_template,
    plural,
    with_article,
)

TEMPLATE = "skyscript_caption_v1.j2"
FIXED_WORDS = {"a", "an", "satellite", "image", "of", "with", "and", "also", "visible"}


@pytest.fixture(scope="module")
def policy():
    return load_tag_policy()


def test_template_id_and_sha256():
    raw = resources.files("geoscribe").joinpath("prompts", "captions", TEMPLATE).read_bytes()
    template = load_caption_template(TEMPLATE)
    assert template.sha256 == hashlib.sha256(raw).hexdigest()
    declared = re.search(rb"template_id:\s*(\S+)", raw).group(1).decode()
    assert template.template_id == declared
    assert re.fullmatch(r"[a-z0-9-]+@v\d+", template.template_id)


def test_unknown_template_fails():
    with pytest.raises(FileNotFoundError):
        load_caption_template("no_such_template.j2")


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [("house", "a house"), ("apartment building", "an apartment building"),
     ("orchard", "an orchard"), ("runway", "a runway"), ("Industrial area", "an Industrial area"),
     ("umbrella", "an umbrella")],
)
def test_with_article(phrase, expected):
    assert with_article(phrase) == expected


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [("house", "houses"), ("bus", "buses"), ("box", "boxes"), ("church", "churches"),
     ("bush", "bushes"), ("factory", "factories"), ("bay", "bays"),
     ("row of trees", "rows of trees"), ("row of garages", "rows of garages"),
     ("residential road", "residential roads")],
)
def test_plural(phrase, expected):
    assert plural(phrase) == expected


def test_counted_and_join():
    assert counted({"phrase": "house", "count": 1}) == "a house"
    assert counted({"phrase": "apartment building", "count": 1}) == "an apartment building"
    assert counted({"phrase": "tree", "count": 3}) == "3 trees"
    assert counted({"phrase": "church", "count": 2}) == "2 churches"
    assert join_and([]) == ""
    assert join_and(["a"]) == "a"
    assert join_and(["a", "b"]) == "a and b"
    assert join_and(["a", "b", "c"]) == "a, b and c"


def test_count_others_orders_and_limits():
    got = count_others(["tree", "house", "tree", "pond", "house", "tree"], limit=2)
    assert got == [{"phrase": "tree", "count": 3}, {"phrase": "house", "count": 2}]
    assert count_others([], limit=5) == []


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _caption(policy, focus_tags, other_tags):
    template = load_caption_template(TEMPLATE)
    focus = describe(policy.keep(focus_tags), policy)
    others = [describe(policy.keep(t), policy) for t in other_tags]
    groups = count_others([o.noun for o in others if o is not None], limit=5)
    text = template.render(focus=focus.noun, focus_attributes=list(focus.attributes),
                           others=groups)
    allowed = FIXED_WORDS | _words(focus.noun) | set().union(*map(_words, focus.attributes))
    for group in groups:
        allowed |= _words(group["phrase"]) | _words(plural(group["phrase"]))
        allowed.add(str(group["count"]))
    return text, allowed


def test_caption_for_a_road(policy):
    text, allowed = _caption(
        policy, {"highway": "residential", "lanes": "1", "surface": "asphalt",
                 "name": "Elm Street", "tiger:county": "Alachua, FL"},
        [{"building": "house"}, {"building": "house"}, {"building": "apartments"},
         {"natural": "tree"}],
    )
    assert text == ("A satellite image of a residential road with an asphalt surface and 1 lane;"
                    " also visible: 2 houses, an apartment building and a tree.")
    assert _words(text) <= allowed
    assert "elm" not in _words(text) and "alachua" not in _words(text)


def test_caption_words_come_from_tags(policy):
    text, allowed = _caption(
        policy,
        {"man_made": "water_tower", "name": "North Tower", "source": "survey",
         "opening_hours": "24/7", "wikidata": "Q42"},
        [],
    )
    assert text == "A satellite image of a water tower."
    assert _words(text) <= allowed
    for word in ("north", "survey", "24", "q42", "with", "surface", "lanes", "levels", "also"):
        assert word not in _words(text)


def test_caption_building_yes_and_levels(policy):
    text, allowed = _caption(policy, {"building": "yes", "building:levels": "1",
                                      "addr:housenumber": "12"}, [{"highway": "service"}])
    assert text == "A satellite image of a building with 1 level; also visible: a service road."
    assert _words(text) <= allowed
    assert "12" not in _words(text)


def test_caption_has_no_attribute_absent_from_tags(policy):
    text, _ = _caption(policy, {"building": "house"}, [])
    assert text == "A satellite image of a house."
    for attribute_word in ("surface", "roof", "levels", "lanes", "lane", "walls", "with"):
        assert attribute_word not in _words(text)


THREADED_PLURALS = """
import threading
import time
import typeguard  # already imported in a build (as here): the first plural's import is short
from geoscribe.text.templates import plural

got, errors = [], []

def work(delay):
    time.sleep(delay)  # staggered: some threads arrive while the first is importing
    try:
        got.append(plural("house"))
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=work, args=(i * 0.002,)) for i in range(40)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(errors or sorted(set(got)))
"""


def test_first_plurals_from_many_threads_at_once():
    """issue 13 (the LLM stage's request threads): threads that make their first plural at
    the same time all get inflect's engine; none sees the module half imported."""
    import subprocess
    import sys

    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", THREADED_PLURALS], capture_output=True,
                              text=True, timeout=120, check=True)
        assert done.stdout.strip() == "['houses']"
