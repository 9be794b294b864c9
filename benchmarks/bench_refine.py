"""Speed of refine() and size/load time of the mask store (prints numbers, not a test).

VOC-sized images (375×500) with ~100 SAM-like masks each (synthetic scenes plus extra
nested blobs). Reports, measured in the same run on the same data:

* images/s of ``samcam.refine`` (samcam and official rules) with masks in memory;
* the same for a straightforward re-implementation of the reference code's loop, which
  reads every mask PNG once per class of the image, and the per-image speed ratio;
* end to end per image (load the store file + refine) against that baseline;
* bytes on disk and load time of the store against amg.py-style PNG folders.

Run: ``python benchmarks/bench_refine.py [--images 20] [--baseline-images 4]``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

import numpy as np
from PIL import Image

import samcam
from samcam import masks as store
from samcam.demo.synthetic import _ellipse, cam_to_label, make_scene


def make_image(rng, height=375, width=500, count=100):
    scene = make_scene(rng, height, width)
    masks = list(scene.masks)
    while len(masks) < count:  # nested blobs at several sizes, as SAM's parts/sub-parts
        base = masks[int(rng.integers(len(masks)))]
        cy, cx = np.argwhere(base).mean(axis=0) if base.any() else (height / 2, width / 2)
        blob = _ellipse(height, width, cy + rng.normal(0, 30), cx + rng.normal(0, 30),
                        rng.uniform(5, 80), rng.uniform(5, 80), rng.uniform(0, np.pi))
        if blob.any():
            masks.append(blob)
    return cam_to_label(scene.cam), np.stack(masks[:count])


def reference_loop(label, png_folder, num_classes=21):
    """The reference code's way: for each class, re-read every mask PNG of the image."""
    files = sorted(os.listdir(png_folder), key=lambda f: int(f[:-4]))
    out = np.zeros(label.shape, np.uint8)
    taken = set()
    for cls in range(1, num_classes):
        region = label == cls
        if not region.any():
            continue
        union = np.zeros(label.shape, bool)
        selected = np.zeros(label.shape, bool)
        for filename in files:
            mask = np.array(Image.open(os.path.join(png_folder, filename))) > 127
            if filename in taken:
                continue
            union |= mask
            inter = int((mask & region).sum())
            if 2 * inter > int(mask.sum()) or inter >= 0.85 * int(region.sum()):
                taken.add(filename)
                selected |= mask
        out[selected | (region & ~union)] = cls
    return out


try:  # amg.py writes its masks with cv2.imwrite(mask * 255): use the same encoder
    import cv2

    PNG_WRITER = f"cv2.imwrite (OpenCV {cv2.__version__}, as amg.py)"

    def write_mask_png(path, mask):
        cv2.imwrite(str(path), mask.astype(np.uint8) * 255)
except ImportError:
    PNG_WRITER = "PIL (OpenCV not installed; amg.py itself uses cv2.imwrite)"

    def write_mask_png(path, mask):
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def timed(function, repeat):
    function()
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat


def folder_bytes(path):
    """(apparent bytes, bytes allocated on disk): small files each take whole blocks."""
    files = [f.stat() for f in Path(path).rglob("*") if f.is_file()]
    return sum(s.st_size for s in files), sum(s.st_blocks * 512 for s in files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--baseline-images", type=int, default=4)
    parser.add_argument("--masks", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = [make_image(rng, count=args.masks) for _ in range(args.images)]
    work = Path(tempfile.mkdtemp(prefix="samcam-bench-"))
    try:
        store_files, png_dirs = [], []
        for index, (_, masks) in enumerate(data):
            store_files.append(store.write(work / "store" / f"im{index}", masks))
            folder = work / "png" / f"im{index}"
            folder.mkdir(parents=True)
            for k, mask in enumerate(masks):
                write_mask_png(folder / f"{k}.png", mask)
            png_dirs.append(folder)
        masksets = [store.load(f) for f in store_files]

        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"numpy {np.__version__}, one process")
        print(f"PNG folders written by {PNG_WRITER}")
        print(f"data: {args.images} images 375x500, {args.masks} masks each, "
              f"{np.mean([len(np.unique(label)) - 1 for label, _ in data]):.1f} classes per image on average")
        results = {}
        for rule in ("samcam", "official"):
            seconds = timed(lambda rule=rule: [samcam.refine(label, m, rule=rule) for (label, _), m in zip(data, masksets)], 3)
            results[rule] = seconds / len(data)
            print(f"refine rule={rule:<8} masks in memory (MaskSet): {1 / results[rule]:8.1f} images/s "
                  f"({1000 * results[rule]:.2f} ms/image)")
        dense_seconds = timed(lambda: [samcam.refine(label, m) for label, m in data], 2) / len(data)
        print(f"refine rule=samcam   masks in memory (bool K×H×W): {1 / dense_seconds:6.1f} images/s "
              f"({1000 * dense_seconds:.2f} ms/image, includes packing the bits)")

        count = min(args.baseline_images, len(data))
        start = time.perf_counter()
        for (label, masks), folder in zip(data[:count], png_dirs[:count]):
            baseline_out = reference_loop(label, folder)
            assert np.array_equal(baseline_out, samcam.refine(label, masks, rule="official"))
        baseline = (time.perf_counter() - start) / count
        print(f"reference loop (PNG re-read per class), {count} images: {1 / baseline:8.2f} images/s "
              f"({1000 * baseline:.0f} ms/image); output identical to rule=official")
        print(f"speed-up per image, refine in memory vs reference loop: "
              f"samcam {baseline / results['samcam']:.0f}x, official {baseline / results['official']:.0f}x")
        end_to_end = timed(lambda: [samcam.refine(label, store.load(f)) for (label, _), f in zip(data, store_files)], 2)
        end_to_end /= len(data)
        print(f"end to end (load store file + refine samcam): {1 / end_to_end:.1f} images/s, "
              f"{baseline / end_to_end:.0f}x the reference loop")

        store_bytes = folder_bytes(work / "store")
        png_bytes = folder_bytes(work / "png")
        store_load = timed(lambda: [store.load(f).dense for f in store_files], 3) / len(data)
        packed_load = timed(lambda: [store.load(f) for f in store_files], 3) / len(data)
        png_load = timed(lambda: [store.load(d).dense for d in png_dirs], 1) / len(data)
        print(f"mask store: {store_bytes[0] / len(data) / 1024:.1f} KiB/image vs PNG folders "
              f"{png_bytes[0] / len(data) / 1024:.1f} KiB/image: {png_bytes[0] / store_bytes[0]:.1f}x smaller; "
              f"on disk (whole blocks, 1 vs {args.masks} files per image): {store_bytes[1] / len(data) / 1024:.1f} "
              f"vs {png_bytes[1] / len(data) / 1024:.1f} KiB/image, {png_bytes[1] / store_bytes[1]:.1f}x smaller")
        print(f"load to K×H×W bool: store {1000 * store_load:.2f} ms/image vs PNG folder "
              f"{1000 * png_load:.1f} ms/image: {png_load / store_load:.1f}x faster "
              f"(to packed MaskSet, as refine uses it: {1000 * packed_load:.2f} ms, {png_load / packed_load:.0f}x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
