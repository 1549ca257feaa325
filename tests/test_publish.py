"""publish.py (`geoscribe publish`): the --dry-run folder as the Hub would load it for every
recipe, the license refusal, and the upload through huggingface_hub against a loopback Hub
(tests/hub_server.py) that records what is committed (issue 15). No test reaches the
internet."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from conftest import run_cli
from geoscribe.recipes import RECIPES
from hub_server import start_hub


def shard_counts(out: Path) -> dict[str, int]:
    """Samples per split, counted from the tars with tarfile."""
    counts: dict[str, int] = {}
    for shard in sorted((out / "data").glob("*.tar")):
        with tarfile.open(shard) as tar:
            keys = {m.name.partition(".")[0] for m in tar if m.isfile()}
        split = shard.name.split("-")[0]
        counts[split] = counts.get(split, 0) + len(keys)
    return counts


class Demos(dict):
    """Each recipe's demo build (one worker), built on first use."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        out = self.root / name
        run_cli("build-dataset", name, "--region", "demo", "--out", str(out), "--workers", "1",
                "--no-progress", check=True)
        self[name] = out
        return out


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Demos:
    return Demos(tmp_path_factory.mktemp("demos"))


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_dry_run_folder_loads_like_the_hub_would(demos, tmp_path, recipe):
    """issue 15 tests: `publish --dry-run` writes a folder that datasets.load_dataset reads
    with the card's configs, with each split's row count as counted in the tars; the card
    parses into huggingface_hub's DatasetCard / DatasetCardData with the recipe's tasks."""
    import datasets
    from huggingface_hub import DatasetCard, DatasetCardData

    folder = tmp_path / "repo"
    result = run_cli("geoscribe", "publish", str(demos[recipe]), "--repo", "me/demo",
                     "--dry-run", str(folder), check=True)
    assert "nothing uploaded" in result.stdout
    for name in ("README.md", "record.schema.json", "stats.json", "preview.html",
                 "data/sizes.json", "report/splits.png"):
        assert (folder / name).is_file(), name
    assert not (folder / ".geoscribe").exists()
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    expected = shard_counts(demos[recipe])
    assert {split: loaded[split].num_rows for split in loaded} == expected
    card = DatasetCard((folder / "README.md").read_text(encoding="utf-8"))
    assert isinstance(card.data, DatasetCardData)
    header = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert card.data.to_dict()["task_categories"] == header["task_categories"]
    assert header["task_categories"] == list(RECIPES[recipe].task_categories)
    assert card.data.size_categories == ["n<1K"]
    assert card.data.license == "cc-by-sa-4.0"  # the demo's SpaceNet files
    assert card.data.pretty_name and card.data.language == ["en"]


