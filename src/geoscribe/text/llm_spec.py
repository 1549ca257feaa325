"""`--llm SPEC` and the LLM settings of a run (endpoint, sampling, limits, cost)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from geoscribe.errors import InputError
from geoscribe.redact import public_llm, public_url, url_secrets

OPENAI_BASE_URL = "https://api.openai.com/v1"
JSON_MODES = ("auto", "json_schema", "json_object", "prompt")


@dataclass(frozen=True)
class LLMSpec:
    """Which model on which OpenAI-compatible endpoint. The API key is never stored here.

    `base_url` is the public form of the endpoint (no user-info, no query; the one recorded
    and printed); `connect_url`, the URL as given, only reaches the HTTP client."""

    model: str
    base_url: str = OPENAI_BASE_URL
    openai_api: bool = True  # MODEL without @BASE_URL: the OpenAI API (or OPENAI_BASE_URL)
    connect_url: str = field(default="", repr=False, compare=False)

    @classmethod
    def from_url(cls, model: str, url: str, openai_api: bool) -> LLMSpec:
        """A spec for the endpoint `url` as given (credentials kept for connecting only)."""
        url = url.strip().rstrip("/")
        return cls(model, public_url(url).rstrip("/"), openai_api, connect_url=url)

    @property
    def client_url(self) -> str:
        """The URL the HTTP client connects to (may hold credentials: never store it)."""
        return self.connect_url or self.base_url

    def secrets(self) -> list[str]:
        """What must never appear in an output: the URL's credentials and the API key."""
        return [*url_secrets(self.client_url), self.api_key()]

    @property
    def is_openai(self) -> bool:
        return self.openai_api

    @property
    def model_id(self) -> str:
        return self.model if self.is_openai else f"{self.model}@{self.base_url}"

    def api_key(self) -> str:
        """The key from the environment: OPENAI_API_KEY for the OpenAI API (required);
        GEOSCRIBE_LLM_API_KEY or OPENAI_API_KEY for other servers (optional)."""
        if self.is_openai:
            key = os.environ.get("OPENAI_API_KEY")
            if not key:
                raise InputError(f"--llm {self.model}", "the OpenAI API needs OPENAI_API_KEY "
                                 "in the environment (or give MODEL@BASE_URL for a local "
                                 "server)")
            return key
        return (os.environ.get("GEOSCRIBE_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
                or "not-needed")


def parse_llm_spec(text: str) -> LLMSpec:
    """`MODEL` or `openai:MODEL` (the OpenAI API) or `MODEL@http://host:port/v1` (a vLLM,
    llama.cpp, Ollama or other OpenAI-compatible server)."""
    text = text.strip()
    if not text:
        raise InputError("--llm", "empty; give MODEL (OpenAI) or MODEL@BASE_URL")
    model, sep, url = text.partition("@")
    model = model.removeprefix("openai:").strip()
    what = f"--llm {public_llm(text)}"
    if not model:
        raise InputError(what, "no model name before '@'")
    if not sep:  # the OpenAI API; OPENAI_BASE_URL (the openai client's variable) may redirect it
        return LLMSpec.from_url(model, os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL,
                                openai_api=True)
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(what, f"{public_url(url)!r} is not an http(s) base URL, e.g. "
                         "http://127.0.0.1:8080/v1")
    return LLMSpec.from_url(model, url, openai_api=False)


@dataclass(frozen=True)
class LLMSettings:
    """How requests are made. Sampling fields change outputs; the rest only speed/cost."""

    spec: LLMSpec
    temperature: float = 0.2
    top_p: float = 1.0
    max_tokens: int = 300
    seed: int = 0
    rewrites: int = 2
    max_words: int = 80
    json_mode: str = "auto"
    repairs: int = 2
    concurrency: int = 4
    rpm: int | None = None
    tpm: int | None = None
    max_retries: int = 5
    timeout_s: float = 60.0
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    price_in_per_m: float | None = None
    price_out_per_m: float | None = None
    cache_path: str | None = None
    extra: dict = field(default_factory=dict)

    def sampling(self) -> dict:
        """The parameters sent with every request (and hashed into the cache key)."""
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "seed": self.seed}
