"""Build every recipe on fixed inputs, to compare two versions' shards byte for byte.

    python benchmarks/recipe_shards.py BIN_DIR OUT_ROOT [--scene DIR]

BIN_DIR holds the `build-dataset` to run (e.g. a venv's bin/); the vector recipes build the test
scene of tests/scene.py (made once in --scene; sample keys hash the input paths, so two versions
compared must use the same scene folder), the mask recipes the demo's SpaceNet masks. Compare
two runs with `cmp` over OUT_ROOT/*/data/*.tar (not part of the tests)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from geoscribe.sources import demo  # noqa: E402
from scene import make_scene  # noqa: E402

COMMON = ["--image-format", "png", "--chip-size", "128", "--min-chip-px", "128", "--unit-deg",
          "0.001", "--split-block-deg", "0.0015", "--split-fractions", "0.5,0.25,0.25",
          "--seed", "0", "--no-progress", "--workers", "2"]
VECTOR_RECIPES = ("skyscript-like", "rsvqa-like", "geochat-like", "rsteller-like")
MASK_RECIPES = ("counting-qa", "landcover-cls", "chatearthnet-like")


def scene_inputs(directory: Path) -> tuple[str, str, str]:
    """(bbox, raster, osm) of the test scene in `directory`, made on first use."""
    done = directory / "done"
    if not done.exists():
        directory.mkdir(parents=True, exist_ok=True)
        scene = make_scene(directory)
        done.write_text(f"{scene.bbox}\n{scene.raster}\n{scene.osm}\n")
    bbox, raster, osm = done.read_text().split("\n")[:3]
    return bbox, raster, osm


def commands(bin_dir: Path, root: Path, scene_dir: Path) -> list[list[str]]:
    """One build-dataset command line per recipe."""
    build = str(bin_dir / "build-dataset")
    bbox, raster, osm = scene_inputs(scene_dir)
    lines = [[build, recipe, f"--region={bbox}", "--out", str(root / recipe), "--imagery",
              raster, "--osm", osm, *COMMON] for recipe in VECTOR_RECIPES]
    masks = demo.demo_inputs("counting-qa", "masks")
    for recipe in MASK_RECIPES:
        line = [build, recipe, "--region=-180,-85,180,85", "--out", str(root / recipe),
                "--no-progress", "--workers", "2"]
        for image in masks["imagery"]:
            line += ["--imagery", image]
        for label, class_map, kind in zip(masks["labels"], masks["class_map"],
                                          masks["mask_kind"], strict=True):
            line += ["--labels", label, "--class-map", class_map, "--mask-kind", kind]
        lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bin_dir", type=Path)
    parser.add_argument("out_root", type=Path)
    parser.add_argument("--scene", type=Path, default=Path("/tmp/geoscribe_cmp_scene"))
    args = parser.parse_args()
    failed = 0
    for line in commands(args.bin_dir, args.out_root, args.scene):
        result = subprocess.run(line, capture_output=True, text=True)
        last = result.stderr.strip().splitlines()[-1:] if result.returncode else []
        print(line[1], "exit", result.returncode, *last)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
