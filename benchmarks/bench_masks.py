"""SAM masks at dataset scale: segment-anything's own generator against ``samcam masks``
in exact mode and fast mode, on the same machine, the same weights, the same images.

One run measures everything, in steps that each print a table and add their numbers
to ``{out}/bench_masks.json`` as they finish (so a run cut short keeps what it did):

``speed``
    images/s from JPEG files to one store file per image (decode, generate, write),
    and the speed-up over the official generator: a plain loop around
    ``SamAutomaticMaskGenerator`` (float32, 64 points per batch, its defaults), exact
    mode (:class:`samcam.sam.generate.MaskGenerator`, float32) at 64 and 256 points per
    batch, fast mode (:class:`samcam.sam.fast.FastMaskGenerator`, bfloat16) and fast
    mode's code path in float32; with mean GPU utilisation (sampled every 0.1 s) and
    peak GPU memory (``max_memory_allocated``; on a CPU the process's peak RSS so far,
    which only grows from variant to variant). SAM's default
    settings, so each image keeps only the few masks box NMS leaves of a random SAM.
``agreement``
    the same variants with box NMS off (``--box-nms-thresh 1.0``) and 16×16 points, so
    that every mask passing SAM's thresholds is kept: hundreds of masks per image. Per
    variant: the share of official masks whose best match has IoU >= 0.9 and >= 0.99,
    the share of its own masks matched back, and the mean IoU of the best matches
    (:func:`samcam.sam.agreement.agreement`).
``dataset``
    ``samcam masks``'s own path (checkpoint file -> :func:`samcam.sam.families.load_generator`
    -> :func:`samcam.sam.pipeline.compute_masks`, resume on, background decoding and
    writing) over ``--dataset-images`` VOC-sized images after one warm-up image:
    images/s, GPU utilisation, peak memory; a second call over the finished folder
    (resume: everything skipped); and the wall time of the command itself
    (``python -m samcam masks ...``, start-up and model loading included).
``compile``
    fast mode with ``torch.compile`` (CUDA only; minutes of compiling first): speed and
    dataset throughput.
``multigpu``
    the dataset through ``torchrun --nproc-per-node N -m samcam masks`` when more than
    one GPU is visible (else it says it was not run).

Weights: a random SAM built once with a fixed seed and saved as a checkpoint that every
step loads. Random weights are fine for timing, but a random SAM predicts near-zero
mask logits (stability 0) and IoU guesses near 0, so SAM's thresholds would drop every
mask; the decoder is adjusted (``--no-scale`` turns this off): mask logits scaled up,
IoU guesses centred on 0.88 (about half of the 3 × points masks pass both thresholds),
smooth up-sampling (masks with about as many runs as real SAM masks, which matters to
the official loop's per-mask run-length encoding), and small random relative position
tables (SAM initialises them to zero; real checkpoints have learned ones). A random
SAM's masks all touch the image borders, so box NMS keeps about one of them per image.

CPU: ``python benchmarks/bench_masks.py`` (``--model small``, a small SAM on 256 px
input; a couple of minutes on 2 cores). Its numbers say the steps work, not how fast a
GPU is. GPU: ``benchmarks/gpu_bench_masks.sh`` (vit_h, about 8 minutes on an H100).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samcam.sam.registry import SAM_MODELS  # noqa: E402  (the checkout's samcam, after the path)

# The CPU stand-in: a SAM small enough to run many images on a laptop core.
# Small encoder, SAM's own prompt encoder and mask decoder (256-d).
SMALL = dict(image_size=256, patch_size=16, embed_dim=96, depth=4, num_heads=4, mlp_ratio=4.0, window_size=8,
             global_attn_indexes=(3,), prompt_embed_dim=256, mask_in_chans=16, decoder_depth=2,
             decoder_mlp_dim=2048, iou_head_depth=3, iou_head_hidden_dim=256, num_multimask_outputs=3)
IOU_BIAS = 0.88
STEPS = ("speed", "agreement", "dataset", "compile", "multigpu")
# (name, pipeline, points per batch, dtype, compile)
SPEED_VARIANTS = (
    ("official", "official", 64, "float32", False),
    ("exact", "exact", 64, "float32", False),
    ("exact", "exact", 256, "float32", False),
    ("fast", "fast", 256, "bfloat16", False),
    ("fast float32", "fast", 256, "float32", False),
)
COMPILED = ("fast compiled", "fast", 256, "bfloat16", True)


# ------------------------------------------------------------------------ set-up

def make_images(folder: Path, count: int, size: str, seed: int = 0) -> list:
    """VOC-like synthetic photos (rendered shapes on textured background) as JPEG files,
    alternately landscape and portrait, as VOC; returns the names."""
    from samcam.demo.synthetic import make_scene

    width, height = (int(v) for v in size.split("x"))
    names = [f"img_{index:03d}" for index in range(count)]
    stamp = folder / f".made_{count}_{size}_{seed}"
    if stamp.exists():  # made by an earlier step with the same work folder
        return names
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        h, w = (height, width) if index % 2 == 0 else (width, height)
        Image.fromarray(make_scene(rng, h, w).image).save(folder / f"{name}.jpg", quality=90)
    stamp.write_text("")
    return names


def build_model(model: str, scale: bool, seed: int = 0):
    """The benchmark's random SAM on the CPU (see the module docstring)."""
    import torch

    from samcam.sam.generate import build_sam

    torch.manual_seed(seed)
    sam = build_sam(dict(SMALL) if model == "small" else dict(SAM_MODELS[model].architecture))
    if scale:
        with torch.no_grad():
            for mlp in sam.mask_decoder.output_hypernetworks_mlps:
                mlp.layers[-1].weight.mul_(3000)
            # IoU guesses centred on the default threshold: about half pass, on any image.
            sam.mask_decoder.iou_prediction_head.layers[-1].bias.fill_(IOU_BIAS)
            # Random 2x2 transposed-conv kernels paint a checkerboard (~11k runs per mask,
            # where SAM's masks have ~1k), which would make the official loop's per-mask
            # run-length encoding look far slower than with real weights.
            for index in (0, 3):
                weight = sam.mask_decoder.output_upscaling[index].weight
                weight.copy_(weight.mean(dim=(2, 3), keepdim=True).expand_as(weight))
            for block in sam.image_encoder.blocks:
                block.attn.rel_pos_h.normal_(0.0, 0.1)
                block.attn.rel_pos_w.normal_(0.0, 0.1)
    return sam.eval()


