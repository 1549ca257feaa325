"""filters/clip_data.py: the DataLoader dataset of the CLIP filter, read against tarfile/PIL."""

from __future__ import annotations

import hashlib
import io
import tarfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from geoscribe.filters.clip_data import PartsDataset


def _truth(tar_path) -> list[tuple[str, bytes, str]]:
    """(key, png bytes, caption) of every sample, in tar order."""
    samples: dict[str, dict] = {}
    with tarfile.open(tar_path) as tar:
        for member in tar:
            key, _, ext = member.name.partition(".")
            samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return [(k, s["png"], s["txt"].decode()) for k, s in samples.items()]


def _dataset(tars, hashes: bool) -> PartsDataset:
    def preprocess(image):
        return torch.from_numpy(np.asarray(image).copy())

    return PartsDataset([str(t) for t in tars], preprocess, lambda texts: [texts[0].upper()],
                        hashes)


def test_items_are_the_shards_samples(built):
    """issue 11 tests mirror src: key, decoded RGB pixels, tokenised caption, in tar order;
    no hashes unless asked."""
    tars = sorted((built / "data").glob("*.tar"))
    truth = [t for tar in tars for t in _truth(tar)]
    items = list(_dataset(tars, hashes=False))
    assert [i[0] for i in items] == [k for k, _, _ in truth]
    for (_, pixels, text, pixel, phash), (_, png, caption) in zip(items, truth, strict=True):
        expected = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert np.array_equal(pixels.numpy(), expected)
        assert text == caption.upper()
        assert (pixel, phash) == ("", "")


def test_hashes_when_asked(built):
    """issue 11 tests mirror src: the pixel hash is the sha256 of size and RGB bytes; the
    perceptual hash 16 hex digits."""
    tar = sorted((built / "data").glob("*.tar"))[0]
    key, png, _ = _truth(tar)[0]
    item = next(iter(_dataset([tar], hashes=True)))
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()
    assert item[0] == key and item[3] == digest
    assert len(item[4]) == 16 and int(item[4], 16) >= 0


@pytest.mark.parametrize("workers", [2, 3])
def test_dataloader_workers_take_every_nth_tar(built, monkeypatch, workers):
    """issue 11 tests mirror src: together the workers read every tar exactly once."""
    tars = sorted((built / "data").glob("*.tar"))
    dataset = _dataset(tars, hashes=False)
    seen = []
    for worker in range(workers):
        info = SimpleNamespace(id=worker, num_workers=workers)
        monkeypatch.setattr(torch.utils.data, "get_worker_info", lambda info=info: info)
        seen += [item[0] for item in dataset]
    assert sorted(seen) == sorted(k for tar in tars for k, _, _ in _truth(tar))
