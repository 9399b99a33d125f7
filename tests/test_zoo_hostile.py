"""Hostile inputs to the modern optimizers and the wrappers: each test here failed once.

SAM around bases with scalars that follow the keys (NovoGrad) or that have
their own rules (Prodigy's d > 0, Muon's matrices, Schedule-Free's
evaluation point); closures that return what they should not; wrappers
asked for their evaluation point with the wrong dict.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from gdlab.optim import create, load


def _quadratic(q):
    return float(sum(float((v * v).sum()) for v in q.values())), {k: 2 * v for k, v in q.items()}


def _params():
    return {"W": np.array([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]), "b": np.array([1.0, -2.0])}


def _steps(opt, params, n):
    for _ in range(n):
        opt.update(params, _quadratic(params)[1], closure=_quadratic)


# ------------------------------------------------------------------------ SAM


def test_sam_novograd_state_dict_round_trip(tmp_path):
    opt = create("sam", base="novograd")
    params = _params()
    _steps(opt, params, 3)
    again = create("sam", base="novograd")
    again.load_state_dict(copy.deepcopy(opt.state_dict()))
    from_file = load(opt.save(tmp_path / "sam.npz"))
    twins = [{k: v.copy() for k, v in params.items()} for _ in range(2)]
    _steps(opt, params, 3)
    for other, p in zip((again, from_file), twins, strict=True):
        _steps(other, p, 3)
        for key in params:
            np.testing.assert_array_equal(p[key], params[key])


def test_sam_refuses_a_base_state_the_base_would_refuse():
    opt = create("sam", base="prodigy")
    params = _params()
    _steps(opt, params, 2)
    state = opt.state_dict()
    state["scalars"]["d"] = -1.0
    fresh = create("sam", base="prodigy")
    with pytest.raises(ValueError, match=r"\['d'\] must be > 0; got -1.0"):
        fresh.load_state_dict(state)
    assert fresh.state is None


def test_sam_muon_fallback_error_refuses_a_vector_before_anything_changes():
    opt = create("sam", base={"optimizer": "muon", "fallback": "error"})
    params = {"b": np.array([1.0, -2.0, 3.0])}
    with pytest.raises(ValueError, match=r"params\['b'\] must be a matrix"):
        opt.update(params, _quadratic(params)[1], closure=_quadratic)
    assert opt.state is None
    assert opt.t == 0
    np.testing.assert_array_equal(params["b"], [1.0, -2.0, 3.0])
    matrix = {"W": np.ones((2, 3))}
    opt.update(matrix, _quadratic(matrix)[1], closure=_quadratic)  # then it works
    assert opt.t == 1


@pytest.mark.parametrize("base", ["schedule_free_sgd", "schedule_free_adamw"])
def test_sam_evaluates_where_its_schedule_free_base_does(base):
    sam = create("sam", base=base, rho=0.0, lr=0.1)
    plain = create(base, lr=0.1)
    p_sam, p_plain = _params(), _params()
    for _ in range(4):
        sam.update(p_sam, _quadratic(p_sam)[1], closure=_quadratic)
        plain.update(p_plain, _quadratic(p_plain)[1])
    got, want = sam.eval_params(p_sam), plain.eval_params(p_plain)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
        assert not np.array_equal(got[key], p_sam[key])  # x, not y
    assert create("sam", base="adam").eval_params(p_sam) is p_sam


@pytest.mark.parametrize("base", ["prodigy", "dadapt_adamw"])
@pytest.mark.parametrize("fused", [True, False])
def test_sam_distance_adapted_base_on_one_flat_buffer(base, fused):
    """An MLP's parameters and gradients are pieces of one buffer: one flat run."""

    def flat_grads(p):
        buffer = np.concatenate([2 * p["a"], 2 * p["b"]])
        return {"a": buffer[:4], "b": buffer[4:]}

    buffer = np.linspace(-1.0, 1.0, 10)
    flat = {"a": buffer[:4], "b": buffer[4:]}
    apart = {k: v.copy() for k, v in flat.items()}
    one, other = create("sam", base=base, fused=fused), create("sam", base=base, fused=fused)
    for _ in range(3):
        one.update(flat, flat_grads(flat), closure=_quadratic)
        other.update(apart, _quadratic(apart)[1], closure=_quadratic)
    for key in flat:
        np.testing.assert_array_equal(flat[key], apart[key])
    assert one.t == 3


@pytest.mark.parametrize(
    "base", ["lookahead", "average", "accumulate", "groups", {"optimizer": "lookahead"}]
)
def test_sam_refuses_a_wrapper_as_its_base(base):
    with pytest.raises(ValueError, match=r"base must be an optimizer .* not a wrapper"):
        create("sam", base=base)


# ------------------------------------------------------------------- closures


def _groups_with_lbfgs():
    return create("groups", inner="sgd", groups=[{"keys": "W", "optimizer": "lbfgs"}])


@pytest.mark.parametrize(
    ("result", "kind", "message"),
    [
        (None, TypeError, r"closure\(params\) must be a pair \(loss, grads\); got None"),
        ((1.0, {}, 3), TypeError, r"closure\(params\) must be a pair"),
        ((1.0, [1.0]), TypeError, r"the closure's grads must be a dict of numpy arrays"),
        ((1.0, {"W": np.ones((2, 3))}), ValueError, r"missing \['b'\], unexpected \[\]"),
    ],
)
def test_groups_names_what_a_bad_closure_returns(result, kind, message):
    opt = _groups_with_lbfgs()
    params = _params()
    before = copy.deepcopy(params)
    with pytest.raises(kind, match=message):
        opt.update(params, _quadratic(params)[1], closure=lambda q: result)
    assert opt.t == 0
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])


@pytest.mark.parametrize("name", ["lbfgs", "sam"])
def test_a_loss_beyond_float_range_is_named(name):
    opt = create(name)
    params = _params()
    grads = _quadratic(params)[1]
    with pytest.raises(ValueError, match=r"the closure's loss must be a real number within"):
        opt.update(params, grads, closure=lambda q: (10**400, _quadratic(q)[1]))
    assert opt.t == 0


def _concave(q):
    loss, grads = _quadratic(q)
    return -loss, {k: -g for k, g in grads.items()}


@pytest.mark.parametrize("as_loss", [np.array, np.float32])
def test_a_wrapper_maximizing_transforms_a_closure_whose_loss_is_a_numpy_number(as_loss):
    def closure(q):
        loss, grads = _concave(q)
        return as_loss(loss), grads

    results = []
    for f in (_concave, closure):
        opt = create("lookahead", inner={"optimizer": "lbfgs", "max_iter": 3}, maximize=True)
        params = _params()
        opt.update(params, _concave(params)[1], closure=f)
        results.append(params)
    for key in results[0]:
        np.testing.assert_array_equal(results[1][key], results[0][key])
    assert np.abs(results[0]["W"]).max() < 1e-12  # the maximum of -‖x‖²


# ------------------------------------------------------------ evaluation points


WRAPPED = [
    ("lookahead", {"inner": "adam"}),
    ("average", {"inner": "adam"}),
    ("average", {"inner": "adam", "debias": True}),
    ("accumulate", {"inner": "schedule_free_sgd"}),
    ("groups", {"inner": "adam", "groups": [{"keys": "b", "optimizer": "schedule_free_sgd"}]}),
]


@pytest.mark.parametrize(("name", "kwargs"), WRAPPED)
@pytest.mark.parametrize(
    ("bad", "kind", "message"),
    [
        (lambda p: [p["W"], p["b"]], TypeError, r"params must be a dict of numpy arrays"),
        (lambda p: {"W": p["W"]}, ValueError, r"params must have the keys .* got \['W'\]"),
        (lambda p: {**p, "c": np.ones(2)}, ValueError, r"params must have the keys"),
        (lambda p: {"W": p["W"], "b": [1.0, 2.0]}, TypeError, r"params\['b'\] must be a numpy"),
        (lambda p: {"W": p["W"], 1: p["b"]}, TypeError, r"params keys must be str"),
    ],
)
def test_wrapper_eval_params_refuses_what_is_not_its_parameters(name, kwargs, bad, kind, message):
    opt = create(name, **kwargs)
    params = _params()
    opt.update(params, _quadratic(params)[1])
    with pytest.raises(kind, match=message):
        opt.eval_params(bad(params))


@pytest.mark.parametrize(("name", "kwargs"), WRAPPED[:3])
def test_wrapper_eval_params_refuses_another_shape_or_dtype(name, kwargs):
    opt = create(name, **kwargs)
    params = _params()
    opt.update(params, _quadratic(params)[1])
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(2, 3\) and dtype"):
        opt.eval_params({"W": np.ones(3), "b": params["b"]})
    with pytest.raises(ValueError, match=r"params\['b'\] must have shape \(2,\) and dtype float64"):
        opt.eval_params({"W": params["W"], "b": params["b"].astype(np.float32)})


# ---------------------------------------------------------------- Schedule-Free


@pytest.mark.parametrize("name", ["schedule_free_sgd", "schedule_free_adamw"])
def test_schedule_free_weight_beyond_float_range_steps_and_round_trips(name, tmp_path):
    opt = create(name, lr=10.0, weight_lr_power=400.0)  # 10**400: inf, as optax's float
    params = {"w": np.array([1.0, 2.0])}
    grads = {"w": np.array([1.0, 1.0])}
    opt.update(params, grads)
    assert opt.t == 1
    assert opt.state_dict()["scalars"]["weight_sum"] == np.inf
    again = load(opt.save(tmp_path / "sf.npz"))
    twin = {"w": params["w"].copy()}
    for _ in range(2):
        opt.update(params, grads)
        again.update(twin, grads)
    np.testing.assert_array_equal(twin["w"], params["w"])
    np.testing.assert_array_equal(again.eval_params(twin)["w"], opt.eval_params(params)["w"])
    assert np.isfinite(params["w"]).all()


# ------------------------------------------------------------ Prodigy, D-Adapt


@pytest.mark.parametrize("name", ["prodigy", "dadapt_adamw"])
def test_distance_adapted_state_with_nan_round_trips_under_ignore(name):
    opt = create(name, nonfinite="ignore")
    params = {"a": np.ones(3)}
    opt.update(params, {"a": np.array([np.nan, 1.0, 1.0])})  # NaN flows in, as asked
    assert math.isnan(opt.state_dict()["scalars"]["numerator_weighted"])
    again = create(name, nonfinite="ignore")
    again.load_state_dict(opt.state_dict())
    twin = {"a": params["a"].copy()}
    opt.update(params, {"a": np.ones(3)})
    again.update(twin, {"a": np.ones(3)})
    np.testing.assert_array_equal(twin["a"], params["a"])
    strict = create(name)  # the default policy still refuses it
    with pytest.raises(ValueError, match=r"must be finite"):
        strict.load_state_dict({**opt.state_dict(), "hyperparameters": strict.hyperparameters()})
    state = opt.state_dict()
    state["scalars"]["d"] = math.nan
    with pytest.raises(ValueError, match=r"\['d'\] must be > 0; got nan"):
        again.load_state_dict(state)


@pytest.mark.parametrize("name", ["schedule_free_sgd", "schedule_free_adamw"])
def test_schedule_free_evaluates_at_params_after_a_skipped_first_step(name):
    opt = create(name, nonfinite="skip")
    params = {"w": np.array([1.0, 2.0])}
    opt.update(params, {"w": np.array([np.nan, 1.0])})  # skipped: z has not started
    assert opt.t == 0
    assert opt.skipped_steps == 1
    np.testing.assert_array_equal(opt.eval_params(params)["w"], [1.0, 2.0])
    opt.update(params, {"w": np.array([1.0, 1.0])})
    fresh = create(name)
    twin = {"w": np.array([1.0, 2.0])}
    fresh.update(twin, {"w": np.array([1.0, 1.0])})
    np.testing.assert_array_equal(opt.eval_params(params)["w"], fresh.eval_params(twin)["w"])


def _cosh(q):
    return float(sum(float(np.cosh(v).sum()) for v in q.values())), {
        k: np.sinh(v) for k, v in q.items()
    }


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("lbfgs", {"max_iter": 3}),
        ("lbfgs", {"max_iter": 3, "line_search_fn": "strong_wolfe"}),
        ("sam", {"base": "adam"}),
    ],
)
def test_ctrl_c_in_a_closure_undoes_the_step_as_an_error_does(name, kwargs):
    opt = create(name, **kwargs)
    params = {"a": np.array([1.0, -2.0, 3.0])}
    opt.update(params, _cosh(params)[1], closure=_cosh)
    before = (copy.deepcopy(opt.state_dict()), params["a"].copy())

    def interrupted(q):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        opt.update(params, _cosh(params)[1], closure=interrupted)
    after = opt.state_dict()
    assert opt.t == 1
    assert after["scalars"] == before[0]["scalars"]
    for key, bufs in before[0]["state"].items():
        for state_name, array in bufs.items():
            np.testing.assert_array_equal(after["state"][key][state_name], array)
    np.testing.assert_array_equal(params["a"], before[1])
    twin = create(name, **kwargs)  # and it continues as if nothing had happened
    twin.load_state_dict(before[0])
    other = {"a": before[1].copy()}
    opt.update(params, _cosh(params)[1], closure=_cosh)
    twin.update(other, _cosh(other)[1], closure=_cosh)
    np.testing.assert_array_equal(params["a"], other["a"])


@pytest.mark.parametrize(
    "make",
    [
        lambda: create("lookahead", inner="adam"),
        lambda: create("average", inner="momentum"),
        lambda: create("accumulate", inner="adam", every=2),
        lambda: create("groups", groups=[{"keys": "*", "optimizer": "adam"}]),
    ],
)
def test_a_wrapper_whose_first_update_is_refused_keeps_no_inner_state(make):
    """The inner states made for the refused call stayed, and locked the keys: the next
    update with other parameters was refused ("the keys the optimizer's state was made for")."""
    opt = make()
    with pytest.raises(ValueError, match="NaN or inf"):
        opt.update({"w": np.ones(3)}, {"w": np.array([1.0, np.nan, 1.0])})
    opt.update({"v": np.ones(2)}, {"v": np.ones(2)})  # raised before


def test_an_inner_optimizer_used_before_keeps_its_state_when_the_wrapper_refuses():
    inner = create("adam")
    inner.update({"w": np.ones(3)}, {"w": np.ones(3)})
    before = inner.state_dict()
    opt = create("lookahead", inner=inner)
    with pytest.raises(ValueError, match="NaN or inf"):
        opt.update({"w": np.ones(3)}, {"w": np.array([1.0, np.nan, 1.0])})
    after = inner.state_dict()
    assert after["t"] == before["t"]
    np.testing.assert_array_equal(after["state"]["w"]["exp_avg"], before["state"]["w"]["exp_avg"])
