"""CLIP filter throughput: geoscribe's scorer vs a raw open_clip loop (not part of the tests).

Both score the same N image-text pairs from one WebDataset tar with the same model, batch
size and device; the raw loop decodes, preprocesses and runs the model in one process, the
filter streams through its DataLoader workers (and, on CUDA, autocast + pinned memory).
Weights are randomly initialised unless --pretrained is given (throughput does not depend on
the weights).

    python benchmarks/clip_throughput.py --model ViT-B-32 --samples 512 --batch-size 64
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_tar(path: Path, n: int, size: int = 256) -> None:
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w") as tar:
        for i in range(n):
            base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
            image = Image.fromarray(base).resize((size, size), Image.BILINEAR)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
            text = f"a satellite image of {i % 7 + 1} buildings".encode()
            for ext, data in (("jpg", buffer.getvalue()), ("txt", text)):
                info = tarfile.TarInfo(f"sample{i:06d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def raw_loop(tar_path: Path, model_name: str, pretrained, device: str, batch: int) -> float:
    import open_clip
    import torch

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(model_name,
                                                                 pretrained=pretrained,
                                                                 device=device)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    start = time.perf_counter()
    images, texts, n = [], [], 0
    with tarfile.open(tar_path) as tar, torch.no_grad():
        members = tar.getmembers()
        for jpg, txt in zip(members[0::2], members[1::2], strict=True):
            images.append(preprocess(Image.open(tar.extractfile(jpg)).convert("RGB")))
            texts.append(tar.extractfile(txt).read().decode())
            if len(images) == batch or jpg is members[-2]:
                a = model.encode_image(torch.stack(images).to(device))
                b = model.encode_text(tokenizer(texts).to(device))
                (torch.nn.functional.normalize(a, dim=-1)
                 * torch.nn.functional.normalize(b, dim=-1)).sum(-1).cpu()
                n += len(images)
                images, texts = [], []
    return n / (time.perf_counter() - start)


def filter_loop(tar_path: Path, model_name: str, pretrained, device: str, batch: int,
                workers: int) -> float:
    from geoscribe.filters.clip import ClipScorer, ClipSpec

    scorer = ClipScorer(ClipSpec(model_name, pretrained), device, batch, workers)
    start = time.perf_counter()
    n = sum(1 for _ in scorer.score_tars([tar_path]))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--work", default="/tmp/geoscribe-clip-bench")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import torch

    device = args.device if args.device != "auto" else (
        "cuda" if torch.cuda.is_available() else "cpu")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tar_path = work / f"pairs_{args.samples}.tar"
    if not tar_path.exists():
        make_tar(tar_path, args.samples)
    raw = raw_loop(tar_path, args.model, args.pretrained, device, args.batch_size)
    pipeline = filter_loop(tar_path, args.model, args.pretrained, device, args.batch_size,
                           args.workers)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu"
    result = {"model": args.model, "device": device, "device_name": name,
              "samples": args.samples, "batch_size": args.batch_size, "workers": args.workers,
              "raw_pairs_per_s": raw, "filter_pairs_per_s": pipeline, "ratio": pipeline / raw,
              "torch_threads": torch.get_num_threads()}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