# ------------------------------------------------------------------ measuring

class GpuSampler:
    """Mean and max GPU utilisation (%) while the block runs, sampled every ``interval`` s
    (``torch.cuda.utilization`` when pynvml is there, else ``nvidia-smi``); ``None`` on a CPU."""

    def __init__(self, device: str, interval: float = 0.1):
        self.device, self.interval, self.samples = device, interval, []
        self._stop = threading.Event()
        self._thread = None

    def _sample(self):
        import torch

        try:
            return float(torch.cuda.utilization(self.device))
        except Exception:  # no pynvml: ask nvidia-smi
            index = str(torch.cuda.current_device() if self.device == "cuda" else self.device.split(":")[-1])
            output = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                     "-i", index], capture_output=True, text=True, timeout=5).stdout
            return float(output.strip().splitlines()[0])

    def _loop(self):
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except Exception:
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        if self.device.startswith("cuda"):
            self._thread = threading.Thread(target=self._loop, daemon=True, name="gpu-sampler")
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> dict:
        if not self.samples:
            return {"gpu_util_mean": None, "gpu_util_max": None}
        return {"gpu_util_mean": float(np.mean(self.samples)), "gpu_util_max": float(np.max(self.samples))}


def _sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _memory(device: str) -> dict:
    import torch

    return {"peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.startswith("cuda") else (platform.processor() or "cpu")


def _settings(spec: dict) -> dict:
    return {"points_per_side": spec["points_per_side"], "points_per_batch": spec["ppb"],
            "box_nms_thresh": spec["box_nms_thresh"]}


def _generator(family_network, spec: dict):
    """The mask source of a variant, made as ``samcam masks`` makes it."""
    from samcam.sam.families import make_generator
    from samcam.sam.settings import FastOptions

    fast = FastOptions(compile=spec["compile"]) if spec["pipeline"] == "fast" else None
    return make_generator("sam", family_network, _settings(spec), dtype=spec["dtype"], fast=fast)


def _official_runner(sam, spec: dict):
    """The loop a user writes around segment-anything's generator: decode, generate, write."""
    from segment_anything import SamAutomaticMaskGenerator

    from samcam import masks as mask_store
    from samcam.io import read_image
    from samcam.sam.generate import SamSettings, annotations_to_maskset

    generator = SamAutomaticMaskGenerator(sam, output_mode="binary_mask",
                                          **SamSettings(**_settings(spec)).official_kwargs())
    images = Path(spec["images"])

    def run(names, folder: Path, overwrite: bool = True):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            image = read_image(images / f"{name}.jpg")
            mask_store.write(folder / f"{name}.masks.npz", annotations_to_maskset(generator.generate(image),
                                                                                 image.shape[:2]))
    return run


def _samcam_runner(generator, spec: dict):
    from samcam.sam.pipeline import compute_masks

    def run(names, folder: Path, overwrite: bool = True):
        result = compute_masks(spec["images"], folder, names, generator=generator, overwrite=overwrite)
        if not result.ok:
            raise RuntimeError(result.summary())
        return result
    return run


def child(spec: dict) -> list:
    """Every variant of a step in this process, on one loaded network: each after an
    untimed warm-up image, with its own GPU memory peak and utilisation samples."""
    import gc
    import traceback

    import torch

    from samcam.sam.generate import load_sam, resolve_device

    device = resolve_device(spec["device"])
    started = time.perf_counter()
    sam = load_sam(None, spec["weights"], device)  # the checkpoint reader `samcam masks --checkpoint` uses
    load_s = time.perf_counter() - started
    names = spec["names"]
    results = []
    for variant in spec["variants"]:
        variant = {**spec, **variant}
        out = Path(variant["out"])
        try:
            if variant["pipeline"] == "official":
                run = _official_runner(sam, variant)
            else:
                run = _samcam_runner(_generator(sam, variant), variant)
            started = time.perf_counter()
            run(names[:1], out.parent / (out.name + "_warmup"))
            _sync(device)
            warmup_s = time.perf_counter() - started
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            timed = names[1:]
            with GpuSampler(device) as sampler:
                started = time.perf_counter()
                run(timed, out, overwrite=not variant.get("resume"))  # resume: a fresh folder, skips nothing
                _sync(device)
                seconds = time.perf_counter() - started
            result = {"seconds": seconds, "images": len(timed), "images_per_s": len(timed) / seconds,
                      "load_s": load_s, "warmup_s": warmup_s, **sampler.summary(), **_memory(device)}
            if variant.get("resume"):
                started = time.perf_counter()
                again = run(timed, out, overwrite=False)
                result.update(resume_s=time.perf_counter() - started, resume_skipped=len(again.skipped))
        except Exception as error:  # one variant's failure (e.g. out of memory) does not stop the others
            result = {"failed": f"{type(error).__name__}: {str(error)[:300]}", "log": traceback.format_exc()[-2000:]}
        result.update(device=_device_name(device), torch=torch.__version__)
        results.append(result)
        print(f"  {variant['name']} {variant['ppb']} {variant['dtype']}: "
              + (f"{result['images_per_s']:.3f} img/s" if "failed" not in result else result["failed"]),
              file=sys.stderr, flush=True)
        run = None
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return results


def run_child(spec: dict, timeout: float) -> list:
    """Run a step's variants in a process of their own -> one result per variant."""
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    try:
        process = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"failed": f"timed out after {timeout:.0f} s"} for _ in spec["variants"]]
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if process.returncode or not lines:
        return [{"failed": f"exit code {process.returncode}", "log": process.stdout[-2000:]} for _ in spec["variants"]]
    return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------- report

