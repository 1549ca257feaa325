"""`geoscribe publish`: arrange a built output as a Hub dataset repository and upload it with
huggingface_hub (issue 15).

The repository holds the shards `data/{split}-NNNNNN.tar` with their parquet index, stats
and `data/sizes.json`, the card `README.md`, `record.schema.json`, `stats.json`, the preview
and its plots (`preview.html`, `report/*.png`) and the rejected/dropped lists. The upload is
one commit of the files whose content differs from the repository's (huggingface_hub's
preupload compares each file's hash with the remote one), after the large files went up
through LFS/Xet, which skips objects the Hub already holds: a re-run after an interruption
resends nothing that arrived, a re-run after a change sends only the changed files. Files of
`data/` that the output no longer has are deleted in the same commit. The token comes from
HF_TOKEN or the cached login (huggingface_hub reads it) and is never written or printed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from geoscribe.errors import GeoscribeError, InputError
from geoscribe.redact import public_url
from geoscribe.report import read_stats, write_report
from geoscribe.report_card import check_licenses
from geoscribe.report_plots import REPORT_DIR

TOP_FILES = ("README.md", "record.schema.json", "stats.json", "preview.html",
             "rejected.jsonl", "dropped.jsonl")
DATA_SUFFIXES = (".tar", ".parquet", "_stats.json")
REPO_TYPE = "dataset"


@dataclass
class Published:
    """What an upload did."""

    url: str
    sent: list[str]
    unchanged: list[str]
    deleted: list[str]


def repo_files(out: Path) -> list[tuple[Path, str]]:
    """(local file, path in the repository) of everything published, sorted by path."""
    files = [(out / name, name) for name in TOP_FILES if (out / name).is_file()]
    files += [(path, f"{REPORT_DIR}/{path.name}")
              for path in sorted((out / REPORT_DIR).glob("*.png"))]
    data = out / "data"
    files += [(path, f"data/{path.name}") for path in sorted(data.iterdir())
              if path.is_file() and (path.name.endswith(DATA_SUFFIXES)
                                     or path.name == "sizes.json")]
    return sorted(files, key=lambda item: item[1])


def prepare(out: Path, allow_unknown_license: bool) -> list[tuple[Path, str]]:
    """Check OUT is a finished output with known licenses (or the override), rewrite its
    report and card (recording the override), and list what is published."""
    if not (out / "data").is_dir():
        raise InputError(str(out), "not a geoscribe output (no data/ folder)")
    stats = read_stats(out)
    check_licenses(stats, allow_unknown_license)
    write_report(out, stats, allow_unknown_license)
    return repo_files(out)


def dry_run(files: list[tuple[Path, str]], folder: Path) -> Path:
    """Write exactly the repository's files into `folder` (new or empty); no network."""
    if folder.exists() and any(folder.iterdir()):
        raise InputError(str(folder), "--dry-run folder must be new or empty")
    for source, rel in files:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # same file system: no copy of large shards
        except OSError:
            shutil.copy2(source, target)
    return folder


def hub_token() -> str:
    """The token huggingface_hub would use (HF_TOKEN or the cached login); never stored."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise InputError("HF_TOKEN", "no Hugging Face token: set HF_TOKEN or run "
                         "`hf auth login` (it is read, never written)")
    return token


def stale_paths(api, repo: str, revision: str | None, local: set[str]) -> list[str]:
    """Files under data/ in the repository that the output no longer has."""
    from huggingface_hub.utils import EntryNotFoundError

    try:
        remote = api.list_repo_files(repo, repo_type=REPO_TYPE, revision=revision)
    except EntryNotFoundError:
        return []
    return sorted(p for p in remote if p.startswith("data/") and p not in local)


def upload(files: list[tuple[Path, str]], repo: str, private: bool,
           revision: str | None) -> Published:
    """Create the dataset repository (and branch) when missing and commit what changed."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=hub_token())
    try:
        api.create_repo(repo, repo_type=REPO_TYPE, private=private or None, exist_ok=True)
        if revision:
            api.create_branch(repo, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
        adds = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path))
                for path, rel in files]
        deleted = stale_paths(api, repo, revision, {rel for _, rel in files})
        info = api.create_commit(
            repo, [*adds, *(CommitOperationDelete(path_in_repo=p) for p in deleted)],
            repo_type=REPO_TYPE, revision=revision,
            commit_message="geoscribe publish")
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", "?")
        raise GeoscribeError(f"publish to {repo}: the Hub answered {status} "
                             f"({str(exc).splitlines()[0][:200]})") from None
    unchanged = [op.path_in_repo for op in adds
                 if op._remote_oid is not None and op._remote_oid == op._local_oid]
    sent = [op.path_in_repo for op in adds if op.path_in_repo not in set(unchanged)]
    return Published(public_url(str(info.repo_url)), sent, unchanged, deleted)


def check_repo(repo: str) -> str:
    """`--repo USER/NAME`, checked."""
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts):
        raise InputError("--repo", f"{repo!r} is not USER/NAME")
    return repo
