"""Checkpoints are data, never code: every weights file the project reads goes through this module.

`load_weights(path, option)` is `torch.load(..., weights_only=True)`: tensors, dicts, lists, numbers and strings
only; a pickle that names any other global (a crafted file that would run a command, an object checkpoint) is
refused with one line naming the file and the option, as is a file that is no checkpoint at all.

Ultralytics' own `.pt` files pickle the whole model (classes of `ultralytics.nn` and `torch.nn`), and Ultralytics
unpickles them itself. `check_ultralytics(path, option)` is the gate before that: the checkpoint must be a torch
zip whose every global (`torch.serialization.get_unsafe_globals_in_checkpoint`, read without unpickling) is a
*class* under `ultralytics.nn.` or `torch.nn.` (or one of the data rebuilders in SAFE_DATA), so no function such as
`os.system` or `builtins.eval` can be reached. It runs before any render or training.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from core.errors import UserError

MODEL_PREFIXES = ("ultralytics.nn.", "torch.nn.modules.", "torch.nn.parameter.")
SAFE_DATA = frozenset({"ultralytics.utils.IterableSimpleNamespace", "collections.OrderedDict", "builtins.set",
                       "builtins.frozenset", "numpy.dtype", "numpy.ndarray", "numpy.core.multiarray._reconstruct",
                       "numpy._core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
                       "numpy._core.multiarray.scalar", "numpy.dtypes.Float64DType", "numpy.dtypes.Float32DType",
                       "numpy.dtypes.Int64DType"})


def _exists(path: Path, option: str) -> None:
    if not path.is_file():
        raise UserError(f"{path}: {option}: file not found (a local checkpoint; nothing is downloaded)")


def load_weights(path: str | os.PathLike, option: str) -> Any:
    """torch.load with weights_only=True on CPU; anything else in the file is a one-line UserError."""
    import pickle
    import zipfile

    import torch
    path = Path(path)
    _exists(path, option)
    with open(path, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head[:1] != b"\x80":       # neither torch's zip nor a pickle
        raise UserError(f"{path}: {option}: not a torch checkpoint (neither a torch zip nor a pickle)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "not a weights-only checkpoint"
        raise UserError(f"{path}: {option}: refused, the checkpoint holds more than weights ({first[:160]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise UserError(f"{path}: {option}: not a torch checkpoint ({str(e).splitlines()[0][:160]})") from None


def _is_model_class(name: str) -> bool:
    if not name.startswith(MODEL_PREFIXES):
        return False
    module, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type)


def check_ultralytics(path: str | os.PathLike, option: str = "--yolo-weights") -> Path:
    """An Ultralytics .pt that names only model classes and data rebuilders (module docstring). -> path."""
    import zipfile

    import torch.serialization as ser
    path = Path(path)
    _exists(path, option)
    if not zipfile.is_zipfile(path):
        raise UserError(f"{path}: {option}: not an Ultralytics checkpoint (a .pt saved by torch is a zip file)")
    try:
        names = ser.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as e:             # a zip that is not a torch archive: torch raises several kinds
        raise UserError(f"{path}: {option}: not a torch checkpoint ({str(e).splitlines()[0][:160]})") from None
    bad = sorted(n for n in names if n not in SAFE_DATA and not _is_model_class(n))
    if bad:
        raise UserError(f"{path}: {option}: refused, the checkpoint names {', '.join(bad[:3])}"
                        f"{' ...' if len(bad) > 3 else ''}, which is no model class (a pickle that runs code?)")
    if not any(n.startswith("ultralytics.nn.") for n in names):
        raise UserError(f"{path}: {option}: not an Ultralytics checkpoint (no ultralytics model inside)")
    return path
