"""Fast mode (`samcam masks --fast`) and the dataset pipeline's batches and writer thread,
on the CPU with tiny random-weight SAMs: fused attention equals SAM's attention, the
batched encoder equals the per-image one, the device-side post-processing and the
whole fast path in float32 give the official generator's masks, bfloat16 runs, the
compiled graphs have no breaks, and the writer thread keeps files whole and resumable."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fast mode needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="fast mode needs segment-anything ([sam] extra)")

from PIL import Image  # noqa: E402
from tiny_sam import noise_image, tiny_sam, write_test_images  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.masks import MaskSet  # noqa: E402
from samcam.sam import pipeline  # noqa: E402
from samcam.sam.agreement import agreement, mask_ious  # noqa: E402
from samcam.sam.device_masks import MASK_FIELDS, pack_bits, to_host  # noqa: E402
from samcam.sam.fast import FastMaskGenerator  # noqa: E402
from samcam.sam.fast_encoder import SdpaEncoder, sdpa_attention  # noqa: E402
from samcam.sam.generate import SamSettings, build_sam, official_masks  # noqa: E402

SETTINGS = SamSettings(points_per_side=8, box_nms_thresh=1.0)  # box NMS off: dozens of masks to compare
SHAPES = {"img_a": (48, 60), "img_b": (40, 40), "img_c": (50, 36), "img_d": (30, 70)}


@pytest.fixture(autouse=True)
def _no_cli_log_handler():
    """The CLI logs to the stderr it found (here: pytest's capture, closed after the
    test); later library calls in this file must not write there."""
    import logging

    yield
    logger = logging.getLogger("samcam")
    for handler in list(logger.handlers):
        if getattr(handler, "_samcam_cli", False):
            logger.removeHandler(handler)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: intra-op threads only slow them down on 2 cores
    yield
    torch.set_num_threads(threads)


def _random_rel_pos(sam, seed=1):
    """SAM initialises its relative position tables to zero: make them count."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in sam.image_encoder.blocks:
            for table in (block.attn.rel_pos_h, block.attn.rel_pos_w):
                table.copy_(torch.randn(table.shape, generator=generator) * 0.5)
    return sam


@pytest.fixture(scope="module")
def sam():
    return _random_rel_pos(tiny_sam())


@pytest.fixture(scope="module")
def checkpoint(sam, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    torch.save(sam.state_dict(), path)
    return path


@pytest.fixture()
def images(tmp_path):
    return write_test_images(tmp_path / "images", SHAPES)


def _assert_same(actual: MaskSet, expected: MaskSet, where: str = ""):
    """Same masks bit for bit, in the same order, with the same boxes, areas, points and
    crops; float scores equal up to rounding."""
    assert actual.image_shape == expected.image_shape, where
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks vs {len(expected)}"
    assert np.array_equal(actual.packed, expected.packed), where
    assert sorted(actual.scores) == sorted(expected.scores), where
    for key, value in expected.scores.items():
        assert actual.scores[key].dtype == value.dtype, f"{where} {key}"
        if key == "predicted_iou":  # float rounding of differently shaped matrix products
            np.testing.assert_allclose(actual.scores[key], value, rtol=1e-5, atol=1e-6, err_msg=f"{where} {key}")
        elif key == "stability_score":
            # The stability score counts pixels whose logit exceeds ±1; the tiny model's
            # logits are scaled by 3000, so a rounding difference of the fused attention
            # or the batched encoder can move one pixel of ~1000 across: 1e-3.
            np.testing.assert_allclose(actual.scores[key], value, atol=2e-3, err_msg=f"{where} {key}")
        else:
            np.testing.assert_array_equal(actual.scores[key], value, err_msg=f"{where} {key}")


# --------------------------------------------------------------- fused attention

@pytest.mark.parametrize("grid,window", [(4, 0), (6, 4), (5, 2)])  # global, windowed with padding
def test_sdpa_attention_equals_sams_attention(grid, window):
    from segment_anything.modeling.image_encoder import Block

    torch.manual_seed(grid)
    block = Block(dim=32, num_heads=4, use_rel_pos=True, window_size=window, input_size=(grid, grid)).eval()
    with torch.no_grad():
        block.attn.rel_pos_h.normal_()
        block.attn.rel_pos_w.normal_()
    size = window or grid
    tokens = torch.randn(3, size, size, 32)
    from samcam.sam.fast_encoder import rel_pos_tables

    with torch.inference_mode():
        expected = block.attn(tokens)
        actual = sdpa_attention(block.attn, tokens, rel_pos_tables(block.attn, (size, size)))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_sdpa_encoder_equals_sams_encoder(sam):
    config = dict(image_size=128, patch_size=16, embed_dim=48, depth=3, num_heads=3, window_size=3,
                  global_attn_indexes=(1,))  # 8×8 tokens in 3×3 windows: padded windows too
    torch.manual_seed(0)
    network = _random_rel_pos(build_sam(config))
    pixels = torch.randn(2, 3, 128, 128)
    with torch.inference_mode():
        expected = network.image_encoder(pixels)
        actual = SdpaEncoder(network.image_encoder)(pixels)
        tiny_expected = sam.image_encoder(pixels[:, :, :64, :64])
        tiny_actual = SdpaEncoder(sam.image_encoder)(pixels[:, :, :64, :64])
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tiny_actual, tiny_expected, rtol=1e-5, atol=1e-5)
    assert (expected - network.image_encoder(pixels)).abs().max() == 0  # the encoder itself is untouched