def _fmt(value, spec: str, missing: str = "–") -> str:
    return missing if value is None else format(value, spec)


def _agreement(reference: Path, other: Path, names) -> dict:
    from samcam import masks as mask_store
    from samcam.sam.agreement import agreement

    return agreement((mask_store.load(reference / f"{n}.masks.npz"), mask_store.load(other / f"{n}.masks.npz"))
                     for n in names)


def _speed_table(rows, reference) -> str:
    lines = [f"{'variant':22s} {'pts/batch':>9s} {'dtype':>9s} {'img/s':>8s} {'vs official':>11s} "
             f"{'GPU util %':>10s} {'peak MiB':>9s} {'masks':>6s} {'IoU>=.9':>8s} {'IoU>=.99':>8s}"]
    for row in rows:
        name = f"{row['name']:22s} {row['ppb']:>9d} {row['dtype']:>9s}"
        if "failed" in row:
            lines.append(f"{name} FAILED: {row['failed']}")
            continue
        memory = row["peak_gpu_mib"] if row.get("peak_gpu_mib") is not None else row["peak_rss_mib"]
        agree = row.get("agreement") or {}
        speedup = row["images_per_s"] / reference["images_per_s"] if reference else None
        lines.append(f"{name} {row['images_per_s']:8.3f} {_fmt(speedup, '10.2f')}x {_fmt(row.get('gpu_util_mean'), '10.0f')}"
                     f" {memory:9.0f} {agree.get('other_masks', 0):6d}"
                     f" {_fmt(agree.get('reference_matched_90'), '8.3f')} {_fmt(agree.get('reference_matched_99'), '8.3f')}")
    return "\n".join(lines)


