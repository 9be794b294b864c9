"""SAM 3's class-agnostic "everything" masks: its tracker prompted with a grid of points.

Besides the concept detector (:mod:`.sam3_family`), SAM 3 has a SAM-2-style promptable
tracker. transformers runs it as ``Sam3TrackerModel`` and its own ``mask-generation``
pipeline (``pipelines/mask_generation.py``) turns it into an automatic mask generator
with SAM's defaults: a 32×32 point grid (``points_per_crop=32``), predicted IoU > 0.88,
stability score >= 0.95 (offset 1), box NMS at 0.7 (``crops_nms_thresh``), one crop.
samcam runs that pipeline unchanged (same masks, same order) and stores its masks with
``predicted_iou`` = the pipeline's score, so the ``samcam`` and ``official`` rules run on
SAM 3 as on SAM; with concepts too (:class:`Sam3WithEverything`), the everything masks
are stored untagged (``class_index`` 0) after the concept masks, and the ``concept`` rule
judges them as it judges any untagged mask.

The tracker's weights are in the official folder (``facebook/sam3``, config type
``sam3_video``): the detector's ViT backbone, the tracker's own neck (``tracker_neck.``)
and the tracker (``tracker_model.``); transformers' weight mapping for ``sam3_tracker``
(``conversion_mapping.py``) reads them into ``Sam3TrackerModel``. A ``sam3`` folder holds
the detector alone and is refused here with a message. Loading is strict: a missing or
mis-shaped tensor is an error, not a random weight.

The tracker runs its own pass of the backbone (transformers' pipeline encodes the image
itself), so concepts + everything cost about two image encodings per image.

torch and transformers are imported only inside functions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ..masks import MaskSet
from .generate import DTYPES, check_image, precision

__all__ = ["TRACKER_MODEL_TYPES", "model_type_of", "check_tracker_folder", "load_tracker", "Sam3EverythingGenerator",
           "Sam3WithEverything", "everything_maskset", "tagged_untagged", "mask_boxes"]

# The folder type that holds SAM 3's tracker: the official folder (detector and tracker).
TRACKER_MODEL_TYPES = ("sam3_video",)


def model_type_of(folder: Path) -> object:
    """The ``model_type`` of ``folder``'s config.json (ValueError when it cannot be read)."""
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError) as error:
        raise ValueError(f"{folder / 'config.json'}: not a readable JSON config ({error})") from error


def check_tracker_folder(folder: Path) -> None:
    """ValueError unless ``folder``'s config is of a type that holds SAM 3's tracker."""
    model_type = model_type_of(folder)
    if model_type not in TRACKER_MODEL_TYPES:
        raise ValueError(f"{folder}: SAM 3's everything masks need its tracker, and this folder's config is of type "
                         f"{model_type!r} (the detector alone); the official folder (facebook/sam3, type "
                         "sam3_video) holds both")


def load_tracker(folder: Path, device: str):
    """``Sam3TrackerModel`` from ``folder`` on ``device`` (eval), strictly: ValueError when a
    tensor of the tracker is missing or mis-shaped, or the folder cannot be read."""
    from safetensors import SafetensorError
    from transformers import Sam3TrackerModel

    check_tracker_folder(folder)
    try:
        model, info = Sam3TrackerModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise ValueError(f"{folder}: cannot load SAM 3's tracker from it ({type(error).__name__}: {error})") from error
    bad = {key: sorted(str(k) for k in info.get(key) or ()) for key in ("missing_keys", "mismatched_keys")}
    if any(bad.values()):
        raise ValueError(f"{folder}: its weights do not hold SAM 3's tracker as its config.json describes it "
                         f"(missing {bad['missing_keys'][:3]}, mis-shaped {bad['mismatched_keys'][:3]})")
    return model.to(device).eval()


def everything_maskset(output: dict, shape: Tuple[int, int]) -> MaskSet:
    """The mask-generation pipeline's output -> MaskSet: masks in its order, ``predicted_iou``
    (K,) float32 its scores, ``area`` (K,) int64."""
    masks = [np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask, dtype=bool) for mask in output["masks"]]
    shape = tuple(int(v) for v in shape)
    dense = np.stack(masks) if masks else np.zeros((0,) + shape, bool)  # an image where nothing passed
    scores = output["scores"]
    scores = np.asarray(scores.float().cpu() if hasattr(scores, "cpu") else scores, dtype=np.float32).reshape(-1)
    return MaskSet.from_dense(dense, {"predicted_iou": scores,
                                      "area": dense.reshape(len(dense), shape[0] * shape[1]).sum(axis=1, dtype=np.int64)})


