"""docs/coco.md says what the code does: its tables match the adapters, coco-gt's namings and
mmseg-config's defaults, and every samcam command it shows parses with samcam's own parser."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from samcam.adapters import available, get
from samcam.cli import build_parser
from samcam.datasets.coco import NAMINGS, CocoImage
from samcam.mmseg.config import BASES, DATASETS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "coco.md"
TEXT = PAGE.read_text(encoding="utf-8")


def _table_rows(first_cell: str):
    """Rows (cells) of the markdown tables whose first cell is a backquoted name."""
    rows = {}
    for line in TEXT.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([\w-]+)`(?: \(default\))?", cells[0]) if line.startswith("|") else None
        if match and first_cell in ("any", match.group(1)):
            rows[match.group(1)] = cells
    return rows


def test_adapter_table_matches_the_adapters():
    rows = {name: cells for name, cells in _table_rows("any").items() if name in available()}
    with_coco = {name for name in available() if any(c.coco_threshold is not None for c in get(name).cam_formats)}
    assert with_coco == {"amn", "clims", "clip-es", "toco"}
    assert set(rows) == {"amn", "clims", "clip-es", "toco", "irn", "mctformer"}  # six read COCO CAMs
    for name, cells in rows.items():
        threshold = get(name).cam_formats[0].coco_threshold
        if threshold is None:
            assert cells[2].startswith("none: pass `--threshold`"), (name, cells)
        else:
            assert float(cells[2].split()[0]) == threshold, (name, cells)
    assert "`transcam` has no COCO code" in TEXT and get("transcam").cam_formats[0].coco_threshold is None


def test_naming_table_matches_coco_gt():
    rows = {name: cells for name, cells in _table_rows("any").items() if name in NAMINGS}
    assert set(rows) == set(NAMINGS) and "(default)" in next(line for line in TEXT.splitlines()
                                                              if line.startswith("| `coco` (default)"))
    image = CocoImage(57870, "COCO_train2014_000000057870.jpg", 480, 640)
    for naming, cells in rows.items():
        assert cells[1] == f"`{image.name(naming)}.png`", (naming, cells)


def test_mmseg_facts_match_the_writer():
    assert DATASETS["coco"].schedules == ("80k", "160k") and "`--schedule 80k` (default) or `160k`" in TEXT
    assert [name for name, base in BASES.items() if not base.coco] == ["fcn_r101"]
    assert "`fcn_r101` has no COCO config" in TEXT
    assert f"`{DATASETS['coco'].val_labels}/`" in TEXT


def _commands():
    """Every samcam / samcam-adapt command line of the page's bash blocks (continuations joined)."""
    for block in re.findall(r"```bash\n(.*?)```", TEXT, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("samcam", "samcam-adapt"):
                yield words


COMMANDS = list(_commands())


def test_the_page_shows_each_command():
    shown = {words[1] if words[0] == "samcam" else "adapt" for words in COMMANDS}
    assert shown == {"coco-gt", "masks", "adapt", "eval", "mmseg-config"}


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(w[:2]) for w in COMMANDS])
def test_commands_parse(words, capsys):
    argv = ["adapt"] + words[1:] if words[0] == "samcam-adapt" else words[1:]
    parser = build_parser(adapt_prog="samcam-adapt")
    try:
        args, extras = parser.parse_known_args(argv)
    except SystemExit:
        pytest.fail(f"docs/coco.md: {' '.join(words)} does not parse: {capsys.readouterr().err}")
    assert not extras, (words, extras)
    if "--num-classes" in words:
        assert args.num_classes == 81