def _agreement_table(rows) -> str:
    lines = [f"{'variant':22s} {'pts/batch':>9s} {'dtype':>9s} {'masks':>6s} {'official':>8s} {'matched >=.9':>12s} {'>=.99':>6s} "
             f"{'back >=.9':>9s} {'>=.99':>6s} {'mean IoU':>8s} {'back':>6s} {'min IoU':>7s}"]
    for row in rows:
        name = f"{row['name']:22s} {row['ppb']:>9d} {row['dtype']:>9s}"
        if "failed" in row or "agreement" not in row:
            lines.append(f"{name} FAILED: {row.get('failed', 'no agreement')}")
            continue
        a = row["agreement"]
        lines.append(f"{name} {a['other_masks']:6d} {a['reference_masks']:8d} {100 * a['reference_matched_90']:11.1f}%"
                     f" {100 * a['reference_matched_99']:5.1f}% {100 * a['other_matched_90']:8.1f}%"
                     f" {100 * a['other_matched_99']:5.1f}% {a['reference_mean_iou']:8.4f} {a['other_mean_iou']:6.4f}"
                     f" {a['reference_min_iou']:7.3f}")
    return "\n".join(lines)


def _dataset_table(rows, reference) -> str:
    lines = [f"{'variant':22s} {'dtype':>9s} {'images':>6s} {'img/s':>8s} {'vs official':>11s} {'GPU util %':>10s} "
             f"{'peak MiB':>9s} {'resume s':>8s} {'command s':>9s}"]
    for row in rows:
        name = f"{row['name']:22s} {row['dtype']:>9s}"
        if "failed" in row:
            lines.append(f"{name} FAILED: {row['failed']}")
            continue
        memory = row["peak_gpu_mib"] if row.get("peak_gpu_mib") is not None else row.get("peak_rss_mib")
        speedup = row["images_per_s"] / reference["images_per_s"] if reference else None
        lines.append(f"{name} {row['images']:6d} {row['images_per_s']:8.3f} {_fmt(speedup, '10.2f')}x"
                     f" {_fmt(row.get('gpu_util_mean'), '10.0f')} {_fmt(memory, '9.0f')}"
                     f" {_fmt(row.get('resume_s'), '8.2f')} {_fmt(row.get('command_s'), '9.1f')}")
    return "\n".join(lines)


