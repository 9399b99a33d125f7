"""Losses with their gradients, samples on rows, averaged over the batch.

``forward(scores, y)`` returns the loss as a Python float and keeps what
``backward()`` needs; ``backward()`` returns the gradient with respect to the
scores.

- :class:`SoftmaxCrossEntropy`: ``L = −(1/n) Σᵢ log softmax(sᵢ)[yᵢ]``, labels
  as integers ``(n,)`` in ``[0, k)`` or as target distributions ``(n, k)``
  (entries ``>= 0``, rows summing to 1 within ``1e-6·k``);
  ``dL/ds = (softmax(s) − onehot(y)) / n``. The log-softmax is computed
  stably (the row maximum subtracted, ``log Σ exp`` in float64); the book's
  ``+1e-7`` inside the log is not needed and not added.
- :class:`SigmoidCrossEntropy`: binary, ``L = mean(−y log σ(z) − (1−y) log(1−σ(z)))``
  computed as ``mean(softplus(z) − y·z)``; ``dL/dz = (σ(z) − y) / size``;
  targets in ``[0, 1]``.
- :class:`MeanSquaredError`: ``L = mean((ŷ − y)²)`` over every element, as
  seed 003 and ``torch.nn.MSELoss()``; ``dL/dŷ = 2(ŷ − y) / size``.

>>> import numpy as np
>>> ce = SoftmaxCrossEntropy()
>>> round(ce.forward(np.zeros((2, 4)), np.array([0, 3])), 6)  # log 4
1.386294
>>> ce.backward()
array([[-0.375,  0.125,  0.125,  0.125],
       [ 0.125,  0.125,  0.125, -0.375]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from gdlab._checks import fail
from gdlab._lazy import lazy
from gdlab.nn._buffers import Buffers
from gdlab.nn.layers import _floats

# numba's kernels, imported at their first call (gdlab._lazy)
_kernels = lazy(__name__, "_kernels", "gdlab.nn._kernels")

#: How far a target distribution's row may sum from 1, per class.
DISTRIBUTION_TOLERANCE = 1e-6

__all__ = ["LOSSES", "Loss", "MeanSquaredError", "SigmoidCrossEntropy", "SoftmaxCrossEntropy"]


class Loss(ABC):
    """A loss and its gradient with respect to the network's output."""

    def __init__(self, *, buffers: Buffers | None = None) -> None:
        self.buffers = buffers if buffers is not None else Buffers()

    def _buffer(self, name: str, like: np.ndarray) -> np.ndarray:
        return self.buffers.get((id(self), name), like.shape, like.dtype)

    def _kept(self, name: str) -> Any:
        """What the last forward kept for the backward pass, under ``name``."""
        value = getattr(self, name, None)
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return value

    @abstractmethod
    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The mean loss of ``scores`` against the targets ``y``."""

    @abstractmethod
    def backward(self) -> np.ndarray:
        """The gradient of the last :meth:`forward`'s loss with respect to its scores."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _scores(scores: Any) -> np.ndarray:
    """``scores`` as the kernels take them: a float32 or float64 array in this
    machine's byte order, 2-D, with at least one sample (a mean over none is 0/0)."""
    scores = _floats("scores", scores)
    if scores.ndim != 2 or scores.shape[0] < 1:
        fail("scores", "a 2-D array with at least one row (sample)", f"shape {scores.shape}")
    return scores


