"""Would a sparse first layer make the MNIST race faster? (It does not, here.)

MNIST digits are about 81 % zero pixels, so the first layer's two products
(``X·W1`` forward, ``Xᵀ·dZ`` for the weight gradient) do about five times the
multiply-adds they need. This script times, for the race's shapes (batch 128
of the 4,000 training digits, 784 → 100, float32, one thread):

* the anchor: OpenBLAS on the dense batch (the gather ``X[rows]`` included, as
  the race does it);
* the same products from a CSR copy of the data set, written as numba loops
  that read the batch's rows straight from the CSR arrays (no gather): for each
  non-zero pixel, one row of ``W1`` scaled into the output row (forward) or one
  output row scaled into a row of ``dW1`` (gradient);
* ``scipy.sparse``: the CSR rows selected, then multiplied.

Each case is timed in interleaved rounds; the table shows medians and the
ratio to the anchor measured in the same run::

    python benchmarks/bench_sparse_input.py            # 2000 rounds
    python benchmarks/bench_sparse_input.py --rounds 200
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.sparse
from numba import njit
from threadpoolctl import threadpool_limits

from gdlab import data

_jit = njit(cache=False, error_model="numpy", nogil=True)


@_jit
def csr_rows_times(values, columns, starts, rows, W, out):
    """``out[r] = Σ_k values[k] · W[columns[k]]`` over the non-zeros of row ``rows[r]``."""
    n_out = W.shape[1]
    for r in range(rows.shape[0]):
        o = out[r]
        o[:] = 0.0
        i = rows[r]
        for k in range(starts[i], starts[i + 1]):
            v = values[k]
            w = W[columns[k]]
            for c in range(n_out):
                o[c] += v * w[c]


@_jit
def csr_rows_transposed_times(values, columns, starts, rows, dZ, dW):
    """``dW = X[rows]ᵀ · dZ`` from the CSR rows."""
    n_out = dW.shape[1]
    dW[:] = 0.0
    for r in range(rows.shape[0]):
        d = dZ[r]
        i = rows[r]
        for k in range(starts[i], starts[i + 1]):
            v = values[k]
            w = dW[columns[k]]
            for c in range(n_out):
                w[c] += v * d[c]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()

    X = data.mnist_subset().X[:4000].astype(np.float32)
    csr = scipy.sparse.csr_array(X)
    values, columns = csr.data, csr.indices
    starts = csr.indptr.astype(np.int64)
    rng = np.random.default_rng(0)
    W = rng.standard_normal((784, 100)).astype(np.float32)
    dZ = rng.standard_normal((128, 100)).astype(np.float32)
    batches = rng.integers(0, X.shape[0], (args.rounds, 128))
    out = np.empty((128, 100), np.float32)
    dW = np.empty_like(W)
    batch = np.empty((128, 784), np.float32)

    def dense_forward(rows):
        np.take(X, rows, axis=0, out=batch)
        np.matmul(batch, W, out=out)

    cases = {
        "dense forward (gather + BLAS)": dense_forward,
        "dense weight gradient (BLAS)": lambda rows: np.matmul(batch.T, dZ, out=dW),
        "CSR forward (numba)": lambda rows: csr_rows_times(values, columns, starts, rows, W, out),
        "CSR weight gradient (numba)": lambda rows: csr_rows_transposed_times(
            values, columns, starts, rows, dZ, dW
        ),
        "scipy.sparse forward (select + product)": lambda rows: csr[rows] @ W,
        "scipy.sparse weight gradient (select + product)": lambda rows: csr[rows].T @ dZ,
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with threadpool_limits(limits=1, user_api="blas"):
        for fn in cases.values():  # compile and warm
            fn(batches[0])
        for rows in batches:
            for name, fn in cases.items():
                start = time.perf_counter()
                fn(rows)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    print(f"density of the 4,000 digits: {csr.nnz / X.size:.3f}; {args.rounds} rounds, medians")
    print("| product | ms | ÷ dense |")
    print("|---|---|---|")
    for name, ms in medians.items():
        anchor_name = "dense weight gradient (BLAS)" if "gradient" in name else next(iter(cases))
        anchor = medians[anchor_name]
        print(f"| {name} | {ms:.3f} | {ms / anchor:.2f} |")


if __name__ == "__main__":
    main()
