"""MCTformer (xulianuwa/MCTformer): class-token attention maps from ``main.py --gen_attention_maps``.

- CAMs: ``{--cam-npy-dir}/{name}.npy`` = ``{cls: float32 (H, W)}`` with int keys
  0..19 (0-based, present classes), min-max normalised per class, at image size.
- Own pseudo label (``evaluation.py --type npy --t T``): channel 0 = T, channel k+1 =
  cam[k], argmax. MCTformer sets no default T (``--curve True`` sweeps it); samcam
  uses 0.4, a typical best value: pass ``--threshold`` with your sweep's best.
- PNGs it already writes: PSA ``infer_aff.py --out_rw`` (VOC palette, 0..20). Its seg
  trainer reads ``--seg_pgt_path/{name}.png`` with PIL, so a palette PNG is fine.
"""
from .base import CamFormat, LabelSet, MethodAdapter

ADAPTER = MethodAdapter(
    name="mctformer",
    title="MCTformer (xulianuwa/MCTformer)",
    cam_dir="MCTformer_results/attn-patchrefine-npy",
    cam_formats=(CamFormat(None, threshold=0.4, class_dict=True),),
    label_sets=(LabelSet("pgt-psa-rw", "PSA random-walk labels (infer_aff.py --out_rw), VOC palette, 0..20"),),
    palette_allowed=True,
    next_stage="MCTformer: train the segmentation network with\n  python seg/train_seg.py ... --seg_pgt_path {out}",
)

load_cam = ADAPTER.load_cam
cam_to_label = ADAPTER.cam_to_label
cam_scores = ADAPTER.cam_scores
refine_cam = ADAPTER.refine_cam
