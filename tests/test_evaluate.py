"""Evaluation (samcam.evaluate): confusion matrices, dataset-level mIoU, absent classes,
per-image numbers, and the keyword-only API."""


import numpy as np
import pytest

from samcam.cli import main
from samcam.evaluate import confusion_matrix, evaluate_arrays, evaluate_dirs, format_table, metrics_from_confusion
from samcam.io import read_label_png, write_label_png


def test_confusion_matrix_by_hand():
    gt = np.array([[0, 0, 1], [1, 2, 255]], np.uint8)
    pred = np.array([[0, 1, 1], [255, 2, 0]], np.uint8)
    cm = confusion_matrix(gt=gt, pred=pred, num_classes=3)
    expected = np.zeros((3, 4), np.int64)
    expected[0, 0] = 1   # (0,0)
    expected[0, 1] = 1   # (0,1): bg predicted as 1
    expected[1, 1] = 1   # (0,2)
    expected[1, 3] = 1   # (1,0): class 1 left unlabelled by the prediction
    expected[2, 2] = 1   # (1,1); (1,2) is GT ignore
    assert np.array_equal(cm, expected)
    metrics = metrics_from_confusion(cm)
    # class 0: TP 1, GT 2, pred 1 -> 1/2; class 1: TP 1, GT 2 (one unlabelled), pred 2 -> 1/3; class 2: 1
    assert metrics["iou"] == pytest.approx([1 / 2, 1 / 3, 1.0])
    assert metrics["miou"] == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)
    assert metrics["precision"] == pytest.approx([1.0, 0.5, 1.0])
    assert metrics["recall"] == pytest.approx([0.5, 0.5, 1.0])
    assert metrics["labelled"] == pytest.approx(4 / 5)


def test_dataset_level_miou_is_not_a_mean_of_per_image_scores():
    gt_a = np.zeros((10, 10), np.uint8)
    gt_a[:, :5] = 1
    pred_a = gt_a.copy()                       # perfect on a big image
    gt_b = np.array([[1, 0]], np.uint8)
    pred_b = np.array([[0, 0]], np.uint8)      # class 1 missed on a tiny image
    result = evaluate_arrays(gts=[gt_a, gt_b], preds=[pred_a, pred_b], num_classes=2)
    # one matrix: class 0: TP 51, FP 1 -> 51/52; class 1: TP 50, FN 1 -> 50/51
    assert result["miou"] == pytest.approx((51 / 52 + 50 / 51) / 2)
    per_image_mean = (1.0 + (0.5 + 0.0) / 2) / 2
    assert abs(result["miou"] - per_image_mean) > 0.1


def test_absent_classes_are_nan_and_skipped_in_the_mean():
    gt = np.zeros((2, 2), np.uint8)
    metrics = evaluate_arrays(gts=[gt], preds=[gt], num_classes=21)
    assert metrics["miou"] == 1.0
    assert np.isnan(metrics["iou"][5])


def _restated_image_numbers(pred, gt, num_classes=3, ignore=255):
    """Per-image numbers from the arrays, independently of samcam's confusion matrices."""
    valid = gt != ignore
    if not valid.any():
        return float("nan"), float("nan"), float("nan"), []
    classes = sorted({int(v) for v in np.unique(gt[valid])} | {int(v) for v in np.unique(pred[valid]) if v != ignore})
    ious = [np.sum((gt == c) & (pred == c) & valid) / np.sum(((gt == c) | (pred == c)) & valid) for c in classes]
    return (float(np.mean(ious)), float(np.sum((pred == gt) & valid) / valid.sum()),
            float(np.sum((pred != ignore) & valid) / valid.sum()), classes)


