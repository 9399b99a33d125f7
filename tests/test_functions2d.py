"""Tests for gdlab.functions2d: gradients, minima, broadcasting, the seed loop."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

from gdlab import functions2d
from gdlab.functions2d import FUNCTIONS, Function2D, get, grads_at, params_from, run_path

NAMES = sorted(FUNCTIONS)


def central_difference(fn: Function2D, x: float, y: float) -> np.ndarray:
    """Fourth-order central differences of fn.f at (x, y)."""
    out = []
    for ex, ey in ((1.0, 0.0), (0.0, 1.0)):
        h = 1e-3 * max(1.0, abs(x) if ex else abs(y))

        def at(s: float, ex: float = ex, ey: float = ey, h: float = h) -> float:
            return float(fn.f(x + s * h * ex, y + s * h * ey))

        out.append((at(-2) - 8 * at(-1) + 8 * at(1) - at(2)) / (12 * h))
    return np.array(out)


class PlainSGD:
    """p -= lr * g, enough to drive run_path without gdlab.optim."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.calls = 0

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        assert all(np.isfinite(g).all() for g in grads.values())
        self.calls += 1
        for key in params:
            params[key] -= self.lr * grads[key]


def test_registry_holds_the_six_functions() -> None:
    assert set(FUNCTIONS) == {"bowl", "rosenbrock", "beale", "himmelblau", "saddle", "rastrigin"}
    for name, fn in FUNCTIONS.items():
        assert fn.name == name
        assert get(name) is fn
        assert fn.xlim[0] < fn.xlim[1]
        assert fn.ylim[0] < fn.ylim[1]
        assert fn.description.startswith("f(x, y) = ")


def test_bowl_is_the_seed_function() -> None:
    fn = get("bowl")
    assert fn.start == (-7.0, 2.0)
    assert fn.minima == ((0.0, 0.0),)
    assert (fn.xlim, fn.ylim) == ((-10.0, 10.0), (-5.0, 5.0))
    assert fn.f(-7.0, 2.0) == pytest.approx(49 / 20 + 4)
    assert fn.grad(-7.0, 2.0) == pytest.approx((-0.7, 4.0))


def test_function2d_is_frozen() -> None:
    with pytest.raises(AttributeError):
        get("bowl").start = (0.0, 0.0)  # type: ignore[misc]


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_central_differences(name: str) -> None:
    fn = get(name)
    rng = np.random.default_rng(20240501)
    for _ in range(25):
        x = rng.uniform(*fn.xlim)
        y = rng.uniform(*fn.ylim)
        analytic = np.array(fn.grad(x, y), dtype=float)
        numeric = central_difference(fn, x, y)
        scale = max(np.linalg.norm(analytic), np.linalg.norm(numeric), 1.0)
        rel_err = np.linalg.norm(analytic - numeric) / scale
        assert rel_err < 1e-7, (name, x, y, analytic, numeric)


@pytest.mark.parametrize("name", NAMES)
def test_value_and_gradient_at_the_minima(name: str) -> None:
    fn = get(name)
    for x, y in fn.minima:
        assert abs(fn.f(x, y)) < 1e-25
        assert np.allclose(fn.grad(x, y), 0.0, atol=1e-12)
        # a minimum: nearby points are higher
        for dx, dy in ((1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)):
            assert fn.f(x + dx, y + dy) > fn.f(x, y)


def test_known_minima() -> None:
    assert get("rosenbrock").minima == ((1.0, 1.0),)
    assert get("beale").minima == ((3.0, 0.5),)
    assert get("rastrigin").minima == ((0.0, 0.0),)
    assert len(get("himmelblau").minima) == 4
    assert (3.0, 2.0) in get("himmelblau").minima


def test_saddle_has_no_minimum() -> None:
    fn = get("saddle")
    assert fn.minima == ()
    assert fn.f(0.0, 0.0) == 0.0
    assert fn.grad(0.0, 0.0) == (0.0, 0.0)
    assert fn.f(0.1, 0.0) > 0.0 > fn.f(0.0, 0.1)
    assert fn.start[1] != 0.0  # off the axis, so a run can escape


def test_rastrigin_has_local_minima() -> None:
    fn = get("rastrigin")
    # near every integer lattice point there is a local minimum, higher than 0
    path = run_path(fn, PlainSGD(lr=1e-3), start=(1.1, -2.1), steps=2000)
    x, y = path[-1]
    assert np.allclose(fn.grad(x, y), 0.0, atol=1e-6)
    assert round(x) == 1
    assert round(y) == -2
    assert fn.f(x, y) > 4.0


