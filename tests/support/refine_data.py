"""A small refine dataset (label PNGs and mask stores of synthetic scenes) and the helpers
that run ``samcam refine`` and plain Python on it; the ``refine_data`` fixture
(tests/conftest.py) builds it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.files import TEMP_SUFFIX
from samcam.images import write_label_png

REPO = Path(__file__).resolve().parents[2]
NAMES = [f"2007_{i:06d}" for i in range(6)]


def make_refine_data(root: Path):
    """pseudo/{name}.png + masks/{name}.masks.npz for 6 small scenes; returns (root, labels, masks)."""
    rng = np.random.default_rng(0)
    labels, maskss = {}, {}
    for name in NAMES:
        scene = make_scene(rng, 48, 64)
        labels[name] = cam_to_label(scene.cam)
        maskss[name] = scene.masks
        write_label_png(root / "pseudo" / f"{name}.png", labels[name])
        store.write(root / "masks" / name, scene.masks)
    return root, labels, maskss


def refine_cli(root, *extra, out="out"):
    return main(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                 "--out", str(root / out), "--no-progress", *map(str, extra)])


def debris(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(TEMP_SUFFIX) or p.name.endswith(".tmp"))


def run_python(code: str, timeout: float = 120):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)


def write_list(tmp_path, names):
    """``tmp_path/list.txt`` with one name a line."""
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return path
