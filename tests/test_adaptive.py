"""The modern adaptive optimizers (Lion, Signum, AdaBelief, Yogi, ADOPT, AdEMAMix, Adan).

1. Conformance: ``tests/data/adaptive_trajectories.npz`` holds, per case, the
   trajectory of the reference (optax 0.2.8 in float64, Keras 3's Lion, the
   Adan authors' code), recorded by ``scripts/record_adaptive.py``. The
   tests feed the same gradients to gdlab, fused and reference kernels both,
   and compare after every step, without importing any reference.
2. The first steps against the papers' formulas written out in plain Python.
3. Fused kernels bit-identical to the NumPy ones, float32 and float64.
4. Bad arguments, presets, state round trips.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from gdlab.optim import (
    ADOPT,
    OPTIMIZERS,
    AdaBelief,
    Adan,
    AdEMAMix,
    Lion,
    Signum,
    Yogi,
    adaptive,
    create,
    load,
)

DATA = Path(__file__).parent / "data" / "adaptive_trajectories.npz"
CLASSES = {cls.__name__: cls for cls in (Signum, Lion, AdaBelief, Yogi, ADOPT, AdEMAMix, Adan)}

# Elementwise relative error |gdlab − reference| / max(|reference|, FLOOR), as
# tests/test_torch_conformance.py measures it, every element, every step.
RTOL = 1e-10
FLOOR = 1e-12


def _read_meta() -> dict:
    with np.load(DATA, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


META = _read_meta()
CASES = META["cases"]
STEPS = META["steps"]
PARAM_NAMES = META["param_names"]


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(DATA, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _replay(case: dict, recorded: dict, *, fused: bool, **override) -> list:
    """``(step, param, error)`` of the worst parameter at every step."""
    opt = CLASSES[case["gdlab_class"]](**{**case["gdlab_kwargs"], **override}, fused=fused)
    stream = f"stream{case['stream']}"
    params = {p: recorded[f"{stream}/{p}/init"].copy() for p in PARAM_NAMES}
    grads = {p: recorded[f"{stream}/{p}/grads"] for p in PARAM_NAMES}
    fed = {p: np.empty_like(params[p]) for p in PARAM_NAMES}  # the same arrays every step
    got = {p: np.empty_like(grads[p]) for p in PARAM_NAMES}
    for step in range(STEPS):
        for p in PARAM_NAMES:
            fed[p][...] = grads[p][step, ...]
        opt.update(params, fed)
        for p in PARAM_NAMES:
            got[p][step, ...] = params[p]
    errors = {}
    for p in PARAM_NAMES:
        expected = recorded[f"{case['name']}/{p}/traj"].reshape(STEPS, -1)
        error = np.abs(got[p].reshape(STEPS, -1) - expected) / np.maximum(np.abs(expected), FLOOR)
        errors[p] = error.max(axis=1)
    worst = []
    for step in range(STEPS):
        p = max(PARAM_NAMES, key=lambda name: errors[name][step])
        worst.append((step + 1, p, float(errors[p][step])))
    return worst


# --------------------------------------------------------------- 1. conformance


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_trajectory_matches_the_reference(case, fused, recorded):
    worst = _replay(case, recorded, fused=fused)
    failing = [(step, p, err) for step, p, err in worst if not err <= RTOL]
    if failing:
        step, p, err = failing[0]
        peak = max(worst, key=lambda w: w[2])
        pytest.fail(
            f"{case['name']} ({case['reference']}, fused={fused}): relative error {err:.3e} "
            f"> {RTOL:g} first at step {step} in {p!r}; worst {peak[2]:.3e} at step {peak[0]}"
        )


@pytest.mark.parametrize("name", ["lion_optax", "adabelief_plain", "adan_paper"])
def test_tolerance_detects_a_tiny_change(name, recorded):
    """The criterion is not vacuous: an lr off by one part in 10⁸ fails it."""
    case = next(c for c in CASES if c["name"] == name)
    lr = case["gdlab_kwargs"]["lr"] * (1 + 1e-8)
    worst = _replay(case, recorded, fused=True, lr=lr)
    assert max(err for _, _, err in worst) > 10 * RTOL


def test_file_records_enough_steps_of_varied_gradients(recorded):
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    assert META["optax_version"] == "0.2.8"
    assert META["keras_backend"] == "torch"
    shapes = {p: tuple(s) for p, s in META["shapes"].items()}
    assert () in shapes.values()
    assert len({c["name"] for c in CASES}) == len(CASES)
    zeros = []
    for k in range(len(META["stream_seeds"])):
        for p in PARAM_NAMES:
            grads = recorded[f"stream{k}/{p}/grads"].reshape(STEPS, -1)
            assert grads.dtype == np.float64
            assert np.all(np.isfinite(grads))
            rms = np.sqrt(np.mean(grads[: STEPS // 10 * 10].reshape(STEPS // 10, -1) ** 2, 1))
            assert rms.max() / rms.min() > 100
            zeros.append(np.mean(grads == 0))
    assert 0.01 < np.mean(zeros) < 0.5
    for case in CASES:
        for p in PARAM_NAMES:
            assert recorded[f"{case['name']}/{p}/traj"].shape == (STEPS, *shapes[p])


def _has(cls: str, reference: str = "", **want) -> bool:
    for case in CASES:
        kw = case["gdlab_kwargs"]
        same = case["gdlab_class"] == cls and case["reference"].startswith(reference)
        if same and all(
            k in kw and (v(kw[k]) if callable(v) else kw[k] == v) for k, v in want.items()
        ):
            return True
    return False


@pytest.mark.parametrize(
    ("cls", "reference", "want"),
    [
        ("Signum", "optax.signum", {}),
        ("Signum", "optax.sign_sgd", {"momentum": 0.0}),
        ("Signum", "optax.chain", {"weight_decay": 0.1}),
        ("Lion", "optax.lion", {"weight_decay": 0.1, "beta1": 0.8}),
        ("Lion", "keras", {"lr": 0.001, "weight_decay": 0.0}),  # Keras's defaults
        ("Lion", "keras", {"weight_decay": 0.05}),
        ("AdaBelief", "optax", {"nesterov": True}),
        ("AdaBelief", "optax", {"eps_root": 0.0}),
        ("Yogi", "optax", {"initial_accumulator_value": 0.1, "eps_root": 1e-6}),
        ("Yogi", "optax", {"eps": 1e-4}),
        ("ADOPT", "optax", {"use_clipping": False}),
        ("ADOPT", "optax", {"nesterov": True, "beta2": 0.99}),
        ("AdEMAMix", "optax", {"alpha": 8.0, "weight_decay": 0.1, "eps_root": 1e-8}),
        ("AdEMAMix", "optax", {"alpha_warmup": 100, "beta3_warmup": 150}),
        ("Adan", "optax", {"form": "optax", "eps_root": 1e-8}),  # optax.adan's defaults
        ("Adan", "optax", {"form": "optax", "weight_decay": 0.1, "beta2": 0.8}),
        ("Adan", "sail-sg", {"lr": 0.01}),  # the paper's form, the authors' defaults
        ("Adan", "sail-sg", {"weight_decay": 0.1, "beta2": 0.8}),
    ],
)
def test_file_covers_option(cls, reference, want):
    assert _has(cls, reference, **want), f"no recorded {cls} case from {reference} with {want}"


def test_file_covers_every_class_with_nondefault_hyperparameters():
    assert {c["gdlab_class"] for c in CASES} == set(CLASSES)
    for name, cls in CLASSES.items():
        defaults = cls().hyperparameters()
        assert any(
            any(k != "lr" and defaults[k] != v for k, v in c["gdlab_kwargs"].items())
            for c in CASES
            if c["gdlab_class"] == name
        ), name


def test_every_adaptive_optimizer_is_registered():
    for cls in CLASSES.values():
        assert OPTIMIZERS[cls.name] is cls
        assert cls.kernel_modules[0].__name__.endswith("adaptive_kernels")
        assert cls.kernel_modules[1].__name__.endswith("adaptive_fused")
    assert set(adaptive.__all__) == set(CLASSES)


# ------------------------------------------------------- 2. first steps by hand
# (w[0], w[1], b) and three gradients; each reference takes one scalar
# parameter p and its gradients gs and returns p after every step.

P0 = (1.0, -2.0, 0.5)
GS = ((0.3, -0.4, 0.2), (-0.1, 0.5, 0.6), (0.25, 0.0, -0.3))
HAND_RTOL = 1e-13


def sign(x):
    return (x > 0) - (x < 0)


def lion_ref(p, gs, *, lr, b1=0.9, b2=0.99, wd=1e-3):
    """Chen et al. 2023, Program 1: update = sign(β1·m + (1−β1)·g) + λθ; θ −= lr·update."""
    m, out = 0.0, []
    for g in gs:
        c = b1 * m + (1 - b1) * g
        p = p - lr * (sign(c) + wd * p)
        m = b2 * m + (1 - b2) * g
        out.append(p)
    return out


def signum_ref(p, gs, *, lr, mu=0.9, wd=0.0):
    """Bernstein et al. 2018, Algorithm 3 (Signum), signSGD for μ = 0."""
    m, out = 0.0, []
    for g in gs:
        d = g + wd * p
        m = mu * m + (1 - mu) * d
        p = p - lr * sign(m if mu else d)
        out.append(p)
    return out


def adabelief_ref(p, gs, *, lr, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
    """Zhuang et al. 2020, Algorithm 2: s_t = β2·s + (1−β2)(g − m_t)² + ε."""
    m = s = 0.0
    out = []
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        mhat = m / (1 - b1**t)
        if nesterov:
            mhat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        p = p - lr * mhat / (math.sqrt(s / (1 - b2**t)) + eps)
        out.append(p)
    return out


def yogi_ref(p, gs, *, lr, b1=0.9, b2=0.999, eps=1e-3, eps_root=0.0, init=1e-6):
    """Zaheer et al. 2018, Algorithm 2, with optax's start m₀ = v₀ = init and bias correction."""
    m = v = init
    out = []
    for t, g in enumerate(gs, 1):
        m = b1 * m + (1 - b1) * g
        v = v - (1 - b2) * sign(v - g * g) * g * g
        p = p - lr * (m / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t) + eps_root) + eps)
        out.append(p)
    return out


