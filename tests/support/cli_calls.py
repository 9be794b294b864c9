"""Calling ``samcam`` in-process and reading what it said, for the CLI tests; and the small
folders (labels, gt, masks, images) that the record and lock tests run commands on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.images import write_label_png

TWO_NAMES = ["a", "b"]


def exit_and_err(argv, capsys):
    """(exit code, stderr) of ``samcam argv``, whether main returns or argparse exits."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


def refused(capsys, argv, *phrases):
    """The command exits 2 with one error line holding every phrase, and prints nothing on stdout."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (argv, captured.err)
    assert captured.out == ""
    assert captured.err.startswith("samcam") and captured.err.count("\n") == 1, captured.err
    for phrase in phrases:
        assert phrase in captured.err, (phrase, captured.err)


def one_line(err: str, prefix: str) -> str:
    """The single line of ``err``, asserted to start with ``prefix`` and carry no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and "Traceback" not in err, err
    return lines[0]


def two_image_folder(root: Path) -> Path:
    """labels/, gt/ (equal to labels), masks/ and images/ for TWO_NAMES, 32x40 synthetic scenes."""
    rng = np.random.default_rng(2)
    for name in TWO_NAMES:
        scene = make_scene(rng, 32, 40)
        write_label_png(root / "labels" / f"{name}.png", cam_to_label(scene.cam))
        write_label_png(root / "gt" / f"{name}.png", cam_to_label(scene.cam))
        store.write(root / "masks" / name, scene.masks)
        (root / "images").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), np.uint8)).save(root / "images" / f"{name}.png")
    return root


def four_scene_folder(root: Path):
    """pseudo/ labels and masks/ stores (predicted_iou 1) of four 40x56 synthetic scenes
    -> (root, names)."""
    rng = np.random.default_rng(3)
    names = [f"img{i}" for i in range(4)]
    for name in names:
        scene = make_scene(rng, 40, 56)
        write_label_png(root / "pseudo" / f"{name}.png", cam_to_label(scene.cam))
        store.write(root / "masks" / name, scene.masks, scores={"predicted_iou": np.ones(len(scene.masks))})
    return root, names
