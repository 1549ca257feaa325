"""resources.py: package data through importlib.resources, and the text hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import geoscribe
from geoscribe.resources import package_data, read_text, sha256_text


def test_read_text_is_the_installed_file():
    """issue 11 tests mirror src: the same bytes as the file next to the installed package."""
    schema = Path(geoscribe.__file__).parent / "schemas" / "record.schema.json"
    assert read_text("schemas", "record.schema.json") == schema.read_text(encoding="utf-8")
    assert package_data("schemas").is_dir()


def test_missing_package_data_is_named():
    """issue 11 tests mirror src: a missing file names its package path."""
    with pytest.raises(FileNotFoundError, match="geoscribe/schemas/nope.json"):
        package_data("schemas", "nope.json")


def test_sha256_text_hashes_utf8():
    """issue 11 tests mirror src: hex sha256 of the UTF-8 bytes."""
    assert sha256_text("å") == hashlib.sha256(b"\xc3\xa5").hexdigest()
