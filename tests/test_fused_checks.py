"""The per-step checks the optimizers run before touching anything: all_finite, sum_of_squares."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim.fused import all_finite, sum_of_squares

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 3, 8, 15, 37, 70])
def test_all_finite_finds_one_bad_element_anywhere(dtype, size):
    # The array is read as eight slices and a tail: sizes below 8, a multiple
    # of 8 and others, vector bodies and scalar tails; every position, every kind.
    finfo = np.finfo(dtype)
    base = np.linspace(-1, 1, size).astype(dtype)
    base[:3][-1:] = finfo.max
    base[3:6] = [-finfo.max, finfo.smallest_subnormal, 0.0][: base[3:6].size]
    assert all_finite(base)
    bits = np.dtype(dtype).itemsize * 8
    utype = np.uint32 if bits == 32 else np.uint64
    signalling = np.array([0x7F800001 if bits == 32 else 0x7FF0000000000001], dtype=utype).view(
        dtype
    )[0]
    for bad in (np.nan, -np.nan, np.inf, -np.inf, signalling):
        for i in range(base.size):
            x = base.copy()
            x[i] = bad
            assert not all_finite(x), (bad, i)


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_finite_on_empty_and_large_arrays(dtype):
    assert all_finite(np.empty(0, dtype))
    x = np.ones(1_000_003, dtype)
    assert all_finite(x)
    x[-1] = np.inf
    assert not all_finite(x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_squares_accumulates_in_float64(dtype):
    x = np.full(1000, 0.1, dtype)
    assert sum_of_squares(x) == pytest.approx(1000 * float(dtype(0.1)) ** 2, rel=1e-12)
