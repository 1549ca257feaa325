"""Image-text alignment scores with open_clip (GPU first, CPU fallback).

`--clip MODEL[:PRETRAINED]`: PRETRAINED is a local checkpoint path (RemoteCLIP, GeoRSCLIP and
SkyCLIP checkpoints are open_clip files), an open_clip pretrained tag (downloaded from the Hub
when online), or `random` for a seeded random initialisation (for tests: no registry package
ships CLIP weights). The score is the cosine similarity of the normalised embeddings.

Images are decoded and preprocessed in DataLoader worker processes while the model runs; on
CUDA, batches are pinned and the forward pass runs under autocast (bf16 where supported, else
fp16). CPU runs in float32.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from geoscribe.errors import InputError


@dataclass(frozen=True)
class ClipSpec:
    """A model name and where its weights come from."""

    model: str
    pretrained: str | None  # checkpoint path, open_clip tag, or None for random init

    @property
    def model_id(self) -> str:
        return f"{self.model}:{self.pretrained or 'random'}"


def parse_clip_spec(text: str) -> ClipSpec:
    """Parse MODEL[:PRETRAINED]; a bare MODEL or MODEL:random is randomly initialised."""
    model, _, pretrained = text.partition(":")
    if not model.strip():
        raise InputError(f"--clip {text!r}", "expected MODEL[:PRETRAINED]")
    pretrained = pretrained.strip() or None
    if pretrained == "random":
        pretrained = None
    return ClipSpec(model.strip(), pretrained)


class ClipScorer:
    """Batched CLIP scoring of (image bytes, text) pairs."""

    def __init__(self, spec: ClipSpec, device: str = "auto", batch_size: int = 64,
                 workers: int = 2, seed: int = 0) -> None:
        try:
            import open_clip
            import torch
        except ImportError:
            raise InputError("--clip", "needs torch and open_clip: pip install "
                             "'geoscribe[clip]'") from None
        self.torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--clip-device cuda", "no CUDA device is available")
        self.device, self.batch_size, self.workers, self.spec = device, batch_size, workers, spec
        torch.manual_seed(seed)
        pretrained = spec.pretrained
        if pretrained and Path(pretrained).suffix and not Path(pretrained).exists():
            raise InputError(f"--clip {spec.model_id}", f"checkpoint {pretrained} not found")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model, pretrained=pretrained, device=device)
        except RuntimeError as exc:
            raise InputError(f"--clip {spec.model_id}", str(exc).splitlines()[0]) from None
        except Exception as exc:  # offline hub downloads raise several exception types
            raise InputError(f"--clip {spec.model_id}",
                             f"cannot load weights ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]})") from None
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(spec.model)
        self.amp_dtype = None
        if device == "cuda":
            self.amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported()
                              else torch.float16)

    def score_tars(self, tars: Iterable[Path], hashes: bool = False) -> Iterator[tuple]:
        """Yield (key, score, pixel_hash, phash) for every sample of the tar files.

        Memory stays bounded: samples stream from the tars through the DataLoader workers.
        The hashes are empty strings unless `hashes` is set.
        """
        torch = self.torch
        tars = [str(t) for t in tars]
        workers = min(self.workers, len(tars))
        from geoscribe.filters.clip_data import PartsDataset

        dataset = PartsDataset(tars, self.preprocess, self.tokenizer, hashes)
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=self.batch_size, num_workers=workers,
            pin_memory=self.device == "cuda",
            multiprocessing_context="spawn" if workers else None)
        with torch.no_grad():
            for keys, images, tokens, pixel_hashes, phashes in loader:
                images = images.to(self.device, non_blocking=True)
                tokens = tokens.to(self.device, non_blocking=True)
                with torch.autocast(self.device, dtype=self.amp_dtype,
                                    enabled=self.amp_dtype is not None):
                    image_features = self.model.encode_image(images)
                    text_features = self.model.encode_text(tokens)
                image_features = torch.nn.functional.normalize(image_features.float(), dim=-1)
                text_features = torch.nn.functional.normalize(text_features.float(), dim=-1)
                scores = (image_features * text_features).sum(dim=-1).cpu().tolist()
                yield from zip(keys, scores, pixel_hashes, phashes, strict=True)
