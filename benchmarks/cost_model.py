"""issue 19: the cost of a SkyScript-scale build (5.2 M chips) on a Ray cluster, on paper from
measured per-chip figures.

    nice -n 19 .venv/bin/python benchmarks/cost_model.py --json /tmp/geoscribe-bench/cost.json \
        [--ray-json /tmp/geoscribe-bench/ray.json]

Measured here, on skyscript_throughput.py's generated scene turned into a COG (DEFLATE, 512 px
blocks, no overviews):
1. chips/s per core of the whole pipeline from the local COG: `build-dataset --workers 1`,
   its units' own seconds (stats.json seconds.units) over the samples built;
2. the read of those same chip windows (from the records' chip.source_window), one process,
   from the local COG and from the same COG served over HTTP by a loopback range server
   (range_server below) adding `--latency` ms to every request (GDAL /vsicurl/, its default
   block cache): the remote read's extra seconds per chip;
3. the driver's merge rate: reading the built shards back and writing them again (the bytes
   a driver copies per sample), samples/s.
Then per latency: chips/s per core from remote COGs = 1 / (1/local rate + extra read per chip);
the wall time and core-hours of 5.2 M chips on 64 and 512 cores (times the Ray/pool ratio of
ray_executor.py when --ray-json is given); and which stage bounds the run: the cores, the
driver's merge, the LLM endpoint (--llm-rps, requests/s the endpoint serves: an assumption
you size, not measured here) or CLIP scoring on the driver's GPU (--clip-ips, images/s: also
yours to measure with clip_throughput.py).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from skyscript_throughput import _build_command, ensure_inputs, read_windows, region_bbox  # noqa: E402,I001

CHIPS = 5_200_000  # SkyScript
CLUSTERS = (64, 512)


def range_handler(root: Path, latency_s: float):
    """A request handler serving files of `root` with HTTP Range support, after `latency_s`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _send(self, body: bool) -> None:
            time.sleep(latency_s)
            path = root / self.path.lstrip("/").split("?")[0]
            if not path.is_file():
                self.send_error(404)
                return
            size = path.stat().st_size
            start, end = 0, size - 1
            header = self.headers.get("Range")
            if header and header.startswith("bytes="):
                first, _, last = header[6:].split(",")[0].partition("-")
                start = int(first) if first else size - int(last)
                end = min(int(last), size - 1) if first and last else size - 1
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if body:
                with open(path, "rb") as handle:
                    handle.seek(start)
                    self.wfile.write(handle.read(end - start + 1))

        def do_GET(self) -> None:  # noqa: N802
            self._send(True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(False)

    return Handler


class RangeServer:
    """A loopback HTTP range server over `root` with an added latency, in a thread."""

    def __init__(self, root: Path, latency_s: float) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      range_handler(root, latency_s))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_cog(tif: Path, cog: Path) -> None:
    """The fixture raster as a COG (once)."""
    if cog.exists():
        return
    import rasterio.shutil

    rasterio.shutil.copy(str(tif), str(cog), driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512,
                         OVERVIEWS="NONE")


