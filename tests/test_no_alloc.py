"""Steady-state updates allocate nothing proportional to the parameter count.

Every optimizer, fused kernels, after a warm-up step (which creates the state
and, with clipping, the clip buffers) runs a few more updates under
``tracemalloc`` (``gdlab.testing.steady_peak``), which traces NumPy's array
allocations. One float32 copy of the 1M-element parameter would be 4 MB; the
bound is 64 KiB, room for a few Python objects and nothing more. No timing is
asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS
from gdlab.testing import steady_peak

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

# Settings for the tests above where the defaults would take long: in float32 L-BFGS's
# tolerances are never met, and each of its 20 inner iterations runs over a growing history.
SETTINGS = {"lbfgs": {"max_iter": 3}}
# Optimizers that refuse clip_norm and clip_value (L-BFGS: its curvature pairs need the
# true gradients).
NO_CLIPPING = {"lbfgs"}

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
    ("signum", {"momentum": 0.0, "weight_decay": 1e-2}),
    ("adabelief", {"nesterov": True}),
    ("adopt", {"use_clipping": False, "nesterov": True}),
    ("ademamix", {"alpha_warmup": 3, "beta3_warmup": 3, "weight_decay": 1e-2}),
    ("adan", {"weight_decay": 1e-2}),
    ("adan", {"form": "optax", "weight_decay": 1e-2}),
    ("rprop", {"etaminus": 0.3, "step_size_max": 0.1}),
    ("asgd", {"t0": 0.0, "weight_decay": 1e-2}),
    ("ftrl", {"learning_rate_power": -0.3, "l1_regularization_strength": 0.01}),
    ("adafactor", {"form": "keras", "weight_decay": 1e-2}),
    ("sm3", {"momentum": 0.0}),
    ("lbfgs", {"line_search_fn": "strong_wolfe", "max_iter": 3}),
    ("sam", {"base": "adam", "adaptive": True}),
]


class _Model:
    """For the rules that evaluate again (L-BFGS, SAM): the closure of f(q) = Σ g·(q − p)
    + ½‖q − p‖² around the (params, grads) of the last ``at`` (its gradient there is
    grads), computed in buffers made once."""

    def __init__(self, params, grads):
        self.p = {k: v.copy() for k, v in params.items()}
        self.g = {k: v.copy() for k, v in grads.items()}
        self.out = {k: np.empty_like(v) for k, v in params.items()}

    def at(self, params, grads):
        for k in self.p:
            np.copyto(self.p[k], params[k])
            np.copyto(self.g[k], grads[k])
        return self

    def __call__(self, q):
        loss = 0.0
        for k, d in self.out.items():
            np.subtract(q[k], self.p[k], out=d)
            loss += float(np.vdot(self.g[k], d)) + 0.5 * float(np.vdot(d, d))
            d += self.g[k]
        return loss, self.out


def _peak_bytes(opt, params, grads) -> int:
    model = _Model(params, grads) if opt.needs_closure else None

    def update():
        if model is None:
            opt.update(params, grads)
        else:
            opt.update(params, grads, closure=model.at(params, grads))

    update()  # warm-up: state, clip buffers, compilation
    return steady_peak(update, LIMIT, calls=UPDATES)


def _data(sizes=(N,)):
    rng = np.random.default_rng(0)
    params = {f"w{i}": rng.standard_normal(n, dtype=np.float32) for i, n in enumerate(sizes)}
    grads = {f"w{i}": rng.standard_normal(n, dtype=np.float32) for i, n in enumerate(sizes)}
    return params, grads


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_steady_state_update_allocates_nothing(name, option):
    if name in NO_CLIPPING and "clip" in option:
        pytest.skip(f"{name} refuses clip_norm and clip_value")
    opt = OPTIMIZERS[name](**OPTIONS[option], **SETTINGS.get(name, {}), fused=True)
    params, grads = _data()
    peak = _peak_bytes(opt, params, grads)
    # every call stepped (steady_peak measures again when another thread's allocation
    # pushed a measurement over the limit: UPDATES more calls each time)
    assert opt.t > UPDATES
    assert (opt.t - 1) % UPDATES == 0
    assert peak < LIMIT, f"{name} ({option}): {UPDATES} updates traced a {peak:,} B peak"


@pytest.mark.parametrize(("name", "kwargs"), EXTRA, ids=[f"{n}-{kw}" for n, kw in EXTRA])
def test_other_configurations_allocate_nothing(name, kwargs):
    clip = {} if name in NO_CLIPPING else {"clip_norm": 1.0}
    opt = OPTIMIZERS[name](**kwargs, **clip, fused=True)
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
