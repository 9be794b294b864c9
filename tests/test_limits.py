"""samcam.limits: the SAMCAM_MAX_* variables, checked once at start; memory errors and PIL's
refusals as per-image errors naming the file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hostile import png_header_only
from PIL import Image

from samcam import limits as limits_module
from samcam import masks as store
from samcam.cli import main
from samcam.errors import ImageError
from samcam.io import write_label_png
from samcam.limits import Limits, LimitsError, check_environment, image_open_error, limits, on_memory_error


def test_limits_come_from_the_variables_and_follow_their_changes(monkeypatch):
    for variable in limits_module.ENV.values():
        monkeypatch.delenv(variable, raising=False)
    assert limits() == Limits()
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "1_000")
    monkeypatch.setenv("SAMCAM_MAX_MASKS", " 7 ")
    assert limits() == Limits(max_pixels=1000, max_masks=7)
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "2000")  # a changed value is read again
    assert limits().max_pixels == 2000
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "")  # empty: the default
    assert limits().max_pixels == Limits().max_pixels


@pytest.mark.parametrize("variable, value", [("SAMCAM_MAX_PIXELS", "abc"), ("SAMCAM_MAX_FILE_BYTES", "1e9"),
                                             ("SAMCAM_MAX_MASKS", "0"), ("SAMCAM_MAX_MASK_BYTES", "-5"),
                                             ("SAMCAM_MAX_PIXELS", "2GB"), ("SAMCAM_MAX_PIXELS", "1.5")])
def test_a_bad_variable_is_one_error_naming_it(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(LimitsError) as caught:
        check_environment()
    assert str(caught.value) == (f"{variable}={value!r}: expected a positive whole number (such as 1000000000 or "
                                 "1_000_000_000; no units or exponents)")
    assert isinstance(caught.value, ValueError)


def _refine_dataset(root):
    for name in ("a", "b"):
        write_label_png(root / "pseudo" / f"{name}.png", np.zeros((8, 10), np.uint8))
        store.write(root / "masks" / name, np.ones((1, 8, 10), bool))


@pytest.mark.parametrize("variable, value", [("SAMCAM_MAX_PIXELS", "abc"), ("SAMCAM_MAX_FILE_BYTES", "1e9")])
def test_a_bad_variable_stops_a_command_before_any_work(tmp_path, monkeypatch, capsys, variable, value):
    """They used to fail every image (exit 1, one failure per image); now one usage error, exit 2."""
    _refine_dataset(tmp_path)
    monkeypatch.setenv(variable, value)
    code = main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"samcam refine: error: {variable}={value!r}: expected a positive whole number "
                                        "(such as 1000000000 or 1_000_000_000; no units or exponents)"]
    assert not (tmp_path / "out").exists()
    monkeypatch.delenv(variable)
    assert main(["refine", "--pseudo", str(tmp_path / "pseudo"), "--masks", str(tmp_path / "masks"),
                 "--out", str(tmp_path / "out"), "--no-progress"]) == 0


def test_memory_errors_name_the_file():
    with pytest.raises(ImageError) as caught:
        with on_memory_error("m/x.masks.npz", "mask store file"):
            raise MemoryError()
    assert str(caught.value).startswith("m/x.masks.npz: out of memory while reading this mask store file; ")
    with pytest.raises(KeyError):  # anything else goes through
        with on_memory_error("m/x.masks.npz", "mask store file"):
            raise KeyError("k")


def _pil_error(data: bytes) -> Exception:
    try:
        Image.open(io.BytesIO(data))
    except Exception as error:  # what PIL raised
        return error
    raise AssertionError("PIL opened it")


def test_pil_refusals_are_said_with_samcams_limit_and_the_file():
    """PIL refuses images above twice its own limit before samcam checks the header: its message
    cited PIL's limit (178,956,970) and showed '<_io.BytesIO object at 0x...>' for junk."""
    bomb = _pil_error(png_header_only(20000, 20000))
    assert "178956970" in str(bomb) or "exceeds limit" in str(bomb)
    message = str(image_open_error("images/x.png", "image", bomb))
    assert message == ("images/x.png: image is 400,000,000 pixels, more than the limit of 67,108,864 pixels "
                       "(raise SAMCAM_MAX_PIXELS if the image is genuine)")
    junk = _pil_error(b"\xff\xd8\xff" + b"x" * 100)
    assert " object at 0x" in str(junk)
    message = str(image_open_error("images/y.jpg", "image", junk))
    assert message == "images/y.jpg: cannot read image (UnidentifiedImageError: cannot identify image file)"
    assert isinstance(image_open_error("a", "image", ValueError()), ImageError)


def test_image_readers_say_pil_refusals_with_samcams_limit_and_no_buffer_repr(tmp_path):
    from samcam.io import read_image, read_label_png
    (tmp_path / "bomb.png").write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ImageError) as caught:
        read_image(tmp_path / "bomb.png")
    assert str(caught.value) == (f"{tmp_path / 'bomb.png'}: image is 400,000,000 pixels, more than the limit of "
                                 "67,108,864 pixels (raise SAMCAM_MAX_PIXELS if the image is genuine)")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8\xff" + b"x" * 100)
    with pytest.raises(ImageError) as caught:
        read_image(tmp_path / "junk.jpg")
    assert str(caught.value) == f"{tmp_path / 'junk.jpg'}: cannot read image (UnidentifiedImageError: cannot identify image file)"
    (tmp_path / "junk.png").write_bytes(png_header_only(4, 3)[:33] + b"garbage")
    with pytest.raises(ImageError) as caught:
        read_label_png(tmp_path / "junk.png")
    assert " object at 0x" not in str(caught.value) and str(tmp_path / "junk.png") in str(caught.value)
