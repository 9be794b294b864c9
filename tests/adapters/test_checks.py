"""The checks an adapt job makes before writing (samcam.adapters.checks): the class count
against the data (label PNGs, COCO-named images, a sample of CAM files) and the method
against the first CAM file, so a wrong --num-classes or --method writes nothing."""
from __future__ import annotations

import numpy as np
import pytest
from cam_files import VOC_NAMES, WRITERS, adapt, build_dataset, make_scene, own_label, read_png

import samcam
from samcam import masks as samcam_masks
from samcam.adapters import checks
from samcam.adapters.checks import JobError, check_label_classes, sample_names
from samcam.adapters.run import AdaptJob
from samcam.io import write_label_png
from samcam.settings import SettingsError

VOC_LIKE = [f"2007_{i:06d}" for i in range(8)]


def label_dataset(tmp_path, names=VOC_LIKE, high=(), value=20):
    """labels/{name}.png (classes 0, 3 and 255; ``value`` in the names of ``high``) and their masks."""
    labels, masks = tmp_path / "labels", tmp_path / "masks"
    for seed, name in enumerate(names):
        _, high_res, scene_masks = make_scene(seed)
        label = np.zeros(high_res.shape[1:], np.uint8)
        label[5:12, 5:12] = value if name in high else 3
        label[0, :4] = 255
        write_label_png(labels / f"{name}.png", label)
        samcam_masks.write(masks / name, scene_masks)
    return labels, masks


def coco_cams(tmp_path, names, high_from: int):
    """ToCo COCO CAMs: images before ``high_from`` hold VOC-sized classes only, the others class 60."""
    cams, masks, scenes = build_dataset(tmp_path, "toco", names=names, num_classes=81)
    for index, name in enumerate(names):
        keys, high_res, _ = scenes[name]
        keys[:] = [1, 5] if index < high_from else [3, 60]
        WRITERS["toco"](cams / f"{name}.npy", keys, high_res)
    return cams, masks, scenes


def test_num_classes_below_the_labels_writes_nothing(tmp_path, capsys):
    """--num-classes 20 on VOC labels: it used to write 6 labels, then fail the 2 with class 20."""
    labels, masks = label_dataset(tmp_path, high=VOC_LIKE[-2:])
    out = tmp_path / "out"
    common = ("--method", "irn", "--source", "png", "--labels", labels, "--masks", masks, "--out", out)
    assert adapt(*common, "--num-classes", "20") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"{VOC_LIKE[-2]}.png holds class 20" in err[0] and "--num-classes 21" in err[0]
    assert "VOC 21, COCO 81" in err[0] and not out.exists()
    assert adapt(*common) == 0
    assert sorted(p.stem for p in out.glob("*.png")) == VOC_LIKE


