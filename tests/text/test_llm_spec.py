"""text/llm_spec.py: `--llm SPEC` parsing, the public and the connect URL, keys, sampling."""

from __future__ import annotations

import pytest

from geoscribe.errors import InputError
from geoscribe.text.llm_spec import OPENAI_BASE_URL, LLMSettings, LLMSpec, parse_llm_spec


def test_parse_llm_spec_forms():
    assert parse_llm_spec("gpt-4o-mini").is_openai
    assert parse_llm_spec("openai:gpt-4o-mini").model == "gpt-4o-mini"
    local = parse_llm_spec("qwen@http://127.0.0.1:8080/v1/")
    assert (local.model, local.base_url, local.is_openai) == ("qwen", "http://127.0.0.1:8080/v1",
                                                              False)
    for bad in ("", "@http://x", "m@ftp://host", "m@notaurl"):
        with pytest.raises(InputError):
            parse_llm_spec(bad)


def test_openai_api_needs_key_from_environment(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="OPENAI_API_KEY"):
        parse_llm_spec("gpt-4o-mini").api_key()


def test_credentials_reach_only_the_connect_url(monkeypatch):
    """issue 11 tests mirror src: base_url (recorded) is public, client_url keeps what the
    server needs, and secrets() lists the credentials and the key."""
    monkeypatch.setenv("GEOSCRIBE_LLM_API_KEY", "key-abcdef")
    spec = parse_llm_spec(" qwen @ http://me:pw-1234@host:8/v1/?token=tok-5678 ")
    assert spec.model == "qwen"
    assert spec.base_url == "http://host:8/v1"
    assert spec.client_url == "http://me:pw-1234@host:8/v1/?token=tok-5678"
    assert spec.model_id == "qwen@http://host:8/v1"
    assert {"pw-1234", "tok-5678", "key-abcdef"} <= set(spec.secrets())
    assert "pw-1234" not in repr(spec)
    assert spec == LLMSpec("qwen", "http://host:8/v1", False)  # connect_url not compared


def test_openai_base_url_redirects_the_openai_api(monkeypatch):
    """issue 11 tests mirror src: MODEL alone uses OPENAI_BASE_URL when it is set."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert parse_llm_spec("gpt-4o-mini").base_url == OPENAI_BASE_URL
    monkeypatch.setenv("OPENAI_BASE_URL", "https://u:p-9999@proxy.example/v1?sig=s-1")
    spec = parse_llm_spec("gpt-4o-mini")
    assert (spec.base_url, spec.is_openai, spec.model_id) == (
        "https://proxy.example/v1", True, "gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-1")
    assert spec.api_key() == "sk-1"


def test_local_server_key_is_optional(monkeypatch):
    """issue 11 tests mirror src: GEOSCRIBE_LLM_API_KEY, else OPENAI_API_KEY, else a dummy."""
    monkeypatch.delenv("GEOSCRIBE_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = parse_llm_spec("m@http://127.0.0.1:1/v1")
    assert spec.api_key() == "not-needed"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-2")
    assert spec.api_key() == "sk-2"
    monkeypatch.setenv("GEOSCRIBE_LLM_API_KEY", "g-3")
    assert spec.api_key() == "g-3"


def test_bad_url_error_shows_no_credentials():
    """issue 11 tests mirror src: the error line names the URL in its public form."""
    with pytest.raises(InputError) as err:
        parse_llm_spec("m@ftp://me:pw-4321@host/v1")
    assert "pw-4321" not in str(err.value) and "ftp://host/v1" in str(err.value)


def test_sampling_is_what_the_cache_key_hashes():
    """issue 11 tests mirror src: only sampling fields are sent with every request."""
    settings = LLMSettings(spec=LLMSpec("m"), temperature=0.7, seed=3, concurrency=9)
    assert settings.sampling() == {"temperature": 0.7, "top_p": 1.0, "max_tokens": 300,
                                   "seed": 3}
