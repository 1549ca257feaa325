"""Validate records against schemas/record.schema.json before anything is written."""

from __future__ import annotations

import json
from functools import lru_cache

import jsonschema

from geoscribe.resources import read_text


@lru_cache(maxsize=4)
def record_validator(name: str = "record.schema.json") -> jsonschema.protocols.Validator:
    """A compiled validator for a packaged schema."""
    schema = json.loads(read_text("schemas", name))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def record_errors(record: dict, name: str = "record.schema.json") -> list[str]:
    """All schema violations of a record, as 'path: message' strings (empty when valid)."""
    errors = sorted(record_validator(name).iter_errors(record), key=lambda e: list(e.path))
    return [f"{'/'.join(str(p) for p in e.path) or '<record>'}: {e.message}" for e in errors]


def key_errors(record: dict) -> list[str]:
    """Checks a JSON Schema cannot express: the key contract and the caption/txt identity."""
    errors = []
    if "." in str(record.get("id", "")):
        errors.append("id: keys must not contain dots")
    texts = record.get("texts") or {}
    if not str(texts.get("caption", "")).strip():
        errors.append("texts/caption: empty caption")
    return errors
