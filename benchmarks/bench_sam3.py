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

Prints the parameter count, the build time, and per prompt count the median wall-clock
and CPU seconds per image (the first image is a warm-up, not counted; the preparation,
resize and tokenization, is not timed) and the peak memory; with ``--encoder`` also the
image encoder alone (computed once per image, whatever the number of prompts).

With ``--everything``: SAM 3's class-agnostic everything masks instead
(samcam.sam.sam3_everything): a real-size random-weight ``Sam3TrackerModel`` (default
``Sam3TrackerConfig``) over SAM's 32x32 point grid through transformers' mask-generation
pipeline, the encoder included (the pipeline encodes the image itself).

    PYTHONPATH=. python benchmarks/bench_sam3.py                 # CPU, float32
    PYTHONPATH=. python benchmarks/bench_sam3.py --device cuda --dtype bfloat16
    PYTHONPATH=. python benchmarks/bench_sam3.py --everything --images 2
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
    parser.add_argument("--everything", action="store_true",
                        help="time SAM 3's everything masks (its tracker over a 32x32 point grid) instead")
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


def build_everything(device: str, dtype: str):
    """samcam's SAM 3 everything-mask source over a real-size random-weight Sam3TrackerModel."""
    import torch
    from transformers import Sam3ImageProcessor, Sam3TrackerConfig, Sam3TrackerModel

    from samcam.sam.generate import resolve_device
    from samcam.sam.sam3_everything import Sam3EverythingGenerator
    from samcam.sam.sam3_family import Sam3Settings

    torch.manual_seed(0)
    model = Sam3TrackerModel(Sam3TrackerConfig()).eval()
    device = resolve_device(device)
    return Sam3EverythingGenerator(model.to(device), Sam3ImageProcessor(), Sam3Settings(everything=True),
                                   device=device, dtype=dtype, description="random-weight SAM 3 tracker")


def main_everything(args) -> None:
    """Seconds per image of the everything masks (SAM's default grid and thresholds)."""
    import torch

    width, height = (int(v) for v in args.size.split("x"))
    start = time.perf_counter()
    generator = build_everything(args.device, args.dtype)
    built = time.perf_counter() - start
    model = generator.pipeline.model
    print(f"SAM 3 tracker (transformers Sam3TrackerModel, default Sam3TrackerConfig, random weights): "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, built in {built:.1f} s")
    print(f"device {generator.device}, dtype {args.dtype}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}; "
          f"{generator.settings.points_per_side}x{generator.settings.points_per_side} points, "
          f"{generator.settings.points_per_batch} per batch")
    rng = np.random.default_rng(0)
    wall, cpu, kept = [], [], 0
    for index in range(args.images + 1):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        if generator.device.startswith("cuda"):
            torch.cuda.synchronize()
        tick, tock = time.perf_counter(), time.process_time()
        masks = generator.generate(generator.prepare(image))
        if generator.device.startswith("cuda"):
            torch.cuda.synchronize()
        if index:  # the first image is a warm-up
            wall.append(time.perf_counter() - tick)
            cpu.append(time.process_time() - tock)
            kept += len(masks)
    print(f"seconds per image over {args.images} image(s) after a warm-up: wall {_spread(wall)}, CPU {_spread(cpu)}; "
          f"{kept} masks kept (random weights), peak memory {peak_memory(generator.device)}")


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
    if args.everything:
        return main_everything(args)
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
    print("seconds per image, median over the timed images [min-max]; CPU = the process's CPU time "
          "(all its threads), less sensitive than wall time to other programs on a shared machine")
    print(f"{'prompts':>7}  {'wall s':>18}  {'CPU s':>18}  masks  peak memory")
    rows = [("encoder", None)] if args.encoder else []
    rows += [(str(count), concepts_of(count)) for count in args.prompts]
    for label, concepts in rows:
        wall, cpu, kept = time_images(generator, images, concepts)
        print(f"{label:>7}  {_spread(wall):>18}  {_spread(cpu):>18}  {'-' if concepts is None else kept:>5}  "
              f"{peak_memory(generator.device)}")


def concepts_of(count: int):
    """``count`` (class_index, phrase) prompts: VOC's person, chair, potted plant, then numbered ones."""
    return PHRASES[:count] if count <= len(PHRASES) else [(c, f"class {c}") for c in range(1, count + 1)]


def _spread(values) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.1f}-{max(values):.1f}]"


def time_images(generator, images, concepts):
    """Wall and CPU seconds per image after the first (a warm-up), and the masks kept.

    ``concepts`` None: the image encoder alone (what all of an image's prompts share).
    """
    import torch

    from samcam.sam.generate import precision

    cuda = generator.device.startswith("cuda")
    wall, cpu, kept = [], [], 0
    for index, image in enumerate(images):
        prepared = generator.prepare(image, concepts or [])
        if cuda:
            torch.cuda.synchronize()
        tick, tock = time.perf_counter(), time.process_time()
        if concepts is None:
            with torch.no_grad(), precision(generator.dtype, generator.device):
                generator.model.get_vision_features(pixel_values=prepared.pixel_values.to(generator.device))
        else:
            kept += len(generator.generate(prepared)) if index else 0
        if cuda:
            torch.cuda.synchronize()
        if index:
            wall.append(time.perf_counter() - tick)
            cpu.append(time.process_time() - tock)
    return wall, cpu, kept


if __name__ == "__main__":
    main()
