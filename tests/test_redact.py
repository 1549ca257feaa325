"""redact.py: the public form of URLs, the secrets they hold, masked texts, public names."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from geoscribe import redact
from geoscribe.redact import (
    MASK,
    PublicNames,
    public_llm,
    public_url,
    redact_text,
    url_parts,
    url_secrets,
)


@pytest.mark.parametrize(("url", "public"), [
    ("http://user:pass@127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ("http://user:p@ss@host:1/v1", "http://host:1/v1"),
    ("http://us%40er:p%40ss@host/v1", "http://host/v1"),
    ("http://user:pa/ss@host:1/v1", "http://host:1/v1"),
    ("https://host/v1?token=abc&api_key=def#frag", "https://host/v1"),
    ("http://host/v1?sig=x&model=y", "http://host/v1"),
    ("http://u:p@[::1]:8080/v1?key=k", "http://[::1]:8080/v1"),
    ("http://[fe80::1%25eth0]:9/v1", "http://[fe80::1%25eth0]:9/v1"),
    ("user:pass@host:8080/v1", "host:8080/v1"),
    ("host:8080/v1?token=t", "host:8080/v1"),
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
])
def test_public_url_drops_user_info_query_and_fragment(url, public):
    """issue 10 case 1: the stored form of a URL."""
    assert public_url(url) == public


def test_url_secrets_are_what_public_url_drops():
    """issue 10 case 1: the parts masked out of error lines."""
    secrets = url_secrets("http://us%40er:p@ss@host/v1?token=t0k&sig=s1g#fr4g")
    assert {"us%40er", "p@ss", "t0k", "s1g", "fr4g"} <= set(secrets)
    assert url_secrets("http://host:8/v1") == []


def test_redact_text_masks_urls_and_secrets_in_any_encoding():
    """issue 10 case 1: error lines quoting a URL or a secret."""
    secret = "p@ss word"
    text = f"cannot reach http://u:{quote(secret)}@h/v1?token=t0ken ({secret}; {quote(secret)})"
    out = redact_text(text, [secret])
    assert out == "cannot reach http://h/v1 (***; ***)"


def test_url_parts_is_public_url_and_url_secrets_from_one_parse(monkeypatch):
    """issue 11 mends: one parse gives both forms, and public_llm parses the URL once."""
    url = "https://me:pw-secret@host:9/v1?token=t0k#f"
    assert url_parts(url) == (public_url(url), url_secrets(url))
    assert url_parts(url) == ("https://host:9/v1",
                              ["me:pw-secret", "me", "pw-secret", "token=t0k", "t0k", "f"])
    calls = []
    real = redact._split
    monkeypatch.setattr(redact, "_split", lambda u: calls.append(u) or real(u))
    assert public_llm(f"qwen@{url}") == "qwen@https://host:9/v1"
    assert calls.count(url) == 1  # (redact_text then scans the public text for URLs)


def test_public_llm_keeps_a_bare_model_and_masks_a_secret_in_the_model_part():
    """issue 11 mends: MODEL alone is kept; a secret of the URL written again is masked."""
    assert public_llm("qwen2.5-0.5b") == "qwen2.5-0.5b"
    assert public_llm("tok-12345@http://host/v1?key=tok-12345") == f"{MASK}@http://host/v1"


def test_redact_text_keeps_short_secrets():
    """issue 11 mends: secrets under 4 characters would mask ordinary words."""
    assert redact_text("pw abc", ["abc"]) == "pw abc"
    assert redact_text("pw abcd", ["abcd"]) == f"pw {MASK}"


def test_public_names_rename_paths_reasons_and_mappings():
    """issue 11 mends: real input paths become their public names, longest path first."""
    names = PublicNames({"/cache/a.tif": "registry:a", "/cache/a.tif.aux": "registry:aux",
                         "same.tif": "same.tif"})
    assert names.text("read /cache/a.tif.aux and /cache/a.tif") == \
        "read registry:aux and registry:a"
    assert names.reason("read_error:/cache/a.tif") == "read_error:registry:a"
    assert names.reason("read_error:/other.tif") == "read_error:/other.tif"
    assert names.reason("no_mask") == "no_mask"
    assert names.mapping({"/cache/a.tif": "at /cache/a.tif", "x": 3}) == \
        {"registry:a": "at registry:a", "x": 3}
