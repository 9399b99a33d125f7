"""Work arrays that are made once and then reused, step after step."""

from __future__ import annotations

import numpy as np

#: Arrays a pool keeps per name (one per batch shape and dtype). A training run
#: needs a few (full batches, a smaller last one, evaluation chunks); beyond
#: this the oldest is let go, so that calls on ever new shapes (predictions on
#: inputs of every size) do not grow the pool without end.
MAX_SHAPES = 8


class Buffers:
    """A small pool of named work arrays.

    ``get(name, shape, dtype)`` returns the same array on every call with the
    same arguments, so that a training step, once warm, allocates nothing. With
    ``reuse=False`` every call returns a fresh array instead: the plain
    behaviour, for layers used on their own, where a caller may keep what a
    layer returned.

    A network's batches come in a few shapes (full batches, a smaller last one,
    evaluation chunks); each shape keeps its own array, up to
    :data:`MAX_SHAPES` per name (the oldest is dropped first).
    """

    __slots__ = ("_arrays", "_shapes", "reuse")

    def __init__(self, reuse: bool = False) -> None:
        self.reuse = reuse
        self._arrays: dict[tuple, np.ndarray] = {}
        self._shapes: dict[object, list[tuple]] = {}

    def get(self, name: object, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if not self.reuse:
            return np.empty(shape, dtype)
        key = (name, shape, dtype)
        array = self._arrays.get(key)
        if array is None:
            array = self._make(key)
        return array

    def _make(self, key: tuple) -> np.ndarray:
        """A new array for ``key``, dropping the oldest of its name when there are too many."""
        keys = self._shapes.setdefault(key[0], [])
        if len(keys) >= MAX_SHAPES:
            del self._arrays[keys.pop(0)]
        array = np.empty(key[1], key[2])
        self._arrays[key] = array
        keys.append(key)
        return array

    def clear(self) -> None:
        self._arrays.clear()
        self._shapes.clear()
