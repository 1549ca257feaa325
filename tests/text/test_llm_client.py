"""The LLM client through the real `openai` library against the fault-injecting server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from geoscribe.errors import InputError
from geoscribe.text.llm_client import LLMClient, LLMError, probe_endpoint
from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec
from geoscribe.text.llm_tasks import reply_schema
from llm_fake import FakeLLM

SCHEMA = reply_schema(1, 500)
MESSAGES = [{"role": "system", "content": "You caption images."},
            {"role": "user", "content": 'DATA:\n{"caption": "A house."}\n'
                                        'Reply with JSON only: {"caption": "...", '
                                        '"rewrites": ["..."]}'}]


@pytest.fixture
def fake():
    server = FakeLLM()
    yield server
    server.close()


def client_for(fake, tmp_path, **kw) -> LLMClient:
    settings = LLMSettings(spec=parse_llm_spec(f"fake-model@{fake.base_url}"), backoff_s=0.01,
                           **kw)
    return LLMClient(settings, tmp_path / "cache.sqlite")


def test_429_is_retried_after_retry_after_seconds(fake, tmp_path):
    fake.script = [{"status": 429, "headers": {"Retry-After": "1"}}]
    client = client_for(fake, tmp_path)
    reply = client.chat(MESSAGES, SCHEMA)
    assert json.loads(reply.content)["caption"] == "A house."
    first, second = fake.requests
    assert second["time"] - first["time"] >= 1.0  # Retry-After honoured
    assert client.counters["retries"] == 1 and client.counters["retry_http_429"] == 1


def test_500_and_timeouts_are_retried(fake, tmp_path):
    fake.script = [{"status": 500}, {"status": 503}, {"delay": 1.5}]
    client = client_for(fake, tmp_path, timeout_s=0.5)
    reply = client.chat(MESSAGES, SCHEMA)
    assert json.loads(reply.content)["caption"] == "A house."
    assert client.counters["retry_http_500"] == 1
    assert client.counters["retry_http_503"] == 1
    assert client.counters["retry_timeout"] == 1
    assert len(fake.requests) == 4


def test_gives_up_after_max_retries(fake, tmp_path):
    fake.script = [{"status": 500}] * 3
    client = client_for(fake, tmp_path, max_retries=2)
    with pytest.raises(LLMError) as info:
        client.chat(MESSAGES, SCHEMA)
    assert info.value.reason == "gave_up_after_2_retries"
    assert len(fake.requests) == 3
    assert client.cache is not None and len(client.cache) == 0  # failures are not cached


def test_client_errors_are_not_retried(fake, tmp_path):
    fake.script = [{"status": 401, "message": "bad key"}]
    client = client_for(fake, tmp_path, json_mode="json_schema")
    with pytest.raises(LLMError, match="http_401"):
        client.chat(MESSAGES, SCHEMA)
    assert len(fake.requests) == 1


def test_json_schema_output_requested_with_the_schema(fake, tmp_path):
    client = client_for(fake, tmp_path)
    client.chat(MESSAGES, SCHEMA, name="caption")
    fmt = fake.requests[0]["body"]["response_format"]
    assert fmt == {"type": "json_schema",
                   "json_schema": {"name": "caption", "schema": SCHEMA, "strict": True}}


def test_auto_mode_falls_back_when_the_endpoint_refuses_json_schema(tmp_path):
    server = FakeLLM(refuse_formats=("json_schema",))
    try:
        client = client_for(server, tmp_path)
        client.chat(MESSAGES, SCHEMA)
        formats = [r["body"]["response_format"]["type"] for r in server.requests]
        assert formats == ["json_schema", "json_object"]
        assert server.requests[1]["body"]["response_format"]["schema"] == SCHEMA
        assert client.mode == "json_object"
    finally:
        server.close()


def test_cache_makes_a_rerun_issue_zero_requests(fake, tmp_path):
    client = client_for(fake, tmp_path)
    first = client.chat(MESSAGES, SCHEMA)
    client.close()
    again = client_for(fake, tmp_path)
    second = again.chat(MESSAGES, SCHEMA)
    assert len(fake.requests) == 1
    assert second.cached and second.content == first.content
    assert again.counters["requests"] == 0 and again.counters["cache_hits"] == 1
    other = again.chat(MESSAGES, reply_schema(2, 500))  # other parameters: a new request
    assert not other.cached and len(fake.requests) == 2


def test_concurrency_is_what_the_pool_allows_and_usage_is_counted(tmp_path):
    server = FakeLLM(delay=0.2)
    try:
        client = client_for(server, tmp_path)
        messages = [[MESSAGES[0], {"role": "user", "content": MESSAGES[1]["content"]
                                   .replace("A house.", f"House {i}.")}] for i in range(12)]
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda m: client.chat(m, SCHEMA), messages))
        assert server.max_in_flight == 4
        assert len({r.content for r in replies}) == 12
        assert client.counters["prompt_tokens"] == sum(
            sum(len(m["content"]) for m in ms) // 4 for ms in messages)
    finally:
        server.close()


def test_probe_names_an_unreachable_endpoint(tmp_path):
    settings = LLMSettings(spec=parse_llm_spec("m@http://127.0.0.1:9/v1"), timeout_s=2)
    client = LLMClient(settings, None)
    with pytest.raises(InputError, match="cannot reach http://127.0.0.1:9/v1"):
        probe_endpoint(client)


def test_identical_requests_in_flight_are_sent_once(tmp_path):
    server = FakeLLM(delay=0.3)
    try:
        client = client_for(server, tmp_path)
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: client.chat(MESSAGES, SCHEMA), range(8)))
        assert len(server.requests) == 1
        assert len({r.content for r in replies}) == 1
        assert client.counters["cache_hits"] == 7
    finally:
        server.close()


def test_every_request_and_retry_goes_through_the_rate_limiter(fake, tmp_path):
    import time

    from geoscribe.text.rate_limit import RateLimiter

    class Recording(RateLimiter):
        granted: list[float] = []

        def acquire(self, tokens: int = 0) -> float:
            waited = super().acquire(tokens)
            self.granted.append(time.monotonic())
            return waited

    fake.script = [{"status": 500}]  # the retry counts against the limit too
    settings = LLMSettings(spec=parse_llm_spec(f"m@{fake.base_url}"), backoff_s=0.0)
    limiter = Recording(rpm=2, tpm=None, window_s=0.5)
    client = LLMClient(settings, tmp_path / "c.sqlite", limiter=limiter)
    for i in range(5):
        client.chat([MESSAGES[0], {"role": "user", "content": f"{MESSAGES[1]['content']} {i}"}],
                    SCHEMA)
    times = limiter.granted
    assert len(times) == len(fake.requests) == 6
    assert all(sum(1 for u in times if t <= u < t + 0.499) <= 2 for t in times)
    assert times[-1] - times[0] >= 1.0  # 6 requests at 2 per 0.5 s span at least 2 windows
