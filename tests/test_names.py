"""Image names in lists, folders and messages (:mod:`samcam.names`): one odd name never stops
a batch, never floods the terminal and never breaks the printing."""
from __future__ import annotations

import csv
import logging
import os

import numpy as np
import pytest

from samcam import masks as store
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.errors import ImageError
from samcam.images import read_image, write_label_png
from samcam.names import check_name, clip_lines, list_names, printable, read_name_list, short

NAMES = ["a", "b", "c"]
BAD = os.fsdecode(b"bad\xff")  # a file name that is not UTF-8, as Python holds it


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(4)
    for name in NAMES:
        scene = make_scene(rng, 32, 40)
        write_label_png(tmp_path / "labels" / f"{name}.png", cam_to_label(scene.cam))
        store.write(tmp_path / "masks" / name, scene.masks)
    return tmp_path


def _refine(data, *extra):
    return ["refine", "--labels", str(data / "labels"), "--masks", str(data / "masks"), "--out", str(data / "out"),
            "--no-progress", *extra]


def test_a_name_too_long_for_a_file_fails_alone_and_is_shortened_in_messages(data, capsys):
    long_name, huge = "x" * 252, "y" * 5_000_000
    (data / "list.txt").write_text(f"a\n{long_name}\nb\n{huge}\nc\n")
    assert main(_refine(data, "--list", str(data / "list.txt"))) == 1
    err = capsys.readouterr().err
    assert "3 written, 0 already done (skipped), 2 failed" in err
    assert sorted(p.name for p in (data / "out").glob("*.png")) == ["a.png", "b.png", "c.png"]
    assert len(err) < 5000, len(err)  # the 5 MB name is not echoed
    assert "(5,000,000 characters)" in err and "(252 characters)" in err
    assert main(_refine(data, "--list", str(data / "list.txt"))) == 1  # a resume: the same two fail, alone
    assert "0 written, 3 already done (skipped), 2 failed" in capsys.readouterr().err


def test_a_bad_list_line_is_shortened_in_the_error(tmp_path):
    (tmp_path / "list.txt").write_text("a\n" + "z/" * 1_000_000 + "\n")
    with pytest.raises(ValueError) as refused:
        read_name_list(tmp_path / "list.txt")
    assert "line 2" in str(refused.value) and len(str(refused.value)) < 600


def test_a_loop_of_links_the_list_leaves_out_never_stops_the_batch(data, capsys):
    for folder in ("labels", "masks"):
        os.symlink("loop", data / folder / "loop")  # points to itself
        os.symlink("loop.png", data / folder / "loop.png")
    os.symlink("z.masks.npz", data / "masks" / "z.masks.npz")
    (data / "list.txt").write_text("a\nb\n")
    assert main(_refine(data, "--list", str(data / "list.txt"))) == 0
    assert sorted(p.name for p in (data / "out").glob("*.png")) == ["a.png", "b.png"]
    capsys.readouterr()
    # without a list the looping label is one image's failure, saying what it is
    assert main(_refine(data)) == 1
    err = capsys.readouterr().err
    assert "1 written, 2 already done (skipped), 1 failed" in err and "loop: OSError" in err
    assert "Too many levels of symbolic links" in err
    assert list_names(data / "labels", (".png",), folders=True) == ["a", "b", "c", "loop"]


def test_names_that_are_not_utf8_are_printed_with_escapes(data, capsys):
    from PIL import Image

    (data / "images").mkdir()
    for index, name in enumerate(NAMES + [BAD]):
        write_label_png(data / "gt" / f"{name}.png", np.eye(4, dtype=np.uint8))
        write_label_png(data / "labels" / f"{name}.png", np.eye(4, dtype=np.uint8))
        write_label_png(data / "other" / f"{name}.png", np.eye(4, k=index % 2, dtype=np.uint8))
        Image.fromarray(np.full((4, 4, 3), 50 * index, np.uint8)).save(data / "images" / f"{name}.png")
    argv = ["eval", "--gt", str(data / "gt"), "--labels", f"l={data / 'labels'}", "--labels", f"o={data / 'other'}",
            "--no-progress", "--per-image", str(data / "per_image.csv"), "--report", str(data / "report"),
            "--images", str(data / "images")]
    assert main(argv) == 0, capsys.readouterr().err
    with open(data / "per_image.csv", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert sorted({row[0] for row in rows[1:]}) == sorted(NAMES + ["bad\\xff"])
    assert "bad\\xff" in (data / "report" / "index.html").read_text(encoding="utf-8")
    # a failing image with such a name is named, escaped
    (data / "gt" / f"{BAD}.png").unlink()
    assert main(argv) == 1
    assert "bad\\xff" in capsys.readouterr().err


def test_message_helpers():
    assert printable(BAD) == "bad\\xff" and printable("é") == "é"
    assert short("n" * 300).endswith("(300 characters)") and len(short("n" * 300)) < 100
    assert short("plain") == "plain"
    line = clip_lines("p" * 10_000 + "\nsecond")
    assert len(line) < 700 and line.endswith("\nsecond") and "characters cut" in line
    with pytest.raises(ValueError) as refused:
        check_name("/" + "x" * 10_000)
    assert len(str(refused.value)) < 300


def test_unique_names_logs_repeats_shortened(caplog):
    from samcam.names import unique_names

    with caplog.at_level(logging.WARNING, logger="samcam"):
        assert unique_names(["a", "q" * 500, "a", "q" * 500]) == ["a", "q" * 500]
    assert "(500 characters)" in caplog.text and "q" * 200 not in caplog.text


def test_an_image_above_the_pixel_limit_cites_samcam_max_pixels(tmp_path, monkeypatch):
    import hostile

    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "10000")
    (tmp_path / "huge.png").write_bytes(hostile.png_header_only(50_000, 50_000))  # far above PIL's limit too
    with pytest.raises(ImageError) as refused:
        read_image(tmp_path / "huge.png")
    message = str(refused.value)
    assert "SAMCAM_MAX_PIXELS" in message and "2,500,000,000 pixels" in message and "10,000" in message
    assert "decompression bomb" not in message.lower()
