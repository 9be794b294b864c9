"""What each mask model costs: images/s and peak memory of ``samcam masks``'s generator
for every official model, at its real size, with random weights.

Each model runs in its own subprocess (clean peak-memory numbers): the network is
built by its family's own code (``segment_anything.sam_model_registry``,
``sam2.build_sam.build_sam2`` with the model's config, ``segment_anything_hq``'s and
``mobile_sam``'s registries) with random weights and seed 0, wrapped by
:func:`samcam.sam.families.make_generator` exactly as ``samcam masks`` does (samcam's
faster generator for SAM and MobileSAM, the family's own generator for SAM 2.1 and
HQ-SAM), with the family's default settings (32×32 points), and timed on synthetic
VOC-sized scenes (500×375, decode not included).

Caveat: random weights predict near-zero mask quality, so almost no mask passes the
default thresholds and the per-mask post-processing (up-sampling kept masks,
run-length encoding) is nearly free here; on a CPU the networks (image encoder and a
mask decoder pass per point) dominate anyway. Memory is the peak resident set size of
the whole process (Python, torch, the model, activations) on a CPU, or
``torch.cuda.max_memory_allocated`` on a GPU.

    python benchmarks/bench_mask_models.py                      # every model, 1 image each
    python benchmarks/bench_mask_models.py --models mobile_sam sam2.1_hiera_tiny --images 2
    python benchmarks/bench_mask_models.py --device cuda --images 10   # on a GPU
    python benchmarks/bench_mask_models.py --encoder-only              # the image encoder alone

``--encoder-only`` times one image encoder pass (1024×1024 input, what every family
feeds its encoder) per image instead of the whole generator: the rest of a generator's
time is the mask decoder, run once per point prompt (32×32 = 1024 by default).
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samcam.sam.registry import FAMILIES, MASK_MODELS, MODEL_NAMES  # noqa: E402  (the checkout's samcam)


def make_images(count: int, size: str, seed: int = 0) -> list:
    """Synthetic scenes (shapes on textured background), alternately landscape and portrait."""
    from samcam.demo.synthetic import make_scene

    width, height = (int(v) for v in size.split("x"))
    rng = np.random.default_rng(seed)
    return [make_scene(rng, *((height, width) if i % 2 == 0 else (width, height))).image for i in range(count)]


def build_network(name: str):
    """The model's network with random weights, built by its family's own code."""
    import importlib

    import torch

    model = MASK_MODELS[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model.family == "sam2.1":
            from sam2.build_sam import build_sam2

            return build_sam2(model.architecture["config"], None, device="cpu")
        package = {"sam": "segment_anything", "hq": "segment_anything_hq", "mobilesam": "mobile_sam"}[model.family]
        return importlib.import_module(package).sam_model_registry[model.size]()


def run_child(args) -> dict:
    import torch

    from samcam.sam.families import make_generator
    from samcam.sam.generate import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    model = MASK_MODELS[args.child]
    start = time.perf_counter()
    network = build_network(args.child)
    parameters = sum(p.numel() for p in network.parameters())
    settings = {"points_per_batch": args.points_per_batch or None, "points_per_side": args.points_per_side or None}
    generator = make_generator(model.family, network.to(device).eval(), settings, dtype=args.dtype,
                               description=args.child)
    build_seconds = time.perf_counter() - start
    images = make_images(args.images, args.size)
    if args.encoder_only:
        pixels = torch.randn(1, 3, 1024, 1024, device=device)
        encoder = network.forward_image if model.family == "sam2.1" else network.image_encoder

        def run(image):
            with torch.inference_mode():
                encoder(pixels)
            return []
    else:
        def run(image):
            return generator.generate(generator.prepare(image))
    if device.startswith("cuda"):
        run(images[0])  # warm-up (kernels, cudnn autotuning)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds, masks = [], []
    for image in images:
        start = time.perf_counter()
        result = run(image)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        masks.append(len(result))
    if device.startswith("cuda"):
        memory = torch.cuda.max_memory_allocated() / 2**30
        memory_kind = "GPU max_memory_allocated"
    else:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
        memory_kind = "process peak RSS"
    return {"model": args.child, "family": FAMILIES[model.family].title, "parameters_m": parameters / 1e6,
            "build_s": build_seconds, "seconds": seconds, "images_per_s": len(seconds) / sum(seconds),
            "memory_gib": memory, "memory_kind": memory_kind, "masks": masks, "device": device,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES), metavar="NAME")
    parser.add_argument("--images", type=int, default=1, help="timed images per model (default 1)")
    parser.add_argument("--size", default="500x375", help="image size WxH (default 500x375, alternating with HxW)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    parser.add_argument("--points-per-batch", type=int, default=0, help="default: the family's (64)")
    parser.add_argument("--points-per-side", type=int, default=0, help="default: the family's (32)")
    parser.add_argument("--encoder-only", action="store_true", help="time the image encoder alone")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(args)))
        return
    results = []
    for name in args.models:
        command = [sys.executable, __file__, "--child", name, "--images", str(args.images), "--size", args.size,
                   "--device", args.device, "--dtype", args.dtype, "--threads", str(args.threads),
                   "--points-per-batch", str(args.points_per_batch),
                   "--points-per-side", str(args.points_per_side)] + (["--encoder-only"] if args.encoder_only else [])
        with tempfile.TemporaryDirectory():
            done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"{name:24s} {result['family']:9s} {result['parameters_m']:7.1f} M params  "
              f"{result['images_per_s']:.4f} img/s ({', '.join(f'{s:.1f}' for s in result['seconds'])} s)  "
              f"{result['memory_gib']:.2f} GiB {result['memory_kind']}  masks {result['masks']}", flush=True)
    info = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
            "results": results}
    if args.json:
        Path(args.json).write_text(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
