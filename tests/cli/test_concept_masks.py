"""``samcam masks --model sam3`` end to end on the tiny random-weight SAM 3 (tests/support/tiny_sam3.py):
stores whose masks carry class_index, resume, shards, samcam.json, the offline error, and
``samcam refine --rule concept`` / ``samcam.refine(..., rule="concept")`` on them."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from cam_files import write_irn
from PIL import Image
from sam3_concepts_data import irn_cls_labels

import samcam
from samcam.cli import main
from samcam.io import read_label_png, write_label_png
from samcam.sam.pipeline import compute_masks

H, W = 48, 64
# image -> its classes (the last one has none: an image of background only)
CLASSES = {"2007_000032": [15], "2007_000039": [12, 13], "2008_000123": [8, 15, 20], "2009_000001": []}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sam3data")
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    for name, classes in CLASSES.items():
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(root / "images" / f"{name}.png")
        label = np.zeros((H, W), np.uint8)
        for k, cls in enumerate(classes):
            label[4 + 12 * k: 14 + 12 * k, 6 + 10 * k: 30 + 10 * k] = cls
        label[-3:, :] = 255
        write_label_png(root / "labels" / f"{name}.png", label)
    return root


def masks_cli(*argv) -> int:
    return main(["masks", "--no-progress", "--device", "cpu", *map(str, argv)])


def _refused_before_any_work(cases, out, capsys) -> None:
    """Each (argv, message regex) of ``cases`` exits 2 with one line matching it; ``out`` is never made."""
    for argv, message in cases:
        capsys.readouterr()
        assert masks_cli(*argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err
    assert not out.exists(), "nothing is written before the checks pass"


@pytest.fixture(scope="module")
def stores(data, folder):  # noqa: F811
    out = data / "m"
    assert masks_cli("--images", data / "images", "--out", out, "--model", "sam3", "--checkpoint", folder,
                     "--concepts-from", data / "labels") == 0
    return out


def _check_store(masks, classes) -> None:
    """A SAM 3 store of an image of ``classes``: every mask tagged with one of them, SAM 3's scores."""
    assert "class_index" in masks.scores and masks.scores["class_index"].dtype == np.int64
    assert set(masks.scores["class_index"].tolist()) <= set(classes)
    assert masks.scores["predicted_iou"].dtype == np.float32 and (masks.scores["predicted_iou"] > 0.3).all()


@pytest.mark.slow
def test_masks_carry_the_images_classes_and_samcam_json_says_what_made_them(stores, folder):  # noqa: F811
    for name, classes in CLASSES.items():
        _check_store(samcam.masks.load(stores / f"{name}.masks.npz"), classes)
    assert sum(len(samcam.masks.load(stores / f"{n}.masks.npz")) for n in CLASSES) > 0, "the tiny model keeps some"
    assert len(samcam.masks.load(stores / "2009_000001.masks.npz")) == 0
    record = json.loads((stores / "samcam.json").read_text())
    settings = record["settings"]
    assert settings["model"] == "sam3" and settings["mode"] == "exact" and settings["dtype"] == "float32"
    assert settings["checkpoint"]["folder"] == folder.name
    assert settings["checkpoint"]["weights_bytes"] == (folder / "model.safetensors").stat().st_size
    assert len(settings["checkpoint"]["config_sha256"]) == 64
    assert settings["concepts"]["phrases"][16] == "potted plant"
    assert record["runs"][0]["concepts_from"].startswith("label folder ")


@pytest.mark.slow
def test_every_kind_of_source_gives_the_same_masks(data, stores, folder, tmp_path):  # noqa: F811
    """The same classes from IRN's cls_labels.npy and from an IRN CAM folder: the same prompts,
    the same stores (bit for bit)."""
    cls_labels = irn_cls_labels(tmp_path / "cls_labels.npy", {n: c for n, c in CLASSES.items()})
    cams = tmp_path / "cams"
    cams.mkdir()
    for name, classes in CLASSES.items():
        write_irn(cams / f"{name}.npy", np.asarray(classes, np.int64) - 1, np.ones((len(classes), H, W), np.float32))
    for source in (cls_labels, cams):
        out = tmp_path / f"m_{source.stem}"
        assert masks_cli("--images", data / "images", "--out", out, "--model", "sam3", "--checkpoint", folder,
                         "--concepts-from", source) == 0
        for name in CLASSES:
            ours, theirs = samcam.masks.load(out / f"{name}.masks.npz"), samcam.masks.load(stores / f"{name}.masks.npz")
            assert np.array_equal(ours.packed, theirs.packed)
            assert np.array_equal(ours.scores["class_index"], theirs.scores["class_index"])


