"""Every Python block of the README and of docs/*.md runs as written on the demo's data, and so does
every bash block not marked as needing other data."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from samcam.demo.run import run_demo

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# The README first: the demo's bash blocks run in this order, later ones using what earlier ones wrote.
DOCS = [README] + sorted((REPO / "docs").glob("*.md"))


def _blocks(language: str):
    """[(page, block)] of every ```language block of the README and docs/*.md, in order."""
    return [(page.relative_to(REPO).as_posix(), block) for page in DOCS
            for block in re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


PY_BLOCKS = _blocks("python")
BLOCKS = [block for _, block in PY_BLOCKS]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A folder holding out/demo/ exactly as `make demo` lays it out (fewer images)."""
    root = tmp_path_factory.mktemp("readme")
    run_demo(root / "out" / "demo", num_images=2)
    return root


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


def test_docs_are_found():
    assert (REPO / "docs" / "coco.md") in DOCS
    assert "docs/coco.md" in README.read_text(encoding="utf-8"), "the README links the COCO page"


@pytest.mark.parametrize("index", range(len(BLOCKS)),
                         ids=[f"{page}-block{i}" for i, (page, _) in enumerate(PY_BLOCKS)])
def test_readme_python_block_runs(index, demo_root, monkeypatch):
    page, code = PY_BLOCKS[index]
    monkeypatch.chdir(demo_root)
    if "load_sam" in code:
        # No SAM weights here: a tiny random-weight SAM stands in under the official file name.
        pytest.importorskip("segment_anything", reason="the SAM block needs the [sam] extra")
        from tiny_sam import save_tiny_checkpoint

        checkpoint = demo_root / "sam_vit_h_4b8939.pth"
        if not checkpoint.exists():
            save_tiny_checkpoint(checkpoint)
    if "load_generator" in code:
        # A tiny random-weight HQ-SAM stands in under the official file name.
        pytest.importorskip("segment_anything_hq", reason="the HQ-SAM block needs the [hq] extra")
        from tiny_models import save, tiny_hq

        checkpoint = demo_root / "sam_hq_vit_h.pth"
        if not checkpoint.exists():
            save(tiny_hq(), checkpoint)
    if "samcam.datasets.coco" in code:
        pytest.importorskip("pycocotools", reason='the COCO block needs pycocotools: pip install "samcam[coco]"')
    exec(compile(code, f"{page} python block {index}", "exec"), {"__name__": "__readme__"})


# ------------------------------------------------------------------------ bash blocks

PAGE_BASH_BLOCKS = _blocks("bash")
BASH_BLOCKS = [block for _, block in PAGE_BASH_BLOCKS]
# A bash block that cannot run on the demo (other data, installs, GPUs) says so on its first line.
NOT_FOR_THE_DEMO = "# (not run on the demo: "
DEMO_BLOCKS = [block for block in BASH_BLOCKS if not block.startswith(NOT_FOR_THE_DEMO)]


def test_readme_bash_blocks_are_marked_or_run_on_the_demo():
    """Every bash block is either for the demo (and run below) or says why it is not."""
    assert len(DEMO_BLOCKS) >= 5
    for page, block in PAGE_BASH_BLOCKS:
        first = block.splitlines()[0]
        if first.startswith("# (not run"):
            assert first.startswith(NOT_FOR_THE_DEMO) and first.endswith(")") and len(first) > len(NOT_FOR_THE_DEMO) + 3, \
                f"{page}: {first}"
        else:
            assert "VOC2012" not in block and "sam_masks" not in block and "coco2014" not in block, \
                f"{page}: a demo block names other data:\n{block}"


def _shims(folder: Path) -> dict:
    """PATH with `samcam` and `samcam-adapt` running this checkout's samcam in this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, args in (("samcam", ""), ("samcam-adapt", " adapt")):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m samcam{args} "$@"\n')
        script.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{folder}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def test_readme_bash_blocks_run_on_the_demo_as_written(tmp_path):
    """The README's demo commands, in order, in one folder (later blocks use what earlier ones wrote);
    any command that fails fails the test, naming its block."""
    env = _shims(tmp_path / "bin")
    work = tmp_path / "work"
    work.mkdir()
    for index, block in enumerate(DEMO_BLOCKS):
        script = tmp_path / f"block{index}.sh"
        script.write_text("set -euo pipefail\n" + block)
        result = subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (
            f"README bash block {index} failed (exit {result.returncode}):\n{block}\n"
            f"--- stderr ---\n{result.stderr[-4000:]}\n--- stdout ---\n{result.stdout[-2000:]}"
        )
    # what the walkthrough promises exists
    assert (work / "out" / "refined" / "samcam.json").is_file()
    assert (work / "out" / "report" / "index.html").is_file()
    assert (work / "out" / "deeplab_demo.py").is_file()
    assert len(list((work / "out" / "vis_best").glob("*.png"))) == 5
