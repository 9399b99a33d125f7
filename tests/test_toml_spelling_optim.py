"""Errors about a value from a file or a ``--set`` spell booleans as TOML does (``true``,
``false``), also where the message states the value another argument must have
(``t_mult must be 1.0 when restarts=false``), and a value that must not be given as
left out (TOML has no null); from Python they keep Python's."""

from __future__ import annotations

import pytest

from cli_run import gdlab
from gdlab import schedules
from gdlab._checks import toml_spelling
from gdlab.optim import create


def _message(make) -> str:
    with pytest.raises((TypeError, ValueError)) as caught:
        make()
    return str(caught.value)


CASES = [
    (lambda: create("adam", maximize=1), "maximize must be {t} or {f}; got 1"),
    (lambda: create("adam", fused=2), "fused must be {t} or {f}; got 2"),
    (
        lambda: create("average", mode="swa", debias=True),
        "debias must be {f} unless mode='ema'",
    ),
    (
        lambda: schedules.CosineDecay(0.1, 10, t_mult=2),
        "t_mult must be 1.0 when restarts={f}; got 2",
    ),
    (
        lambda: schedules.CosineDecay(0.1, 10, m_mul=0.5),
        "m_mul must be 1.0 when restarts={f}; got 0.5",
    ),
    (
        lambda: schedules.CosineDecay(0.1, 10, restarts=True, periodic=True),
        "periodic must be {f} when restarts={t}; got {t}",
    ),
    (
        lambda: schedules.OneCycle(0.2, 40, pct_final=0.9),
        "pct_final must be 0.85 (unused) unless form='optax' and three_phase={t}; got 0.9",
    ),
]


UNSET = [
    (lambda: create("average", mode="swa", decay=0.9), "decay must be {u} unless mode='ema'"),
    (lambda: create("lbfgs", line_search_fn="x"), "line_search_fn must be {u} or 'strong_wolfe'"),
    (lambda: create("lbfgs", clip_norm=1.0), "clip_norm must be {u} for L-BFGS"),
    (
        lambda: create("lookahead", inner="lbfgs", clip_norm=1.0),
        "Lookahead clip_norm must be {u} when its inner LBFGS refuses clipping",
    ),
    (
        lambda: create("lamb", weight_decay_mask=3),
        "weight_decay_mask must be {u} or a regular expression over the keys (a str)",
    ),
]


@pytest.mark.parametrize(("make", "said"), UNSET)
def test_a_value_that_must_not_be_given_is_none_in_python_and_left_out_in_toml(make, said):
    assert said.format(u="None") in _message(make)
    with toml_spelling():
        message = _message(make)
    assert said.format(u="left out") in message, message


@pytest.mark.parametrize(("make", "said"), CASES)
def test_python_spells_booleans_as_python(make, said):
    assert _message(make).startswith(said.format(t=True, f=False))


@pytest.mark.parametrize(("make", "said"), CASES)
def test_a_file_or_a_set_spells_them_as_toml(make, said):
    with toml_spelling():
        message = _message(make)
    expected = said.format(t="true", f="false")
    assert message.startswith(expected), message


def test_the_command_line_says_true_or_false(cwd, capsys):
    code, _, err = gdlab(["race", "bowl", "--steps", "2", "--set", "adam.maximize=1"], capsys)
    assert code == 2
    assert "maximize must be true or false; got 1 (integer)" in err, err
    lr = 'sgd.lr={name="cosine", lr0=0.1, decay_steps=10, t_mult=2}'
    code, _, err = gdlab(["race", "bowl", "--steps", "2", "--set", lr], capsys)
    assert code == 2
    assert "t_mult must be 1.0 when restarts=false; got 2" in err, err
