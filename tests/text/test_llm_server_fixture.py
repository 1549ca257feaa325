"""The local LLM server fixture answers schema-constrained chat completions."""

from __future__ import annotations

import json

from openai import OpenAI

from llm_server import LlamaServer, llama_server  # noqa: F401  (session fixture)

SCHEMA = {
    "type": "object",
    "properties": {
        "caption": {"type": "string", "maxLength": 200},
        "rewrites": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
    },
    "required": ["caption", "rewrites"],
    "additionalProperties": False,
}


def test_llama_server_schema_constrained_reply(llama_server: LlamaServer):  # noqa: F811
    client = OpenAI(base_url=llama_server.base_url, api_key="unused", timeout=120)
    reply = client.chat.completions.create(
        model=llama_server.model,
        messages=[
            {"role": "system", "content": "You write captions for aerial images as JSON."},
            {"role": "user", "content": "Caption an aerial image of a harbour with two piers, "
                                        "and give two rewrites of the caption."},
        ],
        # llama-cpp-python's server rejects {"type": "json_schema", ...} (HTTP 500, pydantic:
        # type must be 'text' or 'json_object'); its grammar-constrained form is this one:
        response_format={"type": "json_object", "schema": SCHEMA},
        temperature=0,
        seed=0,
        max_tokens=256,
    )
    assert reply.choices[0].finish_reason == "stop"
    data = json.loads(reply.choices[0].message.content)
    assert set(data) == {"caption", "rewrites"}
    assert isinstance(data["caption"], str)
    assert isinstance(data["rewrites"], list) and len(data["rewrites"]) == 2
    assert reply.usage is not None and reply.usage.completion_tokens > 0
