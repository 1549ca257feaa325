"""The DataLoader dataset of the CLIP filter (imports torch; loaded only when scoring)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from geoscribe.shards import iter_samples


class PartsDataset(torch.utils.data.IterableDataset):
    """Streams (key, image tensor, tokens, pixel hash, phash) from tar files; each DataLoader
    worker takes every n-th tar, so decoding and preprocessing overlap the model."""

    def __init__(self, tars: list[str], preprocess: Callable, tokenizer: Callable,
                 hashes: bool) -> None:
        super().__init__()
        self.tars, self.preprocess = tars, preprocess
        self.tokenizer, self.hashes = tokenizer, hashes

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        mine = self.tars if info is None else self.tars[info.id::info.num_workers]
        for tar in mine:
            for sample in iter_samples(Path(tar)):
                data = sample.get("jpg") or sample.get("png")
                image = Image.open(io.BytesIO(data)).convert("RGB")
                pixel, phash = "", ""
                if self.hashes:
                    from geoscribe.filters.dedup import perceptual_hash, pixel_hash

                    pixel, phash = pixel_hash(image), f"{perceptual_hash(image):016x}"
                text = sample["txt"].decode("utf-8")
                yield (sample["__key__"], self.preprocess(image), self.tokenizer([text])[0],
                       pixel, phash)