def _targets(y: Any, *, kernels: bool = True) -> np.ndarray:
    """Targets as the loss kernels take them: numbers in this machine's byte order
    (``'>i4'`` read from a file is converted), float16 as float32 (exact) and,
    for the numba kernels (``kernels``), wider floats as float64 (what they
    read anyway; NumPy's subtraction in MSE takes them as they are)."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        fail("y", "numbers (a bool, integer or floating array)", f"{y.dtype} array",
             kind=TypeError, described=True)  # fmt: skip
    if not y.dtype.isnative:
        y = y.astype(y.dtype.newbyteorder("="))
    if y.dtype == np.float16:
        y = y.astype(np.float32)
    elif kernels and y.dtype.kind == "f" and y.dtype.itemsize > 8:
        y = y.astype(np.float64)
    return y


def _check_unit_interval(y: np.ndarray) -> None:
    """Binary cross-entropy targets in ``[0, 1]`` (two reductions, no temporary)."""
    low, high = y.min(), y.max()
    if not (low >= 0 and high <= 1):  # NaN fails too
        bad = high if low >= 0 else low
        fail("y", "binary targets in [0, 1]", bad.item())


def _check_distributions(y: np.ndarray) -> None:
    """Soft targets: every row non-negative and summing to 1 within ``1e-6·k``."""
    k = y.shape[1]
    row = _kernels.first_bad_distribution(y, DISTRIBUTION_TOLERANCE * k)
    if row >= 0:
        fail(
            f"y[{row}]",
            f"a target distribution (entries >= 0 summing to 1 within {DISTRIBUTION_TOLERANCE}"
            f" x {k})",
            y[row].tolist(),
        )


def _as_2d_targets(
    y: np.ndarray, like: np.ndarray, name: str = "y", *, kernels: bool = True
) -> np.ndarray:
    """``y`` (:func:`_targets`) reshaped to the shape of ``like`` (``(n,)`` → ``(n, 1)``)."""
    y = _targets(y, kernels=kernels)
    if y.shape == like.shape:
        return y
    if y.size == like.size and y.ndim <= 2 and y.shape[0] == like.shape[0]:
        return y.reshape(like.shape)
    if like.ndim == 2 and like.shape[1] == 1:  # one output: one target per sample also fits
        fail(name, f"of shape {like.shape} (or {(like.shape[0],)})", f"shape {y.shape}")
    fail(name, f"of shape {like.shape} (one target per output unit)", f"shape {y.shape}")
    raise AssertionError  # unreachable


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused for a stable, simple gradient."""

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        scores = _scores(scores)
        y = _targets(y)
        n, k = scores.shape
        probs = self._buffer("probs", scores)
        if y.ndim == 1 and y.shape[0] == n and np.issubdtype(y.dtype, np.integer):
            low, high = (int(y.min()), int(y.max())) if n else (0, 0)
            if low < 0 or high >= k:
                bad = low if low < 0 else high
                fail("y", f"class labels in [0, {k - 1}]", bad)
            loss = _kernels.softmax_cross_entropy_labels(scores, y, probs)
        elif y.shape == scores.shape:
            _check_distributions(y)
            loss = _kernels.softmax_cross_entropy_targets(scores, y, probs)
        else:
            fail(
                "y",
                f"integer labels of shape ({n},) or targets of shape {scores.shape}",
                f"{y.dtype} array of shape {y.shape}",
            )
        self.probs, self.y = probs, y
        return float(loss)

    def backward(self) -> np.ndarray:
        probs, y = self._kept("probs"), self.y
        dx = self._buffer("dx", probs)
        if y.ndim == 1:
            _kernels.softmax_cross_entropy_backward_labels(probs, y, dx)
        else:
            np.subtract(probs, y, out=dx)
            np.multiply(dx, dx.dtype.type(1 / probs.shape[0]), out=dx)
        return dx


class SigmoidCrossEntropy(Loss):
    """Sigmoid followed by binary cross-entropy; targets in [0, 1]."""

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        scores = _scores(scores)
        y = _as_2d_targets(y, scores)
        _check_unit_interval(y)
        probs = self._buffer("probs", scores)
        loss = _kernels.sigmoid_cross_entropy(scores, y, probs)
        self.probs, self.y = probs, y
        return float(loss)

    def backward(self) -> np.ndarray:
        dx = self._buffer("dx", self._kept("probs"))
        np.subtract(self.probs, self.y, out=dx, casting="unsafe")
        np.multiply(dx, dx.dtype.type(1 / dx.size), out=dx)
        return dx


class MeanSquaredError(Loss):
    """Mean of squared errors over every element."""

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        scores = _scores(scores)
        y = _as_2d_targets(y, scores, kernels=False)
        diff = self._buffer("diff", scores)
        np.subtract(scores, y, out=diff, casting="unsafe")
        self.diff = diff
        return float(_kernels.mean_of_squares(diff))

    def backward(self) -> np.ndarray:
        dx = self._buffer("dx", self._kept("diff"))
        np.multiply(self.diff, dx.dtype.type(2 / dx.size), out=dx)
        return dx


LOSSES: dict[str, Any] = {
    "cross_entropy": SoftmaxCrossEntropy,
    "binary_cross_entropy": SigmoidCrossEntropy,
    "mse": MeanSquaredError,
}
