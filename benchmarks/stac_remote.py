"""`--imagery stac:URL` against the same COG as a local file (issue 18).

Not a test: run by hand (see benchmarks/README.md). Generates (once, cached in `--work`) the
synthetic scene of skyscript_throughput.py as a DEFLATE COG (512 px tiles, overviews), serves
it from the loopback STAC API of tests/stac_server.py (whose file server counts the bytes it
sends), and builds skyscript-like over a small centred region and over the whole scene, once
from the STAC API and once from the local file. Reports, per region: the bytes sent over HTTP
against the COG's size, the HTTP range requests, wall time of both builds, and whether both
builds wrote the same samples (keys and image bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import rasterio.shutil  # noqa: E402
import skyscript_throughput as sky  # noqa: E402

from stac_server import StacServer, collection  # noqa: E402


def ensure_cog(work: Path, size: int, n_features: int) -> dict:
    """The benchmark scene (raster, OSM) with the raster rewritten as a COG."""
    meta = sky.ensure_inputs(work, size, n_features, "deflate")
    cog = Path(meta["tif"]).with_suffix(".cog.tif")
    if not cog.exists():
        rasterio.shutil.copy(meta["tif"], cog, driver="COG", BLOCKSIZE=512,
                             COMPRESS="DEFLATE", PREDICTOR=2)
    return {**meta, "cog": str(cog), "cog_bytes": cog.stat().st_size}


def build(imagery: list[str], meta: dict, region: str, out: Path, cache: Path) -> float:
    cmd = [str(Path(sys.executable).with_name("build-dataset")), "skyscript-like",
           f"--region={region}", "--out", str(out), *imagery, "--osm", meta["osm"],
           "--workers", "2", "--no-progress", "--cache-dir", str(cache)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - started


def samples(out: Path) -> dict[str, str]:
    """sha256 of every image member by sample key."""
    found = {}
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith((".jpg", ".png")):
                    data = tar.extractfile(member).read()
                    found[member.name] = hashlib.sha256(data).hexdigest()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/geoscribe-bench"))
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--features", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    meta = ensure_cog(args.work, args.size, args.features)
    rows = []
    with StacServer() as stac, tempfile.TemporaryDirectory() as tmp:
        stac.collections["bench"] = collection("bench")
        stac.add_item("scene", Path(meta["cog"]), 0.0, "2023-06-01T10:00:00Z",
                      collection="bench")
        for name, fraction in (("small (1/64 of the area)", 0.125), ("whole scene", 1.0)):
            region = sky.region_bbox(args.size, fraction)
            sent, requests = sum(stac.bytes_sent.values()), len(stac.file_requests)
            remote = build(["--imagery", f"stac:{stac.api}", "--collection", "bench"], meta,
                           region, Path(tmp) / f"stac{fraction}", Path(tmp) / "cache")
            local = build(["--imagery", meta["cog"]], meta, region,
                          Path(tmp) / f"local{fraction}", Path(tmp) / "cache")
            same = samples(Path(tmp) / f"stac{fraction}") == samples(Path(tmp) / f"local{fraction}")
            rows.append({"region": name, "bytes_sent": sum(stac.bytes_sent.values()) - sent,
                         "cog_bytes": meta["cog_bytes"],
                         "range_requests": len(stac.file_requests) - requests,
                         "stac_seconds": round(remote, 2), "local_seconds": round(local, 2),
                         "samples": len(samples(Path(tmp) / f"local{fraction}")),
                         "same_samples": same})
    print("| region | samples | bytes sent / COG size | HTTP requests | stac s | local s | same |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        share = 100 * r["bytes_sent"] / r["cog_bytes"]
        print(f"| {r['region']} | {r['samples']} | {r['bytes_sent'] / 1e6:.1f} MB / "
              f"{r['cog_bytes'] / 1e6:.1f} MB ({share:.1f} %) | {r['range_requests']} | "
              f"{r['stac_seconds']} | {r['local_seconds']} | {r['same_samples']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
