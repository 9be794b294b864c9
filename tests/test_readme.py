"""Every Python block of the README runs as written, on the demo's data."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from samcam.demo.pipeline import run_demo

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """A folder holding out/demo/ exactly as `make demo` lays it out (fewer images)."""
    root = tmp_path_factory.mktemp("readme")
    run_demo(root / "out" / "demo", num_images=2)
    return root


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_block_runs(index, demo_root, monkeypatch):
    code = BLOCKS[index]
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
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