def test_missing_license_is_refused_naming_the_input(built, tmp_path):
    """issue 15: a build without --imagery-license is refused by publish with a message
    naming the imagery; --allow-unknown-license publishes and the card records it."""
    out = tmp_path / "out"
    shutil.copytree(built, out)
    stats = json.loads((out / "stats.json").read_text())
    imagery = next(row["uri"] for row in stats["sources"] if row["kind"] == "imagery")
    refused = run_cli("geoscribe", "publish", str(out), "--repo", "me/x", "--dry-run",
                      str(tmp_path / "a"))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {imagery}: no license known")
    assert not (tmp_path / "a").exists()
    run_cli("geoscribe", "publish", str(out), "--repo", "me/x", "--dry-run",
            str(tmp_path / "b"), "--allow-unknown-license", check=True)
    card = (tmp_path / "b" / "README.md").read_text()
    assert "--allow-unknown-license" in card and imagery in card
    assert yaml.safe_load(card.split("---")[1])["license"] == "unknown"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The loopback Hub, and the environment that points huggingface_hub at it (the LFS
    protocol: Xet off)."""
    fake, server = start_hub()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_TOKEN", "hf_test_secret_0123456789")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    yield fake
    server.shutdown()


def test_upload_sends_everything_then_only_the_changed_shard(hub, demos, tmp_path):
    """issue 15 tests: the first publish commits every file of the dry-run folder (shards and
    images through LFS); after one shard changes, a second publish sends only that shard; a
    third sends nothing. The token reaches the server and is in no published file."""
    out = tmp_path / "out"
    shutil.copytree(demos["rsvqa-like"], out)
    run_cli("geoscribe", "publish", str(out), "--repo", "me/demo", "--dry-run",
            str(tmp_path / "dry"), check=True)
    expected = sorted(str(p.relative_to(tmp_path / "dry")) for p in
                      (tmp_path / "dry").rglob("*") if p.is_file())
    first = run_cli("geoscribe", "publish", str(out), "--repo", "me/demo", check=True)
    assert f"{len(expected)} files sent, 0 unchanged" in first.stdout
    committed = hub.files[("me/demo", "main")]
    assert sorted(committed) == expected
    for rel in expected:
        assert committed[rel] == (tmp_path / "dry" / rel).read_bytes(), rel
    shards = sorted(p for p in expected if p.endswith(".tar"))
    assert sorted(hub.commits[0]["lfs"]) == sorted(p for p in expected
                                                   if p.endswith((".tar", ".parquet", ".png")))
    changed = out / shards[-1]
    changed.write_bytes(changed.read_bytes() + bytes(512))  # one more zero block
    second = run_cli("geoscribe", "publish", str(out), "--repo", "me/demo", check=True)
    assert f"1 files sent, {len(expected) - 1} unchanged" in second.stdout
    assert hub.commits[-1]["lfs"] == [shards[-1]] and hub.commits[-1]["files"] == []
    assert hub.lfs_uploads[-1] == hashlib.sha256(changed.read_bytes()).hexdigest()
    assert committed[shards[-1]] == changed.read_bytes()
    commits = len(hub.commits)
    third = run_cli("geoscribe", "publish", str(out), "--repo", "me/demo", check=True)
    assert "0 files sent" in third.stdout and len(hub.commits) == commits
    assert "Bearer hf_test_secret_0123456789" in hub.tokens
    assert not any(b"hf_test_secret" in data for data in committed.values())
    assert "hf_test_secret" not in first.stdout + first.stderr + second.stderr


def test_stale_shards_are_deleted_and_branch_and_private_are_passed(hub, demos, tmp_path):
    """issue 15: --private reaches create_repo, --revision commits to that branch, and a
    shard the output no longer has is deleted from the repository in the same commit."""
    out = tmp_path / "out"
    shutil.copytree(demos["skyscript-like"], out)
    run_cli("geoscribe", "publish", str(out), "--repo", "me/sky", "--private", "--revision",
            "v1", check=True)
    assert hub.repos["me/sky"]["private"] is True
    assert hub.commits[-1]["revision"] == "v1"
    hub.files[("me/sky", "v1")]["data/train-000007.tar"] = b"old"
    run_cli("geoscribe", "publish", str(out), "--repo", "me/sky", "--revision", "v1",
            check=True)
    assert hub.commits[-1]["deleted"] == ["data/train-000007.tar"]
    assert "data/train-000007.tar" not in hub.files[("me/sky", "v1")]


def test_bad_repo_and_missing_token_are_one_line_errors(built, monkeypatch, tmp_path):
    """issue 15: --repo must be USER/NAME; without a token publish says where one comes
    from (exit 2, one line)."""
    bad = run_cli("geoscribe", "publish", str(built), "--repo", "nameonly")
    assert bad.returncode == 2 and "--repo: 'nameonly' is not USER/NAME" in bad.stderr
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    out = tmp_path / "out"
    shutil.copytree(built, out)
    missing = run_cli("geoscribe", "publish", str(out), "--repo", "me/x",
                      "--allow-unknown-license")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: HF_TOKEN: no Hugging Face token: set HF_TOKEN or run `hf auth login` "
        "(it is read, never written)"]
