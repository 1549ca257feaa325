"""The optional compiled OSM reading pass (native/osm: `geoscribe_osm_native`, libosmium).

When it is installed and built against the libosmium pyosmium carries, PBF files are read
through it: the same features, counters and order as the Python pass (tests compare them), in
a fraction of the time (benchmarks/osm_ingest.py). Otherwise the Python pass reads them.
GEOSCRIBE_OSM_NATIVE=0 turns it off.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import osmium.version


def _lookup() -> tuple[ModuleType | None, str]:
    """The compiled pass's module if it is to be used, and the status line saying so or why
    not (turned off, not installed, built against another libosmium than pyosmium's: its
    areas could differ)."""
    if os.environ.get("GEOSCRIBE_OSM_NATIVE", "1") == "0":
        return None, "off (GEOSCRIBE_OSM_NATIVE=0)"
    try:
        module = importlib.import_module("geoscribe_osm_native")
    except ImportError:
        return None, "not installed (see native/osm/README.md)"
    built = getattr(module, "LIBOSMIUM_VERSION", None)
    if built != osmium.version.libosmium_version:
        return None, (f"not used: built against libosmium {built}, pyosmium has "
                      f"{osmium.version.libosmium_version}")
    return module, f"on (libosmium {built})"


def native_pass() -> ModuleType | None:
    """The compiled pass's module, or None when it is not to be used (see native_status)."""
    return _lookup()[0]


def native_status() -> str:
    """One line for humans: whether PBF files are read by the compiled pass, and if not why."""
    return _lookup()[1]