def test_labels_for_coco_with_voc_settings_write_nothing(tmp_path, capsys):
    labels, masks = label_dataset(tmp_path, names=VOC_LIKE[:3], high=VOC_LIKE[2:], value=57)
    assert adapt("--method", "irn", "--source", "png", "--labels", labels, "--masks", masks,
                 "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "holds class 57" in err and "--num-classes 81" in err
    with pytest.raises(JobError, match=r"num_classes is 21, .* holds class 57.*pass num_classes 81"):
        AdaptJob(method="irn", labels_dir=labels, masks_dir=masks, out_dir=tmp_path / "out").validate()
    assert not (tmp_path / "out").exists()


def test_the_label_scan_looks_only_at_images_still_to_write(tmp_path):
    """A resume reads only the labels without output (the record vouches for the others)."""
    labels, masks = label_dataset(tmp_path, high=VOC_LIKE[:1])
    job = AdaptJob(method="irn", labels_dir=labels, masks_dir=masks, out_dir=tmp_path / "out", num_classes=20)
    with pytest.raises(JobError, match=VOC_LIKE[0]):
        job.validate()
    write_label_png(tmp_path / "out" / f"{VOC_LIKE[0]}.png", np.zeros((3, 3), np.uint8))
    assert job.validate() == VOC_LIKE
    with pytest.raises(JobError, match=VOC_LIKE[0]):
        job.replace(overwrite=True).validate()


@pytest.mark.slow
def test_the_label_scan_reports_the_first_file_in_order_and_skips_unreadable_ones(tmp_path):
    names = [f"n{i:03d}" for i in range(300)]
    for index, name in enumerate(names):
        write_label_png(tmp_path / f"{name}.png", np.full((2, 2), 30 if index in (150, 250) else 1, np.uint8))
    (tmp_path / "n100.png").write_bytes(b"not a png")  # the batch reports it; the scan goes on
    for threads in (1, 4):
        with pytest.raises(JobError, match=r"n150\.png holds class 30"):
            check_label_classes(tmp_path, names, 21, threads=threads)
    check_label_classes(tmp_path, names, 81)
    check_label_classes(tmp_path, names[:150], 21)
    write_label_png(tmp_path / "n000.png", np.full((2, 2), 200, np.uint8))
    with pytest.raises(JobError, match=r"pass num_classes 201"):
        check_label_classes(tmp_path, names, 21)


@pytest.mark.parametrize("value", ["0", "300"])
def test_num_classes_out_of_range_is_one_usage_error(tmp_path, capsys, value):
    labels, masks = label_dataset(tmp_path, names=VOC_LIKE[:2])
    out = tmp_path / "out"
    argv = ("--method", "irn", "--source", "png", "--labels", labels, "--masks", masks, "--out", out,
            "--num-classes", value)
    with pytest.raises(SystemExit) as stopped:  # refused by the flag's type (2..255): one usage line
        adapt(*argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--num-classes" in err[0] and not out.exists()
    with pytest.raises(SettingsError, match=r"num_classes must lie in \[2, 255\]"):
        AdaptJob(method="irn", labels_dir=labels, masks_dir=masks, out_dir=out, num_classes=int(value))


def test_coco_cams_with_voc_settings_write_nothing(tmp_path, capsys):
    """A COCO folder without --num-classes 81 used to write the images whose classes are all
    below 20 with ToCo's VOC threshold (0.5, not its COCO 0.4), then fail the rest."""
    names = [f"COCO_train2014_{i:012d}" for i in range(6)]
    cams, masks, scenes = coco_cams(tmp_path, names, high_from=3)
    out = tmp_path / "out"
    assert adapt("--method", "toco", "--cams", cams, "--masks", masks, "--out", out) == 2
    err = capsys.readouterr().err
    assert "named like COCO's" in err and "--num-classes 81" in err and not out.exists()
    assert adapt("--method", "toco", "--cams", cams, "--masks", masks, "--out", out, "--num-classes", "81") == 0
    keys, high_res, scene_masks = scenes[names[0]]
    expected = samcam.refine(own_label("toco", keys, high_res, 0.4, num_classes=81), scene_masks, num_classes=81)
    np.testing.assert_array_equal(read_png(out / f"{names[0]}.png")[1], expected)


@pytest.mark.slow
def test_renamed_coco_cams_are_caught_by_their_classes(tmp_path, capsys):
    """Names that do not say COCO: a sample of the files (the first 16 and 16 spread over the
    rest) shows a class beyond 20, although the first 50 files hold VOC-sized classes only."""
    names = [f"img{i:03d}" for i in range(100)]
    cams, masks, _ = coco_cams(tmp_path, names, high_from=50)
    out = tmp_path / "out"
    assert adapt("--method", "toco", "--cams", cams, "--masks", masks, "--out", out) == 2
    err = capsys.readouterr().err
    assert "holds class key 60 (label 61)" in err and "look like COCO CAMs" in err and "--num-classes 81" in err
    assert not out.exists()
    sample = sample_names(names)
    assert len(sample) == 32 and sample[:16] == names[:16] and sample[-1] == names[-1]
    assert sample == sorted(set(sample)) and sample_names(names[:20]) == names[:20]


def test_an_explicit_threshold_lets_coco_named_21_class_cams_run(tmp_path, capsys):
    """COCO images with VOC-sized labels may be meant: with --threshold the threshold is the
    user's, not the method's VOC one; a class beyond 20 is still refused."""
    names = [f"COCO_val2014_{i:012d}" for i in range(3)]
    cams, masks, _ = coco_cams(tmp_path, names, high_from=3)
    assert adapt("--method", "toco", "--cams", cams, "--masks", masks, "--out", tmp_path / "a",
                 "--threshold", "0.5") == 0
    (tmp_path / "b").mkdir()
    cams, masks, _ = coco_cams(tmp_path / "b", names, high_from=2)
    assert adapt("--method", "toco", "--cams", cams, "--masks", masks, "--out", tmp_path / "b" / "out",
                 "--threshold", "0.5") == 2
    assert "holds class key 60" in capsys.readouterr().err and not (tmp_path / "b" / "out").exists()


def test_coco_names():
    assert checks.looks_like_coco("COCO_train2014_000000000009")
    assert checks.looks_like_coco("COCO_val2014_000000057870") and checks.looks_like_coco("000000057870")
    assert not checks.looks_like_coco("2007_000032") and not checks.looks_like_coco("COCO_train2014_123")
    checks.check_coco_names(["000000057870"], 81, None)  # COCO settings
    checks.check_coco_names(["000000057870"], 21, 0.3)  # the user's threshold
    with pytest.raises(JobError, match="1 of the 2 images are named like COCO's"):
        checks.check_coco_names(["2007_000032", "000000057870"], 21, None)


def test_cam_files_no_method_reads_stop_before_any_image(tmp_path, capsys):
    (tmp_path / "cams").mkdir()
    for seed, name in enumerate(VOC_LIKE[:3]):
        np.save(tmp_path / "cams" / f"{name}.npy", {"scores": np.ones((2, 4, 4), np.float32)}, allow_pickle=True)
        samcam_masks.write(tmp_path / "masks" / name, make_scene(seed)[2])
    out = tmp_path / "out"
    assert adapt("--method", "irn", "--cams", tmp_path / "cams", "--masks", tmp_path / "masks", "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("samcam adapt: error: --method irn: ") and "not a IRN" in err
    assert "no installed method reads it (installed: " in err and "toco" in err and not out.exists()


def test_the_wrong_method_stops_before_any_image_and_names_the_right_one(tmp_path, capsys):
    """IRN files given to AMN (a background channel short) or MCTformer (another layout): every
    file fails the same way, so the method is wrong, not the files: exit 2, naming the methods
    that read them, instead of one identical failure per image."""
    cams, mask_dir, _ = build_dataset(tmp_path, "irn", names=VOC_NAMES[:3])
    assert adapt("--method", "amn", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert f"{VOC_NAMES[0]}.npy" in err and "channel 0 should be background" in err
    assert "use --method clims or irn" in err and "samcam adapt: error:" in err
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "not a MCTformer" in err and "use --method clims or irn" in err
    assert not (tmp_path / "o").exists()  # refused before samcam.json or any label


def test_a_file_of_no_layout_of_the_method_fails_per_image(tmp_path, capsys):
    """One IRN file among MCTformer's: that image fails, the others are written."""
    cams, mask_dir, _ = build_dataset(tmp_path, "mctformer", names=VOC_NAMES[:2])
    (tmp_path / "irn").mkdir()
    irn_cams, _, _ = build_dataset(tmp_path / "irn", "irn", names=VOC_NAMES[2:3])
    (irn_cams / f"{VOC_NAMES[2]}.npy").rename(cams / f"{VOC_NAMES[2]}.npy")
    (tmp_path / "irn" / "masks" / f"{VOC_NAMES[2]}.masks.npz").rename(mask_dir / f"{VOC_NAMES[2]}.masks.npz")
    assert adapt("--method", "mctformer", "--cams", cams, "--masks", mask_dir, "--out", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert f"{VOC_NAMES[2]}: " in err and "not a MCTformer" in err and "2 written" in err

