"""The package (samcam/__init__.py): its submodules are attributes after ``import samcam``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_evaluate_is_an_attribute_after_import_samcam():
    code = "import samcam; print(samcam.evaluate.evaluate_dirs.__name__, samcam.masks.load.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["evaluate_dirs", "load"]