def pipeline_rate(meta: dict, cog: Path, out: Path) -> dict:
    """build-dataset --workers 1 over the local COG: samples per second of unit work."""
    if out.exists():
        shutil.rmtree(out)
    cmd = [*_build_command(), "skyscript-like", f"--region={region_bbox(meta['size'])}",
           "--out", str(out), "--imagery", str(cog), "--osm", meta["osm"], "--workers", "1",
           "--no-progress"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    stats = json.loads((out / "stats.json").read_text())
    unit_seconds = stats["seconds"]["units"]
    return {"samples": stats["samples"], "unit_seconds": unit_seconds, "wall": round(wall, 3),
            "chips_per_s_core": round(stats["samples"] / unit_seconds, 2)}


def read_seconds(windows: list[dict], uri: str) -> float:
    """Seconds to read every window (resampled to the chip size) from `uri`, one process."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    env = dict(GDAL_CACHEMAX=64 * 2**20, GDAL_NUM_THREADS=1,
               GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
               CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif", GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES")
    started = time.perf_counter()
    with rasterio.Env(**env), rasterio.open(uri) as src:
        for w in windows:
            side, size = w["width"], w["out"]
            resampling = Resampling.average if side > size else Resampling.bilinear
            src.read([1, 2, 3], window=Window(w["col_off"], w["row_off"], side, side),
                     out_shape=(3, size, size), resampling=resampling)
    return time.perf_counter() - started


def merge_rate(out: Path, scratch: Path) -> float:
    """Samples per second a driver copies: the shards read back and written again."""
    shards = sorted((out / "data").glob("*.tar"))
    samples = json.loads((out / "stats.json").read_text())["samples"]
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for shard in shards:
        with open(shard, "rb") as src, open(scratch / shard.name, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
    seconds = time.perf_counter() - started
    shutil.rmtree(scratch)
    return samples / seconds


def project(rate: float, cores: int, efficiency: float, limits: dict[str, float]) -> dict:
    """Wall hours and core-hours of CHIPS on `cores` cores at `rate` chips/s per core, the run
    going no faster than its slowest stage (`limits`: chips/s of the stages that do not grow
    with the cluster); which stage that is."""
    stages = {"cores (unit work)": rate * cores * efficiency, **limits}
    slowest = min(stages, key=stages.get)
    wall_h = CHIPS / stages[slowest] / 3600
    return {"wall_hours": round(wall_h, 2), "core_hours": round(wall_h * cores, 1),
            "bottleneck": f"{slowest} ({stages[slowest]:.0f} chips/s)"}


def measure(args, meta: dict) -> dict:
    """The measured figures: the pipeline's local rate, the read seconds per chip (local and
    per latency), the driver's merge rate."""
    cog_dir = args.work / "cog"
    cog_dir.mkdir(parents=True, exist_ok=True)
    cog = cog_dir / f"{Path(meta['tif']).stem}_cog.tif"  # one per fixture
    make_cog(Path(meta["tif"]), cog)
    out = args.work / "cost_runs" / "w1"
    local = pipeline_rate(meta, cog, out)
    windows = read_windows(out)
    reads = {"local": read_seconds(windows, str(cog)) / len(windows)}
    for latency in args.latency_ms:
        with RangeServer(cog_dir, latency / 1000) as url:
            reads[f"remote_{latency:g}ms"] = read_seconds(
                windows, f"/vsicurl/{url}/{cog.name}") / len(windows)
    return {"chips_measured": len(windows), "pipeline_local": local,
            "read_seconds_per_chip": reads,
            "driver_merge_chips_per_s": round(merge_rate(out, args.work / "cost_runs" / "copy"),
                                              1)}


def scenarios(measured: dict, efficiency: float, llm_rps: float, clip_ips: float) -> dict:
    """Per read scenario: chips/s per core and the projections on CLUSTERS, without and with
    the driver-side text stages (LLM, CLIP)."""
    reads = measured["read_seconds_per_chip"]
    local_rate = measured["pipeline_local"]["chips_per_s_core"]
    rates = {"local COG": local_rate}
    for name, seconds in reads.items():
        if name != "local":  # the remote read's extra seconds on top of the local pipeline's
            extra = max(0.0, seconds - reads["local"])
            rates[f"{name.replace('_', ' COG, ')}"] = 1 / (1 / local_rate + extra)
    merge = {"driver merge": measured["driver_merge_chips_per_s"]}
    text = {**merge, "LLM endpoint (assumed)": llm_rps, "CLIP on one GPU (assumed)": clip_ips}
    return {name: {"chips_per_s_core": round(rate, 2),
                   **{f"{cores}_cores": {"no_text_stage": project(rate, cores, efficiency, merge),
                                         "with_llm_and_clip": project(rate, cores, efficiency,
                                                                      text)}
                      for cores in CLUSTERS}}
            for name, rate in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoscribe-bench"))
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--features", type=int, default=1500)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0, 50.0])
    parser.add_argument("--ray-json", type=Path, help="ray_executor.py's --json output")
    parser.add_argument("--measured", type=Path,
                        help="reuse the measurements of an earlier --json (projections only)")
    parser.add_argument("--llm-rps", type=float, default=50.0,
                        help="requests/s the LLM endpoint serves (assumed, not measured)")
    parser.add_argument("--clip-ips", type=float, default=400.0,
                        help="images/s CLIP scores on the driver's GPU (assumed)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.measured:
        measured = json.loads(args.measured.read_text())["measured"]
    else:
        measured = measure(args, ensure_inputs(args.work, args.size, args.features, "deflate"))
    efficiency = 1.0
    if args.ray_json:
        summary = json.loads(args.ray_json.read_text())["summary"]
        efficiency = 1 / summary["ray_over_pool_median_of_rounds"]
    result = {"measured": measured, "ray_efficiency": round(efficiency, 3),
              "assumed": {"llm_rps": args.llm_rps, "clip_ips": args.clip_ips},
              "scenarios": scenarios(measured, efficiency, args.llm_rps, args.clip_ips)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
