"""SAM 3 concept masks (samcam.sam.sam3_family) on a tiny random-weight Sam3Model built
offline from its config (tests/support/tiny_sam3.py), saved in the Hugging Face folder layout
and loaded back through samcam: its masks are transformers' own post-processing on the
same image and prompts, bit for bit, with the same scores and classes; the store keeps
``class_index`` as ints; a missing or partial folder is a one-line error."""
from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from samcam import masks as mask_store
from samcam.masks import MaskSet
from samcam.sam import checkpoints, families, packages, sam3_family
from samcam.sam.sam3_family import Sam3Settings, check_concepts


def _image(shape=(75, 100), seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    image[10:40, 20:60] = (200, 30, 30)
    return image


CONCEPTS = [(15, "person"), (9, "chair"), (16, "potted plant")]


# ------------------------------------------------------------- no transformers needed

def test_store_keeps_class_index_as_ints(tmp_path):
    rng = np.random.default_rng(1)
    dense = rng.random((4, 9, 13)) > 0.5
    scores = {"class_index": np.array([15, 15, 9, 20], np.int64),
              "predicted_iou": np.array([0.9, 0.4, 0.31, 0.5], np.float32)}
    path = mask_store.write(tmp_path / "img", MaskSet.from_dense(dense, scores))
    back = mask_store.load(path)
    assert back.scores["class_index"].dtype == np.int64
    np.testing.assert_array_equal(back.scores["class_index"], scores["class_index"])
    np.testing.assert_array_equal(back.scores["predicted_iou"], scores["predicted_iou"])
    np.testing.assert_array_equal(back.dense, dense)


def test_settings_ranges_and_mappings():
    assert Sam3Settings() == Sam3Settings.of(None) == Sam3Settings.of({"threshold": None})
    assert Sam3Settings.of({"threshold": 0.5}).threshold == 0.5
    for bad in ({"threshold": 1.5}, {"mask_threshold": -0.1}, {"threshold": float("nan")}, {"threshold": True},
                {"mask_threshold": "0.5"}):
        with pytest.raises(ValueError, match="must be a number in \\[0, 1\\]"):
            Sam3Settings.of(bad)
    with pytest.raises(ValueError, match="not a setting of SAM 3: crop_n_layers"):
        Sam3Settings.of({"crop_n_layers": 1})
    # the everything masks' settings (samcam.sam.sam3_everything)
    for bad in ({"points_per_side": 0}, {"points_per_side": 1.5}, {"points_per_side": True},
                {"points_per_batch": 5000}):
        with pytest.raises(ValueError, match="must be a whole number in \\[1, "):
            Sam3Settings.of(bad)
    for bad in ({"pred_iou_thresh": float("nan")}, {"box_nms_thresh": 2}, {"stability_score_thresh": -1}):
        with pytest.raises(ValueError, match="must be a number in \\[0, 1\\]"):
            Sam3Settings.of(bad)
    with pytest.raises(ValueError, match="everything must be True or False"):
        Sam3Settings.of({"everything": "yes"})
    assert Sam3Settings(points_per_side=np.int64(8)).points_per_side == 8
    assert Sam3Settings().pipeline_kwargs() == {"points_per_crop": 32, "points_per_batch": 64, "pred_iou_thresh": 0.88,
                                                "stability_score_thresh": 0.95, "crops_nms_thresh": 0.7}
    with pytest.raises(AttributeError):
        Sam3Settings().threshold = 0.1  # frozen


def test_concepts_are_checked():
    assert check_concepts([(np.int64(3), " dog "), (3, "puppy")]) == ((3, "dog"), (3, "puppy"))
    assert check_concepts([]) == ()
    for bad, message in (([(0, "background")], "int >= 1"), ([(True, "x")], "int >= 1"), ([(2.0, "x")], "int >= 1"),
                         ([(2, "  ")], "non-empty"), ([(2, None)], "non-empty"), ([(2, "a"), (2, "a")], "twice"),
                         ([(2,)], "pair"), ([5], "pair")):
        with pytest.raises(ValueError, match=message):
            check_concepts(bad)


def _complete_folder(folder: Path) -> Path:
    """Placeholder files with the names a SAM 3 folder needs (for the file checks only)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "sam3"}))
    for name in ("model.safetensors", "processor_config.json", "tokenizer.json"):
        (folder / name).write_text("{}")
    return folder


def test_missing_or_partial_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(checkpoints.CheckpointError) as caught:
        sam3_family.check_folder(tmp_path / "nowhere")
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message and "does not exist" in message
    assert "gated" in message and "huggingface.co/facebook/sam3" in message
    assert "hf download facebook/sam3 --local-dir DIR" in message and "hf auth login" in message

    folder = _complete_folder(tmp_path / "sam3")
    assert sam3_family.check_folder(folder) == folder
    for name, reported in (("model.safetensors", "model.safetensors"), ("tokenizer.json", "tokenizer.json"),
                           ("processor_config.json", "processor_config.json"), ("config.json", "config.json")):
        (folder / name).rename(folder / (name + ".away"))
        with pytest.raises(checkpoints.CheckpointError, match=f"missing {reported}") as caught:
            sam3_family.check_folder(folder)
        assert str(folder) in str(caught.value) and "\n" not in str(caught.value)
        (folder / (name + ".away")).rename(folder / name)
    # the older layouts transformers also reads
    (folder / "tokenizer.json").unlink()
    (folder / "vocab.json").write_text("{}")
    assert sam3_family.missing_files(folder) == ["tokenizer.json"]  # vocab.json alone is not enough
    (folder / "merges.txt").write_text("")
    (folder / "processor_config.json").rename(folder / "preprocessor_config.json")
    assert sam3_family.missing_files(folder) == []


def test_sharded_weights_need_every_shard(tmp_path):
    folder = _complete_folder(tmp_path / "sam3")
    (folder / "model.safetensors").unlink()
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-00001-of-00002.safetensors").write_text("")
    assert sam3_family.missing_files(folder) == ["model-00002-of-00002.safetensors"]
    (folder / "model.safetensors.index.json").write_text("[1, 2]")
    assert "unreadable" in sam3_family.missing_files(folder)[0]


def test_folder_of_another_model_is_refused(tmp_path):
    folder = _complete_folder(tmp_path / "sam2")
    (folder / "config.json").write_text(json.dumps({"model_type": "sam2"}))
    with pytest.raises(checkpoints.CheckpointError, match="model_type 'sam2' is not SAM 3"):
        sam3_family.check_folder(folder)


def test_cache_without_download_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(checkpoints.CheckpointError) as caught:
        sam3_family.resolve_folder(None)
    assert str(tmp_path / "cache" / "sam3") in str(caught.value) and "downloads are off" in str(caught.value)
    cached = _complete_folder(tmp_path / "cache" / "sam3")
    assert sam3_family.resolve_folder(None) == cached


def test_missing_transformers_says_which_extra(monkeypatch, tmp_path):
    real = packages._importable
    monkeypatch.setattr(packages, "_importable", lambda module: module != "transformers" and real(module))
    with pytest.raises(families.MissingPackages, match=r"transformers.*samcam\[sam3\]"):
        families.load_concept_generator(_complete_folder(tmp_path / "sam3"), device="cpu")


def test_transformers_without_sam3_says_which_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(packages, "_importable", lambda module: True)
    monkeypatch.setattr(sam3_family, "transformers_without_sam3", lambda: "4.57.6")
    with pytest.raises(families.MissingPackages, match=r"transformers 4.57.6 is installed.*samcam\[sam3\]"):
        families.load_concept_generator(_complete_folder(tmp_path / "sam3"), device="cpu")


def test_dtypes_and_fast_mode_are_checked(tmp_path):
    folder = _complete_folder(tmp_path / "sam3")
    with pytest.raises(ValueError, match="--dtype float16 is not available for SAM 3"):
        families.load_concept_generator(folder, dtype="float16")
    with pytest.raises(ValueError, match="--fast is for SAM"):
        families.check_mode("sam3", None, True)


# ------------------------------------------------------------------ with transformers

@pytest.fixture(scope="module")
def generator(folder):
    return families.load_concept_generator(folder, device="cpu")


def _reference(folder, image, concepts, **thresholds):
    """transformers alone, as its docs run several prompts on one image: the image's
    features computed once (get_vision_features) and shared by the batch of prompts."""
    import torch
    from transformers import Sam3Model, Sam3Processor

    model = Sam3Model.from_pretrained(folder, local_files_only=True).eval()
    processor = Sam3Processor.from_pretrained(folder, local_files_only=True)
    phrases = [phrase for _, phrase in concepts]
    image_inputs = processor(images=image, return_tensors="pt")
    text = processor(text=phrases, return_tensors="pt")
    with torch.no_grad():
        vision = model.get_vision_features(pixel_values=image_inputs.pixel_values)
        for key in ("fpn_hidden_states", "fpn_position_encoding"):
            vision[key] = tuple(level.repeat(len(phrases), 1, 1, 1) for level in vision[key])
        outputs = model(vision_embeds=vision, **text)
    sizes = image_inputs["original_sizes"].tolist() * len(phrases)
    return processor.post_process_instance_segmentation(outputs, target_sizes=sizes, **thresholds), outputs


def _assert_same(ours, results, concepts, presence=None):
    assert len(ours) == sum(len(r["masks"]) for r in results)
    np.testing.assert_array_equal(ours.dense, np.concatenate([r["masks"].numpy() for r in results]).astype(bool))
    np.testing.assert_array_equal(ours.scores["predicted_iou"], np.concatenate([r["scores"].numpy() for r in results]))
    np.testing.assert_array_equal(ours.scores["box_xyxy"], np.concatenate([r["boxes"].numpy() for r in results]))
    classes = np.concatenate([[index] * len(r["masks"]) for (index, _), r in zip(concepts, results)])
    np.testing.assert_array_equal(ours.scores["class_index"], classes)
    assert ours.scores["class_index"].dtype == np.int64
    np.testing.assert_array_equal(ours.scores["area"], ours.areas)
    if presence is not None:
        counts = [len(r["masks"]) for r in results]
        np.testing.assert_array_equal(ours.scores["presence_score"], np.repeat(presence, counts))


@pytest.mark.slow
def test_masks_are_transformers_own_post_processing(generator, folder):
    image = _image()
    ours = generator.masks(image, CONCEPTS)
    results, outputs = _reference(folder, image, CONCEPTS)
    _assert_same(ours, results, CONCEPTS, outputs.presence_logits.sigmoid().reshape(-1).numpy())
    # not a trivial case: every prompt keeps some masks and drops others, masks are partial
    kept = [len(r["masks"]) for r in results]
    assert all(0 < k < 8 for k in kept), kept
    assert ours.shape == (sum(kept), 75, 100) and ((ours.areas > 0) & (ours.areas < 75 * 100)).all()
    assert (ours.scores["predicted_iou"] > Sam3Settings().threshold).all()


def test_batched_prompts_match_the_documented_runs(generator, folder):
    """transformers' documented batched run (the image repeated once per prompt) and its
    one-prompt-at-a-time run give the same masks: prompts in one batch do not interact."""
    import torch
    from transformers import Sam3Model, Sam3Processor

    model = Sam3Model.from_pretrained(folder, local_files_only=True).eval()
    processor = Sam3Processor.from_pretrained(folder, local_files_only=True)
    image = _image(seed=3)
    ours = generator.masks(image, CONCEPTS)
    phrases = [phrase for _, phrase in CONCEPTS]
    inputs = processor(images=[image] * len(phrases), text=phrases, return_tensors="pt")
    with torch.no_grad():
        batched = processor.post_process_instance_segmentation(
            model(**inputs), target_sizes=inputs["original_sizes"].tolist())
    single = []
    for phrase in phrases:
        inputs = processor(images=image, text=phrase, return_tensors="pt")
        with torch.no_grad():
            single += processor.post_process_instance_segmentation(
                model(**inputs), target_sizes=inputs["original_sizes"].tolist())
    for results in (batched, single):
        expected = np.concatenate([r["masks"].numpy() for r in results]).astype(bool)
        assert expected.shape == ours.shape
        assert (expected != ours.dense).mean() < 1e-3  # float rounding of a batch of another size
        np.testing.assert_allclose(ours.scores["predicted_iou"], np.concatenate([r["scores"] for r in results]),
                                   atol=1e-5)


def test_defaults_are_transformers_own(hf):
    from transformers import Sam3ImageProcessor, Sam3Processor

    for method in (Sam3Processor.post_process_instance_segmentation,
                   Sam3ImageProcessor.post_process_instance_segmentation):
        parameters = inspect.signature(method).parameters
        assert {name: parameters[name].default for name in ("threshold", "mask_threshold")} == \
            {"threshold": Sam3Settings().threshold, "mask_threshold": Sam3Settings().mask_threshold}
    source = inspect.getsource(Sam3Processor.__call__)
    assert f"max_length={sam3_family.TEXT_TOKENS}" in source


@pytest.mark.slow
def test_thresholds_are_applied(folder, generator):
    image = _image(seed=5)
    base = generator.masks(image, CONCEPTS)
    strict = families.load_concept_generator(folder, device="cpu", settings={"threshold": 0.45})
    fewer = strict.masks(image, CONCEPTS)
    results, _ = _reference(folder, image, CONCEPTS, threshold=0.45)
    _assert_same(fewer, results, CONCEPTS)
    assert 0 < len(fewer) < len(base)
    keep = base.scores["predicted_iou"] > 0.45
    np.testing.assert_array_equal(fewer.scores["predicted_iou"], base.scores["predicted_iou"][keep])
    # transformers resizes the kept masks of a prompt together; how many there are changes
    # the float rounding of torch's bilinear interpolation, so a few border pixels differ
    assert (fewer.dense != base.dense[keep]).mean() < 0.01
    tighter = families.load_concept_generator(folder, device="cpu", settings={"mask_threshold": 0.7})
    smaller = tighter.masks(image, CONCEPTS)
    assert len(smaller) == len(base) and (smaller.dense <= base.dense).all() and smaller.areas.sum() < base.areas.sum()


def test_no_concepts_no_masks_and_long_phrases_refused(generator, folder):
    empty = generator.masks(_image(), [])
    assert empty.shape == (0, 75, 100)
    none_kept = families.load_concept_generator(folder, device="cpu", settings={"threshold": 1.0}).masks(
        _image(), CONCEPTS)
    fields = sorted(generator.masks(_image(), CONCEPTS).scores)
    for masks in (empty, none_kept):  # the fields are there, with 0 rows
        assert masks.shape == (0, 75, 100) and sorted(masks.scores) == fields
        assert masks.scores["class_index"].dtype == np.int64 and masks.scores["box_xyxy"].shape == (0, 4)
    with pytest.raises(ValueError, match="is 42 tokens long; SAM 3 reads at most 32"):
        generator.prepare(_image(), [(3, "a" * 40)])  # one token per character, plus start and end
    generator.check_phrases([(3, "a" * 30)])  # 32 tokens: fits
    with pytest.raises(ValueError, match="class 4: the phrase 'bb"):
        generator.check_phrases([(3, "a" * 30), (4, "b" * 31)])
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        generator.prepare(np.zeros((5, 5), np.uint8), CONCEPTS)


def test_prepare_runs_in_threads(generator):
    from concurrent.futures import ThreadPoolExecutor

    images = [_image(seed=seed) for seed in range(24)]
    phrases = [CONCEPTS[: 1 + seed % 3] for seed in range(24)]
    alone = [generator.prepare(image, concepts) for image, concepts in zip(images, phrases)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(generator.prepare, images, phrases))
    for one, other in zip(alone, together):
        assert one.concepts == other.concepts
        for key in ("pixel_values", "input_ids", "attention_mask"):
            assert getattr(one, key).equal(getattr(other, key)), key


def test_store_round_trip_of_sam3_masks(generator, tmp_path):
    ours = generator.masks(_image(seed=7), CONCEPTS)
    back = mask_store.load(mask_store.write(tmp_path / "img", ours))
    np.testing.assert_array_equal(back.dense, ours.dense)
    assert sorted(back.scores) == sorted(ours.scores)
    for key, value in ours.scores.items():
        assert back.scores[key].dtype == value.dtype
        np.testing.assert_array_equal(back.scores[key], value)


def test_bfloat16_runs(folder):
    fast = families.load_concept_generator(folder, device="cpu", dtype="bfloat16")
    masks = fast.masks(_image(), CONCEPTS)
    assert fast.dtype == "bfloat16" and masks.scores["predicted_iou"].dtype == np.float32
    assert set(masks.scores["class_index"]) <= {15, 9, 16}


def test_weights_must_fit_the_config(folder, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = shutil.copytree(folder, tmp_path / "broken")
    tensors = load_file(broken / "model.safetensors")
    dropped = sorted(tensors)[0]
    del tensors[dropped]
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="weights do not fit its config.json") as caught:
        families.load_concept_generator(broken, device="cpu")
    assert dropped in str(caught.value)
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="cannot load SAM 3 from it"):
        families.load_concept_generator(broken, device="cpu")


@pytest.mark.slow
def test_the_hubs_sam3_video_layout_loads(folder, generator, tmp_path):
    """facebook/sam3 holds a sam3_video config (the detector's under detector_config)
    and detector_model.* / tracker_model.* tensors; Sam3Model reads its detector."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers.models.sam3_video.configuration_sam3_video import Sam3VideoConfig

    video = shutil.copytree(folder, tmp_path / "video")
    config = json.loads((folder / "config.json").read_text())
    Sam3VideoConfig(detector_config=config).save_pretrained(video)
    tensors = {"detector_model." + key: value for key, value in load_file(folder / "model.safetensors").items()}
    tensors["tracker_model.memory_encoder.weight"] = torch.zeros(2)
    save_file(tensors, video / "model.safetensors", metadata={"format": "pt"})
    assert json.loads((video / "config.json").read_text())["model_type"] == "sam3_video"
    loaded = families.load_concept_generator(video, device="cpu")
    image = _image(seed=9)
    np.testing.assert_array_equal(loaded.masks(image, CONCEPTS).dense, generator.masks(image, CONCEPTS).dense)


# ------------------------------------------------------------------- the download

class _FakeHub:
    """huggingface_hub's HfApi.model_info and hf_hub_download over a local folder."""

    def __init__(self, source: Path, corrupt: str = ""):
        import hashlib
        from types import SimpleNamespace

        self.source, self.corrupt, self.fetched = source, corrupt, []
        siblings = []
        for path in sorted(source.iterdir()) + [source / "sam3.pt"]:
            data = path.read_bytes() if path.exists() else b"original checkpoint"
            lfs = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest()) if path.suffix in (".safetensors", ".pt") \
                else None
            siblings.append(SimpleNamespace(rfilename=path.name, lfs=lfs))
        self.info = SimpleNamespace(sha="0123abc", siblings=siblings)

    def api(self):
        return type("Api", (), {"model_info": lambda _, repo, files_metadata: self.info})()

    def download(self, repo, filename, revision, local_dir):
        assert repo == "facebook/sam3" and revision == "0123abc"
        self.fetched.append(filename)
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / ".cache").mkdir(exist_ok=True)
        data = (self.source / filename).read_bytes()
        target.write_bytes(data + b"!" if filename == self.corrupt else data)
        return str(target)


