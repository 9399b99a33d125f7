"""Round 6 of the user tests: tunable ranges, failed closure steps, the skip and
round-trip checks, preset and closure messages."""

from __future__ import annotations

import math
import re
from typing import ClassVar

import numpy as np
import pytest

from gdlab import selection
from gdlab.optim import OPTIMIZERS, NonFiniteGradientError, create, register, unregister
from gdlab.optim.lbfgs import LBFGS
from gdlab.optim.optimizers import SGD, Adam, Momentum
from gdlab.selection import Choice, LogUniform, SearchSpace, Uniform
from gdlab.testing import check_optimizer


def _differences(a, b, where="state_dict()"):
    """Where two state dicts differ (arrays bit for bit, NaN equal to NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{where} keys {list(a)} != {list(b)}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{where}[{k!r}]")]
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return [f"{where} lengths"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        same = (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=True)
        )
        return [] if same else [where]
    if a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b):
        return []
    return [f"{where}: {a!r} -> {b!r}"]


# ------------------------------------------------------------- 1. tunable ranges


@pytest.fixture
def cleanup():
    names = []
    yield names
    for name in names:
        if name in OPTIMIZERS:
            unregister(name)


def _gammarule(p, g, state, t, *, lr=0.1, gamma=0.5):
    m = state["m"]
    m *= gamma
    m += g
    p -= lr * m


def test_a_declared_range_makes_the_tunable_searchable(cleanup):
    cleanup.append("gammarule")
    register("gammarule", lr_range=(1e-3, 1.0), tunable={"gamma": {"range": (1e-3, 1.0)}},
             state=("m",))(_gammarule)  # fmt: skip
    space = selection.default_space("gammarule", tune=("lr", "gamma"))
    assert space == SearchSpace({"lr": LogUniform(1e-3, 1.0), "gamma": LogUniform(1e-3, 1.0)})
    for draw in space.sample(5, np.random.default_rng(0)):
        create("gammarule", **draw)  # every draw is a valid optimizer


def test_gdlab_tune_searches_a_declared_tunable(cleanup, tmp_path, capsys):
    """The user test's command line: `gdlab tune --tune lr,gamma` (was `gdlab: error: 'gamma'`)."""
    from gdlab import cli

    cleanup.append("gammarule")
    register("gammarule", lr_range=(1e-3, 1.0),
             tunable={"gamma": {"range": (0.1, 0.9), "scale": "linear"}},
             state=("m",))(_gammarule)  # fmt: skip
    out = tmp_path / "T"
    argv = ["tune", "bowl", "--optimizers", "gammarule", "--tune", "lr,gamma", "--budget", "3",
            "--folds", "2", "--out", str(out), "--workers", "1"]  # fmt: skip
    assert cli.main(argv) == 0
    assert "gamma" in capsys.readouterr().out
    assert (out / "tune.json").is_file()


@pytest.mark.parametrize(
    ("what", "entry", "distribution"),
    [
        ("gamma", {"range": (0.1, 0.9), "scale": "linear"}, Uniform(0.1, 0.9)),
        ("gamma", {"range": (-1.0, 1.0), "scale": "linear"}, Uniform(-1.0, 1.0)),
        ("gamma", {"range": [1e-3, 1.0], "scale": "log"}, LogUniform(1e-3, 1.0)),
        ("gamma", {"values": (0.25, 0.5, 0.75)}, Choice((0.25, 0.5, 0.75))),
        ("g", {"argument": "gamma", "values": [0.5, 0.9]}, Choice((0.5, 0.9))),
        ("g", {"argument": "gamma", "range": (0.1, 0.9)}, LogUniform(0.1, 0.9)),
    ],
)
def test_every_form_of_a_declared_range(cleanup, what, entry, distribution):
    cleanup.append("gammarule")
    register("gammarule", lr_range=(1e-3, 1.0), tunable={what: entry}, state=("m",))(_gammarule)
    cls = OPTIMIZERS["gammarule"]
    assert cls.tunable == {"lr": "lr", what: "gamma"}
    space = selection.default_space("gammarule", tune=(what,))
    assert space == SearchSpace({"gamma": distribution})


def test_the_standard_short_form_keeps_working(cleanup):
    assert OPTIMIZERS["rmsprop"].tunable["decay"] == "alpha"
    assert selection.default_space("rmsprop", tune=("decay", "momentum")) == SearchSpace(
        {"alpha": Choice((0.9, 0.95, 0.99, 0.999)), "momentum": Choice((0.0, 0.5, 0.9))}
    )
    cleanup.append("decayrule")

    @register("decayrule", lr_range=(1e-3, 1.0), tunable={"decay": "rho", "eps": "eps"})
    def decayrule(p, g, state, t, *, lr=0.1, rho=0.9, eps=1e-8):
        p -= lr * g

    assert selection.default_space("decayrule", tune=("decay", "eps")) == SearchSpace(
        {"rho": Choice((0.9, 0.95, 0.99, 0.999)), "eps": LogUniform(1e-10, 1e-4)}
    )


