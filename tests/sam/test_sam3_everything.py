"""SAM 3's class-agnostic everything masks (samcam.sam.sam3_everything) on a tiny random-weight
SAM 3 saved in the official folder's layout (sam3_video: detector, tracker and the tracker's
neck in one file; tests/support/tiny_sam3.py): the tracker loads strictly from it, its masks
are transformers' own mask-generation pipeline's, bit for bit and in order, and with concepts
they follow the concept masks untagged."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from samcam import masks as mask_store
from samcam.masks import MaskSet
from samcam.sam import families, sam3_everything
from samcam.sam.sam3_everything import mask_boxes, tagged_untagged
from samcam.sam.sam3_family import Sam3ConceptGenerator, Sam3Settings

CONCEPTS = [(15, "person"), (9, "chair")]
# Every point's three masks kept (no IoU or stability filter, no NMS): the most to compare.
KEEP_ALL = {"everything": True, "points_per_side": 6, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0,
            "box_nms_thresh": 1.0}


def _image(shape=(45, 60), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    image[10:30, 15:40] = (30, 200, 30)
    return image


# ------------------------------------------------------------- no transformers needed

def test_tagged_then_untagged_keeps_the_concept_fields():
    rng = np.random.default_rng(0)
    tagged = MaskSet.from_dense(rng.random((2, 5, 7)) > 0.5, {
        "class_index": np.array([15, 9], np.int64), "predicted_iou": np.array([0.9, 0.5], np.float32),
        "presence_score": np.array([0.8, 0.7], np.float32), "box_xyxy": np.ones((2, 4), np.float32),
        "area": np.array([3, 4], np.int64)})
    untagged_dense = np.zeros((2, 5, 7), bool)
    untagged_dense[0, 1:3, 2:6] = True  # rows 1-2, columns 2-5
    untagged = MaskSet.from_dense(untagged_dense, {"predicted_iou": np.array([0.95, 0.2], np.float32),
                                                   "area": np.array([8, 0], np.int64)})
    both = tagged_untagged(tagged, untagged)
    assert len(both) == 4 and np.array_equal(both.dense, np.concatenate([tagged.dense, untagged_dense]))
    assert both.scores["class_index"].tolist() == [15, 9, 0, 0]
    assert both.scores["class_index"].dtype == np.int64
    np.testing.assert_array_equal(both.scores["predicted_iou"], np.array([0.9, 0.5, 0.95, 0.2], np.float32))
    assert np.isnan(both.scores["presence_score"][2:]).all() and both.scores["presence_score"][0] == np.float32(0.8)
    np.testing.assert_array_equal(both.scores["box_xyxy"][2:], [[2, 1, 6, 3], [0, 0, 0, 0]])
    np.testing.assert_array_equal(mask_boxes(untagged), both.scores["box_xyxy"][2:])
    assert both.scores["area"].tolist() == [3, 4, 8, 0]


def test_a_detector_only_folder_has_no_tracker(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam3"}))
    with pytest.raises(ValueError, match="need its tracker.*type 'sam3'.*sam3_video"):
        sam3_everything.check_tracker_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam3_video"}))
    sam3_everything.check_tracker_folder(tmp_path)


# ------------------------------------------------------------------ with transformers

@pytest.fixture(scope="module")
def tracker(video_folder):
    return sam3_everything.load_tracker(video_folder, "cpu")


def _pipeline_output(tracker, video_folder, image, settings):
    """transformers' own mask-generation pipeline on the same tracker and image."""
    from PIL import Image
    from transformers import Sam3Processor, pipeline

    processor = Sam3Processor.from_pretrained(video_folder, local_files_only=True).image_processor
    pipe = pipeline("mask-generation", model=tracker, image_processor=processor, device="cpu")
    return pipe(Image.fromarray(image), **settings.pipeline_kwargs())


def test_the_official_layout_loads_both_models_strictly(hf, video_folder, tracker):
    model, info = hf.Sam3TrackerModel.from_pretrained(video_folder, local_files_only=True, output_loading_info=True)
    assert not any(info.values()), info
    assert set(model.state_dict()) == set(tracker.state_dict())
    detector, info = hf.Sam3Model.from_pretrained(video_folder, local_files_only=True, output_loading_info=True)
    assert not any(info.values()), info
    # the tracker's backbone is the detector's own (one copy in the file)
    key = next(k for k in tracker.state_dict() if k.startswith("vision_encoder.backbone."))
    assert np.array_equal(tracker.state_dict()[key].numpy(), detector.state_dict()[key].numpy())


