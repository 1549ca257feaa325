"""The LLM text stage, between the units and the run-wide filters.

Every finished unit's samples get their texts from the LLM (requests run concurrently across
units, within the rate limits); each unit's new part tars (`llm-{split}.tar`) and its
`llm.json` marker are written once all its samples are answered, marker last. Re-running skips
units with a marker; an interrupted unit is redone, and its replies come from the cache.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from geoscribe.checks.schema import key_errors, record_errors
from geoscribe.config import BuildConfig
from geoscribe.engine.units import Unit, finish_unit, read_marker, unit_dir, unit_parts
from geoscribe.errors import GeoscribeError
from geoscribe.recipes import RECIPES
from geoscribe.region import SPLITS
from geoscribe.shards import UnitPartWriter, iter_samples, record_json
from geoscribe.text.llm_client import LLMClient, probe_endpoint
from geoscribe.text.llm_generate import Generated, generate
from geoscribe.text.llm_spec import LLMSettings, parse_llm_spec
from geoscribe.text.llm_tasks import CaptionTask, caption_task, tag_vocabulary

LLM_MARKER = "llm.json"
LLM_PREFIX = "llm-"


@dataclass
class LLMStageStats:
    records: int = 0
    captioned: int = 0
    rejected_records: Counter = field(default_factory=Counter)
    rejected_texts: Counter = field(default_factory=Counter)
    rewrites: int = 0


def load_llm_done(work: Path, unit: Unit) -> dict | None:
    """The unit's LLM marker if its LLM part tars are whole."""
    return read_marker(unit_dir(work, unit), LLM_MARKER, LLM_PREFIX)


def apply_texts(record: dict, task: CaptionTask, outcome: Generated,
                settings: LLMSettings) -> dict:
    """The record with the LLM's texts and the generator that made them."""
    texts = dict(record["texts"])
    texts["template_caption"] = texts["caption"]
    texts["caption"] = outcome.caption
    texts["rewrites"] = outcome.rewrites
    spec = settings.spec
    generator = {
        "kind": "llm", "model": spec.model, "endpoint": spec.base_url,
        "prompt_id": task.prompt_id, "prompt_sha256": task.prompt_sha256,
        "params": {**settings.sampling(), "json_mode": settings.json_mode,
                   "rewrites": settings.rewrites, "max_words": settings.max_words},
        "seed": settings.seed, "rounds": outcome.rounds,
        "based_on": record["generator"],
    }
    new = {**record, "texts": texts, "generator": generator,
           "evidence": {**record.get("evidence", {}), "llm_facts": task.data}}
    if task.qa:
        qa = [dict(item) for item in record["qa"]]
        for index, (question, answer) in outcome.qa.items():
            qa[index].update(template_question=qa[index]["question"], question=question,
                             answer_text=answer)
        new["qa"] = qa
        generator["qa_reworded"] = len(outcome.qa)
    if task.turns:
        turns = [dict(turn) for turn in record["conversations"]]
        for index, value in outcome.turns.items():
            turns[index].update(template_value=turns[index]["value"], value=value)
        new["conversations"] = turns
        generator["turns_reworded"] = len(outcome.turns)
    return new


