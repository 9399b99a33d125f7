"""Round 13 of user testing: how experiments are built and described in words.

- a group whose runs used different settings was named once per setting on its
  optimizer's card ("plain", "plain"): its runs are named there instead;
- an ``expression`` (or ``function``) start point where f or its gradient is not
  finite ran as every run "diverged at step 1": it is refused when the problem is built;
- a 2-D function's ``evaluate_every`` changed which best f was reported, unsaid, and
  a data experiment made a function kept its ``evaluate_every`` (counted in epochs of
  its data): it is said, and dropped with the data;
- the start point was rounded to 6 digits in the description;
- a wrapper's rate read "(default)" when its inner optimizer set it, the inner
  optimizer was a Python dict, and a preset's rate read "(default)";
- "Training: 30 steps" when every run gives its own length; an unknown problem kind
  did not say that a kind of one's own must be registered first.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from cli_run import gdlab
from gdlab._checks import ConfigError
from gdlab.experiments import ExperimentError, RunSpec, builtin, load
from gdlab.experiments.describe import _what_ran, hyperparameter_text, text
from gdlab.report import html as report_html

# --- 1b: a group is named once on its card ------------------------------------------------


def _record(label, optimizer, lr, group=None, seed=0):
    return {"id": f"{label}-seed{seed}", "label": label, "group": group, "seed": seed,
            "optimizer": optimizer, "preset": None, "hyperparameters": {"lr": lr}}  # fmt: skip


def test_a_group_with_two_settings_names_its_runs_on_the_card():
    runs = [_record("a", "sgd", 0.1, "plain", s) for s in (0, 1)]
    runs += [_record("b", "sgd", 0.2, "plain", s) for s in (0, 1)]
    runs += [_record("c", "adam", 0.2)]
    page = report_html._optimizers(runs)
    names = re.findall(r"<dt>([^<]*)</dt>", page)
    assert names == ["a (in group plain)", "b (in group plain)", "c"]
    assert "Used by a (in group plain), b (in group plain)." in page


def test_a_group_with_one_setting_is_named_once():
    runs = [_record(label, "sgd", 0.1, "plain") for label in ("a", "b")]
    page = report_html._optimizers(runs)
    assert re.findall(r"<dt>([^<]*)</dt>", page) == ["plain"]
    assert page.count("Used by plain.") == 1


def test_a_group_across_optimizers_names_each_run_on_its_card():
    runs = [_record("a", "sgd", 0.1, "plain"), _record("b", "adam", 0.1, "plain")]
    page = report_html._optimizers(runs)
    assert "Used by plain." not in page
    assert "Used by a (in group plain)." in page
    assert "Used by b (in group plain)." in page


# --- 2: a start where f or its gradient is not finite ----------------------------------------

EXPRESSION = """
[problem]
kind = "expression"
expression = "{expression}"
start = {start}
[training]
steps = 5
[[runs]]
optimizer = "sgd"
"""


@pytest.mark.parametrize(
    ("expression", "start", "why"),
    [
        ("log(x) + y**2", "[-1.0, 1.0]", "got [-1, 1]: f there is nan"),
        ("log(x) + y**2", "[0, 1]", "got [0, 1]: f there is -inf"),
        ("sqrt(x) + y**2", "[0, 1]", "got [0, 1]: the gradient there is (inf, 2)"),
    ],
)
def test_an_expression_start_where_f_is_not_finite_is_refused(tmp_path, expression, start, why):
    """Refused before any run of a race (gdlab.race.prepare); the file itself loads, as
    ``gdlab play`` takes such a start and says that f is not finite there."""
    from gdlab import race

    path = tmp_path / "e.toml"
    path.write_text(EXPRESSION.format(expression=expression, start=start))
    experiment = load(str(path))
    with pytest.raises(ConfigError) as error:
        race.prepare(experiment)
    message = str(error.value)
    assert "problem.start must be a point where f and its gradient are finite" in message
    assert why in message


def test_a_start_where_f_is_finite_is_kept():
    from gdlab import race

    experiment = builtin("bowl").with_problem(
        kind="expression", expression="log(x) + y**2", start=[0.5, 1.0]
    )
    assert list(experiment.problem.options["start"]) == [0.5, 1.0]
    race.prepare(experiment)


def test_a_built_in_functions_start_that_overflows_is_refused(tmp_path):
    from gdlab import race, tuning

    experiment = builtin("bowl").set("problem.start", [1e200, 1])
    with pytest.raises(ConfigError, match=r"got \[1e\+200, 1\]: f there is inf"):
        race.prepare(experiment)
    with pytest.raises(ConfigError, match=r"got \[1e\+200, 1\]: f there is inf"):
        tuning.tune(experiment, tmp_path / "T", budget=2, progress=False)
    assert not (tmp_path / "T").exists()


def test_the_playground_still_takes_such_a_start():
    """``gdlab play`` draws no path from it and says why (tests/test_play_round6.py)."""
    from gdlab.play import api

    body = {"expression": "sqrt(x) + y^2", "start": [-4, 3], "steps": 3,
            "runs": [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]}  # fmt: skip
    assert api.paths(body)


def test_the_command_line_says_it_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "e.toml"
    path.write_text(EXPRESSION.format(expression="log(x) + y**2", start="[-1.0, 1.0]"))
    code, _, err = gdlab(["race", "--config", str(path), "--no-figures", "--quiet"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "problem.start" in err
    assert "[-1, 1]" in err
    assert not (tmp_path / "gdlab-report").exists()


# --- 3: evaluate_every on a 2-D function ----------------------------------------------------


def test_a_functions_evaluate_every_is_said():
    words = _what_ran(builtin("bowl").set("training.evaluate_every", 7))
    assert "Training: 30 steps, f evaluated every 7 steps and at the end" in words
    assert "the best f is the lowest of those values" in words
    assert "evaluated" not in _what_ran(builtin("bowl"))


def test_a_data_experiment_made_a_function_drops_its_evaluate_every():
    moons = builtin("moons")
    assert moons.training.evaluate_every == 50
    function = moons.with_problem(kind="function", function="bowl")
    assert function.training.evaluate_every == 1
    assert "evaluated" not in _what_ran(function)
    # a function made another function keeps what was asked for it
    bowl = builtin("bowl").set("training.evaluate_every", 3)
    assert bowl.with_problem(function="rosenbrock").training.evaluate_every == 3


def test_the_command_line_drops_it_too(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = gdlab(
        ["race", "moons", "--set", "problem.kind=function", "--steps", "3", "--no-figures",
         "--quiet", "--out", "R"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    recorded = load(str(tmp_path / "R" / "results.json"))
    assert recorded.training.evaluate_every == 1


# --- 4: the start point as given --------------------------------------------------------------


def test_the_start_point_is_described_with_every_digit():
    bowl = builtin("bowl").set("problem.start", [0.12345678901, 2])
    assert "from (0.12345678901, 2)." in _what_ran(bowl)
    assert "from (-7, 2)." in _what_ran(builtin("bowl"))
    mine = builtin("bowl").with_problem(
        kind="expression", expression="x^2 + y^2", start=[1.0000001, -2.5]
    )
    assert "from (1.0000001, -2.5)." in _what_ran(mine)


# --- 12: a wrapper's rate, its inner optimizer, a preset's rate -------------------------------


def _run(optimizer, preset=None, **hp):
    return RunSpec("R", optimizer, preset=preset, hyperparameters=hp)


@pytest.mark.parametrize(
    ("run", "words"),
    [
        (_run("lookahead", inner={"optimizer": "adam", "lr": 0.3}, k=10),
         "lr 0.3 (inner adam's), inner adam, k 10"),
        (_run("average", inner={"optimizer": "sgd", "lr": 0.05}, mode="swa"),
         "lr 0.05 (inner sgd's), inner sgd, mode swa"),
        (_run("accumulate", inner={"optimizer": "adam", "beta1": 0.8}, every=4),
         "lr 0.001 (inner adam's default), inner adam (beta1 0.8), every 4"),
        (_run("lookahead"), "lr 0.001 (inner sgd's default)"),
        (_run("lookahead", inner={"optimizer": "adam", "preset": "book"}),
         "lr 0.001 (inner adam's book preset), inner adam (book preset)"),
        (_run("sam", base={"optimizer": "momentum", "momentum": 0.8}),
         "lr 0.001 (base momentum's default), base momentum (momentum 0.8)"),
        (_run("sam", base={"optimizer": "momentum"}, lr=0.1), "lr 0.1, base momentum"),
        (_run("lookahead", lr=0.2, inner={"optimizer": "adam", "lr": 0.3}),
         "lr 0.2, inner adam"),  # the wrapper's rate is the one that runs
        (_run("average", inner={"optimizer": "lookahead", "inner": {"optimizer": "sgd",
                                                                    "lr": 0.2}}),
         "lr 0.2 (inner lookahead's inner sgd's), inner lookahead (inner sgd)"),
        (_run("adam", "book"), "lr 0.001 (the book preset's); book preset"),
        (_run("adam", "book", lr=0.02), "lr 0.02; book preset"),
        (_run("adam"), "lr 0.001 (default)"),
        (_run("adam", "optax"), "lr 0.001 (default); optax preset"),  # optax sets no lr
    ],
)  # fmt: skip
def test_a_runs_settings_say_where_each_comes_from(run, words):
    assert hyperparameter_text(run) == words
    assert "{" not in hyperparameter_text(run)


def test_a_wrapper_in_a_report_names_its_inner_optimizer_in_words():
    experiment = builtin("bowl").replace(
        runs=(_run("lookahead", inner={"optimizer": "adam", "lr": 0.3}, k=10),)
    )
    description = text(experiment)["description"]
    assert "R (lookahead: lr 0.3 (inner adam's), inner adam, k 10)" in description
    assert "'optimizer'" not in description


# --- 15: each run's own length; a kind not registered -----------------------------------------


def _own_lengths(experiment, key):
    runs = tuple(
        dataclasses.replace(r, training={key: 20 + i}) for i, r in enumerate(experiment.runs)
    )
    return experiment.replace(runs=runs)


def test_no_shared_length_is_said_when_every_run_gives_its_own():
    words = _what_ran(_own_lengths(builtin("bowl"), "steps"))
    assert "30 steps" not in words
    assert "Training: each run for its own number of steps or epochs (given with it);" in words
    assert "SGD (sgd: lr 0.95; book preset), 20 steps" in words
    moons = _what_ran(_own_lengths(builtin("moons"), "epochs"))
    assert "2,000 epochs" not in moons
    assert "(given with it), on mini-batches of 64" in moons
    # one run of the shared length: the length is said
    one = builtin("bowl").set("sgd.steps", 40)
    assert "Training: 30 steps;" in _what_ran(one)


def test_an_unknown_problem_kind_says_to_register_it(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text(
        '[problem]\nkind = "mykind"\n[training]\nsteps = 3\n[[runs]]\noptimizer = "sgd"\n'
    )
    with pytest.raises(ExperimentError) as error:
        load(str(path))
    message = str(error.value)
    assert "problem.kind must be one of function, expression" in message
    assert "got 'mykind', which is not registered in this process" in message
    assert "import the module that registers it" in message