def adopt_ref(p, gs, *, lr, b1=0.9, b2=0.9999, eps=1e-6, clipping=True, nesterov=False):
    """Taniguchi et al. 2024, Algorithm 2: v₀ = g₀² from the first gradient, then for
    t = 1, 2, …: m_t = β1·m + (1−β1)·clip(g_t / max(√v_{t−1}, ε), t^¼);
    θ_t = θ_{t−1} − α·m_t; v_t = β2·v + (1−β2)·g_t²."""
    out = [p]  # the first gradient only sets v
    v, m = gs[0] ** 2, 0.0
    for t, g in enumerate(gs[1:], 1):
        x = g / max(math.sqrt(v), eps)
        if clipping:
            x = min(max(x, -(t**0.25)), t**0.25)
        m = b1 * m + (1 - b1) * x
        p = p - lr * (b1 * m + (1 - b1) * x if nesterov else m)
        v = b2 * v + (1 - b2) * g * g
        out.append(p)
    return out


def ademamix_ref(
    p, gs, *, lr, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, wd=0.0, t_alpha=0, t_beta3=0
):
    """Pagliardini et al. 2024, Algorithm 1, with the schedulers f_α and f_β3 of section 3
    evaluated at optax's count s = t − 1."""
    m1 = m2 = nu = 0.0
    out = []
    for t, g in enumerate(gs, 1):
        s = t - 1
        a = min(s * alpha / t_alpha, alpha) if t_alpha else alpha
        if t_beta3:
            f = s / t_beta3
            l1, l3 = math.log(b1), math.log(b3)
            beta3 = min(math.exp(l1 * l3 / ((1 - f) * l3 + f * l1)), b3)
        else:
            beta3 = b3
        m1 = b1 * m1 + (1 - b1) * g
        m2 = beta3 * m2 + (1 - beta3) * g
        nu = b2 * nu + (1 - b2) * g * g
        u = (m1 / (1 - b1**t) + a * m2) / (math.sqrt(nu / (1 - b2**t)) + eps)
        p = p - lr * (u + wd * p)
        out.append(p)
    return out


