"""The Python API does what the README says it does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import samcam
from samcam.evaluate import confusion_matrix, evaluate_arrays, evaluate_dirs, format_table
from samcam.io import read_label_png, write_label_png

REPO = Path(__file__).resolve().parents[1]


def test_evaluate_is_an_attribute_after_import_samcam():
    code = "import samcam; print(samcam.evaluate.evaluate_dirs.__name__, samcam.masks.load.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["evaluate_dirs", "load"]


def test_label_from_cams_is_reachable_and_its_example_runs():
    """samcam.cams.label_from_cams after `import samcam` alone, and its docstring's example as written."""
    import doctest

    code = "import samcam; print(samcam.cams.label_from_cams.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["label_from_cams"]
    doc = samcam.cams.label_from_cams.__doc__
    assert all(word in doc for word in ("(K,)", "(K, H, W)", "(H, W) uint8", "float32", "Example"))
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(samcam.cams.label_from_cams, "label_from_cams") if t.examples]
    assert tests and len(tests[0].examples) >= 6
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_overlap_counts_is_the_three_tuple_the_readme_shows():
    label = np.zeros((4, 6), np.uint8)
    label[:, 3:] = 2
    label[0, 0] = 255
    masks = np.zeros((2, 4, 6), bool)
    masks[0, :, :4] = True
    masks[1, 1:, 3:] = True
    counts, ignored, class_area = samcam.overlap_counts(label, masks)
    assert counts.shape == (2, 21) and ignored.shape == (2,) and class_area.shape == (21,)
    assert counts.dtype == ignored.dtype == class_area.dtype == np.int64
    assert counts[0, 0] == 11 and counts[0, 2] == 4 and ignored.tolist() == [1, 0] and counts[1, 2] == 9
    assert class_area[0] == 11 and class_area[2] == 12


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


def test_load_sam_reads_the_architecture_from_the_checkpoint(tmp_path):
    """load_sam(checkpoint=...) without a model name accepts any SAM architecture the file holds."""
    pytest.importorskip("segment_anything", reason="load_sam needs the [sam] extra (segment-anything, torch)")
    from tiny_sam import TINY, save_tiny_checkpoint

    from samcam.sam.generate import load_sam

    path = save_tiny_checkpoint(tmp_path / "my_sam.pth")
    sam = load_sam(checkpoint=path)  # neither vit_h, vit_l nor vit_b
    assert sam.image_encoder.img_size == TINY["image_size"]
    assert sam.image_encoder.patch_embed.proj.out_channels == TINY["embed_dim"]
    with pytest.raises(ValueError, match="not vit_h"):
        load_sam("vit_h", checkpoint=path)


_BOTH_LOADERS = """
import sys
for blocked in sys.argv[2].split(","):
    sys.modules[blocked] = None  # as if it were not installed
from samcam.sam.families import MissingPackages, load_generator
from samcam.sam.generate import load_sam
messages = []
for load in (load_sam, load_generator):
    try:
        load(checkpoint=sys.argv[1] or None)
    except MissingPackages as error:
        messages.append(str(error))
print("\\n".join(messages))
"""


@pytest.mark.parametrize("blocked, checkpoint, needs", [
    ("torch", False, "SAM masks needs torch, torchvision, not installed here"),
    ("torch", True, "reading a checkpoint needs torch, torchvision, not installed here"),
    ("segment_anything", False, "SAM masks needs segment-anything, not installed here"),
    ("segment_anything", True, "SAM masks needs segment-anything, not installed here"),
])
def test_load_sam_says_what_to_install_as_load_generator_does(tmp_path, blocked, checkpoint, needs):
    """Without torch (or segment-anything) load_sam gives load_generator's message, not a bare
    ModuleNotFoundError: whether it loads an official model or reads a checkpoint file."""
    path = ""
    if checkpoint:  # a real SAM checkpoint: without segment-anything, its family is known first
        pytest.importorskip("segment_anything", reason="the tiny checkpoint needs the [sam] extra")
        from tiny_sam import save_tiny_checkpoint

        path = str(save_tiny_checkpoint(tmp_path / "tiny.pth"))
    blocked_modules = "torch,torchvision" if blocked == "torch" else blocked
    result = subprocess.run([sys.executable, "-c", _BOTH_LOADERS, path, blocked_modules], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    from_load_sam, from_load_generator = result.stdout.splitlines()
    assert from_load_sam == from_load_generator
    assert from_load_sam.startswith(needs) and "pip install 'samcam[sam]'" in from_load_sam
