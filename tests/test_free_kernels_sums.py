"""The lane sums of Prodigy's and D-Adaptation's kernels: their order, fused == reference.

The kernels return two float64 sums per piece, added in ``LANES`` interleaved
lanes (so that the fused loops vectorise) and the lanes then in order. These
tests pin that order down by hand, and hold the fused kernels to the NumPy
reference bit for bit on sizes around multiples of ``LANES``.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim import free_fused, free_kernels
from gdlab.optim.free_kernels import LANES, _lane_sum

SIZES = [0, 1, 5, LANES - 1, LANES, LANES + 1, 2 * LANES + 3, 1000, 4099]


def _wide(n, seed, dtype=np.float64):
    """Terms of both signs over 16 orders of magnitude: any change of order shows."""
    rng = np.random.default_rng(seed)
    return (rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-8, 8, n)).astype(dtype)


def _by_hand(terms) -> float:
    lanes = [0.0] * LANES
    for i, t in enumerate(terms.tolist()):
        lanes[i % LANES] += t
    total = 0.0
    for lane in lanes:
        total += lane
    return total


def test_the_lanes_are_the_same_number_in_both_modules():
    assert free_fused.LANES == free_kernels.LANES == LANES


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_lane_sum_adds_in_the_documented_order(n, dtype):
    terms = _wide(n, n, dtype)
    got = _lane_sum(terms)
    assert type(got) is float
    assert got == _by_hand(terms)
    if n < LANES:  # fewer terms than lanes: the plain left-to-right sum
        plain = 0.0
        for t in terms.tolist():
            plain += t
        assert got == plain


def test_the_order_matters_for_these_terms():
    """The check above is sharp: a sequential or pairwise sum gives other bits here."""
    terms = _wide(4099, 1)
    sequential = 0.0
    for t in terms.tolist():
        sequential += t
    assert _lane_sum(terms) != sequential
    assert _lane_sum(terms) != float(np.sum(terms))


def _prodigy_args(n, dtype, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(n).astype(dtype) for _ in range(3)]  # p, g, p0
    arrays += [(rng.standard_normal(n) * 1e-3).astype(dtype) for _ in range(3)]  # m, v, s
    arrays[4] = np.abs(arrays[4])  # v >= 0
    scalars = [dtype(x) for x in (2e-4, 0.9, 0.1, 0.999, 1e-3, 0.9995, 3e-4, 1e6)]
    return arrays, scalars


def _dadapt_args(n, dtype, seed):
    arrays, _ = _prodigy_args(n, dtype, seed)
    p, g, _, m, v, s = arrays
    scalars = [dtype(x) for x in (1e-8, 0.9, 2e-5, 0.999, 1e-3, 0.9995, 1e-6, -1e-7)]
    return [p, g, m, v, s], scalars


KERNELS = {"prodigy_accumulate": _prodigy_args, "dadapt_step": _dadapt_args}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES[1:])
@pytest.mark.parametrize("name", list(KERNELS))
def test_fused_kernel_is_bit_identical_to_reference(name, n, dtype):
    arrays, scalars = KERNELS[name](n, dtype, n)
    fused = [a.copy() for a in arrays]
    reference = [a.copy() for a in arrays]
    got = getattr(free_fused, name)(*fused, *scalars)
    want = getattr(free_kernels, name)(*reference, *scalars)
    assert got == want
    assert got[1] > 0
    for a, b in zip(fused, reference, strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(fused[-1], arrays[-1])  # s moved


@pytest.mark.parametrize("name", list(KERNELS))
def test_a_piece_of_a_larger_buffer_sums_as_its_own_array(name):
    """The lanes start at each piece's first element, whatever its offset in memory."""
    arrays, scalars = KERNELS[name](1003, np.float32, 1)
    alone = [a[3:1000].copy() for a in arrays]
    within = [a.copy() for a in arrays]
    got = getattr(free_fused, name)(*[a[3:1000] for a in within], *scalars)
    assert got == getattr(free_fused, name)(*alone, *scalars)
    for a, b in zip(within, alone, strict=True):
        np.testing.assert_array_equal(a[3:1000], b)
