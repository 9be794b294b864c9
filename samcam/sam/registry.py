"""The SAM models samcam knows: the one list behind ``--model``, checkpoints and builders.

Pure data (no torch): :mod:`.checkpoints` downloads and verifies the files,
:mod:`.generate` builds the networks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

__all__ = ["SamModel", "SAM_MODELS", "MODEL_NAMES", "DEFAULT_MODEL"]

_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything/"


@dataclass(frozen=True)
class SamModel:
    """One official SAM model.

    Attributes:
        name: the ``--model`` value.
        filename: the official checkpoint's file name (its 6-hex suffix is the start
            of the file's MD5, as Meta named them).
        url: where Meta publishes it.
        sha256: the file's SHA-256, for the verified download. Meta publishes no
            hashes for these files; the values are those recorded, identically, in
            many independent public projects' download scripts and Dockerfiles (found
            by searching public code for the file names). A wrong value could only
            ever refuse a download, never accept a bad file.
        encoder: the image encoder's architecture, as in segment-anything's
            ``build_sam.py`` (everything else is shared by the three).
    """

    name: str
    filename: str
    url: str
    sha256: str
    encoder: Dict[str, object] = field(default_factory=dict)


SAM_MODELS: Dict[str, SamModel] = {
    model.name: model
    for model in (
        SamModel(
            "vit_h", "sam_vit_h_4b8939.pth", _BASE_URL + "sam_vit_h_4b8939.pth",
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
        ),
        SamModel(
            "vit_l", "sam_vit_l_0b3195.pth", _BASE_URL + "sam_vit_l_0b3195.pth",
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
        ),
        SamModel(
            "vit_b", "sam_vit_b_01ec64.pth", _BASE_URL + "sam_vit_b_01ec64.pth",
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
        ),
    )
}
DEFAULT_MODEL = "vit_h"
MODEL_NAMES: Tuple[str, ...] = tuple(SAM_MODELS)