# -------------------------------------------------------------------------- main

class Report:
    """Collects every step's numbers into one JSON file (kept across runs with the same
    ``--out``: a step run again replaces its entry), with the tables as text beside it."""

    def __init__(self, out: Path, meta: dict):
        out.mkdir(parents=True, exist_ok=True)
        self.path, self.text = out / "bench_masks.json", out / "bench_masks.txt"
        self.data = {"meta": meta, "steps": {}}
        if self.path.exists():
            try:
                self.data["steps"] = json.loads(self.path.read_text())["steps"]
            except (ValueError, KeyError):
                pass

    def add(self, step: str, rows, table: str):
        self.data["steps"][step] = rows
        self.path.write_text(json.dumps(self.data, indent=1, default=str))
        with self.text.open("a") as handle:
            handle.write(table + "\n\n")
        print(table + "\n", flush=True)

    def official(self):
        """The official generator's row of the speed step (this run's or an earlier one's)."""
        rows = self.data["steps"].get("speed") or []
        return next((r for r in rows if r.get("pipeline") == "official" and "failed" not in r), None)


def _slug(variant) -> str:
    name, _, ppb, dtype, _ = variant
    return f"{name.replace(' ', '_')}_{ppb}_{dtype}"


def _variants(variants, work: Path, prefix: str, **changes) -> list:
    return [dict(name=v[0], pipeline=v[1], ppb=v[2], dtype=v[3], compile=v[4], out=str(work / f"{prefix}_{_slug(v)}"),
                 **changes) for v in variants]


def _run_step(args, weights: Path, images: Path, names, variants, **common) -> list:
    spec = dict(weights=str(weights), device=args.device, images=str(images), names=list(names),
                points_per_side=args.points_per_side, box_nms_thresh=args.box_nms_thresh, variants=variants)
    spec.update(common)
    results = run_child(spec, args.timeout)
    return [{**{k: v for k, v in common.items()}, **variant, **result} for variant, result in zip(variants, results)]


