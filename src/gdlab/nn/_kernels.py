"""Fused numba loops for the element-wise parts of a network's step.

NumPy would allocate a temporary for each of these (a boolean mask for the ReLU
backward pass, ``σ(1 − σ)`` for the sigmoid's, the probabilities of a softmax);
here each is one pass that writes into a buffer the caller owns. Arrays are
2-D with samples on rows. No fast-math flag is set: rounding is IEEE's.
Accumulations (sums over a batch, the loss) are in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_jit = njit(cache=True, error_model="numpy", nogil=True)


@_jit
def relu_backward(dout, out, dx):
    """``dx = dout · [out > 0]``."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            dx[i, j] = dout[i, j] if out[i, j] > 0 else 0.0


@_jit
def leaky_relu_forward(x, alpha, out):
    """``out = x`` where ``x > 0``, else ``alpha · x``."""
    n, m = x.shape
    for i in range(n):
        for j in range(m):
            v = x[i, j]
            out[i, j] = v if v > 0 else alpha * v


@_jit
def leaky_relu_backward(dout, x, alpha, dx):
    """``dx = dout`` where ``x > 0``, else ``alpha · dout``."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            d = dout[i, j]
            dx[i, j] = d if x[i, j] > 0 else alpha * d


@_jit
def sigmoid_forward(x, out):
    """``out = 1 / (1 + e^−x)``, without overflow for large ``|x|``."""
    n, m = x.shape
    for i in range(n):
        for j in range(m):
            v = x[i, j]
            if v >= 0:
                out[i, j] = 1.0 / (1.0 + np.exp(-v))
            else:
                e = np.exp(v)
                out[i, j] = e / (1.0 + e)


@_jit
def sigmoid_backward(dout, out, dx):
    """``dx = dout · σ · (1 − σ)``, with ``σ`` the forward output."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            s = out[i, j]
            dx[i, j] = dout[i, j] * s * (1.0 - s)


@_jit
def tanh_backward(dout, out, dx):
    """``dx = dout · (1 − tanh²)``, with ``tanh`` the forward output."""
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            t = out[i, j]
            dx[i, j] = dout[i, j] * (1.0 - t * t)


@_jit
def dropout_forward(x, u, p, scale, out):
    """Inverted dropout: keep ``x`` where ``u ≥ p`` scaled by ``1/(1−p)``, else 0."""
    n, m = x.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = x[i, j] * scale if u[i, j] >= p else 0.0


@_jit
def dropout_backward(dout, u, p, scale, dx):
    n, m = dout.shape
    for i in range(n):
        for j in range(m):
            dx[i, j] = dout[i, j] * scale if u[i, j] >= p else 0.0


@_jit
def _softmax_row(scores, i, probs):
    """Write ``softmax(scores[i])`` into ``probs[i]``; return the row's max and ``log Σ exp``.

    Stable: the maximum is subtracted first, and the sum is taken in float64.
    """
    k = scores.shape[1]
    mx = scores[i, 0]
    for j in range(1, k):
        if scores[i, j] > mx:
            mx = scores[i, j]
    s = 0.0
    for j in range(k):
        e = np.exp(np.float64(scores[i, j]) - mx)
        probs[i, j] = e
        s += e
    inv = 1.0 / s
    for j in range(k):
        probs[i, j] = probs[i, j] * inv
    return mx, np.log(s)


@_jit
def softmax_cross_entropy_labels(scores, labels, probs):
    """Mean cross-entropy of ``softmax(scores)`` against integer labels.

    Writes the softmax into ``probs`` and returns the loss.
    """
    n = scores.shape[0]
    total = 0.0
    for i in range(n):
        mx, log_s = _softmax_row(scores, i, probs)
        total += log_s - (np.float64(scores[i, labels[i]]) - mx)
    return total / n


@_jit
def softmax_cross_entropy_targets(scores, targets, probs):
    """Mean cross-entropy of ``softmax(scores)`` against target distributions."""
    n, k = scores.shape
    total = 0.0
    for i in range(n):
        mx, log_s = _softmax_row(scores, i, probs)
        for j in range(k):
            t = np.float64(targets[i, j])
            if t != 0.0:
                total += t * (log_s - (np.float64(scores[i, j]) - mx))
    return total / n


@_jit
def first_bad_distribution(targets, tol):
    """The first row of ``targets`` that is not a distribution, or ``-1``.

    A row is a distribution when every entry is ``>= 0`` (NaN is not) and the
    entries sum to 1 within ``tol`` (the sum taken in float64).
    """
    n, k = targets.shape
    for i in range(n):
        s = 0.0
        for j in range(k):
            t = np.float64(targets[i, j])
            if not t >= 0.0:
                return i
            s += t
        if not abs(s - 1.0) <= tol:
            return i
    return -1


@_jit
def softmax_cross_entropy_backward_labels(probs, labels, dx):
    """``dx = (softmax − onehot(labels)) / n``."""
    n, k = probs.shape
    inv_n = 1.0 / n
    for i in range(n):
        for j in range(k):
            dx[i, j] = probs[i, j] * inv_n
        dx[i, labels[i]] = (probs[i, labels[i]] - 1.0) * inv_n


@_jit
def sigmoid_cross_entropy(z, y, probs):
    """Mean binary cross-entropy of ``σ(z)`` against ``y``, written stably as
    ``softplus(z) − y·z``; ``σ(z)`` is written into ``probs``."""
    n, m = z.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            v = np.float64(z[i, j])
            t = np.float64(y[i, j])
            if v >= 0:
                e = np.exp(-v)
                total += v + np.log1p(e) - t * v
                probs[i, j] = 1.0 / (1.0 + e)
            else:
                e = np.exp(v)
                total += np.log1p(e) - t * v
                probs[i, j] = e / (1.0 + e)
    return total / (n * m)


@_jit
def add_scaled(y, a, x):
    """``y += a · x`` on flat arrays, in place (no ``a · x`` temporary)."""
    for i in range(y.size):
        y[i] = y[i] + a * x[i]


@_jit
def mean_of_squares(x):
    """``mean(x²)`` of a 2-D array, accumulated in float64."""
    n, m = x.shape
    acc = 0.0
    for i in range(n):
        for j in range(m):
            v = np.float64(x[i, j])
            acc += v * v
    return acc / (n * m)


@_jit
def sum_of_squares(x):
    """``Σ x²`` of a flat array, accumulated in float64."""
    acc = 0.0
    for i in range(x.size):
        v = np.float64(x[i])
        acc += v * v
    return acc


@_jit
def add_bias(out, b):
    """``out[i, :] += b`` for every row, in place."""
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = out[i, j] + b[j]


@_jit
def column_sums(d, out):
    """``out[j] = Σᵢ d[i, j]``, summed in row order in the arrays' precision."""
    n, m = d.shape
    for j in range(m):
        out[j] = 0.0
    for i in range(n):
        for j in range(m):
            out[j] = out[j] + d[i, j]


@_jit
def relu_forward(x, out):
    """``out = max(x, 0)``; a NaN input stays NaN."""
    n, m = x.shape
    for i in range(n):
        for j in range(m):
            v = x[i, j]
            out[i, j] = 0.0 if v <= 0 else v
