"""Image names in lists, folders and messages (:mod:`samcam.names`): one odd name never stops
a batch, never floods the terminal and never breaks the printing."""
from __future__ import annotations

import csv
import logging
import os

import numpy as np
import pytest
from PIL import Image
from refine_data import refine_cli
from refine_data import write_list as _list

from samcam import masks as store
from samcam.batch import run_batch
from samcam.cli import main
from samcam.demo.synthetic import cam_to_label, make_scene
from samcam.folders import refine_dir
from samcam.images import write_label_png
from samcam.io import ensure_not_inside
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_names_that_are_not_utf8_are_printed_with_escapes(data, capsys):

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


def test_9_name_lists_are_taken_literally(tmp_path, caplog):
    path = tmp_path / "list.txt"
    path.write_text(
        "\ufeffimg.v2\nmy image\n  spaced  \r\n2007_000032.jpg\nCAP.PNG\n# comment\n\n"
        "/JPEGImages/2007_000039.jpg /SegmentationClassAug/2007_000039.png\n"
        "JPEGImages/2008_000001.jpg\nimg.v2\n2007_000032\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="samcam"):
        names = read_name_list(path)
    assert names == ["img.v2", "my image", "spaced", "2007_000032", "CAP", "2007_000039", "2008_000001"]
    assert "2 name(s) appear more than once (img.v2, 2007_000032)" in caplog.text
    for bad, line in (("../outside/victim", 2), ("a/b", 2), ("..", 2), ("/x.jpg /y.png", 2), ("a\\b", 2)):
        path.write_text(f"ok\n{bad}\n")
        with pytest.raises(ValueError, match=rf"list.txt line {line}:"):
            read_name_list(path)


def test_9_names_that_could_leave_a_folder_are_refused_everywhere(refine_data, tmp_path, capsys):
    root, _, _ = refine_data
    victim = tmp_path / "outside" / "victim.png"
    victim.parent.mkdir()
    victim.write_bytes(b"precious")
    for bad in (["../outside/victim"], ["/etc/passwd"], [""], [".."], ["ok", "a\\b"]):
        with pytest.raises(ValueError, match="not a plain image name"):
            refine_dir(root / "pseudo", root / "masks", root / "out", names=bad)
    with pytest.raises(ValueError, match="not a plain image name"):
        run_batch(["../x"], lambda name: None)
    assert victim.read_bytes() == b"precious"
    assert not (root / "out").exists() or not list((root / "out").iterdir())
    # via the CLI: one clear error, exit 2, nothing written
    assert refine_cli(root, "--list", _list(tmp_path, ["../outside/victim"])) == 2
    assert "line 1" in capsys.readouterr().err


def test_name_lists_and_output_folder_guard(tmp_path):
    (tmp_path / "l.txt").write_text("2007_000032\n\n# comment\n/JPEGImages/2007_000039.jpg /SegmentationClassAug/2007_000039.png\n")
    assert read_name_list(tmp_path / "l.txt") == ["2007_000032", "2007_000039"]
    ensure_not_inside(tmp_path / "out", [tmp_path / "in", None])
    for bad in (tmp_path / "in", tmp_path / "in" / "sub"):
        with pytest.raises(ValueError, match="never writes into its inputs"):
            ensure_not_inside(bad, [tmp_path / "in"])
