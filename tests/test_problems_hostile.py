"""Hostile inputs to the problems, the 2-D functions, typed expressions and the experiment model.

Each test is a mistake a user can make (a float or boolean batch, params of the
wrong shape, a start that is not a pair, an ``abs`` SymPy differentiates through
``re``/``im``, a changed built-in described as the original …) and checks that
it gets an error naming the bad value, or the right answer, never silent garbage.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import expressions, functions2d
from gdlab._checks import ConfigError
from gdlab.data import Dataset
from gdlab.problems import (
    FunctionProblem,
    LinearRegression,
    LogisticRegression,
    MLPClassification,
)


def _regression(n=12, d=2, seed=0):
    rng = np.random.default_rng(seed)
    names = tuple("abcdefgh"[:d])
    return Dataset(rng.random((n, d)), rng.random(n), "toy", names, ("t",), "regression")


def _classes(n=12, k=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return Dataset(rng.random((n, 2)), y, "toy", ("a", "b"), tuple("pqr"[:k]), "classification")


def _data_problems():
    return [
        LinearRegression(_regression()),
        MLPClassification(_classes(), (3,), dtype=np.float64),
        MLPClassification(_classes(), (3,), dtype=np.float64, layout="columns"),
        LogisticRegression(_classes()),
    ]


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        (np.array([0.0, 1.0]), TypeError, "integer training-sample indices"),
        (np.array([True, False] * 6), TypeError, "integer training-sample indices"),
        (np.array([[0, 1], [2, 3]]), ValueError, "1-D array"),
        (np.array(3), ValueError, "1-D array"),
        (np.array([], dtype=np.int64), ValueError, "at least one sample"),
        ([], ValueError, "at least one sample"),
        (np.array([-1, 2]), ValueError, "got -1"),
        (np.array([1, 12]), ValueError, "got 12"),
        (3, TypeError, "array of training-sample indices"),
        ([0.5, 1.5], TypeError, "integer training-sample indices"),
    ],
)
def test_a_bad_batch_is_named(index, batch, error, match):
    """A float, boolean (mask), 2-D, 0-d, empty or out-of-range batch: the gather read
    a mask as rows 0 and 1, NumPy wrapped a negative column index (layout "columns"),
    a float batch failed inside numpy.take, an empty one divided by zero."""
    problem = _data_problems()[index]
    params = problem.init_params(np.random.default_rng(0))
    with pytest.raises(error, match=match):
        problem.loss_and_grads(params, batch)


def test_a_list_batch_gives_what_the_array_gives():
    for problem in _data_problems():
        params = problem.init_params(np.random.default_rng(0))
        loss = problem.loss_and_grads(params, np.array([3, 1, 4]))[0]
        assert problem.loss_and_grads(params, [3, 1, 4])[0] == loss


def test_linear_regression_without_samples_says_so():
    empty = Dataset(np.zeros((0, 2)), np.zeros(0), "void", ("a", "b"), ("t",), "regression")
    problem = LinearRegression(empty)
    with pytest.raises(ValueError, match="at least one sample"):
        problem.loss_and_grads(problem.init_params(np.random.default_rng(0)), None)


def test_warm_up_without_samples_leaves_the_error_to_the_run():
    empty = Dataset(np.zeros((0, 2)), np.zeros(0, int), "void", ("a", "b"), ("p", "q"),
                    "classification")  # fmt: skip
    MLPClassification(empty, (3,)).warm_up()  # nothing to compile on: no error here


def test_warm_up_changes_nothing_a_run_reads():
    problem = MLPClassification(_classes(20), (4,), dropout=0.3, dtype=np.float64)
    params = problem.init_params(np.random.default_rng(5))
    before = problem.state_dict()
    engine = {k: v.copy() for k, v in problem.net.params.items()}
    problem.warm_up()
    assert problem.state_dict() == before
    assert all(np.array_equal(engine[k], v) for k, v in problem.net.params.items())
    twin = MLPClassification(_classes(20), (4,), dropout=0.3, dtype=np.float64)
    twin_params = twin.init_params(np.random.default_rng(5))
    batch = np.array([1, 5, 7])
    a = problem.loss_and_grads(params, batch)
    a = (a[0], {k: v.copy() for k, v in a[1].items()})
    b = twin.loss_and_grads(twin_params, batch)
    assert a[0] == b[0]
    assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1])


# --------------------------------------------------------------------------- constructors


@pytest.mark.parametrize("dtype", [int, complex, "float16", None, object])
def test_linear_regression_dtype_must_be_float32_or_float64(dtype):
    """An integer dtype cast the data to integers (then failed in a ufunc); complex and
    object computed silently; float16 overflowed to inf."""
    with pytest.raises((TypeError, ValueError), match=r"dtype must be numpy\.float32"):
        LinearRegression(_regression(), dtype=dtype)


def test_linear_regression_needs_a_feature():
    none = Dataset(np.zeros((5, 0)), np.ones(5), "bare", (), ("t",), "regression")
    with pytest.raises(ValueError, match="at least one feature"):
        LinearRegression(none)


def test_linear_regression_normal_init_checks_the_rng():
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        LinearRegression(_regression(), init="normal").init_params(3)


def test_mlp_output_must_be_softmax_or_sigmoid_and_sigmoid_two_classes():
    with pytest.raises(ValueError, match="output must be one of 'softmax', 'sigmoid'"):
        MLPClassification(_classes(), output="linear")  # regression output on classes
    with pytest.raises(ValueError, match="'softmax' for 3 classes"):
        MLPClassification(_classes(k=3), output="sigmoid")


def test_mlp_hidden_must_be_a_list():
    with pytest.raises(TypeError, match="hidden must be a list"):
        MLPClassification(_classes(), 5)
    with pytest.raises(TypeError, match="hidden must be a list"):
        MLPClassification(_classes(), "55")


def test_function_problem_start_not_a_pair():
    with pytest.raises(TypeError, match="must be a pair"):
        FunctionProblem("bowl", start=3)


# --------------------------------------------------------------------------- params


def _linreg_params():
    return {"w": np.zeros(2), "b": np.ones(1)}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"w": np.zeros(3)}, r"params\['w'\] must be a float64 array of shape \(2,\)"),
        ({"b": np.ones(3)}, r"params\['b'\] must be a float64 array of shape \(1,\)"),
        ({"w": np.zeros(2, complex)}, r"params\['w'\]"),
        ({"w": np.zeros((2, 1))}, r"params\['w'\]"),
        ({"w": np.zeros(2, np.float32)}, r"params\['w'\]"),
        ({"w": [0.0, 0.0]}, r"params\['w'\]"),
        ({"z": np.zeros(1)}, "params must be a dict with keys w, b"),
    ],
)
def test_linear_regression_params_are_checked(change, match):
    problem = LinearRegression(_regression())
    params = {**_linreg_params(), **change}
    for call in (
        lambda: problem.loss_and_grads(params, None),
        lambda: problem.evaluate(params),
        lambda: problem.predict(params, np.zeros((3, 2))),
    ):
        with pytest.raises(ValueError, match=match):
            call()


def test_linear_regression_missing_key_and_bad_x():
    problem = LinearRegression(_regression())
    with pytest.raises(ValueError, match="keys w, b"):
        problem.evaluate({"w": np.zeros(2)})
    with pytest.raises(ValueError, match=r"X must be of shape \(n, 2\)"):
        problem.predict(_linreg_params(), np.zeros((3, 5)))
    with pytest.raises(TypeError, match="X must be numbers"):
        problem.predict(_linreg_params(), np.array(["a", "b"]))
    got = problem.predict(_linreg_params(), np.ones((3, 2)))
    assert got.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"x": np.array(1.0)}, ValueError, "keys x, y"),
        ([1.0, 2.0], TypeError, "keys x, y"),
        ({"x": np.ones(1), "y": np.ones(1)}, ValueError, r"shape \(1,\)"),
        ({"x": np.array(1j), "y": np.array(1.0)}, TypeError, "real number"),
        ({"x": True, "y": False}, TypeError, "real number"),
        ({"x": "1", "y": "2"}, TypeError, "real number"),
        ({"x": np.array(1.0, object), "y": np.array(1.0)}, TypeError, "real number"),
    ],
)
def test_function_problem_params_are_checked(params, error, match):
    """A complex x lost its imaginary part with a warning, True counted as 1, a 1-element
    array failed in float(), a missing key was a KeyError."""
    problem = FunctionProblem("rosenbrock")
    for call in (problem.loss_and_grads, problem.evaluate, problem.point):
        with pytest.raises(error, match=match):
            call(params)


def test_function_problem_integer_params_compute_in_floats():
    """Integers used to run through the functions in int64 and wrap around silently."""
    problem = FunctionProblem("rosenbrock")
    big = {"x": np.array(100_000), "y": np.array(-100_000)}
    loss, grads = problem.loss_and_grads(big, None)
    as_floats = functions2d.get("rosenbrock")
    assert loss == float(as_floats.f(np.float64(1e5), np.float64(-1e5)))
    assert loss > 0
    assert float(grads["x"]) == float(as_floats.grad(np.float64(1e5), np.float64(-1e5))[0])


def test_function_problem_valid_params_keep_their_numbers():
    problem = FunctionProblem("beale")
    fn = functions2d.get("beale")
    x, y = np.float64(1.3), np.float64(0.7)
    loss, grads = problem.loss_and_grads({"x": x, "y": y}, None)
    assert loss == float(fn.f(x, y))
    assert (float(grads["x"]), float(grads["y"])) == tuple(map(float, fn.grad(x, y)))


# --------------------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("text", "dfdx"),
    [
        ("abs(sqrt(x))", lambda x: 0.5 / np.sqrt(x)),
        ("abs(x**0.5)", lambda x: 0.5 / np.sqrt(x)),
        ("abs(acos(x/2))", lambda x: -1 / np.sqrt(4 - x * x)),
        ("abs(x**(1/3))", lambda x: x ** (-2 / 3) / 3),
    ],
)
def test_abs_of_what_sympy_cannot_prove_real_is_differentiated(text, dfdx):
    """SymPy wrote d|u| through re, im and atan2 for these; function() then failed with
    'cannot compute atan2 numerically' on a text parse() accepted."""
    fn = expressions.function(text)
    x = 1.5
    got = float(fn.grad(x, 2.0)[0])
    assert got == pytest.approx(dfdx(x), rel=1e-12)
    h = 1e-6
    numeric = (float(fn.f(x + h, 2.0)) - float(fn.f(x - h, 2.0))) / (2 * h)
    assert got == pytest.approx(numeric, rel=1e-6)


def test_abs_gradients_that_worked_are_unchanged():
    assert expressions.gradient_text("abs(x) + abs(y*x)") == (
        "y*sign(x*y) + sign(x)",
        "x*sign(x*y)",
    )
    assert expressions.gradient_text("abs(log(x))")[0] == (
        "log(x/sign(x))*sign(x)**2*sign(log(x))/(x*log(x))"
    )


@pytest.mark.parametrize("start", [3, (1, 2, 3), None])
def test_expression_start_must_be_a_pair(start):
    with pytest.raises(TypeError, match="start must be a pair"):
        expressions.function("x^2", start=start)


@pytest.mark.parametrize(
    "call",
    [expressions.parse, expressions.function, expressions.gradient_text],
)
def test_an_unhashable_text_is_named(call):
    with pytest.raises(TypeError, match="expression must be a string"):
        call(["x"])


def test_expression_integer_inputs_compute_in_floats():
    """NumPy's integer power refused 2**-1 and wrapped 3**50 around."""
    fn = expressions.function("x**y")
    assert float(fn.f(2, -1)) == 0.5
    assert float(fn.f(3, 50)) == float(fn.f(3.0, 50.0))
    dfdx, dfdy = fn.grad(2, -1)
    assert (float(dfdx), float(dfdy)) == (-0.25, float(fn.grad(2.0, -1.0)[1]))
    grid = fn.f(np.array([2, 3]), np.array([-1, 2]))
    assert grid.tolist() == [0.5, 9.0]


