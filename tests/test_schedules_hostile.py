"""Schedules and moving averages used as a hostile user would: overflow, nesting, odd inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdlab import schedules as S
from gdlab.averages import EWMA, ewma
from gdlab.optim import SGD
from gdlab.train import fit

# --------------------------------------------------------------------------- finite rates


@pytest.mark.parametrize(
    ("schedule", "step", "named"),
    [
        (S.Multiplicative(1.0, lambda k: 2.0, per="step"), 1100, "Multiplicative at step 1100"),
        (S.Lambda(10.0, lambda n: 1e308, per="step"), 0, "Lambda at step 0"),
        (S.Chained([1e200, 1e200]), 0, "Chained at step 0"),
        (S.Cyclic(0.0, 1e300, 2, scale_fn=lambda x: 1e300), 1, "Cyclic at step 1"),
        (S.Warmup(S.Lambda(10.0, lambda n: 1e308, per="step"), 2), 5, "Lambda at step 3"),
    ],
)
def test_a_rate_that_overflows_is_refused_not_returned_as_inf(schedule, step, named):
    """Fixed: each factor was checked but their product was not: the rate came back inf."""
    with pytest.raises(ValueError, match=rf"^the rate of {named}, epoch 0 must be finite"):
        schedule(step)


def test_an_optimizer_is_unchanged_by_a_rate_that_overflows():
    opt = SGD(S.Lambda(1.0, lambda n: 1e308 if n == 1 else 0.5, per="step"))
    opt.lr.lr0 = 10.0  # the product 10·1e308 overflows at step 1
    params = {"w": np.ones(3)}
    opt.update(params, {"w": np.ones(3)})
    before = params["w"].copy()
    with pytest.raises(ValueError, match="must be finite"):
        opt.update(params, {"w": np.ones(3)})
    assert opt.t == 1
    np.testing.assert_array_equal(params["w"], before)


def test_large_finite_rates_still_pass():
    assert S.Chained([1e300, 1.5])(0) == 1e300 * 1.5
    assert S.Lambda(1.0, lambda n: 1e308)(0) == 1e308


# --------------------------------------------------------------------------- plateau inside others


class _Scripted:
    """A problem whose validation loss never improves after the first epoch."""

    n_samples = None
    splits = ("train", "validation")
    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def init_params(self, rng):
        return {"w": np.zeros(3)}

    def loss_and_grads(self, params, batch):
        self.calls += 1
        return 1.0, {"w": np.full(3, 0.1)}

    def evaluate(self, params, split="train"):
        return {"loss": 3.0 if self.calls <= 1 else 2.0}


@pytest.mark.parametrize(
    "wrap",
    [
        lambda p: S.Warmup(p, 1, start_lr=1.0),
        lambda p: S.Chained([p, 1.0]),
        lambda p: S.Join([p, 0.5], [100]),
        lambda p: S.Warmup(S.Chained([p, S.Constant(1.0)]), 1, start_lr=1.0),
    ],
)
def test_fit_reports_to_a_plateau_inside_a_warmup_join_or_chain(wrap):
    """Fixed: fit found no ``report`` on the wrapper and never told the plateau."""

    def train(schedule):
        return fit(
            _Scripted(),
            SGD(schedule),
            steps=8,
            validation="validation",
            rng=np.random.default_rng(0),
            progress=False,
        )

    bare = S.ReduceOnPlateau(1.0, factor=0.5, patience=1)
    plateau = S.ReduceOnPlateau(1.0, factor=0.5, patience=1)
    history = train(wrap(plateau))
    # as for a bare plateau (tests/test_train.py): cuts after steps 4 and 6
    assert history.lr == train(bare).lr == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert plateau.state_dict() == bare.state_dict()


def test_a_plateau_in_two_places_is_told_once_per_report():
    plateau = S.ReduceOnPlateau(1.0, factor=0.5, patience=0)
    chain = S.Chained([plateau, S.Warmup(plateau, 3)])
    chain.report(1.0)
    chain.report(1.0)  # one bad report: one cut, not two
    assert plateau.lr == 0.5


def test_a_wrapper_without_a_plateau_has_no_report():
    for schedule in (S.Warmup(0.1, 3), S.Chained([0.1, 0.2]), S.Join([0.1, 0.2], [3])):
        assert getattr(schedule, "report", None) is None
        assert not hasattr(schedule, "report")


def test_a_bad_report_to_a_wrapper_changes_nothing():
    a, b = S.ReduceOnPlateau(1.0, patience=0), S.ReduceOnPlateau(1.0, patience=0)
    chain = S.Chained([a, b])
    chain.report(1.0)
    before = chain.state_dict()
    for bad in (float("nan"), "1.0", None):
        with pytest.raises((ValueError, TypeError), match=r"^metric must be"):
            chain.report(bad)
    assert chain.state_dict() == before


def test_a_wrapped_plateau_resumes_bit_identically():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.5, 0.6, 0.6, 0.6]

    def make():
        return S.Warmup(S.ReduceOnPlateau(0.1, factor=0.3, patience=1), 2)

    run = make()
    rates = []
    for m in metrics:
        run.report(m)
        rates.append(run(10))
    half = make()
    for m in metrics[:4]:
        half.report(m)
    resumed = S.from_config(half.config())
    resumed.load_state_dict(json.loads(json.dumps(half.state_dict())))
    tail = []
    for m in metrics[4:]:
        resumed.report(m)
        tail.append(resumed(10))
    assert tail == rates[4:]


# --------------------------------------------------------------------------- state and lists


def test_plateau_state_with_keys_of_mixed_types_is_refused_by_name():
    """Fixed: ``sorted()`` of the keys raised '<' not supported between 'str' and 'int'."""
    s = S.ReduceOnPlateau(0.1)
    state = {"lr": 0.1, "best": None, "num_bad_epochs": 0, 1: 0}
    with pytest.raises(ValueError, match=r"^state must be a dict with the keys 'lr'"):
        s.load_state_dict(state)


def test_boundaries_and_values_may_be_numpy_arrays():
    """Fixed: a 1-D NumPy array was refused as 'not a list'."""
    s = S.PiecewiseConstant(np.array([2, 4]), np.array([0.1, 0.01, 0.001]))
    assert s == S.PiecewiseConstant([2, 4], [0.1, 0.01, 0.001])
    assert json.loads(json.dumps(s.to_config())) == s.to_config()
    join = S.Join(np.array([0.1, 0.2]), np.arange(3, 4))
    assert [join(t) for t in range(5)] == [0.1, 0.1, 0.1, 0.2, 0.2]
    with pytest.raises(TypeError, match=r"^boundaries\[0\] must be an integer; got 2.0"):
        S.PiecewiseConstant(np.array([2.0, 4.0]), [0.1, 0.01, 0.001])
    with pytest.raises(TypeError, match=r"^boundaries must be a list"):
        S.PiecewiseConstant(np.array([[2, 4]]), [0.1, 0.01, 0.001])


# --------------------------------------------------------------------------- EWMA


def test_streaming_corrected_average_of_huge_values_stays_finite():
    """Fixed: ``new − previous`` overflowed and the average became −inf."""
    xs = [1.7e308, -1.7e308, 1.7e308]
    whole = ewma(xs, 0.5, bias_correction=True)
    scalar, array = EWMA(0.5, bias_correction=True), EWMA(0.5, bias_correction=True)
    for i, x in enumerate(xs):
        got = scalar.update(x)
        assert np.isfinite(got)
        np.testing.assert_allclose(got, whole[i], rtol=1e-15)
        np.testing.assert_allclose(array.update(np.array([x, 1.0])), [whole[i], 1.0], rtol=1e-15)


def test_streaming_corrected_average_of_ordinary_values_is_unchanged():
    avg = EWMA(0.9, bias_correction=True)
    v = None
    for x in (1.0, 2.0, 3.0):
        t = avg.t + 1
        gain = (1 - 0.9) / -np.expm1(t * np.log1p(-(1 - 0.9)))
        v = x if v is None else v + gain * (x - v)
        assert avg.update(x) == v


@pytest.mark.parametrize(
    ("key", "value"),
    [("beta", np.array([0.9, 0.9])), ("bias_correction", np.array([False, False]))],
)
def test_ewma_state_with_an_array_setting_is_refused_by_name(key, value):
    """Fixed: comparing an array raised NumPy's 'truth value ... is ambiguous'."""
    avg = EWMA(0.9)
    state = {"beta": 0.9, "bias_correction": False, "t": 1, "value": 0.5}
    state[key] = value
    with pytest.raises(ValueError, match=rf"^state\['{key}'\] must be "):
        avg.load_state_dict(state)
    assert avg.t == 0


