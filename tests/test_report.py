"""report.py: the one reader of stats.json, the run summary lines, the HTML preview (written
from the stats it is given) and the Hub dataset card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from geoscribe.errors import InputError
from geoscribe.report import preview_html, read_stats, summary_lines, write_dataset_card


@pytest.mark.parametrize("content, needle", [
    ('{"samples": 3,', "invalid JSON (line 1"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text (corrupt)"),
    ("[1, 2]", "expected a JSON object (corrupt)"),
], ids=["truncated", "not-utf8", "not-an-object"])
def test_read_stats_is_one_line_on_a_corrupt_file(tmp_path, content, needle):
    """issue 11 review (one stats.json reader): each corruption is one line naming the file."""
    path = tmp_path / "stats.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_stats(tmp_path)
    assert str(caught.value).startswith(f"{path}: {needle}")
    assert "\n" not in str(caught.value)


def test_read_stats_without_a_file_names_the_folder(tmp_path):
    """issue 11 review (one stats.json reader): no stats.json: not a finished output."""
    with pytest.raises(InputError, match="no stats.json"):
        read_stats(tmp_path)
    (tmp_path / "stats.json").write_text('{"samples": 2}', encoding="utf-8")
    assert read_stats(tmp_path) == {"samples": 2}


def test_preview_shows_the_stats_it_is_given_as_stats_json_orders_them(built, tmp_path):
    """issue 11 review (one stats.json reader): the preview is written from the stats passed
    in (no stats.json needed), and the stats block is the same whether those stats come from
    memory (insertion order) or from stats.json (sorted keys)."""
    out = tmp_path / "copy"
    shutil.copytree(built, out)
    from_file = preview_html(out, read_stats(out)).read_text(encoding="utf-8")
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    stats["samples_by_split"] = {split: stats["samples_by_split"][split]
                                 for split in ("train", "val", "test")}  # as the build has it
    (out / "stats.json").unlink()
    assert preview_html(out, stats).read_text(encoding="utf-8") == from_file
    stats["recipe"] = "renamed-in-memory"
    assert "renamed-in-memory" in preview_html(out, stats).read_text(encoding="utf-8")



def test_summary_lines_counts_skips_and_empty_splits(tmp_path):
    """issue 11 tests mirror src: counts per split, the six largest skip reasons largest
    first, and a note naming the empty splits."""
    stats = {"samples": 7, "samples_by_split": {"train": 7}, "rejected": 2,
             "shards": ["a", "b"], "skipped": {f"r{i}": i for i in range(1, 9)}}
    lines = summary_lines(tmp_path, stats)
    assert lines[0] == "built 7 samples (train 7, val 0, test 0); 2 rejected"
    assert f"({2} tar files" in lines[1]
    assert "skipped: r8=8, r7=7, r6=6, r5=5, r4=4, r3=3" in lines
    assert lines[-1].startswith("note:    the val and test splits are empty")
    assert not any(line.startswith("note") for line in summary_lines(
        tmp_path, {"samples": 3, "samples_by_split": {"train": 1, "val": 1, "test": 1}}))


def test_summary_line_of_an_llm_stage(tmp_path):
    """issue 11 tests mirror src: captioned/records, rejections summed, tokens summed."""
    llm = {"captioned": 5, "records": 6, "model": "m", "rejected_records": {"a": 1, "b": 2},
           "requests": 9, "cache_hits": 4, "prompt_tokens": 100, "completion_tokens": 23}
    lines = summary_lines(tmp_path, {"llm": llm})
    assert ("llm:     5/6 records captioned by m; 3 rejected; 9 requests (4 cache hits), "
            "123 tokens") in lines


@pytest.mark.parametrize(("licenses", "hub", "samples", "size"), [
    ([["CC-BY-4.0", "x"]], "cc-by-4.0", 999, "n<1K"),
    ([["CC-BY-4.0", "x"], ["ODbL-1.0", "y"]], "other", 1000, "1K<n<10K"),
    ([["unknown", "x"], ["ODbL-1.0", "y"]], "unknown", 2_000_000, "1M<n<10M"),
])
def test_dataset_card_header(tmp_path, licenses, hub, samples, size):
    """issue 11 tests mirror src: the YAML header a Hub card needs, read back with yaml;
    issue 15: size categories from the Hub's list (no `n>1M`)."""
    stats = {"recipe": "skyscript-like", "samples": samples,
             "samples_by_split": {"train": samples, "val": 0}, "licenses": licenses}
    text = write_dataset_card(tmp_path, stats).read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["license"] == hub
    assert header["size_categories"] == [size]
    assert header["configs"][0]["data_files"] == [{"split": "train",
                                                   "path": "data/train-*.tar"}]


def test_qa_mix_and_report_read_the_records_once(built, tmp_path, monkeypatch):
    """issue 17 case 6 review: the realised QA mix (stats `qa_types`) comes from the report's
    own scan of the records: a build's mix then its report open the shards no more often
    than the report alone, and a rewritten shard is read again."""
    import tarfile

    from geoscribe.report import add_qa_mix, write_report

    opened: list[str] = []
    real_open = tarfile.open
    monkeypatch.setattr(tarfile, "open", lambda name, *a, **k: (
        opened.append(Path(name).name), real_open(name, *a, **k))[1])
    alone, both = tmp_path / "alone", tmp_path / "both"
    for out in (alone, both):
        shutil.copytree(built, out)
    write_report(alone, read_stats(alone))
    report_alone, opened[:] = list(opened), []
    stats = read_stats(both)
    add_qa_mix(stats, both)
    write_report(both, stats)
    shards = sorted(p.name for p in (both / "data").glob("*.tar"))
    assert set(report_alone) == set(shards)
    assert sorted(opened) == sorted(report_alone)
    first = both / "data" / shards[0]
    first.write_bytes(first.read_bytes())  # the same bytes, written again
    opened.clear()
    write_report(both, stats)
    assert sorted(opened) == sorted(report_alone)
