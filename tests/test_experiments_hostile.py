"""The experiment model against a hostile user: every mistake named, nothing dropped.

Each test here failed before its fix: keys accepted and never used, values
silently dropped, models built in code left unchecked, round trips that crash,
``--set`` errors that do not name the ``--set``, and change lists that misstate
what ran. No training: only models are made.
"""

from __future__ import annotations

import json

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import Experiment, ProblemSpec, RunSpec, Training, builtin, load, parse_value
from gdlab.experiments.describe import text


def _data(**changes):
    data = {
        "name": "t",
        "problem": {"kind": "function", "function": "bowl"},
        "training": {"steps": 5},
        "runs": [{"optimizer": "adam", "lr": 0.1}],
    }
    data.update(changes)
    return data


def _moons(**changes):
    return _data(problem={"kind": "logreg", "data": "moons"}, **changes)


# --------------------------------------------------------------------------- training


def test_a_run_with_both_steps_and_epochs_is_refused_not_cut():
    with pytest.raises(ConfigError, match=r"runs\[0\].*one of steps and epochs.*steps=3, epochs=2"):
        Experiment.from_dict(_data(runs=[{"optimizer": "adam", "steps": 3, "epochs": 2}]))
    with pytest.raises(ConfigError, match="not both"):
        RunSpec("A", "adam", training={"epochs": 2}).with_training(steps=3, epochs=4)


def test_merging_both_steps_and_epochs_is_refused_not_cut():
    experiment = Experiment.from_dict(_data())
    with pytest.raises(ConfigError, match="one of steps and epochs, not both"):
        experiment.merge_training(steps=7, epochs=3)
    with pytest.raises(ConfigError, match="not both"):
        experiment.training.merge(steps=7, epochs=3)
    assert experiment.training.steps == 5  # a failed call changes nothing


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"steps": -5}, r"training\.steps must be an integer in \[1, 100000000\]; got -5"),
        ({"steps": "10"}, r"training\.steps must be an integer .*; got '10'"),
        ({"steps": True}, r"training\.steps must be an integer .*; got true"),  # TOML's spelling
        ({"steps": 3, "batching": "zzz"}, r"training\.batching must be one of .*; got 'zzz'"),
        ({"steps": 3, "evaluate_every": 0}, r"training\.evaluate_every .*; got 0"),
        ({"steps": 3, "epochs": 2}, "exactly one of steps and epochs"),
        ({}, "exactly one of steps and epochs"),
    ],
)
def test_training_built_in_code_is_checked_like_a_table(values, needle):
    with pytest.raises(ConfigError, match=needle):
        Training(**values)


def test_a_training_built_in_code_is_normalised_like_a_table():
    assert Training(steps=3, batch_size="full") == Training.from_table({"steps": 3})


def test_a_run_length_of_null_is_refused():
    # results.json may say "steps": null; a run override that means nothing is an error
    data = _moons(training={"epochs": 2}, runs=[{"optimizer": "adam", "steps": None}])
    with pytest.raises(ConfigError, match=r"steps must be an integer.*got None"):
        Experiment.from_dict(data)


@pytest.mark.parametrize("training", ["steps", [("steps", 1)], 3])
def test_a_run_training_that_is_not_a_table_is_named_as_such(training):
    with pytest.raises(ConfigError, match=r"training of run 'A' must be a table of batch_size"):
        RunSpec("A", "adam", training=training)


def test_a_full_batch_run_in_a_batched_experiment_round_trips_through_toml():
    experiment = Experiment.from_dict(
        _moons(
            training={"epochs": 2, "batch_size": 8},
            runs=[{"optimizer": "sgd", "batch_size": "full"}, {"optimizer": "adam"}],
        )
    )
    assert experiment.run_training(experiment.runs[0]).batch_size is None
    back = Experiment.from_toml(experiment.to_toml())
    assert back == experiment
    assert back.run_training(back.runs[0]).batch_size is None
    assert Experiment.from_dict(experiment.to_dict()) == experiment


# --------------------------------------------------------------------------- problem


@pytest.mark.parametrize(
    ("kind", "options", "needle"),
    [
        ("nope", {}, r"problem\.kind must be one of .*; got 'nope'"),
        ("function", {"function": "nope"}, r"problem\.function must be one of .*; got 'nope'"),
        ("function", {"function": "bowl", "zzz": 1}, "problem has unknown key 'zzz'"),
        ("function", [1], "problem options must be a table"),
        ("function", {"kind": "mlp"}, "problem options must be a table"),
    ],
)
def test_a_problem_built_in_code_is_checked_like_a_table(kind, options, needle):
    with pytest.raises(ConfigError, match=needle):
        ProblemSpec(kind, options)


def test_a_problem_built_in_code_gets_its_defaults():
    assert ProblemSpec("function", {}) == ProblemSpec.from_table({"kind": "function"})


# --------------------------------------------------------------------------- runs