@pytest.mark.slow
def test_resume_shards_and_a_change_of_settings(data, folder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "m"
    common = ["--images", data / "images", "--out", out, "--model", "sam3", "--checkpoint", folder,
              "--concepts-from", data / "labels"]
    assert masks_cli(*common, "--shard", "0/2") == 0
    assert len(list(out.glob("*.masks.npz"))) == 2
    assert masks_cli(*common, "--shard", "1/2") == 0
    assert len(list(out.glob("*.masks.npz"))) == 4
    capsys.readouterr()
    assert masks_cli(*common) == 0
    assert "0 written, 4 already done" in capsys.readouterr().err
    assert masks_cli(*common, "--sam3-threshold", "0.5") == 2
    assert "settings.threshold" in capsys.readouterr().err
    assert masks_cli(*common, "--sam3-threshold", "0.5", "--overwrite") == 0


def test_refine_with_the_concept_rule_from_the_cli_and_the_api(data, stores, tmp_path):
    out = tmp_path / "refined"
    assert main(["refine", "--labels", data / "labels", "--masks", stores, "--out", out, "--rule", "concept",
                 "--no-progress"]) == 0
    for name in CLASSES:
        label = read_label_png(data / "labels" / f"{name}.png")
        masks = samcam.masks.load(stores / f"{name}.masks.npz")
        expected = samcam.refine(label, masks, rule="concept")
        assert np.array_equal(read_label_png(out / f"{name}.png"), expected)
        assert set(np.unique(expected)) <= set(CLASSES[name]) | {0, 255}
    record = json.loads((out / "samcam.json").read_text())
    assert record["settings"]["refine"]["rule"] == "concept"
    assert record["masks"]["provenance"]["settings"]["model"] == "sam3"


def test_offline_and_usage_errors_before_any_work(data, folder, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("SAMCAM_CACHE", str(tmp_path / "cache"))
    images = tmp_path / "images"  # the module's images and one without a label (the module's folder stays as it is)
    shutil.copytree(data / "images", images)
    (images / "2010_000001.png").write_bytes((images / "2007_000032.png").read_bytes())
    (tmp_path / "list.txt").write_text("2010_000001\n")
    out = tmp_path / "m"
    base = ["--images", images, "--out", out, "--model", "sam3"]
    cases = [
        ((*base, "--concepts-from", data / "labels"), "no SAM 3 folder in the cache .* downloads are off.*hf download"),
        ((*base,), "--model sam3 needs --concepts-from"),
        ((*base, "--checkpoint", folder, "--concepts-from", data / "labels", "--points-per-side", "8"),
         "--points-per-side: not a setting of SAM 3"),
        ((*base, "--checkpoint", folder, "--concepts-from", data / "labels", "--sam3-threshold", "2"),
         "--sam3-threshold must be a number in \\[0, 1\\]"),
        ((*base, "--checkpoint", folder, "--concepts-from", data / "labels", "--fast"), "--fast is for SAM"),
        (("--images", images, "--out", out, "--model", "vit_b", "--concepts-from", data / "labels"),
         "--concepts-from: for SAM 3 \\(--model sam3\\)"),
        ((*base, "--checkpoint", folder, "--concepts-from", images),
         "--concepts-from .*expected label PNGs .* found 5 PNG images \\(colour\\)"),
        ((*base, "--checkpoint", folder, "--concepts-from", data / "labels", "--list", tmp_path / "list.txt"),
         "--concepts-from .*none of the 1 image\\(s\\) of --list .* \\(2010_000001\\) has its file here"),
    ]
    _refused_before_any_work(cases, out, capsys)


def test_an_image_without_classes_in_the_source_fails_alone(data, folder, tmp_path, capsys):  # noqa: F811
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in list(CLASSES)[:3]:
        (labels / f"{name}.png").write_bytes((data / "labels" / f"{name}.png").read_bytes())
    assert masks_cli("--images", data / "images", "--out", tmp_path / "m", "--model", "sam3", "--checkpoint", folder,
                     "--concepts-from", labels) == 1
    err = capsys.readouterr().err
    assert "3 written" in err and "2009_000001.png: label PNG does not exist" in err


def test_the_library_checks_that_concepts_go_with_sam3(data, tmp_path):
    with pytest.raises(ValueError, match="SAM 3 is prompted with each image's classes: pass concepts="):
        compute_masks(data / "images", tmp_path / "a", ["2007_000032"], model="sam3")
    with pytest.raises(ValueError, match="concepts .* are for SAM 3"):
        compute_masks(data / "images", tmp_path / "b", ["2007_000032"], model="vit_b", concepts=lambda name: ())


def test_compute_masks_takes_a_function_of_concepts(data, folder, tmp_path):  # noqa: F811
    result = compute_masks(data / "images", tmp_path / "m", ["2007_000032"], model="sam3", checkpoint=folder,
                           device="cpu", concepts=lambda name: [(15, "person"), (3, "bird")])
    assert result.done == ["2007_000032"]
    masks = samcam.masks.load(tmp_path / "m" / "2007_000032.masks.npz")
    assert set(masks.scores["class_index"].tolist()) <= {3, 15}


# ------------------------------------------------- SAM 3's everything masks (--sam3-everything)

KEEP_ALL = ("--points-per-side", "4", "--pred-iou-thresh", "0", "--stability-score-thresh", "0",
            "--box-nms-thresh", "1")


@pytest.mark.slow
def test_everything_masks_alone_and_after_the_concept_masks(data, video_folder, tmp_path, capsys):
    """--sam3-everything alone: class-agnostic stores (the samcam rule runs on them); with
    --concepts-from: the concept masks, then the same everything masks untagged (the concept
    rule runs on them); samcam.json records the settings, and a resume with others is refused."""
    listed = tmp_path / "list.txt"  # the images of CLASSES
    listed.write_text("\n".join(CLASSES) + "\n")
    common = ("--images", data / "images", "--list", listed, "--model", "sam3", "--checkpoint", video_folder,
              "--sam3-everything", *KEEP_ALL)
    alone, both = tmp_path / "alone", tmp_path / "both"
    assert masks_cli(*common, "--out", alone) == 0
    assert masks_cli(*common, "--out", both, "--concepts-from", data / "labels") == 0
    for name, classes in CLASSES.items():
        untagged = samcam.masks.load(alone / f"{name}.masks.npz")
        assert len(untagged) == 3 * 4 * 4 and "class_index" not in untagged.scores
        mixed = samcam.masks.load(both / f"{name}.masks.npz")
        tags = mixed.scores["class_index"]
        tagged = int((tags > 0).sum())
        assert tags[tagged:].tolist() == [0] * len(untagged) and set(tags[:tagged].tolist()) <= set(classes)
        assert np.array_equal(mixed.dense[tagged:], untagged.dense)
        np.testing.assert_array_equal(mixed.scores["predicted_iou"][tagged:], untagged.scores["predicted_iou"])
    record = json.loads((alone / "samcam.json").read_text())["settings"]
    assert record["settings"] == {"everything": True, "points_per_side": 4, "pred_iou_thresh": 0.0,
                                  "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}
    assert "concepts" not in record and "concepts" in json.loads((both / "samcam.json").read_text())["settings"]
    for masks, rule in ((alone, "samcam"), (alone, "official"), (both, "concept")):
        out = tmp_path / f"refined_{masks.name}_{rule}"
        assert main(["refine", "--labels", data / "labels", "--masks", masks, "--out", out, "--rule", rule,
                     "--list", listed, "--no-progress"]) == 0
        for name in CLASSES:
            label = read_label_png(data / "labels" / f"{name}.png")
            expected = samcam.refine(label, samcam.masks.load(masks / f"{name}.masks.npz"), rule=rule)
            assert np.array_equal(read_label_png(out / f"{name}.png"), expected)
    capsys.readouterr()
    assert masks_cli(*common, "--out", alone, "--points-per-side", "5") == 2
    assert "settings.points_per_side" in capsys.readouterr().err


def test_everything_flags_are_checked_before_any_work(data, folder, video_folder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "m"
    names = tmp_path / "names.txt"
    names.write_text("background\nperson\n")
    base = ("--images", data / "images", "--out", out, "--model", "sam3")
    cases = [
        ((*base, "--checkpoint", video_folder), "needs --concepts-from.*or --sam3-everything"),
        ((*base, "--checkpoint", video_folder, "--concepts-from", data / "labels", "--points-per-side", "4"),
         "--points-per-side: not a setting of SAM 3 .*with --sam3-everything: --points-per-side, --points-per-batch"),
        ((*base, "--checkpoint", video_folder, "--sam3-everything", "--crop-n-layers", "1"),
         "--crop-n-layers: not a setting of SAM 3"),
        ((*base, "--checkpoint", folder, "--sam3-everything"), "need its tracker.*type 'sam3'.*sam3_video"),
        ((*base, "--checkpoint", video_folder, "--sam3-everything", "--class-names", names),
         "--class-names: for SAM 3's concept masks, which need --concepts-from"),
        ((*base, "--checkpoint", video_folder, "--sam3-everything", "--pred-iou-thresh", "1.5"),
         "--pred-iou-thresh"),
        (("--images", data / "images", "--out", out, "--model", "vit_b", "--sam3-everything"),
         "--sam3-everything: for SAM 3 \\(--model sam3\\)"),
    ]
    _refused_before_any_work(cases, out, capsys)

