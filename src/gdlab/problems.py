"""Problems: what the fit loop and the races optimise.

A :class:`Problem` gives initial parameters from a seed, the loss and gradients
on a batch, and evaluation on held-out data. Everything else (which optimizer,
which batches, when to stop) belongs to :func:`gdlab.train.fit`. A problem
never touches global random state: randomness comes in as a Generator.

========================  ===============================================  ==============
problem                   loss                                             parameters
========================  ===============================================  ==============
:class:`FunctionProblem`  a 2-D test function (bowl, Rosenbrock, …)        ``x, y``
:class:`LinearRegression` mean squared error of ``X·w + b`` (seed 003)     ``w, b``
:class:`LogisticRegression` cross-entropy of a linear classifier           ``W1, b1``
:class:`MLPClassification` cross-entropy of an MLP (seeds 000, 001)        ``W1, b1, …``
========================  ===============================================  ==============

Batches are index arrays into the training set (``None``: the whole set), so
that one :class:`~gdlab.data.BatchStream` can feed every optimizer of a race
the same samples.

>>> import numpy as np
>>> bowl = FunctionProblem("bowl")
>>> params = bowl.init_params(np.random.default_rng(0))
>>> loss, grads = bowl.loss_and_grads(params, None)
>>> loss, float(grads["x"]), float(grads["y"])
(6.45, -0.7, 4.0)
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gdlab import functions2d
from gdlab._checks import (
    ConfigError,
    Field,
    check_choice,
    check_float_dtype,
    check_rng,
    check_table,
    fail,
)
from gdlab._registry import Registry
from gdlab._text import exact, exact_value
from gdlab.data.datasets import Dataset, Splits
from gdlab.nn.mlp import MLP

__all__ = [
    "PROBLEM_KINDS",
    "FunctionProblem",
    "LinearRegression",
    "LogisticRegression",
    "MLPClassification",
    "Problem",
    "ProblemKind",
    "get_kind",
    "register_kind",
]


@runtime_checkable
class Problem(Protocol):
    """The protocol the fit loop drives.

    Attributes:
        name: a short name for reports.
        n_samples: training samples (the batch indices range over them), or
            ``None`` for a problem without data (a 2-D function: every step is
            a full-batch step).
        splits: the names :meth:`evaluate` accepts, ``"train"`` first.
    """

    name: str
    n_samples: int | None
    splits: tuple[str, ...]

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Fresh initial parameters (a new dict of new arrays)."""
        ...

    def loss_and_grads(
        self, params: dict[str, np.ndarray], batch: np.ndarray | None
    ) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on ``batch`` (training-set indices; ``None``: all) and its gradients."""
        ...

    def evaluate(self, params: dict[str, np.ndarray], split: str = "train") -> dict[str, float]:
        """``{"loss": …}`` (and ``"accuracy"`` for classifiers) on a whole split."""
        ...

    # Optional: ``reseed(rng) -> None`` draws the problem's own random streams
    # (dropout masks) from ``rng``; ``fit`` calls it when given ``params``
    # (``init_params`` reseeds them otherwise), without drawing from ``rng``.
    #
    # Optional: ``warm_up() -> None`` compiles (or loads from numba's cache) the
    # kernels that loss_and_grads and evaluate call, touching nothing a run
    # reads. ``fit`` calls it before its clock starts and counts the time as
    # ``compile_seconds``, so that ``seconds`` is the run's own time.


# --------------------------------------------------------------------------- helpers


def _parts(data: Any) -> dict[str, Dataset]:
    """The named parts of ``data``: a Dataset is the training set alone."""
    if isinstance(data, Dataset):
        return {"train": data}
    if isinstance(data, Splits):
        names = ("train", "validation", "test")
        return {name: getattr(data, name) for name in names if getattr(data, name) is not None}
    fail("data", "a gdlab.data Dataset or Splits", data, kind=TypeError)
    raise AssertionError  # unreachable


def _check_batch(batch: Any, n_samples: int) -> np.ndarray:
    """``batch`` as a 1-D integer array of indices into the ``n_samples`` training samples.

    Floats, bools (a mask is not a list of indices), 0-d and 2-D arrays and indices
    out of range are refused: NumPy would wrap a negative index or read a mask as
    indices 0 and 1. An empty batch passes (as integers): the loss refuses it.
    """
    if type(batch) is not np.ndarray:
        if isinstance(batch, str | bytes) or not isinstance(batch, Sequence | np.ndarray):
            fail("batch", "an array of training-sample indices or None", batch, kind=TypeError)
        batch = np.asarray(batch)
    if batch.dtype.kind not in "iu" and batch.size:
        fail("batch", "integer training-sample indices", f"{batch.dtype} array",
             kind=TypeError, described=True)  # fmt: skip
    if batch.ndim != 1:
        fail("batch", "a 1-D array of indices", f"shape {batch.shape}")
    if not batch.size:
        return batch.astype(np.intp)
    low, high = batch.min(), batch.max()
    if low < 0 or high >= n_samples:
        fail(
            "batch", f"indices into the {n_samples} training samples", int(low if low < 0 else high)
        )
    return batch


def _check_samples(X: Any, d: int, layout: str = "") -> np.ndarray:
    """``X`` as an array of numbers with ``d`` features: samples on rows, ``(n, d)``, or
    one sample, ``(d,)``; ``layout`` adds to the expected shape's words."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        fail("X", "numbers (a bool, integer or floating array)", f"{X.dtype} array",
             kind=TypeError, described=True)  # fmt: skip
    if X.ndim not in (1, 2) or X.shape[-1] != d:
        fail("X", f"of shape (n, {d}) or ({d},){layout}", f"shape {X.shape}")
    return X