@pytest.mark.parametrize("name", NAMES)
def test_grid_evaluation_equals_pointwise(name: str) -> None:
    fn = get(name)
    xs = np.linspace(*fn.xlim, 7)
    ys = np.linspace(*fn.ylim, 5)
    gx, gy = np.meshgrid(xs, ys)
    z = fn.f(gx, gy)
    dzdx, dzdy = fn.grad(gx, gy)
    assert z.shape == dzdx.shape == dzdy.shape == gx.shape
    for i in range(gx.shape[0]):
        for j in range(gx.shape[1]):
            x, y = float(gx[i, j]), float(gy[i, j])
            np.testing.assert_allclose(z[i, j], fn.f(x, y), rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose((dzdx[i, j], dzdy[i, j]), fn.grad(x, y), rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_broadcasts_like_the_inputs(name: str) -> None:
    fn = get(name)
    xs = np.linspace(*fn.xlim, 4)
    dfdx, dfdy = fn.grad(xs[:, None], 0.5)
    assert dfdx.shape == dfdy.shape == (4, 1)
    assert np.shape(fn.f(xs, 0.5)) == (4,)


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"function must be one of .*'bowl'.*; got 'nope'"):
        get("nope")
    with pytest.raises(TypeError, match="function must be"):
        get(3)  # type: ignore[arg-type]


def test_params_from_gives_0d_float64_arrays() -> None:
    params = params_from((-7, 2))
    assert set(params) == {"x", "y"}
    for key, value in zip("xy", (-7.0, 2.0), strict=True):
        assert isinstance(params[key], np.ndarray)
        assert params[key].shape == ()
        assert params[key].dtype == np.float64
        assert float(params[key]) == value


@pytest.mark.parametrize(
    ("point", "error", "message"),
    [
        ((1.0,), TypeError, "point must be a pair"),
        (5.0, TypeError, "point must be a pair"),
        ((1.0, "a"), TypeError, "point y must be a real number; got 'a' (str)"),
        ((math.nan, 0.0), ValueError, "point x must be finite; got nan"),
    ],
)
def test_params_from_rejects_bad_points(point: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        params_from(point)


def test_grads_at_writes_0d_arrays_under_the_same_keys() -> None:
    fn = get("bowl")
    grads = grads_at(fn, params_from((-7.0, 2.0)))
    assert set(grads) == {"x", "y"}
    assert grads["x"].shape == grads["y"].shape == ()
    assert grads["x"].dtype == np.float64
    assert (float(grads["x"]), float(grads["y"])) == pytest.approx((-0.7, 4.0))
    as32 = {k: v.astype(np.float32) for k, v in params_from((-7.0, 2.0)).items()}
    assert grads_at(fn, as32)["y"].dtype == np.float32


def test_run_path_is_the_seed_loop_plus_the_final_point() -> None:
    fn = get("bowl")
    opt = PlainSGD(lr=0.95)
    path = run_path(fn, opt, steps=30)
    assert path.shape == (31, 2)
    assert opt.calls == 30
    # the seed's loop with floats: record, gradient, update
    x, y = fn.start
    expected = []
    for _ in range(30):
        expected.append((x, y))
        gx, gy = x / 10.0, 2.0 * y
        x, y = x - 0.95 * gx, y - 0.95 * gy
    expected.append((x, y))
    np.testing.assert_allclose(path, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(path[:30], expected[:30])  # the seed's 30 points


def test_run_path_takes_a_name_and_a_start() -> None:
    path = run_path("saddle", PlainSGD(lr=0.1), start=(1.0, 0.0), steps=3)
    np.testing.assert_allclose(path[:, 0], [1.0, 0.8, 0.64, 0.512])
    np.testing.assert_array_equal(path[:, 1], 0.0)
    assert run_path("bowl", PlainSGD(lr=0.1), steps=0).tolist() == [[-7.0, 2.0]]


def test_run_path_escapes_the_saddle() -> None:
    path = run_path("saddle", PlainSGD(lr=0.1), steps=40)
    assert abs(path[-1, 0]) < 1e-3
    assert abs(path[-1, 1]) > 1.0


def test_run_path_stops_at_divergence_and_fills_nan() -> None:
    fn = get("rosenbrock")
    opt = PlainSGD(lr=0.95)
    with np.errstate(all="raise"):  # no floating-point warning escapes run_path
        path = run_path(fn, opt, steps=30)
    assert path.shape == (31, 2)
    with np.errstate(all="ignore"):
        loss = fn.f(path[:, 0], path[:, 1])
    bad = np.flatnonzero(~np.isfinite(loss))
    assert 0 < bad[0] < 30
    assert np.isfinite(path[: bad[0]]).all()
    assert np.isnan(path[bad[0] + 1 :]).all()
    assert opt.calls <= bad[0]


@pytest.mark.parametrize(
    ("steps", "error"), [(-1, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_run_path_checks_steps(steps: object, error: type) -> None:
    with pytest.raises(error, match="steps must be an integer"):
        run_path("bowl", PlainSGD(lr=0.1), steps=steps)  # type: ignore[arg-type]


def test_module_doctest() -> None:
    result = doctest.testmod(functions2d)
    assert result.failed == 0
    assert result.attempted > 0
