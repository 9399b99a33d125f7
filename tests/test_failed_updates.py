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