def test_batched_encoder_equals_per_image_encoder(sam):
    generator = FastMaskGenerator(sam, SETTINGS, dtype="float32", images_per_batch=2)
    crops = [generator.prepare(noise_image(shape, seed)).crops[0][2] for seed, shape in enumerate(SHAPES.values())]
    with torch.inference_mode():
        batched = generator.encode(crops)  # batches of 2 and 2
        single = torch.cat([sam.image_encoder(sam.preprocess(torch.as_tensor(crop).permute(2, 0, 1)[None]))
                            for crop in crops])
    assert batched.shape == single.shape == (4, 32, 4, 4)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------- post-processing

def test_bits_are_packed_on_the_device_as_numpy_packs_them():
    rng = np.random.default_rng(0)
    for shape in [(5, 7, 9), (3, 8, 8), (0, 4, 5), (2, 1, 1)]:
        masks = rng.random(shape) > 0.5
        expected = np.packbits(masks.reshape(shape[0], shape[1] * shape[2]), axis=1)
        assert np.array_equal(pack_bits(torch.as_tensor(masks)).numpy(), expected), shape
    masks = torch.as_tensor(rng.random((4, 6, 7)) > 0.3)
    fields = {name: torch.arange(4) * (i + 1) for i, name in enumerate(MASK_FIELDS)}
    fields["predicted_iou"] = torch.tensor([0.9, 0.95, 0.123456789, 1.0], dtype=torch.float32)
    packed, values = to_host(masks, fields)
    assert np.array_equal(packed, np.packbits(masks.numpy().reshape(4, -1), axis=1))
    assert np.array_equal(values["predicted_iou"].astype(np.float32), fields["predicted_iou"].numpy())
    assert values["crop_index"].tolist() == [0, 9, 18, 27]


@pytest.mark.parametrize("changes", [
    {},
    {"box_nms_thresh": 0.7},
    {"points_per_batch": 20},  # a last, partial decoder batch
    {"crop_n_layers": 1},  # crops share encoder batches; per-crop and cross-crop NMS
    {"min_mask_region_area": 30},
    {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},  # filters off
])
def test_fast_path_in_float32_gives_the_official_masks(sam, changes):
    """The fast code path (batched fused-attention encoder, device-side filters, NMS and
    packing) in float32 keeps every official mask, in order, and nothing else."""
    settings = SamSettings(**{**SETTINGS.official_kwargs(), **changes})
    generator = FastMaskGenerator(sam, settings, dtype="float32", images_per_batch=3)
    images = [noise_image(shape, seed) for seed, shape in enumerate([(48, 60), (37, 29)])]
    results = generator.generate_batch([generator.prepare(image) for image in images])
    pairs = []
    for image, result in zip(images, results):
        expected = official_masks(sam, image, settings)
        _assert_same(result, expected, f"{changes} {image.shape}")
        pairs.append((expected, result))
    scores = agreement(pairs)
    assert scores["reference_masks"] > 0
    assert scores["reference_matched_99"] == scores["other_matched_99"] == 1.0


