"""Keep the visually groundable tags of a feature (deny/allow lists from package data)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from geoscribe.errors import InputError
from geoscribe.resources import read_text, sha256_text

_VALUE_CHARS = re.compile(r"[\w .,;:/+'()#-]+")


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

    def is_free_text(self, value: str) -> bool:
        """A value that reads like a sentence, not a tag value: long, wordy or with characters
        tag values don't use. Such text is untrusted (anyone can write it) and says nothing
        visible, so it is never kept — it never reaches a template or an LLM prompt."""
        return (len(value) > self.max_value_chars
                or len(re.split(r"[\s_]+", value)) > self.max_value_words
                or _VALUE_CHARS.fullmatch(value) is None)

    def keep(self, tags: dict[str, str], dropped: list[str] | None = None) -> dict[str, str]:
        """Return only the kept tags (non-empty values, not denied, primary or attribute, not
        free text); keys dropped as free text are appended to `dropped`."""
        kept = {}
        for key, value in tags.items():
            value = str(value).strip()
            if not value or key in self.deny_keys or key.startswith(self.deny_prefixes):
                continue
            if self.is_free_text(value):
                if dropped is not None and (key in self.attribute_keys
                                            or key in self._primary_set):
                    dropped.append(key)
                continue
            if key in self.attribute_keys or key in self._primary_set:
                kept[key] = value
        return kept

    @property
    def _primary_set(self) -> frozenset[str]:
        return frozenset(self.primary_keys)

    def primary_key(self, tags: dict[str, str]) -> str | None:
        """The first primary key present (the one that names the object), or None."""
        for key in self.primary_keys:
            value = tags.get(key)
            if value and value != "no":
                return key
        return None


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
        data = yaml.safe_load(text)
        return TagPolicy(
            deny_keys=frozenset(data.get("deny_keys", [])),
            deny_prefixes=tuple(data.get("deny_prefixes", [])),
            primary_keys=tuple(data["primary_keys"]),
            attribute_keys=frozenset(data.get("attribute_keys", [])),
            sha256=sha256_text(text),
            max_value_chars=int(data.get("max_value_chars", 40)),
            max_value_words=int(data.get("max_value_words", 4)),
        )
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"tag policy {path or 'package'}", f"invalid ({exc})") from None
