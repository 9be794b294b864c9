"""A dataset's masks (samcam.sam.pipeline.compute_masks): the command's files, resume, shards,
bad images, batches and the writer thread, the prefetcher."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="fast mode needs torch ([sam] extra)")
pytest.importorskip("segment_anything", reason="fast mode needs segment-anything ([sam] extra)")

from PIL import Image  # noqa: E402
from sam_checks import CLI_SETTINGS, SETTINGS, SHAPES, assert_same_exact, assert_same_fast  # noqa: E402

from samcam import masks as mask_store  # noqa: E402
from samcam.cli import main  # noqa: E402
from samcam.sam import pipeline  # noqa: E402
from samcam.sam.fast import FastMaskGenerator  # noqa: E402
from samcam.sam.generate import official_masks  # noqa: E402
from samcam.sam.pipeline import _Prefetcher, parse_shard, select_shard, shard_from_env  # noqa: E402


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


def test_batches_bad_images_and_failed_writes(images, tmp_path, rel_pos_sam, monkeypatch):
    (images / "broken.png").write_bytes(b"not a png")
    names = ["img_a", "broken", "img_b", "img_c", "img_d"]
    recorder = _Recorder(rel_pos_sam)
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
    failing = _Recorder(rel_pos_sam, fail_batches=True)
    result = pipeline.compute_masks(images, tmp_path / "out2", ["img_a", "img_b", "img_d"], generator=failing)
    assert result.done == ["img_a", "img_b", "img_d"] and failing.batches == [2]


@pytest.mark.slow
def test_writer_keeps_files_whole_and_the_run_resumable(images, tmp_path, rel_pos_sam):
    names = list(SHAPES)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        pipeline.compute_masks(images, out, names, generator=_Recorder(rel_pos_sam, fail_batches=True, interrupt_at=3))
    written = sorted(p.name for p in out.iterdir() if p.name != "samcam.json")
    assert written == ["img_a.masks.npz", "img_b.masks.npz"]  # whole files only, no temp files left
    for name in written:
        assert len(mask_store.load(out / name)) > 0
    stamps = {name: (out / name).stat().st_mtime_ns for name in written}
    result = pipeline.compute_masks(images, out, names, generator=_Recorder(rel_pos_sam))  # the same mask source
    assert result.skipped == ["img_a", "img_b"] and result.done == ["img_c", "img_d"]
    assert all((out / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())
    for name in names:
        image = np.array(Image.open(images / f"{name}.png"))
        assert_same_fast(mask_store.load(out / f"{name}.masks.npz"), official_masks(rel_pos_sam, image, SETTINGS), name)


@pytest.mark.slow
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
        assert_same_exact(stored, official_masks(sam, image, SETTINGS), name)
        assert stored.image_shape == shape
        assert stored.scores["bbox"].shape == (len(stored), 4)
    assert "4 written" in capsys.readouterr().err


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
