"""text/llm_cache.py: request keys and the SQLite reply cache."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from geoscribe.text.llm_cache import ResponseCache, request_key

MESSAGES = [{"role": "user", "content": "Describe the chip."}]


def test_request_key_is_sha256_of_canonical_json():
    """issue 11 tests mirror src: the key is the hash of sorted, compact JSON, so the order
    of parameters does not matter and every input does; issue 13: the endpoint is one."""
    blob = ('{"endpoint":"http://h:1/v1","messages":[{"content":"Describe the chip.",'
            '"role":"user"}],"model":"m","params":{"seed":0,"temperature":0.2}}')
    key = request_key("http://h:1/v1", "m", MESSAGES, {"temperature": 0.2, "seed": 0})
    assert key == hashlib.sha256(blob.encode()).hexdigest()
    assert key == request_key("http://h:1/v1", "m", MESSAGES, {"seed": 0, "temperature": 0.2})
    assert key != request_key("http://h:1/v1", "m", MESSAGES, {"seed": 1, "temperature": 0.2})
    assert key != request_key("http://h:1/v1", "m2", MESSAGES, {"seed": 0, "temperature": 0.2})
    assert key != request_key("http://h:2/v1", "m", MESSAGES, {"seed": 0, "temperature": 0.2})


def test_replies_survive_a_reopen_and_replace(tmp_path):
    """issue 11 tests mirror src: committed per reply; a key written again is replaced."""
    path = tmp_path / "deep" / "cache.sqlite"
    cache = ResponseCache(path)
    assert cache.get("k") is None
    cache.put("k", "m", "first", {"prompt_tokens": 3})
    cache.put("k", "m", "second", {"total_tokens": 5, "prompt_tokens": 3})
    cache.put("j", "m", "other", {})
    # read by sqlite directly while the cache is still open: nothing waits for close()
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT key, content FROM replies").fetchall())
    assert rows == {"k": "second", "j": "other"}
    cache.close()
    again = ResponseCache(path)
    assert again.get("k") == ("second", {"prompt_tokens": 3, "total_tokens": 5})
    assert len(again) == 2
    again.close()


def test_threads_share_one_cache(tmp_path):
    """issue 11 tests mirror src: puts from many threads all land."""
    cache = ResponseCache(tmp_path / "c.sqlite")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: cache.put(f"k{i}", "m", str(i), {"i": i}), range(64)))
    assert len(cache) == 64
    assert all(cache.get(f"k{i}") == (str(i), {"i": i}) for i in range(64))
    assert json.loads(json.dumps(cache.get("k7")[1])) == {"i": 7}
    cache.close()