def adan_ref(p, gs, *, lr, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, wd=0.0, optax=False):
    """Xie et al. 2022, Algorithm 1 with bias corrections, in decay-rate notation (β ↦ 1 − β):
    the paper's form weighs g_k − g_{k−1} by β2 and decays proximally; optax's by 1 − β2
    and decays θ −= lr·λθ."""
    m = v = n = 0.0
    g_prev = None
    kappa = 1 - b2 if optax else b2
    out = []
    for t, g in enumerate(gs, 1):
        diff = 0.0 if g_prev is None else g - g_prev
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * diff
        n = b3 * n + (1 - b3) * (g + kappa * diff) ** 2
        eta = lr / (math.sqrt(n / (1 - b3**t)) + eps)
        step = eta * (m / (1 - b1**t) + kappa * v / (1 - b2**t))
        p = p - step - lr * wd * p if optax else (p - step) / (1 + lr * wd)
        g_prev = g
        out.append(p)
    return out


HAND = [
    ("lion", {"lr": 0.1}, lion_ref, {"lr": 0.1}),
    (
        "lion",
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.8, "weight_decay": 0.2},
        lion_ref,
        {"lr": 0.1, "b1": 0.5, "b2": 0.8, "wd": 0.2},
    ),
    ("signum", {"lr": 0.1}, signum_ref, {"lr": 0.1}),
    ("signum", {"lr": 0.1, "momentum": 0.0}, signum_ref, {"lr": 0.1, "mu": 0.0}),
    (
        "signum",
        {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.3},
        signum_ref,
        {"lr": 0.1, "mu": 0.5, "wd": 0.3},
    ),
    ("adabelief", {"lr": 0.1}, adabelief_ref, {"lr": 0.1}),
    (
        "adabelief",
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 1e-8, "eps_root": 1e-4, "nesterov": True},
        adabelief_ref,
        {"lr": 0.1, "b1": 0.5, "b2": 0.9, "eps": 1e-8, "eps_root": 1e-4, "nesterov": True},
    ),
    ("yogi", {"lr": 0.1}, yogi_ref, {"lr": 0.1}),
    (
        "yogi",
        {"lr": 0.1, "beta2": 0.5, "eps_root": 1e-3, "initial_accumulator_value": 0.05},
        yogi_ref,
        {"lr": 0.1, "b2": 0.5, "eps_root": 1e-3, "init": 0.05},
    ),
    ("adopt", {"lr": 0.1}, adopt_ref, {"lr": 0.1}),
    (
        "adopt",
        {"lr": 0.1, "beta1": 0.5, "beta2": 0.9, "use_clipping": False, "nesterov": True},
        adopt_ref,
        {"lr": 0.1, "b1": 0.5, "b2": 0.9, "clipping": False, "nesterov": True},
    ),
    ("ademamix", {"lr": 0.1}, ademamix_ref, {"lr": 0.1}),
    (
        "ademamix",
        {
            "lr": 0.1,
            "beta3": 0.99,
            "alpha": 3.0,
            "weight_decay": 0.1,
            "alpha_warmup": 2,
            "beta3_warmup": 4,
        },
        ademamix_ref,
        {"lr": 0.1, "b3": 0.99, "alpha": 3.0, "wd": 0.1, "t_alpha": 2, "t_beta3": 4},
    ),
    ("adan", {"lr": 0.1}, adan_ref, {"lr": 0.1}),
    (
        "adan",
        {"lr": 0.1, "beta2": 0.8, "weight_decay": 0.5},
        adan_ref,
        {"lr": 0.1, "b2": 0.8, "wd": 0.5},
    ),
    (
        "adan",
        {"lr": 0.1, "beta2": 0.8, "weight_decay": 0.5, "form": "optax"},
        adan_ref,
        {"lr": 0.1, "b2": 0.8, "wd": 0.5, "optax": True},
    ),
]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize(
    ("name", "hp", "ref", "ref_kw"), HAND, ids=[f"{h[0]}-{i}" for i, h in enumerate(HAND)]
)
def test_first_steps_by_hand(name, hp, ref, ref_kw, fused):
    opt = create(name, fused=fused, **hp)
    params = {"w": np.array(P0[:2]), "b": np.array(P0[2])}
    got = []
    for g in GS:
        opt.update(params, {"w": np.array(g[:2]), "b": np.array(g[2])})
        got.append([params["w"][0], params["w"][1], float(params["b"])])
    want = np.array([ref(P0[i], [g[i] for g in GS], **ref_kw) for i in range(3)]).T
    np.testing.assert_allclose(got, want, rtol=HAND_RTOL, atol=0)


