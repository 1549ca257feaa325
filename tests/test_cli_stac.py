"""`build-dataset --imagery stac:URL` end to end (issue 18): the real CLI against the loopback
STAC API of tests/stac_server.py, whose file server counts the bytes it sends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import build_args, run_cli
from geoscribe.sources.remote import USER_AGENT
from stac_server import SAS, StacServer
from test_cli_e2e import read_samples


def stac_args(scene, out: Path, cache: Path, imagery: list[str], *extra: str) -> list[str]:
    """build_args with `imagery` in place of the scene's GeoTIFF, replies cached in `cache`."""
    args = build_args(scene, out, "--workers", "1", "--cache-dir", str(cache), *extra)
    at = args.index("--imagery")
    args[at:at + 2] = imagery
    return args


def by_key(out: Path) -> dict[str, dict]:
    return {s["__key__"]: s for s in read_samples(out)}


def sent(stac) -> int:
    return sum(stac.bytes_sent.values())


@pytest.fixture(scope="module")
def stac_build(scene, stac_api, tmp_path_factory) -> Path:
    """One build of the scene from the STAC API (collection s2, default asset)."""
    root = tmp_path_factory.mktemp("stac_build")
    out = root / "out"
    run_cli(*stac_args(scene, out, root / "cache",
                       ["--imagery", f"stac:{stac_api.api}", "--collection", "s2"]), check=True)
    return out


def test_stac_build_equals_the_same_cogs_as_local_files(scene, stac_api, stac_build, tmp_path):
    """issue 18 (stac): the STAC build (items west then full) gives the same samples (keys,
    image bytes, chips, boxes, texts) as the same COGs given as local files in that order;
    only the imagery's uri, name, date and license differ."""
    local = tmp_path / "local"
    run_cli(*stac_args(scene, local, tmp_path / "cache",
                       ["--imagery", str(stac_api.files["a_west.tif"]),
                        "--imagery", str(stac_api.files["b_full.tif"])]), check=True)
    remote, files = by_key(stac_build), by_key(local)
    assert remote.keys() == files.keys() and len(remote) > 10
    uris = set()
    for key, sample in remote.items():
        assert sample["png"] == files[key]["png"]
        a, b = json.loads(sample["json"]), json.loads(files[key]["json"])
        for part in ("chip", "features", "texts", "split"):
            assert a[part] == b[part], (key, part)
        assert b["image"]["uri"] == str(stac_api.files[Path(a["image"]["uri"]).name])
        assert a["image"]["license"] == "CC-BY-4.0"
        assert (a["image"]["source"], a["image"]["acquired"]) in (
            ("west", "2023-06-01T10:00:00Z"), ("full", "2023-06-02T10:00:00Z"))
        uris.add(a["image"]["uri"])
    assert uris == {stac_api.file_url("a_west.tif"), stac_api.file_url("b_full.tif")}


def test_stats_record_the_search_and_its_counters(stac_api, stac_build):
    """issue 18 (stac): stats.json `sources` lists the search (public URL, collection, filters,
    asset, the items chosen) and `remote.stac` counts its requests."""
    stats = json.loads((stac_build / "stats.json").read_text())
    row = next(r for r in stats["sources"] if r["kind"] == "stac")
    assert row["uri"] == stac_api.api and row["collection"] == "s2"
    assert row["max_cloud"] is None and row["asset"] == "default" and row["matched"] == 3
    assert [i["id"] for i in row["items"]] == ["west", "full"]
    assert stats["remote"]["stac"]["requests"] == 4
    assert stats["remote"]["stac"]["bytes_read"] > 0


def test_rerun_makes_no_new_search_request(scene, stac_api, stac_build, tmp_path):
    """issue 18 (stac): a re-run (resume of the complete OUT, or a new OUT with the same
    cache) sends no request to the API; the new OUT's stats count cache hits only."""
    before = list(stac_api.api_requests)
    cache = stac_build.parent / "cache"
    imagery = ["--imagery", f"stac:{stac_api.api}", "--collection", "s2"]
    again = run_cli(*stac_args(scene, stac_build, cache, imagery), check=True)
    assert "already complete" in again.stdout
    out = tmp_path / "out"
    run_cli(*stac_args(scene, out, cache, imagery, "--limit", "1"), check=True)
    assert stac_api.api_requests == before
    counters = json.loads((out / "stats.json").read_text())["remote"]["stac"]
    assert counters["requests"] == 0 and counters["cache_hits"] == 4


def test_only_the_needed_windows_are_read_over_http(scene, stac_api, tmp_path):
    """issue 18 (stac): a build of one chip reads a small part of the COGs, by range requests
    (no whole-file GET), every one with the project's User-Agent (GDAL's HTTP settings reach
    the indexing and the workers)."""
    first, requests = sent(stac_api), len(stac_api.file_requests)
    run_cli(*stac_args(scene, tmp_path / "out", tmp_path / "cache",
                       ["--imagery", f"stac:{stac_api.api}", "--collection", "s2"],
                       "--limit", "1"), check=True)
    size = sum(stac_api.files[name].stat().st_size for name in ("a_west.tif", "b_full.tif"))
    read = sent(stac_api) - first
    assert 0 < read < size / 5, (read, size)
    seen = stac_api.file_requests[requests:]
    gets = [rng for method, _, rng, _ in seen if method == "GET"]
    assert gets and all(rng.startswith("bytes=") for rng in gets)
    assert {agent for *_, agent in seen} == {USER_AGENT}


def test_credentials_and_sas_tokens_never_reach_outputs(scene, tmp_path, tmp_path_factory):
    """issue 18 (stac): user-info and a key in the API URL and the SAS token the assets are
    signed with (files answer 403 without it) appear in no file of OUT."""
    from stac_server import scene_api

    with StacServer() as stac:
        scene_api(stac, scene, tmp_path / "files")
        stac.need_sas = True
        url = stac.api.replace("http://", "http://alice:pa55word@") + "?key=k3ysecret"
        out = tmp_path / "out"
        run_cli(*stac_args(scene, out, tmp_path / "cache",
                           ["--imagery", f"stac:{url}", "--collection", "s2",
                            "--stac-sign", "planetary-computer"], "--limit", "2"), check=True)
        assert stac.token_requests == 1
    secrets = ["pa55word", "alice", "k3ysecret", SAS, "SASsecret123"]
    for path in (p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode() in data], path
    stats = json.loads((out / "stats.json").read_text())
    assert next(r for r in stats["sources"] if r["kind"] == "stac")["uri"] == stac.api


@pytest.mark.parametrize("case", ["dead", "collection", "no_items"])
def test_stac_failures_are_one_line_exit_2(scene, stac_api, tmp_path, case):
    """issue 18 (stac): a dead server, an unknown collection and a search without items each
    end the build with one line naming the API, exit 2, OUT untouched."""
    url, collection, extra = stac_api.api, "s2", []
    if case == "dead":
        with StacServer() as dead:
            url = dead.api
    elif case == "collection":
        collection = "landsat"
    else:
        extra = ["--max-cloud", "1"]
    result = run_cli(*stac_args(scene, tmp_path / "out", tmp_path / "cache",
                                ["--imagery", f"stac:{url}", "--collection", collection],
                                *extra))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"stac:{url}" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()
