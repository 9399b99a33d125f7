"""Round 7 fixes in the optimizers.

- ``clip_norm`` follows ``torch.nn.utils.clip_grad_norm_`` at the threshold:
  the factor is ``min(1, clip/(norm + 1e-6))``, so a norm at or just below
  ``clip_norm`` is scaled too.
- Centered RMSprop, where ``s`` overflows to inf: PyTorch's ``addcmul`` (a
  fused multiply-add) gives ``s − ḡ² = inf`` and a step of 0; two roundings
  gave ``inf − inf = NaN``.
- RMSprop with momentum against ``optax.rmsprop`` (written out below): the
  same steps at a constant rate, not with a schedule (optax puts the rate
  inside the momentum buffer); docs/optimizers.md says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdlab.optim import create, kernels
from gdlab.schedules import ExponentialDecay

TORCH_CLIP_EPS = 1e-6  # clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "optimizers.md"


def _torch_clipped(g: np.ndarray, clip: float) -> np.ndarray:
    """clip_grad_norm_'s rule: g · min(1, clip/(‖g‖ + 1e-6)), always applied."""
    coef = clip / (np.sqrt(np.sum(g * g)) + TORCH_CLIP_EPS)
    return g * min(coef, 1.0)


def _sgd_step(g: np.ndarray, clip: float, fused: bool) -> np.ndarray:
    """What SGD(lr=1) subtracts: the clipped gradient."""
    params = {"w": np.zeros_like(g)}
    create("sgd", lr=1.0, clip_norm=clip, fused=fused).update(params, {"w": g.copy()})
    return -params["w"]


# (clip_norm, the gradient's norm); g = (0.6, 0.8)·norm
CLIP_EDGES = {
    "norm-equal-clip": (1.0, 1.0),  # scaled by 1/(1 + 1e-6)
    "norm-just-below": (1.0, 1.0 - 5e-7),  # still scaled: clip/(norm + 1e-6) < 1
    "norm-below-the-band": (1.0, 1.0 - 2e-6),  # clip/(norm + 1e-6) > 1: untouched
    "tiny-clip-equal": (1e-6, 1e-6),  # scaled by a half
    "tiny-clip-below": (1e-6, 5e-7),  # scaled by 2/3
    "tiny-clip-above": (1e-6, 3e-6),
    "well-above": (0.5, 5.0),
}


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize(("clip", "norm"), list(CLIP_EDGES.values()), ids=list(CLIP_EDGES))
def test_clip_norm_scales_as_clip_grad_norm_at_the_edges(clip, norm, fused):
    g = np.array([0.6, 0.8]) * norm
    np.testing.assert_allclose(_sgd_step(g, clip, fused), _torch_clipped(g, clip), rtol=1e-15)


def test_clip_norm_below_the_band_leaves_the_gradient_bit_for_bit():
    g = np.array([0.6, 0.8]) * (1.0 - 2e-6)
    np.testing.assert_array_equal(_sgd_step(g, 1.0, True), g)


def test_clip_norm_at_the_threshold_scales_by_the_torch_factor():
    # ‖(3, 4)‖ = 5 exactly: torch scales by 5/(5 + 1e-6)
    step = _sgd_step(np.array([3.0, 4.0]), 5.0, True)
    np.testing.assert_allclose(step, np.array([3.0, 4.0]) * (5.0 / (5.0 + 1e-6)), rtol=1e-15)
    assert step[0] < 3.0


# ------------------------------------------------------- centered RMSprop, s = inf

# a finite gradient whose square overflows: 1e200 in float64, 1e30 in float32
HUGE = {np.float64: 1e200, np.float32: 1e30}
RMS_VARIANTS = {
    "plain": {},
    "momentum": {"momentum": 0.9},
    "eps-inside": {"eps_inside": True},
    "weight-decay": {"weight_decay": 0.01, "momentum": 0.5},
}


