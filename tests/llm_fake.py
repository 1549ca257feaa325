"""A fault-injecting OpenAI-compatible server on loopback, for tests of the LLM layer.

It speaks the chat-completions protocol the real `openai` client talks to. Each request is
answered by the next scripted behaviour (429 with Retry-After, 500, a slow reply, malformed
JSON, JSON of the wrong schema, any content) and, when the script is empty, by a generated
reply that is faithful to the DATA block of the prompt. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_data(messages: list[dict]) -> dict:
    """The JSON facts of a geoscribe prompt (between 'DATA:' and 'Reply with JSON only')."""
    user = [m for m in messages if m["role"] == "user"][0]["content"]
    block = user.split("DATA:", 1)[1].rsplit("Reply with JSON only", 1)[0]
    return json.loads(block)


def faithful_caption(data: dict) -> str:
    """A caption that states only what the facts say."""
    if "caption" in data:
        return data["caption"]
    if "objects" in data:
        parts = []
        for item in data["objects"]:
            size = (f" of {item['area_m2']} m²" if "area_m2" in item
                    else f" {item['length_m']} m long" if "length_m" in item else "")
            parts.append(f"a {item['kind']}{size} in the {item['position']}")
        return "A satellite image with " + ", ".join(parts) + "."
    if "overall" in data:
        parts = [f"{name} ({values['percent']}%)" for name, values in data["overall"].items()]
        return "A satellite image covered by " + ", ".join(parts) + "."
    raise ValueError(f"unknown facts: {data}")


def faithful_reply(request: dict) -> str:
    """JSON reply: the faithful caption and distinct rewrites of it."""
    caption = faithful_caption(prompt_data(request["messages"]))
    schema = request.get("response_format", {}) or {}
    wanted = 2
    if schema.get("type") == "json_schema":
        items = schema["json_schema"]["schema"]["properties"]["rewrites"]
        wanted = items.get("minItems", 2)
    else:
        user = [m for m in request["messages"] if m["role"] == "user"][0]["content"]
        wanted = user.rsplit('"rewrites": [', 1)[1].split("]", 1)[0].count('"..."')
    body = caption[0].lower() + caption[1:]
    rewrites = [f"Seen from above, {body}", f"In this overhead view, {body}",
                f"From orbit, {body}", f"Looking down, {body}"][:wanted]
    reply = {"caption": caption, "rewrites": rewrites}
    data = prompt_data(request["messages"])
    if "qa" in data:
        reply["qa"] = [faithful_pair(item["question"], item["answer"]) for item in data["qa"]]
    if "turns" in data:
        reply["turns"] = [faithful_turn(turn["text"]) for turn in data["turns"]]
    return json.dumps(reply)


def faithful_turn(text: str) -> str:
    """The same turn in other words (boxes, objects and positions untouched)."""
    if text.rstrip().endswith("?"):
        return "Tell me: " + text[0].lower() + text[1:]
    return "In short, " + text[0].lower() + text[1:]


def faithful_pair(question: str, answer: str) -> dict:
    """A reworded question and a sentence stating the given answer."""
    asked = "In this image, " + question[0].lower() + question[1:]
    if answer in ("yes", "no"):
        said = f"{answer.capitalize()}, that is right."
    elif answer.replace(".", "", 1).isdigit():
        said = f"The answer is {answer}."
    else:
        said = f"It is {answer}."
    return {"question": asked, "answer": said}


class FakeLLM:
    """Serve on 127.0.0.1:<free port>; `script` is consumed one behaviour per request."""

    def __init__(self, responder: Callable[[dict], str] = faithful_reply,
                 refuse_formats: tuple[str, ...] = (), delay: float = 0.0) -> None:
        self.responder = responder
        self.refuse_formats = refuse_formats  # response_format types answered with a 400
        self.delay = delay  # seconds added to every reply
        self.script: list[dict] = []
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # a client that timed out hung up
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, json.dumps({"object": "list", "data": [
                        {"id": "fake-model", "object": "model", "owned_by": "tests"}]}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._answer()
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                with fake.lock:
                    fake.requests.append({"time": time.monotonic(), "body": request,
                                          "authorization": self.headers.get("Authorization")})
                    behaviour = fake.script.pop(0) if fake.script else {}
                fmt = (request.get("response_format") or {}).get("type")
                if fmt in fake.refuse_formats:
                    behaviour = {"status": 400, "message": f"response_format {fmt} unsupported"}
                if behaviour.get("delay") or fake.delay:
                    time.sleep(behaviour.get("delay", 0) + fake.delay)
                if "status" in behaviour:
                    self._send(behaviour["status"], json.dumps(
                        {"error": {"message": behaviour.get("message", "injected fault"),
                                   "type": "injected"}}).encode(),
                        behaviour.get("headers"))
                    return
                if "raw_body" in behaviour:
                    self._send(200, behaviour["raw_body"])
                    return
                content = behaviour.get("content")
                if content is None:
                    content = fake.responder(request)
                prompt_chars = sum(len(m["content"]) for m in request["messages"])
                self._send(200, json.dumps({
                    "id": f"chatcmpl-{len(fake.requests)}", "object": "chat.completion",
                    "created": 0, "model": request["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": prompt_chars // 4,
                              "completion_tokens": len(content) // 4,
                              "total_tokens": prompt_chars // 4 + len(content) // 4},
                }).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def chat_requests(self) -> list[dict]:
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