@pytest.mark.parametrize("value", [1j, True, "a", np.array([1 + 2j])])
def test_expression_refuses_non_real_inputs(value):
    fn = expressions.function("x*y + 1")
    with pytest.raises(TypeError, match="x must be a real number"):
        fn.f(value, 1.0)
    with pytest.raises(TypeError, match="x must be a real number"):
        fn.grad(value, 1.0)


def test_expression_float_inputs_are_untouched():
    fn = expressions.function("x**3/7 + sin(y)")
    x32 = np.float32(1.1)
    assert fn.f(x32, np.float32(0.3)) == np.float64(
        x32**3 / np.float32(7) + np.sin(np.float32(0.3))
    )


# --------------------------------------------------------------------------- the model


def _experiment():
    from gdlab.experiments import Experiment

    return Experiment.from_dict(
        {
            "name": "demo",
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": 30},
            "runs": [{"optimizer": "adam", "lr": 0.3}, {"optimizer": "sgd", "lr": 0.9}],
        }
    )


def test_a_set_description_round_trips_exactly():
    """from_dict folds the description's whitespace; set() kept it, so the experiment
    read back from its own TOML or JSON differed."""
    import json

    from gdlab.experiments import Experiment

    exp = _experiment().set("description", "  two\n lines  ")
    assert Experiment.from_toml(exp.to_toml()) == exp
    assert Experiment.from_dict(json.loads(json.dumps(exp.to_dict()))) == exp


