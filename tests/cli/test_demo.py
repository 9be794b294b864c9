"""``samcam demo`` (samcam.cli.demo): an --out that is a file is refused before anything is built."""
from __future__ import annotations

from cli_calls import refused


def test_demo_out_that_is_a_file_is_refused_before_anything_is_built(tmp_path, capsys):
    (tmp_path / "demo").write_text("notes")
    refused(capsys, ["demo", "--out", str(tmp_path / "demo"), "--num-images", "2"], "--out", "is a file")
    assert (tmp_path / "demo").read_text() == "notes"

