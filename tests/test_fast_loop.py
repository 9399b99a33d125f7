"""The fast paths of the fit loop on tiny problems: same bits as the general ones.

The scalar forms of the built-in 2-D functions, the 2-D problem's parameters
and gradients laid out over one buffer (one kernel call per step), the
optimizers' float64 scalars passed as Python floats, the loop's hoisted
hooks, and the warm-up done once per kind of optimizer: each is checked
against what it stands in for.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from gdlab import functions2d, train
from gdlab.functions2d import FUNCTIONS, Function2D, scalar_form
from gdlab.optim import OPTIMIZERS, create
from gdlab.optim.base import _FLAT
from gdlab.problems import FunctionProblem
from gdlab.race import _finite, _finite_path
from gdlab.train import DivergenceGuard, fit

NAMES = sorted(FUNCTIONS)
SIX = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _points() -> np.ndarray:
    rng = np.random.default_rng(7)
    special = [
        [0.0, -0.0], [-0.0, 0.0], [np.inf, 1.0], [1.0, -np.inf], [np.nan, 2.0],
        [1e308, 1e308], [-1e308, 3.0], [5e-324, -5e-324], [1e154, -1e154],
    ]  # fmt: skip
    return np.concatenate(
        [
            rng.uniform(-6, 6, (3000, 2)),
            rng.standard_normal((3000, 2)) * 10.0 ** rng.integers(-160, 160, (3000, 2)),
            np.array(special),
        ]
    )


def _bits(*values: float) -> bytes:
    return np.array(values, dtype=np.float64).tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_scalar_forms_give_the_bits_of_the_0d_array_path(name: str) -> None:
    fn = FUNCTIONS[name]
    form = scalar_form(fn)
    assert form is not None
    with np.errstate(all="ignore"):
        for x, y in _points().tolist():
            X, Y = np.array(x), np.array(y)
            gx, gy = fn.grad(X, Y)
            f = float(fn.f(X, Y))
            got = form.f_and_grad(x, y)
            assert all(type(v) is float for v in got)
            assert _bits(*got) == _bits(f, gx, gy), (x, y)
            assert _bits(form.f(x, y)) == _bits(f), (x, y)


def test_only_the_built_in_pairs_have_a_scalar_form() -> None:
    bowl = FUNCTIONS["bowl"]
    assert scalar_form(Function2D("mine", bowl.f, bowl.grad, (), (1, 1), (-1, 1), (-1, 1), "")) == (
        scalar_form(bowl)
    )
    other = Function2D("other", lambda x, y: x * y, lambda x, y: (y, x), (), (1, 1), (-1, 1),
                       (-1, 1), "f = xy")  # fmt: skip
    assert scalar_form(other) is None


def test_the_2d_problem_lays_params_and_grads_over_one_buffer() -> None:
    problem = FunctionProblem("rosenbrock")
    params = problem.init_params(np.random.default_rng(0))
    assert params["x"].base is params["y"].base is not None
    assert [float(params["x"]), float(params["y"])] == list(FUNCTIONS["rosenbrock"].start)
    _, grads = problem.loss_and_grads(params)
    assert grads["x"].base is grads["y"].base is not None
    optimizer = create("adam", lr=0.01)
    optimizer.update(params, grads)
    assert list(optimizer._plan.flat_params) == [_FLAT]  # one kernel call for x and y


@pytest.mark.parametrize("name", NAMES)
def test_the_2d_problem_agrees_with_the_function_on_arrays_of_its_own(name: str) -> None:
    fn = FUNCTIONS[name]
    problem = FunctionProblem(name)
    alone = functions2d.params_from(fn.start)  # separate arrays: no flat run
    with np.errstate(all="ignore"):
        for x, y in _points()[::37].tolist():
            for params in ({"x": np.array(x), "y": np.array(y)}, alone):
                X, Y = params["x"], params["y"]
                loss, grads = problem.loss_and_grads(params)
                gx, gy = fn.grad(X, Y)
                assert _bits(loss, grads["x"], grads["y"]) == _bits(float(fn.f(X, Y)), gx, gy)
                assert _bits(problem.evaluate(params)["loss"]) == _bits(float(fn.f(X, Y)))


def test_a_function_of_your_own_is_evaluated_as_written() -> None:
    calls = []

    def f(x, y):
        calls.append(type(x))
        return x**2 + y**2

    fn = Function2D("own", f, lambda x, y: (2 * x, 2 * y), ((0, 0),), (1.0, 2.0), (-3, 3),
                    (-3, 3), "")  # fmt: skip
    problem = FunctionProblem(fn)
    params = problem.init_params(np.random.default_rng(0))
    assert problem.loss_and_grads(params)[0] == 5.0
    assert calls == [np.ndarray]


def test_float32_params_take_the_general_path() -> None:
    problem = FunctionProblem("bowl")
    params = {"x": np.array(-7.0, np.float32), "y": np.array(2.0, np.float32)}
    loss, _ = problem.loss_and_grads(params)
    assert loss == float(FUNCTIONS["bowl"].f(params["x"], params["y"]))
    assert problem.evaluate(params)["loss"] == loss


@pytest.mark.parametrize("clone", [pickle.loads, copy.deepcopy], ids=["pickle", "deepcopy"])
def test_a_2d_problem_survives_copying(clone) -> None:
    problem = FunctionProblem("beale", (1.0, 1.0))
    twin = clone(pickle.dumps(problem)) if clone is pickle.loads else clone(problem)
    params = twin.init_params(np.random.default_rng(0))
    loss, grads = twin.loss_and_grads(params)
    assert grads["x"].base is twin._grad_buffer
    assert (loss, float(grads["x"]), float(grads["y"])) == (
        problem.loss_and_grads(problem.init_params(np.random.default_rng(0)))[0],
        float(problem._grads["x"]),
        float(problem._grads["y"]),
    )


def test_evaluate_still_checks_the_split() -> None:
    problem = FunctionProblem("bowl")
    params = problem.init_params(np.random.default_rng(0))
    with pytest.raises(ValueError, match="split"):
        problem.evaluate(params, "validation")
    with pytest.raises(TypeError, match="split"):
        problem.evaluate(params, 3)


@pytest.mark.parametrize("name", SIX)
def test_float64_kernel_scalars_are_python_floats_float32_casts(name: str) -> None:
    optimizer = create(name, lr=0.01)
    f64, f32 = np.dtype(np.float64), np.dtype(np.float32)
    args = optimizer._kernel_args(f64, 0.5, 1, np.float32(0.25), True)
    assert [type(a) for a in args] == [float] * 4
    assert args == (0.5, 1.0, 0.25, 1.0)
    assert [type(a) for a in optimizer._kernel_args(f32, 0.5, 1)] == [np.float32] * 2
    reference = create(name, lr=0.01, fused=False)
    assert [type(a) for a in reference._kernel_args(f64, 0.5)] == [np.float64]


def _run(name: str, **options) -> train.History:
    return fit(FunctionProblem("rosenbrock"), create(name, lr=1e-3, **options), steps=50,
               rng=np.random.default_rng(0), progress=False)  # fmt: skip


@pytest.mark.parametrize("name", SIX)
def test_the_flat_2d_run_equals_the_separate_arrays_run(name: str) -> None:
    flat = _run(name)
    problem = FunctionProblem("rosenbrock")
    alone = functions2d.params_from(problem.start)
    separate = fit(problem, create(name, lr=1e-3), steps=50, rng=np.random.default_rng(0),
                   progress=False, params=alone)  # fmt: skip
    assert flat.loss == separate.loss
    assert flat.path == separate.path
    timed = zip(separate.epochs, flat.epochs, strict=True)
    assert flat.epochs == [dict(e, seconds=f["seconds"]) for e, f in timed]


# --------------------------------------------------------------------------- the loop


def test_evaluate_asks_the_optimizer_for_its_point_by_default() -> None:
    problem = FunctionProblem("bowl")
    optimizer = create("lookahead")
    params = problem.init_params(np.random.default_rng(0))
    run = train.Run(problem, optimizer, params, None, 5, 1, [DivergenceGuard()])
    for _ in range(3):
        _, grads = problem.loss_and_grads(params)
        optimizer.update(params, grads)
    asked = train._evaluate(run, None, 0.0)
    told = train._evaluate(run, None, 0.0, optimizer.eval_params)
    plain = train._evaluate(run, None, 0.0, None)
    assert asked["train_loss"] == told["train_loss"] != plain["train_loss"]
    assert "iterate_train_loss" in asked
    assert "iterate_train_loss" not in plain


def test_the_warm_up_runs_once_per_kind_of_optimizer(monkeypatch) -> None:
    monkeypatch.setattr(train, "_WARMED", set())
    stepped = []
    original = train._fresh_like

    def spy(optimizer, **overrides):
        twin = original(optimizer, **overrides)
        stepped.append(type(twin).__name__)
        return twin

    monkeypatch.setattr(train, "_fresh_like", spy)
    params = {"x": np.zeros(3)}
    train.warm_up(create("adam", lr=0.1), params)
    train.warm_up(create("adam", lr=0.2), params)  # another rate: the same kernels
    train.warm_up(create("adam", lr=0.1, amsgrad=True), params)
    train.warm_up(create("adam", lr=0.1), {"x": np.zeros(3, np.float32)})
    assert stepped == ["Adam", "Adam", "Adam"]


# --------------------------------------------------------------------------- records


def test_finite_path_and_values_as_before() -> None:
    points = [(1.0, 2.0), (np.float64(3.0), 4.0), (np.inf, 1.0), (5.0, np.nan), (6.0, 7.0)]
    reference = np.asarray(points, dtype=np.float64)
    expected = reference[np.isfinite(reference).all(axis=1)]
    np.testing.assert_array_equal(_finite_path(points), expected)
    assert _finite_path([]).shape == (0, 2)
    assert _finite([1.0, np.nan, np.float32(0.5), 2, np.inf]) == [1.0, 0.5, 2.0]


def test_every_optimizer_still_runs_the_2d_problem() -> None:
    for name in OPTIMIZERS:
        try:
            optimizer = create(name)
        except (TypeError, ValueError):  # needs arguments
            continue
        history = fit(FunctionProblem("himmelblau"), optimizer, steps=3,
                      rng=np.random.default_rng(0), progress=False)  # fmt: skip
        assert history.status in train.STATUSES, name
