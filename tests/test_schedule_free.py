# ruff: noqa: E501  (the tables keep one case per line)
"""Schedule-Free SGD and AdamW: optax's trajectories, the paper's steps, x and y.

``tests/data/free_trajectories.npz`` holds optax 0.2.8's (x64) parameters after
every step (y, the point the gradient is taken at) and its
``schedule_free_eval_params`` (x, the point to evaluate at), recorded by
``scripts/record_free.py``; these tests replay them without importing optax.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import ScheduleFreeAdamW, ScheduleFreeSGD, create, load

DATA = Path(__file__).parent / "data" / "free_trajectories.npz"
CLASSES = {"ScheduleFreeSGD": ScheduleFreeSGD, "ScheduleFreeAdamW": ScheduleFreeAdamW}

# Elementwise relative error |gdlab − optax| / max(|optax|, FLOOR), every
# element, every step (as tests/test_torch_conformance.py). gdlab computes
# x = (y − (1 − β1)·z)·(1/β1) as optax's compiled code does for arrays, and
# agrees with it to the last bit there; a 0-d parameter, which XLA divides,
# differs in the last place (measured: below 1e-12).
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


def _worst(actual, expected):
    """The worst elementwise relative error of a run, as (error, step, key)."""
    worst = (0.0, 0, "")
    for k in NAMES:
        err = np.abs(actual[k] - expected[k]) / np.maximum(np.abs(expected[k]), FLOOR)
        per_step = err.reshape(STEPS, -1).max(axis=1)
        step = int(np.argmax(per_step))
        worst = max(worst, (float(per_step[step]), step + 1, k))
    return worst


def _replay(case, *, fused, **override):
    """Worst (error of y, error of x) over the run, each as (error, step, key)."""
    name = case["name"]
    opt = CLASSES[case["gdlab_class"]](**{**case["gdlab_kwargs"], **override}, fused=fused)
    params = {k: RECORDED[f"{name}/{k}/init"].copy() for k in NAMES}
    ys = {k: np.empty((STEPS, *v.shape)) for k, v in params.items()}
    xs = {k: np.empty((STEPS, *v.shape)) for k, v in params.items()}
    for step in range(STEPS):
        opt.update(params, {k: RECORDED[f"{name}/{k}/grads"][step].copy() for k in NAMES})
        x = opt.eval_params(params)
        for k in NAMES:
            ys[k][step] = params[k]
            xs[k][step] = x[k]
    worst_y = _worst(ys, {k: RECORDED[f"{name}/{k}/traj"] for k in NAMES})
    worst_x = _worst(xs, {k: RECORDED[f"{name}/{k}/eval"] for k in NAMES})
    return worst_y, worst_x


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_trajectory_and_eval_point_match_optax(case, fused):
    worst_y, worst_x = _replay(case, fused=fused)
    assert worst_y[0] <= RTOL, (
        f"y: relative error {worst_y[0]:.3e} at step {worst_y[1]} in {worst_y[2]!r}"
    )
    assert worst_x[0] <= RTOL, (
        f"x: relative error {worst_x[0]:.3e} at step {worst_x[1]} in {worst_x[2]!r}"
    )


def test_tolerance_detects_a_tiny_change():
    case = next(c for c in CASES if c["name"] == "sf_adamw_plain")
    lr = case["gdlab_kwargs"]["lr"] * (1 + 1e-8)
    worst_y, worst_x = _replay(case, fused=True, lr=lr)
    assert worst_y[0] > 10 * RTOL
    assert worst_x[0] > 10 * RTOL


def test_file_covers_both_optimizers_with_every_option():
    assert META["dtype"] == "float64"
    assert STEPS >= 200
    assert META["optax_version"] == "0.2.8"
    assert [] in META["shapes"].values()  # a 0-d parameter
    for cls in CLASSES:
        kwargs = [c["gdlab_kwargs"] for c in CASES if c["gdlab_class"] == cls]
        assert len(kwargs) >= 2
        assert any(kw.get("warmup_steps", 0) > 0 for kw in kwargs)
        assert any(kw.get("weight_decay", 0) > 0 for kw in kwargs)
        assert any(kw.get("beta1", 0.9) != 0.9 for kw in kwargs)
        assert any(kw.get("weight_lr_power", 2.0) != 2.0 for kw in kwargs)
    for case in CASES:
        for k in NAMES:
            grads = RECORDED[f"{case['name']}/{k}/grads"].reshape(STEPS, -1)
            assert grads.dtype == np.float64
            assert 0 < np.mean(grads == 0) < 0.5
            rms = np.sqrt(np.mean(grads[:240].reshape(24, -1) ** 2, axis=1))
            assert rms.max() / rms.min() > 100


def test_recorded_warmups_are_exact_in_float32():
    """optax's warm-up rate is float32: the recorded cases use rates exact there."""
    for case in CASES:
        kw = case["gdlab_kwargs"]
        steps = kw.get("warmup_steps", 0)
        for k in range(steps + 1):
            rate = kw["lr"] * min(k / steps, 1.0) if steps else kw["lr"]
            assert not steps or float(np.float32(rate)) == rate


