"""Round 13 of user testing: a run's label, the experiment model.

A label whose rate ends a sentence (``Adam at 0.1.``) kept its old rate under ``--lr``:
the number pattern refused any number followed by a full stop, so as not to take a
piece of ``0.1.2``.
"""

from __future__ import annotations

import pytest

from gdlab.experiments import RunSpec
from gdlab.experiments.model import _label_numbers, rate_label


@pytest.mark.parametrize(
    ("label", "numbers"),
    [
        ("Adam at 0.1.", ["0.1"]),
        ("Adam 0.1. warm", ["0.1"]),
        ("lr1e-3.", ["1e-3"]),
        ("SGD 2.", ["2"]),
        ("version 0.1.2", []),  # no piece of a dotted version
        ("v1.2.3 at 0.5", ["0.5"]),
    ],
)
def test_a_full_stop_may_end_a_labels_number(label, numbers):
    assert [m[0] for m in _label_numbers(label)] == numbers


def test_a_rate_that_ends_a_sentence_is_rewritten():
    run = RunSpec("Adam at 0.1.", "adam", hyperparameters={"lr": 0.1})
    assert rate_label(run, 0.02) == ("Adam at 0.02.", "Adam at 0.1. → lr 0.02")


# --- tuned_from and tuned_digest belong with tuned ------------------------------------------

SMALL = """
name = "mine"
{extra}
[problem]
kind = "function"
function = "bowl"

[training]
steps = 5

[[runs]]
label = "SGD"
optimizer = "sgd"
hyperparameters = {{ lr = 0.1 }}
"""


@pytest.mark.parametrize("key", ["tuned_from", "tuned_digest"])
def test_a_tunings_name_without_tuned_is_refused(key):
    from gdlab.experiments import Experiment
    from gdlab.experiments.model import ConfigError

    with pytest.raises(ConfigError, match=f"mine.toml: {key} is given without tuned"):
        Experiment.from_toml(SMALL.format(extra=f'{key} = "somewhere"'), "mine.toml")


def test_tuned_words_alone_are_not_a_tuned_report_run_again(cwd, capsys):
    """``tuned = "by hand"`` in a plain file got the sentence of a tuned report whose
    tuning could not be found: "This report runs a tuned race again from its
    results.json; … could not be rebuilt (it does not name the tuning's directory)"."""
    from cli_run import gdlab

    cwd.joinpath("mine.toml").write_text(SMALL.format(extra='tuned = "Rates set by hand."'))
    code, _, err = gdlab(["race", "--config", "mine.toml", "--out", "R", "--quiet"], capsys)
    assert code == 0, err
    page = (cwd / "R" / "index.html").read_text(encoding="utf-8")
    assert "Rates set by hand." in page
    assert "runs a tuned race again" not in page
    assert "could not be rebuilt" not in page


# --- values in errors as they were typed ------------------------------------------------------


@pytest.mark.parametrize("typed", ["-1", "0", "-0.0", "nan", "inf", "1e400"])
def test_a_bad_lr_is_named_as_typed(cwd, capsys, typed):
    """``--lr adam=-1`` said "got -1.0", Python's spelling of the float it parsed."""
    from cli_run import gdlab

    code, _, err = gdlab(["race", "bowl", "--lr", f"adam={typed}"], capsys)
    assert code == 2
    assert err.endswith(f"the learning rate of adam must be > 0 and finite; got {typed}\n"), err


def test_a_files_boolean_is_asked_for_in_tomls_spelling(cwd, capsys):
    from cli_run import gdlab

    code, _, err = gdlab(["race", "bowl", "--set", "adam.amsgrad=1"], capsys)
    assert code == 2
    assert "amsgrad must be true or false; got 1" in err, err


