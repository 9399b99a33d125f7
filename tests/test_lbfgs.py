"""L-BFGS: torch's trajectories replayed, the algorithm by hand, state, closures, errors.

``tests/data/closure_trajectories.npz`` holds ``torch.optim.LBFGS`` runs
recorded in float64 by ``scripts/record_closure_optimizers.py`` on a
quadratic with a random SPD matrix, Rosenbrock in 2, 6 and 24 dimensions and
a logistic regression, with and without the strong-Wolfe line search. The
closure here is the true function, recomputed in NumPy with the recording's
formulas: the parameters after every step must agree to 1e-10 (elementwise
relative error), and torch's counters ``func_evals`` and ``n_iter`` exactly.
"""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from closure_problems import ARRAYS, META, PROBLEMS, closure_of, flat, split
from gdlab import functions2d, race
from gdlab.data import Dataset
from gdlab.experiments import Experiment
from gdlab.optim import LBFGS, NonFiniteGradientError, create, load
from gdlab.problems import FunctionProblem, MLPClassification
from gdlab.train import Callback, Checkpoint, fit

RTOL = 1e-10
FLOOR = 1e-12


def replay(case, fused=True):
    """gdlab on a recorded case: the parameters (flat) after every step, and the counters."""
    f = PROBLEMS[case["problem"]]
    params = split(ARRAYS[f"{case['name']}/init"])
    opt = create(case["optimizer"], fused=fused, **case["gdlab_kwargs"])
    closure = closure_of(f)
    traj, counts = [], []
    for _ in range(case["steps"]):
        _, grads = closure(params)
        opt.update(params, grads, closure=closure)
        traj.append(flat(params))
        if case["optimizer"] == "lbfgs":
            counts.append((opt._scalars["func_evals"], opt._scalars["n_iter"]))
    return np.array(traj), counts


def relative_error(actual, expected, floor=FLOOR):
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), floor)))


CASES = [c for c in META["cases"] if c["optimizer"] == "lbfgs"]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_replays_torch_lbfgs(case, fused):
    traj, counts = replay(case, fused)
    expected = ARRAYS[f"{case['name']}/traj"]
    for step in range(case["steps"]):
        error = relative_error(traj[step], expected[step])
        assert error <= RTOL, f"{case['name']} step {step + 1}: relative error {error:.2e}"
    evals = ARRAYS[f"{case['name']}/func_evals"]
    iters = ARRAYS[f"{case['name']}/n_iter"]
    assert counts == list(zip(evals.astype(float), iters.astype(float), strict=True))


def test_the_recording_covers_both_line_searches_and_every_problem():
    assert {c["gdlab_kwargs"].get("line_search_fn") for c in CASES} == {None, "strong_wolfe"}
    assert {c["problem"] for c in CASES} == set(PROBLEMS)
    assert {c["n"] for c in CASES if c["problem"] == "rosenbrock"} == {2, 6, 24}


# ------------------------------------------------------------------- by hand


def dot(a, b):
    return sum(x * y for x, y in zip(a, b, strict=True))


C = (1.0, 3.0, 0.5)  # f(x) = ½ Σ c_i x_i², the diagonal quadratic below


def diagonal(x):
    grad = [c * v for c, v in zip(C, x, strict=True)]
    return 0.5 * sum(g * v for g, v in zip(grad, x, strict=True)), grad


def diagonal_closure(params):
    x = [float(params["w"][0]), float(params["w"][1]), float(params["b"])]
    loss, g = diagonal(x)
    return loss, {"w": np.array(g[:2]), "b": np.array(g[2])}


def as_params(x):
    return {"w": np.array(x[:2]), "b": np.array(x[2])}


def as_list(params):
    return [float(params["w"][0]), float(params["w"][1]), float(params["b"])]


