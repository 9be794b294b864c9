"""A tiny random-weight model of each mask model family (SAM 2.1, HQ-SAM, Light HQ-SAM,
MobileSAM) with its checkpoint, CLI flags and the family's own generator, for the tests of
samcam.sam's families (the ``tiny`` and ``family_images`` fixtures: tests/sam/conftest.py).

No torch at import: the models are built (tests/support/tiny_models.py) when asked for.
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np
import pytest

from samcam.masks import annotations_to_maskset
from samcam.sam import registry

PACKAGES = {"sam": "segment_anything", "sam2.1": "sam2", "hq": "segment_anything_hq", "mobilesam": "mobile_sam"}

FAMILY_SHAPES = {"img_a": (48, 60), "img_b": (37, 29)}

# Few points and box NMS off, so every mask that passes the thresholds is kept and
# compared. The TinyViT families decode at SAM's full 256-d width (their encoder code
# fixes it), Light HQ-SAM with extra full-resolution convolutions per point: fewer points.
POINTS = {"sam2.1": 4, "hq": 4, "light_hq": 2, "mobilesam": 3}

CLI = ["--points-per-side", "4", "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]


def need(family: str):
    """The family's package, or a skip saying which extra installs it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip(PACKAGES[family],
                                   reason=f"{registry.FAMILIES[family].title} needs the "
                                          f"[{registry.FAMILIES[family].extra}] extra")


def family_image(shape, seed):
    """An (H, W, 3) uint8 noise image with one flat red block."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    h, w = shape
    image[h // 4: h // 2, w // 3: w // 2] = (200, 30, 30)
    return image


class Tiny:
    """A tiny model of one family: its network, checkpoint, extra CLI flags, own generator."""

    def __init__(self, kind: str, folder: Path):
        import tiny_models

        self.kind = kind
        self.kwargs = dict(points_per_side=POINTS[kind], box_nms_thresh=1.0)
        self.cli = ["--points-per-side", str(POINTS[kind])] + CLI[2:]
        self.flags = []
        if kind == "sam2.1":
            need("sam2.1")
            self.family = "sam2.1"
            self.network, yaml_text = tiny_models.tiny_sam2()
            config = folder / "tiny_sam2.yaml"
            config.write_text(yaml_text)
            self.flags = ["--config", str(config)]
            self.checkpoint = tiny_models.save(self.network, folder / "tiny_sam2.pt", wrap=True)
        else:
            self.family = "mobilesam" if kind == "mobilesam" else "hq"
            need(self.family)
            builder = {"hq": tiny_models.tiny_hq, "light_hq": tiny_models.tiny_light_hq,
                       "mobilesam": tiny_models.tiny_mobile_sam}[kind]
            self.network = builder()
            self.checkpoint = tiny_models.save(self.network, folder / f"tiny_{kind}.pth")

    def official(self, image, **kwargs):
        """The family's own generator on the reference network -> MaskSet."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.family == "sam2.1":
                from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator as Generator
            else:
                Generator = importlib.import_module(PACKAGES[self.family]).SamAutomaticMaskGenerator
        generator = Generator(self.network, output_mode="binary_mask", **kwargs)
        return annotations_to_maskset(generator.generate(image), image.shape[:2])


KINDS = ["sam2.1", "hq", "light_hq", "mobilesam"]
