"""``samcam compare`` (samcam.cli.compare): the table, JSON and report page, left-out images,
its usage errors; the old spelling `samcam masks --compare` still works."""
from __future__ import annotations

import json

import numpy as np
import pytest
from compare_data import SHAPE
from compare_data import mask_sources_dataset as _dataset

from samcam.cli import main
from samcam.io import write_label_png


@pytest.mark.slow
def test_command_table_json_report_and_left_out_images(tmp_path, capsys):
    names = _dataset(tmp_path)
    (tmp_path / "coarse" / f"{names[0]}.masks.npz").unlink()  # one source lacks an image
    report, out_json = tmp_path / "report", tmp_path / "cmp.json"
    code = main(["compare", "--masks", f"good={tmp_path / 'good'}", str(tmp_path / "coarse"),
                 "--labels", str(tmp_path / "pseudo"), "--gt", str(tmp_path / "gt"), "--report", str(report),
                 "--json", str(out_json), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 1, captured.err  # an image was left out: listed, exit 1
    assert "refined mIoU" in captured.out and f"left out {names[0]}" in captured.err
    data = json.loads(out_json.read_text())
    # deltas against the first source by default, in %
    miou = {name: 100 * data["sources"][name]["refined"]["miou"] for name in ("good", "coarse")}
    delta = next(line for line in captured.out.splitlines() if line.lstrip().startswith("Δ vs good"))
    assert delta.split()[-2:] == ["–", f"{miou['coarse'] - miou['good']:+.2f}"]
    assert data["names"] == names[1:] and list(data["sources"]) == ["good", "coarse"]
    assert all(s["num_images"] == 4 for s in data["sources"].values())
    page = (report / "index.html").read_text()
    assert "<h2>Mask sources</h2>" in page and "Δ mIoU vs pseudo labels" in page and "1 image(s) left out" in page
    assert f"<td>Δ mIoU vs good</td><td>–</td><td>{miou['coarse'] - miou['good']:+.2f}</td>" in page
    assert (report / "mask_sources.png").stat().st_size > 1000
    # Without labels: statistics only, no mIoU rows.
    code = main(["compare", "--masks", f"good={tmp_path / 'good'}", "--list", str(_list(tmp_path, names[1:])),
                 "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0 and "masks/image" in captured.out and "refined mIoU" not in captured.out


def _list(tmp_path, names):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_bad_compare_arguments(tmp_path, capsys):
    _dataset(tmp_path, count=1)
    assert main(["compare", "--masks", f"a={tmp_path / 'nope'}"]) == 2
    assert f"samcam compare: error: --masks a={tmp_path / 'nope'}: folder does not exist" in capsys.readouterr().err
    assert main(["compare", "--masks", str(tmp_path / "good"), "--labels", str(tmp_path / "pseudo")]) == 2
    assert "--labels and --gt go together" in capsys.readouterr().err
    assert main(["compare", "--masks", f"a={tmp_path / 'good'}", "--baseline", "b", "--no-progress"]) == 2
    assert "--baseline 'b' is not one of the --masks sources: a" in capsys.readouterr().err
    # a missing --labels/--gt folder is one error, not one "left out" line per image
    for flag in ("--labels", "--gt"):
        argv = {"--labels": str(tmp_path / "pseudo"), "--gt": str(tmp_path / "gt")}
        argv[flag] = str(tmp_path / "nope")
        assert main(["compare", "--masks", str(tmp_path / "good"), *[x for kv in argv.items() for x in kv],
                     "--no-progress"]) == 2
        captured = capsys.readouterr()
        assert [line for line in captured.err.splitlines() if line] == [
            f"samcam compare: error: {flag} {tmp_path / 'nope'}: folder does not exist"], captured.err
        assert "left out" not in captured.err and "masks/image" not in captured.out
    assert main(["compare", "--masks", f"x={tmp_path / 'good'}", "--masks", f"x={tmp_path / 'coarse'}"]) == 2
    assert "--masks: two folders have the same NAME" in capsys.readouterr().err
    assert main(["compare", "--masks", str(tmp_path / "good"), "--report", str(tmp_path / "good" / "r")]) == 2
    captured = capsys.readouterr()
    assert "masks/image" not in captured.out and not (tmp_path / "good" / "r").exists()
    with pytest.raises(SystemExit) as stop:
        main(["compare", "--labels", str(tmp_path / "pseudo")])
    assert stop.value.code == 2
    assert capsys.readouterr().err == "samcam compare: error: missing required flag --masks\n"
    # masks without --compare: both generation flags named at once
    assert main(["masks", "--images", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "samcam masks: error: missing required flag --out\n"
    assert main(["masks"]) == 2
    assert capsys.readouterr().err == "samcam masks: error: missing required flags --images, --out\n"


@pytest.mark.slow
def test_the_old_spelling_masks_compare_does_the_same(tmp_path, capsys):
    """`samcam masks --compare NAME=DIR ...` with the flags it always took: the same table,
    JSON and exit code as `samcam compare --masks ...`, after a one-line note."""
    names = _dataset(tmp_path)
    (tmp_path / "coarse" / f"{names[0]}.masks.npz").unlink()
    shared = ["--gt", str(tmp_path / "gt"), "--list", str(_list(tmp_path, names)), "--workers", "2",
              "--no-progress", "--ratio-thresh", "0.6", "--num-classes", "21", "--baseline", "coarse"]
    new = main(["compare", "--masks", f"good={tmp_path / 'good'}", str(tmp_path / "coarse"),
                "--labels", str(tmp_path / "pseudo"), "--json", str(tmp_path / "new.json"), *shared])
    new_out, new_err = capsys.readouterr()
    old = main(["masks", "--compare", f"good={tmp_path / 'good'}", str(tmp_path / "coarse"),
                "--pseudo", str(tmp_path / "pseudo"), "--json", str(tmp_path / "old.json"), *shared])
    old_out, old_err = capsys.readouterr()
    assert new == old == 1  # an image left out, listed
    assert old_out == new_out and "refined mIoU" in new_out and "Δ vs coarse" in new_out
    assert (tmp_path / "old.json").read_text() == (tmp_path / "new.json").read_text()
    note, *rest = old_err.splitlines()
    assert note == ("samcam masks: note: --compare is now its own command, samcam compare --masks NAME=DIR ... "
                    "(samcam compare --help)")
    assert rest == new_err.splitlines() and f"left out {names[0]}" in old_err
    # the rule's flags reach the comparison: without the cover rescue, the good masks fix nothing
    assert main(["compare", "--masks", f"good={tmp_path / 'good'}", "--labels", str(tmp_path / "pseudo"),
                 "--json", str(tmp_path / "strict.json"), *shared[:-2], "--cover-thresh", "2"]) == 0
    capsys.readouterr()
    strict = json.loads((tmp_path / "strict.json").read_text())["sources"]["good"]["refined"]["miou"]
    assert strict < json.loads((tmp_path / "new.json").read_text())["sources"]["good"]["refined"]["miou"] == 1.0
    # errors name the flag as typed
    assert main(["masks", "--compare", f"x={tmp_path / 'good'}", f"x={tmp_path / 'coarse'}"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "samcam masks: error: --compare: two folders have the same NAME; name them NAME=DIR")


def test_masks_help_leaves_comparing_to_compare_and_both_show_an_example(capsys):
    helps = {}
    for command in ("masks", "compare"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        helps[command] = capsys.readouterr().out
    for flag in ("--compare", "--labels", "--gt", "--baseline", "--report", "--ratio-thresh", "--rule"):
        # (SAM 3's group says its masks are refined "with --rule concept": a mention, not the flag)
        assert flag not in helps["masks"].replace("with --rule concept", ""), flag
        assert flag == "--compare" or flag in helps["compare"], flag
    # 192 lines with the comparing flags; SAM 3's group (--model sam3) added about 35 back
    assert "samcam compare --help" in helps["masks"] and len(helps["masks"].splitlines()) < 165
    assert "\n  samcam masks --images " in helps["masks"]
    assert "\n  samcam compare --masks " in helps["compare"]


def test_json_is_strict_when_scores_are_undefined(tmp_path, capsys):
    """Ground truth that is all ignore (255) leaves every IoU undefined: the --json file
    says null there, as `eval --json` does, never NaN (strict JSON parsers refuse it)."""
    names = _dataset(tmp_path, count=2)
    for name in names:
        write_label_png(tmp_path / "gt" / f"{name}.png", np.full(SHAPE, 255, np.uint8))
    out_json = tmp_path / "cmp.json"
    assert main(["compare", "--masks", str(tmp_path / "good"), "--labels", str(tmp_path / "pseudo"),
                 "--gt", str(tmp_path / "gt"), "--json", str(out_json), "--no-progress"]) == 0
    capsys.readouterr()

    def refuse(constant):
        raise ValueError(f"{out_json} holds {constant}")

    data = json.loads(out_json.read_text(), parse_constant=refuse)
    assert data["names"] == names
    assert data["pseudo"]["miou"] is None