def test_per_image_csv_cli_and_api(tmp_path, capsys):
    import csv

    from samcam.evaluate import PER_IMAGE_COLUMNS, image_metrics

    rng = np.random.default_rng(1)
    names = ["z9", "a1", "m5"]  # not sorted: rows follow the list
    arrays = {}
    for index, name in enumerate(names):
        gt = rng.integers(0, 2, (6, 7)).astype(np.uint8)
        gt[0] = 255
        before = np.where(rng.random((6, 7)) < 0.6, gt, 2).astype(np.uint8)  # invents class 2
        after = np.where(rng.random((6, 7)) < 0.9, gt, 255).astype(np.uint8)  # leaves pixels unlabelled
        if index == 2:
            gt[:] = 255  # all ignore: no valid pixel
        for folder, array in (("gt", gt), ("before", before), ("after", after)):
            write_label_png(tmp_path / folder / f"{name}.png", array)
        arrays[name] = (gt, {"cam": before, "refined": after})
    (tmp_path / "list.txt").write_text("\n".join(names))
    csv_path = tmp_path / "per_image.csv"
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", f"cam={tmp_path / 'before'}",
                 "--pred", f"refined={tmp_path / 'after'}", "--num-classes", "3", "--list", str(tmp_path / "list.txt"),
                 "--per-image", str(csv_path), "--no-progress", "--workers", "2"]) == 0
    assert "per-image numbers written" in capsys.readouterr().err
    with open(csv_path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == PER_IMAGE_COLUMNS
    assert [(row[0], row[1]) for row in rows[1:]] == [(n, s) for n in names for s in ("cam", "refined")]
    api = evaluate_dirs(tmp_path / "gt", {"cam": tmp_path / "before", "refined": tmp_path / "after"}, names,
                        num_classes=3, per_image=True)["per_image"]
    for row, from_api in zip(rows[1:], api):
        gt, preds = arrays[row[0]]
        miou, acc, labelled, classes = _restated_image_numbers(preds[row[1]], gt)
        written = [float(value) for value in row[2:5]]
        np.testing.assert_allclose(written, [miou, acc, labelled], rtol=1e-12)
        assert written == [from_api["miou"], from_api["pixel_acc"], from_api["labelled"]] or np.isnan(miou)
        assert row[5] == " ".join(map(str, classes)) and from_api["classes"] == classes
    cam_row = rows[1]
    assert "2" in cam_row[5].split()  # the invented class is present, and scores 0
    assert rows[5][2] == "nan" and rows[5][5] == ""  # the all-ignore image
    assert not list(tmp_path.glob("*.tmp"))  # written atomically
    # the same numbers for one array pair
    gt, preds = arrays["a1"]
    assert image_metrics(confusion_matrix(gt=gt, pred=preds["refined"], num_classes=3))["miou"] == float(rows[4][2])


def test_per_image_csv_names_a_file_name_that_is_not_utf8(tmp_path, capsys):
    """Before: exit 2 with "'utf-8' codec can't encode character '\\udcff'", naming no file."""
    import os

    odd = os.fsdecode(b"b\xff")  # what listing a folder gives for a name that is not UTF-8
    try:
        for folder in ("gt", "pred"):
            for name in ("a", odd):
                write_label_png(tmp_path / folder / f"{name}.png", np.zeros((3, 4), np.uint8))
    except (OSError, UnicodeError) as error:  # file systems that store names as Unicode (macOS) refuse it
        pytest.skip(f"this file system refuses a file name that is not UTF-8: {error}")
    csv_path = tmp_path / "rows.csv"
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--labels", str(tmp_path / "pred"), "--no-progress",
                 "--per-image", str(csv_path)]) == 0
    assert "per-image numbers written" in capsys.readouterr().err
    lines = csv_path.read_bytes().decode("utf-8").splitlines()  # valid UTF-8
    assert [line.split(",")[0] for line in lines] == ["name", "a", "b\\xff"]


def test_confusion_matrix_and_evaluate_arrays_take_gt_and_pred_by_keyword_only():
    gt = np.array([[0, 1, 1, 255]], np.uint8)
    pred = np.array([[0, 0, 255, 1]], np.uint8)
    with pytest.raises(TypeError):
        confusion_matrix(pred, gt)  # the order it used to take: now refused
    with pytest.raises(TypeError):
        evaluate_arrays([pred], [gt])
    cm = confusion_matrix(gt=gt, pred=pred, num_classes=2)
    # GT 255 skipped; the prediction's 255 on GT class 1 is a miss (last column)
    assert cm.tolist() == [[1, 0, 0], [1, 0, 1]]
    swapped = confusion_matrix(gt=pred, pred=gt, num_classes=2)
    assert swapped.tolist() != cm.tolist()  # why the order must be explicit
    assert evaluate_arrays(gts=[gt], preds=[pred], num_classes=2)["confusion"] == cm.tolist()
    with pytest.raises(ValueError, match="1 ground truths but 2 predictions"):
        evaluate_arrays(gts=[gt], preds=[pred, pred], num_classes=2)


def test_evaluate_dirs_names_default_to_every_png_of_the_first_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        gt = rng.integers(0, 3, (5, 6)).astype(np.uint8)
        write_label_png(tmp_path / "gt" / f"{name}.png", gt)
        write_label_png(tmp_path / "pred" / f"{name}.png", np.where(rng.random((5, 6)) < 0.7, gt, 0).astype(np.uint8))
    write_label_png(tmp_path / "gt" / "extra.png", np.zeros((5, 6), np.uint8))  # GT only: not evaluated
    default = evaluate_dirs(tmp_path / "gt", {"p": tmp_path / "pred"}, num_classes=3)
    explicit = evaluate_dirs(tmp_path / "gt", {"p": tmp_path / "pred"}, ["a", "b", "c"], num_classes=3)
    assert default["sets"] == explicit["sets"] and default["sets"]["p"]["num_images"] == 3
    # support: each class's GT pixels and the images holding it
    gts = [read_label_png(tmp_path / "gt" / f"{n}.png") for n in "abc"]
    assert default["support"]["pixels"] == [int(sum((g == c).sum() for g in gts)) for c in range(3)]
    assert default["support"]["images"] == [sum(bool((g == c).any()) for g in gts) for c in range(3)]
    assert "against" not in format_table(default)  # one set: no delta
