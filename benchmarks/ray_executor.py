"""issue 19: the Ray executor vs the local pool on the same fixture and worker count, and the
peak memory per worker on the 16x fixture with each.

    nice -n 19 .venv/bin/python benchmarks/ray_executor.py --json /tmp/geoscribe-bench/ray.json

The fixture is skyscript_throughput.py's generated scene (--size PX raster, --features N).
Runs, in rounds (`--repeats`), one after the other:
- pool:       build-dataset --workers 2 (the local process pool)
- ray:        build-dataset --executor ray --ray-address ADDR, joining a 2-CPU cluster this
              script started once (a cluster that is already up, as on a real deployment)
- ray_cold:   build-dataset --executor ray --workers 2 (the build starts its own cluster:
              adds Ray's start-up, a fixed cost per run)
Then the memory runs: peak RSS of each worker process (pool: the CLI's child processes;
Ray: the cluster's `ray::` task workers), polled every 50 ms, over the centred 1/16 of the
raster (1x) and the whole raster (16x); per worker it stays bounded by the unit.
Every output is checked byte-identical to the pool's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from skyscript_throughput import (  # noqa: E402
    Poller,
    _build_command,
    ensure_inputs,
    region_bbox,
)


class WorkerRss(Poller):
    """Peak RSS of each process matching `select`, polled every `interval` s."""

    def __init__(self, select, interval: float = 0.05) -> None:
        super().__init__(interval)
        self.select = select
        self.peaks: dict[int, int] = {}

    def _sample(self) -> None:
        import psutil

        for proc in self.select():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                self.peaks[proc.pid] = max(rss, self.peaks.get(proc.pid, 0))


def ray_workers():
    """The Ray task worker processes of this machine (`ray::_call` running, `ray::IDLE`)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if cmd.startswith(("ray::_call", "ray::IDLE")):
            yield proc


def pool_workers(pid: int):
    """The child processes of the build `pid` (its pool workers and forkserver)."""
    import psutil

    def select():
        with contextlib.suppress(psutil.Error):
            yield from psutil.Process(pid).children(recursive=True)
    return select


def build(meta: dict, region: str, out: Path, extra: list[str], monitor: str | None = None
          ) -> dict:
    """One build-dataset run: wall seconds, samples and (with `monitor`) per-worker peaks."""
    if out.exists():
        shutil.rmtree(out)
    cmd = [*_build_command(), "skyscript-like", f"--region={region}", "--out", str(out),
           "--imagery", meta["tif"], "--osm", meta["osm"], "--no-progress", *extra]
    load = os.getloadavg()[0]  # the machine's 1-minute load as the run starts
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = (WorkerRss(ray_workers) if monitor == "ray" else
               WorkerRss(pool_workers(proc.pid)) if monitor == "pool" else
               contextlib.nullcontext())
    with watcher:
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        print(f"build-dataset failed ({proc.returncode}): {stderr.strip()[-300:]}", flush=True)
        return {"seconds": float("inf"), "failed": stderr.strip()[-300:], "samples": 0,
                "units": 0, "digest": None, "worker_peak_rss": [], "load": load,
                "unit_seconds": float("inf")}
    stats = json.loads((out / "stats.json").read_text())
    peaks = sorted(watcher.peaks.values(), reverse=True) if monitor else []
    return {"seconds": round(seconds, 3), "samples": stats["samples"],
            "units": stats["units"]["total"], "digest": shard_digest(out),
            "worker_peak_rss": peaks[:2], "load": round(load, 2),
            "unit_seconds": stats["seconds"]["units"]}


def shard_digest(out: Path) -> str:
    """One sha256 over every shard tar and parquet of OUT, in name order."""
    digest = hashlib.sha256()
    for path in sorted((out / "data").glob("*")):
        if path.suffix in (".tar", ".parquet"):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def start_cluster(attempts: int = 3) -> str:
    """A 2-CPU local cluster (its start times out after 30 s on a very busy machine: tried
    again)."""
    import ray

    for attempt in range(attempts):
        try:
            context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            return context.address_info["gcs_address"]
        except Exception:
            ray.shutdown()
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")


