"""Work arrays that are made once and then reused, step after step."""

from __future__ import annotations

import numpy as np


class Buffers:
    """A small pool of named work arrays.

    ``get(name, shape, dtype)`` returns the same array on every call with the
    same arguments, so that a training step, once warm, allocates nothing. With
    ``reuse=False`` every call returns a fresh array instead: the plain
    behaviour, for layers used on their own, where a caller may keep what a
    layer returned.

    A network's batches come in a few shapes (full batches, a smaller last one,
    evaluation chunks); each shape keeps its own array.
    """

    __slots__ = ("_arrays", "reuse")

    def __init__(self, reuse: bool = False) -> None:
        self.reuse = reuse
        self._arrays: dict[tuple, np.ndarray] = {}

    def get(self, name: object, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        if not self.reuse:
            return np.empty(shape, dtype)
        key = (name, shape, dtype)
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = np.empty(shape, dtype)
        return array

    def clear(self) -> None:
        self._arrays.clear()
