"""Round 10 of the experiment model and its command line: changes taken together,
``--batch-size full``, dates typed as text, ``[optimizers]`` labels, a tuned
report run again, labels in run order, labels holding ``=``, errors from Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdlab import cli
from gdlab._checks import ConfigError
from gdlab.experiments import Experiment, builtin, parse_value

DOCS = Path(__file__).parent.parent / "docs" / "experiments.md"


def _experiment(argv: list[str]) -> Experiment:
    args = cli.build_parser().parse_args(["race", *argv])
    return cli._experiment(args)[0]


def _error(argv: list[str]) -> str:
    with pytest.raises((ConfigError, cli.UsageError)) as error:
        _experiment(argv)
    return str(error.value)


def _docs_file(tmp_path: Path) -> Path:
    """docs/experiments.md's "A file" example, saved as it is."""
    text = DOCS.read_text(encoding="utf-8").split("## A file\n\n```toml\n", 1)[1]
    path = tmp_path / "my.toml"
    path.write_text(text.split("```", 1)[0], encoding="utf-8")
    return path


# ----------------------------------------------------------------- 1. one change, any order


@pytest.mark.parametrize(
    "order",
    [
        ["training.batching=random", "training.batch_size=8"],
        ["training.batch_size=8", "training.batching=random"],
    ],
)
def test_a_random_batching_and_a_batch_size_are_taken_in_either_order(order):
    sets = [arg for item in order for arg in ("--set", item)]
    experiment = _experiment(["boston", *sets])
    assert (experiment.training.batch_size, experiment.training.batching) == (8, "random")


@pytest.mark.parametrize(
    "order",
    [
        ["training.batching=random", "training.batch_size=full"],
        ["training.batch_size=full", "training.batching=random"],
    ],
)
def test_a_random_batching_and_a_full_batch_are_still_refused_in_either_order(order):
    sets = [arg for item in order for arg in ("--set", item)]
    text = _error(["boston", "--steps", "5", *sets])
    assert "training.batching = 'random' needs a batch_size" in text
    assert text.startswith(f"--set {order[0]} --set {order[1]}: ")  # not --steps


def test_together_checks_once_at_the_end_and_a_step_error_names_the_step():
    boston = builtin("boston")
    changed = boston.together(
        [lambda e: e.set("training.batching", "random"), lambda e: e.set("training.batch_size", 8)]
    )
    assert changed.training.batching == "random"
    with pytest.raises(ConfigError, match=r"^mine: .*needs a batch_size"):
        boston.together(
            [lambda e: e.set("training.batching", "random"),
             lambda e: e.set("training.batch_size", "full")],
            where="mine",
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^step: .*beta1"):
        builtin("bowl").together([lambda e: e.set("adam.beta1", 1.5, where="step")])
    assert builtin("boston") == boston


# ----------------------------------------------------------------- 2. --batch-size full


def test_batch_size_full_is_the_set_shorthand():
    by_flag = _experiment(["mnist", "--batch-size", "full"])
    by_set = _experiment(["mnist", "--set", "training.batch_size=full"])
    assert by_flag.training == by_set.training
    assert (by_flag.training.batch_size, by_flag.training.batching) == (None, "epoch")
    assert _experiment(["mnist", "--batch-size", "8"]).training.batch_size == 8


def test_batch_size_names_full_in_its_error_and_help(capsys):
    text = _error(["mnist", "--batch-size", "fulll"])
    assert "--batch-size must be an integer" in text
    assert "'full'" in text
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["race", "--help"])
    assert "'full'" in capsys.readouterr().out


# ----------------------------------------------------------------- 3. dates are text


@pytest.mark.parametrize("text", ["2024-06-01", "12:30:00", "1979-05-27T07:32:00"])
def test_a_toml_date_or_time_is_the_text_typed(text):
    assert parse_value(text) == text
    experiment = _experiment(["bowl", "--set", f"title={text}", "--set", f"sgd.label={text}"])
    assert experiment.title == text
    assert experiment.runs[0].label == text


def test_no_error_shows_a_python_date():
    text = _error(["bowl", "--set", "seeds=2024-06-01"])
    assert "'2024-06-01'" in text
    assert "datetime" not in text
    assert parse_value("[2024-06-01]") == ["2024-06-01"]
    with pytest.raises(ConfigError) as error:
        Experiment.from_toml(
            'title = 2024-06-01\n[problem]\nkind = "function"\n[training]\nsteps = 1\n'
            '[[runs]]\noptimizer = "sgd"\n'
        )
    assert "the date 2024-06-01" in str(error.value)
    assert "datetime" not in str(error.value)


# ----------------------------------------------------------------- 4. [optimizers] labels


@pytest.mark.parametrize(
    "change", [["--lr", "adam=0.1"], ["--set", "adam.beta1=0.8"], ["--set", "Adam.beta1=0.8"]]
)
def test_an_optimizer_name_sets_every_run_of_it_beside_a_generated_label(tmp_path, change):
    experiment = _experiment(["--config", str(_docs_file(tmp_path)), *change])
    adams = [r for r in experiment.runs if r.optimizer == "adam"]
    assert len(adams) == 2
    key, value = ("lr", 0.1) if change[0] == "--lr" else ("beta1", 0.8)
    assert [r.hyperparameters[key] for r in adams] == [value, value]


