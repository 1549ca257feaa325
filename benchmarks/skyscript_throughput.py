"""Throughput and memory benchmark of `build-dataset skyscript-like` (not part of the tests).

What it does, in one run:

1. Generates (once, cached under --work) a large tiled GeoTIFF (3-band uint8, 512 px tiles,
   DEFLATE or JPEG, EPSG:32633, 0.5 m pixels), written block by block with a cheap but
   non-trivial pattern, and an .osm XML file of ~N features inside it (buildings as closed
   ways of 8-60 m, highway ways, tagged nodes).
2. Warms the OS page cache by reading the raster once.
3. Times `build-dataset skyscript-like ... --workers 1` (subprocess, wall time).
4. Times a plain baseline loop in one process over the SAME windows (read back from the
   pipeline's records in OUT/data/*.tar): rasterio windowed read with out_shape=(3,256,256)
   and the same resampling rule, PIL JPEG (quality 95, subsampling 0), written into a tar.
   Same GDAL_CACHEMAX (64 MB) and GDAL_NUM_THREADS=1 as the pipeline's workers.
5. Times the same raw loop on 2 processes at once, each over a contiguous half of the
   windows: the machine's own two-core scaling of this work (the ceiling for w2 / w1).
6. Times `--workers 2`.
7. Peak RSS of the whole process tree (parent + descendants, polled every 50 ms) for a build
   over 1/16 of the raster vs the whole raster (same feature density), both with --workers 2.

Steps 3-6 form a round, run back to back (--repeats rounds, default 2), each into a fresh --out
folder, so that the machine's slow and fast spells hit the runs compared alike. Ratios are given
from the best run of each kind and as the median of the per-round ratios. Prints a table and
writes a JSON of the results (--json).

Usage:
    python benchmarks/skyscript_throughput.py --json /tmp/geoscribe-bench/results.json
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 1
CRS = "EPSG:32633"
PIXEL_M = 0.5
ORIGIN_X, ORIGIN_Y = 400_000.0, 5_800_000.0  # upper-left corner (UTM 33N, ~13.5E 52.3N)
TILE = 512
CHIP = 256
GDAL_CACHE_MB = 64  # the pipeline's default --gdal-cache-mb
INSET_M = 60.0  # keep generated features this far inside the raster edge


# --------------------------------------------------------------------------- generation


def _raster_pattern_tables(seed: int = 1234):
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 16, size=(3, TILE, TILE), dtype=np.uint8)  # texture / sensor noise
    return rng, noise


def _block(col0: int, row0: int, w: int, h: int, noise: np.ndarray, rng) -> np.ndarray:
    """One block of the synthetic image: smooth gradients + field patches + fine noise."""
    xs = np.arange(col0, col0 + w, dtype=np.float32)
    ys = np.arange(row0, row0 + h, dtype=np.float32)
    out = np.empty((3, h, w), dtype=np.uint8)
    # 32 px "parcels" with a random tone per block (what fields and roofs look like from above)
    cells = rng.integers(0, 60, size=(3, math.ceil(h / 32), math.ceil(w / 32)), dtype=np.uint16)
    cells = np.repeat(np.repeat(cells, 32, axis=1), 32, axis=2)[:, :h, :w]
    for band, (px, py, phase) in enumerate(((211.0, 317.0, 0.0), (263.0, 389.0, 1.3),
                                            (307.0, 173.0, 2.1))):
        gx = (30.0 * np.sin(xs / px + phase)).astype(np.int16)
        gy = (30.0 * np.cos(ys / py + phase)).astype(np.int16)
        base = 100 + gy[:, None] + gx[None, :]  # int16, 40..160
        val = base + cells[band] + noise[band, :h, :w]
        np.clip(val, 20, 235, out=val)
        out[band] = val
    return out


def generate_raster(path: Path, size: int, compression: str) -> None:
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": CRS, "transform": Affine(PIXEL_M, 0, ORIGIN_X, 0, -PIXEL_M, ORIGIN_Y),
        "tiled": True, "blockxsize": TILE, "blockysize": TILE, "interleave": "pixel",
        "BIGTIFF": "IF_SAFER", "num_threads": "ALL_CPUS",
    }
    if compression == "jpeg":
        profile.update(compress="JPEG", photometric="YCBCR", jpeg_quality=90)
    else:
        profile.update(compress="DEFLATE", predictor=2, zlevel=6)
    rng, noise = _raster_pattern_tables()
    tmp = path.with_name(path.name + ".tmp.tif")
    with rasterio.Env(GDAL_CACHEMAX=256 * 1024 * 1024), rasterio.open(tmp, "w", **profile) as dst:
        for row0 in range(0, size, TILE):
            for col0 in range(0, size, TILE):
                w, h = min(TILE, size - col0), min(TILE, size - row0)
                dst.write(_block(col0, row0, w, h, noise, rng), window=Window(col0, row0, w, h))
    os.replace(tmp, path)


def _utm_to_wgs84():
    from pyproj import Transformer

    return Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


BUILDING_TAGS = [
    {"building": "yes"}, {"building": "yes"}, {"building": "yes"},
    {"building": "house", "roof:shape": "gabled"}, {"building": "residential",
                                                     "building:levels": "3"},
    {"building": "industrial", "roof:material": "metal"}, {"building": "garage"},
]
HIGHWAY_TAGS = [
    {"highway": "residential", "surface": "asphalt"}, {"highway": "service"},
    {"highway": "track", "tracktype": "grade2"}, {"highway": "footway"},
    {"highway": "tertiary", "lanes": "2"},
]
NODE_TAGS = [
    {"man_made": "water_tower"}, {"man_made": "mast"}, {"man_made": "chimney"},
    {"power": "tower"}, {"man_made": "storage_tank"},
]


def generate_osm(path: Path, size: int, n_features: int, seed: int = 42) -> dict:
    """Write an .osm XML file of buildings (closed ways), highways (ways) and tagged nodes."""
    rng = np.random.default_rng(seed)
    to_wgs84 = _utm_to_wgs84()
    extent = size * PIXEL_M
    lo_x, hi_x = ORIGIN_X + INSET_M, ORIGIN_X + extent - INSET_M
    lo_y, hi_y = ORIGIN_Y - extent + INSET_M, ORIGIN_Y - INSET_M
    n_build = int(n_features * 0.80)
    n_high = int(n_features * 0.12)
    n_node = n_features - n_build - n_high

    node_lines: list[str] = []
    way_lines: list[str] = []
    next_node = 1
    next_way = 1

    def add_nodes(xs, ys, tags=None) -> list[int]:
        nonlocal next_node
        lons, lats = to_wgs84.transform(np.asarray(xs), np.asarray(ys))
        ids = []
        for lon, lat in zip(np.atleast_1d(lons), np.atleast_1d(lats), strict=True):
            attrs = f'id="{next_node}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
            if tags:
                inner = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
                node_lines.append(f"  <node {attrs}>{inner}</node>\n")
            else:
                node_lines.append(f"  <node {attrs}/>\n")
            ids.append(next_node)
            next_node += 1
        return ids

    def add_way(refs: list[int], tags: dict) -> None:
        nonlocal next_way
        nd = "".join(f'<nd ref="{r}"/>' for r in refs)
        tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        way_lines.append(f'  <way id="{next_way}" version="1">{nd}{tg}</way>\n')
        next_way += 1

    for _ in range(n_build):
        cx, cy = rng.uniform(lo_x + 30, hi_x - 30), rng.uniform(lo_y + 30, hi_y - 30)
        w, h = rng.uniform(8, 60), rng.uniform(8, 60)
        a = rng.uniform(0, math.pi)
        ca, sa = math.cos(a), math.sin(a)
        corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
        xs = [cx + dx * ca - dy * sa for dx, dy in corners]
        ys = [cy + dx * sa + dy * ca for dx, dy in corners]
        refs = add_nodes(xs, ys)
        add_way(refs + refs[:1], BUILDING_TAGS[int(rng.integers(len(BUILDING_TAGS)))])
    for _ in range(n_high):
        x, y = rng.uniform(lo_x + 150, hi_x - 150), rng.uniform(lo_y + 150, hi_y - 150)
        heading = rng.uniform(0, 2 * math.pi)
        xs, ys = [x], [y]
        for _ in range(int(rng.integers(2, 6))):
            heading += rng.normal(0, 0.4)
            step = rng.uniform(15, 45)
            x, y = x + step * math.cos(heading), y + step * math.sin(heading)
            xs.append(min(max(x, lo_x), hi_x))
            ys.append(min(max(y, lo_y), hi_y))
        add_way(add_nodes(xs, ys), HIGHWAY_TAGS[int(rng.integers(len(HIGHWAY_TAGS)))])
    for _ in range(n_node):
        add_nodes([rng.uniform(lo_x, hi_x)], [rng.uniform(lo_y, hi_y)],
                  NODE_TAGS[int(rng.integers(len(NODE_TAGS)))])

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                 '<osm version="0.6" generator="geoscribe-benchmark">\n')
        fh.writelines(node_lines)
        fh.writelines(way_lines)
        fh.write("</osm>\n")
    os.replace(tmp, path)
    return {"buildings": n_build, "highways": n_high, "nodes": n_node}


def region_bbox(size: int, fraction_side: float = 1.0) -> str:
    """WGS84 bbox (for --region) of the centred square covering fraction_side of the raster side.

    fraction_side=1 gives the whole raster; 0.25 gives 1/16 of its area. Generated features
    all lie inside the raster, so a bbox slightly larger than the raster is harmless.
    """
    extent = size * PIXEL_M
    side = extent * fraction_side
    x0 = ORIGIN_X + (extent - side) / 2
    y1 = ORIGIN_Y - (extent - side) / 2
    from rasterio.warp import transform_bounds

    b = transform_bounds(CRS, "EPSG:4326", x0, y1 - side, x0 + side, y1, densify_pts=21)
    return ",".join(f"{v:.7f}" for v in b)


def ensure_inputs(work: Path, size: int, n_features: int, compression: str) -> dict:
    """Generate the raster and OSM file unless a cached copy with the same parameters exists."""
    work.mkdir(parents=True, exist_ok=True)
    tag = f"s{size}_{compression}_v{GENERATOR_VERSION}"
    tif = work / f"bench_{tag}.tif"
    osm = work / f"bench_s{size}_f{n_features}_v{GENERATOR_VERSION}.osm"
    meta_path = work / f"bench_s{size}_f{n_features}_{compression}_v{GENERATOR_VERSION}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    timings = {}
    if not tif.exists():
        print(f"generating {tif} ({size}x{size} px, {compression}) ...", flush=True)
        t0 = time.perf_counter()
        generate_raster(tif, size, compression)
        timings["raster_seconds"] = round(time.perf_counter() - t0, 2)
        print(f"  done in {timings['raster_seconds']} s", flush=True)
    if not osm.exists() or "features" not in meta:
        print(f"generating {osm} ({n_features} features) ...", flush=True)
        t0 = time.perf_counter()
        meta["features"] = generate_osm(osm, size, n_features)
        timings["osm_seconds"] = round(time.perf_counter() - t0, 2)
    meta.update(tif=str(tif), osm=str(osm), tif_bytes=tif.stat().st_size,
                osm_bytes=osm.stat().st_size, size=size, compression=compression,
                generated_now=timings)
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def warm_page_cache(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- measuring


class Poller:
    """Calls `_sample` every `interval` s on a thread while used as a context manager."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class TreeRssMonitor(Poller):
    """Polls the summed RSS of a process and all its descendants; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        super().__init__(interval)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.peak_procs = 0

    def _sample(self) -> None:
        import psutil

        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        if total > self.peak:
            self.peak, self.peak_procs = total, len(procs)


def _build_command() -> list[str]:
    script = Path(sys.executable).with_name("build-dataset")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c",
            "import sys; sys.argv[0] = 'build-dataset'; "
            "from geoscribe.cli import build_dataset_main; build_dataset_main()"]


def run_pipeline(meta: dict, region: str, out: Path, workers: int, monitor: bool = False) -> dict:
    """Run build-dataset; with `monitor`, poll the process tree's RSS (costs some CPU, so timed
    runs are not monitored)."""
    if out.exists():
        shutil.rmtree(out)
    cmd = [*_build_command(), "skyscript-like", f"--region={region}", "--out", str(out),
           "--imagery", meta["tif"], "--osm", meta["osm"], "--workers", str(workers),
           "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = TreeRssMonitor(proc.pid) if monitor else contextlib.nullcontext()
    with watcher:
        stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"build-dataset failed ({proc.returncode}):\n{stdout}\n{stderr}")
    stats = json.loads((out / "stats.json").read_text())
    memory = {"peak_rss": watcher.peak, "peak_rss_procs": watcher.peak_procs} if monitor else {}
    return {"seconds": seconds, "samples": stats["samples"], **memory,
            "stats_seconds": stats["seconds"],
            "units": stats["units"]["total"], "skipped": stats["skipped"], "out": str(out),
            "command": cmd}


def read_windows(out: Path) -> list[dict]:
    """The chips of a pipeline output, from its records: key, raster uri and source window.

    Shards are visited in merge order (train, val, test), members in tar order.
    """
    order = {"train": 0, "val": 1, "test": 2}
    shards = sorted((out / "data").glob("*.tar"),
                    key=lambda p: (order.get(p.name.split("-")[0], 9), p.name))
    windows = []
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".json"):
                    rec = json.loads(tar.extractfile(member).read())
                    w = rec["chip"]["source_window"]
                    windows.append({"key": rec["id"], "uri": rec["image"]["uri"],
                                    "col_off": w["col_off"], "row_off": w["row_off"],
                                    "width": w["width"], "height": w["height"],
                                    "out": rec["chip"]["width"]})
    return windows


def raw_loop(windows_path: Path, tar_path: Path) -> dict:
    """The baseline: open, read each window resampled to 256 px, JPEG-encode, tar. No extras."""
    import rasterio
    from PIL import Image
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    windows = json.loads(windows_path.read_text())
    t0 = time.perf_counter()
    datasets = {}
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024, GDAL_NUM_THREADS=1), \
            tarfile.open(tar_path, "w") as tar:
        for w in windows:
            src = datasets.get(w["uri"])
            if src is None:
                src = datasets[w["uri"]] = rasterio.open(w["uri"])
            side, size = w["width"], w["out"]
            if side > size:
                resampling = Resampling.average
            elif side < size:
                resampling = Resampling.bilinear
            else:
                resampling = Resampling.nearest
            data = src.read([1, 2, 3], window=Window(w["col_off"], w["row_off"], side, side),
                            out_shape=(3, size, size), resampling=resampling)
            rgb = np.ascontiguousarray(np.moveaxis(data, 0, -1))
            buffer = io.BytesIO()
            Image.fromarray(rgb, mode="RGB").save(buffer, format="JPEG", quality=95,
                                                  subsampling=0, optimize=False)
            payload = buffer.getvalue()
            info = tarfile.TarInfo(f"{w['key']}.jpg")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    for src in datasets.values():
        src.close()
    return {"loop_seconds": time.perf_counter() - t0, "samples": len(windows)}


def run_raw(windows: list[dict], work: Path, name: str, processes: int = 1) -> dict:
    """The raw loop in `processes` subprocesses at once, each over a contiguous share of the
    windows (sorted by position, so each process reads its own area, as the pipeline's lanes
    do); with 2 processes this is the machine's own two-core scaling of the same work."""
    if processes > 1:
        windows = sorted(windows, key=lambda w: (w["col_off"] // 4000, w["row_off"],
                                                 w["col_off"]))
    share = math.ceil(len(windows) / processes)
    procs, tars = [], []
    t0 = time.perf_counter()
    for index in range(processes):
        windows_path = work / f"{name}_{index}.windows.json"
        tar_path = work / f"{name}_{index}.tar"
        windows_path.write_text(json.dumps(windows[index * share:(index + 1) * share]))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--raw-loop", str(windows_path),
               str(tar_path)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        tars.append(str(tar_path))
    outputs = [proc.communicate() for proc in procs]
    seconds = time.perf_counter() - t0
    loop_seconds, samples = 0.0, 0
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise SystemExit(f"raw loop failed:\n{stdout}\n{stderr}")
        result = json.loads(stdout.strip().splitlines()[-1])
        loop_seconds = max(loop_seconds, result["loop_seconds"])
        samples += result["samples"]
    return {"seconds": seconds, "loop_seconds": loop_seconds, "samples": samples,
            "tar": tars[0], "processes": processes}


