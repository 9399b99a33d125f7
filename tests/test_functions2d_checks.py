"""A Function2D of one's own: its fields checked at construction, and what its
f and grad return checked where the library uses them (grads_at, run_path,
FunctionProblem, fit), each error naming the function, the point and the value."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

from gdlab import functions2d, optim, train
from gdlab.functions2d import FUNCTIONS, Function2D, grads_at, params_from, run_path
from gdlab.problems import FunctionProblem


def _f(x, y):
    return x**2 + 3 * y**2


def _grad(x, y):
    return 2 * x, 6 * y


FIELDS = {
    "name": "v",
    "f": _f,
    "grad": _grad,
    "minima": ((0.0, 0.0),),
    "start": (1.0, 2.0),
    "xlim": (-2.0, 2.0),
    "ylim": (-3.0, 3.0),
    "description": "x^2 + 3y^2",
}


def _own(**changes) -> Function2D:
    return Function2D(**{**FIELDS, **changes})


def _exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"start": (1,)}, TypeError, "start must be a pair (x, y); got (1,) (tuple)"),
        ({"start": 3.0}, TypeError, "start must be a pair (x, y); got 3.0 (float)"),
        ({"start": "ab"}, TypeError, "start must be a pair (x, y); got 'ab' (str)"),
        ({"start": (math.nan, 0)}, ValueError, "start x must be finite; got nan"),
        ({"start": (0, True)}, TypeError, "start y must be a real number; got True (bool)"),
        ({"start": (0, 10**400)}, ValueError, "start y must be finite; got 100000000000... (an "
                                              "integer of 401 digits)"),
        ({"xlim": (1, -1)}, ValueError, "xlim must be a pair (low, high) with low < high; "
                                        "got (1, -1)"),
        ({"xlim": (0.0, 0.0)}, ValueError, "xlim must be a pair (low, high) with low < high; "
                                           "got (0.0, 0.0)"),
        ({"ylim": "ab"}, TypeError, "ylim must be a pair (low, high); got 'ab' (str)"),
        ({"ylim": (-1.0, math.inf)}, ValueError, "ylim[1] must be finite; got inf"),
        ({"ylim": None}, TypeError, "ylim must be a pair (low, high); got None (NoneType)"),
        ({"name": ""}, ValueError, "name must be a non-empty string; got ''"),
        ({"name": "  "}, ValueError, "name must be a non-empty string; got '  '"),
        ({"name": 3}, TypeError, "name must be a non-empty string; got 3 (int)"),
        ({"description": None}, TypeError, "description must be a string; got None (NoneType)"),
        ({"f": 2.0}, TypeError, "f must be a function f(x, y); got 2.0 (float)"),
        ({"grad": None}, TypeError, "grad must be a function grad(x, y); got None (NoneType)"),
        ({"minima": None}, TypeError, "minima must be a tuple of (x, y) points, () if there "
                                      "is none; got None (NoneType)"),
        ({"minima": (1.0, 1.0)}, TypeError, "minima must be a tuple of (x, y) points, () if "
                                            "there is none, ((1.0, 1.0),) for one; got (1.0, "
                                            "1.0) (tuple)"),
        ({"minima": ((0, 0), (1,))}, TypeError, "minima[1] must be a pair (x, y); got (1,) "
                                                "(tuple)"),
        ({"minima": [(0, 0), (1, math.nan)]}, ValueError, "minima[1] y must be finite; got nan"),
    ],
)  # fmt: skip
def test_every_field_is_checked_at_construction(changes, error, message):
    """Each of these constructed, and failed later (or drew nothing, or a wrong range)."""
    with pytest.raises(error, match=_exactly(message)):
        _own(**changes)


def test_the_brief_example_names_the_start():
    with pytest.raises(TypeError, match=r"^start must be a pair \(x, y\); got \(1,\)"):
        Function2D(name="v", f=lambda x, y: x, grad=lambda x, y: (x, y), minima=((0, 0),),
                   start=(1,), xlim=(1, -1), ylim="ab", description="d")  # fmt: skip


def test_a_function_of_one_argument_is_refused():
    with pytest.raises(TypeError, match=r"^f must be a function f\(x, y\) of two arguments; got"):
        _own(f=lambda point: point[0] ** 2)
    with pytest.raises(TypeError, match=r"^grad must be a function grad\(x, y\) of two"):
        _own(grad=lambda x, y, z: (x, y))
    # a builtin without a signature, and keyword-only extras, are fine
    assert _own(f=np.hypot).f(3, 4) == 5.0
    assert _own(f=lambda x, y, *, scale=1.0: scale * x).f(2.0, 0.0) == 2.0


def test_a_replaced_field_is_checked_too():
    bowl = FUNCTIONS["bowl"]
    with pytest.raises(ValueError, match=r"^xlim must be a pair \(low, high\) with low < high"):
        dataclasses.replace(bowl, xlim=(3.0, -3.0))


def test_numbers_are_normalised_to_python_floats():
    fn = _own(
        minima=[[0, np.int64(1)], np.array([2.5, -1.0])],
        start=np.array([1, 2]),
        xlim=[np.float32(-2), 2],
        ylim=(-3, np.float64(3)),
    )
    assert fn.minima == ((0.0, 1.0), (2.5, -1.0))
    assert fn.start == (1.0, 2.0)
    assert fn.xlim == (-2.0, 2.0)
    assert fn.ylim == (-3.0, 3.0)
    for value in (*fn.minima[0], *fn.minima[1], *fn.start, *fn.xlim, *fn.ylim):
        assert type(value) is float
    assert type(fn.minima) is tuple
    assert all(type(m) is tuple for m in fn.minima)
    assert _own(minima=[]).minima == ()


BUILT_INS = {
    "bowl": ((((0.0, 0.0),), (-7.0, 2.0), (-10.0, 10.0), (-5.0, 5.0))),
    "rosenbrock": ((((1.0, 1.0),), (-1.5, 2.0), (-2.0, 2.0), (-1.0, 3.0))),
    "beale": ((((3.0, 0.5),), (1.0, 1.5), (-4.5, 4.5), (-4.5, 4.5))),
    "himmelblau": ((functions2d.HIMMELBLAU_MINIMA, (0.0, 0.0), (-5.0, 5.0), (-5.0, 5.0))),
    "saddle": (((), (-1.5, 1e-3), (-2.0, 2.0), (-2.0, 2.0))),
    "rastrigin": ((((0.0, 0.0),), (-2.3, 3.1), (-5.12, 5.12), (-5.12, 5.12))),
}


def test_the_built_ins_are_as_declared():
    """The checks change no built-in: the same floats, so the same figures and reports."""
    for name, (minima, start, xlim, ylim) in BUILT_INS.items():
        fn = FUNCTIONS[name]
        assert (fn.minima, fn.start, fn.xlim, fn.ylim) == (minima, start, xlim, ylim)
        for value in (*sum(fn.minima, ()), *fn.start, *fn.xlim, *fn.ylim):
            assert type(value) is float
        assert functions2d.scalar_form(fn) is not None


# --------------------------------------------------------------------------- what f and grad return


def _calls(fn: Function2D):
    """Every user-facing path that evaluates fn at its start (1.0, 2.0)."""
    problem = FunctionProblem(fn)
    params = problem.init_params(np.random.default_rng(0))
    return {
        "grads_at": lambda: grads_at(fn, params_from(fn.start)),
        "run_path": lambda: run_path(fn, optim.create("sgd", lr=0.1), steps=2),
        "loss_and_grads": lambda: problem.loss_and_grads(params, None),
        "evaluate": lambda: problem.evaluate(params),
        "fit": lambda: train.fit(problem, optim.create("sgd", lr=0.1), steps=2,
                                 rng=np.random.default_rng(0), progress=False),
    }  # fmt: skip


BAD_GRADS = [
    (lambda x, y: 2 * x, TypeError, "v.grad(1.0, 2.0) must be a pair (df/dx, df/dy); got "
                                    "np.float64(2.0) (float64)"),
    (lambda x, y: (2 * x, 6 * y, 0.0), TypeError, "v.grad(1.0, 2.0) must be a pair (df/dx, "
                                                  "df/dy); got (np.float64(2.0), "
                                                  "np.float64(12.0), 0.0) (tuple)"),
    (lambda x, y: None, TypeError, "v.grad(1.0, 2.0) must be a pair (df/dx, df/dy); got None "
                                   "(NoneType)"),
    (lambda x, y: {"x": 2 * x, "y": 6 * y}, TypeError, "v.grad(1.0, 2.0) must be a pair "
                                                       "(df/dx, df/dy); got {'x':"),
    (lambda x, y: (2j * x, 6 * y), TypeError, "df/dx of v.grad(1.0, 2.0) must be a real "
                                              "number; got np.complex128(2j) (complex128)"),
    (lambda x, y: (2 * x, "12"), TypeError, "df/dy of v.grad(1.0, 2.0) must be a real number; "
                                            "got '12' (str)"),
    (lambda x, y: (np.ones(3), 6 * y), ValueError, "df/dx of v.grad(1.0, 2.0) must be one real "
                                                   "number; got an array of shape (3,)"),
    (lambda x, y: (2 * x, True), TypeError, "df/dy of v.grad(1.0, 2.0) must be a real number; "
                                            "got True (bool)"),
]  # fmt: skip


@pytest.mark.parametrize(("grad", "error", "message"), BAD_GRADS)
def test_a_bad_gradient_is_named_with_what_it_returned(grad, error, message):
    """These were unpacking errors deep in the loop, a broadcast error, or (complex) a
    gradient that silently lost its imaginary part."""
    fn = _own(grad=grad)
    calls = _calls(fn)
    del calls["evaluate"]  # needs no gradient
    for call in calls.values():
        with pytest.raises(error, match="^" + re.escape(message)):
            call()


BAD_LOSSES = [
    (lambda x, y: x**2 + 1j, TypeError, "v.f(1.0, 2.0) must be a real number; got "
                                        "np.complex128(1+1j) (complex128)"),
    (lambda x, y: np.array([x, y]), ValueError, "v.f(1.0, 2.0) must be one real number; got an "
                                                "array of shape (2,)"),
    (lambda x, y: None, TypeError, "v.f(1.0, 2.0) must be a real number; got None (NoneType)"),
    (lambda x, y: "1.5", TypeError, "v.f(1.0, 2.0) must be a real number; got '1.5' (str)"),
    (lambda x, y: x > y, TypeError, "v.f(1.0, 2.0) must be a real number; got np.False_ "
                                    "(bool)"),
]  # fmt: skip


@pytest.mark.parametrize(("f", "error", "message"), BAD_LOSSES)
def test_a_bad_loss_is_named_with_what_it_returned(f, error, message):
    """A complex loss lost its imaginary part with a warning, and a bool counted as 0 or
    1; the others failed inside float() or numpy.isfinite without naming f."""
    fn = _own(f=f)
    calls = _calls(fn)
    del calls["grads_at"]  # needs no loss
    for call in calls.values():
        with pytest.raises(error, match=_exactly(message)):
            call()


def test_what_a_function_of_ones_own_may_return():
    fn = _own(f=lambda x, y: np.float32(x) + 1, grad=lambda x, y: np.array([2 * x, 1]))
    calls = _calls(fn)
    assert [float(g) for g in calls["grads_at"]().values()] == [2.0, 1.0]
    assert calls["run_path"]().tolist() == [[1.0, 2.0], [0.8, 1.9], [0.64, 1.9 - 0.1]]
    assert calls["evaluate"]() == {"loss": 2.0}
    assert calls["fit"]().loss == [2.0, 1.7999999523162842]
    as_list = _own(f=lambda x, y: 7, grad=lambda x, y: [2 * x, 0])
    loss, grads = FunctionProblem(as_list).loss_and_grads({"x": 1.0, "y": 2.0})
    assert (loss, float(grads["x"]), float(grads["y"])) == (7.0, 2.0, 0.0)


def test_an_error_inside_ones_function_names_the_function_and_the_point():
    def f(x, y):
        return math.log(x)  # a domain error below 0

    fn = _own(name="valley", f=f, start=(-1.0, 0.5))
    problem = FunctionProblem(fn)
    with pytest.raises(ValueError, match="math domain error") as caught:
        problem.evaluate(problem.init_params(np.random.default_rng(0)))
    assert caught.value.__notes__ == ["while evaluating valley.f at x = -1.0, y = 0.5"]
    broken = _own(grad=lambda x, y: (1.0, [][0]))
    with pytest.raises(IndexError) as caught:
        run_path(broken, optim.create("sgd", lr=0.1), steps=1)
    assert caught.value.__notes__ == ["while evaluating v.grad at x = 1.0, y = 2.0"]
    with pytest.raises(IndexError) as caught:  # a renamed copy says its own name
        grads_at(dataclasses.replace(broken, name="copy"), params_from((3, 4)))
    assert caught.value.__notes__ == ["while evaluating copy.grad at x = 3.0, y = 4.0"]


# --------------------------------------------------------------------------- the other arguments


def test_grads_at_names_bad_arguments():
    fn = _own()
    with pytest.raises(ValueError, match=r"^params must be a dict with keys x, y; got \['x'\]$"):
        grads_at(fn, {"x": np.array(1.0)})
    with pytest.raises(TypeError, match=r"^params must be a dict with keys x, y; got \(1, 2\)"):
        grads_at(fn, (1, 2))
    with pytest.raises(TypeError, match=r"^params\['y'\] must be a real number \(a 0-d float"):
        grads_at(fn, {"x": np.array(1.0), "y": np.array(2j)})  # lost its imaginary part
    with pytest.raises(TypeError, match=r"^fn must be a Function2D or a function name; got"):
        grads_at(None, params_from((1, 2)))
    assert float(grads_at("bowl", params_from((-7, 2)))["y"]) == 4.0


def test_grads_at_on_arrays_spreads_a_constant_part():
    fn = _own(grad=lambda x, y: (2 * x, 1.0))
    grads = grads_at(fn, {"x": np.arange(3.0), "y": np.zeros(3)})
    assert grads["x"].tolist() == [0.0, 2.0, 4.0]
    assert grads["y"].tolist() == [1.0, 1.0, 1.0]  # was a 0-d array beside 3-element params
    with pytest.raises(ValueError, match=r"^df/dx of v.grad\(an array of shape \(3,\), an array "
                                         r"of shape \(3,\)\) must be real numbers of shape \(3,\)"
                                         r"; got an array of shape \(2,\)$"):  # fmt: skip
        grads_at(_own(grad=lambda x, y: (np.ones(2), y)), {"x": np.zeros(3), "y": np.zeros(3)})


def test_run_path_names_bad_arguments():
    sgd = optim.create("sgd", lr=0.1)
    with pytest.raises(TypeError, match=r"^optimizer must be an optimizer with update\(params, "):
        run_path("bowl", None)
    with pytest.raises(TypeError, match=r"^fn must be a Function2D or a function name; got 3"):
        run_path(3, sgd)
    with pytest.raises(ValueError, match=r"^start x must be finite; got nan$"):
        run_path("bowl", sgd, start=(math.nan, 0.0))


def test_function_problem_start_is_checked_once_and_kept_as_floats():
    """A generator start was consumed by the check and kept as (); NumPy numbers were kept
    as they came (np.float32 does not go into JSON)."""
    fn = _own()
    problem = FunctionProblem(fn, start=(v for v in (3, np.float32(0.5))))
    assert problem.start == (3.0, 0.5)
    assert all(type(v) is float for v in problem.start)
    params = problem.init_params(np.random.default_rng(0))
    assert (float(params["x"]), float(params["y"])) == (3.0, 0.5)
    with pytest.raises(ValueError, match=r"^start y must be finite; got inf$"):
        FunctionProblem(fn, start=(0.0, math.inf))


def test_a_good_return_value_is_checked_without_making_a_message(monkeypatch):
    """The checks of what a function returns wrote their error message's words on every
    call (two reprs of the point, then each part's), a step's cost doubled for float32
    parameters and a function of one's own; the words are made only for an error now."""
    import dataclasses

    import numpy as np

    from gdlab import functions2d

    def no_words(*args):
        raise AssertionError("a message was made for a good value")

    monkeypatch.setattr(functions2d, "_at", no_words)
    own = dataclasses.replace(
        functions2d.get("bowl"),
        name="mine",
        f=lambda x, y: np.asarray(x * x + y * y),
        grad=lambda x, y: (np.asarray(2 * x), np.float32(2) * y),
    )
    for dtype in (np.float32, np.float64):
        params = {"x": np.array(1.5, dtype), "y": np.array(-0.5, dtype)}
        grads = functions2d.grads_at(own, params)
        assert float(grads["x"]) == 3.0
        assert float(grads["y"]) == -1.0
        assert float(functions2d.loss_value(own, own.f(1.5, -0.5), 1.5, -0.5)) == 2.5
    monkeypatch.undo()
    with pytest.raises(TypeError, match=r"mine\.grad\(1\.5, -0\.5\)"):
        functions2d.grad_pair(own, (1.0, "a"), 1.5, -0.5)
