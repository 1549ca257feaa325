"""Chat completions through the `openai` client against any OpenAI-compatible endpoint:
structured output, cache, rate limits, retries with jittered backoff and Retry-After."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from geoscribe.redact import redact_text
from geoscribe.text.llm_cache import ResponseCache, request_key
from geoscribe.text.llm_spec import LLMSettings
from geoscribe.text.rate_limit import RateLimiter

DOWNGRADE = {"json_schema": "json_object", "json_object": "prompt"}


class LLMError(Exception):
    """A request that failed for good (after retries); `reason` is a short stats key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    content: str
    usage: dict
    cached: bool


LENGTH_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems")


def portable_schema(schema):
    """The schema without length keywords, which OpenAI's strict mode has refused; replies are
    validated against the full schema anyway."""
    if isinstance(schema, dict):
        return {k: portable_schema(v) for k, v in schema.items() if k not in LENGTH_KEYWORDS}
    if isinstance(schema, list):
        return [portable_schema(v) for v in schema]
    return schema


def response_format(mode: str, schema: dict, name: str, openai_api: bool) -> dict | None:
    """The `response_format` of a structured-output mode (None: schema only in the prompt)."""
    if mode == "json_schema":
        sent = portable_schema(schema) if openai_api else schema
        return {"type": "json_schema",
                "json_schema": {"name": name, "schema": sent, "strict": True}}
    if mode == "json_object":  # llama.cpp/llama-cpp-python constrain to a schema given here
        return {"type": "json_object"} if openai_api else {"type": "json_object",
                                                            "schema": schema}
    return None


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """Thread-safe: many request threads share one client, cache, limiter and counters."""

    def __init__(self, settings: LLMSettings, cache_path: Path | None,
                 limiter: RateLimiter | None = None, sleep=time.sleep) -> None:
        import openai

        self.openai = openai
        self.settings = settings
        self.spec = settings.spec
        self.client = openai.OpenAI(base_url=self.spec.client_url, api_key=self.spec.api_key(),
                                    max_retries=0, timeout=settings.timeout_s)
        self.secrets = self.spec.secrets()  # masked out of every message kept
        self.cache = ResponseCache(cache_path) if cache_path is not None else None
        self.limiter = limiter or RateLimiter(settings.rpm, settings.tpm)
        self.mode = "json_schema" if settings.json_mode == "auto" else settings.json_mode
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        self._sleep = sleep

    def _count(self, **values: int) -> None:
        with self._lock:
            self.counters.update(values)

    def chat(self, messages: list[dict], schema: dict, name: str = "reply") -> Reply:
        """One reply to `messages`, from the cache when this exact request was made before."""
        params = {**self.settings.sampling(), "json_mode": self.settings.json_mode,
                  "schema": schema}
        key = request_key(self.spec.base_url, self.spec.model, messages, params)
        while True:
            if self.cache is not None:
                hit = self.cache.get(key)
                if hit is not None:
                    self._count(cache_hits=1)
                    return Reply(hit[0], hit[1], True)
            with self._lock:  # an identical request in flight: wait for its reply
                pending = self._pending.get(key)
                if pending is None:
                    self._pending[key] = threading.Event()
                    break
            pending.wait()
            if self.cache is None:
                break
        try:
            content, usage = self._request(messages, schema, name)
            if self.cache is not None:
                self.cache.put(key, self.spec.model, content, usage)
        finally:
            with self._lock:
                event = self._pending.pop(key, None)
            if event is not None:
                event.set()
        return Reply(content, usage, False)

    def _request(self, messages: list[dict], schema: dict, name: str) -> tuple[str, dict]:
        openai, settings = self.openai, self.settings
        estimate = len(json.dumps(messages)) // 4 + settings.max_tokens
        last = "unknown"
        attempt = 0
        while attempt <= settings.max_retries:
            mode = self.mode
            fmt = response_format(mode, schema, name, self.spec.is_openai)
            waited = self.limiter.acquire(estimate)
            if waited:
                self._count(rate_limited_waits=1)
            self._count(requests=1)
            try:
                kwargs = {"response_format": fmt} if fmt is not None else {}
                response = self.client.chat.completions.create(
                    model=self.spec.model, messages=messages,
                    temperature=settings.temperature, top_p=settings.top_p,
                    max_tokens=settings.max_tokens, seed=settings.seed, **kwargs)
                content = response.choices[0].message.content
                if content is None:
                    raise LLMError("empty_reply")
                usage = response.usage
                tokens = {"prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                          "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}
                self._count(**tokens)
                return content, tokens
            except openai.APIStatusError as exc:
                status = exc.status_code
                refused = status in (400, 422) or "response_format" in str(exc)
                if refused and settings.json_mode == "auto" and mode in DOWNGRADE:
                    # the endpoint refuses this output mode (llama-cpp-python answers a 500
                    # naming response_format): use the next weaker one for the whole run
                    with self._lock:
                        if self.mode == mode:
                            self.mode = DOWNGRADE[mode]
                    self._count(**{f"json_mode_downgraded_to_{DOWNGRADE[mode]}": 1})
                    continue
                if status != 429 and status < 500 and status != 408:
                    raise LLMError(f"http_{status}",
                                   redact_text(str(exc), self.secrets)[:200]) from None
                last = f"http_{status}"
                delay = _retry_after(exc)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                last = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection"
                delay = None
            except LLMError as exc:
                last = exc.reason
                delay = None
            except (openai.APIError, ValueError, KeyError, IndexError, TypeError,
                    AttributeError):  # a reply the client could not read (body not JSON,
                last = "bad_response"  # no choices, ...): retried like a server error
                delay = None
            attempt += 1
            if attempt > settings.max_retries:
                break
            self._count(retries=1, **{f"retry_{last}": 1})
            if delay is None:  # exponential backoff with full jitter
                delay = random.uniform(0, min(settings.max_backoff_s,
                                              settings.backoff_s * 2 ** (attempt - 1)))
            else:
                delay = min(delay, settings.max_backoff_s) + random.uniform(0, 0.1)
            self._sleep(delay)
        self._count(failed_requests=1)
        raise LLMError(f"gave_up_after_{settings.max_retries}_retries", last)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.client.close()


def probe_endpoint(client: LLMClient) -> None:
    """Fail fast, with one line naming --llm, when the endpoint cannot be reached or refuses
    the key (a server without a /models route is accepted)."""
    from geoscribe.errors import InputError

    openai = client.openai
    what = f"--llm {client.spec.model_id}"
    try:
        client.client.with_options(timeout=min(10.0, client.settings.timeout_s),
                                   max_retries=1).models.list()
    except openai.AuthenticationError:
        raise InputError(what, "the endpoint refused the API key") from None
    except openai.NotFoundError:
        return
    except openai.APIStatusError:
        return  # the server answers; request errors are handled per request
    except (openai.APIConnectionError, openai.APITimeoutError):
        raise InputError(what, f"cannot reach {client.spec.base_url}") from None
