"""A user's test of the experiment model, round 6: what a report records, the data's
parts, keys that mean nothing, changes made together, and errors that name their source."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cli_run import gdlab
from gdlab import cli
from gdlab._checks import ConfigError
from gdlab.experiments import Experiment, builtin
from gdlab.experiments.describe import text

QUICK = ["--quiet", "--no-figures"]

OWN = """\
name = "own"
title = "Rosenbrock, 200 steps"
description = "Each optimizer runs 200 steps from (-1.5, 2)."
[problem]
kind = "function"
function = "rosenbrock"
start = [-1.5, 2.0]
[training]
steps = 200
[optimizers]
preset = "book"
names = ["sgd", "adam"]
lr = { sgd = 0.001, adam = 0.02 }
"""


def usage_error(code, out, err, *words):
    assert code == 2, (code, out, err)
    assert err.startswith("gdlab: error: "), err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def results(directory: str) -> dict:
    return json.loads((Path(directory) / "results.json").read_text())


# --------------------------------------------------------------------------- what is recorded


def test_running_a_results_json_again_does_not_bring_back_text_the_changes_made_untrue(cwd, capsys):
    Path("own.toml").write_text(OWN)
    code, _, err = gdlab(["race", "--config", "own.toml", "--steps", "5", *QUICK, "--out", "a"],
                         capsys)  # fmt: skip
    assert code == 0, err
    first = results("a")
    assert first["title"] == "SGD and Adam on rosenbrock"
    assert "200 steps" not in first["description"]
    assert "title" not in first["config"]
    assert "description" not in first["config"]

    code, _, err = gdlab(["race", "--config", "a/results.json", *QUICK, "--out", "b"], capsys)
    assert code == 0, err
    again = results("b")
    assert again["title"] == first["title"]
    assert "200 steps" not in again["description"]
    assert "5 steps" in again["description"]


def test_text_written_for_the_experiment_is_recorded():
    base = Experiment.from_toml(OWN)
    unchanged = text(base, base=base)
    assert unchanged["dropped"] == []
    assert unchanged["title"] == base.title
    titled = base.set("title", "Mine").merge_training(steps=5)
    words = text(titled, base=base, read=base.set("title", "x"))
    assert words["title"] == "Mine"
    assert words["dropped"] == ["description"]


# --------------------------------------------------------------------------- the data's parts


@pytest.mark.parametrize("name", ["boston", "moons"])
def test_a_validation_split_the_data_lacks_is_refused_when_the_experiment_is_made(name):
    with pytest.raises(ConfigError, match=r"training set only: leave validation out\); got 'test'"):
        builtin(name).set("training.validation", "test")


def test_mnist_validation_needs_a_validation_part():
    mnist = builtin("mnist")
    with pytest.raises(ConfigError, match=r"set problem.validation_size > 0\); got 'validation'"):
        mnist.set("training.validation", "validation")
    with_part = mnist.set("problem.validation_size", 0.1).set("training.validation", "validation")
    assert with_part.problem.splits() == ("train", "validation", "test")
    assert builtin("bowl").problem.splits() == ()


def test_the_cli_refuses_a_missing_split_with_exit_2(cwd, capsys):
    code, out, err = gdlab(["race", "boston", "--set", "training.validation=test", *QUICK],
                           capsys)  # fmt: skip
    usage_error(code, out, err, "--set training.validation=test", "leave validation out")
    assert list(cwd.iterdir()) == []


# --------------------------------------------------------------------------- keys that mean nothing


def test_batching_is_refused_where_it_means_nothing():
    with pytest.raises(ConfigError, match="batching must be left out for a 2-D function"):
        builtin("bowl").set("training.batching", "random")
    with pytest.raises(ConfigError, match="batching = 'random' needs a batch_size"):
        builtin("boston").set("training.batching", "random")


def test_a_full_batch_puts_batching_back_to_its_default():
    mnist = builtin("mnist")
    assert mnist.training.batching == "random"
    full = mnist.set("training.batch_size", "full")
    assert full.training.batch_size is None
    assert full.training.batching == "epoch"


# --------------------------------------------------------------------------- problem changes


def test_problem_keys_change_together_on_the_command_line(cwd, capsys):
    code, _, err = gdlab(["race", "bowl", "--set", "problem.kind=logreg", "--set",
                          "problem.data=moons", "--epochs", "2", *QUICK, "--out", "r"],
                         capsys)  # fmt: skip
    assert code == 0, err
    assert results("r")["config"]["problem"]["kind"] == "logreg"


def test_a_function_problem_after_data_drops_the_batches():
    function = builtin("moons").with_problem(kind="function")
    assert function.training.batch_size is None
    assert function.training.validation is None
    assert function.problem.kind == "function"


def test_setting_a_key_to_the_value_it_has_changes_nothing():
    own = Experiment.from_toml(OWN)
    assert own.set("problem.function", "rosenbrock").problem == own.problem
    moons = builtin("moons").set("problem.n_samples", 50)
    assert moons.set("problem.data", "moons").problem.options["n_samples"] == 50
    assert own.set("problem.function", "beale").problem.options["start"] is None


def test_the_changes_list_only_real_changes():
    bowl = builtin("bowl")
    assert bowl.set("problem.start", [-7, 2]).changes_from(bowl) == []
    assert bowl.set("problem.function", "beale").changes_from(bowl) == [
        "problem.function: bowl → beale",
        "problem.start: [-7, 2] → [1, 1.5]",
    ]
    (line,) = bowl.with_problem(kind="mlp", data="moons").changes_from(bowl)
    assert line.startswith("problem: bowl: ")
    assert "two-moons" in line
    assert "default" not in line


# ------------------------------------------------------------------- errors name their source


def test_errors_with_the_data_name_the_experiment_and_the_flags(cwd, capsys):
    code, out, err = gdlab(["race", "moons", "--set", "problem.n_samples=10", "--epochs", "2",
                            *QUICK], capsys)  # fmt: skip
    usage_error(code, out, err, "built-in experiment moons with --epochs 2 --set "
                "problem.n_samples=10: training.batch_size must be at most the 10")  # fmt: skip
    code, out, err = gdlab(["race", "moons", "--set", "problem.data=digits", *QUICK], capsys)
    usage_error(code, out, err, "--set problem.data=digits: problem: output must be 'softmax'")
    code, out, err = gdlab(["race", "mnist", "--data", "/no/such/folder", *QUICK], capsys)
    usage_error(code, out, err, "--data /no/such/folder: problem: MNIST directory not found")
    assert list(cwd.iterdir()) == []


def test_a_schedule_in_optimizers_lr_is_named_by_that_table():
    schedule = '{ name = "cosine", lr0 = 0.1, decay_steps = 9, foo = 2 }'
    toml = OWN.replace("lr = { sgd = 0.001, adam = 0.02 }", f"lr = {{ adam = {schedule} }}")
    with pytest.raises(ConfigError, match=r"^own.toml: optimizers \(Adam\): an argument"):
        Experiment.from_toml(toml, "own.toml")


@pytest.mark.parametrize(
    ("line", "home"),
    [('name = "zz"', "the top level"), ("hidden = [3]", "[problem]"),
     ('function = "beale"', "[problem]")],
)  # fmt: skip
def test_a_key_under_the_wrong_header_is_named_with_its_table(line, home):
    toml = OWN.replace("steps = 200", f"steps = 200\n{line}")
    with pytest.raises(ConfigError, match=f"belongs in {home}".replace("[", r"\[")):
        Experiment.from_toml(toml, "own.toml")


def test_a_runs_optimizer_is_not_a_setting():
    with pytest.raises(ConfigError, match="not changed in place; choose the runs with"):
        builtin("bowl").set("adam.optimizer", "nadam")


def test_lr_takes_a_schedule_table_and_errors_quote_what_was_typed(cwd, capsys):
    code, _, err = gdlab(["race", "bowl", "--steps", "3", "--lr",
                          'sgd={name = "cosine", lr0 = 0.1, decay_steps = 100}', *QUICK,
                          "--out", "s"], capsys)  # fmt: skip
    assert code == 0, err
    run = next(r for r in results("s")["config"]["runs"] if r["optimizer"] == "sgd")
    assert run["hyperparameters"]["lr"]["name"] == "cosine"
    code, out, err = gdlab(["race", "bowl", "--lr", 'sgd={name = "cosin", lr0 = 0.1}', *QUICK],
                           capsys)  # fmt: skip
    usage_error(code, out, err, '--lr sgd={name = "cosin", lr0 = 0.1}:', "schedule name")


# --------------------------------------------------------------------------- the words


def test_the_description_names_the_split_seed_and_the_evaluations():
    moons = builtin("moons")
    words = text(moons.set("problem.split_seed", 4), base=moons)["description"]
    assert "split_seed 4" in words
    assert "evaluated every 50 epochs and at the end" in words
    assert "evaluated on the test set every 4 epochs" in text(builtin("mnist"))["description"]


# --------------------------------------------------------------------------- tune's checks


def test_a_batch_larger_than_a_folds_training_part_is_refused_before_any_task(cwd, capsys):
    argv = ["tune", "moons", "--steps", "5", "--batch-size", "250", "--budget", "2", "--folds",
            "2", "--optimizers", "sgd", "--quiet", "--out", "T"]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    usage_error(code, out, err, "--folds 2 (2 folds): training.batch_size must be at most the 150")
    assert list(cwd.iterdir()) == []


def test_a_tune_whose_tasks_raised_exits_1_naming_the_error(cwd, capsys, monkeypatch):
    from gdlab import tuning

    def broken(**kwargs):
        raise ValueError("a bug in the task")

    monkeypatch.setattr(tuning, "tune_task", broken)
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--optimizers", "sgd", "--quiet",
            "--out", "T"]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    assert code == 1, err
    assert "T/tune.json" in out
    assert err.count("\n") == 1, err
    assert "failed and were not scored" in err
    assert "ValueError: a bug in the task" in err


def test_a_run_that_only_changed_its_label_is_listed_as_changed_not_left_out_and_added():
    import dataclasses

    schedules = builtin("schedules")
    runs = list(schedules.runs)
    runs[4] = dataclasses.replace(runs[4].with_lr(1.0), label="1/√t · 1")
    changes = schedules.replace(runs=tuple(runs)).changes_from(schedules)
    assert "1/√t · 1: label: 1/√t → 1/√t · 1" in changes
    assert not any(line.startswith(("runs left out", "runs added")) for line in changes)


@pytest.mark.parametrize("existing", [False, True])
def test_a_tune_interrupted_before_any_task_says_nothing_was_written(
    cwd, capsys, monkeypatch, existing
):
    """Into an empty --out that was there before, it said "run the same command again
    to resume", though there was nothing to resume; the directory stays, empty."""
    from gdlab import sweep

    def interrupted(fn, tasks, out, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    if existing:
        Path("T").mkdir()
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--optimizers", "sgd", "--quiet",
            "--out", "T"]  # fmt: skip
    code, _, err = gdlab(argv, capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert err == "gdlab: interrupted; no task had finished (nothing was written)\n"
    assert Path("T").exists() == existing
    assert not existing or list(Path("T").iterdir()) == []


# --------------------------------------------------------------------------- round 6, data


def test_a_file_is_named_as_a_file_and_a_flag_as_typed(cwd, capsys):
    code, _, err = gdlab(["race", "moons", "--epochs", "2", *QUICK, "--out", "m"], capsys)
    assert code == 0, err
    code, out, err = gdlab(["race", "--config", "m/results.json", "--set",
                            "problem.n_samples=10", *QUICK], capsys)  # fmt: skip
    usage_error(code, out, err, "error: m/results.json with --set problem.n_samples=10:")
    assert "built-in" not in err
    code, out, err = gdlab(["race", "mnist", "--function", "beale", *QUICK], capsys)
    usage_error(code, out, err, "error: --function beale: problem has unknown key 'function'")


def test_data_is_stored_as_an_absolute_path_and_described_without_sizes_it_does_not_know(
    cwd, capsys
):
    from gdlab.data.idx import write_idx

    rng = np.random.default_rng(0)
    Path("idx").mkdir()
    for name, n in (("train", 60), ("t10k", 20)):
        write_idx(
            f"idx/{name}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        )
        write_idx(f"idx/{name}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    argv = ["race", "mnist", "--data", "idx", "--steps", "2", "--batch-size", "8",
            "--optimizers", "sgd", *QUICK, "--out", "r"]  # fmt: skip
    code, _, err = gdlab(argv, capsys)
    assert code == 0, err
    document = results("r")
    assert document["config"]["problem"]["directory"] == str(cwd / "idx")
    assert "60,000" not in document["description"]
    assert "their training images to train; their test images to test" in document["description"]
    Path("elsewhere").mkdir()
    os.chdir("elsewhere")
    code, _, err = gdlab(["race", "--config", "../r/results.json", *QUICK, "--out", "again"],
                         capsys)  # fmt: skip
    assert code == 0, err


def test_no_boston_features_says_at_least_one():
    with pytest.raises(ConfigError, match=r"features must name at least one column; got \[\]"):
        builtin("boston").set("problem.features", [])