def test_a_regressions_tune_table_has_no_accuracy_column():
    """boston's table kept a "val. accuracy" column of dashes."""
    from gdlab import cli

    point = {"hyperparameters": {"lr": 0.01}, "mean_loss": 0.5, "std_loss": 0.1,
             "mean_accuracy": None, "std_accuracy": None, "diverged": False}  # fmt: skip
    c = {"points": [point], "default": point, "tuned": ["lr"], "widened": 0,
         "best": {"hyperparameters": {"lr": 0.01}, "mean": 0.5, "std": 0.1, "accuracy": None,
                  "default": True},
         "within_10_percent": 1.0, "within_10_percent_by": "loss"}  # fmt: skip
    head, _, row = cli._tune_table({"configurations": {"SGD": c}}).splitlines()
    assert "accuracy" not in head, head
    assert "acc." not in head, head
    assert "val. loss" in head
    assert "0.5" in row


def test_a_number_typed_for_a_problems_text_key_is_the_text(cwd, capsys):
    """``--set problem.expression=1`` said "must be a non-empty string; got 1", though
    docs/experiments.md says a number typed for a text key is its text, as for
    ``--set title=2024``."""
    import json

    from cli_run import gdlab

    argv = ["race", "bowl", "--set", "problem.kind=expression", "--set", "problem.expression=1"]
    code, _, err = gdlab([*argv, "--steps", "2", "--out", "R", "--quiet"], capsys)
    assert code == 0, err
    document = json.loads((cwd / "R" / "results.json").read_text(encoding="utf-8"))
    assert document["config"]["problem"]["expression"] == "1"
    # a key that takes a number keeps the number's check
    argv = ["race", "moons", "--set", "problem.n_samples=ten"]
    code, _, err = gdlab(argv, capsys)
    assert code == 2
    assert "n_samples" in err, err


# --- a schedule's rates rescaled without float noise ------------------------------------------


@pytest.mark.parametrize(
    ("config", "lr0", "expected"),
    [
        ({"name": "cosine", "lr0": 0.1, "decay_steps": 20, "min_lr": 0.01}, 0.3, {"min_lr": 0.03}),
        ({"name": "piecewise", "boundaries": [5, 10], "values": [0.2, 0.02, 0.002]}, 0.7,
         {"values": [0.7, 0.07, 0.007]}),
        ({"name": "polynomial", "lr0": 0.5, "decay_steps": 10, "end_lr": 0.05}, 0.001,
         {"end_lr": 0.0001}),
        ({"name": "cosine", "lr0": 0.3, "decay_steps": 20, "min_lr": 0.1}, 0.9, {"min_lr": 0.3}),
    ],
)  # fmt: skip
def test_a_rescaled_schedule_keeps_its_decimals(config, lr0, expected):
    """0.01 under a rate going from 0.1 to 0.3 became 0.029999999999999995."""
    from gdlab.schedules import with_lr0

    new = with_lr0(config, lr0)
    assert {k: new[k] for k in expected} == expected


def test_a_floor_stays_below_its_rate_and_a_ratio_is_kept_to_rounding():
    from gdlab.schedules import with_lr0

    rng = __import__("numpy").random.default_rng(0)
    for old, floor, lr0 in rng.uniform(1e-4, 1.0, size=(200, 3)):
        floor = min(floor, old)
        new = with_lr0({"name": "cosine", "lr0": old, "decay_steps": 5, "min_lr": floor}, lr0)
        assert new["min_lr"] <= new["lr0"] == lr0
        assert new["min_lr"] == pytest.approx(floor * lr0 / old, rel=1e-15)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--set", "training.steps=true"],
         "training.steps must be an integer in [1, 100000000]; got true"),
        (["--set", "seeds=false"], "seeds must be an integer in [1, 1000]; got false"),
        (["--set", "adam.beta1=true"], "beta1 must be a real number; got true (boolean)"),
        (["--set", "adam.amsgrad=1"], "amsgrad must be true or false; got 1 (integer)"),
        (["--set", "adam.amsgrad='yes'"], "amsgrad must be true or false; got 'yes' (string)"),
    ],
)  # fmt: skip
def test_a_config_value_is_named_in_tomls_spelling(cwd, capsys, argv, said):
    """``--set training.steps=true`` said "got True", ``adam.beta1=true`` "got True (bool)"."""
    from cli_run import gdlab

    code, _, err = gdlab(["race", "bowl", *argv], capsys)
    assert code == 2
    assert said in err, err
    assert "True" not in err
    assert "(bool)" not in err
    assert "(int)" not in err


