"""Round 11 of tuning: what ``gdlab tune`` and ``gdlab race --tuned`` say and reuse.

Each test pins a fixed bug: ``--tune decay`` shown under the name asked for (F7), a
race's seed count that re-ran every task (F2), an empty sensitivity plot without a
tuned rate (F4), a bound told apart from widening that gave up (F5), the default's
score on the metric that chose and a two-sided "within 10%" (F3, F8), a changed problem
named by its differences (F1), what no tuning task uses left to the race (F6), and a
tuned report run again from its results.json (docs finding 5). Then the review of
those: a report run again after its directory was tuned again (R1), an earlier gdlab's
file named by the experiment tune.json records (R2), a change to one run that reran
every run (R3), where the tuning is dropped with the tuned words (R4), on a change the
tuning did not choose for, said as such (R5), and a hard bound's legend (R6).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdlab import cli, tuning
from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.experiments.describe import recorded, text
from gdlab.experiments.model import Experiment, digest
from gdlab.report import figures, interactive
from gdlab.report import html as report_html


def _bowl(*optimizers: str, steps: int = 10):
    return builtin("bowl").select_optimizers(list(optimizers)).merge_training(steps=steps)


def _tune(experiment, out: Path, **settings) -> dict:
    return tuning.tune(experiment, out, budget=settings.pop("budget", 2), progress=False,
                       **settings)  # fmt: skip


# ------------------------------------------------------------------ F7: --tune decay


@pytest.fixture(scope="module")
def decay(tmp_path_factory) -> tuple:
    experiment = _bowl("rmsprop", "adadelta")
    out = tmp_path_factory.mktemp("decay") / "T"
    return experiment, _tune(experiment, out, tune=("lr", "decay"))


def test_a_tuned_decay_is_found_under_its_argument_and_named_as_asked(decay, tmp_path):
    experiment, document = decay
    rmsprop, adadelta = (document["configurations"][k] for k in ("RMSprop", "Adadelta"))
    assert rmsprop["arguments"] == {"lr": "lr", "decay": "alpha"}
    assert adadelta["arguments"] == {"lr": "lr", "decay": "rho"}
    # the comparison's column finds alpha and rho under decay (it showed a dash)
    for c, argument in ((rmsprop, "alpha"), (adadelta, "rho")):
        text, _ = report_html._tuned_cell(c, "decay")
        assert text.startswith(repr(c["best"]["hyperparameters"][argument]).rstrip("0"))
    series = tuning.series(document)
    assert report_html.tuning_text.column_name(series, "decay") == "decay (alpha / rho)"
    # the terminal's table and the race's words name it as asked too
    table = cli._tune_table(document)
    assert "decay (alpha) " in table
    assert "decay (rho) " in table
    _, notes = tuning.apply_tuned(experiment, document, source="T")
    assert "decay (alpha) " in notes[0]
    assert "decay (rho) " in notes[0]


def test_a_tune_json_without_arguments_finds_them_from_the_optimizer():
    old = {"optimizer": "rmsprop", "tuned": ["lr", "decay"],
           "best": {"hyperparameters": {"lr": 0.1, "alpha": 0.9}}}  # fmt: skip
    assert tuning.tuned_arguments(old) == {"lr": "lr", "decay": "alpha"}
    assert report_html._tuned_cell(old, "decay")[0] == "0.9"


# ------------------------------------------------------------------ F2: the race's seeds


def test_a_new_seed_count_reuses_every_task_in_the_same_file(tmp_path, monkeypatch):
    out = tmp_path / "T"
    _tune(_bowl("sgd"), out)
    files = sorted(p.name for p in out.iterdir())
    calls = []
    real = tuning.tune_task
    monkeypatch.setattr(tuning, "tune_task", lambda **kw: calls.append(kw) or real(**kw))
    _tune(_bowl("sgd").replace(seeds=4).set("training.evaluate_every", 3), out)
    # every task reused: the seed count and how a run evaluates decide nothing in a tuning
    assert calls == []
    assert sorted(p.name for p in out.iterdir()) == files


def test_an_earlier_gdlabs_task_file_is_adopted_not_run_again(tmp_path, monkeypatch):
    experiment = _bowl("sgd").set("training.evaluate_every", 5).replace(seeds=3)
    with monkeypatch.context() as earlier:  # it named tasks and file by the whole experiment
        earlier.setattr(tuning, "_deciding_experiment", lambda e: e)
        before = _tune(experiment, tmp_path / "T")
    (old,) = (tmp_path / "T").glob("tasks-*.jsonl")
    kept = old.read_bytes()
    calls = []
    real = tuning.tune_task
    monkeypatch.setattr(tuning, "tune_task", lambda **kw: calls.append(kw) or real(**kw))
    again = _tune(experiment, tmp_path / "T")
    assert calls == []
    assert again["configurations"] == before["configurations"]
    assert len(list((tmp_path / "T").glob("tasks-*.jsonl"))) == 2
    assert old.read_bytes() == kept  # left as it was, beside this tuning's own file


def test_a_task_file_of_one_seed_keeps_the_name_an_earlier_gdlab_gave_it(tmp_path):
    experiment = _bowl("sgd")
    _tune(experiment, tmp_path / "T")
    # the name the earlier gdlab gave it: the experiment's key with its seeds in it
    key = {"experiment": experiment.key(), "folds": 1, "split_seed": 0, "base_seed": 0,
           "budget": 2, "tune": ("lr",), "method": "grid"}  # fmt: skip
    assert (tmp_path / "T" / f"tasks-{digest(key, 12)}.jsonl").is_file()


# ------------------------------------------------------------------ F4: no rate tuned


def test_no_tuned_rate_draws_no_empty_sensitivity_plot(tmp_path):
    document = _tune(_bowl("momentum"), tmp_path / "T", tune=("momentum",))
    series = tuning.series(document)
    assert not figures.has_sensitivity(series)
    results = {"series": series, "runs": [], "problem": {"traits": ["function2d"]}}
    assert figures._series_plans(results, series) == []
    assert interactive._sensitivity_chart(series) is None
    rated = tuning.series(_tune(_bowl("momentum"), tmp_path / "R"))
    assert figures.has_sensitivity(rated)
    assert [p.name for p in figures._series_plans(results, rated)] == ["sensitivity"]


# ------------------------------------------------------------------ F5: bound or rounds


def test_a_best_left_on_the_edge_by_the_rounds_is_not_said_to_be_at_a_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(tuning, "MAX_WIDEN", 1)  # Lion's best lr 1 needs a second round
    experiment = builtin("bowl").select_optimizers(["lion"])
    document = _tune(experiment, tmp_path / "T", budget=4)
    c = document["configurations"]["Lion"]
    assert (c["best"]["lr"], c["at_bound"], c["at_edge"]) == (1.0, [], ["lr"])
    row = cli._tune_table(document).splitlines()[2]
    assert "still at edge after 1 widenings: lr" in row
    assert "hard bound" not in row
    _, notes = tuning.apply_tuned(experiment, document, source="T")
    assert "still at the edge of the values tried after 1 widening rounds: lr" in notes[0]
    assert report_html._tuned_cell(c, "lr")[0].endswith("(at edge)")


def test_a_best_at_the_hard_bound_is_at_bound_and_older_files_are_told_apart():
    at_ten = {"best": {"hyperparameters": {"lr": 10.0}}, "at_bound": ["lr"], "at_edge": []}
    assert tuning.edges(at_ten) == (["lr"], [])
    assert report_html._tuned_cell(at_ten, "lr")[0] == "10 (at bound)"
    # an earlier gdlab listed both under at_bound: the value tells them apart
    older = {"best": {"hyperparameters": {"lr": 0.0152, "weight_decay": 0.0}},
             "at_bound": ["lr", "weight_decay"]}  # fmt: skip
    assert tuning.edges(older) == (["weight_decay"], ["lr"])


# ------------------------------------------------------------------ F3, F8: what chose


def _point(lr: float, loss: float, accuracy: float | None) -> dict:
    return {"hyperparameters": {"lr": lr}, "mean_loss": loss, "std_loss": None,
            "mean_accuracy": accuracy, "std_accuracy": None, "diverged": 0,
            "failed": 0}  # fmt: skip


def test_within_10_percent_is_two_sided_on_the_score_that_chose():
    # int7's Adam: chosen by accuracy at loss 0.498; lr 1e-4's loss 0.339 is 32% lower
    rows = [_point(1e-3, 0.4981, 0.92275), _point(1e-4, 0.3387, 0.70), _point(1e-2, 0.833, 0.90),
            _point(1e-1, 2.31, 0.11)]  # fmt: skip
    assert tuning._within(rows, rows[0], "accuracy") == 0.5  # itself and 90%, not 70%
    assert tuning._within(rows, rows[1], "loss") == 0.25  # 0.4981 is 47% above 0.3387
    assert tuning._within(rows, None, "loss") is None  # nothing chosen: no share


def test_the_table_shows_the_defaults_score_on_the_metric_that_chose():
    default, best = _point(0.01, 0.3245, 0.912), _point(0.1, 0.4104, 0.92525)
    c = {"points": [default, best], "default": default, "tuned": ["lr"], "widened": 0,
         "best": {"hyperparameters": {"lr": 0.1}, "mean": 0.4104, "std": 0.011,
                  "accuracy": 0.92525, "default": False},
         "within_10_percent": 1.0, "within_10_percent_by": "accuracy"}  # fmt: skip
    head, _, row = cli._tune_table({"configurations": {"SGD": c}}).splitlines()
    assert "default's acc." in head
    assert "within 10% (acc.)" in head
    assert "0.3245" in row
    assert "91.2%" in row
    assert "92.5%" in row
    for p in c["points"]:
        p["mean_accuracy"] = None
    c["within_10_percent_by"] = "loss"
    head = cli._tune_table({"configurations": {"SGD": c}}).splitlines()[0]
    assert "default's acc." not in head
    assert "within 10% " in head + " "


# ------------------------------------------------------------------ F1, F6: as raced


def _moons_tuning(**settings) -> dict:
    moons = builtin("moons").select_optimizers(["sgd"])
    return {
        "schema": tuning.SCHEMA_ID, "experiment": moons.to_dict(), "folds": 2,
        "metric": "validation loss", "budget": 2, "settings": settings,
        "configurations": {"SGD": {"best": {"hyperparameters": {"lr": 0.1}}}},
    }  # fmt: skip


def test_a_race_of_another_problem_names_each_difference():
    moons = builtin("moons").select_optimizers(["sgd"]).set("problem.noise", 0.3)
    with pytest.raises(ConfigError) as error:
        tuning.apply_tuned(moons, _moons_tuning(data="2-0123456789abcdef"), source="m1")
    text = str(error.value)
    assert "(tuning → race: problem.noise: 0.2 → 0.3; the training data's digest: " in text
    assert "2-0123456789abcdef → 2-" in text
    assert "{'kind'" not in text  # no two whole tables to compare by eye


def test_a_race_may_evaluate_otherwise_than_its_tuning(tmp_path):
    experiment = _bowl("sgd")
    document = _tune(experiment, tmp_path / "T")
    other = experiment.set("training.evaluate_every", 5)  # no task evaluates: it decides nothing
    tuned, _ = tuning.apply_tuned(other, document, source="T")
    assert tuned.training.evaluate_every == 5
    with pytest.raises(ConfigError, match=r"training.steps: 10 → 12"):
        tuning.apply_tuned(experiment.merge_training(steps=12), document, source="T")


# ------------------------------------------------------------------ a tuned report again


def test_a_tuned_race_run_again_rebuilds_its_comparison_from_its_tuning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiment = _bowl("sgd", "adam")
    document = _tune(experiment, Path("T"))
    tuned, notes = tuning.apply_tuned(experiment, document, source=Path("T"))
    tuned = tuned.replace(tuned=" ".join(notes), seeds=3)
    assert tuning.rebuilt_series(tuned) == (tuning.series(document), None)
    changed = json.loads(Path("T/tune.json").read_text(encoding="utf-8"))
    changed["configurations"]["SGD"]["best"]["hyperparameters"]["lr"] = 0.123
    changed["configurations"]["SGD"]["best"]["default"] = False
    Path("T/tune.json").write_text(json.dumps(changed), encoding="utf-8")
    series, why = tuning.rebuilt_series(tuned)
    assert series is None
    assert why == (
        "this race is not what the tuning in T chose (tuning → race: SGD: lr: 0.123 → 0.95)"
    )
    Path("T/tune.json").unlink()
    assert tuning.rebuilt_series(tuned) == (None, "no tuning results at T/tune.json: run "
                                                  "`gdlab tune` first")  # fmt: skip


def test_gdlab_race_config_of_a_tuned_report_says_what_it_could_not_rebuild(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    race = ["race", "bowl", "--optimizers", "sgd", "--steps", "5", "--seeds", "1"]
    assert cli.main(["tune", *race[1:6], "--budget", "2", "--quiet", "--out", "T"]) == 0
    assert cli.main([*race, "--tuned", "T", "--no-figures", "--quiet", "--out", "R1"]) == 0
    again = ["race", "--config", "R1/results.json", "--no-figures", "--quiet"]
    assert cli.main([*again, "--out", "R2"]) == 0
    first, second = (json.loads(Path(d, "results.json").read_text()) for d in ("R1", "R2"))
    assert second["title"] == first["title"]
    assert second["series"]["comparison"] == first["series"]["comparison"]
    assert first["config"]["tuned_from"] == str(tmp_path / "T")  # found from any folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["race", "--config", "../R1/results.json", "--no-figures", "--quiet",
                     "--out", "R4"]) == 0  # fmt: skip
    fourth = json.loads(Path("R4/results.json").read_text())
    assert fourth["series"]["comparison"] == first["series"]["comparison"]
    monkeypatch.chdir(tmp_path)
    Path("T/tune.json").unlink()
    assert cli.main([*again, "--out", "R3"]) == 0
    third = json.loads(Path("R3/results.json").read_text())
    assert third["title"].endswith("(tuned)")
    assert "series" not in third
    assert third["description"].endswith(
        f"could not be rebuilt (no tuning results at {tmp_path / 'T' / 'tune.json'}: run "
        "`gdlab tune` first), so it has neither: race with --tuned DIR to have them."
    )


def test_a_tuned_report_made_before_tuned_from_finds_its_tuning_by_its_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiment = _bowl("sgd", "adam")
    document = _tune(experiment, Path("T"))
    tuned, notes = tuning.apply_tuned(experiment, document, source=Path("T"))
    tuned = tuned.replace(tuned=" ".join(notes))  # no tuned_from: an earlier report's
    assert not tuned.tuned_from
    assert tuning.rebuilt_series(tuned) == (tuning.series(document), None)
    assert tuning.rebuilt_series(tuned.replace(tuned="tuned by hand")) == (
        None, "it does not name the tuning's directory"
    )  # fmt: skip


# ------------------------------------------------------------------ R1: which tuning


def test_a_report_run_again_after_its_directory_was_tuned_again_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tune = ["tune", "bowl", "--optimizers", "sgd", "--steps", "5", "--quiet", "--out", "T"]
    assert cli.main([*tune, "--budget", "2"]) == 0
    race = ["race", "bowl", "--optimizers", "sgd", "--steps", "5", "--seeds", "1"]
    assert cli.main([*race, "--tuned", "T", "--no-figures", "--quiet", "--out", "R1"]) == 0
    first = json.loads(Path("R1/results.json").read_text(encoding="utf-8"))
    assert first["config"]["tuned_digest"] == tuning.tuned_digest(tuning.load_tuned("T"))
    chosen = tuning.load_tuned("T")["configurations"]["SGD"]["best"]["hyperparameters"]
    assert cli.main([*tune, "--budget", "3", "--force"]) == 0
    # another tuning that happens to choose the same rate: not the one the report raced
    assert tuning.load_tuned("T")["configurations"]["SGD"]["best"]["hyperparameters"] == chosen
    again = ["race", "--config", "R1/results.json", "--no-figures", "--quiet", "--out", "R2"]
    assert cli.main(again) == 0
    second = json.loads(Path("R2/results.json").read_text(encoding="utf-8"))
    assert "series" not in second
    assert second["title"].endswith("(tuned)")
    assert (
        f"could not be rebuilt (the directory {tmp_path / 'T'} was tuned again since this "
        "race: its tune.json records another tuning)" in second["description"]
    )


def test_the_tunings_digest_is_read_back_and_the_same_for_a_resume(tmp_path):
    experiment = _bowl("sgd")
    first = tuning.tuned_digest(_tune(experiment, tmp_path / "T"))
    resumed = _tune(experiment.replace(seeds=4, title="again"), tmp_path / "T")
    assert tuning.tuned_digest(resumed) == first  # the same tuning, its words aside
    assert tuning.tuned_digest(_tune(experiment, tmp_path / "T", budget=3, force=True)) != first
    tuned = experiment.replace(tuned="words", tuned_from="/T", tuned_digest=first)
    again = Experiment.from_dict(json.loads(json.dumps(tuned.to_dict())))
    assert again.tuned_digest == first
    assert again.key() == experiment.key()  # it decides no result
    with pytest.raises(ConfigError, match="tuned_digest must be a string; got 3"):
        experiment.replace(tuned_digest=3)


# ------------------------------------------------------------------ R2, R3: what is reused


def _counted(monkeypatch) -> list[int]:
    """The run index of every tuning task run from here on."""
    calls: list[int] = []
    real = tuning.tune_task
    monkeypatch.setattr(tuning, "tune_task", lambda **kw: calls.append(kw["run"]) or real(**kw))
    return calls


def test_an_earlier_gdlabs_file_named_by_the_recorded_experiment_is_adopted(tmp_path, monkeypatch):
    experiment = _bowl("sgd")
    with monkeypatch.context() as earlier:  # it named tasks and file by the whole experiment
        earlier.setattr(tuning, "_deciding_experiment", lambda e: e)
        before = _tune(experiment.replace(seeds=3), tmp_path / "T")  # `--set seeds=3`
    calls = _counted(monkeypatch)
    # resumed without --set seeds=3: this command's experiment names no earlier file
    again = _tune(experiment, tmp_path / "T")
    assert calls == []
    assert again["configurations"] == before["configurations"]


def test_a_change_to_one_run_reruns_its_tasks_alone(tmp_path, monkeypatch):
    experiment = _bowl("sgd", "adam")
    before = _tune(experiment, tmp_path / "T")
    (old,) = (tmp_path / "T").glob("tasks-*.jsonl")
    kept = old.read_bytes()
    calls = _counted(monkeypatch)
    after = _tune(experiment.set("adam.beta1", 0.8), tmp_path / "T", force=True)
    assert calls
    assert set(calls) == {1}  # Adam's: SGD's tasks have the same ids, and are copied
    assert after["configurations"]["SGD"] == before["configurations"]["SGD"]
    assert old.read_bytes() == kept  # left as it was
    assert len(list((tmp_path / "T").glob("tasks-*.jsonl"))) == 2


def test_only_finished_records_of_the_same_tasks_are_copied(tmp_path, monkeypatch):
    experiment = _bowl("sgd", "adam")
    _tune(experiment, tmp_path / "T")
    (old,) = (tmp_path / "T").glob("tasks-*.jsonl")
    records = [json.loads(line) for line in old.read_text(encoding="utf-8").splitlines()]
    sgd = next(r for r in records if r["id"].startswith("sgd/"))
    sgd.update(status="failed", result=None, error={"type": "E", "message": "m", "traceback": ""})
    old.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    calls = _counted(monkeypatch)
    _tune(experiment.set("adam.beta1", 0.8), tmp_path / "T", force=True)
    assert calls.count(0) == 1  # the failed one runs again
    # other steps: other tasks, none of which any file holds
    calls.clear()
    _tune(experiment.merge_training(steps=12), tmp_path / "T", force=True)
    ran = len(calls)
    calls.clear()
    _tune(experiment.merge_training(steps=12), tmp_path / "F")
    assert ran == len(calls)


# ------------------------------------------------------------------ R4, R5: the tuned words


def test_the_tuned_words_go_with_their_tuning_where_the_tuning_did_not_choose_for_it():
    read = _bowl("sgd").replace(
        tuned="Tuned settings from T (…): SGD lr 0.95.", tuned_from="/T", tuned_digest="0" * 16
    )
    tuning_fields = {"tuned", "tuned_from", "tuned_digest"}
    for changed in (
        read.set("sgd.lr", 0.5),  # the runs
        read.merge_training(steps=40),  # the training: `race --tuned` refuses it too
        read.set("problem.start", [-5, 2]),  # the problem
    ):
        words = text(changed, base=read, read=read)
        assert not words["title"].endswith("(tuned)")
        assert tuning_fields <= set(words["dropped"])
        assert not tuning_fields & set(recorded(changed, words).to_dict())
    for same in (read.replace(seeds=5), read.set("training.evaluate_every", 5)):
        words = text(same, base=read, read=read)
        assert words["title"].endswith("(tuned)")
        assert tuning_fields <= set(recorded(same, words).to_dict())
    # words that dropped only "tuned" (made elsewhere) take the tuning's fields too
    assert not tuning_fields & set(recorded(read, {"dropped": ["tuned"]}).to_dict())


# ------------------------------------------------------------------ R6: a hard bound's legend


def test_a_value_at_a_hard_bound_is_said_to_go_no_further(tmp_path):
    document = _tune(_bowl("sgd"), tmp_path / "T")
    c = document["configurations"]["SGD"]
    c["best"]["hyperparameters"]["lr"], c["at_bound"], c["at_edge"] = 10.0, ["lr"], []
    legend = report_html._comparison_text(tuning.series(document), {}, ["lr"], False)
    assert "a hard bound of what tuning may try: tuning may not go further" in legend
    assert "may lie beyond" not in legend
    _, notes = tuning.apply_tuned(_bowl("sgd"), document, source="T")
    bound = "(at the hard bound of what tuning may try: lr 10; tuning may not go further)"
    assert bound in notes[0]
