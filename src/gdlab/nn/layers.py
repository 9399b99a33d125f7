"""Layers as forward/backward pairs, samples on rows.

Each layer keeps what its backward pass needs from the forward pass (the
input of an :class:`Affine`, the output of an activation) and returns the
gradient with respect to its input from :meth:`backward`, as the book's
``common/layers.py`` does. :class:`Affine` also writes the gradients of its
weights and bias into ``dW`` and ``db``.

Work arrays come from a :class:`~gdlab.nn._buffers.Buffers` pool. A layer made
on its own returns fresh arrays; inside an :class:`~gdlab.nn.MLP` the pool
reuses them, so that a warm training step allocates nothing (an array a layer
returns is then valid until its next call).

>>> import numpy as np
>>> relu = ReLU()
>>> relu.forward(np.array([[-1.0, 2.0]]))
array([[0., 2.]])
>>> relu.backward(np.array([[5.0, 5.0]]))
array([[0., 5.]])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from gdlab._checks import check_real, fail
from gdlab._lazy import lazy
from gdlab.nn._buffers import Buffers

# numba's kernels, imported at their first call (gdlab._lazy)
_kernels = lazy(__name__, "_kernels", "gdlab.nn._kernels")

__all__ = [
    "ACTIVATIONS",
    "Affine",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
]


class Layer(ABC):
    """A forward/backward pair. Subclasses set what they cache in ``forward``."""

    def __init__(self, *, buffers: Buffers | None = None) -> None:
        self.buffers = buffers if buffers is not None else Buffers()

    @abstractmethod
    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        """The layer's output for ``x`` (``train`` switches dropout on)."""

    @abstractmethod
    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """The gradient with respect to the input, from the output's gradient ``dout``."""

    def _buffer(self, name: str, like: np.ndarray) -> np.ndarray:
        return self.buffers.get((id(self), name), like.shape, like.dtype)

    # A network calls these on the arrays it made itself (2-D, its dtype, the shapes
    # of the layer before): the same work as forward/backward without their checks.

    def _forward_trusted(self, x: np.ndarray, train: bool) -> np.ndarray:
        return self.forward(x, train)

    def _backward_trusted(self, dout: np.ndarray) -> np.ndarray | None:
        return self.backward(dout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Affine(Layer):
    """``out = x · W + b``.

    Backward: ``dW = xᵀ · dout``, ``db = Σ_rows dout``, ``dx = dout · Wᵀ``.

    Args:
        W: weights, ``(n_in, n_out)``; or ``(n_out, n_in)`` with
            ``layout="columns"``, the course's shape (``Z = W·X + b``).
        b: bias, ``(n_out,)``; or ``(n_out, 1)`` with ``layout="columns"``.
        dW, db: arrays that receive the gradients (zeros like ``W``, ``b`` if
            not given).
        layout: ``"rows"`` or ``"columns"``: the shape convention of ``W`` and
            ``b`` only. Inputs to ``forward`` always have samples on rows.
        input_grad: whether ``backward`` computes ``dx``. The first layer of a
            network does not need it, and skips a third of its work.
    """

    def __init__(
        self,
        W: np.ndarray,
        b: np.ndarray,
        *,
        dW: np.ndarray | None = None,
        db: np.ndarray | None = None,
        layout: str = "rows",
        input_grad: bool = True,
        buffers: Buffers | None = None,
    ) -> None:
        super().__init__(buffers=buffers)
        if layout not in ("rows", "columns"):
            fail("layout", "'rows' or 'columns'", layout)
        self.layout = layout
        self.input_grad = input_grad
        self.bind(W, b)
        self.bind_grads(
            np.zeros_like(W) if dW is None else dW, np.zeros_like(b) if db is None else db
        )
        self.x: np.ndarray | None = None

    def _rows(self, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views of ``W`` and ``b`` in the rows convention: ``(n_in, n_out)``, ``(n_out,)``."""
        if self.layout == "columns":
            return W.T, b.reshape(-1)
        return W, b

    def bind(self, W: np.ndarray, b: np.ndarray) -> None:
        """Use ``W`` and ``b`` as the parameters (no copy: updates to them show)."""
        if _floats("W", W) is not W:
            fail("W", "an array in this machine's byte order (it is bound, not copied)", W.dtype)
        if _floats("b", b, like=W) is not b:
            fail("b", "an array in this machine's byte order (it is bound, not copied)", b.dtype)
        expected_b = (W.shape[1],) if self.layout == "rows" else (W.shape[0], 1)
        if W.ndim != 2 or b.shape != expected_b:
            fail(
                "b",
                f"of shape {expected_b} for W of shape {W.shape} ({self.layout} layout)",
                f"shape {b.shape}",
            )
        self.W, self.b = W, b
        self._W, self._b = self._rows(W, b)

    def bind_grads(self, dW: np.ndarray, db: np.ndarray) -> None:
        """Write gradients into ``dW`` and ``db`` from now on."""
        for name, a in (("dW", dW), ("db", db)):
            if _floats(name, a, like=self.W) is not a:
                fail(name, "an array in this machine's byte order (it is written into)", a.dtype)
        if dW.shape != self.W.shape or db.shape != self.b.shape:
            fail(
                "dW and db",
                f"of shapes {self.W.shape} and {self.b.shape}",
                f"shapes {dW.shape} and {db.shape}",
            )
        self.dW, self.db = dW, db
        self._dW, self._db = self._rows(dW, db)

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = _floats("x", x, like=self._W)
        n_in = self._W.shape[0]
        if x.ndim != 2 or x.shape[1] != n_in:
            fail("x", f"of shape (n, {n_in})", f"shape {x.shape}")
        return self._forward_trusted(x, train)

    def _forward_trusted(self, x: np.ndarray, train: bool) -> np.ndarray:
        self.x = x
        out = self.buffers.get((id(self), "out"), (x.shape[0], self._W.shape[1]), x.dtype)
        np.matmul(x, self._W, out=out)
        _kernels.add_bias(out, self._b)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        x = self.x
        if x is None:
            raise RuntimeError("Affine.backward called before forward")
        shape = (x.shape[0], self._W.shape[1])
        dout = _floats("dout", dout, like=self._W)
        if dout.shape != shape:
            fail("dout", f"an array of shape {shape}, the forward output's", f"shape {dout.shape}")
        return self._backward_trusted(dout)

    def _backward_trusted(self, dout: np.ndarray) -> np.ndarray | None:
        x = self.x
        np.matmul(x.T, dout, out=self._dW)
        _kernels.column_sums(dout, self._db)
        if not self.input_grad:
            return None
        dx = self._buffer("dx", x)
        np.matmul(dout, self._W.T, out=dx)
        return dx

    def __repr__(self) -> str:
        n_in, n_out = self._W.shape
        return f"Affine({n_in} → {n_out})"


#: The dtypes the layers and losses compute in (their numba kernels' types).
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _floats(name: str, a: Any, like: np.ndarray | None = None) -> np.ndarray:
    """``a`` if it is a float32 or float64 NumPy array (of ``like``'s dtype when
    given), else a ``TypeError`` naming it; an array in the other byte order
    (``'>f8'``, read from a file) is converted to this machine's."""
    if not isinstance(a, np.ndarray):
        fail(name, "a floating-point NumPy array", a, kind=TypeError)
    native = a.dtype.newbyteorder("=")
    if native not in FLOAT_DTYPES:
        hint = " (cast it: .astype(np.float32) or np.float64)" if a.dtype.kind in "biuf" else ""
        raise TypeError(
            f"{name} must be a float32 or float64 NumPy array; got an array of {a.dtype}{hint}"
        )
    if like is not None and native != like.dtype:
        raise TypeError(
            f"{name} must be {like.dtype}, the dtype of the layer's arrays; got {a.dtype} "
            f"(cast it: .astype(np.{like.dtype}))"
        )
    return a if a.dtype.isnative else a.astype(native)


def _grid(a: np.ndarray) -> np.ndarray:
    """``a`` as the 2-D array the element-wise kernels loop over (a view of a contiguous one)."""
    if a.ndim == 2:
        return a
    return a.reshape(1, -1) if a.ndim < 2 else a.reshape(a.shape[0], -1)


class _Elementwise(Layer):
    """A layer that maps each element on its own: inputs of any shape, floating point.

    Its backward pass needs the forward output (``self.out``); ``dout`` must
    have that output's shape.
    """

    out: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = _floats("x", x)
        out = self._buffer("out", x)
        self._forward(_grid(x), _grid(out))
        self.out = out
        return out

    def _forward_trusted(self, x: np.ndarray, train: bool) -> np.ndarray:
        out = self._buffer("out", x)
        self._forward(x, out)
        self.out = out
        return out

    def _backward_trusted(self, dout: np.ndarray) -> np.ndarray:
        dx = self._buffer("dx", dout)
        self._backward(dout, self.out, dx)
        return dx

    def backward(self, dout: np.ndarray) -> np.ndarray:
        out = self.out
        if out is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dout = _floats("dout", dout, like=out)
        if dout.shape != out.shape:
            fail("dout", f"of shape {out.shape}, the forward output's", f"shape {dout.shape}")
        dx = self._buffer("dx", dout)
        self._backward(_grid(dout), _grid(out), _grid(dx))
        return dx

    @abstractmethod
    def _forward(self, x: np.ndarray, out: np.ndarray) -> None: ...

    @abstractmethod
    def _backward(self, dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None: ...


class ReLU(_Elementwise):
    """``out = max(x, 0)``; backward passes ``dout`` where ``out > 0``."""

    def _forward(self, x: np.ndarray, out: np.ndarray) -> None:
        _kernels.relu_forward(x, out)

    def _backward(self, dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
        _kernels.relu_backward(dout, out, dx)


class LeakyReLU(_Elementwise):
    """``out = x`` for ``x > 0``, else ``alpha · x``."""

    def __init__(self, alpha: float = 0.01, *, buffers: Buffers | None = None) -> None:
        super().__init__(buffers=buffers)
        self.alpha = check_real("alpha", alpha, low=0, high=1, high_open=True)

    def _forward(self, x: np.ndarray, out: np.ndarray) -> None:
        _kernels.leaky_relu_forward(x, x.dtype.type(self.alpha), out)

    def _backward(self, dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
        # With alpha >= 0, out > 0 exactly where x > 0: the output is the mask.
        _kernels.leaky_relu_backward(dout, out, dout.dtype.type(self.alpha), dx)

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


class Sigmoid(_Elementwise):
    """``out = 1 / (1 + e^−x)``; backward ``dx = dout · out · (1 − out)``."""

    def _forward(self, x: np.ndarray, out: np.ndarray) -> None:
        _kernels.sigmoid_forward(x, out)

    def _backward(self, dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
        _kernels.sigmoid_backward(dout, out, dx)


class Tanh(_Elementwise):
    """``out = tanh x``; backward ``dx = dout · (1 − out²)``."""

    def _forward(self, x: np.ndarray, out: np.ndarray) -> None:
        np.tanh(x, out=out)

    def _backward(self, dout: np.ndarray, out: np.ndarray, dx: np.ndarray) -> None:
        _kernels.tanh_backward(dout, out, dx)


class Dropout(Layer):
    """Inverted dropout: in training, each unit is zeroed with probability
    ``p`` and the survivors are scaled by ``1/(1−p)``; at evaluation it passes
    ``x`` through unchanged. The mask is drawn from ``rng``, so a seeded
    generator gives the same masks.
    """

    def __init__(
        self, p: float, *, rng: np.random.Generator, buffers: Buffers | None = None
    ) -> None:
        super().__init__(buffers=buffers)
        self.p = check_real("p", p, low=0, high=1, high_open=True)
        if not isinstance(rng, np.random.Generator):
            fail("rng", "a numpy.random.Generator", rng, kind=TypeError)
        self.rng = rng
        self._u: np.ndarray | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        x = _floats("x", x)
        if not train or self.p == 0.0:
            self._u = None
            return x
        u = self._buffer("u", x)
        self.rng.random(dtype=x.dtype, out=u)
        out = self._buffer("out", x)
        scale = x.dtype.type(1 / (1 - self.p))
        _kernels.dropout_forward(_grid(x), _grid(u), x.dtype.type(self.p), scale, _grid(out))
        self._u = u
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """``dout`` where the unit was kept, scaled; ``dout`` itself after an evaluation pass."""
        dout = _floats("dout", dout)
        u = self._u
        if u is None:
            return dout
        if dout.shape != u.shape:
            fail("dout", f"of shape {u.shape}, the forward output's", f"shape {dout.shape}")
        dx = self._buffer("dx", dout)
        dtype = dout.dtype.type
        p, scale = dtype(self.p), dtype(1 / (1 - self.p))
        _kernels.dropout_backward(_grid(dout), _grid(u), p, scale, _grid(dx))
        return dx

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


ACTIVATIONS: dict[str, Any] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}
