"""Caption templates (Jinja, versioned in prompts/); the record stores the id and hash."""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from geoscribe.resources import read_text, sha256_text
from geoscribe.text.tag_policy import phrase_table

_ID_RE = re.compile(r"template_id:\s*(\S+)")
# head words that end in "s" but are singular: inflect would strip the s ("bus" -> "bu")
_SINGULAR_ENDINGS = ("ss", "us", "is", "as", "ics")
_IMPORT_LOCK = threading.Lock()  # the LLM stage's threads: one imports, the others wait


@lru_cache(maxsize=1)
def _inflect():
    """inflect's engine, imported without typeguard's instrumentation of its methods.

    inflect >= 7.2 decorates its methods with typeguard's `@typechecked`, which re-parses the
    module's source at import (1-8 s per process; jaraco/inflect#212). The decorator only
    checks argument types, so it is swapped for a no-op while inflect is first imported.
    """
    with _IMPORT_LOCK:  # a module half imported by another thread has no `engine` yet
        if "inflect" not in sys.modules:
            import typeguard

            checked = typeguard.typechecked
            typeguard.typechecked = lambda func=None, **_: func if func is not None else (
                lambda f: f)
            try:
                import inflect  # noqa: F401
            finally:
                typeguard.typechecked = checked
        return sys.modules["inflect"].engine()


@lru_cache(maxsize=1)
def _grammar() -> dict[str, frozenset[str]]:
    """tag_phrases.yaml's `grammar` lists (uncountable phrases, words that are not plurals)."""
    table = phrase_table().get("grammar") or {}
    return {name: frozenset(table.get(name) or ()) for name in ("uncountable", "not_plural")}


@lru_cache(maxsize=4096)
def singular(phrase: str) -> str:
    """The phrase with its head noun in the singular: "toilets" -> "toilet", "traffic signals"
    -> "traffic signal"; singular, invariant ("series") and uncountable phrases unchanged."""
    found = _inflect().singular_noun(phrase) if phrase.strip() else False
    if not found or found == phrase:
        return phrase
    words, singulars = phrase.split(), found.split()
    if len(words) != len(singulars):
        return phrase
    changed = [w for w, s in zip(words, singulars, strict=True) if w != s]
    singular_s = any(w.lower().endswith(_SINGULAR_ENDINGS) or w.lower() in
                     _grammar()["not_plural"] for w in changed)
    return phrase if singular_s else found


def countable(phrase: str) -> str:
    """A phrase that can take an article and a number: singular, and an uncountable one as
    "area of ..." ("farmland" -> "area of farmland")."""
    phrase = singular(phrase)
    return f"area of {phrase}" if phrase.lower() in _grammar()["uncountable"] else phrase


@lru_cache(maxsize=4096)
def with_article(phrase: str, adjective: str = "") -> str:
    """'a house', 'an apartment building', 'a university', 'an area of farmland'; with an
    adjective: 'an elongated building', 'a small area of farmland'."""
    return _inflect().a(f"{adjective} {countable(phrase)}".strip())


@lru_cache(maxsize=4096)
def plural(phrase: str) -> str:
    """English plural of a phrase (inflect): 'houses', 'rows of trees', 'buses'; a phrase
    already plural is pluralised from its singular ("steps" -> "steps", never "stepses")."""
    return _inflect().plural_noun(countable(phrase))


def count_phrase(count: int, phrase: str) -> str:
    """'1 house', '2 houses', '0 houses' (number and noun agree)."""
    return f"{count} {countable(phrase) if count == 1 else plural(phrase)}"


def counted(item: dict) -> str:
    """'a house' or '3 houses'."""
    count = item["count"]
    return with_article(item["phrase"]) if count == 1 else count_phrase(count, item["phrase"])


def join_and(items) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class CaptionTemplate:
    """A loaded template with its id and the sha256 of its source."""

    template_id: str
    sha256: str
    template: jinja2.Template

    def render(self, **data) -> str:
        text = self.template.render(**data).strip()
        text = re.sub(r"\s+", " ", text)
        return text[:1].upper() + text[1:]


@lru_cache(maxsize=16)
def load_wording(*parts: str) -> tuple[str, str, dict[str, str]]:
    """(template_id, sha256, phrases) of a versioned YAML wording file in the package data."""
    import yaml

    text = read_text(*parts)
    match = _ID_RE.search(text)
    if not match:
        raise ValueError(f"{'/'.join(parts)} declares no template_id")
    return match.group(1), sha256_text(text), yaml.safe_load(text)


@lru_cache(maxsize=8)
def load_caption_template(name: str = "skyscript_caption_v1.j2") -> CaptionTemplate:
    """Load a caption template from the packaged prompts/captions folder."""
    source = read_text("prompts", "captions", name)
    match = _ID_RE.search(source)
    if not match:
        raise ValueError(f"prompts/captions/{name} declares no template_id")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    env.filters.update(with_article=with_article, counted=counted, join_and=join_and)
    return CaptionTemplate(match.group(1), sha256_text(source), env.from_string(source))


def count_others(phrases: list[str], limit: int) -> list[dict]:
    """Group phrases of visible features, most frequent first, at most `limit` groups."""
    counts = Counter(phrases)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"phrase": p, "count": c} for p, c in ordered[:limit]]