# --------------------------------------------------------- the paper by hand


def paper(p0, grads, *, lr, b1, warmup=0, wd=0.0, r=2.0, adam=None):
    """Schedule-Free (Defazio et al. 2024, Algorithm 1) in plain Python floats.

    x and z are kept explicitly (gdlab recovers x from y and z). ``adam`` =
    (β2, ε) gives the AdamW form: z steps by g/(√v̂ + ε) + wd·y. The rate of
    the z step is lr·min((t−1)/warmup, 1) and the averaging weight uses
    lr·min(t/warmup, 1), as optax evaluates its warm-up. Returns (y, x) per step.
    """
    n = len(p0)
    x, z, y, v = list(p0), list(p0), list(p0), [0.0] * n
    weight_sum = max_lr = 0.0
    out = []
    for t, g in enumerate(grads, 1):
        warm = (lambda k: min(k / warmup, 1.0)) if warmup else (lambda k: 1.0)
        lr_z, lr_w = lr * warm(t - 1), lr * warm(t)
        max_lr = max(max_lr, lr_w)
        weight_sum += max_lr**r
        c = max_lr**r / weight_sum
        for i in range(n):
            if adam is None:
                step = g[i] + wd * y[i]
            else:
                b2, eps = adam
                v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
                step = g[i] / (math.sqrt(v[i] / (1 - b2**t)) + eps) + wd * y[i]
            z[i] = z[i] - lr_z * step
            x[i] = (1 - c) * x[i] + c * z[i]
            y[i] = b1 * x[i] + (1 - b1) * z[i]
        out.append((list(y), list(x)))
    return out


P0 = [1.0, -2.0, 0.5]
GRADS = [[0.3, -0.4, 0.2], [-0.1, 0.5, 0.6], [0.7, 0.0, -0.3]]


def _run(opt):
    params = {"w": np.array(P0[:2]), "b": np.array(P0[2])}
    out = []
    for g in GRADS:
        opt.update(params, {"w": np.array(g[:2]), "b": np.array(g[2])})
        x = opt.eval_params(params)
        flat = lambda d: [*d["w"].tolist(), float(d["b"])]  # noqa: E731
        out.append((flat(params), flat(x)))
    return out


HAND = [
    ("sgd", {"lr": 0.5}, {"lr": 0.5, "b1": 0.9}),
    (
        "sgd-all",
        {"lr": 0.5, "beta1": 0.7, "warmup_steps": 2, "weight_decay": 0.1, "weight_lr_power": 1.0},
        {"lr": 0.5, "b1": 0.7, "warmup": 2, "wd": 0.1, "r": 1.0},
    ),
    ("adamw", {"lr": 0.1}, {"lr": 0.1, "b1": 0.9, "adam": (0.999, 1e-8)}),
    (
        "adamw-all",
        {"lr": 0.1, "beta1": 0.8, "beta2": 0.9, "eps": 1e-3, "warmup_steps": 3,
         "weight_decay": 0.2, "weight_lr_power": 3.0},
        {"lr": 0.1, "b1": 0.8, "adam": (0.9, 1e-3), "warmup": 3, "wd": 0.2, "r": 3.0},
    ),
]  # fmt: skip


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize(("label", "kwargs", "ref"), HAND, ids=[h[0] for h in HAND])
def test_first_steps_follow_the_paper(label, kwargs, ref, fused):
    cls = ScheduleFreeAdamW if label.startswith("adamw") else ScheduleFreeSGD
    got = _run(cls(**kwargs, fused=fused))
    want = paper(P0, GRADS, **ref)
    np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-13, atol=1e-15)


def test_sgd_first_step_written_out():
    """Step 1 (c = 1): z = p − lr·g, x = z, y = z. Step 2: c = ½."""
    opt = ScheduleFreeSGD(lr=0.5, beta1=0.9)
    params = {"w": np.array([1.0])}
    opt.update(params, {"w": np.array([0.4])})
    assert params["w"][0] == pytest.approx(1.0 - 0.5 * 0.4, rel=1e-15)  # 0.8
    opt.update(params, {"w": np.array([0.2])})
    z2 = 0.8 - 0.5 * 0.2  # 0.7
    x2 = 0.5 * 0.8 + 0.5 * z2  # 0.75
    assert params["w"][0] == pytest.approx(0.9 * x2 + 0.1 * z2, rel=1e-15)
    assert opt.eval_params(params)["w"][0] == pytest.approx(x2, rel=1e-15)
    assert opt.state["w"]["z"][0] == pytest.approx(z2, rel=1e-15)