def timed_rounds(meta: dict, work: Path, address: str, repeats: int) -> dict:
    """pool / ray / ray_cold runs, one of each per round."""
    region = region_bbox(meta["size"], 1.0)
    runs: dict[str, list[dict]] = {"pool": [], "ray": [], "ray_cold": []}
    extras = {"pool": ["--workers", "2"],
              "ray": ["--executor", "ray", "--ray-address", address],
              "ray_cold": ["--executor", "ray", "--workers", "2"]}
    for index in range(repeats):
        for kind, extra in extras.items():
            if kind == "ray_cold" and index < repeats - 1:
                continue  # once, in the last round: its start-up is a fixed cost
            run = build(meta, region, work / f"{kind}_{index}", extra)
            runs[kind].append(run)
            print(f"round {index} {kind}: {run['seconds']} s wall, units {run['unit_seconds']} s "
                  f"summed (load {run['load']})", flush=True)
    return runs


def memory_runs(meta: dict, work: Path, address: str) -> dict:
    """Per-worker peak RSS at 1x and 16x area, pool and Ray."""
    result = {}
    for area, fraction in (("1x", 0.25), ("16x", 1.0)):
        region = region_bbox(meta["size"], fraction)
        result[f"pool_{area}"] = build(meta, region, work / f"mem_pool_{area}",
                                       ["--workers", "2"], monitor="pool")
        result[f"ray_{area}"] = build(meta, region, work / f"mem_ray_{area}",
                                      ["--executor", "ray", "--ray-address", address],
                                      monitor="ray")
    return result


def summarise(runs: dict, memory: dict | None) -> dict:
    """Best times and the Ray/pool ratios; per round, Ray's extra wall seconds split into the
    units' own seconds (summed over the workers, so per-unit costs) and the rest (fixed
    costs: joining the cluster, booting the job's workers, leaving)."""
    best = {kind: min(r["seconds"] for r in rs) for kind, rs in runs.items()}
    pairs = list(zip(runs["ray"], runs["pool"], strict=True))
    per_round = [r["seconds"] / p["seconds"] for r, p in pairs]
    digests = {r["digest"] for rs in runs.values() for r in rs if r["digest"]}
    summary = {"best_seconds": best, "ray_over_pool_best": round(best["ray"] / best["pool"], 3),
               "ray_over_pool_median_of_rounds": round(statistics.median(per_round), 3),
               "ray_over_pool_per_round": [round(x, 3) for x in per_round],
               "unit_seconds_ray_over_pool_median": round(statistics.median(
                   r["unit_seconds"] / p["unit_seconds"] for r, p in pairs), 3),
               "ray_extra_wall_seconds_median": round(statistics.median(
                   r["seconds"] - p["seconds"] for r, p in pairs), 2),
               "load_1min_at_start": {kind: [r["load"] for r in rs] for kind, rs in runs.items()},
               "ray_cold_over_pool_best": round(best["ray_cold"] / best["pool"], 3),
               "target": "ray_over_pool_median_of_rounds <= 1.10 (issue 19, 2 workers)",
               "identical_outputs": len(digests) == 1,
               "samples": runs["pool"][0]["samples"], "units": runs["pool"][0]["units"]}
    if memory:
        summary["worker_peak_rss_mb"] = {k: [round(v / 2**20, 1) for v in m["worker_peak_rss"]]
                                         for k, m in memory.items()}
        summary["memory_samples"] = {k: m["samples"] for k, m in memory.items()}
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoscribe-bench"))
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--features", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    meta = ensure_inputs(args.work, args.size, args.features, "deflate")
    work = args.work / "ray_runs"
    work.mkdir(parents=True, exist_ok=True)
    address = start_cluster()
    runs = timed_rounds(meta, work, address, args.repeats)
    memory = None if args.skip_memory else memory_runs(meta, work, address)
    summary = summarise(runs, memory)
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs, "memory": memory,
                                         "fixture": {k: meta[k] for k in ("size", "features")}},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
