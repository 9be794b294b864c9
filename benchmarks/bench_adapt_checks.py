"""Cost of the adapt job's checks before writing (prints numbers, not a test).

``samcam adapt`` checks the class count against the data before any image is written
(:mod:`samcam.adapters.checks`): every label PNG to be written (``--source png``), and a
sample of 32 CAM files (``--source cam``). This prints, on VOC-sized data (375×500):

* ms per label PNG of the full label scan (1 thread and 4), and what that is for VOC's
  10,582 and COCO's 123,287 images;
* ms per CAM file loaded (ToCo layout, 3 classes), and the sample's total.

Run: ``python benchmarks/bench_adapt_checks.py [--labels 500] [--cams 32]``.
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from samcam.adapters import get
from samcam.adapters.checks import check_cam_classes, check_label_classes, sample_names
from samcam.io import write_label_png


def make_labels(folder: Path, count: int, rng) -> list:
    names = []
    for index in range(count):
        label = np.zeros((375, 500), np.uint8)
        for _ in range(3):
            top, left = rng.integers(0, 300), rng.integers(0, 400)
            label[top:top + 75, left:left + 100] = rng.integers(1, 21)
            label[top:top + 75, left:left + 3] = 255  # VOC marks object boundaries 255
        name = f"img{index:06d}"
        write_label_png(folder / f"{name}.png", label, palette=True)
        names.append(name)
    return names


def make_cams(folder: Path, count: int, rng) -> list:
    names = []
    for index in range(count):
        scores = rng.random((4, 375, 500)).astype(np.float32)
        probs = scores / scores.sum(axis=0, keepdims=True)
        name = f"img{index:06d}"
        np.save(folder / f"{name}.npy", {"keys": np.array([1, 7, 14]), "high_res": probs[1:]}, allow_pickle=True)
        names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--cams", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"python {platform.python_version()}, {platform.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "labels").mkdir()
        names = make_labels(folder / "labels", args.labels, rng)
        for threads in (1, 4):
            start = time.perf_counter()
            check_label_classes(folder / "labels", names, 21, threads=threads)
            per = (time.perf_counter() - start) / len(names)
            print(f"label scan, {threads} thread(s): {per * 1000:.2f} ms per label; VOC 10,582: "
                  f"{per * 10582:.1f} s, COCO 123,287: {per * 123287:.0f} s")
        (folder / "cams").mkdir()
        cam_names = make_cams(folder / "cams", args.cams, rng)
        start = time.perf_counter()
        check_cam_classes(get("toco"), folder / "cams", cam_names, 21)
        took = time.perf_counter() - start
        sampled = len(sample_names(cam_names))
        print(f"CAM sample: {sampled} files in {took:.2f} s ({took / sampled * 1000:.1f} ms per file)")


if __name__ == "__main__":
    main()
