"""``samcam demo`` (samcam.cli.demo): an --out that is a file is refused before anything is built."""
from __future__ import annotations

from samcam.cli import main


def _refused(capsys, argv, *phrases):
    """The command exits 2 with one error line holding every phrase, and prints nothing on stdout."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (argv, captured.err)
    assert captured.out == ""
    assert captured.err.startswith("samcam") and captured.err.count("\n") == 1, captured.err
    for phrase in phrases:
        assert phrase in captured.err, (phrase, captured.err)


def test_demo_out_that_is_a_file_is_refused_before_anything_is_built(tmp_path, capsys):
    (tmp_path / "demo").write_text("notes")
    _refused(capsys, ["demo", "--out", str(tmp_path / "demo"), "--num-images", "2"], "--out", "is a file")
    assert (tmp_path / "demo").read_text() == "notes"

