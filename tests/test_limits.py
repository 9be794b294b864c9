"""samcam.limits: the SAMCAM_MAX_* variables, checked once at start and applied by every
reader; memory errors and PIL's refusals as per-image errors naming the file."""
from __future__ import annotations

import io
import json
import lzma

import numpy as np
import pytest
from hostile import (
    npz_bytes,
    png_header_only,
)
from PIL import Image
from refine_data import run_python

from samcam import limits as limits_module
from samcam import masks as store
from samcam.cli import main
from samcam.errors import ImageError
from samcam.io import (
    read_image,
    read_label_png,
    write_label_png,
)
from samcam.limits import Limits, LimitsError, check_environment, image_open_error, limits, on_memory_error
from samcam.safe_pickle import load_npy


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


def _every_input_kind(root):
    """One small file of each kind samcam reads: {kind: (path, reader)}."""
    masks = np.zeros((3, 8, 10), bool)
    masks[0, :4] = masks[1, 2:6, 3:9] = masks[2] = True
    store.write(root / "store", masks)
    amg = root / "amg"
    amg.mkdir()
    for index, mask in enumerate(masks):
        Image.fromarray(mask.astype(np.uint8) * 255).save(amg / f"{index}.png")
    (amg / "metadata.csv").write_text("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,"
                                      "predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h\n"
                                      + "".join(f"{i},1,0,0,1,1,0,0,0.9,0.9,0,0,10,8\n" for i in range(3)))

    def runs(mask):  # uncompressed COCO RLE: column-major runs, starting with zeros
        flat = mask.T.ravel().astype(np.int8)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
        return np.diff(np.concatenate([[0], edges])).tolist()

    (root / "rle.json").write_text(json.dumps([{"segmentation": {"size": [8, 10], "counts": runs(m)}} for m in masks]))
    Image.fromarray(np.full((8, 10, 3), 90, np.uint8)).save(root / "image.jpg")
    write_label_png(root / "label.png", np.arange(80, dtype=np.uint8).reshape(8, 10) % 21)
    np.save(root / "cam.npy", {"keys": np.array([1]), "high_res": np.ones((1, 8, 10), np.float32)})
    return {"mask store": (root / "store.masks.npz", store.load), "amg.py folder": (amg, store.load),
            "RLE JSON": (root / "rle.json", store.load), "JPEG image": (root / "image.jpg", read_image),
            "label PNG": (root / "label.png", read_label_png), "CAM .npy": (root / "cam.npy", load_npy)}


def test_size_limits_apply_to_every_reader_and_name_their_variable(tmp_path, monkeypatch):
    kinds = _every_input_kind(tmp_path)
    for path, read in kinds.values():
        read(path)  # within the default limits: read
    loaded = store.load(kinds["RLE JSON"][0])
    assert len(loaded) == 3 and np.array_equal(loaded.dense, store.load(kinds["mask store"][0]).dense)
    monkeypatch.setenv("SAMCAM_MAX_FILE_BYTES", "40")
    for kind, (path, read) in kinds.items():
        with pytest.raises(ValueError, match=r"more than the limit of 40 \(raise SAMCAM_MAX_FILE_BYTES") as info:
            read(path)
        assert str(path) in str(info.value), kind
    monkeypatch.delenv("SAMCAM_MAX_FILE_BYTES")
    for variable, value, message in (("SAMCAM_MAX_MASKS", "2", "3 masks, more than the limit of 2"),
                                     ("SAMCAM_MAX_MASK_BYTES", "16", "more than the limit of 16"),
                                     ("SAMCAM_MAX_PIXELS", "79", "more than the limit of 79")):
        monkeypatch.setenv(variable, value)
        for kind in ("mask store", "amg.py folder", "RLE JSON"):
            path, read = kinds[kind]
            with pytest.raises(ValueError, match=rf"{message}.*{variable}") as info:
                read(path)
            assert str(path) in str(info.value), (variable, kind)
        monkeypatch.delenv(variable)
    monkeypatch.setenv("SAMCAM_MAX_PIXELS", "79")
    for kind in ("JPEG image", "label PNG"):
        path, read = kinds[kind]
        with pytest.raises(ValueError, match=rf"{path.name}.*more than the limit of 79 \(raise SAMCAM_MAX_PIXELS"):
            read(path)


@pytest.mark.slow
def test_running_out_of_memory_reading_one_image_fails_that_image_with_its_file(tmp_path):
    """A mask store whose masks fit the limits but not the memory at hand (2 GB of masks
    under a 1 GiB address-space cap): MemoryError was an internal error (exit 3) naming no
    file. Now that image fails with its file named, and the other is written (exit 1)."""
    write_label_png(tmp_path / "pseudo" / "a.png", np.zeros((8, 10), np.uint8))
    store.write(tmp_path / "masks" / "a", np.ones((1, 8, 10), bool))
    write_label_png(tmp_path / "pseudo" / "b.png", np.zeros((2000, 2000), np.uint8))
    big = tmp_path / "masks" / "b.masks.npz"  # 4,000 empty masks of 2000×2000: 2.0 GB bit-packed, 2 GiB allowed
    big.write_bytes(npz_bytes(format=np.array("samcam-masks/1"), image_shape=np.array([2000, 2000]),
                              spans=np.zeros((4000, 2), np.int64), words_lzma=np.frombuffer(lzma.compress(b""), np.uint8)))
    result = run_python(f"""
        import re, resource, sys
        from samcam.cli import main
        with open("/proc/self/status") as handle:
            size = int(re.search(r"VmSize:\\s+(\\d+)", handle.read()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 2**30, size + 2**30))
        sys.exit(main(["refine", "--pseudo", {str(tmp_path / "pseudo")!r}, "--masks", {str(tmp_path / "masks")!r},
                       "--out", {str(tmp_path / "out")!r}, "--no-progress"]))
    """)
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    assert f"{big}: out of memory while reading this mask store file" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["a.png"]
