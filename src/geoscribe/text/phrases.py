"""Turn OSM-style tags into readable phrases (`man_made=water_tower` -> "water tower")."""

from __future__ import annotations

from dataclasses import dataclass

from geoscribe.text.tag_policy import TagPolicy, phrase_table
from geoscribe.text.templates import singular, with_article


def readable(value: str) -> str:
    """Make a tag value readable: underscores to spaces, `;` lists to 'a and b'."""
    parts = [p.strip().replace("_", " ") for p in str(value).split(";") if p.strip()]
    return " and ".join(parts)


@dataclass(frozen=True)
class FeaturePhrase:
    """The words for one feature: what it is, and what else its tags say about it."""

    noun: str
    attributes: tuple[str, ...]


def object_phrase(key: str, value: str) -> str:
    """Phrase naming one object from its primary tag, always singular (`amenity=toilets` ->
    "toilet"): templates add the article or the plural."""
    table = phrase_table()["primary"].get(key, {"default": "{value}"})
    if value == "yes":
        phrase = table.get("yes") or readable(key)
    else:
        phrase = table.get(value)
        if phrase is None:
            phrase = table.get("default", "{value}").format(value=readable(value))
    return singular(phrase)


def attribute_phrases(tags: dict[str, str], skip_key: str | None) -> tuple[str, ...]:
    """Phrases for the descriptive tags that have a template, in template order."""
    templates: dict[str, str] = phrase_table()["attributes"]
    singular: dict[str, str] = phrase_table().get("singular", {})
    phrases = []
    for key, template in templates.items():
        if key == skip_key or key not in tags:
            continue
        value = tags[key]
        if value in ("no", "yes"):
            continue
        if value == "1" and key in singular:
            template = singular[key]
        phrase = template.format(value=readable(value))
        if phrase.startswith("a "):  # "a {value} surface" with value=asphalt: "an asphalt ..."
            phrase = with_article(phrase[2:])
        phrases.append(phrase)
    return tuple(phrases)


def describe(tags: dict[str, str], policy: TagPolicy) -> FeaturePhrase | None:
    """Describe a feature from its kept tags; None if no primary tag names it."""
    key = policy.primary_key(tags)
    if key is None:
        return None
    return FeaturePhrase(object_phrase(key, tags[key]), attribute_phrases(tags, key))
