"""Validate records against schemas/record.schema.json before anything is written.

The schema is JSON Schema draft-07. A compiled validator (fastjsonschema) answers valid/invalid
quickly; only an invalid record is re-checked with jsonschema to list every violation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

import fastjsonschema

from geoscribe.recipes import RECIPES
from geoscribe.resources import read_text


@lru_cache(maxsize=4)
def _schema(name: str) -> dict:
    return json.loads(read_text("schemas", name))


@lru_cache(maxsize=4)
def record_validator(name: str = "record.schema.json"):
    """A jsonschema validator for a packaged schema (used to explain failures)."""
    import jsonschema  # only needed to explain an invalid record

    schema = _schema(name)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@lru_cache(maxsize=4)
def _fast_validator(name: str) -> Callable[[dict], object]:
    return fastjsonschema.compile(_schema(name))


def _focus_errors(record: dict) -> list[str]:
    """Object-centred recipes have exactly one focus feature; others have none."""
    features = record.get("features")
    if not isinstance(features, list):
        return []
    focus = sum(1 for f in features if isinstance(f, dict) and f.get("focus") is True)
    recipe = record.get("recipe")
    spec = RECIPES.get(recipe) if isinstance(recipe, str) else None
    wanted = 1 if spec is not None and spec.focus else 0
    if focus == wanted:
        return []
    return [f"features: {record.get('recipe')} records need {wanted} focus feature(s), "
            f"got {focus}"]


def _answer_errors(record: dict) -> list[str]:
    """A counting answer's text is its number's decimal text (issue 12: answers are text, the
    typed value lies beside them)."""
    qa = record.get("qa")
    if not isinstance(qa, list):
        return []
    return [f"qa/{i}/answer: {item.get('answer')!r} is not the text of answer_number "
            f"{item['answer_number']!r}"
            for i, item in enumerate(qa) if isinstance(item, dict)
            and item.get("answer_number") is not None
            and item.get("answer") != str(item["answer_number"])]


def record_errors(record: dict, name: str = "record.schema.json") -> list[str]:
    """All schema violations of a record, as 'path: message' strings (empty when valid)."""
    try:
        _fast_validator(name)(record)
    except fastjsonschema.JsonSchemaException:
        errors = sorted(record_validator(name).iter_errors(record), key=lambda e: list(e.path))
        messages = [f"{'/'.join(str(p) for p in e.path) or '<record>'}: {e.message}"
                    for e in errors]
        return (messages or ["<record>: invalid"]) + _focus_errors(record) + _answer_errors(record)
    return _focus_errors(record) + _answer_errors(record)
def key_errors(record: dict) -> list[str]:
    """Checks a JSON Schema cannot express: the key contract and the caption/txt identity."""
    errors = []
    if "." in str(record.get("id", "")):
        errors.append("id: keys must not contain dots")
    texts = record.get("texts") or {}
    if not str(texts.get("caption", "")).strip():
        errors.append("texts/caption: empty caption")
    return errors
