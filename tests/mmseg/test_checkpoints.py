"""mmengine checkpoints under torch's weights_only loading (samcam.mmseg.checkpoints): resume
reads them, and their getattr reaches only the history buffer's statistics."""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from mmseg_runs import make_voc_dataset, needs_config_parser, needs_mmseg_models
from mmseg_runs import tiny_config as _tiny

from samcam.cli import main


@pytest.fixture
def dataset(tmp_path):
    return make_voc_dataset(tmp_path)


def _torch_too_old():
    """None if torch.load defaults to weights_only=True (torch >= 2.6), else why not (skip reason)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch is not installed; `make test` installs it with the [mmseg] extra"
    if tuple(int(part) for part in version.split("+")[0].split(".")[:2]) < (2, 6):
        return f"torch {version} does not load with weights_only=True by default"
    return None


TORCH_WEIGHTS_ONLY_DEFAULT = _torch_too_old()


@pytest.fixture
def empty_allow_list(monkeypatch):
    """torch's weights_only allow-list emptied for one test (restored after), and
    samcam.mmseg.checkpoints unimported, so only a config's custom_imports can fill it."""
    import torch

    saved = torch.serialization.get_safe_globals()
    imported = "samcam.mmseg.checkpoints" in sys.modules
    torch.serialization.clear_safe_globals()
    monkeypatch.delitem(sys.modules, "samcam.mmseg.checkpoints", raising=False)
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    yield
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)
    if not imported:  # imported during the test, its globals now cleared: a later import must add them again
        sys.modules.pop("samcam.mmseg.checkpoints", None)


class _Plant:
    """Unpickled, it would create a folder: a stand-in for a checkpoint that runs code."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return os.makedirs, (self.path,)


def _assert_allow_list_is_exactly_what_it_holds(checkpoint: Path):
    """Every entry of samcam's list is needed to load a real mmengine checkpoint, and together
    they suffice; the config's custom_imports (the only importer here) registered that list."""
    import torch

    from samcam.mmseg.checkpoints import mmengine_checkpoint_globals

    entries = mmengine_checkpoint_globals()
    registered = torch.serialization.get_safe_globals()
    assert sorted(name for _, name in registered) == sorted(name for _, name in entries)
    try:
        for left_out in entries:
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals([entry for entry in entries if entry is not left_out])
            with pytest.raises(pickle.UnpicklingError, match=left_out[1].rsplit(".", 1)[-1]):
                torch.load(checkpoint, map_location="cpu")
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(registered)
    torch.load(checkpoint, map_location="cpu")


@pytest.mark.slow
@needs_mmseg_models
@pytest.mark.skipif(bool(TORCH_WEIGHTS_ONLY_DEFAULT), reason=str(TORCH_WEIGHTS_ONLY_DEFAULT))
def test_resume_reads_mmengine_checkpoints_with_weights_only(dataset, tmp_path, empty_allow_list):
    """Resume and load_from with torch.load's safe default and no TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD:
    the written config allow-lists exactly what mmengine pickled, and nothing else loads."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    out = tmp_path / "config.py"
    assert main(["mmseg-config", "--labels", str(dataset["refined"]), "--data-root", str(dataset["voc"]),
                 "--out", str(out)]) == 0

    def runner(iters, work, **settings):
        cfg = _tiny(Config.fromfile(str(out)), work, iters)  # imports samcam.mmseg.checkpoints
        cfg.train_cfg.val_interval = 1  # the checkpoint then holds the last validation's metrics too
        cfg.update(settings)
        return Runner.from_cfg(cfg)

    first = runner(2, tmp_path / "work")
    first.train()
    losses = list(first.message_hub.get_scalar("train/loss").data[0])
    checkpoint = tmp_path / "work" / "iter_2.pth"
    assert "val/mIoU" in torch.load(checkpoint, map_location="cpu")["message_hub"]["log_scalars"]

    _assert_allow_list_is_exactly_what_it_holds(checkpoint)

    resumed = runner(4, tmp_path / "work", resume=True, load_from=str(checkpoint))
    resumed.load_or_resume()
    assert resumed.iter == 2
    for key, value in torch.load(checkpoint, map_location="cpu")["state_dict"].items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    resumed.train()
    assert resumed.iter == 4
    history = list(resumed.message_hub.get_scalar("train/loss").data[0])
    assert len(history) == 4 and history[:2] == losses  # the message hub came back, then 2 more steps

    # A checkpoint carrying one more pickled object is refused, and the object never runs.
    planted = tmp_path / "planted"
    evil = torch.load(checkpoint, map_location="cpu")
    evil["meta"]["note"] = _Plant(planted)
    torch.save(evil, tmp_path / "evil.pth")
    for settings in ({"load_from": str(tmp_path / "evil.pth")},
                     {"resume": True, "load_from": str(tmp_path / "evil.pth")}):
        refused = runner(4, tmp_path / "work_evil", **settings)
        with pytest.raises(pickle.UnpicklingError, match="makedirs"):
            refused.load_or_resume()
        assert not planted.exists()
    torch.load(tmp_path / "evil.pth", map_location="cpu", weights_only=False)
    assert planted.is_dir(), "the planted object is real: the unsafe loader ran it"


class _Reach:
    """Unpickled, ``getattr(owner, name)``: how a pickle reaches past an allowed object."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@needs_config_parser
@pytest.mark.skipif(bool(TORCH_WEIGHTS_ONLY_DEFAULT), reason=str(TORCH_WEIGHTS_ONLY_DEFAULT))
def test_a_checkpoints_getattr_reaches_only_history_buffer_statistics(tmp_path, empty_allow_list):
    import torch
    from mmengine.logging import HistoryBuffer

    import samcam.mmseg.checkpoints  # noqa: F401  (registers on import)

    path = tmp_path / "reach.pth"
    torch.save({"ok": [_Reach(HistoryBuffer, name) for name in ("min", "max", "current", "mean")]}, path)
    assert torch.load(path)["ok"] == [HistoryBuffer.min, HistoryBuffer.max, HistoryBuffer.current,
                                      HistoryBuffer.mean]
    for owner, name in ((HistoryBuffer, "__init__"), (HistoryBuffer, "register_statistics"),
                        (np.ndarray, "tofile"), (HistoryBuffer.min, "__globals__")):
        torch.save({"bad": _Reach(owner, name)}, path)
        with pytest.raises(pickle.UnpicklingError, match=f"getattr.*'{name}'.* is refused"):
            torch.load(path)