def _in_dtype(part: Dataset, field: str, dtype: np.dtype) -> np.ndarray:
    """``part``'s ``field`` (``"X"`` or ``"y"``) in ``dtype``, contiguous, if the cast keeps
    every value finite: float64 data past float32's range (about 3.4e38) would become
    infinite, and the run would only show as diverged. Refused naming the data set, the
    feature and the value."""
    source = getattr(part, field)
    with np.errstate(over="ignore"):  # an overflow is refused below, with the value
        cast = np.ascontiguousarray(source, dtype=dtype)
    if source.dtype.kind != "f" or source.dtype.itemsize <= cast.dtype.itemsize or not cast.size:
        return cast  # the same type (the Dataset checked it finite), a wider one, or integers
    if np.isfinite(cast.min()) and np.isfinite(cast.max()):
        return cast
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(cast))[0])
    if field == "X":
        what = f"X[{where[0]}, {where[1]}] (feature {part.feature_names[where[1]]!r})"
    else:
        what = f"y[{where[0]}] (target {part.target_names[0]!r})"
    fail(
        f"{what} of the data set {part.name!r}",
        f"within {dtype.name}'s range (magnitude at most {float(np.finfo(dtype).max):.8g}; "
        f"the value exceeds it: use dtype float64)",
        source[where].item(),
    )
    raise AssertionError  # unreachable


