"""Let ``torch.load(weights_only=True)`` read the checkpoints mmengine writes.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10 calls a plain
``torch.load(filename, map_location=...)`` for resume, ``load_from``, ``tools/test.py`` and
mmseg's ``init_model`` (mmengine 0.10.7 ``runner/checkpoint.py:347``, ``:415``, ``:438``).
Besides tensors and plain containers, ``Runner.save_checkpoint`` (``runner/runner.py:2229-2268``)
stores the message hub's state (``logging/message_hub.py:359-380``), which pickles by name:

* ``mmengine.logging.history_buffer.HistoryBuffer``, one per logged scalar (losses, lr, the
  validation metrics); each holds two numpy arrays, values (float64) and counts (int64),
  made by ``np.array`` from Python numbers (``logging/history_buffer.py:47-51``,
  ``logging/message_hub.py:132-138``): ``numpy._core.multiarray._reconstruct``,
  ``numpy.ndarray``, ``numpy.dtype``, and the float64 and int64 dtype classes (not named in
  the pickle, but torch sets a dtype's state only on an allowed class);
* ``builtins.getattr``: ``HistoryBuffer.__getstate__`` also stores its class's statistics
  methods (``history_buffer.py:211-218``, the defaults ``min``, ``max``, ``current``,
  ``mean`` of ``:55-58``), which pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``;
* ``numpy._core.multiarray.scalar``: the ``eta`` runtime info, a numpy float64
  (``hooks/iter_timer_hook.py:97``).

Importing this module allow-lists exactly those with ``torch.serialization.add_safe_globals``
(the numpy names as this numpy pickles them: ``numpy._core`` in numpy 2, ``numpy.core`` in
numpy 1). ``getattr`` is not allowed as such: a general getattr would reach any attribute of
any allowed object; the checkpoint's ``getattr`` resolves to :func:`history_buffer_statistic`,
which returns only those four methods. Any other pickled object is still refused, and
nothing else about ``torch.load`` changes. The configs ``samcam mmseg-config`` writes import
this module through ``custom_imports``, which mmengine imports in ``Config.fromfile``
(mmengine ``config/config.py:464-466``), called by mmseg 1.2.2's ``tools/train.py:58``,
``tools/test.py:86`` and ``init_model`` (``apis/inference.py:41``). So no
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is needed: that variable turns the safe loader off for
every load in the process, downloaded checkpoints included.
"""
from __future__ import annotations

import pickle
from typing import Any, List, Tuple

import numpy as np

#: HistoryBuffer's default statistics methods (mmengine logging/history_buffer.py:55-58).
HISTORY_BUFFER_STATISTICS = ("min", "max", "current", "mean")


def history_buffer_statistic(owner: Any, name: str) -> Any:
    """``getattr`` as an mmengine checkpoint uses it: ``HistoryBuffer.<statistic>`` and nothing else.

    Raises ``pickle.UnpicklingError`` (torch reports it as a refused weights_only load) for
    any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f"getattr({owner!r}, {name!r}) in a checkpoint is refused: samcam allows only "
        f"mmengine's HistoryBuffer statistics methods {', '.join(HISTORY_BUFFER_STATISTICS)}"
    )


def global_name(obj: Any) -> str:
    """``module.qualname``: how a pickle (and torch's allow-list) names ``obj``."""
    return f"{obj.__module__}.{obj.__qualname__}"


def mmengine_checkpoint_globals() -> List[Tuple[Any, str]]:
    """``(object, name in the pickle)`` for each global an mmengine checkpoint of an mmseg run holds.

    numpy's come from how this numpy pickles an array and a scalar, not from a written-out
    module path.
    """
    from mmengine.logging import HistoryBuffer

    reconstruct_array = np.zeros(1).__reduce__()[0]
    reconstruct_scalar = np.float64(0).__reduce__()[0]
    # The dtypes np.array gives Python floats and ints, as HistoryBuffer's arrays have them.
    dtype_classes = sorted({type(np.array([0.0]).dtype), type(np.array([0]).dtype)}, key=global_name)
    named = [HistoryBuffer, reconstruct_array, np.ndarray, np.dtype, *dtype_classes, reconstruct_scalar]
    return [(obj, global_name(obj)) for obj in named] + [(history_buffer_statistic, "builtins.getattr")]


def allow_mmengine_checkpoints() -> List[str]:
    """Allow-list :func:`mmengine_checkpoint_globals` for ``torch.load(weights_only=True)``.

    Safe to call again (torch keeps a set). Returns the allow-listed names; an empty list
    on torch < 2.4, which has no allow-list and does not default to ``weights_only=True``.
    """
    import torch

    if not hasattr(torch.serialization, "add_safe_globals"):
        return []
    safe = mmengine_checkpoint_globals()
    torch.serialization.add_safe_globals(safe)
    return [name for _, name in safe]


# mmengine's custom_imports only imports a module: registering is what importing it means.
allow_mmengine_checkpoints()