def test_a_label_naming_another_optimizer_is_still_ambiguous():
    experiment = Experiment.from_dict({
        "problem": {"kind": "function"}, "training": {"steps": 3},
        "runs": [{"optimizer": "sgd", "label": "Adam"}, {"optimizer": "adam", "label": "A2"}],
    })  # fmt: skip
    with pytest.raises(ConfigError, match="names two things"):
        experiment.set("adam.lr", 0.5)


# ----------------------------------------------------------------- 5. a tuned report again


def test_the_tuned_words_are_kept_in_the_config_and_read_back():
    from gdlab.experiments.model import TOP_KEYS

    assert "tuned" in TOP_KEYS
    words = "Tuned settings from t: SGD lr 0.5."
    experiment = builtin("bowl").replace(tuned=words)
    data = experiment.to_dict()
    assert data["tuned"] == words
    again = Experiment.from_dict(json.loads(json.dumps(data)))
    assert again.tuned == words
    assert again.key() == builtin("bowl").key()  # words, not what decides the results
    assert "tuned" not in builtin("bowl").to_dict()
    with pytest.raises(ConfigError, match="tuned must be a string; got 3"):
        builtin("bowl").replace(tuned=3)


def test_a_tuned_config_run_again_says_so_and_goes_to_its_folder(tmp_path, monkeypatch):
    from gdlab import race

    seen = {}

    def fake(experiment, out, *, text, **_):
        seen.update(title=text["title"], description=text["description"], out=out)
        raise KeyboardInterrupt  # nothing written past here

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(race, "run_experiment", fake)
    words = "Tuned settings from somewhere: SGD lr 0.5."
    experiment = builtin("bowl").select_optimizers(["sgd"]).replace(tuned=words)
    (tmp_path / "r.toml").write_text(experiment.to_toml(), encoding="utf-8")
    cli.main(["race", "--config", "r.toml", "--no-figures", "--quiet", "--workers", "1"])
    assert seen["title"].endswith(" (tuned)")
    assert "Tuned settings from somewhere: SGD lr 0.5." in seen["description"]
    # words alone name no tuning (no tuned_from, not gdlab's "from DIR (" words): they
    # are shown as given, with no word of a tuning's comparison to rebuild (round 13)
    assert seen["description"].endswith("Tuned settings from somewhere: SGD lr 0.5.")
    assert "could not be rebuilt" not in seen["description"]
    assert "bowl-tuned" in str(seen["out"])
    seen.clear()
    cli.main(["race", "--config", "r.toml", "--lr", "sgd=0.3", "--no-figures", "--quiet"])
    assert "(tuned)" not in seen["title"]
    assert "Tuned" not in seen["description"]


# ----------------------------------------------------------------- 6. labels in run order


def test_labels_are_numbered_in_run_order_however_many_changes():
    one = _experiment(["boston", "--set", "training.batching=random", "--batch-size", "8"])
    two = _experiment(["boston", "--batch-size", "8", "--set", "training.batching=random"])
    label = "SGD (batch 8 at random, lr 0.01)"
    expected = [label, f"{label} (2)", f"{label} (3)"]
    assert [r.label for r in one.runs] == [r.label for r in two.runs] == expected


# ----------------------------------------------------------------- 7. a label with '='


def test_a_label_holding_an_equals_sign_is_typed_as_shown(tmp_path):
    path = str(_docs_file(tmp_path))
    shown = _experiment(["--config", path, "--set", "Adam, β1 = 0.5.beta1=0.7"])
    as_file = _experiment(["--config", path, "--set", "adam-β1-0.5.beta1=0.7"])
    assert shown == as_file
    assert [r.hyperparameters.get("beta1") for r in shown.runs if r.optimizer == "adam"] == [
        None,
        0.7,
    ]


# ----------------------------------------------------------------- 8. errors from Python


def test_errors_from_python_do_not_name_a_command_line_flag():
    bowl = builtin("bowl")
    for call in (
        lambda: bowl.set("adam.beta1", 1.5),
        lambda: bowl.set("nope.lr", 0.1),
        lambda: bowl.with_lr("adam", -1.0),
    ):
        with pytest.raises(ConfigError) as error:
            call()
        assert "--" not in str(error.value)
    with pytest.raises(ConfigError, match=r"^adam\.beta1: "):
        bowl.set("adam.beta1", 1.5)
    with pytest.raises(ConfigError, match=r"^--set adam\.beta1=1\.5: "):
        _experiment(["bowl", "--set", "adam.beta1=1.5"])


# ----------------------------------------------------------------- 9. review of round 10


def _validation_file(tmp_path: Path) -> Path:
    """mnist with a validation part, evaluated on it."""
    experiment = (
        builtin("mnist")
        .set("problem.validation_size", 0.1)
        .set("training.validation", "validation")
    )
    path = tmp_path / "v.toml"
    path.write_text(experiment.to_toml(), encoding="utf-8")
    return path