def _with_agreement(rows, reference, names):
    for row in rows:
        if reference is not None and "failed" not in row and Path(reference["out"]).is_dir():
            try:
                row["agreement"] = _agreement(Path(reference["out"]), Path(row["out"]), names)
            except (OSError, ValueError) as error:
                row["agreement_failed"] = str(error)
    return rows


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _command_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small", choices=("small",) + tuple(SAM_MODELS),
                        help="small = a small SAM for CPU runs (default); vit_* = SAM's architectures")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    parser.add_argument("--images", type=int, default=None, help="timed images of the speed step (+1 warm-up); "
                                                                 "default 8 on a GPU, 3 on a CPU")
    parser.add_argument("--agree-images", type=int, default=None,
                        help="images of the agreement step (+1 warm-up; default 3, 2 on a CPU)")
    parser.add_argument("--dataset-images", type=int, default=64, help="timed images of the dataset step (default 64)")
    parser.add_argument("--size", default="500x375", help="WxH of the synthetic images (VOC-sized by default)")
    parser.add_argument("--points-per-side", type=int, default=None, help="default 32 (16 for --model small)")
    parser.add_argument("--box-nms-thresh", type=float, default=0.7, help="the speed and dataset steps' (SAM's 0.7)")
    parser.add_argument("--no-scale", action="store_true", help="keep the raw random decoder (few or no masks)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per step before it is given up")
    parser.add_argument("--out", default=None, help="folder for bench_masks.json/.txt (default: the work folder)")
    parser.add_argument("--work", help="folder for weights, images and outputs, reused across runs (default: a "
                                       "temp folder)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    import torch

    from samcam.sam.generate import resolve_device

    device = resolve_device(args.device)
    gpu = device.startswith("cuda")
    args.points_per_side = args.points_per_side or (16 if args.model == "small" else 32)
    args.images = args.images or (8 if gpu else 3)
    args.agree_images = args.agree_images or (3 if gpu else 2)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_masks_"))
    work.mkdir(parents=True, exist_ok=True)
    report = Report(Path(args.out) if args.out else work, {
        "model": args.model, "device": _device_name(device), "gpus": _gpu_count(), "torch": torch.__version__,
        "size": args.size, "points_per_side": args.points_per_side, "random_weights": True, "scaled": not args.no_scale})
    print(f"model {args.model} (random weights), device {_device_name(device)}, torch {torch.__version__}, "
          f"{_gpu_count()} GPU(s) visible; work folder {work}; steps {', '.join(steps)}", flush=True)

    run_started = time.perf_counter()
    weights = work / f"weights_{args.model}{'_raw' if args.no_scale else ''}.pth"
    if not weights.exists():  # built once per work folder: every step and run uses the same weights
        torch.save(build_model(args.model, not args.no_scale).state_dict(), weights)
    speed_images = work / "images_speed"
    speed_names = make_images(speed_images, args.images + 1, args.size, seed=0)
    print(f"weights and images ready after {time.perf_counter() - run_started:.1f} s", flush=True)
    where = f"{args.model}, random weights, {_device_name(device)}, torch {torch.__version__}"

    if "speed" in steps:
        rows = _run_step(args, weights, speed_images, speed_names, _variants(SPEED_VARIANTS, work, "speed"))
        official = next((r for r in rows if r["pipeline"] == "official" and "failed" not in r), None)
        report.add("speed", _with_agreement(rows, official, speed_names[1:]),
                   f"SPEED ({where}; {args.images} image(s) {args.size}, points_per_side {args.points_per_side}, "
                   "SAM's other defaults; vs official = over the official generator's images/s, float32, 64 "
                   "points/batch; masks and IoU columns: agreement with its masks)\n"
                   + _speed_table(rows, official))

    if "agreement" in steps:
        images = work / "images_agree"
        names = make_images(images, args.agree_images + 1, args.size, seed=1)
        dense = dict(points_per_side=min(args.points_per_side, 16), box_nms_thresh=1.0)
        rows = _run_step(args, weights, images, names, _variants(SPEED_VARIANTS, work, "agree"), **dense)
        report.add("agreement", _with_agreement(rows, next((r for r in rows if r["pipeline"] == "official"
                                                             and "failed" not in r), None), names[1:]),
                   f"AGREEMENT with the official generator ({where}; {args.agree_images} image(s), points_per_side "
                   f"{dense['points_per_side']}, box NMS off: every mask passing SAM's thresholds is kept; matched = "
                   "official masks whose best match has at least that IoU; back = this variant's masks matched in the "
                   "official ones; mean IoU of the best matches, both ways)\n" + _agreement_table(rows))

    dataset_images = work / "images_dataset"
    if any(step in steps for step in ("dataset", "compile", "multigpu")):
        dataset_names = make_images(dataset_images, args.dataset_images + 1, args.size, seed=2)

    def command(out: Path, flags) -> dict:
        """`python -m samcam masks` over the dataset (resume on), wall time with start-up."""
        shutil.rmtree(out, ignore_errors=True)
        argv = [sys.executable, "-m", "samcam", "masks", "--images", str(dataset_images), "--out", str(out),
                "--checkpoint", str(weights), "--device", args.device, "--no-progress",
                "--points-per-side", str(args.points_per_side)] + flags
        started = time.perf_counter()
        process = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout, env=_command_env())
        row = {"command": " ".join(argv[1:]), "command_s": time.perf_counter() - started,
               "command_images": len(list(out.glob("*.masks.npz")))}
        if process.returncode:
            row["command_failed"] = process.stderr[-2000:]
        return row

    dataset_note = (f"{args.dataset_images} images {args.size} after 1 warm-up image, `samcam masks`'s path "
                    "(make_generator + compute_masks: background decoding and writing, resume on); vs official = "
                    "over the official generator's images/s of the speed step; resume s = the same call again "
                    "(all skipped); command s = `python -m samcam masks` wall time over the same images, start-up "
                    "and model loading included")
    if "dataset" in steps:
        variants = _variants((("fast", "fast", 256, "bfloat16", False), ("exact", "exact", 256, "float32", False)),
                             work, "dataset", resume=True)
        for variant in variants:
            shutil.rmtree(variant["out"], ignore_errors=True)
        rows = _run_step(args, weights, dataset_images, dataset_names, variants)
        rows[0].update(command(work / "command_fast", ["--fast", "--no-compile"]))
        report.add("dataset", rows, f"DATASET ({where}; {dataset_note})\n" + _dataset_table(rows, report.official()))

    if "compile" in steps:
        if not gpu:
            report.add("compile", [], "COMPILE: not run (torch.compile is for CUDA; on a CPU fast mode does not "
                                      "compile)")
        else:
            # One child per measurement, the report written after each: compiling takes minutes,
            # and a time limit may stop the step before its end.
            official = report.official()
            compiled = {}

            def add(key, rows):
                compiled[key] = rows
                tables = [_speed_table(compiled[k], official) if k.startswith("speed") else
                          _dataset_table(compiled[k], official) for k in compiled]
                report.add("compile", dict(compiled), f"COMPILED fast mode ({where}; torch.compile; warm-up "
                           "includes compiling: " + ", ".join(f"{r['name']} {_fmt(r.get('warmup_s'), '.0f')} s"
                                                              for rows_ in compiled.values() for r in rows_)
                           + ")\n" + "\n".join(tables))

            bf16 = ("fast compiled", "fast", 256, "bfloat16", True)
            rows = _run_step(args, weights, speed_images, speed_names, _variants([bf16], work, "speed"))
            add("speed bfloat16", _with_agreement(rows, official, speed_names[1:]))
            variants = _variants([bf16], work, "dataset", resume=True)
            shutil.rmtree(variants[0]["out"], ignore_errors=True)
            add("dataset bfloat16", _run_step(args, weights, dataset_images, dataset_names, variants))
            fp32 = ("fast float32 compiled", "fast", 256, "float32", True)
            rows = _run_step(args, weights, speed_images, speed_names, _variants([fp32], work, "speed"))
            add("speed float32", _with_agreement(rows, official, speed_names[1:]))

    if "multigpu" in steps:
        count = _gpu_count()
        if count < 2:
            report.add("multigpu", {"gpus": count}, f"MULTI-GPU: not run ({count} GPU(s) visible; torchrun over "
                                                    "several GPUs needs 2 or more)")
        else:
            out = work / "dataset_torchrun"
            shutil.rmtree(out, ignore_errors=True)
            argv = ["torchrun", "--standalone", f"--nproc-per-node={count}", "-m", "samcam", "masks",
                    "--images", str(dataset_images), "--out", str(out), "--checkpoint", str(weights),
                    "--no-progress", "--points-per-side", str(args.points_per_side), "--fast", "--no-compile"]
            started = time.perf_counter()
            process = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout, env=_command_env())
            seconds = time.perf_counter() - started
            written = len(list(out.glob("*.masks.npz")))
            row = {"gpus": count, "seconds": seconds, "images": written, "command": " ".join(argv),
                   "returncode": process.returncode, "log": process.stderr[-2000:]}
            single = next((r for r in report.data["steps"].get("dataset") or [] if "command_s" in r), None)
            report.add("multigpu", row, f"MULTI-GPU torchrun, {count} GPUs, fast mode (not compiled): {written} "
                       f"images in {seconds:.1f} s, start-up included ({written / seconds:.2f} img/s)"
                       + (f"; one GPU, same command: {single['command_s']:.1f} s" if single else ""))
    print(f"total {time.perf_counter() - run_started:.0f} s; numbers in {report.path}", flush=True)
    def failures(rows):
        if isinstance(rows, dict):
            return any(failures(value) for value in rows.values() if isinstance(value, list))
        return isinstance(rows, list) and any("failed" in r for r in rows)

    failed = [step for step, rows in report.data["steps"].items() if step in steps and failures(rows)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