class _DataProblem:
    """Shared by the problems with data: the splits, and batches gathered in place."""

    def __init__(self, data: Any, dtype: Any) -> None:
        self.parts = _parts(data)
        self.train = self.parts["train"]
        self.splits = tuple(self.parts)
        self.dtype = check_float_dtype(dtype, ("float32", "float64"))
        if self.train.n_features < 1:
            fail("data", "a data set with at least one feature", self.train.name)
        # Each split's inputs once, contiguous, in the problem's dtype.
        self._X = {name: _in_dtype(part, "X", self.dtype) for name, part in self.parts.items()}
        self._y = {name: part.y for name, part in self.parts.items()}
        if self.train.task == "regression":  # the residuals are in the problem's dtype
            for part in self.parts.values():
                _in_dtype(part, "y", self.dtype)
        self.n_samples = len(self._y["train"])
        self._batch: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _gather(self, batch: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The training rows ``batch`` (into buffers kept per batch size)."""
        X, y = self._X["train"], self._y["train"]
        if batch is None:
            return X, y
        batch = _check_batch(batch, len(y))
        n = len(batch)
        buffers = self._batch.get(n)
        if buffers is None:
            buffers = self._batch[n] = (np.empty((n, X.shape[1]), X.dtype), np.empty(n, y.dtype))
        # mode="clip" (the indices are checked above): with the default "raise",
        # numpy.take stages the result in a temporary array the size of out.
        np.take(X, batch, axis=0, out=buffers[0], mode="clip")
        np.take(y, batch, out=buffers[1], mode="clip")
        return buffers

    def _check_split(self, split: str) -> str:
        """A split name of this problem whose part has samples (a mean over none is 0/0)."""
        split = check_choice("split", split, self.splits)
        if len(self._y[split]) == 0:
            fail("split", f"a part with samples (the {split!r} part is empty)", split)
        return split


# --------------------------------------------------------------------------- problems


class FunctionProblem:
    """A 2-D test function from :mod:`gdlab.functions2d`, started at a point.

    Args:
        function: a registry name (``"bowl"``, ``"rosenbrock"``, ``"beale"``,
            ``"himmelblau"``, ``"saddle"``, ``"rastrigin"``) or a
            :class:`~gdlab.functions2d.Function2D`.
        start: the start point; default the function's (``(-7, 2)`` for the bowl).

    The parameters :meth:`init_params` makes, and the gradients, are 0-d
    float64 arrays over one 2-element buffer each, so that an optimizer
    updates ``x`` and ``y`` in one pass. A built-in function is evaluated on
    Python floats (:func:`~gdlab.functions2d.scalar_form`: the same bits as on
    the 0-d arrays); any other as it is written.
    """

    n_samples = None
    splits = ("train",)

    def __init__(self, function: Any = "bowl", start: Sequence[float] | None = None) -> None:
        self.function = functions2d.get(function) if isinstance(function, str) else function
        if not isinstance(self.function, functions2d.Function2D):
            fail("function", "a function name or a Function2D", function, kind=TypeError)
        given = self.function.start if start is None else start
        point = functions2d.params_from(given, name="start")
        self.start = (float(point["x"]), float(point["y"]))
        self.name = self.function.name
        self._buffers()

    def _buffers(self) -> None:
        """The gradient buffer and its two 0-d views, and the function's scalar form."""
        self._scalar = functions2d.scalar_form(self.function)
        self._grad_buffer = np.zeros(2)
        self._grad_items = memoryview(self._grad_buffer)  # writes two floats fast
        self._grads = _pair_views(self._grad_buffer)
        self._checked: tuple[Any, Any] = (None, None)

    def __getstate__(self) -> dict[str, Any]:
        # Views do not survive pickling as views: they are made again on loading.
        state = dict(self.__dict__)
        for name in ("_scalar", "_grad_buffer", "_grad_items", "_grads", "_checked"):
            state.pop(name, None)
        return state

    def _scalar_at(self, x: Any, y: Any) -> functions2d.ScalarForm | None:
        """The scalar form if there is one and ``x``, ``y`` are 0-d float64 arrays."""
        if self._scalar is None:
            return None
        if _is_f64_scalar(x) and _is_f64_scalar(y):
            self._checked = (x, y)
            return self._scalar
        return None

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._buffers()

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        start = functions2d.params_from(self.start)
        return _pair_views(np.array([start["x"], start["y"]], dtype=np.float64))

    def loss_and_grads(
        self, params: dict[str, np.ndarray], batch: np.ndarray | None = None
    ) -> tuple[float, dict[str, np.ndarray]]:
        try:
            x, y = params["x"], params["y"]
        except (KeyError, TypeError, IndexError):
            x, y = _point_of(params)
        checked = self._checked  # the arrays of the last call, as a rule
        scalar = self._scalar if x is checked[0] and y is checked[1] else self._scalar_at(x, y)
        if scalar is not None:
            loss, dfdx, dfdy = scalar.f_and_grad(float(x), float(y))
            items = self._grad_items
            items[0] = dfdx
            items[1] = dfdy
            return loss, self._grads
        x, y = _point_of(params)
        fn = self.function  # one's own: what it returns is checked (functions2d.grad_pair)
        dfdx, dfdy = functions2d.grad_pair(fn, fn.grad(x, y), x, y)
        self._grads["x"][...] = dfdx
        self._grads["y"][...] = dfdy
        return float(functions2d.loss_value(fn, fn.f(x, y), x, y)), self._grads

    def evaluate(self, params: dict[str, np.ndarray], split: str = "train") -> dict[str, float]:
        if type(split) is not str or split != "train":
            check_choice("split", split, self.splits)
        x, y = _point_of(params)
        checked = self._checked
        scalar = self._scalar if x is checked[0] and y is checked[1] else self._scalar_at(x, y)
        if scalar is not None:
            return {"loss": scalar.f(float(x), float(y))}
        fn = self.function
        return {"loss": float(functions2d.loss_value(fn, fn.f(x, y), x, y))}

    def point(self, params: dict[str, np.ndarray]) -> tuple[float, float]:
        """The current ``(x, y)``: the fit loop records the path from it."""
        x, y = _point_of(params)
        return float(x), float(y)

    def __repr__(self) -> str:
        return f"FunctionProblem({self.name!r}, start={self.start})"


_F64 = np.dtype(np.float64)


def _is_f64_scalar(a: Any) -> bool:
    """Whether ``a`` is a plain 0-d float64 array (what the scalar forms stand in for)."""
    return type(a) is np.ndarray and a.ndim == 0 and a.dtype == _F64


def _coordinate(key: str, value: Any) -> Any:
    """``value`` if it is one real number (a float, or a 0-d float array); an integer
    as a 0-d float64 array. Bools, complex numbers and arrays of several are refused."""
    if _is_f64_scalar(value) or type(value) is float:
        return value
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    if isinstance(value, bool) or a.dtype.kind not in "iuf":
        fail(f"params[{key!r}]", "a real number (a 0-d float array)", value, kind=TypeError)
    if a.ndim != 0:
        fail(f"params[{key!r}]", "a real number (a 0-d float array)", f"shape {a.shape}")
    return value if a.dtype.kind == "f" else a.astype(np.float64)


def _point_of(params: Any) -> tuple[Any, Any]:
    """``(params["x"], params["y"])``, each checked to be one real number."""
    if type(params) is dict and "x" in params and "y" in params:
        return _coordinate("x", params["x"]), _coordinate("y", params["y"])
    if not isinstance(params, Mapping) or "x" not in params or "y" not in params:
        got = list(params) if isinstance(params, Mapping) else params
        fail("params", "a dict with keys x, y", got,
             kind=ValueError if isinstance(params, Mapping) else TypeError)  # fmt: skip
    return _coordinate("x", params["x"]), _coordinate("y", params["y"])


def _pair_views(buffer: np.ndarray) -> dict[str, np.ndarray]:
    """``{"x": …, "y": …}``: 0-d views of the two elements of ``buffer``."""
    return {"x": buffer[0:1].reshape(()), "y": buffer[1:2].reshape(())}


class LinearRegression(_DataProblem):
    """Least squares: ``L = mean((X·w + b − y)²)``, as seed 003.

    Gradients ``∂L/∂w = (2/N)·Xᵀ(X·w + b − y)`` and ``∂L/∂b = (2/N)·Σ(X·w + b − y)``
    over the ``N`` samples of the batch. Plain gradient descent on them is the
    seed's ``w += lr·(2/N)·(diff·x)`` with ``diff = y − pred``.

    Args:
        data: a regression :class:`~gdlab.data.Dataset` (or :class:`~gdlab.data.Splits`).
        init: ``"seed"`` (default: weights 0 and bias 1, seed 003's start),
            ``"zeros"``, or ``"normal"`` (weights and bias from N(0, 1), drawn
            from the rng).
        dtype: float64 (default) or float32.
    """

    def __init__(self, data: Any, *, init: str = "seed", dtype: Any = np.float64) -> None:
        super().__init__(data, dtype)
        if self.train.task != "regression":
            fail("data", "a regression data set", self.train.name)
        self.init = check_choice("init", init, ("seed", "zeros", "normal"))
        self.name = f"linreg-{self.train.name}"
        d = self._X["train"].shape[1]
        self._grads = {"w": np.zeros(d, self.dtype), "b": np.zeros(1, self.dtype)}
        self._residual: dict[int, np.ndarray] = {}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        d = self._X["train"].shape[1]
        if self.init == "normal":
            check_rng(rng)
            return {
                "w": rng.standard_normal(d).astype(self.dtype),
                "b": rng.standard_normal(1).astype(self.dtype),
            }
        bias = 1.0 if self.init == "seed" else 0.0
        return {"w": np.zeros(d, self.dtype), "b": np.full(1, bias, self.dtype)}

    def _check_params(self, params: Any) -> None:
        """``params`` must be ``{"w": (d,), "b": (1,)}`` arrays of the problem's dtype (the
        shapes ``init_params`` gives): matmul would broadcast, or cast, anything else."""
        grads = self._grads
        if not isinstance(params, dict) or params.keys() != grads.keys():
            fail(
                "params",
                "a dict with keys w, b",
                list(params) if isinstance(params, dict) else params,
                kind=TypeError if not isinstance(params, dict) else ValueError,
            )
        for key, ref in grads.items():
            p = params[key]
            if not isinstance(p, np.ndarray) or p.shape != ref.shape or p.dtype != ref.dtype:
                got = f"{p.dtype} {p.shape}" if isinstance(p, np.ndarray) else p
                fail(f"params[{key!r}]", f"a {ref.dtype} array of shape {ref.shape}", got)

    def _residuals(self, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> np.ndarray:
        self._check_params(params)
        r = self._residual.get(len(y))
        if r is None:
            r = self._residual[len(y)] = np.empty(len(y), self.dtype)
        np.matmul(X, params["w"], out=r)
        r += params["b"]
        r -= y
        return r

    def loss_and_grads(
        self, params: dict[str, np.ndarray], batch: np.ndarray | None
    ) -> tuple[float, dict[str, np.ndarray]]:
        X, y = self._gather(batch)
        n = len(y)
        if not n:
            fail("X", "at least one sample (a mean over none is 0/0)", f"shape {X.shape}")
        r = self._residuals(params, X, y)
        loss = float(np.dot(r, r)) / n
        np.matmul(r, X, out=self._grads["w"])
        self._grads["w"] *= 2 / n
        self._grads["b"][0] = 2 / n * r.sum()
        return loss, self._grads

    def evaluate(self, params: dict[str, np.ndarray], split: str = "train") -> dict[str, float]:
        split = self._check_split(split)
        r = self._residuals(params, self._X[split], self._y[split])
        return {"loss": float(np.dot(r, r)) / len(r)}

    def predict(self, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        """``X·w + b`` for the samples on the rows of ``X`` (one sample: a 1-D ``X``)."""
        self._check_params(params)
        X = _check_samples(X, self._grads["w"].shape[0])
        return X.astype(self.dtype, copy=False) @ params["w"] + params["b"]

    # The 2-parameter projection the figures draw (seed 003's picture): the first two
    # weights ``(w1, w2)``, or ``(w, b)`` with one feature. The fit loop records it as
    # the run's path; :meth:`surface` gives the loss over that plane.

    def point(self, params: dict[str, np.ndarray]) -> tuple[float, float]:
        """The plotted pair: ``(w[0], w[1])``, or ``(w[0], b)`` with one feature."""
        w = params["w"]
        return float(w[0]), float(w[1] if w.shape[0] > 1 else params["b"][0])

    def surface(self) -> dict[str, Any]:
        """The training MSE over the plotted pair ``u``, as ``uᵀ·A·u + b·u + c``.

        The other parameters (the bias, further weights) are at their best for
        each ``u`` (least squares over them), so the minimum is the least-squares
        solution's pair. ``axes`` names the pair (with the features' names).
        """
        X, y = self._X["train"].astype(np.float64), self._y["train"].astype(np.float64)
        Z = np.column_stack([X, np.ones(len(y))])  # parameters (w..., b)
        Q, q, c = Z.T @ Z / len(y), Z.T @ y / len(y), float(y @ y) / len(y)
        pair = [0, 1]
        rest = [k for k in range(Z.shape[1]) if k not in pair]
        inv = np.linalg.pinv(Q[np.ix_(rest, rest)])
        A = Q[np.ix_(pair, pair)] - Q[np.ix_(pair, rest)] @ inv @ Q[np.ix_(rest, pair)]
        s = q[pair] - Q[np.ix_(pair, rest)] @ inv @ q[rest]
        best = np.linalg.lstsq(A, s, rcond=None)[0]
        names = self.train.feature_names
        axes = [f"w1 ({names[0]})", f"w2 ({names[1]})"] if X.shape[1] > 1 else ["w", "b"]
        return {
            "kind": "quadratic",
            "axes": axes,
            "A": A.tolist(),
            "b": (-2 * s).tolist(),
            "c": c - float(q[rest] @ inv @ q[rest]),
            "minimum": best.tolist(),
        }

    def __repr__(self) -> str:
        return f"LinearRegression({self.train!r}, init={self.init!r})"


class MLPClassification(_DataProblem):
    """A classifier network (:class:`~gdlab.nn.MLP`) trained on cross-entropy.

    Args:
        data: a classification :class:`~gdlab.data.Dataset` or :class:`~gdlab.data.Splits`.
        hidden: hidden layer sizes, e.g. ``(100, 100, 100, 100)`` (seed 001)
            or ``(5, 2)`` (seed 000); the input and output sizes come from the data.
        activation, init, weight_decay, dropout, layout: as :class:`~gdlab.nn.MLP`.
        output: ``"softmax"`` or ``"sigmoid"``; default: sigmoid with one
            output unit for two classes, softmax otherwise.
        dtype: float32 (default) or float64.
    """

    def __init__(
        self,
        data: Any,
        hidden: Sequence[int] = (100,),
        *,
        activation: str = "relu",
        init: str | float = "he",
        output: str | None = None,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        layout: str = "rows",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(data, dtype)
        train = self.train
        if train.task != "classification":
            fail("data", "a classification data set", train.name)
        n_classes = train.n_classes
        if n_classes < 2:  # no output choice helps: there is nothing to tell apart
            raise ValueError(
                f"the data set {train.name!r} must have at least 2 classes for a classifier; "
                f"got {n_classes} class ({', '.join(map(repr, train.target_names))})"
            )
        if output is None:
            output = "sigmoid" if n_classes == 2 else "softmax"
        check_choice("output", output, ("softmax", "sigmoid"))
        if output == "sigmoid" and n_classes != 2:
            fail("output", f"'softmax' for {n_classes} classes ('sigmoid': two classes)", output)
        if isinstance(hidden, str | bytes) or not isinstance(hidden, Sequence):
            fail("hidden", "a list of hidden layer sizes, e.g. (100,)", hidden, kind=TypeError)
        n_out = 1 if output == "sigmoid" else n_classes
        self.sizes = (train.n_features, *hidden, n_out)
        self.options = {
            "activation": activation,
            "init": init,
            "output": output,
            "weight_decay": weight_decay,
            "dropout": dropout,
            "layout": layout,
            "dtype": self.dtype,
        }
        self.name = f"mlp-{train.name}"
        # A network made now checks the arguments and is the engine that
        # computes for every parameter set (MLP.bind); init_params draws new sets.
        self.net = MLP(self.sizes, rng=np.random.default_rng(0), **self.options)
        self._warmed = 0  # the process that warmed it up (see warm_up)
        if layout == "columns":  # the course's layout: samples on columns
            self._X = {name: np.ascontiguousarray(X.T) for name, X in self._X.items()}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """New parameters drawn from ``rng``; the dropout masks are reseeded from it too
        (:meth:`reseed`)."""
        net = MLP(self.sizes, rng=rng, **self.options)
        self.reseed(rng)
        return net.params

    def reseed(self, rng: np.random.Generator) -> None:
        """Draw the dropout masks from here on from ``rng`` (a generator spawned from it).

        The masks come from the engine's layers, whichever parameters it
        computes for: :meth:`init_params` reseeds them, and ``fit`` calls this
        when it is given its parameters, so a run's masks always come from its
        ``rng``. ``rng`` is not drawn from (``spawn`` leaves its stream as it
        is). Nothing to do without dropout.
        """
        if self.options["dropout"]:
            for layer in self.net.layers:
                if hasattr(layer, "rng"):
                    layer.rng = rng.spawn(1)[0]

    def _gather(self, batch: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self.options["layout"] == "columns":
            X, y = self._X["train"], self._y["train"]
            if batch is None:
                return X, y
            batch = _check_batch(batch, len(y))
            return X[:, batch], y[batch]
        return super()._gather(batch)

    def loss_and_grads(
        self, params: dict[str, np.ndarray], batch: np.ndarray | None
    ) -> tuple[float, dict[str, np.ndarray]]:
        X, y = self._gather(batch)
        return self.net.loss_and_grads(X, y, params)

    def evaluate(self, params: dict[str, np.ndarray], split: str = "train") -> dict[str, float]:
        split = self._check_split(split)
        return self.net.evaluate(self._X[split], self._y[split], params)

    def predict(self, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
        """The class labels, one per sample on the rows of ``X`` (one sample: a 1-D ``X``).

        ``X`` is as the data set holds it, ``(n, n_features)``, whatever the
        network's ``layout``: a ``"columns"`` problem transposes it for the
        network. Returns ``(n,)`` class indices.
        """
        d = self.sizes[0]
        rows = _check_samples(X, d, ", samples on rows").reshape(-1, d)
        if self.options["layout"] == "columns":  # a view: the network transposes it back
            rows = rows.T
        return np.asarray(self.net.predict(rows, params)).reshape(-1)

    def warm_up(self) -> None:
        """Compile the network's kernels: a training step and an evaluation on a twin.

        The twin has this network's sizes, options and dtype but its own
        parameters, buffers and generators, and sees the first two training
        samples; nothing a run reads (the engine's parameters, buffers and
        dropout generators) is touched. Done once per problem.
        """
        if self._warmed == os.getpid() or not self.n_samples:  # another process compiles again
            return
        twin = MLP(self.sizes, rng=np.random.default_rng(0), **self.options)
        X, y = self._X["train"], self._y["train"]
        n = min(2, len(y))
        rows = X[:, :n] if self.options["layout"] == "columns" else X[:n]
        twin.loss_and_grads(np.ascontiguousarray(rows), y[:n])
        twin.evaluate(rows, y[:n])
        self._warmed = os.getpid()

    def state_dict(self) -> dict[str, Any]:
        """The dropout generators' states (what a resumed run needs besides the params)."""
        return {
            "dropout_rngs": [
                layer.rng.bit_generator.state for layer in self.net.layers if hasattr(layer, "rng")
            ]
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        layers = [layer for layer in self.net.layers if hasattr(layer, "rng")]
        saved = state.get("dropout_rngs", [])
        if len(saved) != len(layers):
            fail("state['dropout_rngs']", f"{len(layers)} generator states", len(saved))
        for layer, bit_state in zip(layers, saved, strict=True):
            layer.rng.bit_generator.state = bit_state

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"MLPClassification({self.train.name!r}, sizes={sizes})"


class LogisticRegression(MLPClassification):
    """A linear classifier: logistic regression (two classes, sigmoid) or its
    multinomial form (softmax), trained on cross-entropy.

    It is the network with no hidden layer, so its parameters are ``W1, b1``;
    they start at zero (the loss is convex, and zeros is the usual start).
    """

    def __init__(self, data: Any, *, weight_decay: float = 0.0, dtype: Any = np.float64) -> None:
        super().__init__(data, (), weight_decay=weight_decay, dtype=dtype, init="he")
        self.name = f"logreg-{self.train.name}"

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = super().init_params(rng)
        for array in params.values():
            array[...] = 0
        return params

    def __repr__(self) -> str:
        return f"LogisticRegression({self.train.name!r})"


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ProblemKind:
    """A kind of problem an experiment can name (``problem.kind``).

    Attributes:
        name: the registry key.
        summary: a few words for listings and docs.
        fields: the ``[problem]`` keys of the kind itself (a kind with data
            also reads its data source's keys, :mod:`gdlab.data.registry`).
        traits: what generic code may ask: ``"function2d"`` (a 2-D function:
            paths on contours, no data), ``"data"`` (trained on a data set),
            ``"classifier"`` (accuracy is defined), ``"regression"``.
        build: ``(options, data) -> Problem``; ``data`` is the loaded data
            (a Dataset or Splits, e.g. one fold), already :func:`prepared` (what the
            data source fits on the training part, such as Boston's scaling), or
            ``None`` for ``function2d``. A ``function2d`` kind builds a
            :class:`FunctionProblem`: its :class:`~gdlab.functions2d.Function2D` is what
            reports draw, built again from the options
            (:meth:`gdlab.experiments.ProblemSpec.function`).
        describe: ``options -> str``: the problem in words, for reports.
        task: the data task it needs (``"classification"``, ``"regression"``)
            or ``None`` (no data).
        implied: ``options -> values``: what keys left at ``None`` stand for
            (a function's own start point), so that writing them out is no change.
    """

    name: str
    summary: str
    fields: Mapping[str, Field]
    traits: frozenset[str]
    build: Callable[[Mapping[str, Any], Any], Any]
    describe: Callable[[Mapping[str, Any]], str]
    task: str | None = None
    implied: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None

    def has(self, trait: str) -> bool:
        """Whether the kind has ``trait`` (``"function2d"``, ``"data"``, ``"classifier"`` …)."""
        return trait in self.traits

    def all_fields(self, data: str | None) -> dict[str, Field]:
        """The ``[problem]`` keys with data source ``data``: the kind's, then the source's."""
        from gdlab.data.registry import DATA_SOURCES

        keys: dict[str, Field] = {"kind": Field("str", doc="the problem kind")}
        if self.has("data"):
            names = tuple(n for n, d in DATA_SOURCES.items() if d.task == self.task)
            keys["data"] = Field("choice", doc="the data set", choices=names)
        keys.update(self.fields)
        if self.has("data") and data in DATA_SOURCES:
            keys.update(DATA_SOURCES[data].fields)
        return keys

    def check(self, table: Mapping[str, Any], where: str = "problem") -> dict[str, Any]:
        """The ``[problem]`` table checked (every key known, every value valid), defaults filled."""
        from gdlab.data.registry import DATA_SOURCES

        data = table.get("data")
        fields = self.all_fields(data if isinstance(data, str) else None)
        if self.has("data") and "data" not in table:
            raise ConfigError(f"{where}.data is required: {fields['data'].allowed()}")
        if self.has("data"):  # an unknown data set first: its keys are unknown without it
            fields["data"].check(f"{where}.data", data)
        options = check_table(table, fields, where)
        if self.has("data"):
            source = DATA_SOURCES[options["data"]]
            if source.validate is not None:
                source.validate(options, where)
        return options

    def splits(self, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The parts of the problem's data, ``"train"`` first; ``()`` for a 2-D function."""
        from gdlab.data.registry import DATA_SOURCES

        return DATA_SOURCES[options["data"]].split_names(options) if self.has("data") else ()

    def load_data(self, options: Mapping[str, Any]) -> Any:
        """The problem's data set (Dataset or Splits); ``None`` for a 2-D function.

        As loaded, before :func:`prepared` (which
        :meth:`gdlab.experiments.model.ProblemSpec.build` applies to it, or to each
        fold tuning cuts from it, before :attr:`build`).

        Read from the disk cache when a process loaded the same data before
        (:meth:`gdlab.data.DataSource.load_cached`).
        """
        from gdlab.data.registry import DATA_SOURCES

        if not self.has("data"):
            return None
        return DATA_SOURCES[options["data"]].load_cached(options)


#: Every problem kind an experiment can name.
PROBLEM_KINDS: Registry[ProblemKind] = Registry("problem kind", ProblemKind)


def register_kind(kind: ProblemKind) -> ProblemKind:
    """Add a problem kind to :data:`PROBLEM_KINDS` (a name may be registered once)."""
    return PROBLEM_KINDS.register(kind)


def get_kind(name: Any, where: str = "problem.kind") -> ProblemKind:
    """The kind registered as ``name``; :class:`ConfigError` listing the kinds otherwise,
    and saying that a kind of one's own must be registered in this process first."""
    missing = (
        "which is not registered in this process: import the module that registers it (its "
        "gdlab.problems.register_kind call) first"
    )
    return PROBLEM_KINDS.lookup(name, where, missing)


def prepared(options: Mapping[str, Any], data: Any) -> Any:
    """``data`` as a problem trains on it: the data source's preparation (Boston's
    scaling) fitted on its training part, whatever the split (the whole set, a test
    split, one fold of tuning): :meth:`gdlab.data.DataSource.prepared`. Every kind with
    data gets its data so (:meth:`gdlab.experiments.model.ProblemSpec.build` calls it
    before the kind's ``build``)."""
    from gdlab.data.registry import DATA_SOURCES

    return DATA_SOURCES[options["data"]].prepared(options, data)


def _data_words(options: Mapping[str, Any]) -> str:
    from gdlab.data.registry import DATA_SOURCES

    return DATA_SOURCES[options["data"]].describe(options)


def _point(p: Sequence[float]) -> str:
    """``(-7, 2)``, ``(0.1234567, 2)``: every digit as given (:func:`gdlab._text.exact`)."""
    return "(" + ", ".join(exact(v) for v in p) + ")"


def check_start(problem: Any, where: str = "problem") -> None:
    """Refuse a 2-D problem (a :class:`FunctionProblem`) whose start point is one where f
    or its gradient is not finite (``log(x)`` at ``x < 0``): every run would stop there,
    before its first step, as if it diverged. Races and tuning check it before any run
    (:func:`gdlab.race.prepare`); ``gdlab play`` lets such a start be, and says so."""
    if not isinstance(problem, FunctionProblem):
        return
    with np.errstate(all="ignore"):
        try:
            loss, grads = problem.loss_and_grads(problem.init_params(np.random.default_rng(0)))
            gradient = (float(grads["x"]), float(grads["y"]))
        except ArithmeticError as error:  # a Python float's overflow: 1e200 ** 2
            why = f"f cannot be computed there ({error})"
        else:
            if math.isfinite(loss) and all(map(math.isfinite, gradient)):
                return
            why = (
                f"the gradient there is {_point(gradient)}"
                if math.isfinite(loss)
                else f"f there is {exact_value(float(loss))}"
            )
    raise ConfigError(
        f"{where}.start must be a point where f and its gradient are finite; got "
        f"[{', '.join(exact(v) for v in problem.start)}]: {why} (every run would stop before "
        "its first step)"
    )


def _describe_function(o: Mapping[str, Any]) -> str:
    fn = functions2d.get(o["function"])
    start = fn.start if o["start"] is None else o["start"]
    return f"{fn.name}: {fn.description}, from {_point(start)}"


_DTYPE = Field("choice", "float32", "floating type of data and parameters",
               choices=("float32", "float64"))  # fmt: skip
_WEIGHT_DECAY = Field("real", 0.0, "L2 penalty (λ/2)·ΣW² in the loss", low=0)


register_kind(
    ProblemKind(
        name="function",
        summary="a 2-D test function from gdlab.functions2d, started at a point",
        fields={
            "function": Field("choice", "bowl", "the function",
                              choices=tuple(functions2d.FUNCTIONS)),
            "start": Field("reals", None, "start point (x, y); default the function's",
                           nullable=True, length=2),
        },
        traits=frozenset({"function2d"}),
        build=lambda o, data: FunctionProblem(o["function"], o["start"]),
        describe=_describe_function,
        implied=lambda o: {"start": list(functions2d.get(o["function"]).start)},
    )
)  # fmt: skip


def _expression_function(o: Mapping[str, Any]) -> functions2d.Function2D:
    from gdlab import expressions

    return expressions.function(o["expression"], start=o["start"], xlim=o["xlim"],
                                ylim=o["ylim"])  # fmt: skip


@dataclass(frozen=True)
class _ExpressionKind(ProblemKind):
    """The ``expression`` kind: also checks that the text parses (position in the message)."""

    def check(self, table: Mapping[str, Any], where: str = "problem") -> dict[str, Any]:
        from gdlab.expressions import ExpressionError

        options = super().check(table, where)
        try:
            _expression_function(options)
        except ExpressionError as error:
            raise ConfigError(f"{where}.expression {options['expression']!r}: {error}") from None
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None
        return options


register_kind(
    _ExpressionKind(
        name="expression",
        summary="your own f(x, y), typed as text and differentiated exactly (gdlab play)",
        fields={
            "expression": Field("str", doc="f(x, y), e.g. 'x^2/20 + y^2' (gdlab.expressions)"),
            "start": Field("reals", (1.0, 1.0), "start point (x, y)", length=2),
            "xlim": Field("reals", (-5.0, 5.0), "plot range of x (low, high)", length=2),
            "ylim": Field("reals", (-5.0, 5.0), "plot range of y (low, high)", length=2),
        },
        traits=frozenset({"function2d"}),
        build=lambda o, data: FunctionProblem(_expression_function(o), o["start"]),
        describe=lambda o: f"{_expression_function(o).description}, from {_point(o['start'])}",
    )
)  # fmt: skip


def _describe_linreg(o: Mapping[str, Any]) -> str:
    start = {"seed": "w = 0, b = 1", "zeros": "w = 0, b = 0", "normal": "w, b ~ N(0, 1)"}
    return (
        f"linear regression (mean squared error) on {_data_words(o)}; starts at "
        f"{start[o['init']]}; {o['dtype']}"
    )


register_kind(
    ProblemKind(
        name="linreg",
        summary="least-squares linear regression (seed 003)",
        fields={
            "init": Field("choice", "seed", "start: 'seed' (w = 0, b = 1), 'zeros' or 'normal'",
                          choices=("seed", "zeros", "normal")),
            "dtype": dataclasses.replace(_DTYPE, default="float64"),
        },
        traits=frozenset({"data", "regression"}),
        build=lambda o, data: LinearRegression(data, init=o["init"], dtype=o["dtype"]),
        describe=_describe_linreg,
        task="regression",
    )
)  # fmt: skip


def _describe_logreg(o: Mapping[str, Any]) -> str:
    decay = f", L2 {o['weight_decay']:g}" if o["weight_decay"] else ""
    return f"logistic regression (cross-entropy{decay}) on {_data_words(o)}; {o['dtype']}"


register_kind(
    ProblemKind(
        name="logreg",
        summary="a linear classifier on cross-entropy (weights start at zero)",
        fields={
            "weight_decay": _WEIGHT_DECAY,
            "dtype": dataclasses.replace(_DTYPE, default="float64"),
        },
        traits=frozenset({"data", "classifier"}),
        build=lambda o, data: LogisticRegression(
            data, weight_decay=o["weight_decay"], dtype=o["dtype"]
        ),
        describe=_describe_logreg,
        task="classification",
    )
)


def _build_mlp(o: Mapping[str, Any], data: Any) -> MLPClassification:
    return MLPClassification(
        data,
        o["hidden"],
        activation=o["activation"],
        init=o["init"],
        output=o["output"],
        weight_decay=o["weight_decay"],
        dropout=o["dropout"],
        layout=o["layout"],
        dtype=o["dtype"],
    )


def _describe_mlp(o: Mapping[str, Any]) -> str:
    hidden = "-".join(str(h) for h in o["hidden"]) or "no"
    init = o["init"] if isinstance(o["init"], str) else f"std {o['init']:g}"
    extras = [f"{init} initial weights"]
    if o["output"] is not None:
        extras.append(f"{o['output']} output")
    if o["dropout"]:
        extras.append(f"dropout {o['dropout']:g}")
    if o["weight_decay"]:
        extras.append(f"L2 {o['weight_decay']:g}")
    if o["layout"] == "columns":
        extras.append("samples on columns")
    return (
        f"a network with {hidden} hidden units ({o['activation']}; {', '.join(extras)}; "
        f"{o['dtype']}) on {_data_words(o)}"
    )


def _activations() -> tuple[str, ...]:
    from gdlab.nn import ACTIVATIONS

    return tuple(ACTIVATIONS)


register_kind(
    ProblemKind(
        name="mlp",
        summary="a classifier network (gdlab.nn.MLP) on cross-entropy (seeds 000, 001)",
        fields={
            "hidden": Field("ints", (100,), "hidden layer sizes", low=1, high=100_000),
            "activation": Field("choice", "relu", "hidden activation", choices=_activations()),
            "init": Field("choice", "he", "initial weights: a scheme or a fixed std",
                          choices=("he", "xavier", "glorot"), low=0, low_open=True),
            "output": Field("choice", None, "'softmax' or 'sigmoid' (default: sigmoid for two "
                            "classes)", choices=("softmax", "sigmoid"), nullable=True),
            "weight_decay": _WEIGHT_DECAY,
            "dropout": Field("real", 0.0, "dropout rate of hidden units", low=0, high=1,
                             high_open=True),
            "layout": Field("choice", "rows", "samples on 'rows' or on 'columns' (the course's)",
                            choices=("rows", "columns")),
            "dtype": _DTYPE,
        },
        traits=frozenset({"data", "classifier"}),
        build=_build_mlp,
        describe=_describe_mlp,
        task="classification",
    )
)  # fmt: skip