def test_the_final_check_names_the_problem_changes_it_compares(tmp_path):
    path = str(_validation_file(tmp_path))
    text = _error(["--config", path, "--set", "problem.validation_size=0", "--batch-size", "8"])
    assert "training.validation must name a part of the data" in text
    assert "--set problem.validation_size=0" in text.split(": ")[0]
    text = _error(["mnist", "--set", "problem.kind=function", "--batch-size", "8"])
    assert "must be left out for a 2-D function" in text
    assert "--set problem.kind=function" in text.split(": ")[0]
    assert "--batch-size 8" in text.split(": ")[0]


def test_a_tuned_experiment_says_so_from_python_too(tmp_path):
    from gdlab import race
    from gdlab.experiments.describe import recorded, text

    words = "Tuned settings from t: SGD lr 0.5."
    experiment = (
        builtin("bowl").select_optimizers(["sgd"]).set("training.steps", 2).replace(tuned=words)
    )
    said = text(experiment)
    assert said["title"].endswith(" (tuned)")
    assert said["description"].endswith(words)
    assert recorded(experiment, said).tuned == words
    document = race.run_experiment(experiment, tmp_path / "out", figures=False, progress=False)
    written = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert written["title"].endswith(" (tuned)")
    assert words in written["description"]
    assert written["config"]["tuned"] == words
    assert document is not None
    # a change to its runs makes the words untrue: dropped (and not recorded) ...
    changed = experiment.with_lr("sgd", 0.3)
    said = text(changed, base=experiment, read=experiment)
    assert "(tuned)" not in said["title"]
    assert words not in said["description"]
    assert "tuned" in said["dropped"]
    assert recorded(changed, said).tuned == ""
    # ... while fresh words (a new --tuned) stand
    fresh = changed.replace(tuned="Tuned settings from u: SGD lr 0.3.")
    said = text(fresh, base=experiment, read=experiment)
    assert said["title"].endswith(" (tuned)")
    assert "tuned" not in said["dropped"]


FILE = '[problem]\nkind = "function"\n{problem}[training]\nsteps = {steps}\n[[runs]]\n{run}'


@pytest.mark.parametrize(
    ("problem", "steps", "run", "shown"),
    [
        ("", "2024-06-01", 'optimizer = "sgd"\n', "got the date 2024-06-01"),
        ("function = 2024-06-01\n", "1", 'optimizer = "sgd"\n', "got the date 2024-06-01"),
        ("", "1", 'optimizer = "sgd"\nlr = 12:30:00\n', "got the time 12:30:00"),
        ("", "1", "optimizer = 2024-06-01\n", "got the date 2024-06-01"),
        ("", "1", 'optimizer = "adam"\nbeta1 = 1979-05-27T07:32:00\n',
         "got the date and time 1979-05-27T07:32:00"),
        ("start = [2024-06-01, 1]\n", "1", 'optimizer = "sgd"\n', "got [2024-06-01, 1]"),
    ],
)  # fmt: skip
def test_a_files_date_or_time_is_named_as_written(problem, steps, run, shown):
    with pytest.raises(ConfigError) as error:
        Experiment.from_toml(FILE.format(problem=problem, steps=steps, run=run))
    text = str(error.value)
    assert shown in text
    assert "datetime" not in text
    assert "(time)" not in text
    assert "(date)" not in text


def test_a_label_holding_an_equals_sign_is_quoted_as_typed(tmp_path):
    path = str(_docs_file(tmp_path))
    text = _error(["--config", path, "--set", "Adam, β1 = 0.5.beta1=1.5"])
    assert text.startswith("--set Adam, β1 = 0.5.beta1=1.5: ")
    assert "beta1 must be in [0, 1); got 1.5" in text
    for empty in ("Adam, β1 = 0.5.beta1=", "Adam, β1 = 0.5.beta1=  "):
        text = _error(["--config", path, "--set", empty])
        assert "beta1 has no value" in text
        assert "''" not in text


def test_together_defers_the_checks_of_its_own_experiment_only():
    boston = builtin("boston")
    made = []

    def step(experiment: Experiment) -> Experiment:
        with pytest.raises(ConfigError, match="needs a batch_size"):
            made.append(boston.set("training.batching", "random"))  # another experiment
        return experiment.set("training.batching", "random")

    changed = boston.together([step, lambda e: e.set("training.batch_size", 8)])
    assert (changed.training.batching, changed.training.batch_size) == ("random", 8)
    assert made == []


def test_together_checks_the_experiment_once_at_its_end(monkeypatch):
    calls = []
    check = Experiment._check_training

    def counted(self, where):
        calls.append(where)
        return check(self, where)

    boston = builtin("boston")
    monkeypatch.setattr(Experiment, "_check_training", counted)
    changed = boston.together(
        [lambda e: e.set("training.batching", "random"), lambda e: e.set("training.batch_size", 8)]
    )
    assert [r.label for r in changed.runs] != [r.label for r in boston.runs]  # relabelled
    assert len(calls) == 1