# --------------------------------------------------------------------------- cosine periods


@pytest.mark.parametrize(
    "schedule",
    [
        S.CosineDecay(1.0, 4),
        S.CosineDecay(1.0, 4, restarts=True),
        S.CosineDecay(1.0, 4, restarts=True, t_mult=2.0),
    ],
)
def test_cosine_period_refuses_a_bad_counter_by_name(schedule):
    """Fixed: period(-1) gave (0, -1, 4) or (-1, 3, 4), or 'math domain error'."""
    with pytest.raises(ValueError, match=r"^n must be an integer >= 0; got -1"):
        schedule.period(-1)
    for bad in (2.5, True, None):
        with pytest.raises(TypeError, match=r"^n must be an integer; got "):
            schedule.period(bad)
    assert schedule.period(np.int64(5)) == schedule.period(5)


def test_cosine_period_and_rate_are_unchanged_for_valid_counters():
    s = S.CosineDecay(1.0, 4, restarts=True, t_mult=2.0)
    assert [s.period(n) for n in (0, 3, 4, 11, 12)] == [
        (0, 0, 4),
        (0, 3.0, 4.0),
        (1, 0.0, 8.0),
        (1, 7.0, 8.0),
        (2, 0.0, 16.0),
    ]
    assert [round(s(t), 4) for t in range(7)] == [1.0, 0.8536, 0.5, 0.1464, 1.0, 0.9619, 0.8536]


# --------------------------------------------------------------------------- EWMA inputs


@pytest.mark.parametrize("x", [np.ma.masked, np.ma.array(1.0, mask=True)])
def test_streaming_average_refuses_a_masked_scalar(x):
    """Fixed: a masked scalar was averaged in as its hidden value (or 0.0)."""
    avg = EWMA(0.5)
    with pytest.raises(ValueError, match=r"^x must be a real number, not a masked value"):
        avg.update(x)
    assert avg.t == 0
    assert avg.update(np.ma.array(1.0)) == 0.5  # an unmasked one is its value


def test_a_long_double_past_float64_is_named_as_such_not_as_inf():
    """Fixed: the cast turned 1e400 into inf (with a RuntimeWarning), then said 'got inf'."""
    x = np.array([1.0, np.longdouble("1e400")], dtype=np.longdouble)
    if not np.isfinite(x[1]):
        pytest.skip("long double is float64 on this platform")
    with pytest.raises(ValueError, match=r"^x\[1\] must be within float64's range") as info:
        ewma(x, 0.5)
    assert "inf" not in str(info.value)
    np.testing.assert_array_equal(
        ewma(np.array([1.5, 2.0], np.longdouble), 0.5), ewma([1.5, 2.0], 0.5)
    )
