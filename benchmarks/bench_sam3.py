"""Time per image of SAM 3 concept masks at real size, with random weights.

Builds ``transformers.Sam3Model`` from the default ``Sam3Config`` (the architecture of
facebook/sam3: 1008-pixel ViT, 200 queries, 24-layer CLIP text encoder) with random
weights, no download, and runs samcam's SAM 3 source (samcam.sam.sam3_family) on
synthetic VOC-sized images (500x375 by default) with 1, 2 and 3 concept prompts (all
of an image's prompts in one batch). Random weights keep few or no masks, so the
timings cover the network and transformers' post-processing, not the writing of many
masks. The tokenizer is a byte-level CLIP tokenizer without merges (the real one's
files come with the gated weights); every prompt is padded to 32 tokens either way, so
the text encoder's work is the same.

Prints the parameter count, the build time, and per prompt count the median seconds
per image (the first image is a warm-up, not counted) and the peak memory; with
``--encoder`` also the image encoder alone (computed once per image, whatever the
number of prompts).

    PYTHONPATH=. python benchmarks/bench_sam3.py                 # CPU, float32
    PYTHONPATH=. python benchmarks/bench_sam3.py --device cuda --dtype bfloat16
"""
from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

PHRASES = [(15, "person"), (9, "chair"), (16, "potted plant")]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="500x375", help="image width x height (default: VOC's typical 500x375)")
    parser.add_argument("--images", type=int, default=3, help="timed images per prompt count (after one warm-up)")
    parser.add_argument("--prompts", type=int, nargs="+", default=[1, 2, 3], help="prompt counts to time")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "tf32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--encoder", action="store_true",
                        help="also time the image encoder alone (the part an image's prompts share)")
    return parser.parse_args(argv)


def build(device: str, dtype: str):
    """samcam's SAM 3 source over a real-size random-weight Sam3Model."""
    import torch
    from tiny_sam3 import tiny_processor
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model

    from samcam.sam.generate import resolve_device
    from samcam.sam.sam3_family import Sam3ConceptGenerator

    torch.manual_seed(0)
    model = Sam3Model(Sam3Config()).eval()
    processor = tiny_processor()
    processor.image_processor = Sam3ImageProcessor()  # SAM 3's own: 1008 x 1008
    device = resolve_device(device)
    return Sam3ConceptGenerator(model.to(device), processor, device=device, dtype=dtype,
                                description="random-weight SAM 3")


def peak_memory(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS"


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    start = time.perf_counter()
    generator = build(args.device, args.dtype)
    built = time.perf_counter() - start
    parameters = sum(p.numel() for p in generator.model.parameters())
    print(f"SAM 3 (transformers Sam3Model, default Sam3Config, random weights): {parameters:,} parameters, "
          f"built in {built:.1f} s")
    print(f"device {generator.device}, dtype {args.dtype}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(args.images + 1)]
    print(f"{'prompts':>7}  {'s/image (median)':>16}  {'min':>6}  {'max':>6}  masks  peak memory")
    if args.encoder:
        seconds = time_encoder(generator, images)
        print(f"{'encoder':>7}  {statistics.median(seconds):>16.2f}  {min(seconds):>6.2f}  {max(seconds):>6.2f}  "
              f"{'-':>5}  {peak_memory(generator.device)}")
    for count in args.prompts:
        concepts = PHRASES[:count] if count <= len(PHRASES) else [(c, f"class {c}") for c in range(1, count + 1)]
        seconds, kept = time_images(generator, images, concepts)
        print(f"{count:>7}  {statistics.median(seconds):>16.2f}  {min(seconds):>6.2f}  {max(seconds):>6.2f}  "
              f"{kept:>5}  {peak_memory(generator.device)}")


def time_encoder(generator, images):
    """Seconds per image of the image encoder alone (what all of an image's prompts share)."""
    import torch

    from samcam.sam.generate import precision

    seconds = []
    for index, image in enumerate(images):
        pixels = generator.prepare(image, []).pixel_values.to(generator.device)
        tick = time.perf_counter()
        with torch.no_grad(), precision(generator.dtype, generator.device):
            generator.model.get_vision_features(pixel_values=pixels)
        if generator.device.startswith("cuda"):
            torch.cuda.synchronize()
        if index:
            seconds.append(time.perf_counter() - tick)
    return seconds


def time_images(generator, images, concepts):
    """Seconds per image after the first (a warm-up), and the masks kept."""
    import torch

    cuda = generator.device.startswith("cuda")
    seconds, kept = [], 0
    for index, image in enumerate(images):
        if cuda:
            torch.cuda.synchronize()
        tick = time.perf_counter()
        masks = generator.masks(image, concepts)
        if cuda:
            torch.cuda.synchronize()
        if index:
            seconds.append(time.perf_counter() - tick)
            kept += len(masks)
    return seconds, kept

if __name__ == "__main__":
    main()
