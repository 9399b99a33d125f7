"""Atomic files: JSON documents and trees of arrays (``.npz`` plus JSON).

Every writer goes to a temporary file in the target's directory and then
``os.replace``-s it, so a reader sees the old file or the new one, never half
of one, whatever interrupts the write.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["atomic_write", "load_tree", "save_tree", "write_json"]

_ARRAY = "__ndarray__"


def _file_mode() -> int:
    """0666 less the process's umask: the mode ``open`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then move it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)  # mkstemp makes it 0600; a report is to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, document: Any) -> Path:
    """Write ``document`` as indented JSON, atomically (NaN and inf allowed)."""
    text = json.dumps(document, indent=2, allow_nan=True) + "\n"
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def _split(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``tree`` with every array replaced by a reference into ``arrays``."""
    if isinstance(tree, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = tree
        return {_ARRAY: name}
    if isinstance(tree, dict):
        return {str(k): _split(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_split(v, arrays) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join(tree: Any, data: Any) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY}:
            return np.array(data[tree[_ARRAY]])
        return {k: _join(v, data) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, data) for v in tree]
    return tree


def save_tree(path: str | os.PathLike, tree: Any) -> Path:
    """Save nested dicts and lists of plain values and arrays to an ``.npz``, atomically.

    Arrays keep their dtype and shape exactly; the rest goes into a JSON
    document stored beside them (tuples come back as lists).
    """
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps(_split(tree, arrays), allow_nan=True)
    return atomic_write(path, lambda fh: np.savez(fh, __tree__=np.array(skeleton), **arrays))


def load_tree(path: str | os.PathLike) -> Any:
    """Read what :func:`save_tree` wrote.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is not such a tree (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            skeleton = json.loads(str(data["__tree__"]))
            return _join(skeleton, data)
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a gdlab checkpoint ({error})") from error