def test_sign_methods_step_by_exactly_lr():
    params = {"x": np.array([1.0, -2.0, 0.5, 3.0])}
    Signum(lr=0.25, momentum=0.0).update(params, {"x": np.array([2.0, -1e-9, 0.0, -7.0])})
    np.testing.assert_array_equal(params["x"], [0.75, -1.75, 0.5, 3.25])
    params = {"x": np.array([1.0, -2.0])}
    Lion(lr=0.25, weight_decay=0.0).update(params, {"x": np.array([1e-12, -5.0])})
    np.testing.assert_array_equal(params["x"], [0.75, -1.75])


def test_adopt_first_update_only_sets_v():
    opt = ADOPT(lr=0.5)
    params = {"x": np.array([1.0, -2.0])}
    opt.update(params, {"x": np.array([3.0, -4.0])})
    np.testing.assert_array_equal(params["x"], [1.0, -2.0])
    np.testing.assert_array_equal(opt.state["x"]["exp_avg_sq"], [9.0, 16.0])
    np.testing.assert_array_equal(opt.state["x"]["exp_avg"], [0.0, 0.0])


def test_adan_keeps_the_previous_gradient():
    opt = Adan(lr=0.1)
    params = {"x": np.array([1.0, 2.0])}
    opt.update(params, {"x": np.array([0.5, -0.5])})
    np.testing.assert_array_equal(opt.state["x"]["prev_grad"], [0.5, -0.5])
    np.testing.assert_array_equal(opt.state["x"]["exp_avg_diff"], [0.0, 0.0])


