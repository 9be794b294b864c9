"""SAM 3 concept masks through transformers' ``Sam3Model`` / ``Sam3Processor``.

SAM 3 (Carion et al., arXiv 2511.16719) segments every instance of a concept given as a
short noun phrase. samcam prompts it with the names of an image's classes (its
image-level labels), so each mask comes tagged with the class it was found for.

Why transformers and not Meta's ``sam3`` package (facebookresearch/sam3 @ 99d02f2): ``sam3``
requires ``numpy>=1.26,<2`` (its ``pyproject.toml:29``), which cannot be installed beside
a numpy-2 environment, its README lists a CUDA GPU among its prerequisites
(``README.md:62-64``), and its builder fetches ``sam3.pt`` from the Hub when no
checkpoint path is given (``sam3/model_builder.py:645-649``); transformers runs SAM 3 on
the CPU as well as CUDA, with numpy 2, and loads a local Hugging Face folder offline
(``local_files_only=True``).

The model is a local folder in the Hugging Face layout (``config.json``,
``model.safetensors`` or an index and its shards, ``processor_config.json`` or
``preprocessor_config.json``, ``tokenizer.json`` or ``vocab.json`` + ``merges.txt``):
``--checkpoint DIR``, or ``<cache>/sam3`` (:func:`samcam.sam.checkpoints.cache_dir`).
Nothing is downloaded unless asked (``allow_download=True``); a download goes to a
temporary folder beside the cache, every LFS file is checked against the SHA-256 the
Hub records for it, and only a complete, verified folder is moved into place.
The weights are gated: accept the licence on https://huggingface.co/facebook/sam3.

One image, N concepts ``(class_index, phrase)``: the image is encoded once, its
features are shared by the N prompts (a view, not N copies), one batched forward pass
runs them all, and ``Sam3Processor.post_process_instance_segmentation`` turns the
output into masks with its own defaults (``threshold=0.3``, ``mask_threshold=0.5``:
transformers ``models/sam3/processing_sam3.py:612-617``, the same in
``image_processing_sam3.py:857-862``). The result is transformers' own post-processing,
masks bit for bit (tests/sam/test_sam3_family.py).

torch and transformers are imported only inside functions.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..masks import MaskSet, empty_maskset
from . import sam3_everything
from .checkpoints import CheckpointError, cache_dir
from .generate import DTYPES, check_image, precision, resolve_device

__all__ = [
    "SAM3_REPO",
    "CACHE_NAME",
    "TEXT_TOKENS",
    "Sam3Settings",
    "Sam3Prepared",
    "Sam3ConceptGenerator",
    "check_concepts",
    "missing_files",
    "check_folder",
    "resolve_folder",
    "download_folder",
    "load",
    "transformers_without_sam3",
    "results_to_maskset",
    "empty_concept_masks",
    "folder_identity",
]

# The Hugging Face repository of the official weights (gated) and its folder in samcam's cache.
SAM3_REPO = "facebook/sam3"
CACHE_NAME = "sam3"
# Sam3Processor pads every prompt to 32 tokens and does not truncate
# (processing_sam3.py:152); the CLIP text encoder has 32 positions.
TEXT_TOKENS = 32
# Files of the repository a download skips: Meta's original checkpoint (sam3.pt, for the
# sam3 package) and other frameworks' weights; transformers reads the safetensors.
_SKIP_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".msgpack", ".h5", ".onnx")
_MODEL_TYPES = ("sam3", "sam3_video")  # Sam3Model reads a sam3_video config's detector part

GET_WEIGHTS = (
    f"SAM 3's weights are gated on Hugging Face: accept the licence on https://huggingface.co/{SAM3_REPO}, "
    f"log in (hf auth login) and fetch them with: hf download {SAM3_REPO} --local-dir DIR --exclude '*.pt' "
    "(then pass --checkpoint DIR)"
)

Concept = Tuple[int, str]

# Whole-number settings and their upper bounds (a 256×256 grid is 16 times SAM's default).
_COUNTS = {"points_per_side": 256, "points_per_batch": 4096}


def _problem(name: str, value: Any) -> str:
    """What a Sam3Settings value must be, when it is not ("" when it is fine)."""
    if name == "everything":
        return "" if isinstance(value, bool) else "True or False"
    if isinstance(value, bool):
        return "a number in [0, 1]" if name not in _COUNTS else f"a whole number in [1, {_COUNTS[name]}]"
    if name in _COUNTS:
        fine = isinstance(value, (int, np.integer)) and 1 <= value <= _COUNTS[name]
        return "" if fine else f"a whole number in [1, {_COUNTS[name]}]"
    fine = isinstance(value, (int, float, np.floating)) and 0.0 <= value <= 1.0
    return "" if fine else "a number in [0, 1]"


@dataclass(frozen=True)
class Sam3Settings:
    """SAM 3's settings: the concept masks' thresholds (defaults: transformers' own, see the
    module docstring) and the optional everything masks (:mod:`.sam3_everything`; defaults:
    transformers' mask-generation pipeline's, which are SAM's).

    Attributes:
        threshold: a concept mask is kept when its score (query score × presence score,
            both sigmoids) is above this; stored as ``predicted_iou``.
        mask_threshold: a pixel is in a concept mask when its sigmoid probability is above this.
        everything: also store SAM 3's class-agnostic masks (its tracker over a point grid).
        points_per_side: the everything masks' point grid, N×N points.
        points_per_batch: points the tracker decodes at once (speed and memory only).
        pred_iou_thresh: keep an everything mask whose predicted IoU is above this.
        stability_score_thresh: ... whose stability score is at least this.
        box_nms_thresh: box NMS between the everything masks.
    """

    threshold: float = 0.3
    mask_threshold: float = 0.5
    everything: bool = False
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    box_nms_thresh: float = 0.7

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first setting out of range."""
        for item in fields(self):
            problem = _problem(item.name, getattr(self, item.name))
            if problem:
                raise ValueError(f"SAM 3's {item.name} must be {problem}, got {getattr(self, item.name)!r}")

    def pipeline_kwargs(self) -> dict:
        """The everything masks' settings as transformers' mask-generation pipeline names them."""
        return {"points_per_crop": int(self.points_per_side), "points_per_batch": int(self.points_per_batch),
                "pred_iou_thresh": float(self.pred_iou_thresh),
                "stability_score_thresh": float(self.stability_score_thresh),
                "crops_nms_thresh": float(self.box_nms_thresh)}

    @classmethod
    def of(cls, settings: Union[None, "Sam3Settings", Mapping[str, Any]]) -> "Sam3Settings":
        """``settings`` as Sam3Settings: ``None`` -> defaults; a mapping changes some of them
        (``None`` values keep the default); ValueError for a setting SAM 3 does not have."""
        if isinstance(settings, cls):
            return settings
        if settings is not None and not isinstance(settings, Mapping):
            raise ValueError(f"SAM 3 settings must be Sam3Settings or a mapping, got {type(settings).__name__}")
        given = {key: value for key, value in (settings or {}).items() if value is not None}
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"not a setting of SAM 3: {', '.join(unknown)} (it has {', '.join(sorted(known))})")
        return cls(**given)


