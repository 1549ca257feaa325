"""Keep the visually groundable tags of a feature (deny/allow lists from package data)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from geoscribe.errors import InputError
from geoscribe.resources import read_text, sha256_text

_VALUE_CHARS = re.compile(r"[\w .,;:/+'()#-]+")
# OSM value shapes (documented in prompts/tag_policy.yaml); ASCII only, whatever the locale.
_WORD = r"[a-z0-9]+(?:[_:][a-z0-9]+)*"
_NUMBER = r"-?[0-9]+(?:[.,][0-9]+)?(?: ?(?:mm|cm|m|km|ft|mi|nmi|t))?|[0-9]+'(?:[0-9]+\")?"
_HEX = r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})"
_LATIN = r"[A-Z][a-z]+(?: [a-z]+(?:-[a-z]+)?){0,2}"


def _list_of(item: str) -> re.Pattern:
    return re.compile(rf"(?:{item})(?:; ?(?:{item}))*", re.ASCII)


SHAPES = {"number": _list_of(_NUMBER), "colour": _list_of(f"{_WORD}|{_NUMBER}|{_HEX}"),
          "latin": _list_of(_LATIN), "word": _list_of(f"{_WORD}|{_NUMBER}")}
_WORDS = re.compile(r"[a-z0-9]+")
_UNSEEN = object()
_MAX_REMEMBERED = 100_000  # (key, value) pairs whose drop reason is remembered
# libyaml's parser where PyYAML has it: the same documents, ~9x faster (each ingest and each
# worker loads the policy)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str):
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)


@dataclass(frozen=True)
class TagPolicy:
    """Deny/allow lists deciding which tags are kept, and which keys name an object."""

    deny_keys: frozenset[str]
    deny_prefixes: tuple[str, ...]
    primary_keys: tuple[str, ...]
    attribute_keys: frozenset[str]
    sha256: str
    max_value_chars: int = 40
    max_value_words: int = 4
    number_keys: frozenset[str] = frozenset()
    colour_keys: frozenset[str] = frozenset()
    latin_keys: frozenset[str] = frozenset()
    instruction_words: frozenset[str] = frozenset()
    vocabulary: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    def is_free_text(self, value: str) -> bool:
        """A value that reads like a sentence, not a tag value: long, wordy or with characters
        tag values don't use. Such text is untrusted (anyone can write it) and says nothing
        visible, so it is never kept — it never reaches a template or an LLM prompt."""
        return (len(value) > self.max_value_chars
                or len(re.split(r"[\s_]+", value)) > self.max_value_words
                or _VALUE_CHARS.fullmatch(value) is None)

    def is_trusted(self, key: str, value: str) -> bool:
        """A value from the known vocabulary: listed in tag_phrases.yaml for this key, or of
        the key's OSM value shape (ASCII) with no instruction word in it."""
        if value in self.vocabulary.get(key, ()):
            return True
        shape = ("number" if key in self.number_keys else "colour" if key in self.colour_keys
                 else "latin" if key in self.latin_keys else "word")
        if SHAPES[shape].fullmatch(value) is None:
            return False
        return self.instruction_words.isdisjoint(_WORDS.findall(value.lower()))

    def drop_reason(self, key: str, value: str) -> str | None:
        """Why a value of a kept key is dropped (free text, untrusted), or None to keep it."""
        if self.is_free_text(value):
            return "free_text_tag_value"
        if not self.is_trusted(key, value):
            return "untrusted_tag_value"
        return None

    def keep(self, tags: Mapping[str, str] | Iterable[tuple[str, str]],
             dropped: list[str] | None = None) -> dict[str, str]:
        """Return only the kept tags (non-empty values, not denied, primary or attribute,
        trusted: not free text, of a known value shape); the reason of each groundable tag
        dropped for its value (`free_text_tag_value`, `untrusted_tag_value`) is appended to
        `dropped`. `tags` is a dict or (key, value) pairs (e.g. straight from osmium)."""
        kept = {}
        allowed, reasons = self._allowed_keys, self._reasons
        pairs = (tags if isinstance(tags, list)  # osmium's pairs: no ABC check per feature
                 else tags.items() if isinstance(tags, Mapping) else tags)
        for key, value in pairs:
            if key not in allowed:  # most keys: one set lookup
                continue
            value = str(value).strip()
            if not value:
                continue
            reason = reasons.get((key, value), _UNSEEN)
            if reason is _UNSEEN:  # tag values repeat (building=yes): each pair judged once
                if len(reasons) >= _MAX_REMEMBERED:
                    reasons.clear()
                reason = reasons[(key, value)] = self.drop_reason(key, value)
            if reason is None:
                kept[key] = value
            elif dropped is not None:
                dropped.append(reason)
        return kept

    def groundable_pairs(self, pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """The (key, value) pairs whose key `keep` may keep, in order: `keep` and the counts
        it appends depend on these alone (the tag lists of an input then recur far more)."""
        allowed = self._allowed_keys
        return tuple([pair for pair in pairs if pair[0] in allowed])

    @cached_property
    def _reasons(self) -> dict[tuple[str, str], str | None]:  # drop_reason of pairs seen
        return {}

    @property
    def allowed_keys(self) -> frozenset[str]:
        """The keys `keep` may keep (groundable, not denied): tags with other keys never count."""
        return self._allowed_keys

    @cached_property
    def _allowed_keys(self) -> frozenset[str]:  # groundable and not denied: asked for every tag
        groundable = frozenset(self.primary_keys) | self.attribute_keys
        return frozenset(key for key in groundable if key not in self.deny_keys
                         and not key.startswith(self.deny_prefixes))

    @cached_property
    def _primary_rank(self) -> dict[str, int]:  # each primary key's place in primary_keys
        rank: dict[str, int] = {}
        for place, key in enumerate(self.primary_keys):
            rank.setdefault(key, place)
        return rank

    def primary_key(self, tags: dict[str, str]) -> str | None:
        """The first primary key present (the one that names the object), or None."""
        if len(tags) < len(self.primary_keys):  # few tags (as kept): the best-placed one
            rank, best = self._primary_rank, None
            for key, value in tags.items():
                place = rank.get(key)
                if place is not None and value and value != "no" and (best is None
                                                                        or place < best):
                    best = place
            return None if best is None else self.primary_keys[best]
        for key in self.primary_keys:
            value = tags.get(key)
            if value and value != "no":
                return key
        return None


@lru_cache(maxsize=1)
def phrase_table() -> dict:
    """prompts/tag_phrases.yaml: how tags become words (and which values are vocabulary)."""
    return _load_yaml(read_text("prompts", "tag_phrases.yaml"))


def phrase_vocabulary() -> dict[str, frozenset[str]]:
    """Per primary key, the values tag_phrases.yaml names (always trusted)."""
    return {key: frozenset(v for v in values if isinstance(v, str) and v != "default")
            for key, values in phrase_table()["primary"].items()}


@lru_cache(maxsize=1)
def _packaged_policy() -> dict:
    return _load_yaml(read_text("prompts", "tag_policy.yaml"))


def _value_lists(data: dict) -> dict[str, frozenset[str]]:
    """The value-shape key lists and instruction words (the packaged ones where left out)."""
    names = ("number_keys", "colour_keys", "latin_keys", "instruction_words")
    return {name: frozenset(str(v).lower() if name == "instruction_words" else str(v)
                            for v in (data[name] if name in data else _packaged_policy()[name]))
            for name in names}


def load_tag_policy(path: Path | None = None) -> TagPolicy:
    """Load the tag policy from a user file or the packaged `prompts/tag_policy.yaml`."""
    if path is None:
        text = read_text("prompts", "tag_policy.yaml")
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--tag-policy {path}", f"cannot read: {exc.strerror}") from None
    try:
        data = _load_yaml(text)
        return TagPolicy(
            deny_keys=frozenset(data.get("deny_keys", [])),
            deny_prefixes=tuple(data.get("deny_prefixes", [])),
            primary_keys=tuple(data["primary_keys"]),
            attribute_keys=frozenset(data.get("attribute_keys", [])),
            sha256=sha256_text(text),
            max_value_chars=int(data.get("max_value_chars", 40)),
            max_value_words=int(data.get("max_value_words", 4)),
            vocabulary=phrase_vocabulary(),
            **_value_lists(data),
        )
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"tag policy {path or 'package'}", f"invalid ({exc})") from None
