"""Rprop, ASGD, FTRL, Adafactor and SM3 (gdlab.optim.classic).

1. Conformance: ``tests/data/classic_trajectories.npz`` holds, per case, the
   trajectory of the reference (torch.optim's Rprop, ASGD and Adafactor,
   Keras 3's Ftrl and Adafactor, optax's sm3; all float64), recorded by
   ``scripts/record_classic.py``. The tests feed the same gradients to gdlab,
   fused and reference kernels both, and compare after every step without
   importing any reference (ASGD's average too).
2. The first steps against the papers' formulas written out in plain Python.
3. Fused kernels bit-identical to the NumPy ones, float32 and float64.
4. Bad arguments, state round trips (the factored states included),
   ASGD's average, Adafactor's and SM3's memory, no per-step allocation.
"""

from __future__ import annotations

import copy
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import (
    ASGD,
    FTRL,
    OPTIMIZERS,
    SM3,
    Adafactor,
    AdaGrad,
    Rprop,
    classic,
    create,
    load,
)

DATA = Path(__file__).parent / "data" / "classic_trajectories.npz"
CLASSES = {cls.__name__: cls for cls in (Rprop, ASGD, FTRL, Adafactor, SM3)}

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


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(DATA, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _relative_error(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per step (first axis): max elementwise ``|actual − expected| / max(|expected|, FLOOR)``."""
    steps = expected.shape[0]
    a, e = actual.reshape(steps, -1), expected.reshape(steps, -1)
    return (np.abs(a - e) / np.maximum(np.abs(e), FLOOR)).max(axis=1)


def _replay(case: dict, recorded: dict, *, fused: bool, **override) -> list:
    """``(step, what, error)`` of the worst parameter (or ASGD average) at every step."""
    opt = CLASSES[case["gdlab_class"]](**{**case["gdlab_kwargs"], **override}, fused=fused)
    names = case["params"]
    stream = {p: f"stream{case['stream']}/{p}" for p in names}
    prefix = {p: f"{case['name']}/{p}" for p in names}
    params = {p: recorded[f"{stream[p]}/init"].copy() for p in names}
    fed = {p: np.empty_like(params[p]) for p in names}  # the same arrays every step
    got = {p: np.empty_like(recorded[f"{prefix[p]}/traj"]) for p in names}
    averaged = case["gdlab_class"] == "ASGD"
    got_ax = {p: np.empty_like(got[p]) for p in names}
    for step in range(STEPS):
        for p in names:
            fed[p][...] = recorded[f"{stream[p]}/grads"][step, ...]
        opt.update(params, fed)
        ax = opt.averaged() if averaged else {}
        for p in names:
            got[p][step, ...] = params[p]
            if averaged:
                got_ax[p][step, ...] = ax[p]
    errors = {p: _relative_error(got[p], recorded[f"{prefix[p]}/traj"]) for p in names}
    if averaged:
        for p in names:
            errors[f"ax {p}"] = _relative_error(got_ax[p], recorded[f"{prefix[p]}/ax"])
    worst = []
    for step in range(STEPS):
        what = max(errors, key=lambda k: errors[k][step])
        worst.append((step + 1, what, float(errors[what][step])))
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
            f"> {RTOL:g} first at step {step} in {p!r}; {len(failing)} of {STEPS} steps "
            f"over; worst {peak[2]:.3e} at step {peak[0]} in {peak[1]!r}"
        )


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("rprop_bounds", {"etaplus": 1.5 * (1 + 1e-8)}),
        ("asgd_averaging", {"alpha": 0.6 * (1 + 1e-8)}),
        ("ftrl_l1_l2", {"lr": 0.1 * (1 + 1e-8)}),
        ("adafactor_torch_all", {"lr": 0.05 * (1 + 1e-8)}),
        ("adafactor_keras_all", {"lr": 0.02 * (1 + 1e-8)}),
        ("sm3_momentum", {"lr": 0.1 * (1 + 1e-8)}),
    ],
)
def test_the_tolerance_detects_a_tiny_change(name, change, recorded):
    """The criterion is not vacuous: a hyperparameter off by one part in 10⁸ fails it."""
    case = next(c for c in CASES if c["name"] == name)
    worst = _replay(case, recorded, fused=True, **change)
    assert max(err for _, _, err in worst) > 10 * RTOL


def test_the_file_records_enough_steps_of_varied_gradients(recorded):
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    assert META["foreach"] is False
    assert META["torch_version"].startswith("2.13")
    assert META["keras_backend"] == "torch"
    assert META["optax_version"] == "0.2.8"
    shapes = {p: tuple(s) for p, s in META["shapes"].items()}
    assert () in shapes.values()
    assert any(len(s) >= 3 for s in shapes.values())  # a stack of matrices
    zeros, rows = [], 0
    for k in range(META["streams"]):
        for p, shape in shapes.items():
            assert recorded[f"stream{k}/{p}/init"].shape == shape
            grads = recorded[f"stream{k}/{p}/grads"]
            assert grads.shape == (STEPS, *shape)
            assert grads.dtype == np.float64
            grads = grads.reshape(STEPS, -1)
            zeros.append(np.mean(grads == 0))
            rms = np.sqrt(np.mean(grads[: STEPS // 10 * 10].reshape(STEPS // 10, -1) ** 2, axis=1))
            assert rms.max() / rms.min() > 100, (k, p)  # the scale drifts over two decades
            rows += int(np.any(np.all(grads == 0, axis=1)))
    assert 0.01 < np.mean(zeros) < 0.5
    assert rows > 0  # some steps with a whole gradient of zeros
    for case in CASES:
        assert 0 <= case["stream"] < META["streams"]
        for p in case["params"]:
            traj = recorded[f"{case['name']}/{p}/traj"]
            assert traj.shape == (STEPS, *shapes[p])
            assert traj.dtype == np.float64
    for case in CASES:  # everything a case needs to be replayed
        if case["gdlab_class"] == "SM3":
            assert "scalar" not in case["params"]  # optax's SM3 refuses 0-d parameters
        else:
            assert "scalar" in case["params"]


def test_the_file_covers_every_class_form_and_nondefault_settings():
    by_class: dict[str, list[dict]] = {}
    for case in CASES:
        by_class.setdefault(case["gdlab_class"], []).append(case)
    assert set(by_class) == set(CLASSES)
    for name, cases in by_class.items():
        defaults = CLASSES[name]().hyperparameters()
        changed = {k for c in cases for k, v in c["gdlab_kwargs"].items() if defaults[k] != v}
        assert len(changed) >= 3, (name, changed)
    references = {c["reference"] for c in CASES}
    assert references == {
        "torch.optim.Rprop",
        "torch.optim.ASGD",
        "torch.optim.Adafactor",
        "keras.optimizers.Ftrl",
        "keras.optimizers.Adafactor",
        "optax.sm3",
        "optax.scale_by_sm3",
    }
    kwargs = [c["gdlab_kwargs"] for c in CASES]
    assert any(k.get("learning_rate_power", -0.5) not in (-0.5, 0.0) for k in kwargs)  # pow
    assert any(k.get("t0", 1e6) < STEPS for k in kwargs)  # ASGD averages within the run
    assert any(k.get("maximize") for k in kwargs if "etaminus" in k)
    assert any(k.get("momentum") == 0.0 for k in kwargs)


def test_the_classes_are_registered_with_presets():
    from gdlab.report.maths import line_mathml, rules

    for cls in CLASSES.values():
        assert OPTIMIZERS[cls.name] is cls
        low, high = cls.lr_range
        assert low <= cls().lr <= high
        assert cls.__module__ == "gdlab.optim.classic"
        assert "Update::" in cls.__doc__ or cls is Adafactor  # Adafactor: one block per form
        for rule in rules(cls):  # the report renders each line of each block
            assert all(line_mathml(line) for line in rule.lines if line)
        assert "References:" in cls.__doc__
    assert Rprop.presets == {"torch": {}}
    assert ASGD.presets == {"torch": {}}
    assert FTRL.presets == {"keras": {}}
    assert SM3.presets == {"optax": {}}
    keras = create("adafactor", preset="keras")
    assert (keras.form, keras.lr, keras.eps1) == ("keras", 1e-3, 1e-30)
    assert create("adafactor", preset="torch").hyperparameters() == Adafactor().hyperparameters()
    assert set(classic.__all__) == set(CLASSES)
    assert not Adafactor._elementwise
    assert not SM3._elementwise
    assert all(cls._elementwise for cls in (Rprop, ASGD, FTRL))


# ------------------------------------------------------------ 2. by hand
# Each reference takes one parameter (a float, a list, or a list of rows) and
# its gradients, and returns the parameter after every step, computed from
# the paper's or the source's formula in plain Python floats.

EPS64 = 2.0**-52


def rprop_ref(p, gs, *, lr, etaminus=0.5, etaplus=1.2, smin=1e-6, smax=50.0):
    """Riedmiller & Braun; torch.optim.Rprop's algorithm box (no backtracking)."""
    s, prev, out = lr, 0.0, []
    for g in gs:
        if g * prev > 0:
            s = min(s * etaplus, smax)
        elif g * prev < 0:
            s = max(s * etaminus, smin)
            g = 0.0
        sign = (g > 0) - (g < 0)
        p = p - sign * s
        prev = g
        out.append(p)
    return out


def asgd_ref(p, gs, *, lr, lambd=1e-4, alpha=0.75, t0=1e6, wd=0.0):
    """torch.optim.ASGD: the iterate and its average after every step, as pairs."""
    eta, mu, ax, out = lr, 1.0, 0.0, []
    for t, g in enumerate(gs, 1):
        d = g + wd * p
        p = p * (1 - lambd * eta) - eta * d
        ax = p if mu == 1 else ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        out.append((p, ax))
    return out


def ftrl_ref(p, gs, *, lr, power=-0.5, n=0.1, l1=0.0, l2=0.0, shrink=0.0, beta=0.0):
    """McMahan et al. Algorithm 1 as Keras writes it: w = 0 if |z| <= λ1, else
    (sign(z)·λ1 − z) / (n^c/lr + 2λ2 + β/lr), with c = −learning_rate_power."""
    c, z, out = -power, 0.0, []
    for g in gs:
        n_new = n + g * g
        sigma = (n_new**c - n**c) / lr
        z = z + g + 2 * shrink * p - sigma * p
        n = n_new
        inside = abs(z) <= l1
        p = 0.0 if inside else (math.copysign(l1, z) - z) / (n**c / lr + 2 * l2 + beta / lr)
        out.append(p)
    return out


def _rms(xs):
    return math.sqrt(sum(x * x for x in xs) / len(xs))


def _flat(a):
    return [x for row in a for x in row] if isinstance(a[0], list) else list(a)


def adafactor_ref(
    p, gs, *, form="torch", lr=1e-2, decay=-0.8, eps1=EPS64, eps2=1e-3, d=1.0, wd=0.0
):
    """Shazeer & Stern, Algorithm 4 (factored) and 5 (vector), in torch's or
    Keras's reading; ``p`` a list (vector) or a list of rows (matrix)."""
    matrix = isinstance(p[0], list)
    n, m = (len(p), len(p[0])) if matrix else (len(p), 1)
    R, C, V = [0.0] * n, [0.0] * m, [0.0] * n
    out = []
    for t, g in enumerate(gs, 1):
        if form == "keras":
            p = (
                [[x * (1 - lr * wd) for x in r] for r in p]
                if matrix
                else [x * (1 - lr * wd) for x in p]
            )
        alpha = max(eps2, _rms(_flat(p))) * min(lr, 1 / math.sqrt(t))
        if form == "torch":
            p = (
                [[x * (1 - lr * wd) for x in r] for r in p]
                if matrix
                else [x * (1 - lr * wd) for x in p]
            )
        if form == "torch":
            w = t**decay
            if matrix:
                R = [R[i] + w * (sum(x * x for x in g[i]) / m - R[i]) for i in range(n)]
                C = [C[j] + w * (sum(g[i][j] ** 2 for i in range(n)) / n - C[j]) for j in range(m)]
                mean_r = max(sum(R) / n, eps1)
                u = [
                    [g[i][j] / max(math.sqrt(R[i] * C[j] / mean_r), eps1) for j in range(m)]
                    for i in range(n)
                ]
            else:
                V = [V[i] + w * (g[i] ** 2 - V[i]) for i in range(n)]
                u = [g[i] / max(math.sqrt(V[i]), eps1) for i in range(n)]
        else:
            b = 1 - t**decay
            if matrix:
                R = [b * R[i] + (1 - b) * sum(x * x + eps1 for x in g[i]) / m for i in range(n)]
                C = [
                    b * C[j] + (1 - b) * sum(g[i][j] ** 2 + eps1 for i in range(n)) / n
                    for j in range(m)
                ]
                mean_r = sum(R) / n
                u = [
                    [g[i][j] / math.sqrt(R[i] / mean_r * C[j]) for j in range(m)] for i in range(n)
                ]
            else:
                V = [b * V[i] + (1 - b) * (g[i] ** 2 + eps1) for i in range(n)]
                u = [g[i] / math.sqrt(V[i]) for i in range(n)]
        scale = max(1.0, _rms(_flat(u)) / d)
        if matrix:
            p = [[p[i][j] - alpha * u[i][j] / scale for j in range(m)] for i in range(n)]
        else:
            p = [p[i] - alpha * u[i] / scale for i in range(n)]
        out.append(p)
    return out


def sm3_ref(p, gs, *, lr, momentum=0.9, eps=1e-8):
    """Anil et al. SM3-II with optax's cover (rows and columns of a matrix; each
    entry of a vector on its own) and optax's momentum (1 − μ)·u + μ·m."""
    matrix = isinstance(p[0], list)
    n, m = (len(p), len(p[0])) if matrix else (len(p), 1)
    rows, cols, acc = [0.0] * n, [0.0] * m, [0.0] * n
    mom = [[0.0] * m for _ in range(n)] if matrix else [0.0] * n
    out = []
    for g in gs:
        if matrix:
            nu = [[g[i][j] ** 2 + min(rows[i], cols[j]) for j in range(m)] for i in range(n)]
            rows = [max(nu[i]) for i in range(n)]
            cols = [max(nu[i][j] for i in range(n)) for j in range(m)]
            u = [
                [g[i][j] / math.sqrt(nu[i][j] + eps) if nu[i][j] > 0 else 0.0 for j in range(m)]
                for i in range(n)
            ]
            mom = [
                [(1 - momentum) * u[i][j] + momentum * mom[i][j] for j in range(m)]
                for i in range(n)
            ]
            p = [[p[i][j] - lr * mom[i][j] for j in range(m)] for i in range(n)]
        else:
            acc = [acc[i] + g[i] ** 2 for i in range(n)]
            u = [g[i] / math.sqrt(acc[i] + eps) if acc[i] > 0 else 0.0 for i in range(n)]
            mom = [(1 - momentum) * u[i] + momentum * mom[i] for i in range(n)]
            p = [p[i] - lr * mom[i] for i in range(n)]
        out.append(p)
    return out


@pytest.fixture(params=[True, False], ids=["fused", "numpy"])
def fused(request):
    return request.param


P0 = (1.0, -2.0, 0.5)
# Signs: the first two elements flip at step 2, the third at step 3; step 4
# follows a flip (the stored gradient is 0 there); the last step is all zeros.
GRADS = [(0.3, -0.4, 0.2), (-0.1, 0.5, 0.6), (0.2, 0.1, -0.3), (0.4, 0.3, -0.2), (0.0, 0.0, 0.0)]


def _elementwise_run(opt, steps):
    params = {"w": np.array(P0[:2]), "b": np.array(P0[2])}
    out = []
    for g in GRADS[:steps]:
        opt.update(params, {"w": np.array(g[:2]), "b": np.array(g[2])})
        out.append([*params["w"], float(params["b"])])
    return np.array(out)


def _by_element(ref, steps, **kw):
    return np.array([ref(P0[i], [g[i] for g in GRADS[:steps]], **kw) for i in range(3)]).T


ELEMENTWISE_HAND = [
    ("rprop-default", Rprop, {}, rprop_ref, {"lr": 0.01}),
    (
        "rprop-bounds",
        Rprop,
        {"lr": 0.2, "etaminus": 0.3, "etaplus": 1.6, "step_size_min": 0.1, "step_size_max": 0.25},
        rprop_ref,
        {"lr": 0.2, "etaminus": 0.3, "etaplus": 1.6, "smin": 0.1, "smax": 0.25},
    ),
    ("ftrl-default", FTRL, {}, ftrl_ref, {"lr": 1e-3}),
    (
        "ftrl-all",
        FTRL,
        {
            "lr": 0.5,
            "learning_rate_power": -0.3,
            "initial_accumulator_value": 0.05,
            "l1_regularization_strength": 0.04,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.2,
            "beta": 0.7,
        },
        ftrl_ref,
        {"lr": 0.5, "power": -0.3, "n": 0.05, "l1": 0.04, "l2": 0.1, "shrink": 0.2, "beta": 0.7},
    ),
    (
        "ftrl-fixed-rate",
        FTRL,
        {"lr": 0.3, "learning_rate_power": 0.0, "l1_regularization_strength": 0.25},
        ftrl_ref,
        {"lr": 0.3, "power": 0.0, "l1": 0.25},
    ),
]


@pytest.mark.parametrize(
    ("cls", "hp", "ref", "ref_kw"),
    [case[1:] for case in ELEMENTWISE_HAND],
    ids=[case[0] for case in ELEMENTWISE_HAND],
)
def test_elementwise_rules_by_hand(cls, hp, ref, ref_kw, fused):
    got = _elementwise_run(cls(**hp, fused=fused), len(GRADS))
    np.testing.assert_allclose(got, _by_element(ref, len(GRADS), **ref_kw), rtol=1e-13, atol=0)


def test_rprop_first_two_steps_literally():
    """Step 1: s = lr, p −= lr·sign(g). Step 2: the first two flip (s·η−, no step),
    the third keeps its sign (s·η+, a step)."""
    got = _elementwise_run(Rprop(lr=0.1), 2)
    np.testing.assert_array_equal(got[0], [1.0 - 0.1, -2.0 + 0.1, 0.5 - 0.1])
    np.testing.assert_array_equal(got[1], [0.9, -1.9, 0.4 - 0.1 * 1.2])


def test_rprop_lr_is_only_the_initial_step_size():
    decaying = schedules.ExponentialDecay(0.1, 0.01, per="step")
    a = _elementwise_run(Rprop(lr=decaying), len(GRADS))
    b = _elementwise_run(Rprop(lr=0.1), len(GRADS))
    np.testing.assert_array_equal(a, b)


def test_ftrl_l1_keeps_small_coordinates_exactly_zero():
    opt = FTRL(lr=0.5, initial_accumulator_value=0.0, l1_regularization_strength=0.3)
    params = {"x": np.zeros(3)}
    opt.update(params, {"x": np.array([1.0, -0.2, 0.3])})
    assert params["x"][1] == 0.0  # |z| <= λ1
    assert params["x"][2] == 0.0
    assert params["x"][0] == pytest.approx((0.3 - 1.0) / (1.0 / 0.5))


@pytest.mark.parametrize(
    ("hp", "kw"),
    [
        ({"lr": 0.1}, {"lr": 0.1}),
        (
            {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 1.0, "weight_decay": 0.2},
            {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 1.0, "wd": 0.2},
        ),
        (
            {"lr": 0.2, "lambd": 0.5, "alpha": 1.0, "t0": 0.5},
            {"lr": 0.2, "lambd": 0.5, "alpha": 1.0, "t0": 0.5},
        ),
    ],
    ids=["default", "averaging-from-step-3", "averaging-from-step-2"],
)
def test_asgd_and_its_average_by_hand(hp, kw, fused):
    opt = ASGD(**hp, fused=fused)
    params = {"w": np.array(P0[:2]), "b": np.array(P0[2])}
    expected = [asgd_ref(P0[i], [g[i] for g in GRADS], **kw) for i in range(3)]
    for step, g in enumerate(GRADS):
        opt.update(params, {"w": np.array(g[:2]), "b": np.array(g[2])})
        got_p = [*params["w"], float(params["b"])]
        ax = opt.averaged()
        got_ax = [*ax["w"], float(ax["b"])]
        np.testing.assert_allclose(got_p, [e[step][0] for e in expected], rtol=1e-13)
        np.testing.assert_allclose(got_ax, [e[step][1] for e in expected], rtol=1e-13)


def test_asgd_averaged_is_a_copy_and_names_its_conditions():
    opt = ASGD(lr=0.1, t0=0)
    params = {"w": np.array([1.0, 2.0])}
    with pytest.raises(ValueError, match=r"no average before its first update; pass params"):
        opt.averaged()
    before = opt.averaged(params)
    assert before["w"] is not params["w"]
    np.testing.assert_array_equal(before["w"], params["w"])
    for _ in range(3):
        opt.update(params, {"w": params["w"].copy()})
    ax = opt.averaged(params)
    ax["w"][0] = 99.0
    assert opt.averaged()["w"][0] != 99.0  # the state is not exposed
    assert not np.array_equal(opt.averaged()["w"], params["w"])  # averaging has begun
    with pytest.raises(ValueError, match=r"params must have the keys of the optimizer's state"):
        opt.averaged({"v": params["w"]})
    with pytest.raises(TypeError, match=r"params must be a dict of numpy arrays, or None"):
        opt.averaged([1.0])


MATRIX = [[1.0, -2.0, 0.5], [0.25, 3.0, -1.5]]
MATRIX_GRADS = [
    [[0.3, -0.4, 0.2], [0.0, 0.7, -0.1]],
    [[-0.1, 0.5, 0.6], [0.2, 0.0, 0.3]],
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],  # a whole-zero step
]
VECTOR = [1.0, -2.0, 0.5, 0.0]
VECTOR_GRADS = [[0.3, -0.4, 0.0, 0.2], [-0.1, 0.5, 0.6, 0.0], [0.0, 0.0, 0.0, 0.0]]


def _shaped_run(opt, p0, grads):
    params = {"x": np.array(p0)}
    out = []
    for g in grads:
        opt.update(params, {"x": np.array(g)})
        out.append(params["x"].copy())
    return out


SHAPED_HAND = [
    ("adafactor", Adafactor, {}, adafactor_ref, {}),
    (
        "adafactor-all",
        Adafactor,
        {"lr": 0.3, "beta2_decay": -0.5, "eps1": 1e-3, "eps2": 0.4, "d": 1.3, "weight_decay": 0.1},
        adafactor_ref,
        {"lr": 0.3, "decay": -0.5, "eps1": 1e-3, "eps2": 0.4, "d": 1.3, "wd": 0.1},
    ),
    (
        "adafactor-keras",
        Adafactor,
        {"lr": 1e-3, "eps1": 1e-30, "form": "keras"},
        adafactor_ref,
        {"form": "keras", "lr": 1e-3, "eps1": 1e-30},
    ),
    (
        "adafactor-keras-all",
        Adafactor,
        {
            "lr": 0.3,
            "beta2_decay": -0.5,
            "eps1": 1e-3,
            "eps2": 0.4,
            "d": 1.3,
            "weight_decay": 0.1,
            "form": "keras",
        },
        adafactor_ref,
        {"form": "keras", "lr": 0.3, "decay": -0.5, "eps1": 1e-3, "eps2": 0.4, "d": 1.3, "wd": 0.1},
    ),
    ("sm3", SM3, {}, sm3_ref, {"lr": 1e-2}),
    (
        "sm3-all",
        SM3,
        {"lr": 0.3, "momentum": 0.5, "eps": 1e-3},
        sm3_ref,
        {"lr": 0.3, "momentum": 0.5, "eps": 1e-3},
    ),
    ("sm3-no-momentum", SM3, {"lr": 0.3, "momentum": 0.0}, sm3_ref, {"lr": 0.3, "momentum": 0.0}),
]


@pytest.mark.parametrize("shape", ["matrix", "vector"])
@pytest.mark.parametrize(
    ("cls", "hp", "ref", "ref_kw"),
    [case[1:] for case in SHAPED_HAND],
    ids=[case[0] for case in SHAPED_HAND],
)
def test_factored_rules_by_hand(cls, hp, ref, ref_kw, shape, fused):
    p0, grads = (MATRIX, MATRIX_GRADS) if shape == "matrix" else (VECTOR, VECTOR_GRADS)
    got = _shaped_run(cls(**hp, fused=fused), p0, grads)
    want = ref(p0, grads, **ref_kw)
    for step, (a, b) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(a, np.array(b), rtol=1e-13, atol=1e-300, err_msg=f"step {step}")


def test_a_stack_of_matrices_is_factored_matrix_by_matrix(fused):
    """A (2, 2, 3) parameter steps as two (2, 3) matrices with a common α and clip."""
    rng = np.random.default_rng(3)
    stack, grads = rng.standard_normal((2, 2, 3)), rng.standard_normal((3, 2, 2, 3))
    opt = Adafactor(lr=0.1, fused=fused)
    params = {"x": stack.copy()}
    for g in grads:
        opt.update(params, {"x": g.copy()})
    assert opt.state["x"]["row_var"].shape == (2, 2)
    assert opt.state["x"]["col_var"].shape == (2, 3)
    # Done by hand: the second moments per matrix; α and the clip over the whole stack.
    p, R, C = stack.copy(), np.zeros((2, 2)), np.zeros((2, 3))
    for t, g in enumerate(grads, 1):
        alpha = max(1e-3, math.sqrt(np.mean(p**2))) * min(0.1, 1 / math.sqrt(t))
        w = t**-0.8
        R += w * ((g**2).mean(axis=2) - R)
        C += w * ((g**2).mean(axis=1) - C)
        v = R[:, :, None] * C[:, None, :] / np.maximum(R.mean(axis=1), EPS64)[:, None, None]
        u = g / np.maximum(np.sqrt(v), EPS64)
        p -= alpha * u / max(1.0, math.sqrt(np.mean(u**2)))
    np.testing.assert_allclose(params["x"], p, rtol=1e-13)


def test_adafactor_first_step_literally():
    """Step 1 (w = 1): V̂ = g² exactly, u = sign(g); RMS(u) = 1 leaves it; α = RMS(p)·lr."""
    params = {"x": np.array([3.0, -4.0])}
    Adafactor(lr=0.1).update(params, {"x": np.array([2.0, 0.5])})
    alpha = math.sqrt((9 + 16) / 2) * 0.1
    np.testing.assert_allclose(params["x"], [3.0 - alpha, -4.0 - alpha], rtol=1e-15)


def test_sm3_vector_is_adagrad_with_optax_momentum(fused):
    """On a vector, SM3 is AdaGrad (a = Σg²) followed by the momentum average."""
    got = _shaped_run(SM3(lr=0.5, momentum=0.0, eps=1e-12, fused=fused), VECTOR, VECTOR_GRADS)
    want = _shaped_run(AdaGrad(lr=0.5, eps=1e-12, eps_inside=True), VECTOR, VECTOR_GRADS)
    np.testing.assert_allclose(got, want, rtol=1e-15)


# ------------------------------------------------- 3. fused == reference

BIT_SHAPES = {"W": (7, 5), "T": (2, 3, 4), "row": (1, 6), "col": (6, 1), "b": (5,), "s": ()}

CONFIGS = {
    "rprop": (Rprop, {"lr": 0.05}),
    "rprop-bounds-maximize": (
        Rprop,
        {
            "lr": 0.05,
            "etaminus": 0.3,
            "etaplus": 1.5,
            "step_size_min": 1e-3,
            "step_size_max": 0.1,
            "maximize": True,
        },
    ),
    "asgd": (ASGD, {}),
    "asgd-averaging": (ASGD, {"lr": 0.05, "t0": 10.0, "lambd": 0.01, "weight_decay": 0.1}),
    "ftrl": (FTRL, {"lr": 0.1}),
    "ftrl-all": (
        FTRL,
        {
            "lr": 0.1,
            "learning_rate_power": -0.3,
            "l1_regularization_strength": 0.05,
            "l2_regularization_strength": 0.01,
            "l2_shrinkage_regularization_strength": 0.02,
            "beta": 0.5,
        },
    ),
    "ftrl-fixed-rate": (FTRL, {"lr": 0.1, "learning_rate_power": 0.0}),
    "adafactor": (Adafactor, {"weight_decay": 0.01}),
    "adafactor-eps": (Adafactor, {"eps1": 1e-20, "d": 1.5, "beta2_decay": -0.5, "eps2": 0.0}),
    "adafactor-keras": (Adafactor, {"form": "keras", "eps1": 1e-30, "weight_decay": 0.01}),
    "sm3": (SM3, {}),
    "sm3-no-momentum": (SM3, {"momentum": 0.0, "eps": 1e-6}),
}


def _bit_params(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in BIT_SHAPES.items()}


def _bit_grads(dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    for t in range(steps):
        grads = {}
        for k, s in BIT_SHAPES.items():
            g = np.asarray((1 + 0.5 * math.sin(t / 7)) * rng.standard_normal(s))
            g[rng.random(s) < 0.1] = 0.0
            if k == "W" and t % 5 == 0:
                g[2] = 0.0  # a whole row of zeros
            grads[k] = g.astype(dtype)
        if t == 7:
            grads = {k: np.zeros_like(v) for k, v in grads.items()}
        yield grads


def _bit_run(opt, dtype, steps, params=None):
    params = _bit_params(dtype) if params is None else params
    for g in _bit_grads(dtype, steps):
        opt.update(params, g)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS)
def test_fused_is_bit_identical_to_reference(config, dtype):
    cls, hp = CONFIGS[config]
    fast, slow = cls(**hp), cls(**hp, fused=False)
    a, b = _bit_run(fast, dtype, 20), _bit_run(slow, dtype, 20)
    for key in BIT_SHAPES:
        assert a[key].dtype == dtype
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{config} {key}")
        for name, buf in fast.state[key].items():
            assert buf.dtype == dtype
            np.testing.assert_array_equal(buf, slow.state[key][name], err_msg=f"{key} {name}")
    assert all(np.all(np.isfinite(v)) for v in a.values())


# ----------------------------------------------------------- 4. the rest


@pytest.mark.parametrize("config", CONFIGS)
def test_state_round_trip_continues_bit_identically(config, tmp_path):
    cls, hp = CONFIGS[config]
    n, m = 11, 9
    straight = _bit_run(cls(**hp), np.float64, n + m)
    first = cls(**hp)
    params = _bit_run(first, np.float64, n)
    grads = list(_bit_grads(np.float64, n + m))[n:]
    saved = first.state_dict()
    again = cls(**hp)
    again.load_state_dict(copy.deepcopy(saved))
    from_file = load(first.save(tmp_path / "opt.npz"))
    assert type(from_file) is cls
    assert from_file.hyperparameters() == first.hyperparameters()
    twin = copy.deepcopy(params)
    for g in grads:
        again.update(params, g)
        from_file.update(twin, g)
    for key in BIT_SHAPES:
        np.testing.assert_array_equal(params[key], straight[key])
        np.testing.assert_array_equal(twin[key], straight[key])


def test_factored_state_has_rows_plus_columns():
    params = {"W": np.ones((7, 5)), "T": np.ones((2, 3, 4)), "b": np.ones(5), "s": np.ones(())}
    grads = {k: np.ones_like(v) for k, v in params.items()}
    ada = Adafactor()
    ada.update(params, grads)
    shapes = {k: {n: a.shape for n, a in bufs.items()} for k, bufs in ada.state.items()}
    assert shapes == {
        "W": {"row_var": (7,), "col_var": (5,)},
        "T": {"row_var": (2, 3), "col_var": (2, 4)},
        "b": {"variance": (5,)},
        "s": {"variance": ()},
    }
    sm3 = SM3(momentum=0.0)
    sm3.update(params, grads)
    shapes = {k: {n: a.shape for n, a in bufs.items()} for k, bufs in sm3.state.items()}
    assert shapes == {
        "W": {"accumulator_0": (7,), "accumulator_1": (5,)},
        "T": {"accumulator_0": (2,), "accumulator_1": (3,), "accumulator_2": (4,)},
        "b": {"accumulator": (5,)},
        "s": {"accumulator": ()},
    }
    assert set(SM3().state_dict()["hyperparameters"]) >= {"lr", "momentum", "eps"}
    with_momentum = SM3()
    with_momentum.update(params, grads)
    assert with_momentum.state["W"]["momentum"].shape == (7, 5)


def _trained(cls, **hp):
    opt = cls(**hp)
    params = {"W": np.linspace(-1, 1, 12).reshape(3, 4), "b": np.linspace(0.5, 1, 3)}
    for k in range(3):
        rng = np.random.default_rng(k)
        opt.update(params, {key: rng.standard_normal(v.shape) for key, v in params.items()})
    return opt, params


def _poke(key, name, value):
    def tamper(sd):
        sd["state"][key][name] = value

    return tamper


def _drop(key, name):
    def tamper(sd):
        del sd["state"][key][name]

    return tamper


BAD_STATES = [
    ("adafactor", _poke("W", "row_var", np.zeros((3, 2))), ValueError,
     r"\['W'\]\['col_var'\] must be a float64 array of shape \(3, 4\); got 'float64 \(4,\)'"),
    ("adafactor", _drop("W", "col_var"), ValueError,
     r"state_dict\['state'\]\['W'\] must be a dict of arrays: 'variance' .*; got \['row_var'\]"),
    ("adafactor", _poke("b", "row_var", np.zeros(3)), ValueError,
     r"\['b'\] must be a dict of arrays.*; got \['row_var', 'variance'\]"),
    ("adafactor", _poke("W", "row_var", -np.ones(3)), ValueError,
     r"\['W'\]\['row_var'\] must be >= 0 everywhere"),
    ("adafactor", _poke("W", "col_var", np.full(4, np.nan)), ValueError,
     r"\['W'\]\['col_var'\] must be finite"),
    ("adafactor", _poke("W", "col_var", np.zeros(4, np.float32)), ValueError,
     r"\['W'\]\['col_var'\] must be a float64 array of shape \(4,\); got 'float32 \(4,\)'"),
    ("adafactor", _poke("W", "col_var", [0.0] * 4), TypeError,
     r"\['W'\]\['col_var'\] must be a float32 or float64 numpy array"),
    ("adafactor", _poke("W", 3, np.zeros(4)), TypeError, r"\['W'\] keys must be str"),
    ("adafactor", lambda sd: sd["state"].__setitem__("W", {}), TypeError,
     r"\['W'\] must be a dict of arrays"),
    ("sm3", _poke("W", "accumulator_1", np.zeros(5)), ValueError,
     r"\['W'\]\['accumulator_1'\] must be a float64 array of shape \(4,\)"),
    ("sm3", _poke("W", "accumulator_0", -np.ones(3)), ValueError,
     r"\['W'\]\['accumulator_0'\] must be >= 0 everywhere"),
    ("sm3", _drop("W", "momentum"), ValueError, r"\['W'\] must be a dict of arrays: 'accumulator'"),
    ("sm3", _poke("b", "momentum", np.zeros(4)), ValueError,
     r"\['b'\]\['accumulator'\] must be a float64 array of shape \(4,\); got 'float64 \(3,\)'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "tamper", "error", "message"),
    BAD_STATES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_STATES)],
)
def test_a_bad_factored_state_changes_nothing(name, tamper, error, message):
    opt, params = _trained(OPTIMIZERS[name])
    good = opt.state_dict()
    bad = opt.state_dict()
    tamper(bad)
    before = opt.state_dict()
    with pytest.raises(error, match=message):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["t"] == before["t"]
    for key, bufs in before["state"].items():
        for n, a in bufs.items():
            np.testing.assert_array_equal(after["state"][key][n], a)
    opt.load_state_dict(good)
    opt.update(params, {k: np.ones_like(v) for k, v in params.items()})


