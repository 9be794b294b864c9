"""The mask models samcam knows: the one list behind ``--model``, checkpoints and builders.

Four families, each run by its own package and its own automatic mask generator:

========== ===================== ===================== ========================================
family     ``--model`` values    package (import)      generator
========== ===================== ===================== ========================================
sam        vit_b, vit_l, vit_h   segment-anything      ``segment_anything.SamAutomaticMaskGenerator``
                                 (segment_anything)    (samcam's faster copy, same masks)
sam2.1     sam2.1_hiera_tiny,    sam2 (sam2)           ``sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator``
           _small, _base_plus,
           _large
hq         sam_hq_vit_b, _l, _h, segment-anything-hq   ``segment_anything_hq.SamAutomaticMaskGenerator``
           _tiny                 (segment_anything_hq)
mobilesam  mobile_sam            mobilesam-mirror      ``mobile_sam.SamAutomaticMaskGenerator``
                                 (mobile_sam)          (samcam's faster copy, same masks)
========== ===================== ===================== ========================================

A fifth family, ``sam3`` (SAM 3 through transformers' ``Sam3Model``), makes concept
masks: it is prompted with class names and loads from a Hugging Face model folder, not
one checkpoint file, so it has no entry in :data:`MASK_MODELS`
(:mod:`.sam3_family`).

Pure data (no torch): :mod:`.checkpoints` downloads and verifies the files,
:mod:`.families` builds the networks and generators.

Checkpoint hashes: none of the four projects publishes SHA-256 values of its own
files. Each value here is the one recorded in public downstream code (``sha256_source``
says where); a wrong value could only ever refuse a download, never accept a bad file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

from ..registry import Registry

__all__ = [
    "MaskFamily",
    "MaskModel",
    "FAMILIES",
    "MASK_FAMILIES",
    "MASK_MODELS",
    "SAM_MODELS",
    "MODEL_NAMES",
    "DEFAULT_MODEL",
    "models_of",
]


@dataclass(frozen=True)
class MaskFamily:
    """One family of mask models and the package that runs it.

    Attributes:
        name: ``sam``, ``sam2.1``, ``hq``, ``mobilesam`` or ``sam3``.
        title: how people call it (``"SAM 2.1"``).
        extra: the samcam extra that installs it (``pip install "samcam[<extra>]"``).
        requires: ``(pip name, import name)`` of every package a run needs, including
            ones the family's package uses without declaring them (timm).
        generator: the family's own automatic mask generator (the reference).
        paper: the paper that introduced it (for docs/mask_models.md's quality notes).
        min_python: the package's own ``Requires-Python``.
        dtypes: the ``--dtype`` values samcam runs it with.
    """

    name: str
    title: str
    extra: str
    requires: Tuple[Tuple[str, str], ...]
    generator: str
    paper: str
    min_python: Tuple[int, int] = (3, 9)
    dtypes: Tuple[str, ...] = ("float32", "tf32", "bfloat16")


@dataclass(frozen=True)
class MaskModel:
    """One official checkpoint of a family.

    Attributes:
        name: the ``--model`` value.
        family: a :data:`FAMILIES` key.
        size: the family's own size name (``vit_h``, ``tiny``, ``base_plus``...).
        filename: the official checkpoint's file name.
        url: where its authors publish it.
        sha256: the file's SHA-256 for the verified download (``None``: no public record
            found, the download is then only checked for completeness).
        sha256_source: where that value is recorded publicly.
        architecture: what the family's builder needs (the SAM encoder's sizes, the
            SAM 2 Hydra config name, ...) and the shapes that identify the checkpoint.
    """

    name: str
    family: str
    size: str
    filename: str
    url: str
    sha256: Optional[str]
    sha256_source: str
    architecture: Mapping[str, object] = field(default_factory=dict)


_TORCH = (("torch", "torch"), ("torchvision", "torchvision"))

FAMILIES: Dict[str, MaskFamily] = {
    family.name: family
    for family in (
        MaskFamily(
            "sam", "SAM", "sam", _TORCH + (("segment-anything", "segment_anything"),),
            "segment_anything.SamAutomaticMaskGenerator",
            "Kirillov et al., Segment Anything, ICCV 2023 (arXiv 2304.02643)",
        ),
        MaskFamily(
            "sam2.1", "SAM 2.1", "sam2", _TORCH + (("sam2", "sam2"), ("hydra-core", "hydra")),
            "sam2.automatic_mask_generator.SAM2AutomaticMaskGenerator",
            "Ravi et al., SAM 2: Segment Anything in Images and Videos, ICLR 2025 (arXiv 2408.00714)",
            min_python=(3, 10),
        ),
        MaskFamily(
            "hq", "HQ-SAM", "hq", _TORCH + (("segment-anything-hq", "segment_anything_hq"), ("timm", "timm")),
            "segment_anything_hq.SamAutomaticMaskGenerator",
            "Ke et al., Segment Anything in High Quality, NeurIPS 2023 (arXiv 2306.01567)",
            # HQ-SAM's own code never runs in bfloat16; samcam does not claim it works.
            dtypes=("float32", "tf32"),
        ),
        MaskFamily(
            "mobilesam", "MobileSAM", "mobilesam",
            _TORCH + (("mobilesam-mirror", "mobile_sam"), ("timm", "timm"), ("segment-anything", "segment_anything")),
            "mobile_sam.SamAutomaticMaskGenerator",
            "Zhang et al., Faster Segment Anything: Towards Lightweight SAM for Mobile Applications, "
            "arXiv 2306.14289",
        ),
        MaskFamily(
            "sam3", "SAM 3", "sam3", _TORCH + (("transformers", "transformers"),),
            "transformers.Sam3Model + Sam3Processor.post_process_instance_segmentation",
            "Carion et al., SAM 3: Segment Anything with Concepts, arXiv 2511.16719",
            # transformers 5.24.0's own Requires-Python (the version the [sam3] extra pins).
            min_python=(3, 11),
        ),
    )
}

_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_SAM_HASHES = "micro-sam (computational-cell-analytics/micro-sam) commit 645dfbb, micro_sam/util.py:48-50"
_SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
_SAM2_HASHES = ("geti-instant-learn (open-edge-platform/geti-instant-learn) commit be4ca92, "
                "library/src/instantlearn/utils/constants.py:100-121")
_HQ_URL = "https://huggingface.co/lkeab/hq-sam/resolve/main/"
_HQ_HASHES = ("geti-instant-learn (open-edge-platform/geti-instant-learn) commit be4ca92, "
              "library/src/instantlearn/utils/constants.py:127-145")
# MobileSAM's TinyViT image encoder (ChaoningZhang/MobileSAM mobile_sam/build_sam.py:53-64).
_TINY_VIT = dict(embed_dims=(64, 128, 160, 320), depths=(2, 2, 6, 2), num_heads=(2, 4, 5, 10),
                 window_sizes=(7, 7, 14, 7), mlp_ratio=4.0, mbconv_expand_ratio=4.0, local_conv_size=3,
                 num_classes=1000)


def _sam2(size: str, short: str, sha256: str, embed_dim: int, blocks: int, window_pos_embed: int) -> MaskModel:
    return MaskModel(
        f"sam2.1_hiera_{size}", "sam2.1", size, f"sam2.1_hiera_{size}.pt", f"{_SAM2_URL}sam2.1_hiera_{size}.pt",
        sha256, _SAM2_HASHES,
        # The Hydra config inside the sam2 package (sam2/build_sam.py:35-68 pairs them) and
        # the trunk's shapes that tell the four apart: patch embedding width, block count,
        # background position embedding size.
        dict(config=f"configs/sam2.1/sam2.1_hiera_{short}.yaml", embed_dim=embed_dim, blocks=blocks,
             pos_embed=window_pos_embed),
    )


def _hq(size: str, sha256: str, encoder: Mapping[str, object], source: str = _HQ_HASHES) -> MaskModel:
    return MaskModel(f"sam_hq_{size}", "hq", size, f"sam_hq_{size}.pth", f"{_HQ_URL}sam_hq_{size}.pth",
                     sha256, source, dict(encoder))


_VIT_H = dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31))
_VIT_L = dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23))
_VIT_B = dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11))

MASK_MODELS: Dict[str, MaskModel] = {
    model.name: model
    for model in (
        # SAM: the encoder sizes of segment_anything/build_sam.py.
        MaskModel("vit_h", "sam", "vit_h", "sam_vit_h_4b8939.pth", _SAM_URL + "sam_vit_h_4b8939.pth",
                  "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", _SAM_HASHES, _VIT_H),
        MaskModel("vit_l", "sam", "vit_l", "sam_vit_l_0b3195.pth", _SAM_URL + "sam_vit_l_0b3195.pth",
                  "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", _SAM_HASHES, _VIT_L),
        MaskModel("vit_b", "sam", "vit_b", "sam_vit_b_01ec64.pth", _SAM_URL + "sam_vit_b_01ec64.pth",
                  "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", _SAM_HASHES, _VIT_B),
        # SAM 2.1: the files of sam2's checkpoints/download_ckpts.sh.
        _sam2("tiny", "t", "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", 96, 12, 7),
        _sam2("small", "s", "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", 96, 16, 7),
        _sam2("base_plus", "b+", "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", 112, 24, 14),
        _sam2("large", "l", "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", 144, 48, 7),
        # HQ-SAM: SAM's ViT encoders (segment_anything_hq/build_sam.py:14-45) with the HQ
        # decoder, and Light HQ-SAM, MobileSAM's TinyViT with the HQ decoder (:48-98).
        _hq("vit_b", "14a9d662cd6f5a9c2dba6d40ab0058d88d287e4a18fd6fdc6ad5fb1a3fdeaa57", _VIT_B),
        _hq("vit_l", "e1a6c385d62bf005ded91a54d5ec55c985cfc4103ef89c08d90f39f04934c343", _VIT_L),
        _hq("vit_h", "a7ac14a085326d9fa6199c8c698c4f0e7280afdbb974d2c4660ec60877b45e35", _VIT_H),
        _hq("vit_tiny", "0f32c075ccdd870ae54db2f7630e7a0878ede5a2b06d05d6fe02c65a82fb7196", _TINY_VIT),
        # MobileSAM (vit_t): the file in the MobileSAM repository's weights/ folder.
        MaskModel("mobile_sam", "mobilesam", "vit_t", "mobile_sam.pt",
                  "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
                  "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
                  "micro-sam (computational-cell-analytics/micro-sam) commit 645dfbb, micro_sam/util.py:52; "
                  "also geti-instant-learn commit eda971c, library/src/getiprompt/utils/constants.py:101",
                  _TINY_VIT),
    )
}

DEFAULT_MODEL = "vit_h"
MODEL_NAMES: Tuple[str, ...] = tuple(MASK_MODELS)


def models_of(family: str) -> Dict[str, MaskModel]:
    """The official models of one family, by ``--model`` name."""
    return {name: model for name, model in MASK_MODELS.items() if model.family == family}


# The plain SAM models (the paper's), as before the other families existed.
SAM_MODELS: Dict[str, MaskModel] = models_of("sam")


def _builtin_families(registry: Registry) -> None:
    for name, family in FAMILIES.items():
        registry.register(name, family)


#: The registry of mask model families (:class:`samcam.registry.Registry`, the same verbs as
#: the rules' and the methods'); built in only: a family needs samcam's own builder.
MASK_FAMILIES: Registry[MaskFamily] = Registry("mask model family", builtins=_builtin_families)
