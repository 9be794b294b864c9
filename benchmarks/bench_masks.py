"""Speed, peak memory and mask agreement: segment-anything's generator vs ``samcam masks``.

Both pipelines go from image files on disk to one mask store file per image, on the
same images with the same settings and the same SAM weights:

* ``official``: a plain loop — decode the image, ``SamAutomaticMaskGenerator.generate``,
  write the masks and scores (the loop a user would write around SAM);
* ``samcam``: :func:`samcam.sam.pipeline.compute_masks` (background decoding, the faster
  generator of :mod:`samcam.sam.generate`), at several ``points_per_batch`` and dtypes.

Each variant runs in its own subprocess (clean peak-memory numbers, same warm-up),
builds SAM from the same seed, does one untimed warm-up image and then times
``--images`` images. Reported: images/s, peak GPU memory (``max_memory_allocated``)
or peak process RSS on CPU, and per-image mask agreement with the official float32
masks: the share of official masks that have a samcam mask with IoU >= 0.99 (and the
reverse), plus whether masks and scores are bit-identical.

Random weights are fine for timing, but a random SAM predicts near-zero mask logits
(stability 0) and IoU guesses near 0, so SAM's default thresholds would drop every
mask and leave nothing to compare. So the random decoder is adjusted (``--no-scale``
turns this off): mask logits scaled up and IoU guesses centred on 0.88, so about half
of the 3 × points masks pass both thresholds, and smooth up-sampling, so masks have
about as many runs (boundary crossings) as real SAM masks (~0.5-2k, measured here with
vit_b) — this matters because the official loop run-length encodes every mask that
passes. A random SAM's masks all reach the image borders, so box NMS keeps about one
per image at SAM's 0.7; ``--box-nms-thresh 1.0`` keeps all that pass, to compare
hundreds of masks.

Run on CPU: ``python benchmarks/bench_masks.py`` (a tiny SAM, small images);
on a GPU: ``python benchmarks/bench_masks.py --model vit_h --images 8``.
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
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samcam.sam.registry import MODEL_NAMES  # noqa: E402  (the checkout's samcam, after the path)

# The CPU stand-in: a SAM small enough to run many images on a laptop core.
# Small encoder, SAM's own prompt encoder and mask decoder (256-d).
SMALL = dict(image_size=256, patch_size=16, embed_dim=96, depth=4, num_heads=4, mlp_ratio=4.0, window_size=8,
             global_attn_indexes=(3,), prompt_embed_dim=256, mask_in_chans=16, decoder_depth=2,
             decoder_mlp_dim=2048, iou_head_depth=3, iou_head_hidden_dim=256, num_multimask_outputs=3)


IOU_BIAS = 0.88


def make_images(folder: Path, count: int, size: str, seed: int = 0) -> list:
    """VOC-like synthetic photos: rendered scenes (shapes on textured background), saved as JPEG."""
    from samcam.demo.synthetic import make_scene

    width, height = (int(v) for v in size.split("x"))
    rng = np.random.default_rng(seed)
    names = []
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count + 1):  # +1: the warm-up image
        # Alternate landscape and portrait, as VOC does.
        h, w = (height, width) if index % 2 == 0 else (width, height)
        scene = make_scene(rng, h, w)
        name = f"img_{index:03d}"
        Image.fromarray(scene.image).save(folder / f"{name}.jpg", quality=90)
        names.append(name)
    return names


def build_model(model: str, device: str, scale: bool, seed: int = 0):
    import torch

    from samcam.sam.generate import build_sam
    from samcam.sam.registry import SAM_MODELS

    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.cuda.manual_seed_all(seed)
    config = dict(SMALL) if model == "small" else dict(SAM_MODELS[model].encoder)
    # Built on the CPU with a fixed seed so every subprocess gets the same weights.
    sam = build_sam(config)
    if scale:
        with torch.no_grad():
            for mlp in sam.mask_decoder.output_hypernetworks_mlps:
                mlp.layers[-1].weight.mul_(3000)
            # IoU guesses centred on the default threshold: about half pass, on any image.
            sam.mask_decoder.iou_prediction_head.layers[-1].bias.fill_(IOU_BIAS)
            # Random 2x2 transposed-conv kernels paint a checkerboard, so random masks
            # flip every few pixels (~11k runs per mask, where SAM's masks have ~1k) and
            # the official loop's per-mask run-length encoding would look far slower than
            # with real weights. Equal kernel taps up-sample smoothly instead.
            for index in (0, 3):
                weight = sam.mask_decoder.output_upscaling[index].weight
                weight.copy_(weight.mean(dim=(2, 3), keepdim=True).expand_as(weight))
    return sam.to(device).eval()


def run_variant(args) -> dict:
    """Child process: one pipeline over the images; prints a JSON line of results."""
    import torch

    from samcam import masks as mask_store
    from samcam.io import read_image
    from samcam.sam.generate import SamSettings, annotations_to_maskset, resolve_device
    from samcam.sam.pipeline import compute_masks

    device = resolve_device(args.device)
    sam = build_model(args.model, device, not args.no_scale)
    settings = SamSettings(points_per_side=args.points_per_side, points_per_batch=args.ppb,
                           pred_iou_thresh=args.pred_iou_thresh,
                           stability_score_thresh=args.stability_score_thresh,
                           box_nms_thresh=args.box_nms_thresh)
    images = Path(args.image_dir)
    names = sorted(p.stem for p in images.glob("*.jpg"))
    warmup, timed = names[:1], names[1:]
    out = Path(args.out_dir)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    if args.pipeline == "official":
        from segment_anything import SamAutomaticMaskGenerator

        generator = SamAutomaticMaskGenerator(sam, output_mode="binary_mask", **settings.official_kwargs())

        def pipeline(batch):
            for name in batch:
                image = read_image(images / f"{name}.jpg")
                masks = annotations_to_maskset(generator.generate(image), image.shape[:2])
                mask_store.write(out / f"{name}.masks.npz", masks)
    else:
        def pipeline(batch):
            result = compute_masks(images, out, batch, sam=sam, settings=settings, dtype=args.dtype,
                                   progress=False, overwrite=True)
            if not result.ok:
                raise RuntimeError(result.summary())

    pipeline(warmup)
    sync()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipeline(timed)
    sync()
    seconds = time.perf_counter() - start
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
    breakdown = _breakdown(sam, settings, args, read_image(images / f"{timed[0]}.jpg"), sync)
    return {
        **breakdown,
        "seconds": seconds,
        "images": len(timed),
        "images_per_s": len(timed) / seconds,
        "peak_gpu_mib": peak_gpu,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else platform.processor() or "cpu",
        "torch": torch.__version__,
    }


def _breakdown(sam, settings, args, image, sync, repeats: int = 1) -> dict:
    """Milliseconds per image of the generator alone (no file I/O) and, for samcam, of
    its image encoder and its mask decoder over all point batches (with its dtype)."""
    import torch

    from samcam.sam.generate import MaskGenerator

    def timed(function):
        function()
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        sync()
        return (time.perf_counter() - start) / repeats * 1000

    if args.pipeline == "official":
        from segment_anything import SamAutomaticMaskGenerator

        generator = SamAutomaticMaskGenerator(sam, output_mode="binary_mask", **settings.official_kwargs())
        return {"generate_ms": timed(lambda: generator.generate(image))}
    generator = MaskGenerator(sam, settings, dtype=args.dtype)
    prepared = generator.prepare(image)
    result = {"generate_ms": timed(lambda: generator.generate(prepared))}
    crop_box, layer, resized, cropped_size = prepared.crops[0]
    pixels = torch.as_tensor(resized, device=sam.device).permute(2, 0, 1).contiguous()[None]
    with torch.inference_mode(), generator._matmul_precision(), generator._autocast():
        features = sam.image_encoder(sam.preprocess(pixels))
        result["encoder_ms"] = timed(lambda: sam.image_encoder(sam.preprocess(pixels)))
        points = generator.point_grids[layer] * np.array(cropped_size)[None, ::-1]
        coords = torch.as_tensor(generator.transform.apply_coords(points, cropped_size), device=sam.device)
        labels = torch.ones(len(coords), dtype=torch.int, device=sam.device)
        image_pe = sam.prompt_encoder.get_dense_pe()

        def decode_all():
            for start in range(0, len(coords), settings.points_per_batch):
                stop = start + settings.points_per_batch
                sparse, dense = sam.prompt_encoder(points=(coords[start:stop, None], labels[start:stop, None]),
                                                   boxes=None, masks=None)
                sam.mask_decoder(image_embeddings=features, image_pe=image_pe, sparse_prompt_embeddings=sparse,
                                 dense_prompt_embeddings=dense, multimask_output=True)

        result["decoder_ms"] = timed(decode_all)
    return result


def agreement(reference_dir: Path, other_dir: Path, names) -> dict:
    """Per-mask IoU matching of two mask folders (reference = official float32)."""
    from samcam import masks as mask_store

    matched_ref = matched_other = total_ref = total_other = identical = 0
    min_iou = 1.0
    for name in names:
        ref = mask_store.load(reference_dir / f"{name}.masks.npz")
        other = mask_store.load(other_dir / f"{name}.masks.npz")
        total_ref += len(ref)
        total_other += len(other)
        same = len(ref) == len(other) and np.array_equal(ref.packed, other.packed) and all(
            np.array_equal(ref.scores[k], other.scores.get(k)) for k in ref.scores)
        identical += int(same)
        if not len(ref) or not len(other):
            continue
        a = ref.dense.reshape(len(ref), -1).astype(np.float32)
        b = other.dense.reshape(len(other), -1).astype(np.float32)
        inter = a @ b.T
        union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        best_ref = iou.max(axis=1)
        matched_ref += int((best_ref >= 0.99).sum())
        matched_other += int((iou.max(axis=0) >= 0.99).sum())
        min_iou = min(min_iou, float(best_ref.min()))
    return {
        "official_masks": total_ref,
        "samcam_masks": total_other,
        "official_matched_iou99": matched_ref / total_ref if total_ref else 1.0,
        "samcam_matched_iou99": matched_other / total_other if total_other else 1.0,
        "min_best_iou": min_iou,
        "images_bit_identical": identical,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="small", choices=("small",) + MODEL_NAMES,
                        help="small = a tiny SAM for CPU runs (default); vit_* = official architectures")
    parser.add_argument("--images", type=int, default=4, help="timed images (+1 untimed warm-up)")
    parser.add_argument("--size", default="500x375", help="WxH of the synthetic images (VOC-sized by default)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--points-per-side", type=int, default=None, help="default 32 (16 for --model small)")
    parser.add_argument("--pred-iou-thresh", type=float, default=0.88)
    parser.add_argument("--stability-score-thresh", type=float, default=0.95)
    parser.add_argument("--box-nms-thresh", type=float, default=0.7,
                        help="SAM's 0.7 by default; the random model's masks all touch the image borders, so "
                             "NMS keeps about one per image: 1.0 keeps every mask that passes the thresholds, "
                             "for an agreement check over hundreds of masks")
    parser.add_argument("--no-scale", action="store_true", help="keep the raw random decoder (few or no masks)")
    parser.add_argument("--variants", default="official:64:float32,official:256:float32,samcam:64:float32,"
                        "samcam:256:float32,samcam:256:tf32,samcam:256:bfloat16",
                        help="comma list of pipeline:points_per_batch:dtype")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--work", help="folder for images and outputs (default: a temp folder)")
    # internal: one variant in a child process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", help=argparse.SUPPRESS)
    parser.add_argument("--ppb", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--image-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.points_per_side is None:
        args.points_per_side = 16 if args.model == "small" else 32
    if args.child:
        print("RESULT " + json.dumps(run_variant(args)), flush=True)
        return 0

    work = Path(args.work or tempfile.mkdtemp(prefix="bench_masks_"))
    image_dir = work / "images"
    names = make_images(image_dir, args.images, args.size)
    timed_names = names[1:]
    results = []
    for spec in args.variants.split(","):
        pipeline, ppb, dtype = spec.split(":")
        out_dir = work / f"{pipeline}_{ppb}_{dtype}"
        command = [sys.executable, __file__, "--child", "--pipeline", pipeline, "--ppb", ppb, "--dtype", dtype,
                   "--model", args.model, "--device", args.device, "--points-per-side", str(args.points_per_side),
                   "--pred-iou-thresh", str(args.pred_iou_thresh),
                   "--stability-score-thresh", str(args.stability_score_thresh),
                   "--box-nms-thresh", str(args.box_nms_thresh),
                   "--image-dir", str(image_dir), "--out-dir", str(out_dir)] + (["--no-scale"] if args.no_scale else [])
        started = time.perf_counter()
        process = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
        if process.returncode or not lines:
            print(f"{spec}: FAILED\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}", file=sys.stderr)
            results.append({"variant": spec, "failed": True})
            continue
        result = json.loads(lines[-1][len("RESULT "):])
        result.update(variant=spec, out_dir=str(out_dir), wall_with_startup_s=time.perf_counter() - started)
        results.append(result)
        print(f"{spec:28s} {result['images_per_s']:8.3f} img/s  peak GPU {result['peak_gpu_mib'] or 0:9.0f} MiB"
              f"  peak RSS {result['peak_rss_mib']:7.0f} MiB", flush=True)

    reference = next((r for r in results if r["variant"].startswith("official:") and r["variant"].endswith(":float32")
                      and not r.get("failed")), None)
    for result in results:
        if reference is None or result.get("failed"):
            continue
        result["speedup_vs_official64"] = result["images_per_s"] / reference["images_per_s"]
        result["agreement"] = agreement(Path(reference["out_dir"]), Path(result["out_dir"]), timed_names)

    print(f"\nmodel {args.model}, {args.images} images {args.size}, points_per_side {args.points_per_side}, "
          f"box_nms_thresh {args.box_nms_thresh}, "
          f"device: {next((r['device'] for r in results if 'device' in r), '?')}")
    header = (f"{'variant':28s} {'img/s':>8s} {'speedup':>8s} {'peak mem MiB':>13s} {'masks':>6s} {'IoU>=.99':>9s} "
              f"{'identical':>9s} {'gen ms':>8s} {'enc ms':>7s} {'dec ms':>7s}")
    print(header)
    for result in results:
        if result.get("failed"):
            print(f"{result['variant']:28s} FAILED")
            continue
        agree = result.get("agreement", {})
        memory = result["peak_gpu_mib"] if result["peak_gpu_mib"] is not None else result["peak_rss_mib"]
        print(f"{result['variant']:28s} {result['images_per_s']:8.3f} {result.get('speedup_vs_official64', 0):7.2f}x"
              f" {memory:13.0f} {agree.get('samcam_masks', 0):6d} {agree.get('official_matched_iou99', 0):9.3f}"
              f" {agree.get('images_bit_identical', 0):5d}/{len(timed_names):<3d}"
              f" {result['generate_ms']:8.1f} {result.get('encoder_ms', float('nan')):7.1f}"
              f" {result.get('decoder_ms', float('nan')):7.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    failed = any(r.get("failed") for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
