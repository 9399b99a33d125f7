"""The multi-layer perceptron: affine layers and activations, one loss.

``MLP([784, 100, 10])`` is ``Affine → ReLU → Affine`` followed by softmax
cross-entropy, with parameters ``W1, b1, W2, b2`` in :attr:`MLP.params` and
gradients under the same keys in :attr:`MLP.grads`, as in the seeds. An
optimizer updates the parameters in place::

    net = MLP([784, 100, 10], rng=np.random.default_rng(0))
    loss, grads = net.loss_and_grads(X_batch, y_batch)
    optimizer.update(net.params, grads)

Two layouts (the ``layout`` argument):

- ``"rows"`` (the default, the book's): samples on rows, ``X`` is
  ``(n, n_features)``, ``W`` is ``(n_in, n_out)``, ``b`` is ``(n_out,)``.
- ``"columns"`` (the course's, seed 000): samples on columns, ``X`` is
  ``(n_features, n)``, ``W`` is ``(n_out, n_in)``, ``b`` is ``(n_out, 1)``
  and targets are ``(n_out, n)`` or ``(1, n)``.

Both layouts compute the same thing with the same weights (transposed).

Speed: the work arrays of a step are made once per batch shape and reused, so
a warm step allocates nothing; the gradient arrays in :attr:`grads` are the
same objects every step (the returned dict is overwritten by the next call).
Matrix products go to BLAS through ``numpy.matmul(..., out=)``; the
element-wise parts are fused numba loops. The first layer skips the gradient
with respect to the input, which nothing needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab._checks import check_choice, check_float_dtype, check_int, check_real, fail
from gdlab._lazy import lazy
from gdlab.nn._buffers import Buffers
from gdlab.nn.init import check_scale, std, weights
from gdlab.nn.layers import ACTIVATIONS, Affine, Dropout, Layer
from gdlab.nn.losses import (
    Loss,
    MeanSquaredError,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    _targets,
)

# numba's kernels, imported at their first call (gdlab._lazy)
_kernels = lazy(__name__, "_kernels", "gdlab.nn._kernels")

__all__ = ["MLP", "OUTPUTS"]

#: Output kinds and the loss each one trains with.
OUTPUTS: dict[str, type[Loss]] = {
    "softmax": SoftmaxCrossEntropy,
    "sigmoid": SigmoidCrossEntropy,
    "linear": MeanSquaredError,
}

#: Rows per chunk when evaluating on a whole data set (bounds the work arrays).
EVAL_CHUNK = 4096


def _check_dtype(dtype: Any) -> np.dtype:
    return check_float_dtype(dtype, ("float32", "float64"))


def _pieces(buffer: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Views of consecutive pieces of ``buffer`` with the given shapes, in order."""
    views, start = {}, 0
    for key, shape in shapes.items():
        size = math.prod(shape)
        views[key] = buffer[start : start + size].reshape(shape)
        start += size
    return views


