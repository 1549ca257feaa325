"""Print the libosmium and protozero include folders of the installed pyosmium's release.

pyosmium's source release on PyPI carries the libosmium and protozero it was built with
(contrib/); building geoscribe_osm_native against the same headers makes its areas and
geometries the ones pyosmium makes. The release is downloaded once into CACHE (argument 1,
default ~/.cache/geoscribe/osmium-src) and unpacked there; prints two shell assignments.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path


def main() -> None:
    cache = Path(sys.argv[1] if len(sys.argv) > 1 else
                 Path.home() / ".cache" / "geoscribe" / "osmium-src").expanduser()
    release = version("osmium")
    root = cache / f"osmium-{release}"
    if not (root / "contrib" / "libosmium" / "include").is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--no-binary", ":all:", "-d", str(cache), f"osmium=={release}"],
                       check=True, stdout=sys.stderr)
        with tarfile.open(cache / f"osmium-{release}.tar.gz") as archive:
            members = [m for m in archive.getmembers()
                       if m.name.startswith(f"osmium-{release}/contrib/") and ".." not in m.name
                       and (m.isfile() or m.isdir())]
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: safe paths only
                archive.extractall(cache, members=members, filter="data")
            else:  # older: the members' names were checked above (all under contrib/)
                archive.extractall(cache, members=members)
    print(f"LIBOSMIUM_INCLUDE={shlex.quote(str(root / 'contrib' / 'libosmium' / 'include'))}")
    print(f"PROTOZERO_INCLUDE={shlex.quote(str(root / 'contrib' / 'protozero' / 'include'))}")


if __name__ == "__main__":
    main()
