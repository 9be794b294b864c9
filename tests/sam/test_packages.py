"""Missing packages (samcam.sam.packages): load_sam and load_generator say what to install."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from family_models import CLI

from samcam.cli import main

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.slow
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
    # "SAM masks needs torch, torchvision, not installed here": where other packages are missing
    # too (a core-only install has no segment-anything either), they are named in the same list
    what, packages = needs.split(" needs ")
    missing = packages.replace(", not installed here", "").split(", ")
    listed = from_load_sam.split(" needs ", 1)[1].split(" not installed here")[0].rstrip(", ").split(", ")
    assert from_load_sam.startswith(what + " needs ") and set(missing) <= set(listed), from_load_sam
    assert "pip install 'samcam[sam]'" in from_load_sam


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="mask models need torch ([sam] extra)")
def test_missing_package_says_which_extra(monkeypatch, family_images, tmp_path, capsys):
    from samcam.sam import packages

    real = packages._importable
    monkeypatch.setattr(packages, "_importable", lambda module: module != "sam2" and real(module))
    code = main(["masks", "--images", str(family_images), "--out", str(tmp_path / "out"),
                 "--model", "sam2.1_hiera_tiny"] + CLI)
    err = capsys.readouterr().err
    assert code == 2 and "samcam[sam2]" in err and "--no-build-isolation" in err and "sam2" in err
    assert not (tmp_path / "out").exists()