class LLMStage:
    """Runs the LLM over the part tars of finished units."""

    def __init__(self, settings: LLMSettings, client: LLMClient, vocabulary: set[str],
                 work: Path, progress: bool = True) -> None:
        self.settings, self.client, self.vocabulary = settings, client, vocabulary
        self.work, self.progress = work, progress
        self.stats = LLMStageStats()
        self.failures: Counter[str] = Counter()  # why requests failed, over every unit

    def _ask(self, record: dict) -> tuple[CaptionTask, Generated]:
        spec = RECIPES.get(record.get("recipe"))
        task = caption_task(record, self.vocabulary, self.settings.rewrites,
                            self.settings.max_words, spec.llm_task if spec else None)
        return task, generate(self.client, task, self.settings.max_words, self.settings.repairs)

    def run(self, units: list[Unit], unit_stats: dict[str, dict]) -> dict[str, dict]:
        """Give every unit its LLM texts; return each unit's stats after the stage.

        Raises a one-line GeoscribeError when requests failed (after every unit was tried).
        """
        results: dict[str, dict] = {}
        todo = []
        for unit in units:
            done = load_llm_done(self.work, unit)
            if done is not None:
                results[unit.name] = done
                self._count_done(done)
            else:
                todo.append(unit)
        total = sum(unit_stats[u.name]["samples"] for u in todo)
        bar = tqdm(total=total, unit=" record", desc=f"LLM texts ({self.settings.spec.model})",
                   disable=not self.progress)
        with ThreadPoolExecutor(self.settings.concurrency) as pool:
            try:
                self._answer_units(pool, todo, unit_stats, bar, results)
            except BaseException:  # an interrupt: queued requests are not sent; those in
                pool.shutdown(wait=False, cancel_futures=True)  # flight still get cached
                raise
        bar.close()
        if self.failures:
            raise GeoscribeError(self._failure_line(units, results))
        return results

    def _answer_units(self, pool: ThreadPoolExecutor, todo: list[Unit],
                      unit_stats: dict[str, dict], bar, results: dict) -> None:
        """Submit every record of `todo` and finish each unit as its answers arrive, with a
        bounded number of requests queued."""
        window = max(4 * self.settings.concurrency, 16)
        queue: list[tuple[Unit, list[tuple[str, dict, dict, Future]]]] = []
        in_flight = 0
        for unit in todo:
            jobs = []
            for split in SPLITS:
                if not unit_stats[unit.name].get("ranges", {}).get(split):
                    continue
                for sample in iter_samples(unit_dir(self.work, unit) / f"{split}.tar"):
                    record = json.loads(sample["json"])
                    jobs.append((split, sample, record, pool.submit(self._ask, record)))
            queue.append((unit, jobs))
            in_flight += len(jobs)
            while queue and in_flight >= window:  # bounded memory: finish the oldest
                done_unit, done_jobs = queue.pop(0)
                in_flight -= len(done_jobs)
                results[done_unit.name] = self._finish(done_unit, done_jobs,
                                                       unit_stats[done_unit.name], bar)
        for done_unit, done_jobs in queue:
            results[done_unit.name] = self._finish(done_unit, done_jobs,
                                                   unit_stats[done_unit.name], bar)

    def _failure_line(self, units: list[Unit], results: dict) -> str:
        cause, _ = self.failures.most_common(1)[0]
        failed = sum(self.failures.values())
        return (f"--llm {self.settings.spec.model}: {failed} of {self.stats.records} records "
                f"got no reply ({cause}); {sum(1 for u in units if results.get(u.name))} of "
                f"{len(units)} units are done and kept; re-run the same command to ask again")

    def _finish(self, unit: Unit, jobs, stats: dict, bar) -> dict | None:
        """Wait for a unit's answers, write its LLM part tars, then its marker; None (no
        marker, nothing written) when a request failed."""
        started = time.perf_counter()
        directory = unit_dir(self.work, unit)
        rejected: list[dict] = []
        with unit_parts(directory, LLM_PREFIX) as writer:
            failed = 0
            for job in jobs:  # every job, also after a failure: each failure is counted
                failed += not self._take(unit, job, writer, rejected, bar)
            if failed:
                writer.abort()
                return None
        record_rejections = sum(1 for r in rejected if r["kind"] == "record")
        return finish_unit(directory, writer, rejected, "llm_rejected.jsonl", LLM_MARKER, {
            **stats,
            "part_prefix": LLM_PREFIX,
            "llm_rejected_records": record_rejections,
            "llm_rejected_texts": len(rejected) - record_rejections,
            "llm_seconds": round(time.perf_counter() - started, 4),
        })

    def _take(self, unit: Unit, job, writer: UnitPartWriter, rejected: list[dict],
              bar) -> bool:
        """One record's answer: its new sample written, or its rejections listed; False when
        its request failed (no verdict: the unit is asked again)."""
        split, sample, record, future = job
        task, outcome = future.result()
        bar.update(1)
        self.stats.records += 1
        if outcome.failure is not None:
            self.failures[outcome.failure.splitlines()[0][:200]] += 1
            return False
        for text in outcome.rejected_texts:
            self.stats.rejected_texts[text["reasons"][0].split(":", 1)[0]] += 1
            rejected.append({"id": record["id"], "unit": unit.name, "stage": "llm",
                             "kind": "text", "role": text["role"],
                             "reasons": text["reasons"], "text": text["text"]})
        new, reasons = self._new_record(record, task, outcome)
        if reasons:
            rejected.append({"id": record["id"], "unit": unit.name, "stage": "llm",
                             "kind": "record", "reasons": reasons, "record": new})
            return True
        self.stats.captioned += 1
        self.stats.rewrites += len(outcome.rewrites)
        writer.write(split, {**sample, "txt": new["texts"]["caption"].encode("utf-8"),
                             "json": record_json(new)})
        return True

    def _new_record(self, record: dict, task: CaptionTask,
                    outcome: Generated) -> tuple[dict, list[str]]:
        """The record with its LLM texts and why it is rejected (none: it is kept); a record
        the LLM gave no caption is rejected as it was."""
        if outcome.caption is None:
            self.stats.rejected_records[outcome.reason] += 1
            return record, [outcome.reason]
        new = apply_texts(record, task, outcome, self.settings)
        errors = record_errors(new) + key_errors(new)
        if errors:
            self.stats.rejected_records["schema"] += 1
        return new, errors

    def _count_done(self, done: dict) -> None:
        self.stats.records += done["samples"] + done.get("llm_rejected_records", 0)
        self.stats.captioned += done["samples"]

    def summary(self, started: float) -> dict:
        """The `llm` block of stats.json: requests, cache, tokens, cost, rejections."""
        counters = dict(self.client.counters)
        settings = self.settings
        prompt = counters.get("prompt_tokens", 0)
        completion = counters.get("completion_tokens", 0)
        cost = None
        if settings.price_in_per_m is not None or settings.price_out_per_m is not None:
            cost = round(prompt * (settings.price_in_per_m or 0) / 1e6
                         + completion * (settings.price_out_per_m or 0) / 1e6, 6)
        return {
            "model": settings.spec.model, "endpoint": settings.spec.base_url,
            "json_mode": settings.json_mode, "json_mode_used": self.client.mode,
            "records": self.stats.records, "captioned": self.stats.captioned,
            "rewrites": self.stats.rewrites,
            "rejected_records": dict(sorted(self.stats.rejected_records.items())),
            "rejected_texts": dict(sorted(self.stats.rejected_texts.items())),
            "requests": counters.get("requests", 0),
            "cache_hits": counters.get("cache_hits", 0),
            "retries": counters.get("retries", 0),
            "failed_requests": counters.get("failed_requests", 0),
            "rate_limited_waits": counters.get("rate_limited_waits", 0),
            "prompt_tokens": prompt, "completion_tokens": completion,
            "estimated_cost_usd": cost,
            "counters": dict(sorted(counters.items())),
            "seconds": round(time.perf_counter() - started, 3),
        }


