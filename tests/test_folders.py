"""Folder-level refinement (samcam.folders.refine_dir): duplicates counted once, an image out of
memory fails alone."""
from __future__ import annotations

import numpy as np
import pytest
from batch_data import scenes as _scenes
from refine_data import NAMES, refine_cli
from refine_data import write_list as _list

import samcam
import samcam.folders
import samcam.workers
from samcam.cli import main
from samcam.folders import refine_dir
from samcam.io import read_label_png


@pytest.mark.parametrize("workers", ["1", "2"])
def test_refine_reports_an_out_of_memory_image_by_name_and_finishes_the_others(tmp_path, monkeypatch, capsys,
                                                                              workers):
    labels, masks = _scenes(tmp_path)
    real, hungry = samcam.folders.refine_counted, read_label_png(labels / "im2.png")

    def refine_or_run_out(label, masks, **params):
        if np.array_equal(label, hungry):
            raise MemoryError()
        return real(label, masks, **params)

    monkeypatch.setattr(samcam.folders, "refine_counted", refine_or_run_out)  # forked workers inherit it
    out = tmp_path / "out"
    code = main(["refine", "--labels", str(labels), "--masks", str(masks), "--out", str(out), "--no-progress",
                 "--workers", workers])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert "im2: out of memory while processing this image" in err
    assert sorted(p.name for p in out.glob("*.png")) == [f"im{i}.png" for i in (0, 1, 3, 4, 5)]


def test_9_duplicates_are_processed_and_counted_once(refine_data, tmp_path, capsys):
    root, _, _ = refine_data
    assert refine_cli(root, "--list", _list(tmp_path, [NAMES[0], NAMES[1], NAMES[0], NAMES[0]])) == 0
    err = capsys.readouterr().err
    assert "2 written, 0 already done (skipped), 0 failed" in err
    assert "1 name(s) appear more than once" in err
    result = refine_dir(root / "pseudo", root / "masks", root / "out2", names=[NAMES[2], NAMES[2]])
    assert result.done == [NAMES[2]]

