"""Registering optimizers: the decorator, function rules, entry points, presets, base options.

Everything a built-in gets from ``@register`` a user's optimizer gets too:
``create``, the presets, tuning's lr range and tunables, and the contract of
:func:`gdlab.testing.check_optimizer`.
"""

from __future__ import annotations

import sys
import textwrap
from importlib import metadata

import numpy as np
import pytest

from gdlab import selection
from gdlab.optim import (
    OPTIMIZERS,
    PRESETS,
    Nesterov,
    Optimizer,
    create,
    load_entry_points,
    register,
)
from gdlab.optim.optimizers import SGD
from gdlab.testing import check_optimizer


def test_a_registered_class_is_everywhere(registered):
    @register("halved_sgd", lr_range=(1e-3, 1.0), presets={"torch": {"lr": 0.5}})
    class HalvedSGD(SGD):
        """SGD at half the rate: p ← p − ½·lr·g."""

        def _step(self, params, grads, lr):
            super()._step(params, grads, lr / 2)

    registered.append("halved_sgd")
    assert OPTIMIZERS["halved_sgd"] is HalvedSGD
    assert HalvedSGD.lr_range == (1e-3, 1.0)
    assert HalvedSGD.tunable == {"lr": "lr", "weight_decay": "weight_decay"}
    assert PRESETS["torch"]["halved_sgd"] == {"lr": 0.5}
    assert create("halved_sgd", preset="torch").lr == 0.5
    assert selection.default_space("halved_sgd").params["lr"] == selection.LogUniform(1e-3, 1.0)
    x = {"x": np.array([1.0])}
    create("halved_sgd", lr=0.2).update(x, {"x": np.array([1.0])})
    assert x["x"][0] == 0.9


def test_a_subclass_registered_without_a_name_gets_its_own(registered):
    # It inherits SGD.name = "sgd": taking that as its key refused it as a
    # clash with SGD and suggested replace=True, which would have replaced SGD.
    @register(lr_range=(1e-3, 1.0))
    class QuarterSGD(SGD):
        def _step(self, params, grads, lr):
            super()._step(params, grads, lr / 4)

    registered.append("quartersgd")
    assert OPTIMIZERS["quartersgd"] is QuarterSGD
    assert OPTIMIZERS["sgd"] is SGD
    assert SGD.name == "sgd"
    assert create("quartersgd").name == "quartersgd"

    @register(lr_range=(1e-3, 1.0))
    class Named(SGD):
        name = "named_sgd"  # a name the class sets itself is the default

    registered.append("named_sgd")
    assert OPTIMIZERS["named_sgd"] is Named


def test_a_function_rule_becomes_an_optimizer(registered):
    @register("sign_step", lr_range=(1e-4, 1e-1), state=("count",))
    def sign_step(p, g, state, t, *, lr=0.01, shrink=1.0):
        """p ← p − lr·shrink·sign(g); counts the steps per element."""
        state["count"] += 1
        p -= lr * shrink * np.sign(g)

    registered.append("sign_step")
    opt = create("sign_step", lr=0.5, shrink=0.5)
    assert opt.hyperparameters()["shrink"] == 0.5
    params = {"w": np.array([1.0, -1.0]), "v": np.zeros((2, 2))}
    opt.update(params, {"w": np.array([3.0, -2.0]), "v": np.ones((2, 2))})
    np.testing.assert_array_equal(params["w"], [0.75, -0.75])
    np.testing.assert_array_equal(params["v"], np.full((2, 2), -0.25))
    np.testing.assert_array_equal(opt.state["v"]["count"], np.ones((2, 2)))
    twin = create("sign_step", **opt.hyperparameters())
    twin.load_state_dict(opt.state_dict())
    with pytest.raises(TypeError, match="unknown keyword argument 'shrnk'"):
        create("sign_step", shrnk=1.0)
    # the contract reports the temporary the rule allocates, and nothing else fails
    report = check_optimizer("sign_step", raise_on_failure=False)
    assert set(report.failures) == {"allocation"}, report.failures


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: register("Bad Name", lr_range=(1e-3, 1.0)), ValueError, "optimizer name"),
        (lambda: register("sgd", lr_range=(1e-3, 1.0))(type("X", (SGD,), {})), ValueError,
         "'sgd' is already registered"),
        (lambda: register("x1", lr_range=(1.0, 0.1))(type("X", (SGD,), {})), ValueError,
         r"lr_range\[1\] of 'x1' must be > 1; got 0.1"),
        (lambda: register("x2", lr_range=(1e-3,))(type("X", (SGD,), {})), ValueError,
         "lr_range of 'x2' must be a pair"),
        (lambda: register("x3", lr_range=(1e-3, 1), presets={"torch": {"betta": 1}})(
            type("X", (SGD,), {})), ValueError, "preset 'torch' of 'x3' must be arguments among"),
        (lambda: register("x4", lr_range=(1e-3, 1), tunable={"decay": "rho"})(
            type("X", (SGD,), {})), ValueError, "tunable 'decay' of 'x4'"),
        (lambda: register("x5", lr_range=(1e-3, 1))(lambda p, g, s, t: None), TypeError,
         "a lower-case identifier|takes lr as a keyword argument"),
        (lambda: register("x6", lr_range=(1e-3, 1))(42), TypeError, "an Optimizer subclass"),
    ],
)  # fmt: skip
def test_register_errors_name_the_bad_value(call, error, message):
    before = dict(OPTIMIZERS)
    with pytest.raises(error, match=message):
        call()
    assert dict(OPTIMIZERS) == before  # a failed registration changes nothing


