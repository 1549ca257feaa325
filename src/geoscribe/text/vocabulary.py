"""prompts/vocabulary.yaml: other names of a class (synonyms, hypernyms), the object nouns of
remote-sensing captions, unverifiable attribute words and words that state nothing. Issue 13."""

from __future__ import annotations

import re
from functools import lru_cache

import yaml

from geoscribe.resources import read_text
from geoscribe.text.templates import plural


@lru_cache(maxsize=1)
def vocabulary() -> dict:
    """The parsed vocabulary file (lists lower-cased)."""
    return yaml.safe_load(read_text("prompts", "vocabulary.yaml"))


def forms(phrase: str) -> list[str]:
    """A phrase, its plural and the plain -s/-es/-ies plurals, lower case, no repeats."""
    phrase = phrase.lower().strip()
    found = [phrase, plural(phrase).lower(), phrase + "s", phrase + "es"]
    if phrase.endswith("y"):
        found.append(phrase[:-1] + "ies")
    return list(dict.fromkeys(f for f in found if f))


def names_of(name: str) -> set[str]:
    """Every phrase that names the class `name`: itself, its synonyms, its hypernyms and its
    last word ("road" for "residential road")."""
    table = vocabulary()
    name = name.lower()
    head = name.split()[-1] if name.split() else name
    names = {name} | ({head} if head not in table["not_heads"] else set())
    names |= set(table["synonyms"].get(name) or ())
    names |= {hyper for hyper, members in table["hypernyms"].items() if name in members}
    return names


@lru_cache(maxsize=1)
def object_nouns() -> frozenset[str]:
    """The object nouns of remote-sensing captions (a text naming an absent one invents it)."""
    return frozenset(vocabulary()["objects"])


@lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    """Every synonym and hypernym in the vocabulary (each names some class)."""
    table = vocabulary()
    names = {s for values in table["synonyms"].values() for s in values}
    return frozenset(names | set(table["hypernyms"]) | set(table["synonyms"]))


@lru_cache(maxsize=1)
def attribute_pattern() -> re.Pattern:
    """Attribute words no fact states ("red", "three-storey": any "-storey" compound)."""
    words = sorted(vocabulary()["attributes"], key=len, reverse=True)
    return re.compile(r"\b(?:[\w]+-)?(" + "|".join(re.escape(w) for w in words) + r")\b"
                      r"(?:\s+[a-z]+)?", re.IGNORECASE)


@lru_cache(maxsize=1)
def neutral_words() -> frozenset[str]:
    """Words that state nothing about a tile ("satellite", "image", "seen")."""
    return frozenset(vocabulary()["neutral"])
