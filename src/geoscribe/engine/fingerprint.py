"""What a build's output depends on, beyond its options: the content of every input file and of
every file that shapes the texts (tag policy, class maps, the packaged prompts and templates),
and the geoscribe version. Recorded in OUT/.geoscribe/run.json; a relaunch compares them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import shapely
from shapely.geometry.base import BaseGeometry

from geoscribe import __version__
from geoscribe.engine.outdir import run_file
from geoscribe.errors import InputError
from geoscribe.resources import package_data
from geoscribe.sources.registry_data import sha256_of

EDGE = 1 << 20  # bytes hashed at each end of a file
VERSION = "geoscribe version"  # the run file's name for the version


def file_digest(path: Path) -> str:
    """A quick content digest: size, mtime_ns and sha256 of the first and last MiB (the whole
    file when it is at most 2 MiB).

    Streaming every byte of a large raster would cost minutes on each relaunch; a file of the
    same size rewritten in its middle while keeping its mtime is the one change missed.
    """
    info = os.stat(path)
    if info.st_size <= 2 * EDGE:
        return f"sha256:{sha256_of(path)}"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(EDGE))
        fh.seek(info.st_size - EDGE)
        digest.update(fh.read(EDGE))
    return f"size:{info.st_size}:mtime_ns:{info.st_mtime_ns}:edges:{digest.hexdigest()}"


def package_digest() -> str:
    """One sha256 over the packaged prompts/ (templates, phrases, default tag policy, LLM
    prompts) and schemas/, file by file in name order."""
    digest = hashlib.sha256()
    for folder in ("prompts", "schemas"):
        for name, data in sorted(_package_files(package_data(folder), folder)):
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _package_files(node, prefix: str):
    for child in node.iterdir():
        name = f"{prefix}/{child.name}"
        if child.is_dir():
            yield from _package_files(child, name)
        elif child.is_file():
            yield name, child.read_bytes()


def source_digests(inputs: dict[str, list[str]],
                   names: dict[str, str] | None = None) -> dict[str, str]:
    """{"--option path": digest} of every input file (option -> paths; a path in `names`
    goes by that name: a live source's cached file by its public id), plus the packaged
    prompts/schemas and the geoscribe version."""
    names = names or {}
    sources = {f"{option} {names.get(path, path)}": file_digest(Path(path))
               for option, paths in inputs.items() for path in paths}
    sources["geoscribe prompts and schemas"] = package_digest()
    sources[VERSION] = __version__
    return sources


def region_digest(geometry: BaseGeometry) -> str:
    """The region's polygon as a digest (normalised WKB, little-endian: ring starts, orientation
    and part order do not count): a region GeoJSON edited or a place name geocoded to another
    polygon since a build started is noticed like a changed file."""
    wkb = shapely.to_wkb(shapely.normalize(geometry), byte_order=1)
    return "sha256:" + hashlib.sha256(wkb).hexdigest()


def changed_source(previous: dict[str, str],
                   current: dict[str, str]) -> tuple[str, str] | None:
    """(input, what happened to it) for the first input that differs between two runs; a new
    geoscribe version is named first (it may add inputs the older run did not record)."""
    for name in sorted(set(previous) | set(current), key=lambda name: (name != VERSION, name)):
        if name not in previous:
            return name, "added"
        if name not in current:
            return name, "no longer given"
        if previous[name] != current[name]:
            return name, "changed"
    return None


def check_run_file(out: Path, fingerprint: str, sources: dict[str, str]) -> bool:
    """Whether OUT holds a build of these inputs (True: resume it; False: no run file yet).

    Raises a one-line error naming what changed when OUT was built with other inputs.
    """
    path = run_file(out)
    if not path.exists():
        return False
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    if previous.get("fingerprint") == fingerprint:
        return True
    hint = "re-run with --overwrite to rebuild from scratch, or use a new --out"
    changed = changed_source(previous.get("sources") or {}, sources)
    if changed is not None and previous.get("sources"):
        name, how = changed
        raise InputError(name, f"{how} since the build in {out} started; {hint}")
    raise InputError(f"--out {out}", f"was built with other inputs or options; {hint}")