def _centered(dtype, fused, **kwargs):
    return create("rmsprop", lr=0.01, centered=True, fused=fused, **kwargs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize("kwargs", list(RMS_VARIANTS.values()), ids=list(RMS_VARIANTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centered_rmsprop_with_an_overflowing_square_steps_zero_not_nan(dtype, kwargs, fused):
    huge = HUGE[dtype]
    params = {"w": np.array([1.0, 2.0], dtype)}
    twin = {"w": np.array([2.0], dtype)}  # the finite element alone
    opt, twin_opt = _centered(dtype, fused, **kwargs), _centered(dtype, fused, **kwargs)
    with np.errstate(over="ignore"):
        for sign in (1, -1, 1):
            opt.update(params, {"w": np.array([sign * huge, 1.0], dtype)})
            twin_opt.update(twin, {"w": np.array([1.0], dtype)})
    assert opt.state["w"]["square_avg"][0] == np.inf
    assert params["w"][0] == 1.0  # d/inf = 0 (the weight decay's too), as torch
    assert params["w"][1] == twin["w"][0]


def test_centered_rmsprop_overflow_matches_the_recorded_torch_step():
    # torch 2.13: RMSprop(lr=0.01, centered=True), g = (1e200, 1) from (1, 2)
    params = {"w": np.array([1.0, 2.0])}
    with np.errstate(over="ignore"):
        _centered(np.float64, True).update(params, {"w": np.array([1e200, 1.0])})
    np.testing.assert_allclose(params["w"], [1.0, 1.8994962285750878], rtol=1e-15)


@pytest.mark.parametrize("kwargs", list(RMS_VARIANTS.values()), ids=list(RMS_VARIANTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centered_rmsprop_kernels_agree_bit_for_bit_around_overflow(dtype, kwargs):
    rng = np.random.default_rng(7)
    huge = HUGE[dtype]
    runs = []
    for fused in (True, False):
        params = {"w": np.linspace(-1, 1, 9).astype(dtype)}
        opt = _centered(dtype, fused, nonfinite="ignore", **kwargs)
        grads = rng.standard_normal((6, 9)).astype(dtype)
        grads[0, 2], grads[3, 5], grads[4, 5] = huge, -huge, dtype(np.nan)
        with np.errstate(over="ignore", invalid="ignore"):
            for g in grads:
                opt.update(params, {"w": g})
        runs.append((params["w"], opt.state["w"]["square_avg"], opt.state["w"]["grad_avg"]))
        rng = np.random.default_rng(7)
    for fused_array, numpy_array in zip(*runs, strict=True):
        assert fused_array.tobytes() == numpy_array.tobytes()
    assert runs[0][0][2] == -0.5  # s = inf from the first step on: never moves
    assert np.isnan(runs[0][0][5])  # a NaN gradient (nonfinite="ignore") stays NaN


class _NoMax(np.ndarray):
    """An array whose ``max`` must not be called (a pass over ``s`` every step)."""

    def max(self, *args, **kwargs):
        raise AssertionError("s.max() was called")


def _centered_var_as_before(s, gbar):
    """The kernel's answer before it stopped calling ``s.max()``."""
    if s.size and not np.isfinite(s.max()):
        with np.errstate(over="ignore", invalid="ignore"):
            var = s - gbar * gbar
        np.copyto(var, s, where=(s == np.inf) & np.isfinite(gbar))
        return var
    return s - gbar * gbar


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centered_variance_takes_no_extra_pass_and_keeps_every_bit(dtype):
    huge, inf, nan = HUGE[dtype], np.inf, np.nan
    cases = [
        ([0.5, 2.0, 3.0], [0.1, -1.0, 1.5]),  # finite: s − gbar² as it is
        ([inf, inf, 1.0, inf], [1.0, huge, 0.5, inf]),  # inf − finite; inf − inf mended
        ([inf, nan, 4.0], [nan, 1.0, 1.0]),  # NaN stays NaN
        ([1.0, 2.0], [huge, 0.5]),  # gbar² overflows under a finite s: −inf, as before
        ([], []),
    ]
    for s, gbar in cases:
        s, gbar = np.array(s, dtype), np.array(gbar, dtype)
        with np.errstate(all="raise"):  # the caller's setting does not leak in or out
            got = kernels._centered_var(s.view(_NoMax), gbar)
        with np.errstate(all="ignore"):
            want = _centered_var_as_before(s, gbar)
        assert got.dtype == want.dtype
        assert np.asarray(got).tobytes() == want.tobytes()


# ------------------------------------------------- RMSprop momentum against optax


def _optax_rmsprop(w, grads, rate, *, decay=0.9, eps=1e-8, momentum=0.0):
    """optax.rmsprop as its source chains it, one array per step.

    ``scale_by_rms`` (``nu ← decay·nu + (1 − decay)·g²``, ``g/√(nu + eps)``),
    then ``scale_by_learning_rate`` (``−rate(count)``), then ``trace``
    (``b ← momentum·b + u``): the rate sits inside the momentum buffer.
    """
    nu, b = np.zeros_like(w), np.zeros_like(w)
    for count, g in enumerate(grads):
        nu = decay * nu + (1 - decay) * g * g
        u = -rate(count) * (g / np.sqrt(nu + eps))
        b = momentum * b + u if momentum else u
        w = w + b
        yield w


def _worst_against_optax(lr, momentum):
    rng = np.random.default_rng(0)
    w0, grads = rng.standard_normal(6), rng.standard_normal((200, 6))
    rate = lr if callable(lr) else (lambda count: lr)
    opt = create("rmsprop", preset="optax", lr=lr, momentum=momentum)
    params, worst = {"w": w0.copy()}, 0.0
    for g, expected in zip(grads, _optax_rmsprop(w0, grads, rate, momentum=momentum), strict=True):
        opt.update(params, {"w": g})
        worst = max(worst, float(np.max(np.abs(params["w"] - expected) / np.abs(expected))))
    return worst


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_preset_matches_optax_at_a_constant_rate(momentum):
    assert _worst_against_optax(0.01, momentum) <= 1e-10


def test_rmsprop_preset_matches_optax_with_a_schedule_without_momentum():
    assert _worst_against_optax(ExponentialDecay(0.01, 0.98, per="step"), 0.0) <= 1e-10


def test_rmsprop_preset_leaves_optax_with_momentum_and_a_schedule_as_documented():
    assert _worst_against_optax(ExponentialDecay(0.01, 0.98, per="step"), 0.9) > 1e-2
    text = " ".join(DOCS.read_text(encoding="utf-8").split())
    assert "`optax.rmsprop` scales by the rate before its momentum `trace`" in text
    assert "with `momentum > 0` and a schedule (or `set_lr` mid-run) they part" in text