@pytest.mark.parametrize("name", ["adafactor", "sm3"])
def test_params_of_another_shape_are_refused_before_anything_changes(name):
    opt, params = _trained(OPTIMIZERS[name])
    saved = opt.state_dict()
    other = {"W": np.ones((4, 3)), "b": params["b"].copy()}
    with pytest.raises(
        ValueError,
        match=r"params\['W'\] must have shape \(3, 4\) and dtype "
        r"float64 like the optimizer's state; got shape \(4, 3\)",
    ):
        opt.update(other, {k: np.ones_like(v) for k, v in other.items()})
    assert opt.t == saved["t"]
    np.testing.assert_array_equal(other["W"], np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"params must have the keys the optimizer's state"):
        opt.update({"W": params["W"]}, {"W": params["W"].copy()})
    fresh = OPTIMIZERS[name]()
    fresh.load_state_dict(saved)  # a loaded state checks the params it meets
    f32 = {k: v.astype(np.float32) for k, v in params.items()}
    with pytest.raises(ValueError, match=r"dtype float64 like the optimizer's state; got shape"):
        fresh.update(f32, {k: np.ones_like(v) for k, v in f32.items()})


def test_empty_parameters_are_left_alone():
    for name in ("adafactor", "sm3", "rprop", "asgd", "ftrl"):
        params = {"e": np.zeros((0, 3)), "x": np.ones(2)}
        opt = create(name)
        opt.update(params, {"e": np.zeros((0, 3)), "x": np.ones(2)})
        assert params["e"].shape == (0, 3)
        assert np.all(np.isfinite(params["x"]))