@pytest.mark.parametrize("fused", [True, False])
def test_first_two_steps_by_hand(fused):
    """``max_iter=1``: one iteration per update, and the closure is never called.

    Update 1 is steepest descent with t = min(1, 1/‖g‖₁)·lr; update 2 applies
    the two-loop recursion (Nocedal & Wright, algorithm 7.4) to the one pair.
    """
    lr = 0.7
    x0 = [2.0, -1.0, 4.0]
    g1 = diagonal(x0)[1]  # [2, -3, 2]
    t1 = min(1.0, 1.0 / sum(abs(v) for v in g1)) * lr  # 0.7 / 7 = 0.1
    d1 = [-v for v in g1]
    x1 = [x + t1 * d for x, d in zip(x0, d1, strict=True)]

    g2 = diagonal(x1)[1]
    y = [a - b for a, b in zip(g2, g1, strict=True)]
    s = [t1 * d for d in d1]
    ys = dot(y, s)
    rho = 1.0 / ys
    gamma = ys / dot(y, y)
    q = [-v for v in g2]
    alpha = rho * dot(s, q)
    q = [qi - alpha * yi for qi, yi in zip(q, y, strict=True)]
    r = [gamma * qi for qi in q]
    beta = rho * dot(y, r)
    r = [ri + (alpha - beta) * si for ri, si in zip(r, s, strict=True)]
    x2 = [x + lr * ri for x, ri in zip(x1, r, strict=True)]

    def never(_params):
        raise AssertionError("max_iter=1 without line search never evaluates")

    opt = LBFGS(lr=lr, max_iter=1, fused=fused)
    params = as_params(x0)
    opt.update(params, as_params(g1), closure=never)
    np.testing.assert_allclose(as_list(params), x1, rtol=1e-15, atol=0)
    opt.update(params, as_params(g2), closure=never)
    np.testing.assert_allclose(as_list(params), x2, rtol=1e-13, atol=0)
    assert opt._scalars["count"] == 1
    assert opt._scalars["func_evals"] == 2


def plain_lbfgs(x, f, updates, *, lr=1.0, max_iter=20, history_size=100,
                tolerance_grad=1e-7, tolerance_change=1e-9):  # fmt: skip
    """torch's algorithm without line search, in plain Python lists: x after each update."""
    max_eval = max_iter * 5 // 4
    dirs, stps, ros = [], [], []
    d = t = prev_g = None
    h_diag = 1.0
    total_iter = 0
    out = []
    for _ in range(updates):
        loss, g = f(x)
        evals = 1
        if max(abs(v) for v in g) <= tolerance_grad:
            out.append(list(x))
            continue
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            total_iter += 1
            if total_iter == 1:
                d = [-v for v in g]
                h_diag = 1.0
            else:
                y = [a - b for a, b in zip(g, prev_g, strict=True)]
                s = [t * v for v in d]
                ys = dot(y, s)
                if ys > 1e-10:
                    if len(dirs) == history_size:
                        dirs.pop(0), stps.pop(0), ros.pop(0)
                    dirs.append(y), stps.append(s), ros.append(1.0 / ys)
                    h_diag = ys / dot(y, y)
                q = [-v for v in g]
                al = [0.0] * len(dirs)
                for i in reversed(range(len(dirs))):
                    al[i] = dot(stps[i], q) * ros[i]
                    q = [a - al[i] * b for a, b in zip(q, dirs[i], strict=True)]
                d = [v * h_diag for v in q]
                for i in range(len(dirs)):
                    be = dot(dirs[i], d) * ros[i]
                    d = [a + (al[i] - be) * b for a, b in zip(d, stps[i], strict=True)]
            prev_g, prev_loss = list(g), loss
            t = min(1.0, 1.0 / sum(abs(v) for v in g)) * lr if total_iter == 1 else lr
            if dot(g, d) > -tolerance_change:
                break
            x = [a + t * b for a, b in zip(x, d, strict=True)]
            opt_cond = False
            if n_iter != max_iter:
                loss, g = f(x)
                evals += 1
                opt_cond = max(abs(v) for v in g) <= tolerance_grad
            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if max(abs(t * v) for v in d) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break
        out.append(list(x))
    return out


def skewed(x):
    """A smooth non-quadratic function of three numbers: inner iterations do not stop early."""
    a, b, c = x
    loss = (a - 1) ** 2 + 2 * (b + 0.5) ** 2 + 0.5 * c**2 + 0.1 * (a * b) ** 2 + 0.05 * c**4
    grad = [
        2 * (a - 1) + 0.2 * a * b * b,
        4 * (b + 0.5) + 0.2 * a * a * b,
        c + 0.2 * c**3,
    ]
    return loss, grad