def test_an_image_without_masks(sam):
    # no logit reaches threshold + 1e9: every stability score is 0, below the 0.95 threshold
    settings = SamSettings(points_per_side=8, stability_score_offset=1e9)
    image = noise_image((48, 60), 0)
    result = FastMaskGenerator(sam, settings, dtype="float32").generate(image)
    assert len(official_masks(sam, image, settings)) == 0
    assert len(result) == 0 and result.image_shape == (48, 60) and result.scores["bbox"].shape == (0, 4)


def test_fast_float32_agreement_over_many_masks(sam):
    """The agreement the benchmark reports, on the CPU: fast mode in float32 against the
    official generator over hundreds of masks (filters off), above the issue's bar."""
    settings = SamSettings(points_per_side=8, box_nms_thresh=1.0, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    generator = FastMaskGenerator(sam, settings, dtype="float32", images_per_batch=2)
    images = [noise_image(shape, 10 + seed) for seed, shape in enumerate([(48, 60), (37, 29), (50, 50)])]
    results = generator.generate_batch([generator.prepare(image) for image in images])
    scores = agreement([(official_masks(sam, image, settings), result) for image, result in zip(images, results)])
    assert scores["reference_masks"] == scores["other_masks"] == 3 * 192
    assert scores["reference_matched_99"] >= 0.97 and scores["other_matched_99"] >= 0.97
    assert scores["reference_mean_iou"] > 0.999


def test_bfloat16_fast_mode_runs_on_the_cpu(sam):
    image = noise_image((48, 60), 0)
    result = FastMaskGenerator(sam, SETTINGS, dtype="bfloat16").generate(image)
    expected = official_masks(sam, image, SETTINGS)
    assert result.image_shape == (48, 60)
    assert {key: value.dtype for key, value in result.scores.items()} == \
        {key: value.dtype for key, value in expected.scores.items()}
    assert result.scores["predicted_iou"].min() > 0.88 and result.scores["stability_score"].min() >= 0.95
    assert np.array_equal(result.scores["area"], result.dense.sum(axis=(1, 2)))
    scores = agreement([(expected, result)])
    # bfloat16 rounds the network's outputs: most masks survive, nearly unchanged.
    assert scores["reference_matched_90"] >= 0.8 and scores["other_matched_90"] >= 0.8, scores


def test_compiled_graphs_have_no_breaks_and_give_the_same_masks(sam):
    """torch.compile with fixed shapes: one graph each for the encoder and the decoder,
    padded batches, same masks. (The aot_eager backend traces exactly as inductor does
    without generating code; inductor itself takes minutes to build on this CPU.)"""
    import torch._dynamo

    plain = FastMaskGenerator(sam, SETTINGS, dtype="float32", images_per_batch=3, compile=False)
    compiled = FastMaskGenerator(sam, SamSettings(**{**SETTINGS.official_kwargs(), "points_per_batch": 48}),
                                 dtype="float32", images_per_batch=3, compile=True, compile_backend="aot_eager")
    with torch.inference_mode():
        for function, args in ((plain._encode, (torch.zeros(3, 3, 64, 64),)),
                               (plain._decode_points, (torch.zeros(1, 32, 4, 4), torch.zeros(48, 2, dtype=torch.float64)))):
            explained = torch._dynamo.explain(function)(*args)
            assert (explained.graph_count, explained.graph_break_count) == (1, 0), explained.break_reasons
    images = [noise_image(shape, seed) for seed, shape in enumerate(SHAPES.values())]  # 4 images: batches of 3 and 1 (padded)
    expected = plain.generate_batch([plain.prepare(image) for image in images])
    actual = compiled.generate_batch([compiled.prepare(image) for image in images])
    for image, want, got in zip(images, expected, actual):
        _assert_same(got, want, str(image.shape))


def test_a_failing_compiler_falls_back_to_running_uncompiled(sam, caplog):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here (simulated)")

    generator = FastMaskGenerator(sam, SETTINGS, dtype="float32", compile=True, compile_backend=broken_backend)
    image = noise_image((48, 60), 0)
    with caplog.at_level("WARNING", logger="samcam"):
        result = generator.generate(image)
    assert not generator.compiled
    assert "torch.compile failed" in caplog.text and "simulated" in caplog.text
    _assert_same(result, official_masks(sam, image, SETTINGS))


def test_mobile_sam_fast_mode_gives_its_generators_masks():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("mobile_sam", reason="MobileSAM needs the [mobilesam] extra")
        from mobile_sam import SamAutomaticMaskGenerator
    import tiny_models

    from samcam.sam.generate import annotations_to_maskset

    network = tiny_models.tiny_mobile_sam()
    settings = SamSettings(points_per_side=3, box_nms_thresh=1.0)
    image = noise_image((48, 60), 0)
    official = SamAutomaticMaskGenerator(network, output_mode="binary_mask", **settings.official_kwargs())
    expected = annotations_to_maskset(official.generate(image), image.shape[:2])
    assert len(expected) > 0
    _assert_same(FastMaskGenerator(network, settings, dtype="float32").generate(image), expected, "mobile_sam")
    half = FastMaskGenerator(network, settings, dtype="bfloat16").generate(image)  # TinyViT in bfloat16 runs
    assert agreement([(expected, half)])["reference_matched_90"] >= 0.8


def test_agreement_counts_matches_both_ways():
    base = np.zeros((4, 10, 10), bool)
    base[0, :5] = True          # 50 px
    base[1, 5:] = True          # 50 px
    base[2, :, :2] = True       # 20 px
    base[3, 0, 0] = True        # 1 px
    other = base[[1, 0, 2]].copy()
    other[2, 0, 2] = True       # 21 px: IoU 20/21 with base[2]
    extra = np.zeros((1, 10, 10), bool)
    extra[0, 9, 9] = True
    other = np.concatenate([other, extra])
    reference, candidate = MaskSet.from_dense(base), MaskSet.from_dense(other)
    ious = mask_ious(reference, candidate)
    assert ious[0, 1] == 1.0 and ious[1, 0] == 1.0 and ious[2, 2] == pytest.approx(20 / 21)
    scores = agreement([(reference, candidate)])
    assert scores["reference_matched_90"] == 0.75 and scores["reference_matched_99"] == 0.5
    assert scores["other_matched_90"] == 0.75 and scores["other_matched_99"] == 0.5
    assert scores["reference_min_iou"] == pytest.approx(1 / 21) and scores["identical_images"] == 0
    assert agreement([(reference, reference)])["identical_images"] == 1


# ------------------------------------------------------------------ the command

def test_fast_command_writes_the_official_masks(images, tmp_path, checkpoint, sam, capsys):
    out = tmp_path / "masks"
    args = ["masks", "--images", str(images), "--out", str(out), "--checkpoint", str(checkpoint), "--fast",
            "--dtype", "float32", "--images-per-batch", "3", "--points-per-side", "8", "--box-nms-thresh", "1.0",
            "--device", "cpu", "--no-progress"]
    assert main(args) == 0, capsys.readouterr().err
    for name in SHAPES:
        image = np.array(Image.open(images / f"{name}.png"))
        _assert_same(mask_store.load(out / f"{name}.masks.npz"), official_masks(sam, image, SETTINGS), name)
    # resuming with the default fast dtype (bfloat16) would mix two dtypes' masks: refused
    (out / "img_c.masks.npz").unlink()
    capsys.readouterr()
    assert main([a for a in args if a not in ("--dtype", "float32")]) == 2
    err = capsys.readouterr().err
    assert "refusing to mix mask stores from two settings" in err and "dtype: 'float32' there, 'bfloat16' now" in err
    assert not (out / "img_c.masks.npz").exists()
    # the same settings resume, whatever the batch sizes
    assert main(args + ["--points-per-batch", "16", "--images-per-batch", "2"]) == 0
    assert "1 written, 3 already done" in capsys.readouterr().err
    assert mask_store.load(out / "img_c.masks.npz").image_shape == SHAPES["img_c"]
    # bfloat16 into a folder of its own
    assert main([a for a in args if a not in ("--dtype", "float32")] + ["--out", str(tmp_path / "bf16")]) == 0
    record = json.loads((tmp_path / "bf16" / "samcam.json").read_text())["settings"]
    assert record["mode"] == "fast" and record["dtype"] == "bfloat16"


@pytest.mark.parametrize("flags,message", [
    (["--images-per-batch", "2"], "go with --fast"),
    (["--no-compile"], "go with --fast"),
    (["--dtype", "float16"], "float16 only with --fast"),
    (["--fast", "--model", "sam2.1_hiera_tiny"], "--fast is for SAM"),
    (["--fast", "--model", "sam_hq_vit_b"], "--fast is for SAM"),
    (["--fast", "--source", "proposals"], "for --source sam"),
])
def test_fast_flags_are_checked_before_any_model_loads(images, tmp_path, flags, message, capsys):
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--no-download",
                 "--device", "cpu", "--no-progress"] + flags)
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------- batches and the writer