@pytest.mark.parametrize(
    ("name", "hp"),
    [
        ("adafactor", {}),
        ("adafactor", {"form": "keras", "weight_decay": 0.1}),
        ("sm3", {}),
        ("sm3", {"momentum": 0.0}),
    ],
    ids=["adafactor", "adafactor-keras", "sm3", "sm3-no-momentum"],
)
def test_factored_updates_allocate_nothing_per_element(name, hp):
    """A 1000 × 1000 matrix (4 MB in float32) and a stack: the peak stays at most 64 KiB."""
    rng = np.random.default_rng(0)
    params = {
        "W": rng.standard_normal((1000, 1000), dtype=np.float32),
        "T": rng.standard_normal((4, 50, 60), dtype=np.float32),
        "b": rng.standard_normal(1000, dtype=np.float32),
    }
    grads = {k: rng.standard_normal(v.shape, dtype=np.float32) for k, v in params.items()}
    opt = create(name, **hp, clip_norm=1.0)
    opt.update(params, grads)  # the state, the scratch, the compilation
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(3):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{name} {hp}: a {peak:,} B peak"


BAD_ARGUMENTS = [
    (Rprop, {"etaminus": 1.0}, ValueError, r"^etaminus must be in \(0, 1\); got 1\.0"),
    (Rprop, {"etaminus": 0.0}, ValueError, r"^etaminus must be in \(0, 1\); got 0\.0"),
    (Rprop, {"etaplus": 1.0}, ValueError, r"^etaplus must be > 1; got 1\.0"),
    (Rprop, {"etaplus": "2"}, TypeError, r"^etaplus must be a real number; got '2' \(str\)"),
    (Rprop, {"step_size_min": -1e-6}, ValueError, r"^step_size_min must be >= 0; got -1e-06"),
    (Rprop, {"step_size_max": 1e-7}, ValueError,
     r"^step_size_max must be >= step_size_min \(1e-06\); got 1e-07"),
    (Rprop, {"step_size_max": math.inf}, ValueError, r"^step_size_max must be finite"),
    (Rprop, {"etas": (0.5, 1.2)}, TypeError, r"unknown keyword argument 'etas'"),
    (ASGD, {"lambd": -1.0}, ValueError, r"^lambd must be >= 0; got -1\.0"),
    (ASGD, {"alpha": -0.1}, ValueError, r"^alpha must be >= 0; got -0\.1"),
    (ASGD, {"t0": -1}, ValueError, r"^t0 must be >= 0; got -1"),
    (ASGD, {"t0": math.nan}, ValueError, r"^t0 must be finite and >= 0; got nan"),
    (ASGD, {"weight_decay": -0.1}, ValueError, r"^weight_decay must be >= 0; got -0\.1"),
    (FTRL, {"learning_rate_power": 0.5}, ValueError,
     r"^learning_rate_power must be <= 0; got 0\.5"),
    (FTRL, {"initial_accumulator_value": -0.1}, ValueError,
     r"^initial_accumulator_value must be >= 0; got -0\.1"),
    (FTRL, {"l1_regularization_strength": -1.0}, ValueError,
     r"^l1_regularization_strength must be >= 0; got -1\.0"),
    (FTRL, {"l2_regularization_strength": -1.0}, ValueError,
     r"^l2_regularization_strength must be >= 0"),
    (FTRL, {"l2_shrinkage_regularization_strength": -1.0}, ValueError,
     r"^l2_shrinkage_regularization_strength must be >= 0"),
    (FTRL, {"beta": -0.5}, ValueError, r"^beta must be >= 0; got -0\.5"),
    (FTRL, {"beta": None}, TypeError, r"^beta must be a real number; got None"),
    (Adafactor, {"beta2_decay": 0.1}, ValueError, r"^beta2_decay must be <= 0; got 0\.1"),
    (Adafactor, {"eps1": -1.0}, ValueError, r"^eps1 must be >= 0; got -1\.0"),
    (Adafactor, {"eps1": "tiny"}, TypeError, r"^eps1 must be a real number; got 'tiny' \(str\)"),
    (Adafactor, {"eps2": -1.0}, ValueError, r"^eps2 must be >= 0; got -1\.0"),
    (Adafactor, {"d": 0.5}, ValueError, r"^d must be >= 1; got 0\.5"),
    (Adafactor, {"weight_decay": -1.0}, ValueError, r"^weight_decay must be >= 0"),
    (Adafactor, {"form": "paper"}, ValueError,
     r"^form must be one of 'torch', 'keras'; got 'paper'"),
    (Adafactor, {"eps": (None, 1e-3)}, TypeError, r"unknown keyword argument 'eps'"),
    (SM3, {"momentum": 1.0}, ValueError, r"^momentum must be in \[0, 1\); got 1\.0"),
    (SM3, {"eps": -1e-8}, ValueError, r"^eps must be >= 0; got -1e-08"),
    (SM3, {"lr": -1.0}, ValueError, r"^lr must be > 0; got -1\.0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "kwargs", "exc", "msg"),
    BAD_ARGUMENTS,
    ids=[f"{c[0].__name__}-{next(iter(c[1]))}-{i}" for i, c in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_are_named(cls, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(**kwargs)


def test_maximize_climbs(fused):
    for name in ("rprop", "asgd", "ftrl", "adafactor", "sm3"):
        down = create(name, lr=0.1, fused=fused)
        up = create(name, lr=0.1, maximize=True, fused=fused)
        a = {"x": np.array([1.0, -2.0]), "W": np.ones((2, 2))}
        b = copy.deepcopy(a)
        g = {"x": np.array([0.5, 0.25]), "W": np.array([[0.5, -1.0], [2.0, 0.1]])}
        down.update(a, g)
        up.update(b, {k: -v for k, v in g.items()})
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_ftrl_refuses_a_scheduled_rate_of_zero_and_changes_nothing():
    # FTRL divides by the rate: a schedule that ends at 0 is refused at that
    # step, before the step count, the parameters or the state change.
    opt = create("ftrl", lr=schedules.CosineDecay(0.1, 3))
    params, grads = {"w": np.ones(3)}, {"w": np.full(3, 0.5)}
    for _ in range(3):
        opt.update(params, grads)
    before, state = params["w"].copy(), copy.deepcopy(opt.state_dict())
    with pytest.raises(ValueError, match=r"lr must be > 0 .* gave 0\.0 at step 4"):
        opt.update(params, grads)
    assert opt.t == 3
    np.testing.assert_array_equal(params["w"], before)
    after = opt.state_dict()
    for key, arrays in state["state"].items():
        for name, value in arrays.items():
            np.testing.assert_array_equal(after["state"][key][name], value)