def test_replace_allows_a_new_class_under_an_old_name(registered):
    register("twice", lr_range=(1e-3, 1.0))(type("A", (SGD,), {}))
    registered.append("twice")
    second = register("twice", lr_range=(1e-3, 1.0), replace=True)(type("B", (SGD,), {}))
    assert OPTIMIZERS["twice"] is second


def test_entry_points_register_third_party_optimizers(tmp_path, monkeypatch, registered):
    package = tmp_path / "gdlab_plugin_demo"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from gdlab.optim import register
            from gdlab.optim.optimizers import SGD

            @register("plugin_sgd", lr_range=(1e-3, 1.0))
            class PluginSGD(SGD):
                pass
            """
        )
    )
    broken = tmp_path / "gdlab_plugin_broken.py"
    broken.write_text("raise RuntimeError('broken on purpose')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    entries = [
        metadata.EntryPoint("plugin_sgd", "gdlab_plugin_demo", "gdlab.optimizers"),
        metadata.EntryPoint("broken", "gdlab_plugin_broken", "gdlab.optimizers"),
    ]
    monkeypatch.setattr(
        metadata, "entry_points", lambda group=None: [e for e in entries if e.group == group]
    )
    registered.append("plugin_sgd")
    with pytest.warns(RuntimeWarning, match="plug-in 'broken'.*broken on purpose"):
        added = load_entry_points()
    assert added == ["plugin_sgd"]
    assert create("plugin_sgd").name == "plugin_sgd"
    sys.modules.pop("gdlab_plugin_demo", None)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "nadam"])
def test_maximize_climbs_what_minimize_descends(name):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(6)
    down, up = {"x": x0.copy()}, {"x": x0.copy()}
    lo, hi = create(name, lr=0.01), create(name, lr=0.01, maximize=True)
    for _ in range(20):
        g = rng.standard_normal(6)
        lo.update(down, {"x": g})
        hi.update(up, {"x": -g})
    np.testing.assert_array_equal(down["x"], up["x"])
    assert create(name, maximize=True).hyperparameters()["maximize"] is True


def test_a_rule_that_needs_a_closure_says_so(registered):
    @register("needs_loss", lr_range=(1e-3, 1.0))
    class NeedsLoss(SGD):
        needs_closure = True

        def _step(self, params, grads, lr):
            _, again = self._closure(params)
            super()._step(params, again, lr)

    registered.append("needs_loss")
    opt = create("needs_loss", lr=0.5)
    x = {"x": np.array([2.0])}
    with pytest.raises(TypeError, match="pass update\\(params, grads, closure=f\\)"):
        opt.update(x, {"x": np.array([4.0])})
    assert x["x"][0] == 2.0
    with pytest.raises(TypeError, match="closure must be a function"):
        opt.update(x, {"x": np.array([4.0])}, closure=3)
    opt.update(x, {"x": np.array([4.0])}, closure=lambda p: (p["x"] ** 2, {"x": 2 * p["x"]}))
    assert x["x"][0] == 0.0


def test_nesterov_book_fixed_is_the_2021_book_update():
    """The book repository's 2021 Nesterov, written out with the old velocity."""
    lr, mu = 0.1, 0.9
    gs = [np.array([1.0, -2.0]), np.array([0.5, 3.0]), np.array([-1.0, 0.25])]
    p, v = np.array([1.0, 1.0]), np.zeros(2)
    expected = []
    for g in gs:
        v_old = v.copy()
        v = mu * v - lr * g
        p = p - mu * v_old + (1 + mu) * v
        expected.append(p.copy())
    opt = Nesterov(lr=lr, momentum=mu, form="book_fixed")
    params = {"w": np.array([1.0, 1.0])}
    for g, want in zip(gs, expected, strict=True):
        opt.update(params, {"w": g})
        np.testing.assert_allclose(params["w"], want, rtol=1e-14)
    book = Nesterov(lr=lr, momentum=mu, form="book")
    other = {"w": np.array([1.0, 1.0])}
    for g in gs:
        book.update(other, {"w": g})
    assert not np.allclose(other["w"], params["w"])  # the printed book's form differs


def test_every_optimizer_subclass_is_an_optimizer():
    for cls in OPTIMIZERS.values():
        assert issubclass(cls, Optimizer)