def test_ademamix_warmup_schedules():
    opt = AdEMAMix(beta1=0.9, beta3=0.999, alpha=4.0, alpha_warmup=10, beta3_warmup=20)
    assert opt.alpha_at(1) == 0.0
    assert opt.alpha_at(6) == pytest.approx(2.0)
    assert opt.alpha_at(11) == opt.alpha_at(500) == 4.0
    assert opt.beta3_at(1) == pytest.approx(0.9)
    assert opt.beta3_at(21) == opt.beta3_at(10_000) == 0.999
    # Half-way in the warm-up, the half-life 1/ln β is half-way too.
    mid = 1 / math.log(opt.beta3_at(11))
    assert mid == pytest.approx((1 / math.log(0.9) + 1 / math.log(0.999)) / 2)
    plain = AdEMAMix()
    assert plain.alpha_at(1) == 5.0
    assert plain.beta3_at(1) == 0.9999


# ------------------------------------------------------- 3. fused == reference

CONFIGS = [
    ("signum", {"lr": 0.01}),
    ("signum", {"lr": 0.01, "momentum": 0.0, "weight_decay": 0.1}),
    ("signum", {"lr": 0.01, "weight_decay": 0.1}),
    ("lion", {"lr": 0.01}),
    ("lion", {"lr": 0.01, "weight_decay": 0.0}),
    ("adabelief", {"lr": 0.01}),
    ("adabelief", {"lr": 0.01, "nesterov": True, "eps": 1e-8}),
    ("yogi", {"lr": 0.01}),
    ("yogi", {"lr": 0.01, "eps_root": 1e-6, "initial_accumulator_value": 0.0}),
    ("adopt", {"lr": 0.01}),
    ("adopt", {"lr": 0.01, "use_clipping": False, "nesterov": True}),
    ("ademamix", {"lr": 0.01}),
    ("ademamix", {"lr": 0.01, "weight_decay": 0.1, "alpha_warmup": 20, "beta3_warmup": 30}),
    ("adan", {"lr": 0.01}),
    ("adan", {"lr": 0.01, "weight_decay": 0.1}),
    ("adan", {"lr": 0.01, "form": "optax"}),
    ("adan", {"lr": 0.01, "form": "optax", "weight_decay": 0.1, "eps_root": 1e-8}),
]
SHAPES = {"W": (7, 5), "b": (5,), "s": ()}


