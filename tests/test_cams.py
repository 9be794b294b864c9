"""CAMs to labels (samcam.cams): label_from_cams reachable after ``import samcam``, its example."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import samcam

REPO = Path(__file__).resolve().parents[1]


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

