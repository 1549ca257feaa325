"""Worker state: a build's context is unpickled once per worker, again only for another build."""

from __future__ import annotations

import pickle

from geoscribe.builders.context import BuildContext, PackedContext
from geoscribe.engine import worker


def _context(work_dir: str) -> BuildContext:
    return BuildContext(recipe="skyscript-like", work_dir=work_dir, store_path="s.sqlite",
                        rasters=[], licenses={}, unit_deg=0.01, split_block_deg=0.05,
                        split_fractions=(0.8, 0.1, 0.1), split_guard=True, seed=7)


def test_packed_context_round_trips_and_is_keyed_by_its_bytes():
    ctx = _context("/tmp/a")
    packed = PackedContext.pack(ctx)
    assert packed.unpack() == ctx
    assert PackedContext.pack(_context("/tmp/a")).key == packed.key
    assert PackedContext.pack(_context("/tmp/b")).key != packed.key
    assert pickle.loads(pickle.dumps(packed)) == packed  # what a task sends


def test_worker_initialises_once_per_build(monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(worker, "init_worker",
                        lambda ctx: (opened.append(ctx.work_dir),
                                     worker._STATE.update(ctx=ctx, builder=None)))
    monkeypatch.setattr(worker, "close_worker", worker._STATE.clear)
    first, second = PackedContext.pack(_context("/tmp/a")), PackedContext.pack(_context("/tmp/b"))
    try:
        for packed in (first, first, first, second, second, first):
            worker._ensure_state(packed)
    finally:
        worker._STATE.clear()
    assert opened == ["/tmp/a", "/tmp/b", "/tmp/a"]
