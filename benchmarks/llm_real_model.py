"""The real local model through geoscribe's LLM path: how many of its texts pass the checks and
why the others fail (issue 13; not part of the tests).

Starts llama-cpp-python serving SmolLM2-135M-Instruct on loopback (tests/llm_server.py; install
with `make install-llm-server`), then builds the LLM recipes with `--llm` using the INSTALLED
`build-dataset` next to this Python: rsteller-like (its own caption task), chatearthnet-like
(its own task, on the demo's SpaceNet masks), and the rewrite tasks of skyscript-like,
rsvqa-like (caption + QA) and geochat-like (caption + conversation turns), on the inputs of
benchmarks/recipe_shards.py. From each build's stats.json and rejected.jsonl it reports, per
recipe, the records kept, the texts judged and passed (captions, rewrites, QA pairs, turns),
the requests made, and a table of rejection reasons (the first reason of each rejected text,
and of each rejected record).

    .venv/bin/python benchmarks/llm_real_model.py /tmp/geoscribe-real-llm --limit 8

Outputs and the response cache are kept under WORK (a second run answers from the cache;
pass --fresh to ask the model again).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from geoscribe.report_scan import iter_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from recipe_shards import commands  # noqa: E402

from llm_server import start_llama_server, stop_llama_server  # noqa: E402

RECIPES = ("rsteller-like", "chatearthnet-like", "skyscript-like", "rsvqa-like",
           "geochat-like")
ROLES = ("caption", "rewrite", "qa", "turn", "reply")


def build_lines(work: Path, llm: list[str], limit: int) -> dict[str, list[str]]:
    """recipe -> its build-dataset command line with `--llm` (one worker, `--limit`)."""
    bin_dir = Path(sys.executable).parent
    lines = {}
    for line in commands(bin_dir, work / "out", work / "scene"):
        recipe = line[1]
        if recipe in RECIPES:
            line = [a for a in line if a not in ("--workers", "2")]
            lines[recipe] = [*line, "--workers", "1", "--limit", str(limit), *llm]
    return lines


def passed_texts(record: dict) -> Counter:
    """The texts of one kept record that the LLM wrote and the checks passed, by role."""
    generator = record.get("generator", {})
    return Counter({"caption": 1, "rewrite": len(record["texts"].get("rewrites") or []),
                    "qa": generator.get("qa_reworded", 0),
                    "turn": generator.get("turns_reworded", 0)})


def read_build(out: Path) -> dict:
    """Counts of one finished build: records, texts passed/failed by role, reasons."""
    kept, passed = 0, Counter()
    for _, record in iter_records(out / "data"):
        kept += 1
        passed += passed_texts(record)
    failed, text_reasons, record_reasons = Counter(), Counter(), Counter()
    path = out / "rejected.jsonl"
    for line in (path.read_text(encoding="utf-8").splitlines() if path.exists() else []):
        entry = json.loads(line)
        if entry.get("stage") != "llm":
            continue
        reason = entry["reasons"][0].split(":", 1)[0]
        if entry["kind"] == "record":
            record_reasons[reason] += 1
        else:
            failed[entry["role"]] += 1
            text_reasons[f"{entry['role']}: {reason}"] += 1
    llm = json.loads((out / "stats.json").read_text())["llm"]
    return {"records": llm["records"], "kept": kept, "passed": dict(passed),
            "failed": dict(failed), "text_reasons": dict(text_reasons.most_common()),
            "record_reasons": dict(record_reasons.most_common()),
            "requests": llm["requests"], "cache_hits": llm["cache_hits"],
            "json_mode_used": llm["json_mode_used"],
            "completion_tokens": llm["completion_tokens"]}


def replay(line: list[str], llm: list[str], out: Path, url: str, args) -> dict:
    """A build whose every record the LLM stage rejected keeps no stats (OUT is emptied): build
    it without `--llm`, then ask for each record's texts in process, through the same cache
    and settings as the build, and count the same way."""
    from geoscribe.recipes import RECIPES
    from geoscribe.text.llm_client import LLMClient
    from geoscribe.text.llm_generate import generate
    from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec
    from geoscribe.text.llm_tasks import caption_task, tag_vocabulary

    plain = [a for a in line[:len(line) - len(llm)]]
    plain[plain.index("--out") + 1] = str(out)
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(plain, capture_output=True, text=True, check=True)
    settings = LLMSettings(spec=parse_llm_spec(f"smollm2@{url}"), max_tokens=300,
                           rewrites=args.rewrites, max_words=60, repairs=args.repairs,
                           timeout_s=300)
    client = LLMClient(settings, args.work / "cache.sqlite")
    passed, failed, text_reasons, record_reasons = Counter(), Counter(), Counter(), Counter()
    records = [record for _, record in iter_records(out / "data")]
    for record in records:
        vocabulary = set(tag_vocabulary()) | set(record.get("label", {}).get("shares", {}))
        task = caption_task(record, vocabulary, args.rewrites, 60,
                            RECIPES[record["recipe"]].llm_task)
        got = generate(client, task, 60, args.repairs)
        for text in got.rejected_texts:
            failed[text["role"]] += 1
            text_reasons[f"{text['role']}: {text['reasons'][0].split(':', 1)[0]}"] += 1
        if got.caption is None:
            record_reasons[got.reason.split(":", 1)[0]] += 1
        else:
            passed += Counter({"caption": 1, "rewrite": len(got.rewrites), "qa": len(got.qa),
                               "turn": len(got.turns)})
    client.close()
    return {"records": len(records), "kept": len(records) - sum(record_reasons.values()),
            "passed": dict(passed), "failed": dict(failed),
            "text_reasons": dict(text_reasons.most_common()),
            "record_reasons": dict(record_reasons.most_common()),
            "requests": client.counters.get("requests", 0),
            "cache_hits": client.counters.get("cache_hits", 0), "replayed": True}


def table(results: dict[str, dict]) -> str:
    """Markdown: one row per recipe, then the reasons."""
    rows = ["| recipe | records kept | texts passed / judged | captions | rewrites | QA | "
            "turns | requests |", "|---|---|---|---|---|---|---|---|"]
    for recipe, r in results.items():
        if "error" in r:
            rows.append(f"| {recipe} | build failed: {r['error']} | | | | | | |")
            continue
        p, f = Counter(r["passed"]), Counter(r["failed"])
        recipe += " (replayed)" if r.get("replayed") else ""
        judged = sum(p.values()) + sum(f.values())
        cells = [f"{p[role]}/{p[role] + f[role]}" for role in ROLES[:4]]
        rows.append(f"| {recipe} | {r['kept']}/{r['records']} | {sum(p.values())}/{judged} | "
                    + " | ".join(cells) + f" | {r['requests']} |")
    rows += ["", "| recipe | rejected | reason (first of each) | count |", "|---|---|---|---|"]
    for recipe, r in results.items():
        for what, reasons in (("text", r.get("text_reasons", {})),
                              ("record", r.get("record_reasons", {}))):
            rows += [f"| {recipe} | {what} | {reason} | {n} |" for reason, n in reasons.items()]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--limit", type=int, default=8, help="focus features per recipe")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--rewrites", type=int, default=1)
    parser.add_argument("--repairs", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="drop outputs and the cache")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (more than "
                        "the idle cores makes it many times slower on a shared machine)")
    args = parser.parse_args()
    if args.fresh and (args.work / "out").exists():
        shutil.rmtree(args.work / "out")
        (args.work / "cache.sqlite").unlink(missing_ok=True)
    server = start_llama_server(n_threads=args.threads)
    results: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        llm = ["--llm", f"{server.model}@{server.base_url}", "--llm-cache",
               str(args.work / "cache.sqlite"), "--llm-rewrites", str(args.rewrites),
               "--llm-repairs", str(args.repairs), "--llm-max-tokens", "300",
               "--llm-max-words", "60", "--llm-timeout", "300", "--llm-concurrency", "1"]
        lines = build_lines(args.work, llm, args.limit)
        for recipe in args.recipes.split(","):
            out = args.work / "out" / recipe
            shutil.rmtree(out, ignore_errors=True)  # the cache keeps the replies
            began = time.perf_counter()
            done = subprocess.run(lines[recipe], capture_output=True, text=True)
            if done.returncode != 0 and "no samples" in done.stderr:
                results[recipe] = replay(lines[recipe], llm, args.work / "out" / f"{recipe}-plain",
                                         server.base_url, args)
            elif done.returncode != 0:
                results[recipe] = {"error": done.stderr.strip().splitlines()[-1][:200]}
            else:
                results[recipe] = read_build(out)
            results[recipe]["seconds"] = round(time.perf_counter() - began, 1)
            print(recipe, json.dumps(results[recipe]), flush=True)
    finally:
        stop_llama_server(server)
    print(f"\nSmolLM2-135M-Instruct Q4_1 via llama-cpp-python, --limit {args.limit}, "
          f"{time.perf_counter() - started:.0f} s\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