def test_to_toml_names_a_none_hyperparameter():
    """A JSON config's ``null`` (clip_norm = None is valid) made tomli_w raise
    'Object of type NoneType is not TOML serializable'."""
    from gdlab.experiments import Experiment

    exp = Experiment.from_dict(
        {
            "name": "demo",
            "problem": {"kind": "function"},
            "training": {"steps": 3},
            "runs": [{"optimizer": "adam", "lr": 0.1, "clip_norm": None}],
        }
    )
    with pytest.raises(ConfigError, match=r"run 'Adam': hyperparameters\.clip_norm is None"):
        exp.to_toml()


def test_based_on_must_be_a_string():
    with pytest.raises(ConfigError, match="based_on must be a string"):
        _experiment().replace(based_on=3)


def test_parts_of_the_wrong_type_are_named():
    with pytest.raises(ConfigError, match="problem must be a ProblemSpec"):
        _experiment().replace(problem={"kind": "function"})
    with pytest.raises(ConfigError, match="runs must be RunSpec"):
        _experiment().replace(runs=({"optimizer": "adam"},))


def test_optimizers_tables_of_the_wrong_shape():
    from gdlab.experiments import Experiment

    base = {"name": "demo", "problem": {"kind": "function"}, "training": {"steps": 3}}
    with pytest.raises(ConfigError, match=r"hyperparameters\.adam must be a table"):
        Experiment.from_dict(
            {**base, "optimizers": {"names": ["adam"], "hyperparameters": {"adam": 3}}}
        )
    with pytest.raises(ConfigError, match=r"optimizers\.lr names 1"):
        Experiment.from_dict({**base, "optimizers": {"names": ["adam"], "lr": {1: 0.1}}})