class Sam3EverythingGenerator:
    """SAM 3's tracker over a point grid, through transformers' ``mask-generation`` pipeline.

    ``prepare(image)`` checks the H×W×3 uint8 RGB image; ``generate(image)`` returns its
    masks as a MaskSet (:func:`everything_maskset`).

    Args:
        model: a ``transformers.Sam3TrackerModel`` on ``device``, in eval mode.
        image_processor: SAM 3's ``Sam3ImageProcessor`` (its point grid, crops and filters).
        settings: a :class:`samcam.sam.sam3_family.Sam3Settings` (its everything fields).
        device, dtype, description: as :class:`samcam.sam.sam3_family.Sam3ConceptGenerator`'s.
    """

    family = "sam3"

    def __init__(self, model, image_processor, settings, device: str = "cpu", dtype: str = "float32",
                 description: str = ""):
        from transformers import pipeline

        if dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.settings = settings
        self.device = device
        self.dtype = dtype
        self.description = description
        self.pipeline = pipeline("mask-generation", model=model, image_processor=image_processor, device=device)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Check the image; the pipeline resizes it itself."""
        return check_image(image)

    def generate(self, image: np.ndarray) -> MaskSet:
        """Masks of one H×W×3 uint8 RGB image -> MaskSet (``predicted_iou``, ``area``)."""
        import torch
        from PIL import Image

        image = check_image(image)
        with torch.no_grad(), precision(self.dtype, self.device):
            output = self.pipeline(Image.fromarray(image), **self.settings.pipeline_kwargs())
        return everything_maskset(output, image.shape[:2])


def tagged_untagged(tagged: MaskSet, untagged: MaskSet) -> MaskSet:
    """Concept masks, then everything masks as untagged ones (``class_index`` 0): one MaskSet
    with the concept masks' score fields: an untagged mask's ``class_index`` is 0, its
    ``presence_score`` NaN (it has none) and its ``box_xyxy`` the mask's own extent."""
    count = len(untagged)
    extra = {"class_index": np.zeros(count, np.int64), "presence_score": np.full(count, np.nan, np.float32),
             "box_xyxy": mask_boxes(untagged)}
    scores = {}
    for key, values in tagged.scores.items():
        other = untagged.scores.get(key, extra.get(key))
        if other is not None:
            scores[key] = np.concatenate([np.asarray(values), np.asarray(other).astype(np.asarray(values).dtype)])
    return MaskSet(np.concatenate([tagged.packed, untagged.packed]), tagged.image_shape, scores)


def mask_boxes(masks: MaskSet) -> np.ndarray:
    """(K, 4) float32 XYXY pixel extents of the masks (x1, y1 one past the last pixel; zeros
    for an empty mask)."""
    dense = masks.dense
    boxes = np.zeros((len(dense), 4), np.float32)
    for row, mask in enumerate(dense):
        ys, xs = np.nonzero(mask)
        if len(xs):
            boxes[row] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


class Sam3WithEverything:
    """SAM 3's concept masks and its everything masks of the same image, in one MaskSet.

    ``prepare(image, concepts=None)``: with ``concepts`` (and a concept generator), both
    kinds; without, the everything masks alone (no ``class_index``).

    Args:
        everything: a :class:`Sam3EverythingGenerator`.
        concepts: a :class:`samcam.sam.sam3_family.Sam3ConceptGenerator`, or None when no
            image is prompted with its classes (only the tracker is loaded then).
    """

    family = "sam3"

    def __init__(self, everything: Sam3EverythingGenerator, concepts=None):
        self.everything = everything
        self.concepts = concepts
        self.settings = everything.settings
        self.device = everything.device
        self.dtype = everything.dtype
        self.description = everything.description

    def prepare(self, image: np.ndarray, concepts: Optional[Sequence[Tuple[int, str]]] = None):
        image = check_image(image)
        if concepts is None:
            return image, None
        if self.concepts is None:
            raise ValueError("concepts given, but this SAM 3 was loaded without its concept detector "
                             "(detector=False): it makes everything masks only")
        return image, self.concepts.prepare(image, concepts)

    def check_phrases(self, concepts: Sequence[Tuple[int, str]]) -> None:
        if self.concepts is not None:
            self.concepts.check_phrases(concepts)

    def generate(self, prepared: Tuple[np.ndarray, Any]) -> MaskSet:
        image, concept_input = prepared
        everything = self.everything.generate(image)
        if concept_input is None:
            return everything
        return tagged_untagged(self.concepts.generate(concept_input), everything)