@pytest.mark.parametrize("settings", [KEEP_ALL, {"everything": True}], ids=["keep-all", "defaults"])
def test_masks_are_the_mask_generation_pipelines_own(video_folder, tracker, settings):
    generator = families.load_concept_generator(video_folder, device="cpu", settings=settings, detector=False)
    image = _image()
    ours = generator.generate(generator.prepare(image))
    theirs = _pipeline_output(tracker, video_folder, image, Sam3Settings.of(settings))
    expected = np.stack([m.numpy() for m in theirs["masks"]]) if theirs["masks"] else np.zeros((0, 45, 60), bool)
    assert ours.dense.shape == expected.shape and np.array_equal(ours.dense, expected)
    np.testing.assert_array_equal(ours.scores["predicted_iou"], theirs["scores"].float().numpy())
    assert "class_index" not in ours.scores
    if settings is KEEP_ALL:
        assert len(ours) == 3 * 6 * 6  # three masks per point, none filtered
    else:  # SAM's thresholds: random weights predict no IoU above 0.88, so nothing passes
        assert len(ours) == 0 and ours.image_shape == (45, 60)


def test_concepts_then_untagged_everything_masks(video_folder):
    both = families.load_concept_generator(video_folder, device="cpu", settings=KEEP_ALL)
    concepts_only = families.load_concept_generator(video_folder, device="cpu")
    everything_only = families.load_concept_generator(video_folder, device="cpu", settings=KEEP_ALL, detector=False)
    assert isinstance(concepts_only, Sam3ConceptGenerator) and both.concepts is not None
    assert everything_only.concepts is None
    with pytest.raises(ValueError, match="loaded without its concept detector"):
        everything_only.prepare(_image(), CONCEPTS)
    image = _image(seed=1)
    tagged = concepts_only.masks(image, CONCEPTS)
    untagged = everything_only.generate(everything_only.prepare(image))
    result = both.generate(both.prepare(image, CONCEPTS))
    assert len(result) == len(tagged) + len(untagged)
    assert np.array_equal(result.dense, np.concatenate([tagged.dense, untagged.dense]))
    assert result.scores["class_index"][len(tagged):].tolist() == [0] * len(untagged)
    assert set(result.scores["class_index"][:len(tagged)].tolist()) <= {15, 9}


def test_the_store_keeps_both_kinds(video_folder, tmp_path):
    generator = families.load_concept_generator(video_folder, device="cpu", settings=KEEP_ALL)
    result = generator.generate(generator.prepare(_image(), CONCEPTS))
    back = mask_store.load(mask_store.write(tmp_path / "img", result))
    assert np.array_equal(back.dense, result.dense)
    assert back.scores["class_index"].tolist() == result.scores["class_index"].tolist()
    np.testing.assert_array_equal(back.scores["presence_score"], result.scores["presence_score"])


def test_folders_without_the_tracker_or_with_part_of_it_are_refused(hf, folder, video_folder, tmp_path):
    with pytest.raises(ValueError, match="need its tracker.*type 'sam3'"):
        families.load_concept_generator(folder, device="cpu", settings={"everything": True})
    # one tracker tensor less: an error, not a random weight
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(video_folder, broken)
    tensors = load_file(str(broken / "model.safetensors"))
    del tensors["tracker_model.mask_decoder.iou_token.weight"]
    save_file(tensors, str(broken / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="do not hold SAM 3's tracker.*mask_decoder.iou_token.weight"):
        sam3_everything.load_tracker(broken, "cpu")
    with pytest.raises(ValueError, match="only everything masks"):
        families.load_concept_generator(video_folder, device="cpu", detector=False)


def test_bfloat16_runs_and_stores_float32_scores(video_folder):
    generator = families.load_concept_generator(video_folder, device="cpu", settings=KEEP_ALL, dtype="bfloat16",
                                                detector=False)
    masks = generator.generate(generator.prepare(_image()))
    assert len(masks) == 3 * 6 * 6 and masks.scores["predicted_iou"].dtype == np.float32
