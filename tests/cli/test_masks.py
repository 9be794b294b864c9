"""``samcam masks``'s flags (samcam.cli.masks): defaults and help from the settings fields, bad
values refused before any work, each family's defaults in --help, and the message without torch."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samcam.cli import build_parser, main
from samcam.cli.masks import SAM2_FLAGS, SETTING_FLAGS
from samcam.sam import registry
from samcam.sam.settings import FastOptions, MaskRunOptions, Sam2Settings, SamSettings


@pytest.mark.slow
def test_masks_without_torch_exits_2_and_says_what_to_install(tmp_path):
    """`samcam masks` on a core install: a one-line error and exit 2, no traceback."""
    import subprocess
    import sys

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "a.png")
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "from samcam.cli import main\n"
        f"sys.exit(main(['masks', '--images', {str(images)!r}, '--out', {str(tmp_path / 'out')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "samcam masks: error:" in result.stderr and "pip install 'samcam[sam]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_help_states_each_familys_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["masks", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "0.88 (SAM, HQ-SAM, MobileSAM), 0.8 (SAM 2.1)" in text
    assert "family's own generator's default" in text
    for name in registry.MODEL_NAMES:
        assert name in text


MASKS = dict(build_parser().commands)["masks"]


def _action(flag):
    return next(a for a in MASKS._actions if flag in a.option_strings)


def test_flags_defaults_and_help_come_from_the_fields():
    assert SETTING_FLAGS == ("points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh",
                             "box_nms_thresh", "crop_n_layers", "min_mask_region_area")
    assert SAM2_FLAGS == ("use_m2m",)
    for name in SETTING_FLAGS:
        action = _action("--" + name.replace("_", "-"))
        assert action.default is None and SamSettings.specs()[name].help in action.help  # None: the family's default
        assert f"default: {SamSettings.defaults()[name]}" in action.help
    assert Sam2Settings.specs()["use_m2m"].help in _action("--use-m2m").help
    for flag, name in (("--device", "device"), ("--decode-threads", "decode_threads"), ("--workers", "workers"),
                       ("--source", "source"), ("--dtype", "dtype"), ("--overwrite", "overwrite")):
        action = _action(flag)
        assert action.dest == name and action.default == MaskRunOptions.defaults()[name], flag
        assert action.help == MaskRunOptions.specs()[name].help, flag
    assert _action("--images-per-batch").help == FastOptions.specs()["images_per_batch"].help
    assert _action("--no-download").help == MaskRunOptions.specs()["allow_download"].negate_help
    assert _action("--no-progress").default is True  # the command shows a bar; the library does not
    assert _action("--list").dest == "list_file"


@pytest.mark.parametrize("flags, message", [
    (["--points-per-side", "0"], "--points-per-side must be >= 1, got 0"),
    (["--pred-iou-thresh", "nan"], "--pred-iou-thresh must be a finite number, got nan"),
    (["--box-nms-thresh", "inf"], "--box-nms-thresh must be a finite number, got inf"),
    (["--decode-threads", "0"], "--decode-threads must be >= 1, got 0"),
])
def test_bad_flag_values_are_usage_errors_before_any_work(tmp_path, flags, message, capsys):
    from PIL import Image

    # the generator settings are checked for a mask model (segment-anything installed, no weights needed)
    pytest.importorskip("segment_anything", reason="samcam masks --source sam needs segment-anything ([sam] extra)")
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "a.png")
    code = main(["masks", "--images", str(images), "--out", str(tmp_path / "out"), "--model", "vit_b",
                 "--no-download", "--device", "cpu", "--no-progress"] + flags)
    assert code == 2 and f"samcam masks: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

