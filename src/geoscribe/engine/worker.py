"""Per-process worker state and the function that builds one unit."""

from __future__ import annotations

import os
import shutil
import signal
import time
import traceback
from collections import Counter
from pathlib import Path

import rasterio

from geoscribe.builders.context import BuildContext, PackedContext
from geoscribe.checks.schema import key_errors, record_errors
from geoscribe.engine.recipes import make_builder
from geoscribe.engine.units import DONE_MARKER, Unit, finish_unit, unit_dir, unit_parts
from geoscribe.shards import sample_members
from geoscribe.sources.imagery import remote_gdal_env

_STATE: dict = {}


def warm_up() -> None:
    """Run in a fresh worker process: importing this module loaded the pipeline."""


def _ensure_state(packed: PackedContext) -> None:
    """(Re)initialise this process's state when a task of another build arrives."""
    if _STATE.get("ctx_key") == packed.key:
        return
    close_worker()
    init_worker(packed.unpack())
    _STATE["ctx_key"] = packed.key


def init_worker(ctx: BuildContext) -> None:
    """Open the recipe's builder and GDAL environment inside this process (never inherited)."""
    env = rasterio.Env(GDAL_CACHEMAX=ctx.gdal_cache_bytes, GDAL_NUM_THREADS=1,
                       **remote_gdal_env([r.path for r in ctx.rasters]))
    env.__enter__()
    _STATE.update(ctx=ctx, env=env, builder=make_builder(ctx))


def close_worker() -> None:
    """Release what init_worker opened (for in-process runs)."""
    if "builder" in _STATE:
        _STATE["builder"].close()
        _STATE["env"].__exit__(None, None, None)
        _STATE.clear()


def run_unit(task: tuple[PackedContext, Unit]) -> dict:
    """Build one unit into its part tars; write the completion marker last."""
    packed, unit = task
    try:
        _ensure_state(packed)
        inject_faults(unit.name)
        return _run_unit(unit)
    except Exception as exc:  # report, with the unit named, to the main process
        raise RuntimeError(
            f"unit {unit.name} failed: {exc!r}\n{traceback.format_exc()}"
        ) from None


def inject_faults(name: str) -> None:
    """Test hooks (issue 19), off unless set: GEOSCRIBE_TEST_FAIL_UNIT=NAME makes every attempt
    at unit NAME raise; GEOSCRIBE_TEST_KILL_UNIT=NAME kills this worker process (SIGKILL) at
    the first attempt of unit NAME. GEOSCRIBE_TEST_FAULT_LOG=PATH logs each fault, one line;
    the kill happens only while PATH holds no kill line."""
    log = os.environ.get("GEOSCRIBE_TEST_FAULT_LOG")
    if name == os.environ.get("GEOSCRIBE_TEST_FAIL_UNIT"):
        _log_fault(log, f"fail {name}")
        raise RuntimeError(f"injected failure of unit {name}")
    killed = Path(log).read_text() if log and Path(log).exists() else ""
    if name == os.environ.get("GEOSCRIBE_TEST_KILL_UNIT") and log \
            and f"kill {name}\n" not in killed:
        _log_fault(log, f"kill {name}")
        os.kill(os.getpid(), signal.SIGKILL)


def _log_fault(log: str | None, line: str) -> None:
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _run_unit(unit: Unit) -> dict:
    ctx: BuildContext = _STATE["ctx"]
    builder = _STATE["builder"]
    started = time.perf_counter()
    directory = unit_dir(Path(ctx.work_dir), unit)
    if directory.exists():
        shutil.rmtree(directory)  # leftovers of an interrupted attempt
    skipped: Counter[str] = Counter()
    rejected = []
    with unit_parts(directory) as writer:
        for sample in builder.unit_samples(unit, lambda reason: skipped.update([reason])):
            errors = record_errors(sample.record) + key_errors(sample.record)
            if errors:
                rejected.append({"id": sample.key, "unit": unit.name, "reasons": errors,
                                 "record": sample.record})
                continue
            writer.write(sample.split,
                         sample_members(sample.key, ctx.image_format, sample.image, sample.record))
    delay = float(os.environ.get("GEOSCRIBE_TEST_UNIT_DELAY", "0") or 0)
    if delay:  # lets crash/resume tests kill a run part-way through a unit
        time.sleep(delay)
    return finish_unit(directory, writer, rejected, "rejected.jsonl", DONE_MARKER, {
        "unit": unit.name,
        "focus_candidates": builder.candidates,
        "rejected": len(rejected),
        "skipped": dict(sorted(skipped.items())),
        "seconds": round(time.perf_counter() - started, 4),
    })