def _params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _grads(dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        g = {k: ((1 + 0.5 * math.sin(t / 7)) * rng.standard_normal(s)) for k, s in SHAPES.items()}
        g["W"][rng.random(SHAPES["W"]) < 0.1] = 0.0
        out.append({k: v.astype(dtype) for k, v in g.items()})
    return out


def _run(opt, params, grads):
    for g in grads:
        opt.update(params, g)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "hp"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
)
def test_fused_bit_identical_to_reference(name, hp, dtype):
    grads = _grads(dtype, 40)
    fast = _run(create(name, **hp), _params(dtype), grads)
    slow = _run(create(name, fused=False, **hp), _params(dtype), grads)
    for key in SHAPES:
        assert fast[key].dtype == dtype
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=f"{name} {hp} {key}")


@pytest.mark.parametrize(
    ("name", "hp"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]
)
def test_state_round_trip_is_bit_identical(name, hp, tmp_path):
    grads = _grads(np.float64, 30)
    straight = _run(create(name, **hp), _params(np.float64), grads)
    first = create(name, **hp)
    params = _run(first, _params(np.float64), grads[:11])
    state = first.state_dict()
    again = create(name, **hp)
    again.load_state_dict(copy.deepcopy(state))
    for key, bufs in first.state.items():
        for n, a in bufs.items():
            np.testing.assert_array_equal(again.state[key][n], a)
    rebuilt = load(first.save(tmp_path / "opt.npz"))
    params2 = {k: v.copy() for k, v in params.items()}
    _run(again, params, grads[11:])
    _run(rebuilt, params2, grads[11:])
    for key in SHAPES:
        np.testing.assert_array_equal(params[key], straight[key])
        np.testing.assert_array_equal(params2[key], straight[key])


def test_signum_without_momentum_keeps_no_state():
    opt = Signum(momentum=0.0)
    params = {"x": np.ones(3)}
    opt.update(params, {"x": np.ones(3)})
    assert opt.state == {"x": {}}
    assert Signum().state_names == ("momentum_buffer",)


# ------------------------------------------------------------- 4. arguments