def test_a_declared_range_overrides_the_standard_one(cleanup):
    cleanup.append("epsrule")

    @register("epsrule", lr_range=(1e-3, 1.0), tunable={"eps": {"range": (1e-8, 1e-2)}})
    def epsrule(p, g, state, t, *, lr=0.1, eps=1e-8):
        p -= lr * g / (abs(g) + eps)

    assert selection.default_space("epsrule", tune=("eps",)) == SearchSpace(
        {"eps": LogUniform(1e-8, 1e-2)}
    )


def test_a_tunable_without_a_range_is_refused_at_register():
    with pytest.raises(ValueError, match=r"tunable 'gamma' of 'gammarule' must be given with its "
                       r"search range.*'range': \(low, high\).*got 'gamma'"):  # fmt: skip
        register("gammarule", lr_range=(1e-3, 1.0), tunable={"gamma": "gamma"},
                 state=("m",))(_gammarule)  # fmt: skip
    assert "gammarule" not in OPTIMIZERS


@pytest.mark.parametrize(
    ("entry", "kind", "pattern"),
    [
        (
            {"range": (1.0, 0.5)},
            ValueError,
            r"^range\[1\] of tunable 'gamma' of 'gammarule' "
            r"must be > 1; got 0.5$",
        ),
        ({"range": (0.0, 1.0)}, ValueError, r"^range\[0\] of .* must be > 0; got 0.0$"),
        ({"range": (0.1,)}, ValueError, r"^range of .* must be a pair \(low, high\) with 0 < low"),
        ({"range": "0.1, 1"}, ValueError, r"^range of .* must be a pair"),
        ({"range": (0.1, math.inf)}, ValueError, r"^range\[1\] of .* must be finite"),
        ({"range": (-1e308, 1e308), "scale": "linear"}, ValueError, r"^high - low of .* finite"),
        ({"range": (0.1, 1.0), "scale": "cubic"}, ValueError, r"^scale of .* 'log' or 'linear'"),
        ({"range": (0.1, 1.0), "values": (0.5,)}, ValueError, r"one of them"),
        ({}, ValueError, r"given a 'range': \(low, high\) or 'values'"),
        (
            {"rang": (0.1, 1.0)},
            ValueError,
            r"^the keys of tunable 'gamma' .* among argument, range",
        ),
        ({"values": ()}, ValueError, r"^values of .* must be a non-empty list"),
        ({"values": (0.5, 0.5)}, ValueError, r"^values of .* must be distinct"),
        ({"values": (0.5, math.nan)}, ValueError, r"^values of .* must be finite"),
        ({"values": (0.5, [1])}, TypeError, r"^values of .* must be None, bools, numbers or strs"),
        ({"values": (0.5,), "scale": "log"}, ValueError, r"^scale of .* left out with 'values'"),
        ({"argument": "delta", "values": (0.5,)}, ValueError, r"one of lr, gamma; got 'delta'$"),
    ],
)
def test_a_bad_declared_range_is_refused_naming_it(entry, kind, pattern):
    with pytest.raises(kind, match=pattern):
        register("gammarule", lr_range=(1e-3, 1.0), tunable={"gamma": entry},
                 state=("m",))(_gammarule)  # fmt: skip
    assert "gammarule" not in OPTIMIZERS


def test_lr_takes_its_range_from_lr_range_only():
    with pytest.raises(ValueError, match=r"tunable 'lr' of 'gammarule' must be the argument alone"):
        register("gammarule", lr_range=(1e-3, 1.0), tunable={"lr": {"range": (0.1, 1.0)}},
                 state=("m",))(_gammarule)  # fmt: skip
    with pytest.raises(TypeError, match=r"tunable of 'gammarule' must be a dict"):
        register("gammarule", lr_range=(1e-3, 1.0), tunable=[("gamma", "gamma")],
                 state=("m",))(_gammarule)  # fmt: skip
    assert "gammarule" not in OPTIMIZERS


def test_every_built_in_tunable_has_a_range():
    for name, cls in OPTIMIZERS.items():
        assert set(cls.tunable) <= set(cls.tunable_ranges), name
        selection.default_space(name, tune=tuple(cls.tunable))


# ----------------------------------------------------- 2. failed closure steps


def _nan_loss(params):
    return math.nan, {k: np.zeros_like(v) for k, v in params.items()}


def _raising(params):
    raise RuntimeError("the closure failed")


def _bowl(params):
    return (
        sum(0.5 * float(np.sum(v * v)) for v in params.values()),
        {k: v.copy() for k, v in params.items()},
    )