def llm_settings(config: BuildConfig) -> LLMSettings:
    """The LLM settings of a config (the API key stays in the environment)."""
    from geoscribe.sources.registry_data import cache_dir

    cache = config.llm_cache or cache_dir() / "llm" / "responses.sqlite"
    return LLMSettings(
        spec=parse_llm_spec(config.llm), temperature=config.llm_temperature,
        top_p=config.llm_top_p, max_tokens=config.llm_max_tokens, seed=config.seed,
        rewrites=config.llm_rewrites, max_words=config.llm_max_words,
        json_mode=config.llm_json_mode, repairs=config.llm_repairs,
        concurrency=config.llm_concurrency, rpm=config.llm_rpm, tpm=config.llm_tpm,
        max_retries=config.llm_max_retries, timeout_s=config.llm_timeout,
        price_in_per_m=config.llm_price_in, price_out_per_m=config.llm_price_out,
        cache_path=str(cache))


def open_llm(config: BuildConfig) -> LLMClient:
    """The LLM client of a run; fails fast (one line) when the endpoint cannot be reached."""
    settings = llm_settings(config)
    client = LLMClient(settings, Path(settings.cache_path))
    try:
        probe_endpoint(client)
    except BaseException:
        client.close()
        raise
    return client


def run_llm_stage(client: LLMClient, work: Path, units: list[Unit], unit_stats: dict[str, dict],
                  masks: list, progress: bool) -> tuple[dict[str, dict], dict]:
    """Give every unit's records their LLM texts; return the units' new stats and the `llm`
    block of stats.json."""
    started = time.perf_counter()
    vocabulary = set(tag_vocabulary())
    for mask in masks:
        vocabulary.update(mask.class_map.classes.values())
    stage = LLMStage(client.settings, client, vocabulary, work, progress)
    new_stats = stage.run(units, unit_stats)
    return new_stats, stage.summary(started)
