"""The command line's entry point (samcam.cli.main): exit codes 0/1/2/3, and out-of-memory,
recursion and OS errors as one line, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest
from batch_data import scenes as _scenes
from cli_calls import exit_and_err, one_line
from PIL import Image
from refine_data import NAMES, refine_cli

import samcam
import samcam.folders
import samcam.workers
from samcam.cli import main


def test_out_of_memory_outside_the_images_is_one_line(tmp_path, monkeypatch, capsys):
    labels, masks = _scenes(tmp_path, 2)

    def no_memory(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(samcam.cli.refine, "refine_dir", no_memory)
    code = main(["refine", "--labels", str(labels), "--masks", str(masks), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("samcam refine: error: out of memory (MemoryError)")


def test_11_an_output_folder_that_cannot_be_created_is_one_error(refine_data, capsys):
    root, _, _ = refine_data
    (root / "file").write_text("not a folder")
    assert refine_cli(root, out="file/out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("samcam refine: error: ") and "file/out" in err[0], err
    assert "Traceback" not in "\n".join(err)


def _bug(*args, **kwargs):
    raise ZeroDivisionError("a bug")


def test_13_exit_codes_of_refine(refine_data, tmp_path, capsys, monkeypatch):
    root, _, _ = refine_data
    assert refine_cli(root) == 0                                            # 0: all done
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(b"junk")
    assert refine_cli(root, "--overwrite") == 1                             # 1: an image failed
    assert refine_cli(root, "--list", tmp_path / "missing.txt") == 2        # 2: configuration
    capsys.readouterr()
    import samcam.folders

    real = samcam.folders.refine_counted
    calls = []

    def sometimes_buggy(label, masks, **params):
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("a bug in one image")
        return real(label, masks, **params)

    monkeypatch.setattr(samcam.folders, "refine_counted", sometimes_buggy)
    assert refine_cli(root, "--overwrite") == 3                             # 3: a bug on one image
    err = capsys.readouterr().err
    assert "4 written" in err and "internal error" in err and "Traceback" in err and "ZeroDivisionError" in err
    monkeypatch.setattr(samcam.cli.refine, "refine_dir", _bug)
    assert refine_cli(root) == 3                                            # 3: a bug outside the images
    err = capsys.readouterr().err
    assert "samcam refine: internal error" in err and "Traceback" in err and "ZeroDivisionError: a bug" in err


@pytest.mark.slow
def test_13_exit_codes_of_the_other_commands(refine_data, tmp_path, capsys, monkeypatch):
    root, labels, _ = refine_data
    images = tmp_path / "images"
    images.mkdir()
    for name, label in labels.items():
        Image.fromarray(np.stack([label * 10] * 3, axis=-1)).save(images / f"{name}.png")
    gt = ["--gt", str(root / "pseudo")]
    commands = {
        "eval": ["eval", *gt, "--pred", str(root / "pseudo"), "--no-progress"],
        "vis": ["vis", "--images", str(images), "--labels", str(root / "pseudo"), "--out", str(tmp_path / "vis"),
                "--no-progress"],
        "masks": ["masks", "--source", "proposals", "--images", str(images), "--out", str(tmp_path / "m"),
                  "--no-progress"],
    }
    for name, argv in commands.items():
        assert main(argv) == 0, name
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(b"junk")
    (images / f"{NAMES[0]}.png").write_bytes(b"junk")
    assert main(commands["eval"]) == 1
    assert main(commands["vis"] + ["--overwrite"]) == 1
    assert main(commands["masks"] + ["--overwrite"]) == 1
    assert main(["eval", "--gt", str(tmp_path / "nope"), "--pred", str(root / "pseudo")]) == 2
    assert main(["mmseg-config", "--labels", str(tmp_path / "nope"), "--data-root", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "c.py")]) == 2
    capsys.readouterr()
    import samcam.evaluate

    monkeypatch.setattr(samcam.evaluate, "confusion_matrix", _bug)
    assert main(commands["eval"]) == 3
    err = capsys.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err


def test_13_recursion_and_memory_errors_never_print_a_traceback(refine_data, capsys, monkeypatch):
    root, _, _ = refine_data
    import samcam.cli.refine

    for error in (RecursionError("maximum recursion depth exceeded while decoding a JSON array"), MemoryError()):
        def raise_it(*args, _error=error, **kwargs):
            raise _error

        monkeypatch.setattr(samcam.cli.refine, "refine_dir", raise_it)
        code, err = exit_and_err(["refine", "--pseudo", str(root / "pseudo"), "--masks", str(root / "masks"),
                                   "--out", str(root / "out")], capsys)
        assert code == 2, err
        line = one_line(err, "samcam refine: error: ")
        assert ("nested too deeply" if isinstance(error, RecursionError) else "out of memory") in line