CLOSURE_OPTIMIZERS = {
    "lbfgs": lambda **o: create("lbfgs", **o),
    "lbfgs wolfe": lambda **o: create("lbfgs", line_search_fn="strong_wolfe", **o),
    "sam": lambda **o: create("sam", **o),
    "asam adam": lambda **o: create("sam", base="adam", adaptive=True, **o),
    "lookahead sam": lambda **o: create("lookahead", inner="sam", **o),
    "lookahead lbfgs": lambda **o: create("lookahead", inner="lbfgs", **o),
    "average lbfgs": lambda **o: create("average", inner="lbfgs", **o),
    "average sam": lambda **o: create("average", inner="sam", **o),
    "accumulate sam": lambda **o: create("accumulate", inner="sam", **o),
    "groups lbfgs": lambda **o: create("groups", groups=[{"keys": "w", "optimizer": "lbfgs"}], **o),
    "groups sam base": lambda **o: create(
        "groups", inner="sam", groups=[{"keys": "b", "optimizer": "adam"}], **o
    ),
    "lookahead average sam": lambda **o: create(
        "lookahead", inner={"optimizer": "average", "inner": "sam"}, **o
    ),
}


def _params():
    return {"w": np.array([1.0, 2.0]), "b": np.array([-1.5])}


@pytest.mark.parametrize("closure", [_nan_loss, _raising], ids=["nan", "raises"])
@pytest.mark.parametrize("name", list(CLOSURE_OPTIMIZERS))
def test_a_refused_first_update_leaves_a_fresh_optimizer(name, closure):
    opt = CLOSURE_OPTIMIZERS[name]()
    fresh = opt.state_dict()
    params = _params()
    with pytest.raises((NonFiniteGradientError, RuntimeError)):
        opt.update(params, {k: np.ones_like(v) for k, v in params.items()}, closure=closure)
    np.testing.assert_array_equal(params["w"], [1.0, 2.0])
    assert opt.t == 0
    assert _differences(fresh, opt.state_dict()) == []
    # the optimizer is free to start on other keys and shapes (the user test's repro)
    other = {"w": np.ones(3), "b": np.ones(2), "v": np.ones(4)}
    opt.update(other, {k: v.copy() for k, v in other.items()}, closure=_bowl)
    assert opt.t == 1
    assert not np.array_equal(other["v"], np.ones(4))


@pytest.mark.parametrize("name", list(CLOSURE_OPTIMIZERS))
def test_a_skipped_first_update_is_counted_and_leaves_what_a_skipped_gradient_does(name):
    """nonfinite="skip" is not a failure: a first update skipped for the closure's NaN
    leaves what one skipped for a NaN gradient leaves (t = 0, one skipped step, and
    since round 11 no state: a fresh optimizer's)."""
    by_closure, by_gradient = (CLOSURE_OPTIMIZERS[name](nonfinite="skip") for _ in range(2))
    params, twin = _params(), _params()
    ones = {k: np.ones_like(v) for k, v in params.items()}
    by_closure.update(params, ones, closure=_nan_loss)
    by_gradient.update(twin, {**ones, "b": np.array([math.nan])}, closure=_bowl)
    assert by_closure.t == 0
    assert by_closure.skipped_steps == 1
    assert _differences(by_gradient.state_dict(), by_closure.state_dict()) == []
    np.testing.assert_array_equal(params["w"], [1.0, 2.0])


@pytest.mark.parametrize("closure", [_nan_loss, _raising], ids=["nan", "raises"])
@pytest.mark.parametrize("name", list(CLOSURE_OPTIMIZERS))
def test_a_refused_later_update_changes_nothing(name, closure):
    opt = CLOSURE_OPTIMIZERS[name]()
    params = _params()
    for _ in range(3):
        opt.update(params, _bowl(params)[1], closure=_bowl)
    for v in params.values():  # away from the minimum, so that L-BFGS evaluates again
        v += 1.0
    before, kept = opt.state_dict(), {k: v.copy() for k, v in params.items()}
    # The first evaluation inside the step fails, before anything moved.
    with pytest.raises((NonFiniteGradientError, RuntimeError)):
        opt.update(params, _bowl(params)[1], closure=closure)
    assert _differences(before, opt.state_dict()) == []
    for k in params:
        np.testing.assert_array_equal(params[k], kept[k])


# ------------------------------------------------------------ 3. the skip check


class _CountsSkips(SGD):
    """SGD that counts a skipped step in t."""

    def update(self, params, grads, closure=None):
        skipped = self.skipped_steps
        super().update(params, grads, closure)
        if self.skipped_steps > skipped:
            self.t += 1


class _DecaysOnSkip(Momentum):
    """Momentum whose velocity halves on a skipped step."""

    def update(self, params, grads, closure=None):
        skipped = self.skipped_steps
        super().update(params, grads, closure)
        if self.skipped_steps > skipped and self.state is not None:
            for bufs in self.state.values():
                for array in bufs.values():
                    array *= 0.5