def skewed_closure(params):
    loss, g = skewed(as_list(params))
    return loss, {"w": np.array(g[:2]), "b": np.array(g[2])}


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"lr": 0.5, "max_iter": 3, "history_size": 2}, {"lr": 0.9, "max_iter": 7}],
    ids=["defaults", "short-history", "lr-0.9"],
)
def test_inner_iterations_follow_the_plain_algorithm(kwargs):
    x0 = [2.0, 1.5, -1.2]
    expected = plain_lbfgs(x0, skewed, 6, **kwargs)
    opt = LBFGS(**kwargs)
    params = as_params(x0)
    for row in expected:
        opt.update(params, skewed_closure(params)[1], closure=skewed_closure)
        np.testing.assert_allclose(as_list(params), row, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ fused == numpy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_fused_and_reference_paths_are_bit_identical(dtype, line_search_fn):
    def closure(params):
        x = flat(params).astype(np.float64)
        loss, g = PROBLEMS["logistic"](x)
        return float(loss), {k: v.astype(dtype) for k, v in split(g).items()}

    results = []
    for fused in (True, False):
        opt = LBFGS(max_iter=4, history_size=3, line_search_fn=line_search_fn, fused=fused)
        params = {k: v.astype(dtype) for k, v in split(ARRAYS["lbfgs-logistic/init"]).items()}
        for _ in range(5):
            opt.update(params, closure(params)[1], closure=closure)
            assert all(p.dtype == dtype for p in params.values())
        results.append(flat(params))
    np.testing.assert_array_equal(results[0], results[1])


# ------------------------------------------------------------------- errors

BAD = [
    ("max_iter", 0, ValueError, r"^max_iter must be an integer >= 1; got 0"),
    ("max_iter", 2.0, TypeError, r"^max_iter must be an integer; got 2.0 \(float\)"),
    ("max_eval", 0, ValueError, r"^max_eval must be an integer >= 1; got 0"),
    ("max_eval", "10", TypeError, r"^max_eval must be an integer; got '10' \(str\)"),
    ("tolerance_grad", -1e-7, ValueError, r"^tolerance_grad must be >= 0; got -1e-07"),
    ("tolerance_grad", float("nan"), ValueError, r"^tolerance_grad must be finite and >= 0"),
    ("tolerance_change", -1.0, ValueError, r"^tolerance_change must be >= 0; got -1.0"),
    ("tolerance_change", None, TypeError, r"^tolerance_change must be a real number; got None"),
    ("history_size", 0, ValueError, r"^history_size must be an integer >= 1; got 0"),
    ("history_size", True, TypeError, r"^history_size must be an integer; got True \(bool\)"),
    ("line_search_fn", "wolfe", ValueError,
     r"^line_search_fn must be None or 'strong_wolfe'; got 'wolfe'"),
    ("line_search_fn", 1, TypeError, r"^line_search_fn must be None or 'strong_wolfe'; got 1"),
    ("lr", 0.0, ValueError, r"^lr must be > 0; got 0.0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arg", "value", "error", "message"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD]
)
def test_bad_arguments_are_named(arg, value, error, message):
    with pytest.raises(error, match=message):
        LBFGS(**{arg: value})


def test_update_needs_a_closure_and_one_dtype():
    params = {"w": np.ones(3)}
    with pytest.raises(TypeError, match=r"LBFGS evaluates the loss again within a step: pass"):
        LBFGS().update(params, {"w": np.ones(3)})
    opt = LBFGS()
    mixed = {"w": np.ones(3), "b": np.ones(2, np.float32)}
    with pytest.raises(TypeError, match=r"params must all have one dtype .*w: float64, b: float32"):
        opt.update(mixed, {k: v.copy() for k, v in mixed.items()}, closure=diagonal_closure)
    assert opt.state is None
    assert opt.t == 0
    np.testing.assert_array_equal(mixed["w"], np.ones(3))


BAD_CLOSURES = [
    ("not a pair", lambda p: 1.0, TypeError,
     r"closure\(params\) must be a pair \(loss, grads\); got 1.0"),
    ("loss not a number", lambda p: ("a", {"w": np.ones(2), "b": np.ones(())}), TypeError,
     r"the closure's loss must be a real number; got 'a' \(str\)"),
    ("grads not a dict", lambda p: (1.0, [np.ones(2)]), TypeError,
     r"the closure's grads must be a dict of numpy arrays"),
    ("missing key", lambda p: (1.0, {"w": np.ones(2)}), ValueError,
     r"the closure's grads must have the keys of params; missing \['b'\], unexpected \[\]"),
    ("wrong shape", lambda p: (1.0, {"w": np.ones(3), "b": np.ones(())}), ValueError,
     r"the closure's grads\['w'\] must have the shape \(2,\) and dtype float64 of params\['w'\]; "
     r"got shape \(3,\), dtype float64"),
    ("wrong dtype", lambda p: (1.0, {"w": np.ones(2, np.float32), "b": np.ones(())}), ValueError,
     r"the closure's grads\['w'\] must have the shape \(2,\) and dtype float64"),
    ("list grad", lambda p: (1.0, {"w": [1.0, 2.0], "b": np.ones(())}), TypeError,
     r"the closure's grads\['w'\] must be a numpy array; got \[1.0, 2.0\] \(list\)"),
]  # fmt: skip


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize(("case", "closure", "error", "message"), BAD_CLOSURES,
                         ids=[b[0] for b in BAD_CLOSURES])  # fmt: skip
def test_a_bad_closure_is_named(case, closure, error, message, line_search_fn):
    opt = LBFGS(line_search_fn=line_search_fn)
    params = as_params([1.0, 2.0, 3.0])
    with pytest.raises(error, match=message):
        opt.update(params, diagonal_closure(params)[1], closure=closure)
    assert as_list(params) == [1.0, 2.0, 3.0]  # the loss is asked for before any move


# ------------------------------------------------------------------ state


def _fingerprint(opt) -> bytes:
    return pickle.dumps((opt.state_dict(), repr(opt)))


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_round_trip_keeps_the_history(line_search_fn, tmp_path):
    kwargs = {"max_iter": 3, "history_size": 4, "line_search_fn": line_search_fn}
    closure = closure_of(PROBLEMS["rosenbrock"])
    x0 = ARRAYS["lbfgs-rosenbrock24-wolfe/init"]

    def run(opt, params, steps):
        for _ in range(steps):
            opt.update(params, closure(params)[1], closure=closure)

    straight = split(x0)
    run(LBFGS(**kwargs), straight, 12)

    first = LBFGS(**kwargs)
    params = split(x0)
    run(first, params, 5)
    sd = first.state_dict()
    assert sd["scalars"]["count"] == 4  # the history is full ...
    kept = [n for n in first.state_names if n.startswith("old_dirs_")]
    assert len(kept) == 5  # ... in history_size + 1 slots
    assert sum(np.any(sd["state"]["vec"][n] != 0) for n in kept) >= 4
    path = first.save(tmp_path / "lbfgs.npz")

    fresh = LBFGS(**kwargs)
    fresh.load_state_dict(sd)
    for again in (fresh, load(path)):
        resumed = copy.deepcopy(params)
        run(again, resumed, 7)
        np.testing.assert_array_equal(flat(resumed), flat(straight))


TAMPER = [
    ("count too large", lambda sd: sd["scalars"].update(count=9.0),
     r"state_dict\['scalars'\]\['count'\] must be an integer in \[0, 4\]; got 9.0"),
    ("start not an integer", lambda sd: sd["scalars"].update(start=0.5),
     r"state_dict\['scalars'\]\['start'\] must be an integer in \[0, 4\]; got 0.5"),
    ("n_iter negative", lambda sd: sd["scalars"].update(n_iter=-1.0),
     r"state_dict\['scalars'\]\['n_iter'\] must be an integer in >= 0; got -1.0"),
    ("a slot missing", lambda sd: sd["state"]["w"].pop("old_stps_3"), r"a dict of arrays named"),
    ("history size differs", lambda sd: sd["hyperparameters"].update(history_size=5),
     r"differ in history_size \(saved 5, here 4\)"),
    ("mixed dtypes", lambda sd: sd["state"].update(
        b={n: a.astype(np.float32) for n, a in sd["state"]["b"].items()}),
     r"state_dict\['state'\] must all have one dtype"),
    ("nan loss", lambda sd: sd["scalars"].update(prev_loss=float("nan")),
     r"state_dict\['scalars'\]\['prev_loss'\] must be finite"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "tamper", "message"), TAMPER, ids=[t[0] for t in TAMPER])
def test_a_tampered_state_changes_nothing(case, tamper, message):
    opt = LBFGS(max_iter=3, history_size=4)
    params = as_params([2.0, 1.5, -1.2])
    for _ in range(4):
        opt.update(params, skewed_closure(params)[1], closure=skewed_closure)
    before = _fingerprint(opt)
    bad = copy.deepcopy(opt.state_dict())
    tamper(bad)
    with pytest.raises((TypeError, ValueError), match=message):
        opt.load_state_dict(bad)
    assert _fingerprint(opt) == before


# ------------------------------------------------------------- non-finite values


def _poisoned(after: int, value=math.nan):
    """The skewed function, whose evaluations return ``value`` from the ``after``-th on."""
    calls = [0]

    def closure(params):
        calls[0] += 1
        loss, grads = skewed_closure(params)
        if calls[0] > after:
            grads["b"] = np.array(value)
        return loss, grads

    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("after", [0, 1], ids=["at-params", "first-trial"])
def test_a_nonfinite_closure_before_any_move_changes_nothing(line_search_fn, after):
    opt = LBFGS(max_iter=5, line_search_fn=line_search_fn)
    params = as_params([2.0, 1.5, -1.2])
    opt.update(params, skewed_closure(params)[1], closure=skewed_closure)
    before, kept = _fingerprint(opt), as_list(params)
    with pytest.raises(NonFiniteGradientError, match=r"at step 2; nothing was updated"):
        opt.update(params, skewed_closure(params)[1], closure=_poisoned(after))
    assert _fingerprint(opt) == before
    assert as_list(params) == kept

    skipping = LBFGS(max_iter=5, line_search_fn=line_search_fn, nonfinite="skip")
    params = as_params([2.0, 1.5, -1.2])
    skipping.update(params, skewed_closure(params)[1], closure=skewed_closure)
    skipping.update(params, skewed_closure(params)[1], closure=_poisoned(after))
    assert (skipping.t, skipping.skipped_steps) == (1, 1)
    assert as_list(params) == kept


def test_a_nonfinite_closure_after_a_move_stops_at_the_last_finite_point():
    straight = LBFGS(max_iter=2)
    expected = as_params([2.0, 1.5, -1.2])
    straight.update(expected, skewed_closure(expected)[1], closure=skewed_closure)  # two iterations

    opt = LBFGS(max_iter=5)
    params = as_params([2.0, 1.5, -1.2])
    # evaluation 1 is the loss at params, 2 the first iterate: the second iterate is poisoned
    with pytest.raises(NonFiniteGradientError, match="stopped at the last point with finite"):
        opt.update(params, skewed_closure(params)[1], closure=_poisoned(2))
    assert opt.t == 1
    np.testing.assert_array_equal(as_list(params), as_list(expected))

    skipping = LBFGS(max_iter=5, nonfinite="skip")
    params = as_params([2.0, 1.5, -1.2])
    skipping.update(params, skewed_closure(params)[1], closure=_poisoned(2))
    assert (skipping.t, skipping.skipped_steps) == (1, 0)
    np.testing.assert_array_equal(as_list(params), as_list(expected))


def test_nonfinite_ignore_lets_nan_through_and_round_trips(tmp_path):
    opt = LBFGS(max_iter=3, nonfinite="ignore")
    params = as_params([2.0, 1.5, -1.2])
    opt.update(params, skewed_closure(params)[1], closure=_poisoned(0, math.inf))
    assert opt.t == 1
    assert all(math.isnan(v) for v in as_list(params))
    saved, loaded = opt.state_dict(), load(opt.save(tmp_path / "nan.npz")).state_dict()
    assert math.isnan(saved["scalars"]["H_diag"])
    for name, value in saved["scalars"].items():  # NaN's sign may not survive the file
        assert value == loaded["scalars"][name] or math.isnan(value) == math.isnan(
            loaded["scalars"][name]
        )
    for key, bufs in saved["state"].items():
        for name, array in bufs.items():
            np.testing.assert_array_equal(array, loaded["state"][key][name])


def test_strong_wolfe_under_ignore_takes_a_nan_loss_with_a_finite_gradient():
    # The curvature condition holds at the first trial, so the bracket is one point,
    # and its NaN loss must not make the line search pick a second end that is not there
    # (torch's LBFGS raises IndexError here).
    opt = LBFGS(line_search_fn="strong_wolfe", nonfinite="ignore", max_iter=2)
    params = as_params([1.0, 2.0, 0.5])

    def nan_loss(p):
        return math.nan, {k: v.copy() for k, v in p.items()}

    opt.update(params, nan_loss(params)[1], closure=nan_loss)
    assert opt.t == 1
    assert all(math.isfinite(v) for v in as_list(params))


# ------------------------------------------------------------------ options


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_maximize_climbs_what_minimize_descends(line_search_fn):
    def negated(params):
        loss, grads = skewed_closure(params)
        return -loss, {k: -v for k, v in grads.items()}

    down = as_params([2.0, 1.5, -1.2])
    up = as_params([2.0, 1.5, -1.2])
    lo = LBFGS(max_iter=4, line_search_fn=line_search_fn)
    hi = LBFGS(max_iter=4, line_search_fn=line_search_fn, maximize=True)
    for _ in range(3):
        lo.update(down, skewed_closure(down)[1], closure=skewed_closure)
        hi.update(up, negated(up)[1], closure=negated)
        np.testing.assert_array_equal(as_list(down), as_list(up))


@pytest.mark.parametrize("option", ["clip_norm", "clip_value"])
def test_clipping_is_refused(option):
    with pytest.raises(ValueError, match=rf"^{option} must be None for L-BFGS \(its curvature"):
        LBFGS(**{option: 1.0})


def test_a_schedule_sets_each_updates_lr():
    from gdlab import schedules

    opt = LBFGS(lr=schedules.ExponentialDecay(1.0, 0.5, per="step"), max_iter=1)
    params = as_params([2.0, 1.5, -1.2])
    for expected in (1.0, 0.5, 0.25):
        opt.update(params, skewed_closure(params)[1], closure=skewed_closure)
        assert opt.current_lr == expected


# ---------------------------------------------------------------- end to end


def toy_data() -> Dataset:
    """40 points in the plane, labelled by the sign of x·y (an MLP's problem)."""
    x = np.random.default_rng(1).standard_normal((40, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return Dataset(x, y, "toy", ("a", "b"), ("no", "yes"), "classification")


@pytest.mark.parametrize("kwargs", [{"max_iter": 5}, {"line_search_fn": "strong_wolfe"}])
def test_fit_trains_an_mlp_and_walks_a_function(kwargs):
    problem = MLPClassification(toy_data(), (4,), dtype=np.float64)
    history = fit(problem, create("lbfgs", **kwargs), steps=3, rng=np.random.default_rng(0),
                  progress=False)  # fmt: skip
    assert history.status == "ok"
    assert history.loss[-1] < 0.5 * history.loss[0]

    history = fit(FunctionProblem("rosenbrock"), create("lbfgs", **kwargs), steps=30,
                  rng=np.random.default_rng(0), progress=False)  # fmt: skip
    path = functions2d.run_path("rosenbrock", create("lbfgs", **kwargs), steps=30)
    np.testing.assert_array_equal(np.array(history.path), path)
    assert history.loss[-1] < 1e-6


def test_a_race_on_the_bowl():
    experiment = Experiment.from_toml(
        '[problem]\nkind = "function"\nfunction = "bowl"\n[training]\nsteps = 10\n'
        '[[runs]]\noptimizer = "lbfgs"\n'
        '[[runs]]\noptimizer = "lbfgs"\nlabel = "wolfe"\nline_search_fn = "strong_wolfe"\n'
    )
    records = race.race(experiment, progress=False)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert all(r["loss"][-1] < 1e-8 for r in records)
    assert records[1]["hyperparameters"]["line_search_fn"] == "strong_wolfe"


class _Interrupt(Callback):
    def on_step_end(self, run, loss):
        if run.step == 7:
            raise KeyboardInterrupt


def test_a_checkpointed_run_resumes_bit_identically(tmp_path):
    def run(callbacks=(), resume=None):
        problem = MLPClassification(toy_data(), (4,), dtype=np.float64)
        optimizer = create(
            "lbfgs", **{"max_iter": 3, "history_size": 4, "line_search_fn": "strong_wolfe"}
        )
        return fit(problem, optimizer, steps=12, batch_size=8, rng=np.random.default_rng(3),
                   progress=False, callbacks=list(callbacks), resume=resume)  # fmt: skip

    straight = run()
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        run([_Interrupt(), Checkpoint(path, every=5)])
    resumed = run([Checkpoint(path, every=5)], resume=path)
    assert resumed.loss == straight.loss
    for key in straight.params:
        np.testing.assert_array_equal(resumed.params[key], straight.params[key])
