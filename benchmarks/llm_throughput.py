"""LLM text throughput: geoscribe's LLM path vs the raw `openai` client (not part of the tests).

For N synthetic rsteller-like records (distinct facts, made in code) it times, in one run and
against the same server:

- raw: the `openai` client issuing each record's request in a plain loop (same messages,
  same sampling parameters, same response_format), nothing else; run before and after the
  geoscribe passes, the faster kept;
- geoscribe at concurrency 1 and at --concurrency N: `generate()` per record (cache lookup,
  rate limiter, request, JSON parsing, schema validation, faithfulness checks), with a fresh
  response cache, no repair rounds (so both sides make one request per record);
- a re-run of the concurrency-N pass on its warm cache, which must make zero requests.

Servers: `llama` (llama-cpp-python + SmolLM2-135M on loopback, started here; it answers one
request at a time) and `fake` (the tests' OpenAI-compatible server with a fixed latency per
reply, standing in for a remote API where concurrency pays).

    python benchmarks/llm_throughput.py --server both --records 48 --concurrency 4
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
KINDS = ["building", "house", "residential road", "parking lot", "grass area", "footpath",
         "school building", "swimming pool", "farmland", "service road"]
POSITIONS = ["top left", "top", "top right", "left", "centre", "right", "bottom left",
             "bottom", "bottom right"]


def make_records(n: int, seed: int = 0) -> list[dict]:
    """rsteller-like records with 1-3 elements each, all different."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        elements = []
        for _ in range(rng.randint(1, 3)):
            line = rng.random() < 0.3
            elements.append({
                "name": rng.choice(KINDS), "attributes": [], "position": rng.choice(POSITIONS),
                "geometry": "line" if line else "area", "clipped": rng.random() < 0.3,
                "area_m2": None if line else round(rng.uniform(50, 5000), 1),
                "length_m": round(rng.uniform(20, 400), 1) if line else None,
                "shape": None if line else rng.choice(["rectangular", "square", "irregular"]),
                "orientation": rng.choice([None, "north-south", "east-west"]),
            })
        records.append({"id": f"r{i}", "recipe": "rsteller-like",
                        "texts": {"caption": "template"},
                        "evidence": {"elements": elements, "counts": {}}})
    return records


def settings_for(base_url: str, model: str, concurrency: int, max_tokens: int):
    from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec

    return LLMSettings(spec=parse_llm_spec(f"{model}@{base_url}"), max_tokens=max_tokens,
                       temperature=0.0, rewrites=1, max_words=60, repairs=0,
                       concurrency=concurrency)


def tasks_for(records: list[dict], settings):
    from geoscribe.text.llm_tasks import caption_task, tag_vocabulary

    vocabulary = set(tag_vocabulary())
    return [caption_task(r, vocabulary, settings.rewrites, settings.max_words) for r in records]


def raw_loop(base_url: str, model: str, tasks, settings, mode: str) -> float:
    """The plain openai loop: one request per record, nothing else."""
    import openai

    from geoscribe.text.llm_client import response_format

    client = openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0,
                           timeout=settings.timeout_s)
    started = time.perf_counter()
    for task in tasks:
        fmt = response_format(mode, task.schema, "caption", False)
        client.chat.completions.create(
            model=model, messages=task.messages, temperature=settings.temperature,
            top_p=settings.top_p, max_tokens=settings.max_tokens, seed=settings.seed,
            **({"response_format": fmt} if fmt else {}))
    return time.perf_counter() - started


def geoscribe_pass(tasks, settings, cache: Path) -> tuple[float, dict, int, str]:
    """generate() per record on a thread pool; (seconds, counters, captions kept, mode)."""
    from geoscribe.text.llm_client import LLMClient
    from geoscribe.text.llm_generate import generate

    client = LLMClient(settings, cache)
    started = time.perf_counter()
    with ThreadPoolExecutor(settings.concurrency) as pool:
        outcomes = list(pool.map(lambda t: generate(client, t, settings.max_words, 0), tasks))
    seconds = time.perf_counter() - started
    counters, mode = dict(client.counters), client.mode
    client.close()
    return seconds, counters, sum(1 for o in outcomes if o.caption), mode


def bench_server(name: str, base_url: str, model: str, args, work: Path) -> dict:
    records = make_records(args.records)
    one = settings_for(base_url, model, 1, args.max_tokens)
    many = settings_for(base_url, model, args.concurrency, args.max_tokens)
    tasks = tasks_for(records, one)
    # warm-up (model load, first-request costs) and the output mode the server accepts
    _, _, _, mode = geoscribe_pass(tasks[:2], one, work / f"{name}-warm.sqlite")
    raw_first = raw_loop(base_url, model, tasks, one, mode)
    c1, counters1, kept1, _ = geoscribe_pass(tasks, one, work / f"{name}-c1.sqlite")
    cn, countersn, keptn, _ = geoscribe_pass(tasks, many, work / f"{name}-cn.sqlite")
    raw = min(raw_first, raw_loop(base_url, model, tasks, one, mode))  # before and after
    rerun, counters_re, _, _ = geoscribe_pass(tasks, many, work / f"{name}-cn.sqlite")
    n = len(tasks)
    result = {
        "server": name, "records": n, "json_mode": mode, "concurrency": args.concurrency,
        "raw_s": raw, "geoscribe_c1_s": c1, "geoscribe_cN_s": cn, "rerun_s": rerun,
        "raw_records_per_s": n / raw, "c1_records_per_s": n / c1, "cN_records_per_s": n / cn,
        "ratio_c1_vs_raw": raw / c1, "ratio_cN_vs_raw": raw / cn, "ratio_cN_vs_c1": c1 / cn,
        "requests_c1": counters1.get("requests", 0), "requests_cN": countersn.get("requests", 0),
        "requests_rerun": counters_re.get("requests", 0),
        "cache_hits_rerun": counters_re.get("cache_hits", 0),
        "captions_kept_c1": kept1, "captions_kept_cN": keptn,
    }
    print(f"[{name}] raw {n / raw:.2f} rec/s | geoscribe c=1 {n / c1:.2f} rec/s "
          f"({raw / c1:.2f}x raw) | c={args.concurrency} {n / cn:.2f} rec/s "
          f"({raw / cn:.2f}x raw) | re-run {counters_re.get('requests', 0)} requests, "
          f"{rerun:.3f} s | mode {mode} | kept {kept1}/{n}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["llama", "fake", "both"], default="both")
    parser.add_argument("--records", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--fake-latency", type=float, default=0.25,
                        help="seconds the fake server waits before each reply")
    parser.add_argument("--llama-threads", type=int, default=1,
                        help="llama.cpp threads (1: robust to other load on the machine; "
                             "llama.cpp's thread barriers degrade badly when cores are shared)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    results = []
    with tempfile.TemporaryDirectory(prefix="geoscribe-llm-bench-") as tmp:
        work = Path(tmp)
        if args.server in ("fake", "both"):
            from llm_fake import FakeLLM

            fake = FakeLLM(delay=args.fake_latency)
            try:
                results.append(bench_server("fake", fake.base_url, "fake-model", args, work))
            finally:
                fake.close()
        if args.server in ("llama", "both"):
            from llm_server import start_llama_server, stop_llama_server

            server = start_llama_server(n_threads=args.llama_threads)
            try:
                results.append(bench_server("llama", server.base_url, server.model, args,
                                            work))
            finally:
                stop_llama_server(server)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
