"""builders/context.py: the run-wide BuildContext and its pickled form sent with each task."""

from __future__ import annotations

import hashlib
import pickle

from geoscribe.builders.context import BuildContext, PackedContext, SourceLicense
from geoscribe.types import ChipSettings


def _ctx(seed: int = 0, **extra) -> BuildContext:
    return BuildContext(recipe="skyscript-like", work_dir="/w", store_path="/w/s.sqlite",
                        rasters=[], licenses={"a.tif": SourceLicense("imagery", "a.tif",
                                                                     "CC-BY-4.0")},
                        unit_deg=0.01, split_block_deg=0.05, split_fractions=(0.8, 0.1, 0.1),
                        split_guard=True, seed=seed, **extra)


def test_packed_context_round_trips_and_is_keyed_by_its_bytes():
    """issue 11 tests mirror src: the key is the sha256 of the pickle; unpack gives an equal
    context; a changed setting changes the key."""
    ctx = _ctx(chip=ChipSettings(out_size=128), options={"qa_weights": {"count": 2.0}})
    packed = PackedContext.pack(ctx)
    assert packed.key == hashlib.sha256(packed.data).hexdigest()
    assert packed.unpack() == ctx
    assert pickle.loads(packed.data).chip.out_size == 128
    assert PackedContext.pack(_ctx(chip=ChipSettings(out_size=128),
                                   options={"qa_weights": {"count": 2.0}})).key == packed.key
    assert PackedContext.pack(_ctx(seed=1)).key != packed.key


def test_defaults_are_not_shared_between_contexts():
    """issue 11 tests mirror src: list/dict defaults are per context (default_factory)."""
    a, b = _ctx(), _ctx()
    a.masks.append("m")
    a.options["qa_weights"] = {"x": 1.0}
    assert b.masks == [] and b.options == {}
