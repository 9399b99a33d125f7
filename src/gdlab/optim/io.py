"""Optimizer files: the ``.npz`` an :class:`~gdlab.optim.Optimizer` saves and loads.

A file is a tree written by :func:`gdlab._io.save_tree` (atomically, with the
mode every other output gets): the optimizer's ``state_dict()``, its arrays
stored as arrays and the rest as JSON. Files written before this layout (a
``__meta__`` document and a ``state_index``) are still read.

Every way a file can fail to be one (missing members, truncation, flipped
bits, a zip that is not an ``.npz``, JSON that is not a state) raises one
exception, ``ValueError("PATH is not a gdlab optimizer file: WHY")``; a path
with no file raises ``FileNotFoundError`` naming it. This module knows the
format only: :func:`gdlab.optim.load`, which also rebuilds the optimizer,
lives in :mod:`gdlab.optim.registry`.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._io import NotAnNpz, load_tree, open_npz, save_tree, unsavable
from ..schedules import SCHEDULES

__all__ = ["function_in_schedule", "not_an_optimizer_file", "read_state", "write_state"]

#: What reading a damaged or foreign file can raise, from zipfile, zlib, NumPy
#: and JSON; all of them mean "not an optimizer file".
_READ_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    OSError,
    UnicodeDecodeError,
    zipfile.BadZipFile,
    zlib.error,
    json.JSONDecodeError,
)


def not_an_optimizer_file(path: str | os.PathLike, why: object) -> ValueError:
    """The one error for a file that cannot be an optimizer's: ``PATH is not ...: WHY``."""
    if isinstance(why, BaseException):
        why = str(why) or type(why).__name__
    return ValueError(f"{path} is not a gdlab optimizer file: {why}")


def write_state(path: str | os.PathLike, state_dict: Mapping[str, Any]) -> Path:
    """Write ``state_dict`` to ``path`` atomically; an ``OSError`` names ``path``."""
    path = Path(path)
    try:
        return save_tree(path, dict(state_dict))
    except TypeError as error:  # raised before anything is written
        raise TypeError(
            f"cannot write the optimizer file {path}: {_unwritable(state_dict, error)}, which "
            "a file cannot keep (it keeps numbers, strings, lists, dicts and arrays): keep "
            "the optimizer's state_dict() in memory instead"
        ) from error
    except OSError as error:
        code = error.errno if error.errno is not None else errno.EIO
        reason = error.strerror or str(error)
        raise OSError(code, f"cannot write the optimizer file ({reason})", str(path)) from error


def _unwritable(state_dict: Mapping[str, Any], error: TypeError) -> str:
    """What in ``state_dict`` a file cannot keep, in words: ``"the Multiplicative
    schedule's lr_lambda (the lr schedule's schedules[1].lr_lambda) is a Python
    function"``, naming the schedule and its argument as ``to_config()`` does."""
    named = function_in_schedule(state_dict)
    if named is not None:
        return f"{named} is a Python function"
    found = unsavable(state_dict)
    if found is None:
        return f"it holds what JSON cannot ({error})"
    where, value = found
    what = "a Python function" if callable(value) else f"a {type(value).__name__}"
    return f"state_dict(){where} is {what}"


def function_in_schedule(tree: Any, *, path: bool = True) -> str | None:
    """The first Python function in a schedule's config in ``tree`` (a state dict, an
    optimizer's hyperparameters), in words: ``"the Multiplicative schedule's lr_lambda
    (the lr schedule's schedules[1].lr_lambda)"``, without ``path`` ``"the
    Multiplicative schedule's lr_lambda"``; ``None`` when no schedule holds one."""
    found = _schedule_function(tree)
    if found is None:
        return None
    owner, where = found
    argument = where.rsplit(".", 1)[-1]
    inside = "" if where == argument or not path else f" (the lr schedule's {where})"
    return f"the {owner} schedule's {argument}{inside}"


def _schedule_function(tree: Any, where: str = "", owner: str | None = None) -> Any:
    """``(schedule class, argument path)`` of the first Python function in a schedule's
    config in ``tree`` (an optimizer's state dict): ``("Multiplicative",
    "schedules[1].lr_lambda")``, the path from the outermost schedule; else ``None``."""
    if isinstance(tree, Mapping):
        name = tree.get("name")
        if owner is not None and isinstance(name, str) and name in SCHEDULES:
            owner = SCHEDULES[name].__name__
        for key, value in tree.items():
            if owner is None:  # outside a schedule: look for one
                inner = value.get("name") if isinstance(value, Mapping) else None
                if key == "schedule" and isinstance(inner, str) and inner in SCHEDULES:
                    found = _schedule_function(value, "", SCHEDULES[inner].__name__)
                else:
                    found = _schedule_function(value)
            elif callable(value):
                return owner, f"{where}.{key}" if where else str(key)
            else:
                found = _schedule_function(value, f"{where}.{key}" if where else str(key), owner)
            if found is not None:
                return found
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            found = _schedule_function(value, f"{where}[{i}]" if owner else where, owner)
            if found is not None:
                return found
    return None


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """The ``state_dict`` saved in ``path``; its contents are checked by the optimizer."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such optimizer file", str(path))
    if path.is_dir():
        raise not_an_optimizer_file(path, "it is a directory")
    try:
        # what an .npz is (empty, text, one array, damaged): open_npz's to say
        with open_npz(path, "a gdlab optimizer file") as data:
            legacy = "__meta__" in data.files and "__tree__" not in data.files
        tree = _read_legacy(path) if legacy else load_tree(path)
    except PermissionError:
        raise  # a file we may not read may well be an optimizer's
    except NotAnNpz as error:
        raise not_an_optimizer_file(path, error.why) from error
    except _READ_ERRORS as error:
        # load_tree's own ValueError repeats the path; give the reason beneath it.
        cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
        raise not_an_optimizer_file(path, _reason(cause)) from error
    if not isinstance(tree, dict):
        raise not_an_optimizer_file(path, f"it holds a {type(tree).__name__}, not a state dict")
    return tree


def _reason(error: BaseException) -> str:
    text = str(error)
    if isinstance(error, KeyError):
        text = f"no member {text}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _read_legacy(path: Path) -> dict[str, Any]:
    """A file in the first layout: ``__meta__`` JSON, arrays named by ``state_index``."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["__meta__"]))
        if not isinstance(meta, dict):
            raise TypeError(f"__meta__ is a {type(meta).__name__}, not a dict")
        index = meta.pop("state_index")
        if index is None:
            meta["state"] = None
            return meta
        meta["state"] = {
            key: {name: np.array(data[member]) for name, member in names.items()}
            for key, names in index.items()
        }
    return meta
