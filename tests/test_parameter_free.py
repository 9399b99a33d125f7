# ruff: noqa: E501  (the tables keep one case per line)
"""Prodigy and D-Adaptation AdamW: optax's trajectories, the papers' steps, global sums.

``tests/data/free_trajectories.npz`` holds optax 0.2.8's (x64) parameters and
distance estimate ``d`` after every step, recorded by ``scripts/record_free.py``
on a noisy quadratic's gradients; these tests replay them without importing
optax.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gdlab.optim import DAdaptAdamW, Prodigy, create, load
from gdlab.optim.base import _FLAT
from gdlab.testing import one_buffer

DATA = Path(__file__).parent / "data" / "free_trajectories.npz"
CLASSES = {"Prodigy": Prodigy, "DAdaptAdamW": DAdaptAdamW}

# Elementwise relative error, every element, every step (as
# tests/test_torch_conformance.py). The distance estimate sums over every
# element; optax's XLA sums round in another order, so d agrees to about
# 1e-15 and the parameters to about 1e-15 of their scale (measured worst
# elementwise: 1.2e-11, on an element crossing zero).
RTOL = 1e-10
FLOOR = 1e-12


def _read():
    with np.load(DATA, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return json.loads(str(arrays.pop("meta"))), arrays


META, RECORDED = _read()
STEPS = META["steps"]
NAMES = META["param_names"]
CASES = [c for c in META["cases"] if c["gdlab_class"] in CLASSES]


def _replay(case, *, fused, **override):
    """(worst relative error of p as (error, step, key), worst relative error of d)."""
    name = case["name"]
    opt = CLASSES[case["gdlab_class"]](**{**case["gdlab_kwargs"], **override}, fused=fused)
    params = {k: RECORDED[f"{name}/{k}/init"].copy() for k in NAMES}
    traj = {k: np.empty((STEPS, *v.shape)) for k, v in params.items()}
    ds = np.empty(STEPS)
    for step in range(STEPS):
        opt.update(params, {k: RECORDED[f"{name}/{k}/grads"][step].copy() for k in NAMES})
        ds[step] = opt.d
        for k in NAMES:
            traj[k][step] = params[k]
    worst = (0.0, 0, "")
    for k in NAMES:
        expected = RECORDED[f"{name}/{k}/traj"]
        err = np.abs(traj[k] - expected) / np.maximum(np.abs(expected), FLOOR)
        per_step = err.reshape(STEPS, -1).max(axis=1)
        step = int(np.argmax(per_step))
        worst = max(worst, (float(per_step[step]), step + 1, k))
    d_error = float(np.max(np.abs(ds - RECORDED[f"{name}/d"]) / RECORDED[f"{name}/d"]))
    return worst, d_error


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_trajectory_and_distance_match_optax(case, fused):
    worst, d_error = _replay(case, fused=fused)
    assert worst[0] <= RTOL, f"relative error {worst[0]:.3e} at step {worst[1]} in {worst[2]!r}"
    assert d_error <= 1e-13


def test_tolerance_detects_a_tiny_change():
    case = next(c for c in CASES if c["name"] == "dadapt_all")
    worst, d_error = _replay(case, fused=True, lr=case["gdlab_kwargs"]["lr"] * (1 + 1e-8))
    assert worst[0] > 10 * RTOL
    assert d_error > 1e-10


def test_file_covers_both_optimizers_and_d_grows():
    assert META["dtype"] == "float64"
    assert STEPS >= 200
    assert [] in META["shapes"].values()
    for cls in CLASSES:
        kwargs = [c["gdlab_kwargs"] for c in CASES if c["gdlab_class"] == cls]
        assert {} in kwargs  # optax's defaults
        assert any(kw.get("weight_decay", 0) > 0 and kw.get("d0", 1e-6) != 1e-6 for kw in kwargs)
        assert any(kw.get("beta1", 0.9) != 0.9 and kw.get("lr", 1.0) != 1.0 for kw in kwargs)
    assert any(c["gdlab_kwargs"].get("safeguard_warmup") for c in CASES)
    assert any("beta3" in c["gdlab_kwargs"] and "d_coef" in c["gdlab_kwargs"] for c in CASES)
    for case in CASES:
        d = RECORDED[f"{case['name']}/d"]
        d0 = case["gdlab_kwargs"].get("d0", 1e-6)
        assert d[0] == d0
        assert d[-1] > 100 * d0
        assert np.all(np.diff(d) >= 0)
        assert np.sum(np.diff(d) > 0) > 20
        for k in NAMES:
            grads = RECORDED[f"{case['name']}/{k}/grads"]
            assert 0 < np.mean(grads == 0) < 0.5


# ------------------------------------------------------- the papers by hand


def prodigy_paper(p0, grads, *, lr=1.0, b1=0.9, b2=0.999, b3=None, eps=1e-8, d0=1e-6,
                  d_coef=1.0, growth=None, wd=0.0, safeguard=False, bias_correction=True):  # fmt: skip
    """Prodigy (Mishchenko & Defazio 2023, Algorithm 4, Adam form, as optax writes it)
    in plain Python floats over a flat list; returns (p, d) after each step."""
    n = len(p0)
    p, start = list(p0), list(p0)
    m, v, s = [0.0] * n, [0.0] * n, [0.0] * n
    b3 = math.sqrt(b2) if b3 is None else b3
    d, r, out = d0, 0.0, []
    for t, g in enumerate(grads, 1):
        bc = math.sqrt(1 - b2**t) / (1 - b1**t) if bias_correction else 1.0
        dlr = d * lr * bc
        inner = sum(g[i] * (start[i] - p[i]) for i in range(n))
        for i in range(n):
            m[i] = b1 * m[i] + (1 - b1) * d * g[i]
            v[i] = b2 * v[i] + (1 - b2) * d * d * g[i] * g[i]
            s[i] = b3 * s[i] + (d if safeguard else dlr) / d0 * d * g[i]
        r = b3 * r + d / d0 * dlr * inner
        d_hat = d_coef * r / sum(abs(si) for si in s)
        if growth is not None:
            d_hat = min(d_hat, growth * d)
        d_new = max(d, d_hat)
        for i in range(n):
            p[i] = p[i] - dlr * wd * p[i] - dlr * m[i] / (math.sqrt(v[i]) + d_new * eps)
        d = d_new
        out.append((list(p), d))
    return out


def dadapt_paper(p0, grads, *, lr=1.0, b1=0.9, b2=0.999, eps=1e-8, d0=1e-6, d_coef=1.0,
                 growth=None, wd=0.0, bias_correction=True):  # fmt: skip
    """D-Adaptation Adam (Defazio & Mishchenko 2023, Algorithm 5, as optax writes it)
    in plain Python floats over a flat list; returns (p, d) after each step."""
    n = len(p0)
    p = list(p0)
    m, v, s = [0.0] * n, [0.0] * n, [0.0] * n
    sb2 = math.sqrt(b2)
    d, r, out = d0, 0.0, []
    for t, g in enumerate(grads, 1):
        bc = math.sqrt(1 - b2**t) / (1 - b1**t) if bias_correction else 1.0
        dlr = d * lr * bc
        inner = sum(g[i] * s[i] / (math.sqrt(v[i]) + eps) for i in range(n))
        for i in range(n):
            m[i] = b1 * m[i] + (1 - b1) * dlr * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            s[i] = sb2 * s[i] + (1 - sb2) * dlr * g[i]
        r = sb2 * r + (1 - sb2) * dlr * inner
        d_hat = d_coef * r / ((1 - sb2) * sum(abs(si) for si in s))
        if growth is not None:
            d_hat = min(d_hat, growth * d)
        d = max(d, d_hat)
        for i in range(n):
            p[i] = p[i] - dlr * wd * p[i] - m[i] / (math.sqrt(v[i]) + eps)
        out.append((list(p), d))
    return out


P0 = [1.0, -2.0, 0.5]
# Gradients that keep their signs, so that d grows from the second step on.
GRADS = [[0.3, -0.4, 0.2], [0.5, -0.1, 0.6], [0.2, -0.6, 0.1], [0.4, -0.3, 0.0]]

HAND = [
    ("prodigy", {"d0": 0.1}, {"d0": 0.1}),
    (
        "prodigy",
        {"lr": 0.5, "beta1": 0.8, "beta2": 0.9, "beta3": 0.7, "eps": 1e-2, "d0": 0.05,
         "d_coef": 3.0, "weight_decay": 0.1},
        {"lr": 0.5, "b1": 0.8, "b2": 0.9, "b3": 0.7, "eps": 1e-2, "d0": 0.05, "d_coef": 3.0,
         "wd": 0.1},
    ),
    (
        "prodigy",
        {"d0": 0.1, "growth_rate": 1.5, "safeguard_warmup": True, "bias_correction": False},
        {"d0": 0.1, "growth": 1.5, "safeguard": True, "bias_correction": False},
    ),
    ("dadapt_adamw", {"d0": 0.1}, {"d0": 0.1}),
    (
        "dadapt_adamw",
        {"lr": 0.5, "beta1": 0.8, "beta2": 0.9, "eps": 1e-2, "d0": 0.05, "d_coef": 2.0,
         "weight_decay": 0.1},
        {"lr": 0.5, "b1": 0.8, "b2": 0.9, "eps": 1e-2, "d0": 0.05, "d_coef": 2.0, "wd": 0.1},
    ),
    (
        "dadapt_adamw",
        {"d0": 0.1, "growth_rate": 1.2, "bias_correction": False},
        {"d0": 0.1, "growth": 1.2, "bias_correction": False},
    ),
]  # fmt: skip


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize(
    ("name", "kwargs", "ref"), HAND, ids=[f"{h[0]}-{i}" for i, h in enumerate(HAND)]
)
def test_first_steps_follow_the_paper(name, kwargs, ref, fused):
    opt = create(name, **kwargs, fused=fused)
    params = {"w": np.array(P0[:2]), "b": np.array(P0[2])}
    got = []
    for g in GRADS:
        opt.update(params, {"w": np.array(g[:2]), "b": np.array(g[2])})
        got.append(([*params["w"].tolist(), float(params["b"])], opt.d))
    want = (prodigy_paper if name == "prodigy" else dadapt_paper)(P0, GRADS, **ref)
    ds = [d for _, d in want]
    assert ds[0] == kwargs["d0"]
    assert ds[-1] > 1.1 * kwargs["d0"]
    np.testing.assert_allclose([d for _, d in got], ds, rtol=1e-13)
    np.testing.assert_allclose([p for p, _ in got], [p for p, _ in want], rtol=1e-13, atol=1e-16)


def test_growth_rate_caps_each_step():
    free = Prodigy(d0=1e-3)
    capped = Prodigy(d0=1e-3, growth_rate=1.1)
    for opt in (free, capped):
        params = {"w": np.array(P0)}
        previous = opt.d
        for g in GRADS * 3:
            opt.update(params, {"w": np.array(g)})
            assert previous <= opt.d <= (1.1 * previous if opt is capped else math.inf)
            previous = opt.d
    assert free.d > capped.d > 1e-3


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_a_zero_first_gradient_keeps_d(name):
    """optax's estimate is 0/0 then (d becomes NaN); gdlab keeps d and steps on."""
    opt = create(name)
    params = {"w": np.array([1.0, 2.0]), "b": np.array(0.5)}
    opt.update(params, {"w": np.zeros(2), "b": np.array(0.0)})
    assert opt.d == opt.d0
    np.testing.assert_array_equal(params["w"], [1.0, 2.0])
    for _ in range(3):
        opt.update(params, {"w": np.array([1.0, -1.0]), "b": np.array(0.5)})
    assert all(np.all(np.isfinite(v)) for v in params.values())


