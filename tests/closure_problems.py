"""The closure-trajectory tests' shared pieces (L-BFGS and SAM): the recorded data,
the three problems in NumPy, and the flat vector as a dict of parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "closure_trajectories.npz"
SHAPES = {"vec": (5,), "mat": (3, 4), "cube": (2, 1, 3), "scalar": ()}

with np.load(DATA, allow_pickle=False) as _data:
    ARRAYS = {k: _data[k] for k in _data.files}
META = json.loads(str(ARRAYS["meta"]))


def _quadratic(x):
    a, b = ARRAYS["problem/quadratic/A"], ARRAYS["problem/quadratic/b"]
    ax = a @ x
    return 0.5 * (x @ ax) - b @ x, ax - b


def _rosenbrock(x):
    head, tail = x[:-1], x[1:]
    r = tail - head * head
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * head * r - 2.0 * (1.0 - head)
    grad[1:] += 200.0 * r
    return np.sum(100.0 * r * r + (1.0 - head) ** 2), grad


def _logistic(x):
    xs, ys, l2 = ARRAYS["problem/logistic/X"], ARRAYS["problem/logistic/y"], META["logistic_l2"]
    margin = ys * (xs @ x)
    losses = np.logaddexp(0.0, -margin)
    weight = np.exp(-np.logaddexp(0.0, margin))  # σ(−margin)
    grad = xs.T @ (-ys * weight) / len(ys) + l2 * x
    return np.mean(losses) + 0.5 * l2 * (x @ x), grad


PROBLEMS = {"quadratic": _quadratic, "rosenbrock": _rosenbrock, "logistic": _logistic}


def split(x: np.ndarray) -> dict[str, np.ndarray]:
    """The flat vector as parameters: the four shapes for 24 numbers, else two halves."""
    if x.size == 24:
        out, start = {}, 0
        for key, shape in SHAPES.items():
            size = math.prod(shape)
            out[key] = x[start : start + size].reshape(shape).copy()
            start += size
        return out
    return {"a": x[: x.size // 2].copy(), "b": x[x.size // 2 :].copy()}


def flat(params) -> np.ndarray:
    return np.concatenate([np.reshape(v, -1) for v in params.values()])


def closure_of(f):
    def closure(params):
        loss, grad = f(flat(params))
        return float(loss), split(grad)

    return closure
