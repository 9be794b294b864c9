"""A made-up WSSS method, declared the way any method plugs into samcam.

Its CAM stage would save ``{"cls": int64 (K,) 0-based, "maps": float32 (K, H, W)}`` and
threshold the maps with a constant background plane of 0.3.
"""
from samcam.adapters.base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="toymethod",
    title="ToyMethod (samcam test plug-in)",
    cam_dir="toy/cams",
    cam_formats=(
        CamFormat("cam", "toy/make_cams.py:1", "maps", threshold=0.3, threshold_source="toy/eval.py:1",
                  keys_key="cls"),
    ),
    label_sets=(LabelSet("toy/labels", "the toy method's own labels"),),
    method_folders=(MethodFolder("toy/cams", "toy/make_cams.py"),),
    palette_allowed=True,
    run_from="the toy repository root",
    continuations=(Continuation("train the toy segmenter on them", "python toy_train.py --labels {out}"),),
)