def compare_images(out: Path, raw_tar: Path) -> dict:
    """How many raw-loop JPEGs are byte-identical to the pipeline's (a same-work sanity check)."""
    def digests(paths):
        found = {}
        for path in paths:
            with tarfile.open(path) as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".jpg"):
                        data = tar.extractfile(member).read()
                        found[member.name] = hashlib.sha256(data).hexdigest()
        return found

    pipe = digests(sorted((out / "data").glob("*.tar")))
    raw = digests([raw_tar])
    same = sum(1 for k, v in raw.items() if pipe.get(k) == v)
    return {"identical": same, "raw": len(raw), "pipeline": len(pipe)}


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def machine_info() -> dict:
    import rasterio

    try:
        import psutil

        mem = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        mem = None
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model, "ram_gib": mem,
            "python": platform.python_version(), "platform": platform.platform(),
            "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__}


# --------------------------------------------------------------------------- main


def _fmt_mb(n: int) -> str:
    return f"{n / 2**20:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoscribe-bench"),
                        help="cache of generated inputs and scratch outputs")
    parser.add_argument("--size", type=int, default=16000, help="raster side in px")
    parser.add_argument("--features", type=int, default=6000, help="number of OSM features")
    parser.add_argument("--compression", choices=["deflate", "jpeg"], default="deflate")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measure (best kept)")
    parser.add_argument("--json", type=Path, default=None, help="write results here")
    parser.add_argument("--skip-memory", action="store_true",
                        help="skip the 1x-vs-16x area peak-RSS comparison")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep the build outputs under --work/runs")
    parser.add_argument("--raw-loop", nargs=2, metavar=("WINDOWS_JSON", "TAR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.raw_loop:
        print(json.dumps(raw_loop(Path(args.raw_loop[0]), Path(args.raw_loop[1]))))
        return 0

    started = time.perf_counter()
    work = args.work
    meta = ensure_inputs(work, args.size, args.features, args.compression)
    runs_dir = work / "runs"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(parents=True)
    warm = warm_page_cache(Path(meta["tif"]))
    print(f"inputs: {meta['tif']} ({_fmt_mb(meta['tif_bytes'])}), {meta['osm']} "
          f"({meta['features']}); page cache warmed in {warm:.1f} s", flush=True)

    full = region_bbox(args.size, 1.0)
    results: dict = {"machine": machine_info(), "inputs": meta, "region_full": full,
                     "repeats": args.repeats, "gdal_cache_mb": GDAL_CACHE_MB, "runs": {}}

    # one round = w1, raw loop, raw loop on 2 processes, w2, back to back, so that a slow or fast
    # spell of the machine hits the runs compared with each other alike; the ratios are taken
    # per round (median over rounds) and from the best run of each kind
    labels = ("pipeline_w1", "raw", "raw_2proc", "pipeline_w2")
    for label in labels:
        results["runs"][label] = []
    windows = None
    for i in range(args.repeats):
        print(f"round {i + 1} of {args.repeats}", flush=True)
        for label in labels:
            if label == "pipeline_w1":
                r = run_pipeline(meta, full, runs_dir / f"w1_{i}", 1)
                windows = windows or read_windows(Path(r["out"]))
            elif label == "pipeline_w2":
                r = run_pipeline(meta, full, runs_dir / f"w2_{i}", 2)
            else:
                r = run_raw(windows, runs_dir, f"{label}_{i}", 2 if label == "raw_2proc" else 1)
            print(f"  {label}: {r['samples']} samples in {r['seconds']:.2f} s", flush=True)
            results["runs"][label].append(r)
    runs = results["runs"]
    w1, raw, raw2, w2 = (best(runs[label]) for label in labels)
    check = compare_images(Path(w1["out"]), Path(raw["tar"]))

    def per_round(top: str, bottom: str) -> list[float]:
        return [b["seconds"] / t["seconds"] for t, b in zip(runs[top], runs[bottom],
                                                              strict=True)]

    rate = {name: r["samples"] / r["seconds"] for name, r in
            (("pipeline_w1", w1), ("raw", raw), ("raw_2proc", raw2), ("pipeline_w2", w2))}
    rounds = {"ratio_w1_over_raw": per_round("pipeline_w1", "raw"),
              "ratio_w2_over_w1": per_round("pipeline_w2", "pipeline_w1"),
              "ratio_raw_2proc_over_raw": per_round("raw_2proc", "raw")}
    summary = {
        "samples": w1["samples"],
        "seconds": {"pipeline_w1": w1["seconds"], "raw": raw["seconds"],
                    "raw_loop_only": raw["loop_seconds"], "raw_2proc": raw2["seconds"],
                    "pipeline_w2": w2["seconds"]},
        "samples_per_s": rate,
        "ratio_w1_over_raw": rate["pipeline_w1"] / rate["raw"],
        "ratio_w2_over_w1": rate["pipeline_w2"] / rate["pipeline_w1"],
        "ratio_raw_2proc_over_raw": rate["raw_2proc"] / rate["raw"],
        "per_round": rounds,
        "median_per_round": {name: statistics.median(values) for name, values in rounds.items()},
        "raw_images_identical": check,
        "targets": {"ratio_w1_over_raw": 0.8, "ratio_w2_over_w1": 1.7, "memory_ratio": 1.3},
    }

    if not args.skip_memory:
        small = region_bbox(args.size, 0.25)
        results["region_small"] = small
        print("measuring peak RSS, 1/16 and full area, --workers 2 (monitored runs)", flush=True)
        m1 = [run_pipeline(meta, small, runs_dir / f"mem1x_{i}", 2, monitor=True)
              for i in range(args.repeats)]
        m16 = [run_pipeline(meta, full, runs_dir / f"mem16x_{i}", 2, monitor=True)
               for i in range(args.repeats)]
        results["runs"]["memory_1x_w2"] = m1
        results["runs"]["memory_16x_w2"] = m16
        peak_1x = max(r["peak_rss"] for r in m1)
        peak_16x = max(r["peak_rss"] for r in m16)
        summary["memory"] = {
            "peak_rss_1x": peak_1x, "peak_rss_16x": peak_16x,
            "samples_1x": m1[0]["samples"], "samples_16x": m16[0]["samples"],
            "ratio_16x_over_1x": peak_16x / peak_1x,
        }
    results["summary"] = summary
    results["total_seconds"] = round(time.perf_counter() - started, 1)

    print()
    print(f"machine: {results['machine']['cpus']} cores ({results['machine']['cpu_model']}), "
          f"{results['machine']['ram_gib']} GiB RAM, GDAL {results['machine']['gdal']}")
    print(f"raster {args.size}x{args.size} px {args.compression}, {args.features} OSM features, "
          f"best of {args.repeats}")
    print(f"{'run':<24}{'samples':>9}{'seconds':>10}{'samples/s':>11}")
    for name, r in (("pipeline --workers 1", w1), ("raw loop (1 process)", raw),
                    ("raw loop (2 processes)", raw2), ("pipeline --workers 2", w2)):
        rate_s = r["samples"] / r["seconds"]
        print(f"{name:<24}{r['samples']:>9}{r['seconds']:>10.2f}{rate_s:>11.1f}")
    print(f"raw loop without interpreter start: {raw['loop_seconds']:.2f} s; raw JPEGs identical "
          f"to the pipeline's: {check['identical']}/{check['raw']}")
    medians = summary["median_per_round"]
    for key, label, target in (("ratio_w1_over_raw", "pipeline_w1 / raw", ">= 0.8"),
                               ("ratio_w2_over_w1", "w2 / w1", ">= 1.7"),
                               ("ratio_raw_2proc_over_raw", "raw 2 procs / raw 1",
                                "the machine's own 2-core scaling")):
        print(f"ratio {label:<20} = {summary[key]:.3f} best-of-runs, {medians[key]:.3f} median "
              f"of rounds {[round(v, 3) for v in summary['per_round'][key]]}   ({target})")
    if "memory" in summary:
        m = summary["memory"]
        print(f"peak RSS (tree, --workers 2): 1x area {_fmt_mb(m['peak_rss_1x'])} "
              f"({m['samples_1x']} samples), 16x area {_fmt_mb(m['peak_rss_16x'])} "
              f"({m['samples_16x']} samples); ratio {m['ratio_16x_over_1x']:.3f} "
              "(target < 1.3)")
    print(f"total benchmark time {results['total_seconds']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json}")
    if not args.keep_outputs:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