def test_warmup_first_step_leaves_the_parameters():
    """optax's z step uses the warm-up rate at count t − 1: 0 on the first step."""
    opt = ScheduleFreeSGD(lr=0.5, warmup_steps=4)
    params = {"w": np.array([1.0, -3.0])}
    opt.update(params, {"w": np.array([5.0, 7.0])})
    np.testing.assert_array_equal(params["w"], [1.0, -3.0])
    opt.update(params, {"w": np.array([1.0, 1.0])})
    assert not np.array_equal(params["w"], [1.0, -3.0])


def test_a_schedule_steps_z_at_t_minus_1_and_weights_at_t():
    sched = schedules.PiecewiseConstant([1], [0.5, 0.25])  # 0.5 at step 0, then 0.25
    opt = ScheduleFreeSGD(lr=sched, beta1=0.9)
    params = {"w": np.array([1.0])}
    opt.update(params, {"w": np.array([0.4])})
    opt.update(params, {"w": np.array([0.2])})
    # step 1: lr_z = 0.5, weight lr = 0.25 (schedule at 1); max_lr = 0.25, c = 1
    # step 2: lr_z = 0.25, max_lr stays 0.25: c = ½
    z1 = 1.0 - 0.5 * 0.4
    z2 = z1 - 0.25 * 0.2
    x2 = 0.5 * z1 + 0.5 * z2
    assert params["w"][0] == pytest.approx(0.9 * x2 + 0.1 * z2, rel=1e-15)
    assert opt._scalars == {"max_lr": 0.25, "weight_sum": 2 * 0.25**2}


# ---------------------------------------------------------- the two points


