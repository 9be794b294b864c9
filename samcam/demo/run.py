"""``samcam demo``: the whole pipeline on a small SYNTHETIC VOC-style dataset.

Layout written under ``out``::

    JPEGImages/{name}.jpg        rendered images
    SegmentationClass/{name}.png ground truth (0, 1..20, 255 boundary band)
    ImageSets/Segmentation/      train.txt and train_aug.txt (every name), val.txt (every 4th name:
                                 the demo has no held-out images; the list only makes
                                 ``samcam mmseg-config --data-root out/demo`` work)
    cam/{name}.npy               CAM dicts in IRN's layout (keys 0-based, cam stride 4, high_res K×H×W)
    cam_label/{name}.png         CAM pseudo labels (IRN's rule, background 0.15)
    masks_proposals/             weight-free proposals (samcam store)
    masks_sam_like/              simulated SAM masks (what SAM would roughly give)
    refined_proposals/           refined with the proposals
    refined_sam_like/            refined with the simulated SAM masks
    metrics.json                 every number
    mask_comparison.json         the two mask sources compared (``samcam compare``)
    report/                      the HTML report, with a "Mask sources" section
"""
from __future__ import annotations

import functools
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image

from .. import masks as mask_store
from ..batch import run_batch
from ..evaluate import evaluate_dirs, results_json
from ..folders import refine_dir
from ..io import atomic_write_bytes, read_image, write_label_png
from ..sam.compare import compare_mask_sources
from ..sam.proposals import generate as generate_proposals
from ..vis.report import ReportData, ReportOptions, write_report
from .synthetic import cam_to_label, make_scene

__all__ = ["run_demo", "build_dataset", "DemoResult", "LAYOUT"]

log = logging.getLogger(__name__)

# What the demo writes under ``out`` and which flag reads it (``samcam demo`` prints this).
LAYOUT = (
    ("JPEGImages/", "the rendered images: --images"),
    ("SegmentationClass/", "ground truth: --gt"),
    ("ImageSets/Segmentation/", "train.txt, train_aug.txt, val.txt: --list, mmseg-config"),
    ("cam/", "CAMs in IRN's layout: samcam-adapt --method irn --cams"),
    ("cam_label/", "the CAMs' pseudo labels: --labels"),
    ("masks_sam_like/", "simulated SAM masks: --masks"),
    ("masks_proposals/", "weight-free proposals: --masks"),
    ("refined_sam_like/", "cam_label refined with masks_sam_like: --labels"),
    ("refined_proposals/", "cam_label refined with masks_proposals: --labels"),
    ("metrics.json", "the three label sets scored"),
    ("mask_comparison.json", "the two mask sources compared"),
    ("report/index.html", "the report: open it in a browser"),
)


@dataclass
class DemoResult:
    """What :func:`run_demo` did: the evaluation, the report page, the wall time, and the
    comparison of the two mask sources."""

    results: Dict[str, object]
    report: Path
    out: Path
    num_images: int
    seconds: float
    comparison: Optional[Dict[str, object]] = None

    def summary(self) -> str:
        sets = self.results["sets"]
        return (
            f"SYNTHETIC data, {self.num_images} images: mIoU of the CAM pseudo labels {100 * sets['cam']['miou']:.1f}% "
            f"-> refined with weight-free proposals {100 * sets['+proposals']['miou']:.1f}%, "
            f"with simulated SAM masks {100 * sets['+sam_like']['miou']:.1f}% "
            f"({self.seconds:.1f} s). Outputs in {self.out}."
        )


