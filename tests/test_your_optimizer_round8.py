"""Round 8 fixes for optimizers of your own (docs/your-optimizer.md).

- ``_elementwise`` is False unless a class sets it itself: a rule with one value
  per array (a norm) is no longer handed an MLP's keys as one flat array; the
  built-ins that are element-wise say so, and keep the flat path.
  ``check_optimizer``'s ``layout`` check catches a wrong ``True``.
- A function rule that binds a state entry to a new array, or returns a value,
  raises ``TypeError`` (nothing changed on the first update) instead of
  losing the state or doing nothing.
- ``check_optimizer`` raises the optimizer's own error for a misspelt keyword,
  before any check, and refuses ``checks=()``.
- ``load`` of a file of an optimizer this process has not registered says so.
- A rule's hyperparameter named ``options`` or ``self`` is refused by
  ``register``, naming the reserved names.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from gdlab.nn import MLP
from gdlab.optim import OPTIMIZERS, Adam, Optimizer, create, load, register, unregister
from gdlab.optim.base import _FLAT
from gdlab.testing import CHECKS, check_optimizer

# The built-ins whose rule keeps a value per array (or a state of another shape).
NOT_ELEMENTWISE = {"adafactor", "sm3", "lars", "lamb", "novograd", "muon", "lbfgs"}
BUILT_INS = [
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
    "adamax", "nadam", "radam", "signum", "lion", "adabelief", "yogi", "adopt", "ademamix",
    "adan", "rprop", "asgd", "ftrl", "adafactor", "sm3", "lars", "lamb", "novograd", "muon",
    "lbfgs", "prodigy", "dadapt_adamw", "sam", "schedule_free_sgd", "schedule_free_adamw",
    "lookahead", "average", "accumulate", "groups",
]  # fmt: skip


@pytest.fixture
def names():
    """Registry names a test adds, taken out again afterwards."""
    added: list[str] = []
    yield added
    for name in added:
        if name in OPTIMIZERS:
            unregister(name)


def _norm_sgd(names: list[str], elementwise: bool | None = None) -> type[Optimizer]:
    """p ← p − lr·g/‖g‖ with one norm per parameter array (LARS-like)."""

    class NormSGD(Optimizer):
        name = "norm_sgd_r8"

        def __init__(self, lr=1e-2, **options):
            super().__init__(lr, **options)

        def _step(self, params, grads, lr):
            for key, p in params.items():
                g = grads[key]
                n = np.sqrt(np.dot(g, g))
                if n > 0:
                    p -= (lr / n) * g

    if elementwise is not None:  # as if the class body had set it
        NormSGD._elementwise = elementwise
    names.append("norm_sgd_r8")
    return register(lr_range=(1e-4, 1e-1))(NormSGD)


def _mlp():
    rng = np.random.default_rng(0)
    net = MLP([4, 8, 3], rng=np.random.default_rng(0))
    x = rng.normal(size=(16, 4)).astype(np.float32)
    net.loss_and_grads(x, rng.integers(0, 3, 16))
    return net.params, net.grads


# ------------------------------------------------------------- 1. _elementwise


def test_a_per_array_norm_rule_that_declares_nothing_moves_each_array_by_lr(names):
    cls = _norm_sgd(names)
    assert cls._elementwise is False
    params, grads = _mlp()
    before = {k: v.copy() for k, v in params.items()}
    opt = cls(lr=0.1)
    opt.update(params, grads)
    assert _FLAT not in opt._plan.flat_params  # key by key
    for k in params:
        assert np.linalg.norm(before[k] - params[k]) == pytest.approx(0.1, rel=1e-5), k


def test_a_subclass_of_an_element_wise_built_in_does_not_inherit_the_flag():
    class MyAdam(Adam):
        pass

    class MyFlatAdam(Adam):
        _elementwise = True

    assert Optimizer._elementwise is False
    assert MyAdam._elementwise is False
    assert MyFlatAdam._elementwise is True


@pytest.mark.parametrize("name", BUILT_INS)
def test_the_built_ins_declare_elementwise_themselves_as_before(name):
    cls = OPTIMIZERS[name]
    assert cls._elementwise is (name not in NOT_ELEMENTWISE)
    if name not in NOT_ELEMENTWISE:
        assert "_elementwise" in vars(cls)


@pytest.mark.parametrize("name", ["sgd", "adam", "lion", "rprop", "schedule_free_adamw"])
def test_element_wise_built_ins_still_take_the_flat_path_on_an_mlp(name):
    params, grads = _mlp()
    opt = create(name)
    opt.update(params, grads)
    assert list(opt._plan.flat_params) == [_FLAT]


def test_the_layout_check_catches_a_norm_rule_that_declares_itself_element_wise(names):
    assert "layout" in CHECKS
    wrong = _norm_sgd(names, elementwise=True)
    report = check_optimizer(wrong, checks="layout", raise_on_failure=False)
    assert list(report.failures) == ["layout"]
    assert "_elementwise = True" in report.failures["layout"]
    unregister("norm_sgd_r8")
    right = _norm_sgd(names)
    assert check_optimizer(right, checks="layout", raise_on_failure=False).passed


@pytest.mark.parametrize("name", ["adam", "lars", "lookahead", "sam", "lbfgs"])
def test_the_layout_check_passes_built_ins(name):
    check_optimizer(name, checks="layout")


# ---------------------------------------------------------- 2. in-place rules


def _rebinding(names):
    @register("ema_mom_r8", lr_range=(1e-3, 1.0), state=("m",))
    def ema_mom_r8(p, g, state, t, *, lr=0.1, beta=0.9):
        state["m"] = beta * state["m"] + (1 - beta) * g
        p -= lr * state["m"]

    names.append("ema_mom_r8")
    return ema_mom_r8


def _returning(names):
    @register("functional_gd_r8", lr_range=(1e-3, 1.0))
    def functional_gd_r8(p, g, state, t, *, lr=0.1):
        return p - lr * g

    names.append("functional_gd_r8")
    return functional_gd_r8


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_rebinding, r"bound state\['m'\] to a new array, which the optimizer never sees"),
        (_returning, r"returned a value \(ndarray\), which the optimizer ignores"),
    ],
    ids=["rebinds-state", "returns-p"],
)
def test_a_rule_that_does_not_update_in_place_is_refused_changing_nothing(names, make, says):
    cls = make(names)
    opt = create(cls.name)
    params = {"w": np.array([1.0, 2.0]), "b": np.array([3.0])}
    grads = {"w": np.array([1.0, 1.0]), "b": np.array([1.0])}
    expected = (
        rf"^rule '{cls.name}' must update p and its state arrays in place, and return None; "
        rf"it {says}.*: write, e\.g\., m = state\['m'\]; m \*= beta; .*; nothing was updated$"
    )
    with pytest.raises(TypeError, match=expected):
        opt.update(params, grads)
    assert params["w"].tolist() == [1.0, 2.0]
    assert params["b"].tolist() == [3.0]
    assert (opt.t, opt.state) == (0, None)
    assert not check_optimizer(cls.name, checks="round trip", raise_on_failure=False).passed


def test_a_rule_that_rebinds_state_later_is_refused_then_too(names):
    @register("late_r8", lr_range=(1e-3, 1.0), state=("m",))
    def late_r8(p, g, state, t, *, lr=0.1):
        if t == 3:
            state["m"] = g.copy()
        p -= lr * g

    names.append("late_r8")
    opt = create("late_r8")
    params = {"w": np.ones(2)}
    for _ in range(2):
        opt.update(params, {"w": np.ones(2)})
    with pytest.raises(TypeError, match=r"bound state\['m'\].*step 3"):
        opt.update(params, {"w": np.ones(2)})


def test_a_rule_that_raises_on_its_first_update_changes_nothing(names):
    @register("boom_r8", lr_range=(1e-3, 1.0), state=("m",))
    def boom_r8(p, g, state, t, *, lr=0.1):
        state["m"] += 1.0
        p -= lr * g
        if p.size == 1:
            raise RuntimeError("boom")

    names.append("boom_r8")
    opt = create("boom_r8")
    params = {"w": np.array([1.0, 2.0]), "b": np.array([3.0])}
    with pytest.raises(RuntimeError, match="boom"):
        opt.update(params, {"w": np.ones(2), "b": np.ones(1)})
    assert params["w"].tolist() == [1.0, 2.0]
    assert params["b"].tolist() == [3.0]
    assert (opt.t, opt.state) == (0, None)


def test_an_in_place_rule_still_steps(names):
    @register("hb_r8", lr_range=(1e-3, 1.0), state=("m",))
    def hb_r8(p, g, state, t, *, lr=0.1, gamma=0.5):
        m = state["m"]
        m *= gamma
        m += g
        p -= lr * m

    names.append("hb_r8")
    opt = create("hb_r8")
    params = {"w": np.array([1.0])}
    for _ in range(2):
        opt.update(params, {"w": np.array([1.0])})
    assert params["w"][0] == pytest.approx(1 - 0.1 * (1 + 1.5))
    assert opt.state["w"]["m"][0] == 1.5


# ------------------------------------------------------- 3. check_optimizer args


def test_check_optimizer_raises_the_optimizers_error_for_a_misspelt_keyword(names):
    _returning(names)  # any rule: the keyword is refused before a check runs
    with pytest.raises(TypeError, match=r"unknown keyword argument 'gama'.*expected one of: lr"):
        check_optimizer("functional_gd_r8", {"gama": 0.5}, raise_on_failure=False)
    with pytest.raises(TypeError, match=r"'bta1'.*beta1"):
        check_optimizer("adam", {"bta1": 0.5})
    with pytest.raises(ValueError, match=r"^beta1 must be"):
        check_optimizer("adam", {"beta1": 2.0})


@pytest.mark.parametrize("checks", [(), []])
def test_check_optimizer_refuses_no_checks(checks):
    with pytest.raises(ValueError, match=r"^checks must name at least one of arguments, .*layout"):
        check_optimizer("adam", checks=checks)


# -------------------------------------------------- 4. load of an unregistered one


def _register_heavy_ball(name: str, names: list) -> None:
    """Register a heavy-ball rule under ``name`` (unregistered after the test)."""

    def rule(p, g, state, t, *, lr=0.1):
        m = state["m"]
        m += g
        p -= lr * m

    register(name, lr_range=(1e-3, 1.0), state=("m",))(rule)
    names.append(name)


def test_load_of_an_unregistered_optimizer_says_to_import_it(names, tmp_path):
    _register_heavy_ball("hb_file_r8", names)
    opt = create("hb_file_r8")
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    path = opt.save(tmp_path / "hb_opt.npz")
    assert load(path).t == 1
    unregister("hb_file_r8")
    expected = (
        f"{path} holds optimizer 'hb_file_r8', which is not registered in this process: "
        "import the module that registers it, or install its plug-in (registered: sgd, momentum, "
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}") as caught:
        load(path)
    assert "not a gdlab optimizer file" not in str(caught.value)


def test_load_of_a_wrapper_whose_inner_optimizer_is_unregistered_names_the_inner(names, tmp_path):
    _register_heavy_ball("hb_inner_r8", names)
    opt = create("lookahead", inner=create("hb_inner_r8"), k=2)
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    path = opt.save(tmp_path / "wrapped.npz")
    assert load(path).t == 1
    unregister("hb_inner_r8")
    expected = f"{path} holds optimizer 'hb_inner_r8', which is not registered in this process"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}"):
        load(path)


# ------------------------------------------------------ 5. reserved rule names


@pytest.mark.parametrize("reserved", ["options", "self", "epoch"])
def test_a_rule_hyperparameter_with_a_reserved_name_is_refused_by_name(names, reserved):
    namespace: dict = {}
    exec(f"def r(p, g, state, t, *, lr=0.1, {reserved}=1):\n    p -= lr * g", namespace)
    with pytest.raises(
        ValueError,
        match=rf"^argument '{reserved}' of rule 'reserved_r8' must be a name the optimizer "
        r"itself does not use \(reserved: clip_norm, .*\boptions, .*\bself, .*\); got",
    ) as caught:
        register("reserved_r8", lr_range=(1e-3, 1.0))(namespace["r"])
    listed = str(caught.value).split("(reserved: ")[1].split(", and the private")[0].split(", ")
    assert len(listed) == len(set(listed))  # each name once
    assert "lr" not in listed
    assert not [n for n in listed if n.startswith("_")]
    assert "reserved_r8" not in OPTIMIZERS


def test_check_optimizer_reports_a_class_broken_in_its_own_constructor():
    # with no arguments given, a constructor that raises is the class's fault: reported
    # by the checks, not raised as if the caller's arguments were wrong
    from gdlab.optim import Optimizer
    from gdlab.testing import check_optimizer

    class Broken(Optimizer):
        name = "broken_ctor"

        def __init__(self, lr=0.1, **options):
            super().__init__(lr, momentum=0.9, **options)

        def _step(self, params, grads, lr):
            pass

    report = check_optimizer(Broken, raise_on_failure=False)
    assert report.failures
    assert "arguments" in report.failures
