"""Mini-batches: epoch partitions (seed 000) and random-sample batches (seeds 001, 003).

Two ways to feed a gradient-descent run, both drawing from a
``numpy.random.Generator`` that the caller passes in (never NumPy's global
state), so that a run can be repeated and every optimizer in a race can get
the same batches:

* **epoch** (seed 000): each epoch shuffles the sample indices with one
  permutation, cuts full batches of ``batch_size`` and keeps the remainder as
  a last, smaller batch. ``batch_size == n_samples`` is batch gradient
  descent, ``batch_size == 1`` is stochastic gradient descent.
* **random** (seeds 001, 003): every step draws ``batch_size`` indices at
  random, with replacement, and there are no epochs.

Samples lie on rows (``axis=0``, ``X[i]``, the default) or on columns
(``axis=1``, ``X[:, i]``, the course layout of seed 000).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from gdlab._checks import check_bool, check_choice, check_int, check_rng, fail

__all__ = [
    "MODES",
    "BatchStream",
    "epoch_batches",
    "mini_batches",
    "partition",
    "random_batches",
]

MODES = ("epoch", "random")


# -- argument checks ---------------------------------------------------------


def _check_axis(axis: Any) -> int:
    axis = check_int("axis", axis)
    if axis not in (0, 1):
        fail("axis", "0 (samples on rows) or 1 (samples on columns)", axis)
    return axis


def _check_batch_size(batch_size: Any, n_samples: int, what_n: str) -> int:
    """``batch_size`` in ``[1, n_samples]``; ``what_n`` says where ``n`` comes from."""
    batch_size = check_int("batch_size", batch_size, low=1)
    if batch_size > n_samples:
        fail("batch_size", f"at most {what_n} = {n_samples}", batch_size)
    return batch_size


def _check_arrays(X: Any, Y: Any, axis: int) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``X`` and ``Y`` as arrays with the same number of samples along ``axis``."""
    X = np.asarray(X)
    if X.ndim <= axis:
        fail("X.ndim", f"at least {axis + 1} for axis={axis}", X.ndim)
    n_samples = X.shape[axis]
    if Y is not None:
        Y = np.asarray(Y)
        if Y.ndim <= axis or Y.shape[axis] != n_samples:
            fail(
                "Y.shape",
                f"{n_samples} along axis {axis} to match X.shape = {X.shape}",
                Y.shape,
            )
    if n_samples < 1:
        fail(f"X.shape[{axis}]", "at least 1 (the number of samples)", n_samples)
    return X, Y, n_samples


# -- epoch partitions (seed 000) ----------------------------------------------


def partition(
    n_samples: int, batch_size: int, rng: np.random.Generator, *, drop_last: bool = False
) -> list[np.ndarray]:
    """Split one shuffled epoch of sample indices into mini-batches (seed 000).

    ::

        order = rng.permutation(n_samples)
        batches = order[0:b], order[b:2b], ..., order[k*b:]   (k = n_samples // b)

    The full batches come first; the remainder (``n_samples % batch_size``
    indices) is a last, smaller batch, dropped if ``drop_last``. Every index
    appears exactly once per epoch (or at most once with ``drop_last``).
    Call again, with the same generator, for the next epoch's permutation.

    Args:
        n_samples: number of samples ``n >= 1``.
        batch_size: ``b`` in ``[1, n]``; ``n`` is batch GD, ``1`` is SGD.
        rng: the generator that draws the permutation.
        drop_last: drop the smaller last batch. Default ``False``.

    Returns:
        A list of ``int64`` index arrays.

    >>> rng = np.random.default_rng(0)
    >>> batches = partition(10, 4, rng)
    >>> [len(b) for b in batches]
    [4, 4, 2]
    >>> sorted(np.concatenate(batches).tolist()) == list(range(10))
    True
    >>> [len(b) for b in partition(10, 4, rng, drop_last=True)]
    [4, 4]
    """
    n_samples = check_int("n_samples", n_samples, low=1)
    batch_size = _check_batch_size(batch_size, n_samples, "n_samples")
    rng = check_rng(rng)
    drop_last = check_bool("drop_last", drop_last)
    order = rng.permutation(n_samples)
    stop = n_samples - n_samples % batch_size if drop_last else n_samples
    return [order[start : start + batch_size] for start in range(0, stop, batch_size)]