def test_a_run_keeps_its_own_copy_of_nested_tables():
    data = _data(runs=[{"optimizer": "sgd", "lr": {"name": "cosine", "lr0": 0.1,
                                                    "decay_steps": 10}}])  # fmt: skip
    experiment = Experiment.from_dict(data)
    data["runs"][0]["lr"]["lr0"] = -3.0  # the caller's table changes later
    assert experiment.runs[0].lr["lr0"] == 0.1


def test_an_unknown_hyperparameter_names_its_table():
    with pytest.raises(ConfigError, match=r"runs\[0\]\.hyperparameters has unknown key 'steps'"):
        Experiment.from_dict(_data(runs=[{"optimizer": "adam", "hyperparameters": {"steps": 3}}]))
    data = _data(runs=[], optimizers={"names": ["adam"], "hyperparameters": {"adam": {"foo": 1}}})
    with pytest.raises(
        ConfigError, match=r"optimizers\.hyperparameters\.adam has unknown key 'foo'"
    ):
        Experiment.from_dict(data)


def test_a_wrapped_schedule_with_a_stray_key_is_refused():
    lr = {"schedule": {"name": "constant", "lr": 0.1}, "foo": 1}
    with pytest.raises(ConfigError, match="lr has unknown key 'foo' beside schedule"):
        Experiment.from_dict(_data(runs=[{"optimizer": "adam", "lr": lr}]))


def test_a_piecewise_rate_is_set_exactly():
    lr = {"name": "piecewise", "boundaries": [2], "values": [0.73, 0.073]}
    experiment = Experiment.from_dict(_data(runs=[{"optimizer": "sgd", "lr": lr}]))
    assert experiment.with_lr("sgd", 0.7639).runs[0].lr["values"][0] == 0.7639


# --------------------------------------------------------------------------- [optimizers]


def test_an_optimizers_preset_without_names_is_refused():
    with pytest.raises(ConfigError, match=r"optimizers\.preset = 'book' is unused"):
        Experiment.from_dict(_data(optimizers={"preset": "book"}))
    with pytest.raises(ConfigError, match=r"optimizers\.preset must be one of .*; got 'zzz'"):
        Experiment.from_dict(_data(optimizers={"preset": "zzz"}))


def test_a_bad_optimizers_preset_is_named_where_it_was_written():
    data = _data(runs=[], optimizers={"names": ["adam"], "preset": "nope"})
    with pytest.raises(ConfigError, match=r"experiment: optimizers\.preset must be one of"):
        Experiment.from_dict(data)


@pytest.mark.parametrize("key", ["lr", "hyperparameters"])
def test_one_optimizer_named_twice_in_an_optimizers_table_is_refused(key):
    value = 0.5 if key == "lr" else {"beta1": 0.5}
    other = 0.6 if key == "lr" else {"beta1": 0.6}
    data = _data(runs=[], optimizers={"names": ["adam"], key: {"adam": value, "ADAM": other}})
    with pytest.raises(ConfigError, match=rf"optimizers\.{key} names 'adam' twice"):
        Experiment.from_dict(data)


def test_an_optimizers_lr_given_twice_is_refused():
    data = _data(
        runs=[],
        optimizers={"names": ["adam"], "lr": {"adam": 0.5},
                    "hyperparameters": {"adam": {"lr": 0.6}}},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="lr of adam twice"):
        Experiment.from_dict(data)


def test_an_optimizers_name_given_twice_is_named_there():
    data = _data(runs=[], optimizers={"names": ["adam", "sgd", "Adam"]})
    with pytest.raises(ConfigError, match=r"optimizers\.names names 'adam' twice"):
        Experiment.from_dict(data)


def test_an_optimizers_name_that_is_not_a_string_is_named_by_its_index():
    data = _data(runs=[], optimizers={"names": ["adam", 3]})
    with pytest.raises(ConfigError, match=r"optimizers\.names\[1\] must be one of .*; got 3"):
        Experiment.from_dict(data)


# --------------------------------------------------------------------------- top level


def test_based_on_must_name_a_builtin_experiment():
    with pytest.raises(ConfigError, match=r"f\.toml: based_on must be a built-in .*'nope'"):
        Experiment.from_dict(_data(based_on="nope"), "f.toml")


def test_a_name_error_says_it_must_start_with_a_letter_or_digit():
    with pytest.raises(ConfigError, match=r"starting with a letter or a digit.*'_x'"):
        Experiment.from_dict(_data(name="_x"))


@pytest.mark.parametrize(("stem", "name"), [("_draft", "draft"), ("__", "experiment")])
def test_a_file_without_a_name_is_named_after_its_file_even_with_underscores(tmp_path, stem, name):
    path = tmp_path / f"{stem}.toml"
    path.write_text('[problem]\nkind = "function"\n[training]\nsteps = 3\n[[runs]]\n'
                    'optimizer = "adam"\n', encoding="utf-8")  # fmt: skip
    assert load(path).name == name