def build_dataset(out: Path, num_images: int, seed: int) -> list:
    """Write the synthetic images, GT, CAMs, CAM labels and SAM-like masks; return names."""
    rng = np.random.default_rng(seed)
    names = []
    for index in range(num_images):
        name = f"synth_{index:05d}"
        scene = make_scene(rng, height=240, width=320)
        buffer = io.BytesIO()
        Image.fromarray(scene.image).save(buffer, format="JPEG", quality=95)
        atomic_write_bytes(out / "JPEGImages" / f"{name}.jpg", buffer.getvalue())
        write_label_png(out / "SegmentationClass" / f"{name}.png", scene.gt, palette=True)
        cam_buffer = io.BytesIO()
        np.save(cam_buffer, scene.cam, allow_pickle=True)
        atomic_write_bytes(out / "cam" / f"{name}.npy", cam_buffer.getvalue())
        write_label_png(out / "cam_label" / f"{name}.png", cam_to_label(scene.cam))
        mask_store.write(out / "masks_sam_like" / name, scene.masks)
        names.append(name)
    lists = out / "ImageSets" / "Segmentation"
    for list_name, listed in (("train.txt", names), ("train_aug.txt", names), ("val.txt", names[::4])):
        atomic_write_bytes(lists / list_name, ("\n".join(listed) + "\n").encode())
    return names


def _proposals_one(name: str, out: str) -> None:
    rgb = read_image(Path(out) / "JPEGImages" / f"{name}.jpg")
    mask_store.write(Path(out) / "masks_proposals" / name, generate_proposals(rgb))


def run_demo(out_dir, num_images: int = 40, seed: int = 0, workers: int = 1, progress: bool = False,
             command: Optional[Sequence[str]] = None) -> DemoResult:
    """Build the synthetic dataset, make masks, refine, evaluate, compare the two mask
    sources, write the HTML report.

    Returns a :class:`DemoResult`; ``results`` is what :func:`samcam.evaluate.evaluate_dirs`
    returns for the sets ``cam``, ``+proposals`` and ``+sam_like``; ``comparison`` what
    :func:`samcam.sam.compare.compare_mask_sources` returns for ``proposals`` and ``sam_like``.
    The report takes its deltas against ``cam`` and shows the images ``+sam_like`` (the
    headline) changed most; ``command`` (the command line) is shown on it.
    """
    out = Path(out_dir)
    start = time.perf_counter()
    log.info("building %d SYNTHETIC images under %s (rendered shapes, not VOC)", num_images, out)
    names = build_dataset(out, num_images, seed)
    proposals = run_batch(names, functools.partial(_proposals_one, out=str(out)),
                          lambda n: out / "masks_proposals" / f"{n}{mask_store.STORE_SUFFIX}",
                          workers=workers, desc="proposals", progress=progress)
    for masks_name in ("proposals", "sam_like"):
        result = refine_dir(out / "cam_label", out / f"masks_{masks_name}", out / f"refined_{masks_name}", names,
                            workers=workers, overwrite=True, progress=progress)
        if not result.ok or not proposals.ok:
            raise RuntimeError(f"demo failed: {result.summary()} {proposals.summary()}")
    label_sets = {"cam": out / "cam_label", "+proposals": out / "refined_proposals",
                  "+sam_like": out / "refined_sam_like"}
    results = evaluate_dirs(out / "SegmentationClass", label_sets, names)
    atomic_write_bytes(out / "metrics.json", results_json(results).encode())
    # What `samcam compare --masks proposals=... sam_like=... --labels ... --gt ...` shows.
    comparison = compare_mask_sources({"proposals": out / "masks_proposals", "sam_like": out / "masks_sam_like"},
                                      names, pseudo_dir=out / "cam_label", gt_dir=out / "SegmentationClass",
                                      workers=workers)
    atomic_write_bytes(out / "mask_comparison.json", results_json(comparison).encode())
    seconds = time.perf_counter() - start
    page = write_report(ReportData(results, pred_dirs=label_sets, gt_dir=out / "SegmentationClass",
                                   images_dir=out / "JPEGImages", masks_dir=out / "masks_sam_like", names=names,
                                   list_file=out / "ImageSets" / "Segmentation" / "train_aug.txt", command=command,
                                   mask_comparison=comparison),
                        out / "report", ReportOptions(baseline="cam", compare="+sam_like", workers=workers))
    return DemoResult(results=results, report=page, out=out, num_images=num_images, seconds=seconds,
                      comparison=comparison)
