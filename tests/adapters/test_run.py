"""The adapt job (samcam.adapters.run: AdaptJob, adapt_dir, adapt_one): every method refined like
its own label then samcam.refine, settings checked when built, plan/run, resume, workers,
per-image failures, --source png."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from cam_files import OWN_THRESHOLD, VOC_NAMES, H, W, adapt, build_dataset, make_scene, own_label, read_png
from PIL import Image

import samcam
from samcam import masks as samcam_masks
from samcam.adapters.checks import JobError
from samcam.adapters.run import AdaptJob, adapt_dir, adapt_one
from samcam.cli.adapt import FLAGS
from samcam.settings import SettingsError


def test_settings_are_checked_when_the_job_is_built(tmp_path):
    base = dict(method="irn", cams_dir=tmp_path, masks_dir=tmp_path, out_dir=tmp_path / "o")
    for changes, match in (({"threshold": math.nan}, "threshold must be a finite number"),
                           ({"workers": 0}, "workers must be >= 1"),
                           ({"mask_order": "random"}, "mask_order must be one of"),
                           ({"out_dir": None}, "out_dir must be set"),
                           ({"cams_dir": 5}, "cams_dir must be a path")):
        with pytest.raises(SettingsError, match=match):
            AdaptJob(**{**base, **changes})
    with pytest.raises(ValueError, match="did you mean"):
        AdaptJob(**{**base, "method": "irm"})
    job = AdaptJob(**{**base, "method": "IRN", "refine_params": {"rule": "official"}})
    assert job.method == "irn" and job.source == "cam" and job.rule_params == {"rule": "official", "num_classes": 21}


# (settings, parameter named first, what the command line says instead)
MISTAKES = [
    ({"labels_dir": "L", "threshold": 0.2}, "threshold applies to CAMs (source cam)",
     "--threshold applies to CAMs (--source cam)"),
    ({"labels_dir": "L", "layout": "cam"}, "layout applies to CAMs (source cam)", "--layout applies to CAMs"),
    ({"labels_dir": "L", "use_scores": True}, "use_scores needs CAMs (source cam)", "--use-scores needs CAMs"),
    ({"cams_dir": "C", "use_scores": True, "refine_params": {"rule": "official"}}, "use_scores is for rules",
     "drop --use-scores"),
    ({"cams_dir": "C", "palette": True}, "palette is for methods", "--palette is for methods"),
    ({"cams_dir": "C", "layout": "crf"}, "layout is 'crf', but IRN", "--layout is 'crf'"),
    ({"source": "cam"}, "source cam needs cams_dir", "--source cam needs --cams"),
    ({"source": "png"}, "source png needs labels_dir", "--source png needs --labels"),
    ({"cams_dir": "C", "labels_dir": "L"}, "labels_dir is read only with source png",
     "--labels is read only with --source png"),
    ({"cams_dir": "C", "labels_dir": "L", "source": "png"}, "cams_dir is read only with source cam",
     "--cams is read only with --source cam"),
    ({"cams_dir": "missing"}, "masks_dir ", "--masks "),
]


@pytest.mark.parametrize("settings,library,command_line", MISTAKES)
def test_errors_name_parameters_and_the_command_line_shows_flags(tmp_path, settings, library, command_line):
    folders = {key: tmp_path / value for key, value in settings.items() if key.endswith("_dir")}
    for folder in folders.values():
        folder.mkdir(exist_ok=True)
    masks = tmp_path / ("absent" if settings.get("cams_dir") == "missing" else "M")
    if masks.name == "M":
        masks.mkdir()
    job = AdaptJob(method="irn", masks_dir=masks, out_dir=tmp_path / "out", **{**settings, **folders})
    with pytest.raises(JobError) as caught:
        job.validate()
    assert str(caught.value).startswith(library) and "--" not in str(caught.value).split(":")[0]
    assert command_line in caught.value.worded(FLAGS)
    assert not (tmp_path / "out").exists()


def test_plan_says_what_run_would_do_and_writes_nothing(tmp_path):
    cams, masks, _ = build_dataset(tmp_path, "toco")
    out = tmp_path / "out"
    names = sorted(p.stem for p in cams.glob("*.npy"))
    job = AdaptJob(method="toco", cams_dir=cams, masks_dir=masks, out_dir=out)
    plan = job.plan()
    assert plan.names == tuple(names) and plan.pending == tuple(names) and not out.exists()
    assert plan.outputs() == [out / f"{name}.png" for name in names]
    assert plan.record["method"] == "toco" and plan.record["method_thresholds"] == [0.5]
    assert "3 image(s)" in plan.describe() and "3 to write, 0 already done" in plan.describe()
    result = job.run(plan)
    assert result.ok and result.done == names and (out / "samcam.json").exists()
    assert job.plan().pending == () and job.replace(overwrite=True).plan().pending == tuple(names)


def test_adapt_dir_and_adapt_one_keep_their_keyword_api(tmp_path):
    cams, masks, scenes = build_dataset(tmp_path, "toco")
    result = adapt_dir("toco", masks, tmp_path / "a", cams_dir=cams, names=list(scenes)[:2],
                       refine_params={"rule": "official"}, threshold=0.3)
    assert result.done == list(scenes)[:2]
    name = list(scenes)[2]
    written = adapt_one(name, method="toco", out_dir=str(tmp_path / "b"), masks_dir=str(masks), cams_dir=str(cams),
                        threshold=0.3, refine_params={"rule": "official"})
    keys, high_res, scene_masks = scenes[name]
    expected = samcam.refine(own_label("toco", keys, high_res, 0.3), scene_masks, rule="official")
    np.testing.assert_array_equal(read_png(written)[1], expected)
    with pytest.raises(JobError, match="labels_dir is read only"):
        adapt_dir("toco", masks, tmp_path / "c", cams_dir=cams, labels_dir=cams)


# (method, fixture, extra flags, own threshold)
METHOD_FIXTURES = [
    ("irn", "irn", (), OWN_THRESHOLD["irn"]),
    ("amn", "amn", (), OWN_THRESHOLD["amn"]),
    ("clims", "clims", (), OWN_THRESHOLD["clims"]),
    ("clims", "clims_rw", (), OWN_THRESHOLD["clims_rw"]),
    ("clims", "clims_previous", ("--threshold", "0.3"), 0.3),  # evaluate.py has no default: given
    ("mctformer", "mctformer", (), OWN_THRESHOLD["mctformer"]),
    ("mctformer", "mctformer_crf", ("--layout", "crf"), None),
    ("toco", "toco", (), OWN_THRESHOLD["toco"]),
    ("clip-es", "clip_es", (), OWN_THRESHOLD["clip-es"]),
    ("clip-es", "clip_es", ("--threshold", "1"), 1.0),  # eval_cam_with_crf.py:111's exponent
    ("clip-es", "clip_es", ("--threshold", "0.3"), 0.3),  # t < 1: a constant plane
    ("transcam", "transcam", (), OWN_THRESHOLD["transcam"]),
]


@pytest.mark.parametrize("method,fixture,flags,threshold", METHOD_FIXTURES)
@pytest.mark.parametrize("rule", ["samcam", "official"])
def test_cli_refines_each_method_like_its_own_label_then_refine(tmp_path, capsys, method, fixture, flags, threshold,
                                                                rule):
    cams, mask_dir, scenes = build_dataset(tmp_path, fixture)
    out = tmp_path / "out"
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", out, "--rule", rule, *flags) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted([f"{name}.png" for name in VOC_NAMES] + ["samcam.json"])
    changed = 0
    for name, (keys, high_res, masks) in scenes.items():
        mode, written = read_png(out / f"{name}.png")
        assert mode == "L"  # IRN/AMN/CLIMS/ToCo read with imageio; L is the default for all
        assert written.dtype == np.uint8 and written.shape == (H, W)
        assert set(np.unique(written)) <= {0, 255} | set((keys + 1).tolist())
        pseudo = own_label(fixture, keys, high_res, threshold)
        assert set(np.unique(pseudo)) - {0}, "fixture should have foreground"
        expected = samcam.refine(pseudo, masks, rule=rule)
        np.testing.assert_array_equal(written, expected)
        changed += int(not np.array_equal(expected, pseudo))
    assert changed, "the masks should change some pseudo labels, or this test proves little"
    captured = capsys.readouterr()
    assert "3 written" in captured.err
    assert str(out) in captured.out  # the continuation names the folder


def test_threshold_flag_overrides_the_methods_own(tmp_path):
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out,
                 "--threshold", "0.6", "--rule", "official") == 0
    keys, high_res, masks = scenes[VOC_NAMES[0]]
    expected = samcam.refine(own_label("irn", keys, high_res, 0.6), masks, rule="official")
    assert not np.array_equal(own_label("irn", keys, high_res, 0.6), own_label("irn", keys, high_res, 0.15))
    np.testing.assert_array_equal(read_png(out / f"{VOC_NAMES[0]}.png")[1], expected)


@pytest.mark.parametrize("method", ["irn", "amn", "clims", "toco"])
def test_palette_refused_for_imageio_readers(tmp_path, capsys, method):
    cams, mask_dir, _ = build_dataset(tmp_path, method, names=VOC_NAMES[:1])
    assert adapt("--method", method, "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o", "--palette") == 2
    assert "imageio" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_size_mismatch_is_reported_and_others_finish(tmp_path, capsys):
    cams, mask_dir, scenes = build_dataset(tmp_path, "irn")
    bad = VOC_NAMES[1]
    samcam_masks.write(mask_dir / bad, np.zeros((2, H + 3, W), bool))
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(set(VOC_NAMES) - {bad})
    err = capsys.readouterr().err
    assert "1 failed" in err and bad in err and f"{H}×{W}" in err and f"{H + 3}×{W}" in err


def test_names_without_masks_are_reported_not_dropped(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "toco")
    missing = VOC_NAMES[2]
    os.remove(mask_dir / f"{missing}.masks.npz")
    out = tmp_path / "out"
    assert adapt("--method", "toco", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    err = capsys.readouterr().err
    assert "2 written" in err and "1 failed" in err and f"no masks for '{missing}'" in err


def test_list_with_a_name_without_cam_is_reported(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:2])
    listing = tmp_path / "train.txt"
    listing.write_text(f"{VOC_NAMES[0]}\n\n{VOC_NAMES[1]}\n2099_999999\n")
    samcam_masks.write(mask_dir / "2099_999999", np.zeros((1, H, W), bool))
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out, "--list", listing) == 1
    err = capsys.readouterr().err
    assert "2099_999999" in err and "CAM file does not exist" in err
    assert sorted(p.stem for p in out.glob("*.png")) == VOC_NAMES[:2]


def test_resume_skips_and_overwrite_redoes(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "amn")
    out = tmp_path / "out"
    argv = ["--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", out]
    assert adapt(*argv) == 0
    target = out / f"{VOC_NAMES[0]}.png"
    before = target.read_bytes()
    target.write_bytes(b"sentinel")  # a skipped file is left as it is
    capsys.readouterr()
    assert adapt(*argv) == 0
    assert "0 written, 3 already done" in capsys.readouterr().err
    assert target.read_bytes() == b"sentinel"
    assert adapt(*argv, "--overwrite") == 0
    assert "3 written" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_source_png_keeps_ignore_as_the_rule_says(tmp_path, capsys):
    labels, mask_dir = tmp_path / "sem_seg_in", tmp_path / "masks"
    labels.mkdir(), mask_dir.mkdir()
    expected = {}
    for seed, name in enumerate(VOC_NAMES):
        keys, high_res, masks = make_scene(seed)
        pseudo = own_label("irn", keys, high_res, 0.3)
        pseudo[-4:, -4:] = 255  # unsure corner (as ir_label / CRF outputs have)
        Image.fromarray(pseudo, mode="L").save(labels / f"{name}.png")
        # only object masks: the corner is covered by no mask, so "keep" keeps 255 there
        samcam_masks.write(mask_dir / name, masks[:2])
        expected[name] = pseudo, masks[:2]
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--source", "png", "--labels", labels, "--masks", mask_dir, "--out", out) == 0
    for name, (pseudo, masks) in expected.items():
        written = read_png(out / f"{name}.png")[1]
        assert (written[-4:, -4:] == 255).all()
        np.testing.assert_array_equal(written, samcam.refine(pseudo, masks))
    out_official = tmp_path / "official"
    assert adapt("--method", "irn", "--source", "png", "--labels", labels, "--masks", mask_dir,
                 "--out", out_official, "--rule", "official") == 0
    for name, (pseudo, masks) in expected.items():
        written = read_png(out_official / f"{name}.png")[1]
        assert 255 not in written  # the reference rule turns ignore into background
        np.testing.assert_array_equal(written, samcam.refine(pseudo, masks, rule="official"))


def test_source_png_reads_palette_pngs_and_amg_mask_folders(tmp_path):
    """MCTformer's PSA writes VOC-palette PNGs; SAM's amg.py writes one folder of PNGs per image."""
    labels, mask_dir = tmp_path / "out_rw", tmp_path / "sam"
    labels.mkdir(), mask_dir.mkdir()
    keys, high_res, masks = make_scene(3)
    pseudo = own_label("mctformer", keys, high_res, 0.39)
    image = Image.fromarray(pseudo, mode="P")
    image.putpalette(samcam.io.voc_palette())
    image.save(labels / "2007_000032.png")
    folder = mask_dir / "2007_000032"
    folder.mkdir()
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"{index}.png")
    out = tmp_path / "refined"
    assert adapt("--method", "mctformer", "--source", "png", "--labels", labels, "--masks", mask_dir,
                 "--out", out, "--palette") == 0
    np.testing.assert_array_equal(read_png(out / "2007_000032.png")[1], samcam.refine(pseudo, masks))


def test_workers_give_the_same_result(tmp_path):
    cams, mask_dir, _ = build_dataset(tmp_path, "clims")
    assert adapt("--method", "clims", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "a") == 0
    assert adapt("--method", "clims", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "b", "--workers", "2") == 0
    for name in VOC_NAMES:
        assert (tmp_path / "a" / f"{name}.png").read_bytes() == (tmp_path / "b" / f"{name}.png").read_bytes()


def test_out_inside_an_input_folder_is_refused(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:1])
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", cams / "refined") == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert not (cams / "refined").exists()
    assert sorted(p.name for p in cams.iterdir()) == [f"{VOC_NAMES[0]}.npy"]


def test_malicious_cam_file_is_refused_in_the_batch(tmp_path, capsys):
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:2])
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.save(cams / f"{VOC_NAMES[0]}.npy", np.array({"keys": Payload()}, dtype=object), allow_pickle=True)
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", cams, "--masks", mask_dir, "--out", out) == 1
    err = capsys.readouterr().err
    assert "refused to load" in err and "open" in err and VOC_NAMES[0] in err
    assert not marker.exists()
    assert [p.stem for p in out.glob("*.png")] == [VOC_NAMES[1]]

