"""Build geoscribe_osm_native against libosmium and protozero headers (see README.md).

The header folders come from LIBOSMIUM_INCLUDE and PROTOZERO_INCLUDE (what `headers.py` prints
for the libosmium pyosmium itself was built with), else from the system (Debian:
libosmium2-dev, libprotozero-dev). zlib is the only library linked (PBF blocks).
"""

import hashlib
import os
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

SOURCE = "osm_pass.cpp"
# the module records its source's digest: `make install-osm-native` rebuilds when it changed
DIGEST = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

include_dirs = [os.environ[name] for name in ("LIBOSMIUM_INCLUDE", "PROTOZERO_INCLUDE")
                if os.environ.get(name)]

setup(
    ext_modules=[
        Pybind11Extension(
            "geoscribe_osm_native",
            [SOURCE],
            include_dirs=include_dirs,
            define_macros=[("GEOSCRIBE_OSM_SOURCE_SHA256", f'"{DIGEST}"')],
            libraries=["z"],
            cxx_std=17,
            extra_compile_args=["-O2"],
        )
    ],
)