def test_selectors_must_be_strings():
    exp = _experiment()
    with pytest.raises(ConfigError, match="got 3"):
        exp.select(3)
    with pytest.raises(ConfigError, match="list of optimizer names; got 'adam'"):
        exp.select_optimizers("adam")  # a string was read letter by letter
    with pytest.raises(ConfigError, match="list of optimizer names"):
        exp.select_optimizers([1])


def test_a_built_in_changed_in_code_is_not_described_as_the_original():
    """race.run(builtin("bowl").set(...)) reported seed 001's hand-written title and
    description for a run on another function."""
    from gdlab.experiments import builtin
    from gdlab.experiments.describe import text

    bowl = builtin("bowl")
    assert text(bowl)["title"] == bowl.title
    changed = text(bowl.set("problem.function", "rosenbrock"))
    assert changed["title"] != bowl.title
    assert "rosenbrock" in changed["title"]
    assert changed["changes"] == [
        "problem.function: bowl → rosenbrock",
        "problem.start: [-7, 2] → [-1.5, 2]",  # each function's own start
    ]
    assert bowl.description not in changed["description"]


def test_an_own_file_called_like_a_built_in_does_not_claim_its_source():
    from gdlab.experiments import Experiment, builtin
    from gdlab.experiments.describe import text

    mine = builtin("bowl").to_dict()
    mine.pop("based_on")
    mine.pop("title")
    mine.pop("description")
    mine["problem"] = {"kind": "function", "function": "saddle"}
    words = text(Experiment.from_dict(mine))
    assert "seed 001" not in words["description"]
    same = builtin("bowl").to_dict()
    same.pop("based_on")
    assert "seed 001" in text(Experiment.from_dict(same))["description"]


# --------------------------------------------------------------------------- plots


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"samples": 0}, ValueError, "samples must be an integer >= 1"),
        ({"layers": 0}, ValueError, "layers must be an integer >= 1"),
        ({"samples": True}, TypeError, "samples must be an integer"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
    ],
)
def test_init_series_arguments(kwargs, error, match):
    from gdlab.experiments.plots import init_series

    with pytest.raises(error, match=match):
        init_series(**{"units": 4, **kwargs})


def test_schedules_series_arguments():
    from gdlab.experiments.plots import schedules_series

    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        schedules_series(epochs=0)
    with pytest.raises(TypeError, match="steps_per_epoch must be an integer"):
        schedules_series(steps_per_epoch=2.5)