@pytest.mark.parametrize(
    ("cls", "why"),
    [
        (_CountsSkips, r"counted the step skipped for a NaN gradient .* in t \(\d+ -> \d+\)"),
        (_DecaysOnSkip, r"changed the state on the step skipped .* at step 4 .*velocity"),
    ],
)
def test_the_nonfinite_check_catches_a_skip_that_changes_t_or_state(cls, why):
    report = check_optimizer(cls, checks="non-finite", raise_on_failure=False)
    assert set(report.failures) == {"non-finite"}
    assert re.search(why, report.failures["non-finite"]), report.failures


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "lbfgs", "sam", "lookahead"])
def test_correct_optimizers_pass_the_stricter_nonfinite_check(name):
    assert check_optimizer(name, checks="non-finite", raise_on_failure=False).passed


# ------------------------------------------------- 4. round trip under maximize


@pytest.mark.parametrize("name", ["lbfgs", "adam", "sgd"])
def test_the_round_trip_check_feeds_a_maximizer_minus_f(name):
    report = check_optimizer(name, {"maximize": True}, raise_on_failure=False)
    assert report.passed, report.failures


@pytest.mark.parametrize("base", [Adam, LBFGS])
def test_the_round_trip_check_walks_a_maximizer_downhill_on_f(base):
    """The check hands a maximize=True optimizer −f, so it converges: |x| shrinks."""

    class Recording(base):
        seen: ClassVar[dict] = {}

        def update(self, params, grads, closure=None):
            size = sum(float(np.sum(np.abs(v))) for v in params.values())
            self.seen.setdefault(id(self), []).append(size)
            super().update(params, grads, closure)

    report = check_optimizer(Recording, {"maximize": True}, checks="round trip",
                             raise_on_failure=False)  # fmt: skip
    assert report.passed, report.failures
    first = next(iter(Recording.seen.values()))  # the optimizer that walks 14 steps
    assert len(first) == 14
    assert first[-1] < first[0]


def test_the_round_trip_check_catches_a_walk_uphill():
    class _Uphill(SGD):
        """SGD that steps along the gradient (a sign error)."""

        def _step(self, params, grads, lr):
            for key, p in params.items():
                p += lr * grads[key]

    report = check_optimizer(_Uphill, checks="round trip", raise_on_failure=False)
    assert "the walk went uphill" in report.failures["round trip"]


# -------------------------------------------------------------- 5. no presets


@pytest.mark.parametrize("name", ["sam", "lookahead"])
def test_an_optimizer_without_presets_says_so(name):
    with pytest.raises(ValueError, match="does not define") as caught:
        create(name, preset="torch")
    message = str(caught.value)
    assert message.endswith(f"{name!r} has no presets (create it without preset=)")
    assert "preset 'torch' does not define" in message
    assert not message.rstrip().endswith(":")


def test_a_plug_in_without_presets_says_so(cleanup):
    cleanup.append("plain_rule")

    @register("plain_rule", lr_range=(1e-3, 1.0))
    def plain_rule(p, g, state, t, *, lr=0.1):
        p -= lr * g

    with pytest.raises(ValueError, match=r"'plain_rule' has no presets \(create it without"):
        create("plain_rule", preset="keras")
    # an optimizer with presets, not this one, still names its own
    with pytest.raises(
        ValueError, match=r"does not define 'lion' .*; presets with 'lion': keras, optax$"
    ):
        create("lion", preset="book")


# ------------------------------------------ 6. the missing closure's error names the inner


@pytest.mark.parametrize(
    ("make", "who"),
    [
        (lambda: create("lbfgs"), "LBFGS"),
        (lambda: create("lookahead", inner="lbfgs"), "Lookahead's inner LBFGS"),
        (lambda: create("average", inner="sam"), "Average's inner SAM"),
        (lambda: create("accumulate", inner="lbfgs"), "Accumulate's inner LBFGS"),
        (
            lambda: create("groups", groups=[{"keys": "b", "optimizer": "lbfgs"}]),
            "Groups' groups[0] optimizer LBFGS",
        ),
        (lambda: create("groups", inner="sam"), "Groups' base optimizer SAM"),
        (
            lambda: create("lookahead", inner={"optimizer": "average", "inner": "sam"}),
            "Lookahead's inner Average's inner SAM",
        ),
    ],
)
def test_the_missing_closure_error_names_who_needs_it(make, who):
    opt = make()
    params = _params()
    with pytest.raises(TypeError) as caught:
        opt.update(params, {k: np.ones_like(v) for k, v in params.items()})
    assert str(caught.value).startswith(f"{who} evaluates the loss again within a step: pass ")
    assert opt.t == 0
    assert opt.state is None