def epoch_batches(
    X: Any,
    Y: Any,
    batch_size: int,
    rng: np.random.Generator,
    *,
    axis: int = 0,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Iterate over one epoch of ``(X_batch, Y_batch)`` pairs, shuffled.

    The partition is drawn (and the arguments checked) when this function is
    called, not at the first ``next``. ``Y`` may be ``None`` (then
    ``Y_batch`` is ``None``).

    Args:
        X: inputs, samples along ``axis``.
        Y: targets with as many samples along ``axis``, or ``None``.
        batch_size: in ``[1, n]``, ``n`` the number of samples.
        rng: the generator that draws the permutation.
        axis: ``0`` for samples on rows (``X[i]``), ``1`` for samples on
            columns (``X[:, i]``, the course layout). Default ``0``.
        drop_last: drop the smaller last batch. Default ``False``.

    >>> X = np.arange(10).reshape(5, 2)
    >>> [xb.shape for xb, _ in epoch_batches(X, None, 2, np.random.default_rng(0))]
    [(2, 2), (2, 2), (1, 2)]
    """
    axis = _check_axis(axis)
    X, Y, n_samples = _check_arrays(X, Y, axis)
    batch_size = _check_batch_size(
        batch_size, n_samples, f"the number of samples (X.shape[{axis}])"
    )
    batches = partition(n_samples, batch_size, rng, drop_last=drop_last)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        for index in batches:
            X_batch = np.take(X, index, axis=axis)
            Y_batch = None if Y is None else np.take(Y, index, axis=axis)
            yield X_batch, Y_batch

    return pairs()


def mini_batches(
    X: Any,
    Y: Any,
    batch_size: int,
    rng: np.random.Generator,
    *,
    axis: int = 0,
    drop_last: bool = False,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """One epoch's ``[(X_batch, Y_batch), ...]`` as a list, like seed 000's ``batch_partition``.

    The seed's ``batch_partition(X, Y, batch_size, seed)`` takes data as
    columns; the same call here is
    ``mini_batches(X, Y, batch_size, numpy.random.default_rng(seed), axis=1)``.
    Arguments as in :func:`epoch_batches`.

    >>> X = np.arange(12).reshape(2, 6)          # 6 samples as columns
    >>> Y = np.arange(6).reshape(1, 6)
    >>> batches = mini_batches(X, Y, 4, np.random.default_rng(0), axis=1)
    >>> [(xb.shape, yb.shape) for xb, yb in batches]
    [((2, 4), (1, 4)), ((2, 2), (1, 2))]
    """
    return list(epoch_batches(X, Y, batch_size, rng, axis=axis, drop_last=drop_last))


# -- random-sample batches (seeds 001, 003) -----------------------------------


def _draw(rng: np.random.Generator, n_samples: int, batch_size: int, replace: bool) -> np.ndarray:
    if replace:
        return rng.integers(0, n_samples, size=batch_size)
    return rng.choice(n_samples, size=batch_size, replace=False)


def random_batches(
    n_samples: int, batch_size: int, rng: np.random.Generator, *, replace: bool = True
) -> Iterator[np.ndarray]:
    """Endless random index batches, one draw per step and no epochs (seeds 001, 003).

    Each batch is ``batch_size`` indices drawn uniformly from
    ``range(n_samples)``: with ``replace=True`` (the seeds'
    ``np.random.choice(train_size, batch_size)``) as
    ``rng.integers(0, n_samples, batch_size)``, which has the same
    distribution as ``rng.choice(n_samples, batch_size)`` (independent uniform
    indices) and is faster; with ``replace=False`` as
    ``rng.choice(n_samples, batch_size, replace=False)``, which needs
    ``batch_size <= n_samples``.

    Arguments are checked when this function is called.

    >>> stream = random_batches(506, 30, np.random.default_rng(2023))
    >>> batch = next(stream)
    >>> batch.shape, bool(batch.min() >= 0), bool(batch.max() < 506)
    ((30,), True, True)
    """
    n_samples = check_int("n_samples", n_samples, low=1)
    replace = check_bool("replace", replace)
    if replace:
        batch_size = check_int("batch_size", batch_size, low=1)
    else:
        batch_size = _check_batch_size(batch_size, n_samples, "n_samples (replace=False)")
    rng = check_rng(rng)

    def draws() -> Iterator[np.ndarray]:
        while True:
            yield _draw(rng, n_samples, batch_size, replace)

    return draws()


def _summary(array: np.ndarray) -> str:
    """An array in a few words: its type, shape and range."""
    text = f"{array.dtype.name} array of shape {array.shape}"
    if array.size and array.dtype.kind in "iuf":
        text += f" in [{array.min()}, {array.max()}]"
    return text


# -- a resumable stream of batches for a run ---------------------------------


class BatchStream:
    """The sequence of index batches for a training run, in either mode.

    ``mode="epoch"`` yields :func:`partition` batches, epoch after epoch (a
    new permutation at the start of each epoch); ``mode="random"`` yields
    :func:`random_batches` draws. The stream is endless: use ``next(stream)``
    or :meth:`take`. The stream owns ``rng``: two streams built from
    ``numpy.random.default_rng(seed)`` with the same ``seed`` give identical
    batches, so every optimizer in a race can see the same data.

    :meth:`state_dict` captures the generator's ``bit_generator.state`` and
    the position (step, current epoch's order and batch), so that
    :meth:`load_state_dict` resumes with the identical continuation.

    Args:
        n_samples: number of samples ``n >= 1``.
        batch_size: ``b >= 1``; at most ``n`` in epoch mode (a larger batch
            is refused, not shrunk to one full batch) and in random mode
            without replacement. Random mode with replacement accepts any
            ``b``; :func:`gdlab.train.fit` caps it at ``n`` too.
        rng: the generator the stream draws from.
        mode: ``"epoch"`` (default) or ``"random"``.
        drop_last: epoch mode only: drop the smaller last batch.
        replace: random mode only: draw with replacement. Default ``True``.

    Attributes:
        steps_per_epoch: batches per epoch: ``ceil(n / b)``, or ``n // b``
            with ``drop_last``; in random mode the nominal ``ceil(n / b)``
            draws that see about ``n`` samples.
        step: batches given so far.

    >>> stream = BatchStream(10, 4, np.random.default_rng(0))
    >>> stream.steps_per_epoch
    3
    >>> [len(b) for b in stream.take(4)], stream.epoch
    ([4, 4, 2, 4], 1)
    """

    def __init__(
        self,
        n_samples: int,
        batch_size: int,
        rng: np.random.Generator,
        *,
        mode: str = "epoch",
        drop_last: bool = False,
        replace: bool = True,
    ) -> None:
        self.mode = check_choice("mode", mode, MODES)
        self.n_samples = check_int("n_samples", n_samples, low=1)
        self.drop_last = check_bool("drop_last", drop_last)
        self.replace = check_bool("replace", replace)
        if self.mode == "random" and self.replace:
            self.batch_size = check_int("batch_size", batch_size, low=1)
        else:
            self.batch_size = _check_batch_size(batch_size, self.n_samples, "n_samples")
        self.rng = check_rng(rng)
        if self.mode == "epoch" and self.drop_last:
            self.steps_per_epoch = self.n_samples // self.batch_size
        else:
            self.steps_per_epoch = math.ceil(self.n_samples / self.batch_size)
        self.step = 0
        self._epoch_batches: list[np.ndarray] = []  # the current epoch (epoch mode)
        self._position = 0  # batches of the current epoch already given

    @property
    def epoch(self) -> int:
        """Completed epochs (``step // steps_per_epoch``)."""
        return self.step // self.steps_per_epoch

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> np.ndarray:
        if self.mode == "random":
            batch = _draw(self.rng, self.n_samples, self.batch_size, self.replace)
        else:
            if self._position == len(self._epoch_batches):  # start a new epoch
                self._epoch_batches = partition(
                    self.n_samples, self.batch_size, self.rng, drop_last=self.drop_last
                )
                self._position = 0
            batch = self._epoch_batches[self._position].copy()
            self._position += 1
        self.step += 1
        return batch

    def take(self, n_batches: int) -> list[np.ndarray]:
        """The next ``n_batches`` batches as a list."""
        n_batches = check_int("n_batches", n_batches, low=0)
        return [next(self) for _ in range(n_batches)]

    def _config(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "n_samples": self.n_samples,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "replace": self.replace,
        }

    def state_dict(self) -> dict[str, Any]:
        """The settings, the generator state and the position, as plain data.

        Keys: the constructor settings, ``step``, ``bit_generator`` (a copy of
        ``rng.bit_generator.state``), ``order`` (the current epoch's batches
        joined into one index array; empty in random mode or before the first
        batch) and ``position`` (batches of that epoch already given).
        """
        if self._epoch_batches:
            order = np.concatenate(self._epoch_batches)
        else:
            order = np.empty(0, dtype=np.int64)
        return {
            **self._config(),
            "step": self.step,
            "bit_generator": copy.deepcopy(self.rng.bit_generator.state),
            "order": order,
            "position": self._position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from a :meth:`state_dict` of a stream with the same settings.

        The generator (of the same bit-generator kind) is set to the saved
        state, so the next batches are exactly those the saved stream would
        have given.
        """
        if not isinstance(state, dict):
            fail("state", "a dict from BatchStream.state_dict()", state, kind=TypeError)
        keys = {*self._config(), "step", "bit_generator", "order", "position"}
        missing = keys - set(state)
        if missing:
            fail("state", f"a dict with keys {sorted(missing)} too", sorted(state))
        for key, value in self._config().items():
            if state[key] != value:
                fail(f"state[{key!r}]", f"{value!r} (this stream's setting)", state[key])
        kind = type(self.rng.bit_generator).__name__
        saved = state["bit_generator"]
        if not isinstance(saved, dict) or saved.get("bit_generator") != kind:
            fail("state['bit_generator']", f"a {kind} state (this stream's generator)", saved)
        try:  # a dry run on a copy: NumPy raises KeyError or TypeError for a damaged state
            copy.deepcopy(self.rng.bit_generator).state = copy.deepcopy(saved)
        except (KeyError, TypeError, ValueError, OverflowError):
            fail("state['bit_generator']", f"a whole {kind} state (this stream's generator)", saved)
        order = self._check_order(state["order"])
        batches = [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]
        position = check_int("state['position']", state["position"], low=0, high=len(batches))
        step = check_int("state['step']", state["step"], low=0)

        self.rng.bit_generator.state = copy.deepcopy(state["bit_generator"])
        self._epoch_batches = batches
        self._position = position
        self.step = step

    def _check_order(self, saved: Any) -> np.ndarray:
        """A saved epoch order: empty, or this stream's epoch (each index once, ``n`` of them,
        ``n - n % b`` with ``drop_last``); anything else would feed wrong rows to a run."""
        order = np.asarray(saved)
        if order.size == 0:
            return np.empty(0, dtype=np.int64)
        if order.ndim != 1 or order.dtype.kind not in "iu":
            fail("state['order']", "a 1-D array of integer sample indices", _summary(order))
        if self.mode == "random":
            fail("state['order']", "empty in random mode (there are no epochs)", _summary(order))
        n = self.n_samples
        size = n - n % self.batch_size if self.drop_last else n
        if len(order) != size:
            fail("state['order']", f"{size} sample indices (one epoch)", _summary(order))
        if order.min() < 0 or order.max() >= n:
            fail("state['order']", f"sample indices in [0, {n - 1}]", _summary(order))
        if len(np.unique(order)) != len(order):
            fail("state['order']", "distinct sample indices (one epoch's permutation)", "repeats")
        return order.astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"BatchStream(n_samples={self.n_samples}, batch_size={self.batch_size}, "
            f"mode={self.mode!r}, step={self.step})"
        )