def check_concepts(concepts: Sequence[Concept]) -> Tuple[Concept, ...]:
    """An image's concepts as a tuple of ``(class_index, phrase)``, checked.

    ``class_index`` is the dataset's class (an int >= 1: 0 is the background, never a
    prompt); ``phrase`` a non-empty noun phrase (surrounding spaces removed). A class
    may come with several phrases (synonyms); a repeated pair is refused.
    """
    checked = []
    for item in concepts:
        try:
            index, phrase = item
        except (TypeError, ValueError):
            raise ValueError(f"a concept must be a (class_index, phrase) pair, got {item!r}") from None
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)) or index < 1:
            raise ValueError(f"a concept's class index must be an int >= 1 (0 is the background), got {index!r}")
        if not isinstance(phrase, str) or not phrase.strip():
            raise ValueError(f"class {index}: its phrase must be a non-empty string, got {phrase!r}")
        pair = (int(index), phrase.strip())
        if pair in checked:
            raise ValueError(f"concept {pair} is given twice")
        checked.append(pair)
    return tuple(checked)


# ------------------------------------------------------------------------- the folder

def missing_files(folder: Path) -> List[str]:
    """What a SAM 3 folder in the Hugging Face layout lacks ([] when complete).

    Weights: ``model.safetensors``, or ``model.safetensors.index.json`` and every shard
    its ``weight_map`` names. Processor: ``processor_config.json`` (transformers 5) or
    ``preprocessor_config.json`` (older saves). Tokenizer: ``tokenizer.json`` or
    ``vocab.json`` + ``merges.txt`` (without them transformers would quietly build an
    empty CLIP tokenizer).
    """
    folder = Path(folder)
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    missing += _missing_weights(folder)
    if not any((folder / name).is_file() for name in ("processor_config.json", "preprocessor_config.json")):
        missing.append("processor_config.json")
    if not (folder / "tokenizer.json").is_file() and not all(
            (folder / name).is_file() for name in ("vocab.json", "merges.txt")):
        missing.append("tokenizer.json")
    return missing


