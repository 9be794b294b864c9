"""`samcam masks` with a tiny random-weight SAM: same masks as segment-anything's own
generator, files readable, resumable, sharded, bad images reported and skipped."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="samcam masks needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="samcam masks needs segment-anything ([sam] extra)")

from PIL import Image  # noqa: E402
from tiny_sam import TINY, noise_image, write_test_images  # noqa: E402
from tiny_sam import tiny_sam as _tiny_sam  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.sam.agreement import agreement  # noqa: E402
from samcam.sam.generate import (  # noqa: E402
    MaskGenerator,
    SamSettings,
    infer_sam_config,
    load_sam,
    load_state_dict,
    official_masks,
)
from samcam.sam.pipeline import _Prefetcher, parse_shard, select_shard, shard_from_env  # noqa: E402

# Small grid. The random model's masks all reach the image borders, so any box NMS
# keeps one of them; box_nms_thresh 1.0 (IoU > 1 never happens) keeps them all, giving
# dozens of masks to compare. SAM's 0.7 is tested too.
CLI_SETTINGS = ["--points-per-side", "8", "--box-nms-thresh", "1.0", "--device", "cpu", "--no-progress"]
SETTINGS = SamSettings(points_per_side=8, box_nms_thresh=1.0)
SHAPES = {"img_a": (48, 60), "img_b": (40, 40), "img_c": (50, 36), "img_d": (30, 70)}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The tiny model's ops are far too small for intra-op threads: on the 2-core CI
    # machine they made these tests ~10x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    torch.save(_tiny_sam().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def sam(checkpoint):
    return load_sam(None, checkpoint, "cpu")


@pytest.fixture()
def images(tmp_path):
    return write_test_images(tmp_path / "images", SHAPES)


def _assert_same(actual: mask_store.MaskSet, expected: mask_store.MaskSet, where: str = ""):
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.dense, expected.dense), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key in expected.scores:
        if key == "predicted_iou":
            # The shared-image decoder projects the image tokens once instead of once per
            # prompt: a differently shaped matrix product, so float scores may differ in
            # the last bits; masks, boxes, areas and points stay identical.
            np.testing.assert_allclose(actual.scores[key], expected.scores[key], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{where} {key}")
        elif key == "stability_score":
            # A ratio of two pixel counts of the logits thresholded at +-1: a last-bit change of
            # one logit lying on such a threshold moves a count by one pixel (seen with torch
            # 2.14's CPU kernels when no filter drops such masks). Allow one pixel either count.
            one_pixel = 2.0 / np.maximum(expected.areas, 1)
            difference = np.abs(actual.scores[key] - expected.scores[key])
            assert (difference <= one_pixel + 1e-6).all(), f"{where} {key}: {difference.max()} > one pixel"
        else:
            np.testing.assert_array_equal(actual.scores[key], expected.scores[key], err_msg=f"{where} {key}")


# ----------------------------------------------------------------- model and weights

def test_config_is_read_back_from_shapes():
    config = infer_sam_config(_tiny_sam().state_dict())
    for key, value in TINY.items():
        assert config[key] == value, key
    assert config["model"] is None


@pytest.mark.parametrize("model", ["vit_b", "vit_l", "vit_h"])
def test_official_architectures_are_recognised(model):
    from segment_anything import sam_model_registry

    with torch.device("meta"):  # shapes only: no memory, no time
        state_dict = sam_model_registry[model]().state_dict()
    assert infer_sam_config(state_dict)["model"] == model


def test_weights_only_loading_refuses_pickled_objects(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"image_encoder.x": _Opaque()}, evil)
    with pytest.raises(ValueError, match="evil.pth.*weights_only"):
        load_state_dict(evil)
    not_sam = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2)}, not_sam)
    with pytest.raises(ValueError, match="not a SAM checkpoint"):
        load_state_dict(not_sam)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="garbage.pth"):
        load_state_dict(garbage)


class _Opaque:
    pass


def test_model_mismatch_is_reported(checkpoint):
    with pytest.raises(ValueError, match="not vit_b"):
        load_sam("vit_b", checkpoint, "cpu")


def test_wrapped_state_dict_is_unwrapped(tmp_path, sam):
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"model": sam.state_dict()}, wrapped)
    reloaded = load_sam(None, wrapped, "cpu")
    for key, value in sam.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


# --------------------------------------------------------- same masks as the official

@pytest.mark.parametrize("changes", [
    {},
    {"box_nms_thresh": 0.7},
    {"points_per_batch": 20},  # a last, partial batch
    {"crop_n_layers": 1},  # crops: per-crop NMS, uncropping, cross-crop NMS
    {"min_mask_region_area": 30},
    {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},  # filters off
])
def test_same_masks_as_segment_anything(sam, changes):
    settings = SamSettings(**{**SETTINGS.official_kwargs(), **changes})
    generator = MaskGenerator(sam, settings)
    pairs = []
    for seed, shape in enumerate([(48, 60), (37, 29)]):
        image = noise_image(shape, seed)
        expected = official_masks(sam, image, settings)
        actual = generator.generate(image)
        _assert_same(actual, expected, f"{changes} image {shape}")
        pairs.append((expected, actual))
    # The benchmark's agreement measure says the same: every official mask matched, no extra mask.
    scores = agreement(pairs)
    assert scores["reference_masks"] > 0, "the test model should keep some masks"
    assert scores["other_masks"] == scores["reference_masks"]
    assert scores["reference_matched_99"] == scores["other_matched_99"] == 1.0
    assert scores["identical_images"] == 2


def test_thresholds_really_filter(sam):
    image = noise_image((48, 60), 0)
    loose = MaskGenerator(sam, SamSettings(points_per_side=8, box_nms_thresh=1.0, pred_iou_thresh=0.0,
                                           stability_score_thresh=0.0)).generate(image)
    strict = MaskGenerator(sam, SETTINGS).generate(image)
    assert 0 < len(strict) < len(loose)
    assert strict.scores["predicted_iou"].min() > 0.88
    assert strict.scores["stability_score"].min() >= 0.95


@pytest.mark.parametrize("dtype", ["bfloat16", "tf32"])
def test_faster_dtypes_run_and_keep_the_format(sam, dtype):
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    result = MaskGenerator(sam, SETTINGS, dtype=dtype).generate(noise_image((48, 60), 0))
    assert result.image_shape == (48, 60)
    assert result.scores["predicted_iou"].dtype == np.float32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == flags  # restored
    if dtype == "tf32":  # no TF32 on a CPU: same masks as float32
        _assert_same(result, MaskGenerator(sam, SETTINGS).generate(noise_image((48, 60), 0)))


def test_bad_settings_and_images_are_refused(sam):
    with pytest.raises(ValueError, match="points-per-batch"):
        MaskGenerator(sam, SamSettings(points_per_batch=0))
    with pytest.raises(ValueError, match="dtype"):
        MaskGenerator(sam, SETTINGS, dtype="float16")
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        MaskGenerator(sam, SETTINGS).generate(np.zeros((8, 8), np.uint8))


# ------------------------------------------------------------------------ the command

def test_command_writes_official_masks(images, tmp_path, checkpoint, sam, capsys):
    out = tmp_path / "masks"
    code = main(["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint)] + CLI_SETTINGS)
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.masks.npz" for n in SHAPES] + ["samcam.json"])
    assert mask_store.names_in(out) == sorted(SHAPES)
    record = json.loads((out / "samcam.json").read_text())  # what made these masks
    assert record["settings"]["tool"] == "masks" and record["settings"]["mode"] == "exact"
    assert record["settings"]["dtype"] == "float32" and record["settings"]["model"] is None
    assert record["settings"]["checkpoint"] == {"file": checkpoint.name, "bytes": checkpoint.stat().st_size}
    assert record["runs"][0]["checkpoint"] == str(checkpoint.resolve())  # where it was, this run
    assert record["runs"][0]["images"] == str(images.resolve())
    assert record["settings"]["settings"] == {"points_per_side": 8, "box_nms_thresh": 1.0}  # as given
    assert "points_per_batch" not in record["settings"]["settings"]  # speed only: may change on resume
    assert record["runs"][0]["command"][:2] == ["samcam", "masks"] and record["runs"][0]["names"] == len(SHAPES)
    for name, shape in SHAPES.items():
        stored = mask_store.load(mask_store.find(out, name))
        image = np.array(Image.open(images / f"{name}.png"))
        _assert_same(stored, official_masks(sam, image, SETTINGS), name)
        assert stored.image_shape == shape
        assert stored.scores["bbox"].shape == (len(stored), 4)
    assert "4 written" in capsys.readouterr().err


def test_resume_skips_finished_and_redoes_missing(images, tmp_path, checkpoint, capsys):
    out = tmp_path / "masks"
    args = ["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint)] + CLI_SETTINGS
    assert main(args) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "samcam.json"}
    os.remove(out / "img_b.masks.npz")
    (out / "img_c.masks.npz.123.tmp").write_bytes(b"left by a killed run")  # ignored
    capsys.readouterr()
    assert main(args) == 0
    assert "1 written, 3 already done" in capsys.readouterr().err
    for name, stamp in stamps.items():
        if name != "img_b.masks.npz":
            assert (out / name).stat().st_mtime_ns == stamp, f"{name} was rewritten"
    assert len(json.loads((out / "samcam.json").read_text())["runs"]) == 2  # the resume is recorded
    assert mask_store.load(out / "img_b.masks.npz").image_shape == SHAPES["img_b"]
    assert main(args + ["--overwrite"]) == 0
    assert "4 written, 0 already done" in capsys.readouterr().err


def test_shards_split_the_names(images, tmp_path, checkpoint, capsys, monkeypatch):
    base = ["masks", "--images", str(images), "--checkpoint", str(checkpoint)] + CLI_SETTINGS
    written = []
    for index in range(3):
        out = tmp_path / f"shard{index}"
        assert main(base + ["--out", str(out), "--shard", f"{index}/3"]) == 0
        written.append(sorted(p.name for p in out.iterdir() if p.name != "samcam.json"))
        assert (out / "samcam.json").is_file()  # each shard's folder says what made it
    flat = [name for shard in written for name in shard]
    assert sorted(flat) == sorted(f"{n}.masks.npz" for n in SHAPES) and len(set(flat)) == len(flat)
    # torchrun's and SLURM's variables pick the same shard as --shard.
    for env in ({"RANK": "1", "WORLD_SIZE": "3"}, {"SLURM_PROCID": "1", "SLURM_NTASKS": "3"}):
        for key in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "LOCAL_RANK", "SLURM_LOCALID"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        out = tmp_path / f"env_{'_'.join(env)}"
        assert main(base + ["--out", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir() if p.name != "samcam.json") == written[1]
    capsys.readouterr()
    assert main(base + ["--out", str(tmp_path / "x"), "--shard", "3/3"]) == 2
    assert "0 <= I < N" in capsys.readouterr().err


def test_shard_helpers():
    names = [f"n{i}" for i in range(10)]
    shards = [select_shard(names, i, 4) for i in range(4)]
    assert sorted(sum(shards, [])) == sorted(names)
    assert {len(s) for s in shards} == {2, 3}
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)
    assert shard_from_env({}) is None
    assert shard_from_env({"RANK": "3", "WORLD_SIZE": "8", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}) == (3, 8)
    assert shard_from_env({"SLURM_PROCID": "5", "SLURM_NTASKS": "6"}) == (5, 6)


def test_corrupt_image_is_reported_and_skipped(images, tmp_path, checkpoint, capsys):
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    good = np.asarray(Image.open(images / "img_a.png"))
    Image.fromarray(good).save(images / "truncated.jpg")
    data = (images / "truncated.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(data[: len(data) // 2])
    out = tmp_path / "masks"
    code = main(["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint)] + CLI_SETTINGS)
    err = capsys.readouterr().err
    assert code == 1
    assert "broken" in err and "truncated" in err and "2 failed" in err
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.masks.npz" for n in SHAPES] + ["samcam.json"])


def test_list_file_and_missing_image(images, tmp_path, checkpoint, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("img_b\nimg_b\nnot_there\n")
    out = tmp_path / "masks"
    code = main(["masks", "--images", str(images), "--out", str(out), "--list", str(listing),
                 "--checkpoint", str(checkpoint)] + CLI_SETTINGS)
    err = capsys.readouterr().err
    assert code == 1 and "not_there" in err and "1 written" in err
    assert sorted(p.name for p in out.iterdir()) == ["img_b.masks.npz", "samcam.json"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error; this machine has a GPU")
def test_cuda_requested_without_gpu(images, tmp_path, checkpoint, capsys):
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "m"), "--checkpoint", str(checkpoint),
                 "--points-per-side", "8", "--device", "cuda", "--no-progress"])
    assert code == 2 and "CUDA is not available" in capsys.readouterr().err


def test_output_inside_images_is_refused(images, checkpoint, capsys):
    code = main(["masks", "--images", str(images), "--out", str(images / "masks"),
                 "--checkpoint", str(checkpoint)] + CLI_SETTINGS)
    assert code == 2 and "never writes" in capsys.readouterr().err


def test_proposals_source_same_format(images, tmp_path, capsys):
    from samcam.sam import proposals

    out = tmp_path / "proposals"
    assert main(["masks", "--images", str(images), "--out", str(out), "--source", "proposals", "--no-progress"]) == 0
    for name in SHAPES:
        stored = mask_store.load(out / f"{name}.masks.npz")
        expected = proposals.generate(np.array(Image.open(images / f"{name}.png")))
        assert np.array_equal(stored.dense, expected.dense), name


def test_prefetcher_order_errors_and_unforeseen_names():
    loaded = []

    def load(name):
        loaded.append(name)
        if name == "bad":
            raise ValueError("bad image")
        return name.upper()

    prefetcher = _Prefetcher(["a", "bad", "c", "d"], load, threads=2, depth=2)
    try:
        assert prefetcher.get("a") == "A"
        with pytest.raises(ValueError, match="bad image"):
            prefetcher.get("bad")
        assert prefetcher.get("zz") == "ZZ"  # never announced: loaded on the spot
        assert prefetcher.get("c") == "C" and prefetcher.get("d") == "D"
    finally:
        prefetcher.close()
    assert sorted(loaded) == ["a", "bad", "c", "d", "zz"]


def test_shared_image_decoder_matches_sams_decoder():
    """decode_shared_image == MaskDecoder.forward for SAM's real decoder size (256-d, 8 heads)."""
    import torch
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    from samcam.sam.generate import decode_shared_image

    torch.manual_seed(0)
    decoder = MaskDecoder(
        transformer_dim=256, transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        num_multimask_outputs=3, iou_head_depth=3, iou_head_hidden_dim=256,
    ).eval()
    prompts = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024),
                            mask_in_chans=16).eval()
    features = torch.randn(1, 256, 64, 64)
    coords = torch.rand(6, 1, 2) * 1024
    with torch.inference_mode():
        sparse, dense = prompts(points=(coords, torch.ones(6, 1, dtype=torch.int)), boxes=None, masks=None)
        for multimask in (True, False):
            expected = decoder(image_embeddings=features, image_pe=prompts.get_dense_pe(),
                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                               multimask_output=multimask)
            actual = decode_shared_image(decoder, features, prompts.get_dense_pe(), sparse, dense, multimask)
            for got, want in zip(actual, expected):
                assert got.shape == want.shape
                torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
            assert torch.equal(actual[0] > 0, expected[0] > 0)


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