BAD = [
    (Lion, {"beta1": 1.0}, ValueError, r"^beta1 must be in \[0, 1\); got 1.0"),
    (Lion, {"beta2": -0.1}, ValueError, r"^beta2 must be in \[0, 1\); got -0.1"),
    (Lion, {"weight_decay": -1e-3}, ValueError, r"^weight_decay must be >= 0; got -0.001"),
    (Lion, {"lr": 0.0}, ValueError, r"^lr must be > 0; got 0.0"),
    (Signum, {"momentum": 1.0}, ValueError, r"^momentum must be in \[0, 1\); got 1.0"),
    (Signum, {"momentum": "0.9"}, TypeError, r"^momentum must be a real number; got '0.9'"),
    (AdaBelief, {"eps": -1e-8}, ValueError, r"^eps must be >= 0; got -1e-08"),
    (AdaBelief, {"eps_root": -1e-16}, ValueError, r"^eps_root must be >= 0; got -1e-16"),
    (AdaBelief, {"nesterov": 1}, TypeError, r"^nesterov must be True or False; got 1 \(int\)"),
    (
        Yogi,
        {"initial_accumulator_value": -1.0},
        ValueError,
        r"^initial_accumulator_value must be >= 0; got -1.0",
    ),
    (Yogi, {"eps_root": float("nan")}, ValueError, r"^eps_root must be finite and >= 0; got nan"),
    (ADOPT, {"beta2": 1.0}, ValueError, r"^beta2 must be in \[0, 1\); got 1.0"),
    (ADOPT, {"use_clipping": "yes"}, TypeError, r"^use_clipping must be True or False; got 'yes'"),
    (AdEMAMix, {"beta3": 1.0}, ValueError, r"^beta3 must be in \[0, 1\); got 1.0"),
    (AdEMAMix, {"alpha": -1.0}, ValueError, r"^alpha must be >= 0; got -1.0"),
    (AdEMAMix, {"alpha_warmup": -1}, ValueError, r"^alpha_warmup must be an integer >= 0; got -1"),
    (AdEMAMix, {"beta3_warmup": 2.5}, TypeError, r"^beta3_warmup must be an integer; got 2.5"),
    (
        AdEMAMix,
        {"beta1": 0.0, "beta3_warmup": 10},
        ValueError,
        r"^beta1 must be in \(0, 1\) when beta3_warmup > 0; got 0.0",
    ),
    (Adan, {"beta3": 1.5}, ValueError, r"^beta3 must be in \[0, 1\); got 1.5"),
    (Adan, {"form": "torch"}, ValueError, r"^form must be one of 'paper', 'optax'; got 'torch'"),
    (Adan, {"b1": 0.9}, TypeError, r"unknown keyword argument 'b1' \(= 0.9\); expected one of: lr"),
]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "msg"), BAD, ids=[str(b[1]) for b in BAD])
def test_bad_arguments_are_named(cls, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(**kwargs)


def test_a_bad_state_changes_nothing():
    opt = Yogi(lr=0.1)
    params = {"x": np.ones(3)}
    opt.update(params, {"x": np.ones(3)})
    state = opt.state_dict()
    bad = copy.deepcopy(state)
    bad["state"]["x"]["exp_avg_sq"][1] = -1.0
    with pytest.raises(ValueError, match=r"\['exp_avg_sq'\] must be >= 0 everywhere"):
        opt.load_state_dict(bad)
    np.testing.assert_array_equal(opt.state["x"]["exp_avg_sq"], state["state"]["x"]["exp_avg_sq"])


def test_presets_and_defaults():
    keras = create("lion", preset="keras")
    assert (keras.lr, keras.beta1, keras.beta2, keras.weight_decay) == (1e-3, 0.9, 0.99, 0.0)
    lion = create("lion", preset="optax")
    assert (lion.beta1, lion.beta2, lion.weight_decay) == (0.9, 0.99, 1e-3)
    adan = create("adan", preset="optax")
    assert (adan.form, adan.eps_root, adan.beta1, adan.beta2, adan.beta3) == (
        "optax", 1e-8, 0.98, 0.92, 0.99,
    )  # fmt: skip
    assert Adan().form == "paper"
    assert (Yogi().eps, Yogi().initial_accumulator_value) == (1e-3, 1e-6)
    assert (AdaBelief().eps, AdaBelief().eps_root) == (1e-16, 1e-16)
    assert (ADOPT().beta2, ADOPT().eps, ADOPT().use_clipping) == (0.9999, 1e-6, True)
    assert (AdEMAMix().alpha, AdEMAMix().beta3) == (5.0, 0.9999)
    assert Signum().momentum == 0.9
    for cls in CLASSES.values():
        low, high = cls.lr_range
        assert low <= cls().lr <= high
        assert "optax" in cls.presets
    assert Lion.lr_range[1] <= 1e-2  # sign steps are lr long
    assert Signum.lr_range[1] <= 1e-2