# ------------------------------------- global sums: layouts, kernels, dtypes

CONFIGS = [
    ("prodigy", {}),
    ("prodigy", {"d0": 1e-3, "weight_decay": 0.1, "beta3": 0.9, "growth_rate": 2.0}),
    ("prodigy", {"safeguard_warmup": True, "bias_correction": False}),
    ("dadapt_adamw", {}),
    ("dadapt_adamw", {"d0": 1e-3, "weight_decay": 0.1, "bias_correction": False, "d_coef": 0.5}),
]
SHAPES = {"W1": (6, 5), "b1": (5,), "W2": (5, 3), "s": ()}


def _values(seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in SHAPES.items()}


def _flat(dtype, values):
    return one_buffer(values, dtype)


def _train(opt, params, dtype, steps=25, flat_grads=False):
    grads = (_flat if flat_grads else lambda d, v: {k: np.array(x, d) for k, x in v.items()})(
        dtype, _values(100)
    )
    for step in range(steps):
        for k, g in _values(step + 200).items():
            grads[k][...] = g + 0.5  # a steady component: d adapts
        opt.update(params, grads)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_flat_span_sums_key_by_key_as_the_per_key_path(name, kwargs, dtype):
    """One flat run over an MLP's keys gives the bits of a run per key (the sums included)."""
    flat_opt, sep_opt = create(name, **kwargs), create(name, **kwargs)
    flat = _train(flat_opt, _flat(dtype, _values(0)), dtype, flat_grads=True)
    sep = _train(sep_opt, {k: np.array(v, dtype) for k, v in _values(0).items()}, dtype)
    assert list(flat_opt._plan.flat_params) == [_FLAT]
    assert list(sep_opt._plan.flat_params) == list(SHAPES)
    assert flat_opt._scalars == sep_opt._scalars
    assert flat_opt.d > 2 * flat_opt.d0
    for k in SHAPES:
        assert flat[k].dtype == dtype
        np.testing.assert_array_equal(flat[k], sep[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_fused_is_bit_identical_to_reference(name, kwargs, dtype):
    runs = []
    for fused in (True, False):
        opt = create(name, **kwargs, fused=fused)
        runs.append(
            (_train(opt, {k: np.array(v, dtype) for k, v in _values(0).items()}, dtype), opt)
        )
    (pa, oa), (pb, ob) = runs
    assert oa._scalars == ob._scalars
    for k in SHAPES:
        np.testing.assert_array_equal(pa[k], pb[k])
        for n in oa.state_names:
            np.testing.assert_array_equal(oa.state[k][n], ob.state[k][n])


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_state_round_trip_continues_bit_identically(name, kwargs, tmp_path):
    straight = create(name, **kwargs)
    params = _train(straight, {k: v.copy() for k, v in _values(0).items()}, np.float64, steps=20)
    first = create(name, **kwargs)
    resumed = _train(first, {k: v.copy() for k, v in _values(0).items()}, np.float64, steps=8)
    again = load(first.save(tmp_path / "opt.npz"))
    assert again._scalars == first._scalars
    assert again.d == first.d
    grads = {k: np.empty(s) for k, s in SHAPES.items()}
    for step in range(8, 20):
        for k, g in _values(step + 200).items():
            grads[k][...] = g + 0.5
        again.update(resumed, grads)
    assert again.d == straight.d
    for k in SHAPES:
        np.testing.assert_array_equal(resumed[k], params[k])


@pytest.mark.parametrize("bad", [0.0, -1e-3])
def test_a_tampered_d_is_refused_and_changes_nothing(bad):
    opt = Prodigy()
    params = {"w": np.ones(3)}
    opt.update(params, {"w": np.ones(3)})
    sd = opt.state_dict()
    sd["scalars"]["d"] = bad
    fresh = Prodigy()
    with pytest.raises(ValueError, match=r"state_dict\['scalars'\]\['d'\] must be > 0"):
        fresh.load_state_dict(sd)
    assert fresh.state is None
    assert fresh.t == 0
    assert fresh.d == 1e-6


BAD = [
    (Prodigy, "d0", 0.0, ValueError, r"^d0 must be > 0; got 0.0"),
    (DAdaptAdamW, "d0", -1e-6, ValueError, r"^d0 must be > 0; got -1e-06"),
    (Prodigy, "d_coef", 0.0, ValueError, r"^d_coef must be > 0; got 0.0"),
    (Prodigy, "growth_rate", 0.5, ValueError, r"^growth_rate must be >= 1; got 0.5"),
    (DAdaptAdamW, "growth_rate", math.inf, ValueError, r"^growth_rate must be finite and >= 1; got inf"),
    (Prodigy, "growth_rate", "2", TypeError, r"^growth_rate must be a real number; got '2' \(str\)"),
    (Prodigy, "beta3", 1.0, ValueError, r"^beta3 must be in \[0, 1\); got 1.0"),
    (Prodigy, "beta1", 1.0, ValueError, r"^beta1 must be in \[0, 1\); got 1.0"),
    (DAdaptAdamW, "beta2", -0.1, ValueError, r"^beta2 must be in \[0, 1\); got -0.1"),
    (DAdaptAdamW, "eps", 0.0, ValueError, r"^eps must be > 0; got 0.0"),
    (Prodigy, "weight_decay", -0.1, ValueError, r"^weight_decay must be >= 0; got -0.1"),
    (Prodigy, "safeguard_warmup", 1, TypeError, r"^safeguard_warmup must be True or False; got 1"),
    (DAdaptAdamW, "bias_correction", "yes", TypeError, r"^bias_correction must be True or False"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "arg", "value", "exc", "msg"), BAD)
def test_bad_arguments_are_named(cls, arg, value, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(**{arg: value})


def test_defaults_are_optax_and_registered():
    p = Prodigy()
    assert (p.lr, p.beta1, p.beta2, p.beta3, p.eps, p.d0, p.d_coef, p.growth_rate) == (
        1.0, 0.9, 0.999, None, 1e-8, 1e-6, 1.0, None,
    )  # fmt: skip
    assert (p.weight_decay, p.safeguard_warmup, p.bias_correction, p.d) == (0.0, False, True, 1e-6)
    a = DAdaptAdamW()
    assert (a.lr, a.beta1, a.beta2, a.eps, a.d0, a.weight_decay) == (
        1.0,
        0.9,
        0.999,
        1e-8,
        1e-6,
        0.0,
    )
    for cls in (Prodigy, DAdaptAdamW):
        assert cls.lr_range == (0.1, 10.0)
        assert cls.presets == {"optax": {}}
        assert "Update::" in cls.__doc__
    assert create("prodigy", preset="optax").hyperparameters() == p.hyperparameters()