class _Recorder:
    """A mask source with batches that records what it was given and fails on demand."""

    def __init__(self, sam, fail_batches=False, interrupt_at=None):
        self.inner = FastMaskGenerator(sam, SETTINGS, dtype="float32", images_per_batch=2)
        self.images_per_batch = 2
        self.compiled = False
        self.device, self.dtype, self.description = self.inner.device, "float32", "recorder"
        self.batches, self.fail_batches, self.interrupt_at, self.count = [], fail_batches, interrupt_at, 0

    def prepare(self, image):
        return self.inner.prepare(image)

    def generate(self, prepared):
        self.count += 1
        if self.interrupt_at is not None and self.count == self.interrupt_at:
            raise KeyboardInterrupt
        return self.inner.generate(prepared)

    def generate_batch(self, prepared):
        self.batches.append(len(prepared))
        if self.fail_batches:
            raise RuntimeError("CUDA out of memory (simulated)")
        return self.inner.generate_batch(prepared)


def test_batches_bad_images_and_failed_writes(images, tmp_path, sam, monkeypatch):
    (images / "broken.png").write_bytes(b"not a png")
    names = ["img_a", "broken", "img_b", "img_c", "img_d"]
    recorder = _Recorder(sam)
    real_write = mask_store.write

    def write(path, masks):
        if "img_c" in str(path):
            raise ValueError("simulated write failure")
        return real_write(path, masks)

    monkeypatch.setattr(pipeline.mask_store, "write", write)
    result = pipeline.compute_masks(images, tmp_path / "out", names, generator=recorder)
    assert result.done == ["img_a", "img_b", "img_d"]
    assert [name for name, _ in result.failed] == ["broken", "img_c"]
    assert "simulated write failure" in dict(result.failed)["img_c"]
    # [img_a, broken]: one image left, no batch; [img_b, img_c] together; img_d alone
    assert recorder.batches == [2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == \
        [f"{n}.masks.npz" for n in ("img_a", "img_b", "img_d")] + ["samcam.json"]
    # a batch that fails (out of memory) is done again one image at a time
    failing = _Recorder(sam, fail_batches=True)
    result = pipeline.compute_masks(images, tmp_path / "out2", ["img_a", "img_b", "img_d"], generator=failing)
    assert result.done == ["img_a", "img_b", "img_d"] and failing.batches == [2]


def test_writer_keeps_files_whole_and_the_run_resumable(images, tmp_path, sam):
    names = list(SHAPES)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        pipeline.compute_masks(images, out, names, generator=_Recorder(sam, fail_batches=True, interrupt_at=3))
    written = sorted(p.name for p in out.iterdir() if p.name != "samcam.json")
    assert written == ["img_a.masks.npz", "img_b.masks.npz"]  # whole files only, no temp files left
    for name in written:
        assert len(mask_store.load(out / name)) > 0
    stamps = {name: (out / name).stat().st_mtime_ns for name in written}
    result = pipeline.compute_masks(images, out, names, generator=_Recorder(sam))  # the same mask source
    assert result.skipped == ["img_a", "img_b"] and result.done == ["img_c", "img_d"]
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    for name in names:
        image = np.array(Image.open(images / f"{name}.png"))
        _assert_same(mask_store.load(out / f"{name}.masks.npz"), official_masks(sam, image, SETTINGS), name)