def _patch_hub(monkeypatch, hub):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", hub.api)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hub.download)


@pytest.mark.slow
def test_download_only_when_asked_verified_then_moved_into_place(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    hub = _FakeHub(folder)
    _patch_hub(monkeypatch, hub)
    with pytest.raises(checkpoints.CheckpointError, match="downloads are off"):
        families.load_concept_generator(device="cpu")
    assert hub.fetched == []
    loaded = families.load_concept_generator(device="cpu", allow_download=True)
    cached = tmp_path / "cache" / "sam3"
    assert loaded.description.startswith(f"SAM 3 from {cached}")
    assert "sam3.pt" not in hub.fetched and sorted(p.name for p in cached.iterdir()) == sorted(hub.fetched)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["sam3"]  # no partial folder, no .cache
    np.testing.assert_array_equal(loaded.masks(_image(), CONCEPTS).dense,
                                  families.load_concept_generator(folder, device="cpu").masks(_image(), CONCEPTS).dense)


def test_download_with_a_wrong_checksum_leaves_nothing(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    _patch_hub(monkeypatch, _FakeHub(folder, corrupt="model.safetensors"))
    with pytest.raises(checkpoints.CheckpointError, match="model.safetensors downloaded from facebook/sam3 .* SHA-256"):
        families.load_concept_generator(device="cpu", allow_download=True)
    assert list((tmp_path / "cache").iterdir()) == []


def test_gated_repository_says_how_to_get_access(hf, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(*args, **kwargs):
        # built without an HTTP response object (whose class differs between huggingface_hub versions)
        error = GatedRepoError.__new__(GatedRepoError)
        Exception.__init__(error, "401 Client Error: access to model facebook/sam3 is restricted")
        raise error

    monkeypatch.setattr(huggingface_hub, "HfApi", lambda: type("Api", (), {"model_info": refuse})())
    with pytest.raises(checkpoints.CheckpointError, match="gated and this machine has no access.*hf auth login"):
        sam3_family.download_folder(tmp_path / "sam3")
    assert not list(tmp_path.iterdir())


def test_a_prompt_without_masks_does_not_break_the_image(hf):
    """transformers leaves a prompt with nothing kept at the low resolution, (0, 288, 288)
    (image_processing_sam3.py:924-925): the image's MaskSet still forms."""
    import torch

    from samcam.sam.sam3_family import results_to_maskset

    kept = {"masks": torch.ones((1, 6, 8), dtype=torch.long), "scores": torch.tensor([0.7]),
            "boxes": torch.tensor([[0.0, 0.0, 8.0, 6.0]])}
    nothing = {"masks": torch.zeros((0, 4, 4), dtype=torch.long), "scores": torch.zeros(0),
               "boxes": torch.zeros((0, 4))}
    masks = results_to_maskset([nothing, kept, nothing], [(3, "bird"), (8, "cat"), (9, "chair")],
                               np.array([0.1, 0.9, 0.2], np.float32), (6, 8))
    assert len(masks) == 1 and masks.scores["class_index"].tolist() == [8] and masks.dense.all()
    assert masks.scores["presence_score"].tolist() == [np.float32(0.9)]
    empty = results_to_maskset([nothing], [(3, "bird")], np.array([0.1], np.float32), (6, 8))
    assert len(empty) == 0 and empty.image_shape == (6, 8) and "class_index" in empty.scores