def test_eval_params_is_x_and_changes_nothing():
    opt = ScheduleFreeAdamW(lr=0.05)
    params = {"w": np.array([[1.0, 2.0]]), "b": np.array(0.5)}
    before = {k: v.copy() for k, v in params.items()}
    x0 = opt.eval_params(params)  # before any update: a copy of y
    assert all(np.array_equal(x0[k], before[k]) and x0[k] is not params[k] for k in params)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        opt.update(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})
    y = {k: v.copy() for k, v in params.items()}
    x = opt.eval_params(params)
    for k in params:
        np.testing.assert_array_equal(params[k], y[k])  # read, not changed
        z = opt.state[k]["z"]
        np.testing.assert_allclose(0.9 * x[k] + 0.1 * z, y[k], rtol=1e-14)  # y = β1·x + (1−β1)·z
        assert x[k].shape == y[k].shape
        assert x[k].dtype == y[k].dtype
        assert not np.shares_memory(x[k], params[k])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eval_params_fused_equals_reference(dtype):
    outs = []
    for fused in (True, False):
        opt = ScheduleFreeSGD(lr=0.1, beta1=0.8, fused=fused)
        params = {"w": np.linspace(-1, 1, 7).astype(dtype), "s": np.array(0.3, dtype)}
        for seed in range(4):
            rng = np.random.default_rng(seed)
            opt.update(
                params, {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
            )
        outs.append(opt.eval_params(params))
    for k in outs[0]:
        assert outs[0][k].dtype == dtype
        np.testing.assert_array_equal(outs[0][k], outs[1][k])


def test_eval_params_refuses_other_params():
    opt = ScheduleFreeSGD()
    params = {"w": np.zeros(3)}
    opt.update(params, {"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"params must have the keys the optimizer's state"):
        opt.eval_params({"v": np.zeros(3)})
    with pytest.raises(ValueError, match=r"params\['w'\] must have shape \(3,\)"):
        opt.eval_params({"w": np.zeros(4)})
    with pytest.raises(TypeError, match=r"params must be a dict of numpy arrays"):
        opt.eval_params([np.zeros(3)])


# ------------------------------------------------- kernels, state, arguments

CONFIGS = [
    ("schedule_free_sgd", {"lr": 0.1}),
    ("schedule_free_sgd", {"lr": 0.1, "beta1": 0.5, "warmup_steps": 5, "weight_decay": 0.1}),
    ("schedule_free_adamw", {"lr": 0.01}),
    ("schedule_free_adamw", {"lr": 0.01, "warmup_steps": 3, "weight_decay": 0.1, "eps": 1e-4}),
]


def _stream(dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield {
            "W": rng.standard_normal((4, 3)).astype(dtype),
            "s": rng.standard_normal(()).astype(dtype),
        }


def _start(dtype):
    return {"W": np.linspace(-1, 1, 12).reshape(4, 3).astype(dtype), "s": np.array(0.7, dtype)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_fused_is_bit_identical_to_reference(name, kwargs, dtype):
    results = []
    for fused in (True, False):
        opt = create(name, **kwargs, fused=fused)
        params = _start(dtype)
        for g in _stream(dtype, 30):
            opt.update(params, g)
        results.append((params, opt.eval_params(params), opt.state))
    (pa, xa, sa), (pb, xb, sb) = results
    for k in pa:
        assert pa[k].dtype == dtype
        np.testing.assert_array_equal(pa[k], pb[k])
        np.testing.assert_array_equal(xa[k], xb[k])
        for n in sa[k]:
            np.testing.assert_array_equal(sa[k][n], sb[k][n])


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS)
def test_state_round_trip_continues_bit_identically(name, kwargs, tmp_path):
    straight = create(name, **kwargs)
    params = _start(np.float64)
    grads = list(_stream(np.float64, 20))
    for g in grads:
        straight.update(params, g)

    first = create(name, **kwargs)
    resumed = _start(np.float64)
    for g in grads[:8]:
        first.update(resumed, g)
    again = load(first.save(tmp_path / "sf.npz"))
    assert again._scalars == first._scalars
    for g in grads[8:]:
        again.update(resumed, g)
    for k in params:
        np.testing.assert_array_equal(resumed[k], params[k])
        np.testing.assert_array_equal(
            again.eval_params(resumed)[k], straight.eval_params(params)[k]
        )


def test_a_negative_weight_sum_is_refused_and_changes_nothing():
    opt = ScheduleFreeSGD()
    params = {"w": np.zeros(2)}
    opt.update(params, {"w": np.ones(2)})
    sd = opt.state_dict()
    sd["scalars"]["weight_sum"] = -1.0
    fresh = ScheduleFreeSGD()
    with pytest.raises(ValueError, match=r"state_dict\['scalars'\]\['weight_sum'\] must be >= 0"):
        fresh.load_state_dict(sd)
    assert fresh.state is None
    assert fresh.t == 0


BAD = [
    (ScheduleFreeSGD, "beta1", 0.0, ValueError, r"^beta1 must be in \(0, 1\); got 0.0"),
    (ScheduleFreeSGD, "beta1", 1.0, ValueError, r"^beta1 must be in \(0, 1\); got 1.0"),
    (ScheduleFreeAdamW, "beta1", -0.5, ValueError, r"^beta1 must be in \(0, 1\); got -0.5"),
    (ScheduleFreeAdamW, "beta2", 1.0, ValueError, r"^beta2 must be in \[0, 1\); got 1.0"),
    (ScheduleFreeAdamW, "eps", 0.0, ValueError, r"^eps must be > 0; got 0.0"),
    (ScheduleFreeSGD, "warmup_steps", -1, ValueError, r"^warmup_steps must be an integer >= 0; got -1"),
    (ScheduleFreeSGD, "warmup_steps", 2.5, TypeError, r"^warmup_steps must be an integer; got 2.5"),
    (ScheduleFreeAdamW, "weight_lr_power", -1.0, ValueError, r"^weight_lr_power must be >= 0; got -1.0"),
    (ScheduleFreeSGD, "weight_decay", -0.1, ValueError, r"^weight_decay must be >= 0; got -0.1"),
    (ScheduleFreeSGD, "lr", 0.0, ValueError, r"^lr must be > 0; got 0.0"),
]  # fmt: skip


@pytest.mark.parametrize(("cls", "arg", "value", "exc", "msg"), BAD)
def test_bad_arguments_are_named(cls, arg, value, exc, msg):
    with pytest.raises(exc, match=msg):
        cls(**{arg: value})


def test_defaults_are_optax_and_registered():
    sgd, adamw = ScheduleFreeSGD(), ScheduleFreeAdamW()
    assert (sgd.lr, sgd.beta1, sgd.warmup_steps, sgd.weight_decay, sgd.weight_lr_power) == (
        1.0, 0.9, 0, 0.0, 2.0,
    )  # fmt: skip
    assert (adamw.lr, adamw.beta1, adamw.beta2, adamw.eps, adamw.weight_decay) == (
        2.5e-3, 0.9, 0.999, 1e-8, 0.0,
    )  # fmt: skip
    assert ScheduleFreeSGD.lr_range == (1e-3, 1.0)
    assert ScheduleFreeAdamW.lr_range == (1e-4, 1e-1)
    assert (
        create("schedule_free_adamw", preset="optax").hyperparameters() == adamw.hyperparameters()
    )
    assert "Update::" in ScheduleFreeSGD.__doc__
    assert "eval_params" in ScheduleFreeAdamW.__doc__
