"""Fixtures of the SAM tests: the tiny random-weight models, their checkpoints, test images.

Nothing here imports torch when this file is imported: where torch is missing (make
test-core) the fixtures that need it skip their tests, with the reason.
"""
from __future__ import annotations

import pytest
from family_models import FAMILY_SHAPES, Tiny, family_image
from PIL import Image
from sam_checks import SHAPES


def _torch():
    return pytest.importorskip("torch", reason="the tiny SAMs need torch ([sam] extra)")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The tiny models' ops are far too small for intra-op threads: on the 2-core CI machine
    they made these tests ~10x slower."""
    try:
        import torch
    except ImportError:  # nothing to set; the tests that need torch skip themselves
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The tiny SAM (tests/support/tiny_sam.py) saved as a checkpoint file."""
    torch = _torch()
    from tiny_sam import tiny_sam

    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    torch.save(tiny_sam().state_dict(), path)
    return path


@pytest.fixture(scope="module")
def sam(checkpoint):
    """The tiny SAM as samcam loads it from ``checkpoint``."""
    from samcam.sam.generate import load_sam

    return load_sam(None, checkpoint, "cpu")


@pytest.fixture(scope="module")
def rel_pos_sam():
    """The tiny SAM with random relative position tables (SAM's are zero until trained),
    so that fast mode's fused attention is checked with them."""
    _torch()
    from tiny_sam import random_rel_pos, tiny_sam

    return random_rel_pos(tiny_sam())


@pytest.fixture(scope="module")
def rel_pos_checkpoint(rel_pos_sam, tmp_path_factory):
    """``rel_pos_sam`` saved as a checkpoint file."""
    torch = _torch()

    path = tmp_path_factory.mktemp("ckpt") / "tiny_sam.pth"
    torch.save(rel_pos_sam.state_dict(), path)
    return path


@pytest.fixture()
def images(tmp_path):
    """images/{name}.png, one noise image of each of sam_checks.SHAPES."""
    _torch()  # tests/support/tiny_sam.py imports it
    from tiny_sam import write_test_images

    return write_test_images(tmp_path / "images", SHAPES)


@pytest.fixture(scope="module")
def family_images(tmp_path_factory):
    """Two noise images (family_models.FAMILY_SHAPES) for the tiny models of each family."""
    folder = tmp_path_factory.mktemp("images")
    for seed, (name, shape) in enumerate(FAMILY_SHAPES.items()):
        Image.fromarray(family_image(shape, seed)).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``tiny(kind)``: the tiny model of that family (family_models.Tiny), built once per module."""
    folder = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = Tiny(kind, folder)
        return cache[kind]

    return get