def test_python_keeps_pythons_spelling():
    """The same check called from Python speaks Python; only a configuration speaks TOML."""
    from gdlab._checks import check_bool, describe, describe_toml, toml_spelling
    from gdlab.optim import Adam

    with pytest.raises(TypeError, match=r"^amsgrad must be True or False; got 1 \(int\)$"):
        Adam(lr=0.1, amsgrad=1)
    with toml_spelling(), pytest.raises(TypeError, match=r"true or false; got 1 \(integer\)$"):
        check_bool("amsgrad", 1)
    assert describe([True, {"a": False}]) == "[True, {'a': False}]"
    assert describe_toml([True, {"a": False}]) == "[true, {'a': false}]"
    assert describe(True) == "True"  # the context ends with its block


def test_an_experiment_file_names_its_bad_boolean_as_written():
    from gdlab.experiments import Experiment
    from gdlab.experiments.model import ConfigError

    text = SMALL.format(extra="").replace("steps = 5", "steps = false")
    with pytest.raises(ConfigError, match=r"training\.steps must be .*; got false$"):
        Experiment.from_toml(text, "mine.toml")


# --- schedules that need a Python callable ----------------------------------------------------


@pytest.mark.parametrize(
    ("lr", "said"),
    [
        ('{name = "lambda", lr0 = 0.1}',
         "schedule 'lambda' needs a Python callable (lr_lambda), which a config file or the "
         "command line cannot give; build gdlab.schedules.Lambda in Python"),
        ('{name = "multiplicative", lr0 = 0.1, lr_lambda = "0.9"}',
         "schedule 'multiplicative' needs a Python callable (lr_lambda), which a config file or "
         "the command line cannot give; build gdlab.schedules.Multiplicative in Python; "
         "got lr_lambda = '0.9'"),
        ('{name = "warmup", warmup_steps = 2, schedule = {name = "lambda", lr0 = 0.1}}',
         "schedule 'lambda' needs a Python callable (lr_lambda)"),
        ('{name = "cyclic", base_lr = 0.01, max_lr = 0.1, step_size_up = 5, scale_fn = "f"}',
         "scale_fn of schedule 'cyclic' takes a Python callable, which a config file or the "
         "command line cannot give; leave it out, or build gdlab.schedules.Cyclic in Python"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("option", ["--set", "--lr"])
def test_a_schedule_of_a_python_callable_is_not_asked_for_one_from_text(
    cwd, capsys, lr, said, option
):
    """``{name = "lambda", lr0 = 0.1}`` asked to be "given 'lr_lambda'", which no text can."""
    from cli_run import gdlab

    given = f"adam.lr={lr}" if option == "--set" else f"adam={lr}"
    code, _, err = gdlab(["race", "bowl", option, given], capsys)
    assert code == 2
    assert said in err, err
    assert "must be given" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_schedule_of_a_python_callable_still_round_trips_in_python():
    from gdlab import schedules

    for schedule in (schedules.Lambda(0.5, lambda n: 0.5**n),
                     schedules.Multiplicative(0.5, lambda k: 0.5),
                     schedules.Cyclic(0.01, 0.1, 5),
                     schedules.Cyclic(0.01, 0.1, 5, scale_fn=lambda c: 1.0)):  # fmt: skip
        again = schedules.from_config(schedule.config())
        assert [again(n, n) for n in range(4)] == [schedule(n, n) for n in range(4)]
