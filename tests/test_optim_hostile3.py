"""Hostile calls to the optimizers' core: odd arrays, refused first steps, the registry's
decorator on odd rules and classes, and check_optimizer on broken or odd requests."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS, NonFiniteGradientError, Optimizer, create, register
from gdlab.optim.optimizers import Adam
from gdlab.testing import CHECKS, check_optimizer


def _steps(name: str, params: dict, grads: dict, n: int = 3) -> None:
    opt = create(name)
    for _ in range(n):
        opt.update(params, grads)


# ------------------------------------------------------- array subclasses


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adafactor", "nadam"])
def test_a_matrix_parameter_steps_as_its_plain_array(name):
    # np.matrix stays 2-D when flattened: a kernel indexing it by element got
    # rows (a numba TypingError, or a write past the array's memory).
    values = np.array([[1.0, -2.0], [3.0, 0.5]])
    grad = np.array([[0.3, -0.1], [0.2, 0.4]])
    matrix, plain = np.matrix(values.copy()), values.copy()
    _steps(name, {"W": matrix}, {"W": np.matrix(grad)})
    _steps(name, {"W": plain}, {"W": grad.copy()})
    assert type(matrix) is np.matrix
    np.testing.assert_array_equal(np.asarray(matrix), plain)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_views_of_one_buffer_step_as_the_plain_views():
    buffer = np.linspace(-1.0, 1.0, 8)
    plain = buffer.copy()
    grads = {"a": np.full((1, 4), 0.25), "b": np.full((1, 4), -0.5)}
    views = {"a": buffer[:4].reshape(1, 4), "b": buffer[4:].reshape(1, 4)}
    _steps("adam", {k: v.view(np.matrix) for k, v in views.items()}, grads)
    _steps("adam", {"a": plain[:4].reshape(1, 4), "b": plain[4:].reshape(1, 4)}, grads)
    np.testing.assert_array_equal(buffer, plain)


@pytest.mark.parametrize("where", ["params", "grads"])
def test_a_masked_array_is_refused_and_nothing_changes(where):
    p = np.array([1.0, 2.0, 3.0])
    g = np.array([0.5, 0.5, 0.5])
    if where == "params":
        p = np.ma.array(p, mask=[False, True, False])
    else:
        g = np.ma.array(g, mask=[False, True, False])
    before = np.array(p)
    opt = create("adam")
    with pytest.raises(TypeError, match=rf"{where}\['w'\] must be a plain numpy array.*mask"):
        opt.update({"w": p}, {"w": g})
    np.testing.assert_array_equal(np.array(p), before)
    assert opt.state is None
    assert opt.t == 0


# ------------------------------------------------- a refused first step


@pytest.mark.parametrize("name", ["adam", "nadam", "yogi", "adafactor", "sgd"])
@pytest.mark.parametrize("clip_norm", [None, 1.0])
def test_a_refused_first_step_leaves_no_state(name, clip_norm):
    opt = create(name, clip_norm=clip_norm)
    fresh = create(name, clip_norm=clip_norm).state_dict()
    params = {"w": np.ones(3)}
    with pytest.raises(NonFiniteGradientError):
        opt.update(params, {"w": np.array([1.0, np.nan, 1.0])})
    assert opt.state is None
    assert opt.state_dict()["state"] is None
    assert opt.state_dict()["scalars"] == fresh["scalars"]
    # Other parameters are then as welcome as on a fresh optimizer.
    other = {"v": np.ones((2, 2))}
    opt.update(other, {"v": np.full((2, 2), 0.5)})
    twin = {"v": np.ones((2, 2))}
    create(name, clip_norm=clip_norm).update(twin, {"v": np.full((2, 2), 0.5)})
    np.testing.assert_array_equal(other["v"], twin["v"])


def test_a_first_step_the_schedule_refuses_leaves_no_state():
    from gdlab import schedules

    opt = create("ftrl", lr=schedules.Lambda(0.1, lambda n: 0.0))
    with pytest.raises(ValueError, match="lr must be > 0 at every step"):
        opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    assert opt.state is None
    assert opt.t == 0


def test_a_skipped_first_step_makes_no_state():
    # round 11: the state made for a skipped first update is taken back, as for a
    # refused one (docs/optimizers.md: "a fresh optimizer's when it was the first update")
    opt = create("adam", nonfinite="skip")
    opt.update({"w": np.ones(2)}, {"w": np.array([np.inf, 1.0])})
    assert opt.skipped_steps == 1
    assert opt.state is None
    twin = create("adam", nonfinite="skip")
    twin.load_state_dict(opt.state_dict())
    assert twin.skipped_steps == 1
    assert twin.t == 0


# ------------------------------------------------------------- registry


_HALF, _TWO = np.float32(0.5), np.int64(2)


def _rule(p, g, state, t, *, lr=0.1):
    p -= lr * g


@pytest.mark.parametrize("state", ["mv", "momentum"])
def test_a_rules_state_as_one_string_is_refused(state, registered):
    registered.append("str_state_rule")
    with pytest.raises(TypeError, match=rf"state must be a tuple of state array names.*'{state}'"):
        register("str_state_rule", lr_range=(1e-3, 1.0), state=state)(_rule)
    assert "str_state_rule" not in OPTIMIZERS


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (("m", "m"), ValueError, r"state must be distinct names; got \('m', 'm'\)"),
        (("m", 1), TypeError, r"state names must be identifiers such as 'm'; got 1 \(int\)"),
        (("m", "not a name"), TypeError, r"state names must be identifiers"),
    ],
)
def test_a_rules_state_names_are_checked(state, error, message, registered):
    registered.append("bad_state_rule")
    with pytest.raises(error, match=message):
        register("bad_state_rule", lr_range=(1e-3, 1.0), state=state)(_rule)
    assert "bad_state_rule" not in OPTIMIZERS


@pytest.mark.parametrize("argument", ["epoch", "schedule", "clip_norm", "skipped_steps", "name"])
def test_a_rules_hyperparameter_may_not_overwrite_the_optimizers_own(argument, registered):
    namespace: dict = {}
    exec(
        f"def rule(p, g, state, t, *, lr=0.1, {argument}=3):\n    p -= lr * g\n",
        namespace,
    )
    registered.append("clashing_rule")
    with pytest.raises(ValueError, match=rf"argument '{argument}' of rule 'clashing_rule' must be"):
        register("clashing_rule", lr_range=(1e-3, 1.0))(namespace["rule"])
    assert "clashing_rule" not in OPTIMIZERS


def test_a_rules_own_hyperparameters_still_work(registered):
    @register("decayed_rule", lr_range=(1e-3, 1.0), state=("m",))
    def decayed_rule(p, g, state, t, *, lr=0.1, decay=0.5):
        state["m"] *= decay
        state["m"] += g
        p -= lr * state["m"]

    registered.append("decayed_rule")
    opt = create("decayed_rule", decay=0.25)
    x = {"x": np.array([1.0])}
    opt.update(x, {"x": np.array([1.0])})
    opt.update(x, {"x": np.array([1.0])})
    assert opt.decay == 0.25
    assert opt.epoch == 0
    assert x["x"][0] == 1.0 - 0.1 - 0.1 * 1.25


def test_a_registered_class_is_not_renamed_by_registering_it_again(registered, tmp_path):
    saved = create("adam", lr=0.1)
    saved.update({"w": np.ones(2)}, {"w": np.ones(2)})
    path = saved.save(tmp_path / "adam.npz")
    registered.append("my_adam")
    with pytest.raises(ValueError, match=r"Adam is already registered as 'adam'.*subclass"):
        register("my_adam", lr_range=(1e-4, 1e-1))(Adam)
    assert Adam.name == "adam"
    assert "my_adam" not in OPTIMIZERS
    assert Adam.lr_range == (1e-4, 1e-1)
    from gdlab.optim import load

    assert load(path).t == 1  # files naming "adam" still load


def test_a_subclass_registers_under_a_new_name(registered):
    @register("my_adam", lr_range=(1e-4, 1e-1))
    class MyAdam(Adam):
        pass

    registered.append("my_adam")
    assert MyAdam.name == "my_adam"
    assert Adam.name == "adam"
    assert OPTIMIZERS["adam"] is Adam
    assert OPTIMIZERS["my_adam"] is MyAdam


# ------------------------------------------------------ check_optimizer


def test_check_optimizer_takes_one_check_by_name():
    report = check_optimizer("sgd", checks="kernels")
    assert report.passed_checks == ["kernels"]


@pytest.mark.parametrize("kwargs", ["lr", [("lr", 0.1)], 0.1])
def test_check_optimizer_refuses_kwargs_that_are_no_dict(kwargs):
    with pytest.raises(TypeError, match=r"kwargs must be a dict of constructor arguments"):
        check_optimizer("sgd", kwargs, checks=("kernels",))


def test_check_optimizer_names_a_missing_lr_range():
    class Unregistered(Optimizer):
        def __init__(self, lr=0.1, **options):
            super().__init__(lr, **options)

        def _step(self, params, grads, lr):
            for key, p in params.items():
                p -= lr * grads[key]

    report = check_optimizer(Unregistered, checks=("convergence",), raise_on_failure=False)
    why = report.failures["convergence"]
    assert "lr_range (0.0, 0.0)" in why, why
    assert "register" in why, why


def test_check_optimizer_names_an_init_that_skips_the_base():
    class NoSuper(Optimizer):
        name = "no_super"

        def __init__(self, lr=0.1, **options):
            self.lr = lr

        def _step(self, params, grads, lr):
            for key, p in params.items():
                p -= lr * grads[key]

    checks = tuple(c for c in CHECKS if c not in ("arguments", "registry", "convergence"))
    report = check_optimizer(NoSuper, checks=checks, raise_on_failure=False)
    assert set(report.failures) == set(checks)
    for why in report.failures.values():
        assert "NoSuper.__init__ does not call Optimizer.__init__" in why, why


@pytest.mark.parametrize(
    "kwargs", [{"maximize": True}, {"nonfinite": "skip"}, {"nonfinite": "ignore"}, {"fused": False}]
)
def test_check_optimizer_sets_the_options_its_checks_are_about(kwargs):
    checks = ("allocation", "convergence", "maximize", "non-finite")
    report = check_optimizer("sgd", kwargs, checks=checks, raise_on_failure=False)
    assert report.passed, report.failures


def test_the_probe_of_reserved_names_is_no_registered_optimizer():
    from gdlab.optim.registry import _reserved_names

    names = _reserved_names()
    assert {"epoch", "t", "state", "clip_norm", "update"} <= names
    assert "lr" in names  # a rule's lr is allowed by name, not by this set
    assert all(cls.__name__ != "_Probe" for cls in OPTIMIZERS.values())


def test_a_rules_numpy_scalar_defaults_are_plain_checked_and_round_trip(registered, tmp_path):
    @register("numpy_defaults", lr_range=(1e-3, 1.0))
    def numpy_defaults(p, g, state, t, *, lr=0.1, beta=_HALF, n=_TWO):
        p -= lr * beta * n * g

    registered.append("numpy_defaults")
    opt = create("numpy_defaults")
    hp = opt.hyperparameters()
    assert (hp["beta"], hp["n"]) == (0.5, 2)
    assert type(hp["beta"]) is float
    assert type(hp["n"]) is int
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    twin = create("numpy_defaults")
    twin.load_state_dict(opt.state_dict())  # "float32 is not plain data" before
    assert twin.t == 1
    with pytest.raises(TypeError, match=r"beta must be a real number; got 'x' \(str\)"):
        create("numpy_defaults", beta="x")
    with pytest.raises(TypeError, match=r"n must be an integer; got 2.5 \(float\)"):
        create("numpy_defaults", n=2.5)


def test_saving_a_lambda_schedule_names_the_file_and_why(tmp_path):
    from gdlab import schedules

    opt = create("adam", lr=schedules.Lambda(0.1, lambda n: 0.5))
    opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
    target = tmp_path / "lambda.npz"
    with pytest.raises(TypeError, match=r"cannot write the optimizer file .*lambda\.npz.*Lambda"):
        opt.save(target)
    assert list(tmp_path.iterdir()) == []


def test_saving_a_schedule_with_a_function_names_the_schedule_and_its_argument(tmp_path):
    from gdlab import schedules

    target = tmp_path / "f.npz"
    for lr, named in [
        (schedules.Multiplicative(0.01, lambda e: 0.99, per="step"),
         "the Multiplicative schedule's lr_lambda is a Python function, which"),
        (schedules.Cyclic(0.001, 0.01, 5, scale_fn=lambda c: 1.0),
         "the Cyclic schedule's scale_fn is a Python function, which"),
        (schedules.Join([schedules.Constant(0.1),
                         schedules.Multiplicative(0.01, lambda e: 0.99, per="step")], [3],
                        per="step"),
         "the Multiplicative schedule's lr_lambda (the lr schedule's schedules[1].lr_lambda) "
         "is a Python function, which"),
    ]:  # fmt: skip
        opt = create("adam", lr=lr)
        opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
        with pytest.raises(TypeError) as info:
            opt.save(target)
        text = str(info.value)
        assert text.startswith(f"cannot write the optimizer file {target}: {named} a file ")
        assert text.endswith("keep the optimizer's state_dict() in memory instead")
        assert "JSON serializable" not in text
        assert "Lambda" not in text
    from gdlab.optim.io import write_state

    with pytest.raises(TypeError, match=r"f\.npz: state_dict\(\)\['hyperparameters'\]\['s'\] "
                       r"is a set, which a file cannot keep"):  # fmt: skip
        write_state(target, {"hyperparameters": {"s": {1}}})
    assert list(tmp_path.iterdir()) == []


def test_an_argument_kept_under_another_name_is_named():
    class Renamed(Optimizer):
        name = "renamed"

        def __init__(self, lr=0.1, *, warmup=10, **options):
            super().__init__(lr, **options)
            self._warmup = warmup

        def _step(self, params, grads, lr):
            for key, p in params.items():
                p -= lr * grads[key]

    opt = Renamed()
    message = r"Renamed keeps no attribute 'warmup'.*__init__ must set self\.warmup"
    with pytest.raises(AttributeError, match=message):
        opt.hyperparameters()
    report = check_optimizer(Renamed, checks=("round trip",), raise_on_failure=False)
    assert "keeps no attribute 'warmup'" in report.failures["round trip"]


@pytest.mark.parametrize("bad", [{"calls": 0}, {"tries": 0}])
def test_steady_peak_refuses_no_calls_or_no_tries(bad):
    from gdlab.testing import steady_peak

    with pytest.raises(ValueError, match=rf"{next(iter(bad))} must be an integer >= 1; got 0"):
        steady_peak(lambda: None, 1024, **bad)


def test_steady_peak_leaves_a_callers_tracing_running():
    import tracemalloc

    from gdlab.testing import steady_peak

    kept = np.ones(1_000_000)  # held before: not counted
    tracemalloc.start()
    try:
        held = np.ones(500_000)
        peak = steady_peak(lambda: None, 1024)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    assert peak < 1024
    assert kept.size + held.size == 1_500_000


@pytest.mark.parametrize(
    ("name", "scalar", "bad", "allowed"),
    [
        ("nadam", "mu_product", 1.5, r"in \[0, 1\]"),
        ("nadam", "mu_product", -0.25, r"in \[0, 1\]"),
        ("asgd", "eta", -0.01, ">= 0"),
        ("asgd", "mu", 0.0, r"in \(0, 1\]"),
        ("asgd", "mu", 3.0, r"in \(0, 1\]"),
    ],
)
def test_a_tampered_scalar_is_refused_and_nothing_changes(name, scalar, bad, allowed):
    opt = create(name)
    params = {"w": np.ones(2)}
    for _ in range(2):
        opt.update(params, {"w": np.full(2, 0.5)})
    saved = opt.state_dict()
    tampered = opt.state_dict()
    tampered["scalars"][scalar] = bad
    target = create(name)
    with pytest.raises(
        ValueError, match=rf"state_dict\['scalars'\]\['{scalar}'\] must be {allowed}"
    ):
        target.load_state_dict(tampered)
    assert target.state is None
    assert target.t == 0
    target.load_state_dict(saved)
    assert target.state_dict()["scalars"] == saved["scalars"]


@pytest.mark.parametrize("bad", [None, 3, iter([1])])
@pytest.mark.parametrize("which", ["params", "grads"])
def test_no_dict_after_a_first_step_is_named(bad, which):
    opt = create("adam")
    params, grads = {"w": np.ones(2)}, {"w": np.ones(2)}
    opt.update(params, grads)
    before = params["w"].copy()
    call = {"params": params, "grads": grads, which: bad}
    with pytest.raises(TypeError, match=rf"{which} must be a dict of numpy arrays; got"):
        opt.update(call["params"], call["grads"])
    np.testing.assert_array_equal(params["w"], before)
    assert opt.t == 1
    opt.update(params, grads)  # and the plan still serves
    assert opt.t == 2


def test_asgd_with_a_huge_alpha_takes_no_step_after_the_first():
    # (1 + λ·lr·t) ** 1e300 raised Python's OverflowError (the run was "failed");
    # in IEEE arithmetic (as torch's tensors compute it) the power is inf and η is 0.
    from gdlab.optim import create

    opt = create("asgd", lr=0.1, alpha=1e300)
    params = {"w": np.ones(3)}
    opt.update(params, {"w": np.ones(3)})
    after_one = params["w"].copy()
    assert after_one[0] < 1
    for _ in range(2):
        opt.update(params, {"w": np.ones(3)})
    np.testing.assert_array_equal(params["w"], after_one)
    assert opt.state_dict()["scalars"]["eta"] == 0.0
