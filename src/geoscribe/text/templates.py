"""Caption templates (Jinja, versioned in prompts/); the record stores the id and hash."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from geoscribe.resources import read_text, sha256_text

_ID_RE = re.compile(r"template_id:\s*(\S+)")
_IRREGULAR_PLURALS = {"row of garages": "rows of garages", "row of trees": "rows of trees"}


def with_article(phrase: str) -> str:
    """'a house', 'an apartment building'."""
    article = "an" if phrase[:1].lower() in "aeiou" else "a"
    return f"{article} {phrase}"


def plural(phrase: str) -> str:
    """Naive English plural of the last word (enough for tag phrases)."""
    if phrase in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[phrase]
    if phrase.endswith(("s", "x", "ch", "sh")):
        return phrase + "es"
    if phrase.endswith("y") and phrase[-2:-1] not in "aeiou":
        return phrase[:-1] + "ies"
    return phrase + "s"


def counted(item: dict) -> str:
    """'a house' or '3 houses'."""
    count = item["count"]
    return with_article(item["phrase"]) if count == 1 else f"{count} {plural(item['phrase'])}"


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