class MLP:
    """A fully connected network trained by backpropagation.

    Args:
        sizes: units per layer, input first: ``[784, 100, 100, 10]``.
        activation: hidden activation, one of ``"relu"``, ``"leaky_relu"``,
            ``"sigmoid"``, ``"tanh"``.
        init: initial weights: ``"he"`` (default), ``"xavier"``, ``"glorot"``
            or a standard deviation (see :mod:`gdlab.nn.init`). Biases start at 0.
        output: ``"softmax"`` (softmax cross-entropy, integer labels or
            one-hot targets), ``"sigmoid"`` (binary cross-entropy, one output
            per binary target) or ``"linear"`` (mean squared error).
        weight_decay: λ of the L2 penalty ``(λ/2) Σ ‖W‖²`` added to the loss
            (weights only, not biases; the book's ``weight_decay_lambda``).
        dropout: probability of dropping each hidden unit in training (0: off).
        layout: ``"rows"`` or ``"columns"`` (see the module docstring).
        dtype: ``numpy.float32`` (default) or ``numpy.float64``.
        rng: the ``numpy.random.Generator`` for the initial weights (and
            the dropout masks).

    >>> import numpy as np
    >>> net = MLP([2, 5, 2, 1], output="sigmoid", rng=np.random.default_rng(0))
    >>> sorted(net.params)
    ['W1', 'W2', 'W3', 'b1', 'b2', 'b3']
    >>> net.params["W1"].shape, net.params["W1"].dtype
    ((2, 5), dtype('float32'))
    >>> loss, grads = net.loss_and_grads(np.ones((4, 2)), np.array([0, 1, 1, 0]))
    >>> grads["W1"].shape
    (2, 5)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "relu",
        *,
        init: str | float = "he",
        output: str = "softmax",
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        layout: str = "rows",
        dtype: Any = np.float32,
        rng: np.random.Generator,
    ) -> None:
        if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence) or len(sizes) < 2:
            fail("sizes", "a list of at least two layer sizes, input first", sizes, kind=TypeError)
        self.sizes = tuple(check_int(f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes))
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("output", output, OUTPUTS)
        if not isinstance(layout, str):
            fail("layout", "'rows' or 'columns'", layout, kind=TypeError)
        if layout not in ("rows", "columns"):
            fail("layout", "'rows' (samples on rows) or 'columns' (samples on columns)", layout)
        dtype = _check_dtype(dtype)
        # The name or number is checked now, not at the first layer (named ones are
        # largest with one input: √2).
        check_scale(init, std(init, 1, 1), dtype)
        if not isinstance(rng, np.random.Generator):
            fail("rng", "a numpy.random.Generator", rng, kind=TypeError)
        if output == "softmax" and self.sizes[-1] < 2:
            fail("sizes[-1]", "at least 2 for a softmax output (use output='sigmoid')", sizes[-1])
        self.activation = activation
        self.init = init
        self.output = output
        self.weight_decay = check_real("weight_decay", weight_decay, low=0)
        self.dropout = check_real("dropout", dropout, low=0, high=1, high_open=True)
        self.layout = layout
        self.dtype = np.dtype(dtype)

        self.buffers = Buffers(reuse=True)
        self.layers: list[Layer] = []
        self._affine: list[Affine] = []
        dropout_rng = rng.spawn(1)[0] if self.dropout else None
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        shapes = {}
        for i, (n_in, n_out) in enumerate(pairs, 1):
            shapes[f"W{i}"] = (n_in, n_out) if layout == "rows" else (n_out, n_in)
            shapes[f"b{i}"] = (n_out,) if layout == "rows" else (n_out, 1)
        # Parameters and gradients are consecutive pieces of one buffer each:
        # an optimizer then updates them all in one pass (gdlab.optim's flat run).
        n_params = sum(map(math.prod, shapes.values()))
        self.params = _pieces(np.zeros(n_params, self.dtype), shapes)
        self._grad_buffer = np.zeros(n_params, self.dtype)
        self.grads = _pieces(self._grad_buffer, shapes)
        n_layers = len(pairs)
        for i, (n_in, n_out) in enumerate(pairs, 1):
            W, b = self.params[f"W{i}"], self.params[f"b{i}"]
            # Drawn in the rows shape whatever the layout, so that a "columns"
            # network holds the transposed weights of a "rows" one from the same seed.
            w = weights((n_in, n_out), init, rng, fan_in=n_in, fan_out=n_out, dtype=self.dtype)
            W[...] = w if layout == "rows" else w.T
            affine = Affine(
                W,
                b,
                dW=self.grads[f"W{i}"],
                db=self.grads[f"b{i}"],
                layout=layout,
                input_grad=i > 1,
                buffers=self.buffers,
            )
            self._affine.append(affine)
            self.layers.append(affine)
            if i < n_layers:
                self.layers.append(ACTIVATIONS[activation](buffers=self.buffers))
                if self.dropout:
                    self.layers.append(Dropout(self.dropout, rng=dropout_rng, buffers=self.buffers))
        self._dropouts = [layer for layer in self.layers if isinstance(layer, Dropout)]
        self.loss_layer: Loss = OUTPUTS[output](buffers=self.buffers)
        self._bound: Any = self.params
        self._bound_arrays = tuple(self.params.items())

    # -- parameters -------------------------------------------------------

    @property
    def n_params(self) -> int:
        """The number of trainable numbers."""
        return sum(p.size for p in self.params.values())

    def bind(self, params: dict[str, np.ndarray]) -> None:
        """Compute with the arrays of ``params`` from now on (no copy).

        ``params`` must have this network's keys, shapes and dtype; a network
        can so serve several parameter sets (one per optimizer in a race). Each
        call looks in the bound dict again, so an array put under its key
        since is used at once (and a key removed is an error).
        Arrays that share memory with :attr:`grads` are refused: the backward
        pass would overwrite the weights it still reads.
        """
        if self._is_bound(params):
            return
        if not isinstance(params, dict) or set(params) != set(self.params):
            fail(
                "params",
                "a dict with keys " + ", ".join(self.params),
                list(params) if isinstance(params, dict) else params,
            )
        for key, ref in self.params.items():
            self._check_param(key, params[key], ref)
        self._attach(params, tuple((key, params[key]) for key in self.params))

    def _check_param(self, key: str, p: Any, ref: np.ndarray) -> None:
        """``p`` can stand for ``ref``: an array of its shape and dtype, apart from the grads."""
        if not isinstance(p, np.ndarray) or p.shape != ref.shape or p.dtype != ref.dtype:
            got = f"{p.dtype} {p.shape}" if isinstance(p, np.ndarray) else p
            fail(f"params[{key!r}]", f"a {ref.dtype} array of shape {ref.shape}", got)
        if isinstance(p, np.matrix):  # whose reshape(-1) stays 2-D
            fail(f"params[{key!r}]", "a NumPy array, not a numpy.matrix", "a matrix")
        if np.may_share_memory(p, self._grad_buffer):
            fail(
                f"params[{key!r}]",
                "an array of its own (it shares memory with the network's grads)",
                "a view of grads",
            )

    def _is_bound(self, params: Any) -> bool:
        """Whether ``params`` is the bound dict and still holds the bound arrays."""
        return params is self._bound and all(params.get(k) is a for k, a in self._bound_arrays)

    def _attach(self, params: Any, arrays: tuple[tuple[str, np.ndarray], ...]) -> None:
        """Point the layers at ``arrays`` (checked already), remembering ``params``."""
        named = dict(arrays)
        for i, affine in enumerate(self._affine, 1):
            affine.bind(named[f"W{i}"], named[f"b{i}"])
        self._bound, self._bound_arrays = params, arrays

    def _enter(self, params: dict[str, np.ndarray] | None, train: bool) -> tuple:
        """Bind ``params`` (if given) for a call; returns what :meth:`_undo` restores."""
        rngs = [layer.rng.bit_generator.state for layer in self._dropouts] if train else []
        saved = (self._bound, self._bound_arrays, rngs)
        # The bound dict again when none is given: an array put under its key since shows.
        self.bind(self._bound if params is None else params)
        return saved

    def _undo(self, saved: tuple) -> None:
        """Put back the binding and the dropout generators of before a failed call."""
        bound, arrays, rngs = saved
        self._attach(bound, arrays)
        for layer, state in zip(self._dropouts, rngs, strict=False):
            layer.rng.bit_generator.state = state

    # -- the step ---------------------------------------------------------

    def _inputs(self, X: np.ndarray, empty_ok: bool = False) -> np.ndarray:
        """``X`` in this network's dtype, samples on rows (a view where possible).

        No samples are refused for a loss (a mean over none) unless ``empty_ok``
        (scores of no samples are just none).
        """
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            fail(
                "X",
                "numbers (a bool, integer or floating array)",
                f"{X.dtype} array",
                kind=TypeError,
                described=True,
            )
        if X.dtype != self.dtype:
            X = X.astype(self.dtype)
        if self.layout == "columns":
            X = X.T
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            expected = f"(n, {self.sizes[0]})" if self.layout == "rows" else f"({self.sizes[0]}, n)"
            shape = X.shape if self.layout == "rows" else X.T.shape
            fail("X", f"of shape {expected}", f"shape {shape}")
        if X.shape[0] < 1 and not empty_ok:
            shape = X.shape if self.layout == "rows" else X.T.shape
            fail("X", "at least one sample (a mean over none is 0/0)", f"shape {shape}")
        return X

    def _targets(self, y: np.ndarray, n: int) -> np.ndarray:
        """``y`` with samples on rows, in a dtype the loss kernels take."""
        given = y = np.asarray(y)
        if self.layout == "columns" and y.ndim == 2:
            y = y.reshape(-1) if y.shape[0] == 1 and self.output == "softmax" else y.T
        if y.ndim == 0 or y.shape[0] != n:
            self._refuse_targets(given, n)
        k = self.sizes[-1]
        fits = y.shape[1:] == (k,) or (k == 1 and y.ndim == 1)
        if self.layout == "columns" and self.output != "softmax" and not fits:
            self._refuse_targets(given, n)  # else the loss would name the rows' shape
        return _targets(y, kernels=self.output != "linear")

    def _refuse_targets(self, y: np.ndarray, n: int) -> None:
        """Raise for targets that are not ``n``: ``y``'s shape as the caller gave it."""
        if self.layout == "rows":
            fail("y", f"{n} targets, one per sample of X", f"shape {y.shape}")
        # the shapes in the caller's layout, not the transposed ones computed with
        k, labels = self.sizes[-1], self.output == "softmax"
        shapes = [f"({k}, {n})"]
        shapes += [f"(1, {n})"] if labels and k > 1 else []
        shapes += [f"({n},)"] if labels or k == 1 else []
        expected = " or ".join([", ".join(shapes[:-1]), shapes[-1]] if len(shapes) > 1 else shapes)
        fail("y", f"{n} targets, one per column of X: shape {expected}", f"shape {y.shape}")

    def _forward(self, X: np.ndarray, train: bool) -> np.ndarray:
        out = X
        for layer in self.layers:
            out = layer._forward_trusted(out, train)
        return out

    def _penalty(self) -> float:
        if not self.weight_decay:
            return 0.0
        total = sum(_kernels.sum_of_squares(a.W.reshape(-1)) for a in self._affine)
        return 0.5 * self.weight_decay * total

    def loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray] | None = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Forward and backward on a batch (in training mode: dropout on).

        Returns the loss (with the L2 penalty, if any) and :attr:`grads`,
        filled in place. ``params`` chooses the parameter set and stays bound
        (see :meth:`bind`); without it, the network computes with the set
        bound last (its own :attr:`params` until another is bound). A call
        that fails changes nothing: neither the binding nor the dropout masks
        to come.
        """
        X = self._inputs(X)
        y = self._targets(y, X.shape[0])
        saved = self._enter(params, True)
        try:
            scores = self._forward(X, True)
            loss = self.loss_layer.forward(scores, y)
        except BaseException:
            self._undo(saved)
            raise
        d: np.ndarray | None = self.loss_layer.backward()
        for layer in reversed(self.layers):
            d = layer._backward_trusted(d)
        if self.weight_decay:
            loss += self._penalty()
            lam = self.dtype.type(self.weight_decay)
            for affine in self._affine:
                _kernels.add_scaled(affine.dW.reshape(-1), lam, affine.W.reshape(-1))
        return loss, self.grads

    # -- evaluation -------------------------------------------------------

    def _chunks(self, X: np.ndarray):
        for start in range(0, X.shape[0], EVAL_CHUNK):
            yield start, X[start : start + EVAL_CHUNK]

    def scores(self, X: np.ndarray, params: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The output layer's values before the softmax / sigmoid (evaluation mode).

        ``X`` may hold no samples: the scores are then an empty array.
        """
        X = self._inputs(X, empty_ok=True)
        saved = self._enter(params, False)
        out = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
        try:
            for start, chunk in self._chunks(X):
                out[start : start + chunk.shape[0]] = self._forward(chunk, False)
        except BaseException:
            self._undo(saved)
            raise
        return out.T if self.layout == "columns" else out

    def predict(self, X: np.ndarray, params: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Class labels (softmax: the arg-max; sigmoid: ``σ ≥ ½``) or values (linear)."""
        s = self.scores(X, params)
        rows = s.T if self.layout == "columns" else s
        if self.output == "softmax":
            return rows.argmax(axis=1)
        if self.output == "sigmoid":
            labels = (rows >= 0).astype(np.int64)
            return labels.T if self.layout == "columns" else labels
        return s

    def loss(
        self, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray] | None = None
    ) -> float:
        """The loss on a whole data set in evaluation mode, with the L2 penalty."""
        return self.evaluate(X, y, params)["loss"]

    def accuracy(
        self, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray] | None = None
    ) -> float:
        """The fraction of samples classified right (classification outputs only)."""
        if self.output not in ("softmax", "sigmoid"):
            fail("output", "'softmax' or 'sigmoid' for an accuracy", self.output)
        return self.evaluate(X, y, params)["accuracy"]

    def evaluate(
        self, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray] | None = None
    ) -> dict[str, float]:
        """``{"loss": …, "accuracy": …}`` on a data set, in chunks (no dropout).

        ``accuracy`` is present for the softmax and sigmoid outputs.
        """
        X = self._inputs(X)
        y = self._targets(y, X.shape[0])
        saved = self._enter(params, False)
        try:
            total, correct = self._evaluate_chunks(X, y)
        except BaseException:
            self._undo(saved)
            raise
        n = X.shape[0]
        result = {"loss": total / n + self._penalty()}
        if self.output == "softmax":
            result["accuracy"] = correct / n
        elif self.output == "sigmoid":
            result["accuracy"] = correct / (n * self.sizes[-1])
        return result

    def _evaluate_chunks(self, X: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """The summed loss and the number of right answers over ``X`` in chunks."""
        total, correct = 0.0, 0
        for start, chunk in self._chunks(X):
            yc = y[start : start + chunk.shape[0]]
            scores = self._forward(chunk, False)
            total += self.loss_layer.forward(scores, yc) * chunk.shape[0]
            if self.output == "softmax":
                labels = yc if yc.ndim == 1 else yc.argmax(axis=1)
                correct += int(np.count_nonzero(scores.argmax(axis=1) == labels))
            elif self.output == "sigmoid":
                target = yc.reshape(scores.shape) >= 0.5
                correct += int(np.count_nonzero((scores >= 0) == target))
        return total, correct

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return (
            f"MLP({sizes}, activation={self.activation!r}, output={self.output!r}, "
            f"init={self.init!r}, dtype={self.dtype.name}, layout={self.layout!r})"
        )
