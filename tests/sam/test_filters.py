"""SAM's crop filter chain (samcam.sam.filters): the same masks whatever the slices."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="samcam masks needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="samcam masks needs segment-anything ([sam] extra)")


from samcam.sam.generate import SamSettings  # noqa: E402


def test_filter_chain_keeps_the_same_masks_whatever_the_slices(sam):
    """samcam.sam.filters: every filter before the box NMS judges a mask by itself, so filtering a
    crop's decoded masks in one go (fast mode) or decoder batch by decoder batch (exact mode, the
    official loop) keeps the same masks, in the same order, with the same scores."""
    from segment_anything.utils.amg import batched_mask_to_box, calculate_stability_score, is_box_near_crop_edge

    from samcam.sam.filters import UPSAMPLE_CHUNK, CropFrame, cat_masks, filter_masks, finish_crop

    settings = SamSettings(pred_iou_thresh=0.3, stability_score_thresh=0.8, box_nms_thresh=0.7)
    generator = torch.Generator().manual_seed(0)
    count = 2 * UPSAMPLE_CHUNK + 22  # several up-sampling chunks
    # a blob per mask (16×16 low-res logits): some sharp, some soft, some at the crop's edges
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    centre = torch.rand(count, 2, generator=generator) * 16
    radius = 1 + 3 * torch.rand(count, generator=generator)
    height = 30 * torch.rand(count, generator=generator)
    distance = (rows - centre[:, :1, None]) ** 2 + (cols - centre[:, 1:, None]) ** 2
    low_res = height[:, None, None] * (1 - distance / radius[:, None, None] ** 2)
    iou_preds = torch.rand(count, generator=generator)
    point_index = torch.arange(count).div(3, rounding_mode="floor")
    # the top-left crop of a 200×240 image: its right and bottom edges are crop edges, the others the image's
    frame = CropFrame(box=(0, 0, 120, 100), image_size=(200, 240), size=(100, 120), input_size=(53, 64), index=2)
    with torch.inference_mode():
        whole = filter_masks(sam, low_res, iou_preds, point_index, frame, settings)
        cuts = (0, 30, 31, 100, count)
        parts = [filter_masks(sam, low_res[a:b], iou_preds[a:b], point_index[a:b], frame, settings)
                 for a, b in zip(cuts, cuts[1:])]
        sliced = cat_masks(parts, frame, "cpu")
        logits = sam.postprocess_masks(low_res[:, None], frame.input_size, frame.size)[:, 0]
    # each filter drops masks the others keep, and some masks pass them all
    confident = iou_preds > 0.3
    stable = calculate_stability_score(logits, sam.mask_threshold, 1.0) >= 0.8
    inside = ~is_box_near_crop_edge(batched_mask_to_box(logits > 0), list(frame.box), [0, 0, 240, 200])
    for one, others in ((confident, stable & inside), (stable, confident & inside), (inside, confident & stable)):
        assert bool((~one & others).any())
    assert torch.equal(whole["point_index"], point_index[confident & stable & inside])
    assert sorted(whole) == sorted(sliced) == ["boxes", "iou_preds", "masks", "point_index", "stability_score"]
    for key in whole:
        assert torch.equal(whole[key], sliced[key]), key
    finished = finish_crop(whole, frame, settings)
    assert 0 < len(finished["masks"]) <= len(whole["masks"])
    assert finished["masks"].shape[1:] == (200, 240) and bool((finished["crop_index"] == 2).all())
    assert not finished["masks"][:, 100:].any() and not finished["masks"][:, :, 120:].any()  # in the crop only

