"""MyCAM, a made-up WSSS method, plugged into samcam: the whole plug-in is this declaration.

Write down what the method's code does, with file:line, as the built-in adapters do
(``samcam/adapters/irn.py``). For this example, MyCAM's code would do:

- ``tools/make_cams.py:80``: ``np.save(f"{out}/{name}.npy", {"keys": keys, "cams": cams})``
  with ``keys`` numpy int64 (K,) 0-based foreground classes and ``cams`` numpy float32
  (K, H, W) at image size, each map in [0, 1];
- ``tools/eval_cams.py:31``: a constant background plane ``--bg`` 0.35 in front of the
  maps, argmax, ``keys + 1``; for COCO ``--bg`` 0.3 (``tools/eval_cams_coco.py:29``);
- ``tools/make_labels.py:12``: CRF labels into ``mycam_out/crf_labels`` (8-bit PNGs);
- ``train_seg.py --labels DIR`` trains its segmentation network, reading PNGs with PIL.

samcam then reads its files, makes its own pseudo label, refines it with SAM masks,
refuses ``--out`` folders its stages write, writes PNGs its next stage reads and prints
the commands that continue its pipeline.
"""
from samcam.adapters.base import CamFormat, Continuation, LabelSet, MethodAdapter, MethodFolder

ADAPTER = MethodAdapter(
    name="mycam",  # the --method value, and the entry point's name in pyproject.toml
    title="MyCAM (example/mycam)",
    cam_dir="mycam_out/cams",
    cam_formats=(
        CamFormat(
            "cam",  # the --layout name
            "tools/make_cams.py:80",  # the upstream line that writes the file
            "cams",  # the dict key of the (K, H, W) maps
            threshold=0.35, threshold_source="tools/eval_cams.py:31 (--bg)",
            coco_threshold=0.3, coco_source="tools/eval_cams_coco.py:29 (--bg)",
            keys_key="keys",  # the dict key of the (K,) 0-based classes
        ),
    ),
    label_sets=(LabelSet("mycam_out/crf_labels", "tools/make_labels.py CRF labels, 0..20"),),
    method_folders=(
        MethodFolder("mycam_out/cams", "tools/make_cams.py"),
        MethodFolder("mycam_out/crf_labels", "tools/make_labels.py"),
    ),
    palette_allowed=True,  # its next stage reads PNGs with PIL
    run_from="the MyCAM repository root",
    continuations=(
        Continuation("train MyCAM's segmentation network on them", "python train_seg.py --labels {out}"),
    ),
)

# Optional drop-in functions, as the built-in adapter modules export them.
load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam
