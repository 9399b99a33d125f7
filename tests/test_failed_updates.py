"""Failed optimizer calls change nothing, and closures see one function (wrappers included).

Each test here failed before the fix it names.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from gdlab.optim import NonFiniteGradientError, Optimizer, create, register, unregister
from gdlab.testing import check_optimizer


def _problem(dtype=np.float64):
    rng = np.random.default_rng(3)
    params = {
        "W": rng.standard_normal((3, 4)).astype(dtype),
        "b": rng.standard_normal(5).astype(dtype),
    }
    curvature = {
        "W": np.linspace(1, 3, 12).reshape(3, 4).astype(dtype),
        "b": np.linspace(1, 2, 5).astype(dtype),
    }
    return params, curvature


def _closure(curvature, sign=1.0):
    def closure(params):
        loss = sign * sum(0.5 * float(np.sum(curvature[k] * params[k] ** 2)) for k in params)
        return loss, {k: (sign * curvature[k] * params[k]).astype(params[k].dtype) for k in params}

    return closure


def _walk(opt, params, curvature, steps, sign=1.0):
    closure = _closure(curvature, sign)
    for _ in range(steps):
        _, grads = closure(params)
        opt.update(params, grads, closure=closure if opt.needs_closure else None)


def _snapshot(opt, params):
    return copy.deepcopy(opt.state_dict()), {k: v.copy() for k, v in params.items()}


def _assert_same(a, b, where="state"):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float), where
        assert math.isnan(b), where
    else:
        assert a == b, (where, a, b)


def _raising(message="boom"):
    def closure(params):
        raise RuntimeError(message)

    return closure


def _wrong_shape(curvature):
    good = _closure(curvature)

    def closure(params):
        loss, grads = good(params)
        return loss, {**grads, "b": np.zeros(3, grads["b"].dtype)}

    return closure


# ------------------------------------------------ a closure that fails changes nothing


MAKERS = {
    "sam": lambda **kw: create("sam", base="adam", **kw),
    "lbfgs": lambda **kw: create("lbfgs", lr=0.1, **kw),
    "lbfgs_wolfe": lambda **kw: create("lbfgs", line_search_fn="strong_wolfe", **kw),
    "lookahead(sam)": lambda **kw: create("lookahead", inner="sam", k=2, **kw),
    "average(lbfgs)": lambda **kw: create("average", inner={"optimizer": "lbfgs", "lr": 0.1}, **kw),
    "groups(adam, sam)": lambda **kw: create(
        "groups", inner="adam", groups=[{"keys": "b", "optimizer": "sam"}], **kw
    ),
    "accumulate(sam)": lambda **kw: create("accumulate", inner="sam", every=2, **kw),
}


@pytest.mark.parametrize("nonfinite", ["raise", "ignore"])
@pytest.mark.parametrize("bad", ["raises", "wrong shape"])
@pytest.mark.parametrize("name", list(MAKERS))
def test_a_closure_that_fails_before_moving_changes_nothing(name, bad, nonfinite):
    """Fixed: t and current_lr counted the failed step (and L-BFGS kept a half-made
    direction under nonfinite='ignore'); groups had stepped the other keys;
    accumulate had added the gradient to its window."""
    params, curvature = _problem()
    opt = MAKERS[name](nonfinite=nonfinite)
    _walk(opt, params, curvature, 3)
    _, grads = _closure(curvature)(params)
    grads = {k: g + 0.25 for k, g in grads.items()}  # unlike the window's gradient
    before = _snapshot(opt, params)
    closure = _raising() if bad == "raises" else _wrong_shape(curvature)
    for _ in range(2):  # accumulate: the call that steps comes second
        with pytest.raises((RuntimeError, ValueError)):
            opt.update(params, grads, closure=closure)
        _assert_same(before, _snapshot(opt, params))
    # and the optimizer continues as one that never saw the failed calls
    twin_params, _ = _problem()
    twin = MAKERS[name](nonfinite=nonfinite)
    _walk(twin, twin_params, curvature, 3)
    _walk(opt, params, curvature, 4)
    _walk(twin, twin_params, curvature, 4)
    _assert_same(params, twin_params, "params")


def test_lbfgs_closure_raising_after_moving_ends_at_the_last_point_evaluated():
    """Fixed: params stayed at the point whose evaluation raised."""
    params, curvature = _problem()
    opt = create("lbfgs", lr=0.1, max_iter=5)
    _walk(opt, params, curvature, 2)
    good, seen = _closure(curvature), []

    def closure(q):
        seen.append({k: v.copy() for k, v in q.items()})
        if len(seen) == 3:  # the loss at params, one iteration, then this
            raise RuntimeError("boom")
        return good(q)

    _, grads = good(params)
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, grads, closure=closure)
    _assert_same(params, seen[1], "params")  # the last point the closure returned from
    assert opt.t == 3
    _walk(opt, params, curvature, 3)
    assert all(np.isfinite(v).all() for v in params.values())


# ------------------------------------------------ a wrapper's maximize and clipping


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "inner", ["sam", {"optimizer": "lbfgs", "lr": 0.1}, {"optimizer": "sam", "base": "adam"}]
)
@pytest.mark.parametrize("wrapper", ["lookahead", "average", "accumulate", "groups"])
def test_a_wrapper_with_maximize_flips_the_closure_too(wrapper, inner, dtype):
    """Fixed: the inner optimizer got −g from the wrapper but +g from the closure."""
    params, curvature = _problem(dtype)
    twin = {k: v.copy() for k, v in params.items()}
    _walk(create(wrapper, inner=inner), params, curvature, 6)
    _walk(create(wrapper, inner=inner, maximize=True), twin, curvature, 6, sign=-1.0)
    _assert_same(params, twin, "params")


@pytest.mark.parametrize("clip", [{"clip_value": 0.3}, {"clip_norm": 0.5}])
def test_a_wrappers_clipping_reaches_the_closure_as_sams_own(clip):
    """A wrapper's clipping acts on every gradient coming in, the closure's as well:
    lookahead with k=1, alpha=1 around SAM is SAM, clipping included."""
    params, curvature = _problem()
    twin = {k: v.copy() for k, v in params.items()}
    _walk(create("lookahead", inner="sam", k=1, alpha=1.0, **clip), params, curvature, 6)
    _walk(create("sam", **clip), twin, curvature, 6)
    _assert_same(params, twin, "params")


# ------------------------------------------------ groups


def test_groups_refusing_a_key_at_the_first_update_steps_no_other_group():
    """Fixed: the base optimizer had stepped W before Muon refused the vector b."""
    opt = create(
        "groups", inner="adam", groups=[{"keys": "b", "optimizer": "muon", "fallback": "error"}]
    )
    params, curvature = _problem()
    before = _snapshot(opt, params)
    _, grads = _closure(curvature)(params)
    with pytest.raises(ValueError, match="must be a matrix"):
        opt.update(params, grads)
    _assert_same(before, _snapshot(opt, params))
    assert opt.inner_optimizer.t == 0
    assert opt.inner_optimizer.state is None


def test_a_groups_closure_sees_the_other_keys_where_the_gradient_was_taken():
    """Fixed: SAM's group evaluated the closure with W already stepped by the base."""
    opt = create("groups", inner={"optimizer": "sgd", "lr": 0.1},
                 groups=[{"keys": "b", "optimizer": "sam"}])  # fmt: skip
    params, curvature = _problem()
    start = params["W"].copy()
    good, seen = _closure(curvature), []

    def closure(q):
        seen.append(q["W"].copy())
        return good(q)

    _, grads = good(params)
    opt.update(params, grads, closure=closure)
    assert len(seen) == 1
    assert np.array_equal(seen[0], start)
    assert not np.array_equal(params["W"], start)


# ------------------------------------------------ gdlab.testing


def test_check_optimizer_sees_a_refused_nan_step_that_changes_the_state():
    """Fixed: the non-finite check compared the parameters and t only."""

    @register("state_leaky", lr_range=(1e-3, 1.0))
    class Leaky(Optimizer):
        name = "state_leaky"
        state_names = ("m",)

        def __init__(self, lr=0.1, **options):
            super().__init__(lr, **options)

        def update(self, params, grads, closure=None):
            if self.state is not None:
                for bufs in self.state.values():
                    bufs["m"] += 1.0  # before the checks: a refused step leaks it
            super().update(params, grads, closure)

        def _step(self, params, grads, lr):
            for key, p in params.items():
                p -= lr * grads[key]

    try:
        report = check_optimizer("state_leaky", checks=("non-finite",), raise_on_failure=False)
        assert "non-finite" in report.failures
        assert "changed the state" in report.failures["non-finite"]
    finally:
        unregister("state_leaky")


def test_nonfinite_closure_is_still_refused_and_counted_by_skip():
    """The NaN path is unchanged by the fixes: raise names it, skip counts it."""
    params, curvature = _problem()
    good = _closure(curvature)

    def nan_closure(q):
        loss, grads = good(q)
        return loss, {k: np.full_like(g, np.nan) for k, g in grads.items()}

    for policy in ("raise", "skip"):
        opt = create("lbfgs", lr=0.1, nonfinite=policy)
        _walk(opt, params, curvature, 2)
        before = _snapshot(opt, params)
        _, grads = good(params)
        if policy == "raise":
            with pytest.raises(NonFiniteGradientError):
                opt.update(params, grads, closure=nan_closure)
            _assert_same(before, _snapshot(opt, params))
        else:
            opt.update(params, grads, closure=nan_closure)
            assert opt.skipped_steps == 1
            assert opt.t == 2


# ------------------------------------------------ groups: all or nothing


def _to_zero(lr=0.1, steps=3):
    from gdlab.schedules import PolynomialDecay

    return PolynomialDecay(lr, 0.0, steps)  # lr 0 from step `steps` on


REFUSING_GROUPS = {
    "ftrl": {"optimizer": "ftrl"},
    "lookahead(ftrl)": {"optimizer": "lookahead", "inner": "ftrl", "k": 2},
    "accumulate(ftrl)": {"optimizer": "accumulate", "inner": "ftrl", "every": 1},
    "sam(ftrl)": {"optimizer": "sam", "base": "ftrl"},
}


@pytest.mark.parametrize("group", list(REFUSING_GROUPS))
def test_groups_a_group_refusing_its_rate_steps_no_other_group(group):
    """Fixed: the base group (and the W group) had stepped before FTRL refused lr 0."""
    spec = {**REFUSING_GROUPS[group], "keys": "b", "lr": _to_zero()}
    opt = create("groups", inner="adam", groups=[spec])
    params, curvature = _problem()
    _walk(opt, params, curvature, 3)
    before = _snapshot(opt, params)
    _, grads = _closure(curvature)(params)
    with pytest.raises(ValueError, match="lr must be > 0"):
        opt.update(params, grads, closure=_closure(curvature))
    _assert_same(before, _snapshot(opt, params))


def test_sam_refuses_its_bases_zero_rate_before_climbing():
    """Fixed: SAM around FTRL divided by the rate 0 (ZeroDivisionError)."""
    opt = create("sam", base="ftrl", lr=_to_zero(steps=1))
    params, curvature = _problem()
    _walk(opt, params, curvature, 1)
    before = _snapshot(opt, params)
    _, grads = _closure(curvature)(params)
    with pytest.raises(ValueError, match="lr must be > 0"):
        opt.update(params, grads, closure=_closure(curvature))
    _assert_same(before, _snapshot(opt, params))


def test_groups_an_outside_optimizer_refusing_mid_step_puts_back_the_groups_before():
    """Fixed: the base group stayed stepped when a later group's optimizer refused."""

    @register("refuses_third", lr_range=(1e-3, 1.0))
    class RefusesThird(Optimizer):
        name = "refuses_third"
        state_names = ("m",)

        def __init__(self, lr=0.1, **options):
            super().__init__(lr, **options)

        def _step(self, params, grads, lr):
            if self.t == 3:
                raise RuntimeError("refused at its third step")
            for key, p in params.items():
                self.state_arrays(key)["m"] += grads[key]
                p -= lr * self.state_arrays(key)["m"]

    try:
        make = lambda: create(  # noqa: E731
            "groups", inner="adam", groups=[{"keys": "b", "optimizer": "refuses_third"}]
        )
        opt = make()
        params, curvature = _problem()
        _walk(opt, params, curvature, 2)
        before = _snapshot(opt, params)
        _, grads = _closure(curvature)(params)
        with pytest.raises(RuntimeError, match="third step"):
            opt.update(params, grads)
        before[0]["inners"][1]["t"] = 2  # RefusesThird itself does not undo its t
        after = _snapshot(opt, params)
        after[0]["inners"][1]["t"] = 2
        _assert_same(before[0]["inners"][0], after[0]["inners"][0])
        _assert_same(before[1], after[1], "params")
    finally:
        unregister("refuses_third")


TWO_CLOSURE_GROUPS = {
    "sam, sam": [{"keys": "b", "optimizer": "sam"}, {"keys": "W", "optimizer": "sam"}],
    "lbfgs, sam": [
        {"keys": "b", "optimizer": "lbfgs", "lr": 0.1, "max_iter": 2},
        {"keys": "W", "optimizer": "sam", "base": "adam"},
    ],
}


