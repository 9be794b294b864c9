"""``samcam eval`` (samcam.cli.evaluate): side-by-side tables, JSON and per-image files, class
names, the report, and its errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from html_links import links as _links
from vis_data import build_dataset

from samcam.classes import COCO_CLASSES
from samcam.cli import main
from samcam.evaluate import evaluate_arrays, evaluate_dirs
from samcam.io import write_label_png


def _folders(tmp_path, num_classes, count=3, seed=0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        gt = rng.integers(0, num_classes, (8, 9)).astype(np.uint8)
        pred = np.where(rng.random((8, 9)) < 0.7, gt, 0).astype(np.uint8)
        write_label_png(tmp_path / "gt" / f"im{index}.png", gt)
        write_label_png(tmp_path / "pred" / f"im{index}.png", pred)
    return ["eval", "--gt", str(tmp_path / "gt"), "--labels", f"pred={tmp_path / 'pred'}", "--no-progress"]


def test_eval_with_81_classes_prints_coco_names(tmp_path, capsys):
    command = _folders(tmp_path, 81)
    assert main(command + ["--num-classes", "81", "--json", str(tmp_path / "m.json")]) == 0
    table = capsys.readouterr().out
    assert "  person" in table and "  toothbrush" in table and "class 80" not in table
    assert json.loads((tmp_path / "m.json").read_text())["class_names"] == list(COCO_CLASSES)


def test_eval_with_a_class_names_file(tmp_path, capsys):
    command = _folders(tmp_path, 4)
    names = tmp_path / "classes.txt"
    names.write_text("background\nroad: paved road\nzebra crossing\nkerb\n")
    report = tmp_path / "report"
    assert main(command + ["--class-names", str(names), "--json", str(tmp_path / "m.json"),
                           "--report", str(report)]) == 0
    table = capsys.readouterr().out
    assert "  road" in table and "  zebra crossing" in table and "  kerb" in table
    results = json.loads((tmp_path / "m.json").read_text())
    assert results["num_classes"] == 4 and results["class_names"] == ["background", "road", "zebra crossing", "kerb"]
    assert "zebra crossing" in (report / "index.html").read_text()
    # the file decides the count; a --num-classes that disagrees is a usage error, before any work
    assert main(command + ["--class-names", str(names), "--num-classes", "21"]) == 2
    err = capsys.readouterr().err
    assert "lists 4 classes" in err and "--num-classes is 21" in err
    assert main(command + ["--class-names", str(names), "--num-classes", "4"]) == 0
    capsys.readouterr()
    # an output file may not replace it
    assert main(command + ["--class-names", str(names), "--json", str(names)]) == 2
    assert "is the --class-names file" in capsys.readouterr().err
    names.write_text("background\nroad\nroad\n")
    assert main(command + ["--class-names", str(names)]) == 2
    assert f"{names} line 3" in capsys.readouterr().err


def test_eval_cli_side_by_side_json_and_failures(tmp_path, capsys):
    rng = np.random.default_rng(0)
    names = [f"im{i}" for i in range(4)]
    gts, before, after = [], [], []
    for name in names:
        gt = rng.integers(0, 3, (6, 7)).astype(np.uint8)
        b = np.where(rng.random((6, 7)) < 0.5, gt, 0).astype(np.uint8)
        a = np.where(rng.random((6, 7)) < 0.9, gt, 0).astype(np.uint8)
        for folder, array in (("gt", gt), ("before", b), ("after", a)):
            write_label_png(tmp_path / folder / f"{name}.png", array, palette=folder == "gt")
        gts.append(gt), before.append(b), after.append(a)
    code = main(["eval", "--gt", str(tmp_path / "gt"), "--pred", f"cam={tmp_path / 'before'}",
                 "--pred", f"refined={tmp_path / 'after'}", "--num-classes", "3",
                 "--json", str(tmp_path / "m.json"), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "cam" in out and "refined" in out and "Δ refined" in out and "against cam" in out
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["sets"]["cam"]["miou"] == pytest.approx(evaluate_arrays(gts=gts, preds=before, num_classes=3)["miou"])
    assert saved["sets"]["refined"]["miou"] == pytest.approx(evaluate_arrays(gts=gts, preds=after, num_classes=3)["miou"])
    # a missing prediction and a size mismatch: reported, left out of every set, exit 1
    (tmp_path / "after" / "im1.png").unlink()
    write_label_png(tmp_path / "before" / "im2.png", np.zeros((3, 3), np.uint8))
    result = evaluate_dirs(tmp_path / "gt", {"cam": tmp_path / "before", "refined": tmp_path / "after"},
                           names, num_classes=3, progress=False)
    failed = dict(result["failed"])
    assert set(failed) == {"im1", "im2"} and "im2.png" in failed["im2"]
    assert result["sets"]["cam"]["num_images"] == 2
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "before"),
                 "--pred", str(tmp_path / "after"), "--num-classes", "3", "--no-progress"]) == 1


def test_per_image_and_json_files_never_replace_an_input(tmp_path, capsys):
    """A typo'd --per-image/--json path is refused before any work (exit 2), the inputs untouched."""
    gt = np.array([[0, 1], [1, 1]], np.uint8)
    for folder in ("gt", "pred"):
        write_label_png(tmp_path / folder / "a.png", gt)
    (tmp_path / "list.txt").write_text("a\n")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    base = ["eval", "--gt", str(tmp_path / "gt"), "--labels", f"p={tmp_path / 'pred'}", "--no-progress",
            "--num-classes", "2"]
    for extra, message in (
        (["--per-image", str(tmp_path / "gt" / "a.png")], "--per-image " + str(tmp_path / "gt" / "a.png")
         + " would replace a file inside --gt"),
        (["--json", str(tmp_path / "pred" / "a.png")], "would replace a file inside --labels"),
        (["--per-image", str(tmp_path / "list.txt"), "--list", str(tmp_path / "list.txt")], "is the --list file"),
        (["--per-image", str(tmp_path / "x.csv"), "--json", str(tmp_path / "x.csv")], "are the same file"),
        (["--per-image", str(tmp_path / "gt")], "is a folder"),
    ):
        assert main(base + extra) == 2, extra
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == "", extra
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before
    # beside the labels, under another name, is fine
    assert main(base + ["--per-image", str(tmp_path / "pred" / "per_image.csv")]) == 0
    assert (tmp_path / "pred" / "per_image.csv").read_text().startswith("name,set,miou")