def _missing_weights(folder: Path) -> List[str]:
    """The weight files ``folder`` lacks: ``model.safetensors``, or the shards its index names."""
    if (folder / "model.safetensors").is_file():
        return []
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return ["model.safetensors"]
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        shards = set()
    if not shards or not all(isinstance(shard, str) for shard in shards):
        return [f"{index.name} (unreadable: no weight_map of file names)"]
    return [shard for shard in sorted(shards) if not (folder / shard).is_file()]


def check_folder(folder: os.PathLike) -> Path:
    """``folder`` if it is a complete SAM 3 folder; CheckpointError (one line naming the
    folder, what is missing and how to get the weights) otherwise."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise CheckpointError(f"{folder} {what}: SAM 3 loads from a Hugging Face model folder. {GET_WEIGHTS}")
    missing = missing_files(folder)
    if missing:
        raise CheckpointError(f"{folder} is not a complete SAM 3 folder: missing {', '.join(missing)}. {GET_WEIGHTS}")
    try:
        model_type = sam3_everything.model_type_of(folder)
    except ValueError as error:
        raise CheckpointError(str(error)) from error
    if model_type not in _MODEL_TYPES:
        raise CheckpointError(f"{folder / 'config.json'}: model_type {model_type!r} is not SAM 3 "
                              f"(expected {' or '.join(_MODEL_TYPES)}). {GET_WEIGHTS}")
    return folder


def resolve_folder(checkpoint: Optional[os.PathLike] = None, *, allow_download: bool = False,
                   progress: bool = False) -> Path:
    """The SAM 3 folder to load: ``checkpoint`` as it is, else ``<cache>/sam3``, downloaded
    there first only when ``allow_download`` (CheckpointError when it cannot be had)."""
    if checkpoint is not None:
        return check_folder(checkpoint)
    folder = cache_dir() / CACHE_NAME
    if folder.exists() or not allow_download:
        if not folder.exists():
            raise CheckpointError(f"no SAM 3 folder in the cache ({folder} does not exist) and downloads are off. "
                                  f"{GET_WEIGHTS}, or put it at {folder}")
        return check_folder(folder)
    return download_folder(folder, progress=progress)


def folder_identity(folder: os.PathLike) -> dict:
    """What tells one SAM 3 folder's weights from another's, for ``samcam.json`` (as a checkpoint
    file's name and size do for the other families): the folder's name, the bytes of its
    weights (``model.safetensors``, or the shards its index names) and the SHA-256 of its
    ``config.json`` (None where a file is missing; the load reports that)."""
    folder = Path(folder)
    shards = ["model.safetensors"]
    if not (folder / "model.safetensors").is_file() and (folder / "model.safetensors.index.json").is_file():
        try:
            shards = sorted(set(json.loads((folder / "model.safetensors.index.json").read_text(encoding="utf-8"))
                                ["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            shards = []
    paths = [folder / shard for shard in shards]
    size = sum(path.stat().st_size for path in paths) if paths and all(p.is_file() for p in paths) else None
    config = folder / "config.json"
    return {"folder": folder.name, "weights_bytes": size, "config_sha256": _sha256(config) if config.is_file() else None}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_folder(destination: os.PathLike, *, progress: bool = False) -> Path:
    """Download SAM 3's folder from the Hub into ``destination``, verified, atomically.

    The files of one commit go to ``<destination>.<pid>.part``; each file the Hub stores
    in LFS must have the SHA-256 the Hub records for it; only then is the folder
    renamed to ``destination``. Any failure removes the partial folder and raises
    CheckpointError (the gated-repository case says how to get access).
    """
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    destination = Path(destination)
    partial = destination.with_name(f"{destination.name}.{os.getpid()}.part")
    bars_were_on = not are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    try:
        _fetch_verified(HfApi(), hf_hub_download, partial)
        shutil.rmtree(partial / ".cache", ignore_errors=True)  # huggingface_hub's download bookkeeping
        check_folder(partial)
        try:
            os.replace(partial, destination)
        except OSError:
            if missing_files(destination):
                raise
            # another process (another shard of the same run) finished the same download first
    except GatedRepoError as error:
        raise CheckpointError(f"{SAM3_REPO} is gated and this machine has no access ({error}). {GET_WEIGHTS}") \
            from error
    except (HfHubHTTPError, OSError) as error:
        raise CheckpointError(f"could not download SAM 3 from {SAM3_REPO}: {error}. {GET_WEIGHTS}") from error
    finally:
        if bars_were_on:
            enable_progress_bars()
        shutil.rmtree(partial, ignore_errors=True)
    return destination


def _fetch_verified(api, hf_hub_download, folder: Path) -> None:
    """Every file of SAM 3's latest commit but other frameworks' weights into ``folder``,
    each LFS file checked against the SHA-256 the Hub records for it."""
    info = api.model_info(SAM3_REPO, files_metadata=True)
    for sibling in info.siblings or ():
        if sibling.rfilename.lower().endswith(_SKIP_SUFFIXES):
            continue
        path = Path(hf_hub_download(SAM3_REPO, sibling.rfilename, revision=info.sha, local_dir=folder))
        expected = sibling.lfs.sha256 if sibling.lfs is not None else None
        if expected is not None and _sha256(path) != expected.lower():
            raise CheckpointError(f"{sibling.rfilename} downloaded from {SAM3_REPO} (commit {info.sha}) does "
                                  f"not have the SHA-256 the Hub records ({expected}); discarded")


# ------------------------------------------------------------------------ the masks

@dataclass(frozen=True)
class Sam3Prepared:
    """One image and its prompts, ready for the model (CPU tensors, :meth:`Sam3ConceptGenerator.prepare`).

    Attributes:
        shape: (H, W) of the image.
        concepts: its ``(class_index, phrase)`` prompts, in order.
        pixel_values: (1, 3, S, S) float32, the processor's resized, normalised image.
        input_ids, attention_mask: (N, 32) int64, the tokenized phrases (None when N = 0).
    """

    shape: Tuple[int, int]
    concepts: Tuple[Concept, ...]
    pixel_values: Any
    input_ids: Any = None
    attention_mask: Any = None


class Sam3ConceptGenerator:
    """SAM 3 behind samcam's mask-source interface, with concepts.

    ``prepare(image, concepts)`` does the CPU work (resize, normalise, tokenize) and may
    run in background threads; ``generate(prepared)`` runs the model and returns a
    :class:`~samcam.masks.MaskSet` whose masks are grouped by concept, in the order
    given, each group in SAM 3's query order, with per-mask scores:

    * ``class_index`` (K,) int64: the concept's class;
    * ``predicted_iou`` (K,) float32: SAM 3's score (what its threshold keeps);
    * ``presence_score`` (K,) float32: SAM 3's image-level presence of the concept;
    * ``box_xyxy`` (K, 4) float32: SAM 3's predicted box in pixels (x0, y0, x1, y1);
    * ``area`` (K,) int64: pixels in the mask.

    Args:
        model: a ``transformers.Sam3Model`` on ``device``, in eval mode.
        processor: its ``transformers.Sam3Processor``.
        settings: the thresholds.
        device: the model's device (a string).
        dtype: ``float32``, ``tf32`` or ``bfloat16`` (autocast around the model; the
            post-processing always runs in float32).
        description: what runs, for messages.
    """

    family = "sam3"

    def __init__(self, model, processor, settings: Optional[Sam3Settings] = None, device: str = "cpu",
                 dtype: str = "float32", description: str = ""):
        if dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.model = model
        self.processor = processor
        self.settings = Sam3Settings.of(settings)
        self.device = device
        self.dtype = dtype
        self.description = description
        # A fast (Rust) tokenizer called with padding options changes its own state: called
        # from several threads at once (prepare runs in background threads) it returned
        # unpadded ids or failed to build the batch (tests/sam/test_sam3_family.py).
        self._text_lock = threading.Lock()

    def prepare(self, image: np.ndarray, concepts: Sequence[Concept]) -> Sam3Prepared:
        """The CPU part for one H×W×3 uint8 RGB image and its concepts (thread-safe).

        Raises ValueError for a bad image, a bad concept, or a phrase longer than the
        32 tokens SAM 3's text encoder reads.
        """
        image = check_image(image)
        concepts = check_concepts(concepts)
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"]
        if not concepts:
            return Sam3Prepared(image.shape[:2], concepts, pixels)
        self.check_phrases(concepts)
        with self._text_lock:
            text = self.processor(text=[phrase for _, phrase in concepts], return_tensors="pt")
        return Sam3Prepared(image.shape[:2], concepts, pixels, text["input_ids"], text["attention_mask"])

    def check_phrases(self, concepts: Sequence[Concept]) -> None:
        """ValueError naming the first phrase longer than the 32 tokens SAM 3 reads (a
        class-name table can be checked once, before a run, with this)."""
        concepts = check_concepts(concepts)
        with self._text_lock:
            lengths = [len(ids) for ids in self.processor.tokenizer([phrase for _, phrase in concepts])["input_ids"]]
        for (index, phrase), length in zip(concepts, lengths):
            if length > TEXT_TOKENS:
                raise ValueError(f"class {index}: the phrase {phrase!r} is {length} tokens long; SAM 3 reads "
                                 f"at most {TEXT_TOKENS} (start and end tokens included)")

    def generate(self, prepared: Sam3Prepared) -> MaskSet:
        """Masks of one prepared image -> MaskSet (scores: see the class docstring)."""
        if not prepared.concepts:
            return empty_concept_masks(prepared.shape)
        outputs = self.forward(prepared)
        results = self.processor.post_process_instance_segmentation(
            outputs, threshold=self.settings.threshold, mask_threshold=self.settings.mask_threshold,
            target_sizes=[list(prepared.shape)] * len(prepared.concepts))
        presence = outputs.presence_logits.sigmoid().reshape(-1).cpu().numpy().astype(np.float32)
        return results_to_maskset(results, prepared.concepts, presence, prepared.shape)

    def forward(self, prepared: Sam3Prepared):
        """The model's raw output for the N prompts of one prepared image (float32 tensors)."""
        import torch

        count = len(prepared.concepts)
        with torch.no_grad(), precision(self.dtype, self.device):
            vision = self.model.get_vision_features(pixel_values=prepared.pixel_values.to(self.device))
            # The N prompts share the image's features: expand is a view, no copies.
            for key in ("fpn_hidden_states", "fpn_position_encoding"):
                vision[key] = tuple(level.expand(count, *level.shape[1:]) for level in vision[key])
            outputs = self.model(vision_embeds=vision, input_ids=prepared.input_ids.to(self.device),
                                 attention_mask=prepared.attention_mask.to(self.device))
        for key in ("pred_masks", "pred_boxes", "pred_logits", "presence_logits"):
            if outputs.get(key) is not None:
                outputs[key] = outputs[key].float()
        return outputs

    def masks(self, image: np.ndarray, concepts: Sequence[Concept]) -> MaskSet:
        """``generate(prepare(image, concepts))``."""
        return self.generate(self.prepare(image, concepts))


def empty_concept_masks(shape: Tuple[int, int]) -> MaskSet:
    """No masks, with SAM 3's score fields (0 rows each), so a store of an image where
    nothing was found still says it holds concept masks."""
    empty = empty_maskset(shape)
    scores = {"class_index": np.zeros(0, np.int64), "predicted_iou": np.zeros(0, np.float32),
              "presence_score": np.zeros(0, np.float32), "box_xyxy": np.zeros((0, 4), np.float32),
              "area": np.zeros(0, np.int64)}
    return MaskSet(empty.packed, shape, scores)


def results_to_maskset(results: Sequence[Mapping[str, Any]], concepts: Sequence[Concept], presence: np.ndarray,
                       shape: Tuple[int, int]) -> MaskSet:
    """``post_process_instance_segmentation``'s per-prompt results -> one MaskSet.

    ``results[i]`` belongs to ``concepts[i]``: ``masks`` (k, H, W) 0/1, ``scores`` (k,),
    ``boxes`` (k, 4) XYXY pixels; ``presence`` (N,) the prompts' presence scores.
    """
    # A prompt with no mask kept keeps the low-resolution shape (0, 288, 288): transformers
    # resizes only when something is kept (image_processing_sam3.py:924-925).
    dense = [result["masks"].cpu().numpy().astype(bool).reshape(-1, *shape) for result in results]
    counts = [len(masks) for masks in dense]
    if sum(counts) == 0:
        return empty_concept_masks(shape)
    masks = np.concatenate(dense)
    scores = {
        "class_index": np.repeat(np.array([index for index, _ in concepts], np.int64), counts),
        "predicted_iou": np.concatenate([r["scores"].float().cpu().numpy() for r in results]).astype(np.float32),
        "presence_score": np.repeat(np.asarray(presence, np.float32), counts),
        "box_xyxy": np.concatenate([r["boxes"].float().cpu().numpy().reshape(-1, 4) for r in results])
                      .astype(np.float32),
        "area": masks.reshape(len(masks), -1).sum(axis=1, dtype=np.int64),
    }
    return MaskSet.from_dense(masks, scores)


# -------------------------------------------------------------------------- loading

def transformers_without_sam3() -> Optional[str]:
    """The installed transformers' version when it has no ``Sam3Model`` (4.x), else None."""
    import transformers

    return None if hasattr(transformers, "Sam3Model") else transformers.__version__


@contextlib.contextmanager
def _quiet_transformers(progress: bool):
    """transformers' loading progress bar only when ``progress``, and its log messages at
    ERROR only (samcam turns what matters, missing or mis-shaped weights, into errors)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    if not progress:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load(checkpoint: Optional[os.PathLike] = None, *, device: str = "auto",
         settings: Union[None, Sam3Settings, Mapping[str, Any]] = None, dtype: str = "float32",
         allow_download: bool = False, progress: bool = False, detector: bool = True):
    """SAM 3 from a local Hugging Face folder -> :class:`Sam3ConceptGenerator`, or with
    ``settings.everything`` a :class:`samcam.sam.sam3_everything.Sam3WithEverything`.

    Args:
        checkpoint: the folder; ``None``: ``<cache>/sam3`` (see :func:`resolve_folder`).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` (:func:`samcam.sam.generate.resolve_device`).
        settings: :class:`Sam3Settings` or a mapping of the ones to change.
        dtype: ``float32``, ``tf32`` or ``bfloat16``.
        allow_download: fetch the official folder into the cache when it is not there.
        progress: progress bars while downloading.
        detector: load the concept detector (False: everything masks only, no concepts;
            needs ``settings.everything``).

    The packages and ``dtype`` are checked by :func:`samcam.sam.families.load_concept_generator`,
    the entry point (it raises MissingPackages saying what to install).
    The weights must fit the config exactly: a missing or mis-shaped tensor is an error
    (transformers would otherwise fill it with random values and only warn).

    Raises:
        CheckpointError: no folder, an incomplete one, or a failed download.
        ValueError: the folder's files cannot be read as SAM 3 (or, for the everything
            masks, hold no tracker), or settings out of range.
    """
    settings = Sam3Settings.of(settings)
    if not detector and not settings.everything:
        raise ValueError("SAM 3 without its concept detector makes only everything masks (settings everything=True)")
    folder = resolve_folder(checkpoint, allow_download=allow_download, progress=progress)
    if settings.everything:
        sam3_everything.check_tracker_folder(folder)  # before the detector's seconds of loading
    device = resolve_device(device)
    model, processor = _load_detector(folder, progress, detector)
    size = os.path.getsize(folder / "model.safetensors") if (folder / "model.safetensors").is_file() else None
    description = f"SAM 3 from {folder}" + (f" ({size / 2**30:.2f} GiB)" if size else "")
    concepts = None if model is None else Sam3ConceptGenerator(model.to(device).eval(), processor, settings,
                                                               device=device, dtype=dtype, description=description)
    if not settings.everything:
        return concepts
    with _quiet_transformers(progress):
        tracker = sam3_everything.load_tracker(folder, device)
    everything = sam3_everything.Sam3EverythingGenerator(
        tracker, processor.image_processor, settings, device=device, dtype=dtype,
        description=description + (" with its everything masks" if detector else ", its everything masks"))
    return sam3_everything.Sam3WithEverything(everything, concepts)


def _load_detector(folder: Path, progress: bool, detector: bool):
    """(``Sam3Model`` on the CPU, or None when not ``detector``; ``Sam3Processor``) from
    ``folder``, strictly: ValueError when a tensor is missing or mis-shaped."""
    from safetensors import SafetensorError
    from transformers import Sam3Model, Sam3Processor

    try:
        with _quiet_transformers(progress):
            processor = Sam3Processor.from_pretrained(folder, local_files_only=True)
            model, info = (Sam3Model.from_pretrained(folder, local_files_only=True, output_loading_info=True)
                           if detector else (None, {}))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as error:
        raise ValueError(f"{folder}: cannot load SAM 3 from it ({type(error).__name__}: {error})") from error
    bad = {key: sorted(info.get(key) or ()) for key in ("missing_keys", "mismatched_keys")}
    if any(bad.values()):
        raise ValueError(f"{folder}: its weights do not fit its config.json (missing {bad['missing_keys'][:3]}, "
                         f"mis-shaped {[str(k) for k in bad['mismatched_keys'][:3]]})")
    return model, processor
