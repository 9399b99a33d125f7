"""Steady-state updates allocate nothing proportional to the parameter count.

Every optimizer, fused kernels, after a warm-up step (which creates the state
and, with clipping, the clip buffers) runs a few more updates under
``tracemalloc``, which traces NumPy's array allocations. One float32 copy of
the 1M-element parameter would be 4 MB; the bound is 64 KiB, room for a few
Python objects and nothing more. No timing is asserted here.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS

N = 1_000_000
LIMIT = 64 * 1024
UPDATES = 5

# Options on top of each optimizer's defaults. clip_norm is small enough that
# the gradient (norm about 1000) is always rescaled, so the buffers are used.
OPTIONS = {
    "default": {},
    "clip_norm": {"clip_norm": 1.0},
    "clip_value": {"clip_value": 0.5},
    "clip_norm+clip_value": {"clip_norm": 1.0, "clip_value": 0.5},
    "nonfinite=skip": {"nonfinite": "skip"},
    "nonfinite=ignore": {"nonfinite": "ignore"},
}

# Non-default configurations that take other branches of the kernels.
EXTRA = [
    ("momentum", {"form": "book"}),
    ("momentum", {"form": "ema"}),
    ("nesterov", {"form": "book"}),
    ("nesterov", {"form": "keras"}),
    ("rmsprop", {"centered": True, "momentum": 0.9}),
    ("adam", {"amsgrad": True, "weight_decay": 1e-2}),
    ("adam", {"form": "lr_t", "eps_inside": True}),
    ("nadam", {"decoupled_weight_decay": True, "weight_decay": 1e-2}),
    ("radam", {"weight_decay": 1e-2}),
]


def _peak_bytes(opt, params, grads) -> int:
    opt.update(params, grads)  # warm-up: state, clip buffers, compilation
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(UPDATES):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def _data(sizes=(N,)):
    rng = np.random.default_rng(0)
    params = {f"w{i}": rng.standard_normal(n, dtype=np.float32) for i, n in enumerate(sizes)}
    grads = {f"w{i}": rng.standard_normal(n, dtype=np.float32) for i, n in enumerate(sizes)}
    return params, grads


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_steady_state_update_allocates_nothing(name, option):
    opt = OPTIMIZERS[name](**OPTIONS[option], fused=True)
    params, grads = _data()
    peak = _peak_bytes(opt, params, grads)
    assert opt.t == UPDATES + 1
    assert peak < LIMIT, f"{name} ({option}): {UPDATES} updates traced a {peak:,} B peak"


@pytest.mark.parametrize(("name", "kwargs"), EXTRA, ids=[f"{n}-{kw}" for n, kw in EXTRA])
def test_other_configurations_allocate_nothing(name, kwargs):
    opt = OPTIMIZERS[name](**kwargs, clip_norm=1.0, fused=True)
    params, grads = _data()
    peak = _peak_bytes(opt, params, grads)
    assert peak < LIMIT, f"{name} {kwargs}: {UPDATES} updates traced a {peak:,} B peak"


def test_many_keys_allocate_nothing():
    """Several parameter arrays, with and without clipping: still nothing per element."""
    for options in ({}, {"clip_norm": 1.0, "clip_value": 0.5}):
        opt = OPTIMIZERS["adam"](**options, fused=True)
        params, grads = _data((N // 2, N // 4, N // 4 - 3, 3))
        peak = _peak_bytes(opt, params, grads)
        assert peak < LIMIT, f"adam {options}: {UPDATES} updates traced a {peak:,} B peak"


def test_the_bound_detects_one_temporary():
    """Sanity check of the method: a single float32 temporary of the parameter shows."""
    params, grads = _data()
    opt = OPTIMIZERS["sgd"](fused=False)  # the NumPy reference kernels allocate
    assert _peak_bytes(opt, params, grads) >= 4 * N