def test_a_results_file_with_an_upper_case_suffix_is_read_as_json(tmp_path):
    experiment = Experiment.from_dict(_data())
    path = tmp_path / "results.JSON"
    path.write_text(
        json.dumps({"schema": "gdlab.results/1", "config": experiment.to_dict()}), encoding="utf-8"
    )
    assert load(path) == experiment


# --------------------------------------------------------------------------- --set


@pytest.mark.parametrize("text", ["1\nz = 3", "0.1 \n w = 1"])
def test_a_set_value_with_more_after_it_is_not_cut_to_its_first_value(text):
    assert parse_value(text) == text.strip()


def test_a_selector_naming_a_label_and_another_optimizer_is_refused():
    experiment = Experiment.from_dict(
        _data(runs=[{"optimizer": "sgd", "label": "Adam"}, {"optimizer": "adam", "label": "A2"}])
    )
    with pytest.raises(ConfigError, match=r"'adam' names two things.*'Adam'.*'A2'"):
        experiment.set("adam.lr", 0.5)
    with pytest.raises(ConfigError, match="names two things"):
        experiment.with_lr("adam", 0.5)
    # Labels of the optimizer's own runs name nothing else: the name sets them all.
    same = Experiment.from_dict(_data(runs=[{"optimizer": "sgd", "label": "SGD"},
                                            {"optimizer": "sgd", "label": "SGD 2"}]))  # fmt: skip
    assert [run.lr for run in same.set("sgd.lr", 0.5).runs] == [0.5, 0.5]


def test_the_longest_dotted_label_is_the_one_set():
    experiment = Experiment.from_dict(
        _data(
            runs=[{"optimizer": "sgd", "label": "c 0.1"}, {"optimizer": "sgd", "label": "c 0.1.5"}]
        )
    )
    changed = experiment.set("c-0.1.5.lr", 0.3)
    assert changed.runs[1].lr == 0.3
    assert changed.runs[0] == experiment.runs[0]


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [
        ("adam.beta1", -0.5, r"^--set adam\.beta1=-0\.5: runs\[3\] \(Adam\): beta1 must be"),
        ("training.nope", 1, r"^--set training\.nope=1: training has unknown key 'nope'"),
        ("adam.steps", -3, r"^--set adam\.steps=-3: run 'Adam': steps must be"),
        ("seeds", 2.0, r"^--set seeds=2\.0: seeds must be an integer"),
    ],
)
def test_a_set_error_names_the_set(path, value, needle):
    with pytest.raises(ConfigError, match=needle):
        builtin("bowl").set(path, value, where=f"--set {path}={value}")


def test_a_set_key_error_lists_every_top_level_key_set_takes():
    bowl = builtin("bowl")
    assert bowl.set("description", "mine").description == "mine"
    with pytest.raises(ConfigError, match="KEY must be seeds, name, title, description, problem"):
        bowl.set("based_on", "boston")


def test_an_lr_error_names_the_lr():
    with pytest.raises(ConfigError, match=r"^--lr adam=-1: runs\[3\] \(Adam\): lr must be"):
        builtin("bowl").with_lr("adam", -1.0, where="--lr adam=-1")


# --------------------------------------------------------------------------- what changed


def test_a_change_shows_every_digit():
    bowl = builtin("bowl")
    changes = bowl.with_lr("adam", 0.1234568).changes_from(bowl.with_lr("adam", 0.1234567))
    assert changes == ["Adam: lr: 0.1234567 → 0.1234568"]


def test_a_dropped_run_override_is_described_by_what_the_run_uses():
    boston = builtin("boston")
    changes = boston.set("training.batch_size", 10).changes_from(boston)
    assert "training.batch_size: full → 10" in changes
    # the label stated the batch: the run is relabelled, and says both changes
    new = "SGD (batch 10 at random, lr 0.01)"
    assert f"{new}: label: SGD (1 sample) → {new}" in changes
    assert "SGD (batch 10 at random, lr 0.01): batch_size: 1 → 10" in changes
    assert not [line for line in changes if "default" in line]


def test_a_description_shows_hyperparameters_as_given():
    bowl = builtin("bowl")
    words = text(bowl.with_lr("adam", 0.12345).with_lr("sgd", 0.12346))
    assert "lr 0.12345" in words["description"]
    assert "lr 0.12346" in words["description"]


def test_changes_from_a_base_without_a_name_say_experiment():
    bowl = builtin("bowl")
    mine = bowl.set("training.steps", 40).replace(based_on=None)
    words = text(mine, base=bowl.replace(based_on=None, name="mine"))
    assert "Changed from the experiment mine: training.steps: 30 → 40." in words["description"]


def test_an_array_field_says_the_range_of_each_element():
    # hidden = [0] was refused as "must be an array of integers", which [0] is
    text = """
name = "x"
[problem]
kind = "mlp"
data = "moons"
hidden = [0]
[training]
epochs = 1
[[runs]]
optimizer = "sgd"
lr = 0.1
"""
    with pytest.raises(
        ValueError, match=r"hidden must be an array of integers, each in \[1, 100000\]"
    ):
        Experiment.from_toml(text)