def test_11_eval_json_into_an_unwritable_place(refine_data, capsys):
    root, _, _ = refine_data
    (root / "file").write_text("x")
    code = main(["eval", "--gt", str(root / "pseudo"), "--pred", str(root / "pseudo"), "--no-progress",
                 "--json", str(root / "file" / "m.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "samcam eval: error:" in err and "m.json" in err and "Traceback" not in err


def test_12_eval_json_is_strict_and_a_missing_gt_folder_is_one_error(tmp_path, capsys):
    write_label_png(tmp_path / "gt" / "a.png", np.full((4, 4), 255, np.uint8))  # all ignore
    write_label_png(tmp_path / "pred" / "a.png", np.zeros((4, 4), np.uint8))
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--no-progress",
                 "--json", str(tmp_path / "m.json")]) == 0
    text = (tmp_path / "m.json").read_text()

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    metrics = json.loads(text, parse_constant=refuse)
    assert metrics["sets"]["pred"]["miou"] is None and metrics["sets"]["pred"]["iou"][0] is None
    capsys.readouterr()
    assert main(["eval", "--gt", str(tmp_path / "nope"), "--pred", str(tmp_path / "pred"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"samcam eval: error: ground-truth folder {tmp_path / 'nope'} does not exist"]


NAMES = ("a", "b", "c", "d", "e", "f")


@pytest.mark.slow
def test_eval_cli_writes_report(tmp_path, capsys):
    from samcam.cli import main

    data = build_dataset(tmp_path / "data", names=NAMES)
    out = tmp_path / "report"
    code = main([
        "eval", "--gt", data["SegmentationClass"], "--pred", f"cam={data['cam']}", "--pred", f"refined={data['refined']}",
        "--num-classes", "5", "--no-progress", "--report", str(out), "--images", data["JPEGImages"], "--masks", data["masks"],
    ])
    assert code == 0
    assert f"report written to {out / 'index.html'}" in capsys.readouterr().err
    links = _links(out / "index.html")
    # --top 4 by default: the 4 most improved (a, e, c, f) and the rest, least improved (b, d).
    assert len(links.anchors) == 6 and all((out / link).is_file() for link in links.anchors + links.images)