@pytest.mark.parametrize("name", list(TWO_CLOSURE_GROUPS))
def test_two_closure_groups_each_see_the_other_keys_where_the_gradient_was_taken(name):
    """Fixed: the second closure group saw the first group's keys after its step."""
    opt = create("groups", inner="sgd", groups=TWO_CLOSURE_GROUPS[name])
    params, curvature = _problem()
    _walk(opt, params, curvature, 2)
    start = {k: v.copy() for k, v in params.items()}
    good, seen = _closure(curvature), []

    def closure(q):
        seen.append({k: v.copy() for k, v in q.items()})
        return good(q)

    _, grads = good(params)
    opt.update(params, grads, closure=closure)
    at_start = [(np.array_equal(s["W"], start["W"]), np.array_equal(s["b"], start["b"]))
                for s in seen]  # fmt: skip
    assert all(w or b for w, b in at_start)  # the other group's keys always at the start
    assert (True, False) in at_start  # the b group evaluated
    assert (False, True) in at_start  # the W group evaluated
    assert not np.array_equal(params["b"], start["b"])
    assert not np.array_equal(params["W"], start["W"])


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
@pytest.mark.parametrize("bad", ["raises", "nan"])
@pytest.mark.parametrize("name", list(TWO_CLOSURE_GROUPS))
def test_two_closure_groups_the_second_failing_undoes_the_first(name, bad, nonfinite):
    """Fixed: the first closure group stayed stepped when the second's closure failed."""
    make = lambda: create(  # noqa: E731
        "groups", inner="sgd", groups=TWO_CLOSURE_GROUPS[name], nonfinite=nonfinite
    )
    opt = make()
    params, curvature = _problem()
    _walk(opt, params, curvature, 2)
    before = _snapshot(opt, params)
    good, start = _closure(curvature), before[1]

    def closure(q):
        if not np.array_equal(q["b"], start["b"]) or np.array_equal(q["W"], start["W"]):
            return good(q)  # the first group (b): fine
        if bad == "raises":  # the second group (W moved, b where it was)
            raise RuntimeError("boom")
        loss, grads = good(q)
        return loss, {k: np.full_like(g, np.nan) for k, g in grads.items()}

    _, grads = good(params)
    if bad == "nan" and nonfinite == "skip":
        opt.update(params, grads, closure=closure)
        assert opt.skipped_steps == 1
        before[0]["skipped_steps"] = 1
    else:
        with pytest.raises((RuntimeError, NonFiniteGradientError)):
            opt.update(params, grads, closure=closure)
    _assert_same(before, _snapshot(opt, params))
    twin_params, _ = _problem()
    twin = make()
    _walk(twin, twin_params, curvature, 2)
    _walk(opt, params, curvature, 3)
    _walk(twin, twin_params, curvature, 3)
    _assert_same(params, twin_params, "params")


# ------------------------------------------------ a closure's NaN under a wrapper's "skip"


def _nan_closure(curvature):
    good = _closure(curvature)

    def closure(q):
        loss, grads = good(q)
        return loss, {k: np.full_like(g, np.nan) for k, g in grads.items()}

    return closure


SKIPPING = {
    "accumulate(sam)": lambda: create("accumulate", inner="sam", every=2, nonfinite="skip"),
    "accumulate(sam), every=1": lambda: create("accumulate", inner="sam", nonfinite="skip"),
    "lookahead(sam)": lambda: create("lookahead", inner="sam", k=2, nonfinite="skip"),
    "average(sam)": lambda: create("average", inner="sam", nonfinite="skip"),
    "groups(adam, sam)": lambda: create(
        "groups", inner="adam", groups=[{"keys": "b", "optimizer": "sam"}], nonfinite="skip"
    ),
}


@pytest.mark.parametrize("name", list(SKIPPING))
def test_a_closures_nan_under_a_wrappers_skip_skips_the_whole_call(name):
    """Fixed: accumulate emptied and counted the window the inner step skipped (optax's
    should_skip_update_fn rejects such a mini-step whole: as if it never happened);
    lookahead and average counted the step, groups stepped the other keys."""
    params, curvature = _problem()
    opt = SKIPPING[name]()
    _walk(opt, params, curvature, 3)  # accumulate: the next call ends the window
    before = _snapshot(opt, params)
    _, grads = _closure(curvature)(params)
    opt.update(params, grads, closure=_nan_closure(curvature))
    assert opt.skipped_steps == 1
    after = _snapshot(opt, params)
    after[0]["skipped_steps"] = 0
    _assert_same(before, after)
    twin_params, _ = _problem()
    twin = SKIPPING[name]()
    _walk(twin, twin_params, curvature, 3)
    _walk(opt, params, curvature, 4)
    _walk(twin, twin_params, curvature, 4)
    _assert_same(params, twin_params, "params")


def test_accumulate_around_an_inner_that_skips_on_its_own_ends_the_window():
    """The wrapper raises on NaN, the inner skips: optax's MultiSteps(apply_if_finite(opt)),
    whose final mini-step empties the window and counts it, the inner skipping."""
    params, curvature = _problem()
    opt = create("accumulate", inner={"optimizer": "sam", "nonfinite": "skip"}, every=2)
    _walk(opt, params, curvature, 3)
    start = {k: v.copy() for k, v in params.items()}
    _, grads = _closure(curvature)(params)
    opt.update(params, grads, closure=_nan_closure(curvature))
    assert (opt.t, opt.mini_step, opt.skipped_steps) == (4, 0, 0)
    assert (opt.inner_optimizer.t, opt.inner_optimizer.skipped_steps) == (1, 1)
    assert all(not v.any() for v in opt.state_dict()["state"]["b"].values())
    _assert_same(start, params, "params")
