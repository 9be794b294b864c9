"""Label PNGs and images (samcam.images): round trips, huge or mislabelled files named in the
error, the pixel limit."""
from __future__ import annotations

import numpy as np
import pytest
from hostile import png_header_only
from PIL import Image
from refine_data import NAMES, refine_cli

from samcam.errors import ImageError
from samcam.images import read_image, write_label_png
from samcam.io import read_label_png


def test_5_huge_label_png_is_refused_with_its_name(refine_data, capsys):
    root, _, _ = refine_data
    (root / "pseudo" / f"{NAMES[0]}.png").write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ImageError, match=rf"{NAMES[0]}\.png: label PNG is 20000×20000 \(height×width\) = 400,000,000 pixels, more "
                                         r"than the limit of 67,108,864 \(raise SAMCAM_MAX_PIXELS"):
        read_label_png(root / "pseudo" / f"{NAMES[0]}.png")
    assert refine_cli(root) == 1
    err = capsys.readouterr().err
    assert f"{NAMES[0]}: ImageError: " in err and "unexpected" not in err and "internal error" not in err
    assert "5 written" in err


def test_10_a_jpeg_named_png_is_not_a_label(refine_data, capsys):
    root, labels, _ = refine_data
    path = root / "pseudo" / f"{NAMES[1]}.png"
    Image.fromarray(labels[NAMES[1]]).save(path, format="JPEG")
    with pytest.raises(ImageError, match=rf"{NAMES[1]}\.png: label PNG is a JPEG file, not a PNG"):
        read_label_png(path)
    assert refine_cli(root) == 1
    err = capsys.readouterr().err
    assert f"{NAMES[1]}.png: label PNG is a JPEG file, not a PNG" in err and "5 written" in err


def test_an_image_above_the_pixel_limit_cites_samcam_max_pixels(tmp_path, monkeypatch):
    import hostile

    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "10000")
    (tmp_path / "huge.png").write_bytes(hostile.png_header_only(50_000, 50_000))  # far above PIL's limit too
    with pytest.raises(ImageError) as refused:
        read_image(tmp_path / "huge.png")
    message = str(refused.value)
    assert "SAMCAM_MAX_PIXELS" in message and "2,500,000,000 pixels" in message and "10,000" in message
    assert "decompression bomb" not in message.lower()


def test_label_png_round_trip_modes_and_errors(tmp_path):
    label = np.arange(48, dtype=np.uint8).reshape(6, 8)
    label[0, 0] = 255
    for palette in (False, True):
        path = write_label_png(tmp_path / f"l{palette}.png", label, palette=palette)
        assert np.array_equal(read_label_png(path), label)
    from PIL import Image
    Image.new("RGB", (4, 4)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="rgb.png.*mode 'RGB'"):
        read_label_png(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="2-D uint8"):
        write_label_png(tmp_path / "x.png", label.astype(np.int32))
    assert not (tmp_path / "x.png").exists() and not list(tmp_path.glob("*.tmp"))

