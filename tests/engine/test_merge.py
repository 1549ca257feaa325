"""ShardMerger (engine/merge.py): shards rolled by samples and bytes, members in a fixed order
whatever order units finish in, a stats json next to each shard, and the rewrite hook.

Truth is computed here, not by the merger: the expected shard cuts by simulating the caps on
member sizes worked out from the tar format (a 512-byte header per member, data padded to
512), and shard contents read back with Python's tarfile."""

from __future__ import annotations

import hashlib
import json
import random
import tarfile
from pathlib import Path

import pytest

from geoscribe.engine.merge import ShardMerger, merge_rejected, remove_parts
from geoscribe.engine.units import Unit, unit_dir
from geoscribe.shards import UnitPartWriter

SPLITS = ("train", "val", "test")


def _member_bytes(sample: dict) -> int:
    """Bytes a sample's tar members take: a header block each plus data padded to 512."""
    return sum(512 + -(-len(sample[ext]) // 512) * 512 for ext in sample if ext != "__key__")


def _make_units(work: Path, n_units: int, seed: int = 3) -> tuple[list[Unit], list[dict],
                                                                   dict[str, list[dict]]]:
    """Units with part tars of random samples; their stats, and every split's samples in
    unit order (what the shards must hold)."""
    rng = random.Random(seed)
    units = [Unit(ix, 5, 0.01) for ix in range(n_units)]
    expected: dict[str, list[dict]] = {split: [] for split in SPLITS}
    all_stats = []
    for unit in units:
        writer = UnitPartWriter(unit_dir(work, unit))
        for i in range(rng.randint(0, 6)):
            split = rng.choice(SPLITS)
            sample = {"__key__": f"{unit.name}_s{i}",
                      "png": rng.randbytes(rng.randint(1, 1500)),
                      "txt": f"caption {unit.name} {i}".encode(),
                      "json": json.dumps({"id": f"{unit.name}_s{i}", "n": i}).encode()}
            writer.write(split, sample)
            expected[split].append((unit.name, sample))
        writer.commit()
        all_stats.append({"unit": unit.name, "ranges": {s: r for s, r in writer.ranges.items()
                                                         if r},
                          "skipped": {"no_pixels": unit.ix % 3}, "seconds": 0.5})
    return units, all_stats, expected


def _expected_cuts(samples: list, max_samples: int, max_bytes: int) -> list[list]:
    """Greedy shard cuts: a new shard when the count is reached or the bytes would overflow."""
    shards: list[list] = []
    size = 0
    for item in samples:
        sample_bytes = _member_bytes(item[1])
        if shards and (len(shards[-1]) >= max_samples or size + sample_bytes > max_bytes):
            shards.append([])
            size = 0
        if not shards:
            shards.append([])
        shards[-1].append(item)
        size += sample_bytes
    return shards


def _read_tar(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def _as_members(samples: list) -> list[tuple[str, bytes]]:
    return [(f"{s['__key__']}.{ext}", s[ext])
            for _, s in samples for ext in sorted(k for k in s if k != "__key__")]


def _merge(tmp_path: Path, name: str, order, max_samples: int, max_bytes: int,
           rewrite=None) -> tuple[Path, list[dict], list, dict]:
    work = tmp_path / "work"
    units, all_stats, expected = _make_units(work, 9)  # the same seed: the same parts
    out = tmp_path / name
    merger = ShardMerger(out, work, units, max_samples, max_bytes, rewrite=rewrite)
    for index in order:
        merger.unit_done(all_stats[index])
    return out, merger.close(), units, expected


@pytest.mark.parametrize("max_samples,max_bytes",
                         [(3, 10**9), (1000, 6144), (1000, 7168), (4, 8192)])
def test_shards_roll_by_samples_and_bytes(tmp_path, max_samples, max_bytes):
    """issue 11: the caps cut shards where a greedy count/byte rule says, members in order."""
    out, shards, _, expected = _merge(tmp_path, "out", range(9), max_samples, max_bytes)
    for split in SPLITS:
        cuts = _expected_cuts(expected[split], max_samples, max_bytes)
        names = sorted(p.name for p in (out / "data").glob(f"{split}-*.tar"))
        assert names == [f"{split}-{i:06d}.tar" for i in range(len(cuts))]
        for name, cut in zip(names, cuts, strict=True):
            assert _read_tar(out / "data" / name) == _as_members(cut)
    assert len(shards) == sum(len(_expected_cuts(expected[s], max_samples, max_bytes))
                              for s in SPLITS)


def test_member_order_does_not_depend_on_finishing_order(tmp_path):
    """issue 11: units finishing in any order give byte-identical shards (grid order)."""
    first, _, _, _ = _merge(tmp_path, "in_order", range(9), 4, 5000)
    shuffled = list(range(9))
    random.Random(8).shuffle(shuffled)
    assert shuffled != sorted(shuffled)
    second, _, _, _ = _merge(tmp_path, "shuffled", shuffled, 4, 5000)
    tars = sorted(p.name for p in (first / "data").glob("*.tar"))
    assert tars == sorted(p.name for p in (second / "data").glob("*.tar"))
    for name in tars:
        assert (first / "data" / name).read_bytes() == (second / "data" / name).read_bytes()


def test_a_units_samples_wait_for_the_units_before_it(tmp_path):
    """issue 11: a unit finished early is not merged until every earlier unit is."""
    work = tmp_path / "work"
    units, all_stats, _ = _make_units(work, 4)
    merger = ShardMerger(tmp_path / "out", work, units, 1000, 10**9)
    merger.unit_done(all_stats[3])
    merger.unit_done(all_stats[1])
    assert merger._next == 0
    merger.unit_done(all_stats[0])
    assert merger._next == 2  # units 0 and 1 merged; 3 waits for 2
    with pytest.raises(RuntimeError):
        merger.close()


def test_shard_stats_json_sits_next_to_its_shard(tmp_path):
    """issue 11: {shard}_stats.json describes the tar beside it (hash, count, units, skips)."""
    out, shards, units, expected = _merge(tmp_path, "out", range(9), 4, 5000)
    skipped_by_unit = {u.name: u.ix % 3 for u in units}
    tars = sorted((out / "data").glob("*.tar"))
    assert sorted(s["shard"] for s in shards) == [p.name for p in tars]
    for tar in tars:
        stats = json.loads((tar.parent / f"{tar.stem}_stats.json").read_text())
        members = _read_tar(tar)
        keys = list(dict.fromkeys(name.split(".", 1)[0] for name, _ in members))
        assert stats["shard"] == tar.name
        assert stats["split"] == tar.name.split("-")[0]
        assert stats["samples"] == len(keys)
        assert stats["sha256"] == hashlib.sha256(tar.read_bytes()).hexdigest()
        assert stats["tar_bytes"] == tar.stat().st_size
        contributing = list(dict.fromkeys(key.split("_s")[0] for key in keys))
        assert stats["units"] == contributing
        no_pixels = sum(skipped_by_unit[name] for name in contributing)
        assert stats["unit_skipped"] == ({"no_pixels": no_pixels} if contributing else {})
        assert stats["unit_build_seconds"] == pytest.approx(0.5 * len(contributing))
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(
        [p.name for p in tars] + [f"{p.stem}_stats.json" for p in tars]
        + [f"{p.stem}.parquet" for p in tars] + ["sizes.json"])  # issue 12 case 3
    sizes = json.loads((out / "data" / "sizes.json").read_text())
    assert sizes == {tar.name: json.loads((tar.parent / f"{tar.stem}_stats.json").read_text())[
        "samples"] for tar in tars}


def test_rewrite_hook_drops_and_changes_samples(tmp_path):
    """issue 11: with a rewrite hook, samples are re-encoded as rewritten; None drops one."""
    def rewrite(sample: dict) -> dict | None:
        if int(sample["__key__"].rsplit("_s", 1)[1]) % 2:
            return None
        return {**sample, "txt": sample["txt"].upper()}

    out, _, _, expected = _merge(tmp_path, "out", range(9), 1000, 10**9, rewrite=rewrite)
    for split in SPLITS:
        kept = [(u, {**s, "txt": s["txt"].upper()}) for u, s in expected[split]
                if int(s["__key__"].rsplit("_s", 1)[1]) % 2 == 0]
        tars = sorted((out / "data").glob(f"{split}-*.tar"))
        members = [m for tar in tars for m in _read_tar(tar)]
        assert members == _as_members(kept)


def test_rejected_records_are_gathered_in_unit_order_and_parts_removed(tmp_path):
    """issue 11: rejected.jsonl = each unit's rejected then LLM-rejected lines, in unit order;
    remove_parts drops the part tars and keeps the markers."""
    work = tmp_path / "work"
    units, _, _ = _make_units(work, 3)
    lines = []
    for unit in reversed(units):  # written out of order: the merge orders them
        directory = unit_dir(work, unit)
        (directory / "rejected.jsonl").write_text(f'{{"u": "{unit.name}", "k": 1}}\n\n')
        (directory / "llm_rejected.jsonl").write_text(f'{{"u": "{unit.name}", "k": 2}}\n')
        (directory / "done.json").write_text("{}")
    for unit in units:
        lines += [f'{{"u": "{unit.name}", "k": 1}}', f'{{"u": "{unit.name}", "k": 2}}']
    out = tmp_path / "out"
    out.mkdir()
    assert merge_rejected(out, work, units) == len(lines)
    assert (out / "rejected.jsonl").read_text().splitlines() == lines
    remove_parts(work, units)
    for unit in units:
        assert sorted(p.name for p in unit_dir(work, unit).iterdir()) == [
            "done.json", "llm_rejected.jsonl", "rejected.jsonl"]


def test_abort_removes_the_shards_begun_and_keeps_the_finished(tmp_path):
    """issue 11 review (partial shards): ShardMerger.abort leaves no `.tar.tmp` in data/; the
    shards closed before (count cap reached) stay, whole."""
    work, out = tmp_path / "work", tmp_path / "out"
    units, all_stats, expected = _make_units(work, 6)
    merger = ShardMerger(out, work, units, 2, 10**9)
    for stats in all_stats[:4]:
        merger.unit_done(stats)
    begun = {p.name for p in (out / "data").glob("*.tar.tmp")}
    assert begun  # the case of this test: shards half-written
    finished = sorted(p.name for p in (out / "data").glob("*.tar"))
    merger.abort()
    assert sorted(p.name for p in (out / "data").iterdir() if p.suffix != ".parquet") == finished
    assert sorted(p.stem for p in (out / "data").glob("*.parquet")) == [  # issue 12 case 3
        name.removesuffix(".tar") for name in finished]
    for name in finished:
        assert len(_read_tar(out / "data" / name)) % 3 == 0  # whole samples, readable
