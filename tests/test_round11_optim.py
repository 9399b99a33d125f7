"""Round 11, the optimizer core: a first update that ``nonfinite="skip"`` skips leaves
a fresh optimizer (docs/optimizers.md, "Options every optimizer takes").

Each test here failed before the fix: the skip path made the state for the keys of
the skipped call and kept it, so the optimizer was bound to those keys.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS, create, register, unregister


def _params(keys=("W", "b"), b=(3,)):
    shapes = {"W": (2, 3), "b": b, "v": (4,), "u": (2, 2)}
    return {k: np.linspace(0.5, 1.5, math.prod(shapes[k])).reshape(shapes[k]) for k in keys}


def _other():
    """Other keys and shapes than :func:`_params`' (a ``b`` still, which groups match)."""
    return _params(("v", "b"), b=(2, 2))


def _bowl(params):
    """½·Σ p², its gradient p."""
    loss = 0.5 * sum(float(np.sum(p * p)) for p in params.values())
    return loss, {k: p.copy() for k, p in params.items()}


def _nan_loss(params):
    return math.nan, {k: np.full_like(p, np.nan) for k, p in params.items()}


#: Every registered optimizer, and the wrappers around a closure optimizer too.
SKIPPING = {name: (lambda name=name: create(name, nonfinite="skip")) for name in OPTIMIZERS}
SKIPPING["groups"] = lambda: create(
    "groups", inner="adam", groups=[{"keys": "b", "optimizer": "momentum"}], nonfinite="skip"
)
SKIPPING.update(
    {
        f"{wrapper}(lbfgs)": (
            lambda wrapper=wrapper: create(wrapper, inner="lbfgs", nonfinite="skip")
        )
        for wrapper in ("lookahead", "average", "accumulate")
    }
)
SKIPPING["lookahead(adam)"] = lambda: create("lookahead", inner="adam", nonfinite="skip")
SKIPPING["groups(adam, sam)"] = lambda: create(
    "groups", inner="adam", groups=[{"keys": "b", "optimizer": "sam"}], nonfinite="skip"
)
SKIPPING["sam(lion)"] = lambda: create("sam", base="lion", nonfinite="skip")


def _same(a, b, where="state_dict()"):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray), where
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=True), where
    elif isinstance(a, dict):
        assert isinstance(b, dict), where
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} -> {b!r}"


def _update(opt, params, grads, closure=_bowl):
    opt.update(params, grads, closure=closure if opt.needs_closure else None)


#: Each optimizer with a NaN gradient; those that call the closure with its NaN too.
CASES = [(name, "gradient") for name in SKIPPING] + [
    (name, "closure") for name, make in SKIPPING.items() if make().needs_closure
]


@pytest.mark.parametrize(("name", "how"), CASES, ids=[f"{n}-{h}" for n, h in CASES])
def test_a_skipped_first_update_leaves_a_fresh_optimizer(name, how):
    _assert_fresh_after_a_skipped_first_update(SKIPPING[name], how)


def _momentum_rule(p, g, state, t, *, lr=0.1, beta=0.9):
    m = state["m"]
    m *= beta
    m += g
    p -= lr * m


def test_a_registered_rule_is_left_fresh_too():
    register("round11_rule", lr_range=(1e-3, 1.0), state=("m",))(_momentum_rule)
    try:
        _assert_fresh_after_a_skipped_first_update(
            lambda: create("round11_rule", nonfinite="skip"), "gradient"
        )
    finally:
        unregister("round11_rule")


def _assert_fresh_after_a_skipped_first_update(make, how):
    opt, fresh = make(), make()
    params = _params()
    kept = copy.deepcopy(params)
    grads = _bowl(params)[1]
    if how == "gradient":
        grads["b"][1] = np.nan
        _update(opt, params, grads)
    else:
        _update(opt, params, grads, closure=_nan_loss)
    assert (opt.t, opt.skipped_steps) == (0, 1)
    _same(params, kept, "params")
    expected = copy.deepcopy(fresh.state_dict())
    expected["skipped_steps"] = 1
    _same(expected, opt.state_dict())
    assert opt.state is None
    # The next update may be made with other keys, and it is a fresh optimizer's.
    other, twin = _other(), _other()
    if hasattr(opt, "eval_params"):  # where it evaluates: a fresh one's too
        _same(fresh.eval_params(twin), opt.eval_params(other), "eval_params")
    for _ in range(3):
        _update(opt, other, _bowl(other)[1])
        _update(fresh, twin, _bowl(twin)[1])
    _same(other, twin, "params")
    after, reference = opt.state_dict(), fresh.state_dict()
    assert after.pop("skipped_steps") == 1
    reference.pop("skipped_steps")
    _same(reference, after)


@pytest.mark.parametrize("name", ["adam", "schedule_free_sgd", "lookahead", "lbfgs", "groups"])
def test_the_state_of_a_skipped_first_update_loads_and_continues(name):
    """Its state_dict (no state, one skipped step) is one load_state_dict takes."""
    opt = SKIPPING[name]()
    params = _params()
    grads = {k: np.full_like(p, np.inf) for k, p in params.items()}
    _update(opt, params, grads)
    twin = SKIPPING[name]()
    twin.load_state_dict(opt.state_dict())
    assert (twin.t, twin.skipped_steps, twin.state) == (0, 1, None)
    other = _other()
    _update(twin, other, _bowl(other)[1])
    assert twin.t == 1


def test_a_state_dict_without_state_still_refuses_counted_steps():
    saved = create("adam").state_dict()
    saved["t"] = 2
    with pytest.raises(ValueError, match=r"state_dict\['t'\] must be 0 when state_dict\['state'\]"):
        create("adam").load_state_dict(saved)


def test_skipped_first_updates_repeat_until_one_counts():
    """Several skipped first updates, each with its own keys; then a step on yet others."""
    opt = create("lookahead", inner="adam", nonfinite="skip")
    for keys in (("W",), ("b", "u")):
        params = _params(keys)
        _update(opt, params, {k: np.full_like(p, np.nan) for k, p in params.items()})
    assert (opt.t, opt.skipped_steps, opt.state) == (0, 2, None)
    assert opt.inner_optimizer.state is None
    params = _other()
    _update(opt, params, _bowl(params)[1])
    assert (opt.t, sorted(opt.state)) == (1, ["b", "v"])


@pytest.mark.parametrize("nonfinite", ["raise", "skip"])
def test_groups_forget_the_keys_of_a_first_update_refused_or_skipped(nonfinite):
    """eval_params then splits the keys it is given, as a fresh Groups does."""
    opt = create(
        "groups", inner="adam", groups=[{"keys": "b", "optimizer": "lookahead"}],
        nonfinite=nonfinite,
    )  # fmt: skip
    params = _params()
    grads = {k: np.full_like(p, np.nan) for k, p in params.items()}
    if nonfinite == "raise":
        with pytest.raises(ValueError, match="contains NaN or inf"):
            opt.update(params, grads)
    else:
        opt.update(params, grads)
    other = _other()
    assert opt.eval_params(other) is other
