"""Locate package data (prompts/, schemas/, data_cards/) through importlib.resources."""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.resources.abc import Traversable


def package_data(*parts: str) -> Traversable:
    """Return a Traversable for a file shipped inside the installed package."""
    node = resources.files("geoscribe")
    for part in parts:
        node = node.joinpath(part)
    if not node.is_file() and not node.is_dir():
        raise FileNotFoundError(f"package data missing: geoscribe/{'/'.join(parts)}")
    return node


def read_text(*parts: str) -> str:
    """Read a package data file as UTF-8 text."""
    return package_data(*parts).read_text(encoding="utf-8")


def sha256_text(text: str) -> str:
    """Hex sha256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
