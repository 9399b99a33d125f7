"""The experiment model: round trips, strict checking, changes, reports, outputs, tuning.

Every race here is small (a few steps, one seed) and runs inside ``tmp_path``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab import cli, experiments, race, tuning
from gdlab.experiments import Experiment, ExperimentError
from gdlab.experiments.describe import text

BOWL_TITLE = "Seed 001: six optimizers on x²/20 + y²"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Default outputs (gdlab-report/…) land in tmp_path, never in the repository."""
    monkeypatch.chdir(tmp_path)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def results(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path → bytes)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def without_times(value: Any) -> Any:
    """``value`` with every ``seconds``, ``compile_seconds`` and ``created`` left out."""
    if isinstance(value, dict):
        return {
            k: without_times(v)
            for k, v in value.items()
            if k not in ("seconds", "compile_seconds", "created")
        }
    if isinstance(value, list):
        return [without_times(v) for v in value]
    return value


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", experiments.BUILTIN)
def test_every_builtin_experiment_round_trips(name):
    experiment = experiments.builtin(name)
    assert experiments.load(name) == experiment
    assert experiment.name == name
    assert experiment.based_on == name
    assert Experiment.from_toml(experiment.to_toml()) == experiment
    assert Experiment.from_dict(experiment.to_dict()) == experiment
    # and through JSON, as results.json stores it
    assert Experiment.from_dict(json.loads(json.dumps(experiment.to_dict()))) == experiment


def test_a_changed_experiment_round_trips_too():
    experiment = (
        experiments.builtin("schedules")
        .with_lr("sgd", 0.05)
        .set("seeds", 2)
        .set("training.batch_size", 32)
        .set("halve-every-3-epochs.weight_decay", 0.001)
    )
    assert experiment.runs[-1].hyperparameters["weight_decay"] == 0.001
    assert "weight_decay" not in experiment.runs[0].hyperparameters
    assert experiment != experiments.builtin("schedules")
    assert Experiment.from_toml(experiment.to_toml()) == experiment
    assert Experiment.from_dict(experiment.to_dict()) == experiment


def test_results_json_config_runs_again(tmp_path, capsys):
    first, again = tmp_path / "first", tmp_path / "again"
    code, _, err = run(["race", "bowl", "--steps", "5", "--quiet", "--no-figures",
                        "--out", str(first)], capsys)  # fmt: skip
    assert code == 0, err
    code, _, err = run(["race", "--config", str(first / "results.json"), "--quiet",
                        "--no-figures", "--out", str(again)], capsys)  # fmt: skip
    assert code == 0, err
    one, two = results(first), results(again)
    assert two["config"] == one["config"]
    assert Experiment.from_dict(two["config"]) == experiments.load(first / "results.json")
    assert [r["label"] for r in two["runs"]] == [r["label"] for r in one["runs"]]
    assert [r["path"][-1] for r in two["runs"]] == [r["path"][-1] for r in one["runs"]]
    assert all(len(r["path"]) == 6 for r in two["runs"])
    # made from the built-in bowl: the changes are listed against it
    assert "training.steps: 30 → 5" in two["changes"]


# --------------------------------------------------------------------------- strict checking

LINREG = {
    "name": "t",
    "problem": {"kind": "linreg", "data": "boston"},
    "training": {"steps": 3},
    "runs": [{"optimizer": "sgd", "lr": 0.01}],
}
MOONS = {
    "name": "m",
    "problem": {"kind": "mlp", "data": "moons", "hidden": [3]},
    "training": {"steps": 3, "batch_size": 8},
    "runs": [{"optimizer": "momentum", "lr": 0.01}],
}


def _changed(base: dict[str, Any], change) -> dict[str, Any]:
    data = copy.deepcopy(base)
    change(data)
    return data


@pytest.mark.parametrize(
    ("base", "change", "needles"),
    [
        (LINREG, lambda d: d.update(speed=3), ["unknown key 'speed'", "allowed: name"]),
        (LINREG, lambda d: d["problem"].update(hidden=[7]), ["problem", "'hidden'"]),
        (LINREG, lambda d: d["training"].update(speed=1), ["training", "'speed'"]),
        (LINREG, lambda d: d.update(optimizers={"names": ["adam"], "speed": 1}),
         ["optimizers", "'speed'"]),
        (LINREG, lambda d: d.update(optimizers={"names": ["adam"], "lr": {"sgd": 0.1}}),
         ["optimizers.lr", "'sgd'"]),
        (LINREG, lambda d: d["runs"][0].update(speed=1), ["runs[0]", "'speed'", "run keys"]),
        # a misspelt hyperparameter: the message lists the optimizer's hyperparameters
        (MOONS, lambda d: d["runs"][0].update(momentun=0.5),
         ["runs[0]", "'momentun'", "hyperparameters of momentum", "momentum, form"]),
        # keys of another data set (the moons' n_samples and noise on Boston)
        (LINREG, lambda d: d["problem"].update(n_samples=300), ["problem", "'n_samples'"]),
        (LINREG, lambda d: d["problem"].update(noise=0.1), ["problem", "'noise'"]),
        (MOONS, lambda d: d["problem"].update(features=["RM"]), ["problem", "'features'"]),
        # types and ranges
        (LINREG, lambda d: d["training"].update(steps="ten"), ["training.steps", "'ten'"]),
        (LINREG, lambda d: d["training"].update(steps=-5), ["training.steps", "-5"]),
        (LINREG, lambda d: d["training"].update(batching="shuffle"),
         ["training.batching", "'shuffle'"]),
        (LINREG, lambda d: d["training"].update(validation="holdout"),
         ["training.validation", "'holdout'"]),
        (LINREG, lambda d: d["training"].update(evaluate_every=0),
         ["training.evaluate_every", "got 0"]),
        (LINREG, lambda d: d["training"].update(batch_size="64"),
         ["training.batch_size", "'64'"]),
        (LINREG, lambda d: d["runs"][0].update(steps="3"), ["runs[0]", "steps", "'3'"]),
        (MOONS, lambda d: d["problem"].update(split_seed=-1), ["problem.split_seed", "-1"]),
        (LINREG, lambda d: d.update(seeds=0), ["seeds", "got 0"]),
        (LINREG, lambda d: d["runs"][0].update(lr=-1.0), ["runs[0]", "lr must be > 0"]),
    ],
)  # fmt: skip
def test_unknown_keys_and_bad_values_are_named(base, change, needles):
    with pytest.raises(ExperimentError) as caught:
        Experiment.from_dict(_changed(base, change), "mine.toml")
    message = str(caught.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message


def test_the_same_mistakes_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[problem]\nkind = "linreg"\ndata = "boston"\nhidden = [7]\n'
                    "[training]\nsteps = 3\n[optimizers]\nnames = [\"sgd\"]\n")  # fmt: skip
    with pytest.raises(ExperimentError, match=r"mine\.toml: problem has unknown key 'hidden'"):
        experiments.load(path)
    assert ExperimentError is experiments.ExperimentError
    assert issubclass(ExperimentError, ValueError)


def test_whole_experiment_errors_name_the_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[problem]\nkind = "function"\n[training]\nsteps = 3\n')
    with pytest.raises(ExperimentError, match=r"mine\.toml.*has no runs"):
        experiments.load(path)


def test_linreg_options_build_the_problem_they_name():
    data = _changed(LINREG, lambda d: d["problem"].update(init="zeros", dtype="float32"))
    experiment = Experiment.from_dict(data)
    assert experiment.problem.options["init"] == "zeros"
    problem = experiment.problem.build()
    assert type(problem).__name__ == "LinearRegression"
    params = problem.init_params(np.random.default_rng(0))
    for value in params.values():
        assert value.dtype == np.float32
        assert not value.any()  # zeros (the seed's start has b = 1)
    seed_start = Experiment.from_dict(LINREG).problem.build()
    assert seed_start.init_params(np.random.default_rng(0))["b"].tolist() == [1.0]


def test_a_hyperparameter_written_in_the_run_reaches_the_optimizer(tmp_path, capsys):
    path = tmp_path / "mom.toml"
    path.write_text(
        '[problem]\nkind = "function"\n[training]\nsteps = 5\n'
        '[[runs]]\nlabel = "half"\noptimizer = "momentum"\nlr = 0.1\nmomentum = 0.5\n'
        '[[runs]]\nlabel = "default"\noptimizer = "momentum"\nlr = 0.1\n'
    )
    experiment = experiments.load(path)
    assert experiment.name == "mom"
    half = experiment.runs[0]
    assert dict(half.hyperparameters) == {"lr": 0.1, "momentum": 0.5}
    assert half.make_optimizer().hyperparameters()["momentum"] == 0.5
    assert experiment.runs[1].make_optimizer().hyperparameters()["momentum"] != 0.5
    assert Experiment.from_toml(experiment.to_toml()) == experiment
    records = race.race(experiment, progress=False)
    assert records[0]["hyperparameters"]["momentum"] == 0.5
    assert records[0]["path"][-1] != records[1]["path"][-1]


# --------------------------------------------------------------------------- --set and --lr


def test_set_changes_what_it_names():
    bowl = experiments.builtin("bowl")
    changed = bowl.set("adam.beta1", 0.8).set("momentum.momentum", 0.5)
    by_label = {r.label: r for r in changed.runs}
    assert by_label["Adam"].make_optimizer().hyperparameters()["beta1"] == 0.8
    assert by_label["Momentum"].make_optimizer().hyperparameters()["momentum"] == 0.5
    assert by_label["Adam"].hyperparameters["lr"] == 0.3  # the rest kept
    assert by_label["SGD"] == next(r for r in bowl.runs if r.label == "SGD")

    beale = bowl.set("problem.function", "beale")
    assert beale.problem.options["function"] == "beale"
    assert beale.problem.build().name == "beale"
    assert bowl.set("seeds", 3).seeds == 3

    boston = experiments.builtin("boston")
    assert {boston.run_training(r).batch_size for r in boston.runs} == {None, 1, 30}
    batched = boston.set("training.batch_size", 64)
    assert {batched.run_training(r).batch_size for r in batched.runs} == {64}


def test_set_names_a_run_by_a_label_with_a_dot():
    changed = experiments.builtin("schedules").set("0.95-epoch.lr", 0.05)
    assert changed.runs[2].lr["lr0"] == 0.05


def test_set_on_the_command_line_reaches_the_runs(tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run(["race", "bowl", "--steps", "3", "--set", "adam.beta1=0.8",
                        "--set", "momentum.momentum=0.5", "--set", "seeds=2",
                        "--set", "problem.function=beale", "--quiet", "--no-figures",
                        "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    doc = results(out)
    assert doc["problem"]["function"]["name"] == "beale"
    assert {r["seed"] for r in doc["runs"]} == {0, 1}
    for r in doc["runs"]:
        if r["label"] == "Adam":
            assert r["hyperparameters"]["beta1"] == 0.8
        if r["label"] == "Momentum":
            assert r["hyperparameters"]["momentum"] == 0.5
    assert "Adam: beta1: 0.9 → 0.8" in doc["changes"]  # the default shown by its value


def test_lr_keeps_every_schedule(tmp_path, capsys):
    schedules = experiments.builtin("schedules")
    changed = schedules.with_lr("sgd", 0.05)
    for old, new in zip(schedules.runs, changed.runs, strict=True):
        if isinstance(old.lr, dict):
            assert new.lr["name"] == old.lr["name"]
            assert new.lr["lr0"] == 0.05
            assert {k: v for k, v in new.lr.items() if k != "lr0"} == {
                k: v for k, v in old.lr.items() if k != "lr0"
            }
        else:
            assert new.lr == 0.05
    # the same through the command line, down to what the runs used
    out = tmp_path / "o"
    code, _, err = run(["race", "schedules", "--steps", "2", "--lr", "sgd=0.05", "--workers",
                        "1", "--quiet", "--no-figures", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    doc = results(out)
    assert Experiment.from_dict(doc["config"]).runs == changed.merge_training(steps=2).runs
    for r in doc["runs"][1:]:
        assert r["hyperparameters"]["lr"]["schedule"]["lr0"] == 0.05
    assert doc["runs"][0]["hyperparameters"]["lr"] == 0.05


# --------------------------------------------------------------------------- report text


def test_a_changed_race_is_described_as_it_ran(tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = run(["race", "bowl", "--function", "rosenbrock", "--optimizers", "adam,sgd",
                        "--lr", "adam=0.02", "--set", "adam.beta1=0.8", "--steps", "5",
                        "--quiet", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    doc = results(out)
    assert [r["label"] for r in doc["runs"]] == ["Adam", "SGD"]
    title, description = doc["title"], doc["description"]
    for word in ("Adam", "SGD", "rosenbrock"):
        assert word in title
    assert title != BOWL_TITLE
    for needle in ("0.02", "beta1 0.8", "rosenbrock"):
        assert needle in description
    for stale in ("twenty times steeper", "six optimizers", "Nesterov 0.3"):
        assert stale not in description
        assert stale not in title
    assert "problem.function: bowl → rosenbrock" in doc["changes"]
    # the seed's words say where the experiment started, not what ran
    assert description.startswith("Adapted from seed 001")
    assert "Source:" not in description
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Changed from the built-in experiment bowl" in page


def test_an_unchanged_builtin_keeps_its_text(tmp_path, capsys):
    words = text(experiments.builtin("bowl"), base=experiments.builtin("bowl"))
    assert words["title"] == BOWL_TITLE
    assert words["changes"] == []
    assert "twenty times steeper" in words["description"]
    out = tmp_path / "o"
    code, _, err = run(["race", "bowl", "--quiet", "--no-figures", "--out", str(out)], capsys)
    assert code == 0, err
    doc = results(out)
    assert doc["title"] == BOWL_TITLE
    assert doc["changes"] == []
    assert doc["description"].startswith("Source: seed 001")
    assert "twenty times steeper" in doc["description"]


# --------------------------------------------------------------------------- outputs


def test_two_races_keep_both_reports(tmp_path, capsys):
    root = tmp_path / "gdlab-report" / "bowl"
    argv = ["race", "bowl", "--steps", "2", "--quiet", "--no-figures"]
    assert run(argv, capsys)[0] == 0
    (first,) = [p for p in root.iterdir() if p.name != "latest"]
    assert (root / "latest").resolve() == first.resolve()
    before = snapshot(first)
    assert run(argv, capsys)[0] == 0
    stamps = sorted(p for p in root.iterdir() if p.name != "latest" and p.is_dir())
    assert len(stamps) == 2
    (second,) = [p for p in stamps if p != first]
    assert (root / "latest").resolve() == second.resolve()
    assert snapshot(first) == before
    assert results(second)["status"] == "complete"


def test_out_is_refused_twice_without_force_and_replaced_with_it(tmp_path, capsys):
    out = tmp_path / "x"
    assert run(["race", "bowl", "--steps", "2", "--quiet", "--no-figures", "--out", str(out)],
               capsys)[0] == 0  # fmt: skip
    before = snapshot(out)
    code, stdout, err = run(["race", "bowl", "--steps", "3", "--quiet", "--no-figures",
                             "--out", str(out)], capsys)  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert stdout == ""
    assert err.startswith("gdlab: error: ")
    assert "--force" in err
    assert snapshot(out) == before
    code, _, err = run(["race", "bowl", "--steps", "3", "--quiet", "--no-figures",
                        "--out", str(out), "--force"], capsys)  # fmt: skip
    assert code == 0, err
    assert all(r["steps"] == 3 for r in results(out)["runs"])


def test_a_refused_race_leaves_the_earlier_report_and_a_failed_run_is_recorded(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "x"
    assert run(["race", "boston", "--steps", "5", "--workers", "1", "--quiet", "--no-figures",
                "--out", str(out)], capsys)[0] == 0  # fmt: skip
    before = snapshot(out)
    # refused before any run: a batch larger than the data
    code, _, err = run(["race", "boston", "--batch-size", "100000", "--quiet", "--no-figures",
                        "--out", str(out), "--force"], capsys)  # fmt: skip
    assert code == cli.EXIT_USAGE
    assert "batch_size" in err
    assert snapshot(out) == before
    # a run that fails half way is recorded as failed: the race goes on, the report
    # (asked for with --force) replaces the old one whole, and the command exits 1
    real_fit, calls = race.fit, {"n": 0}

    def fit_then_fail(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(race, "fit", fit_then_fail)
    code, _, err = run(["race", "boston", "--steps", "7", "--workers", "1", "--quiet",
                        "--out", str(out), "--force"], capsys)  # fmt: skip
    assert code == cli.EXIT_RUN_FAILED
    assert "failed: RuntimeError: disk on fire" in err
    document = json.loads((out / "results.json").read_text())
    assert [r["status"] for r in document["runs"]] == ["ok", "failed", "ok"]
    assert all(r["steps"] == 7 for r in document["runs"] if r["status"] == "ok")
    assert not [p for p in tmp_path.iterdir() if p.name != "x"]  # no staging left behind


# --------------------------------------------------------------------------- parallel races


def test_parallel_and_sequential_races_give_the_same_results(tmp_path):
    experiment = experiments.builtin("moons").merge_training(steps=20)
    one = race.run_experiment(experiment, tmp_path / "one", progress=False, figures=False,
                              workers=1)  # fmt: skip
    two = race.run_experiment(experiment, tmp_path / "two", progress=False, figures=False,
                              workers=2)  # fmt: skip
    assert [r["id"] for r in two["runs"]] == [r["id"] for r in one["runs"]]
    on_disk = [without_times(results(tmp_path / d)) for d in ("one", "two")]
    assert on_disk[0] == on_disk[1]
    assert without_times(one) == without_times(two)
    assert all(r["steps"] == 20 for r in one["runs"])


def test_a_race_too_small_to_repay_processes_runs_in_this_one(monkeypatch):
    monkeypatch.setattr(race.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    # the seed's MNIST race: about 30 s of compute, one process per core
    assert race.default_workers(experiments.builtin("mnist")) == 4
    # three runs of a two-feature regression: milliseconds, and a process costs seconds
    small = experiments.builtin("boston").merge_training(steps=200)
    assert race.estimated_seconds(small, race.prepare(small)) < race.MIN_PARALLEL_SECONDS
    assert race.default_workers(small) == 1
    # more runs than cores: at most one process per core; fewer: one per run
    assert race.default_workers(experiments.builtin("moons")) == 3
    assert race.default_workers(experiments.builtin("bowl")) == 1  # a 2-D function


def test_a_pool_starts_the_longest_runs_first_and_hands_records_in_task_order(monkeypatch):
    # equal forecasts: more optimizer state first (in the MNIST race, Adam's run is the
    # slowest of the six and SGD's the fastest)
    moons = experiments.builtin("moons")
    assert [moons.runs[i].label for i in race.longest_first(moons)] == ["Adam", "Momentum", "SGD"]
    # a longer forecast first, whatever the state
    longer = Experiment.from_dict(
        {
            "name": "lpt",
            "problem": {"kind": "mlp", "data": "moons", "hidden": [8]},
            "training": {"steps": 10, "batch_size": 16},
            "runs": [
                {"optimizer": "adam", "lr": 0.01},
                {"optimizer": "sgd", "lr": 0.1, "steps": 30},
            ],
            "seeds": 2,
        }
    )
    assert race.longest_first(longer) == [1, 0]
    import gdlab.sweep

    started, real = [], gdlab.sweep.run_sweep

    def recorded(fn, tasks, journal, **kwargs):  # in this process, in the order given
        started.extend(t.id for t in tasks)
        return real(fn, tasks, journal, **{**kwargs, "workers": 1})

    monkeypatch.setattr(gdlab.sweep, "run_sweep", recorded)
    records = race.race(longer, workers=2, progress=False)
    assert started == ["sgd-seed0", "adam-seed0", "sgd-seed1", "adam-seed1"]
    assert [r["id"] for r in records] == ["adam-seed0", "sgd-seed0", "adam-seed1", "sgd-seed1"]


def test_an_interrupted_pool_keeps_the_runs_done_after_one_still_running(monkeypatch, tmp_path):
    experiment = experiments.builtin("moons").merge_training(steps=5)
    import gdlab.sweep

    real = gdlab.sweep.run_sweep

    def interrupted(fn, tasks, journal, *, on_record, **kwargs):
        # the second task finished, the first is still running when Ctrl-C comes
        real(fn, [t for t in tasks if t.id.startswith("momentum")], journal,
             on_record=on_record, workers=1)  # fmt: skip
        raise KeyboardInterrupt

    monkeypatch.setattr(gdlab.sweep, "run_sweep", interrupted)
    handed = []
    with pytest.raises(KeyboardInterrupt):
        race.race(experiment, workers=2, progress=False, on_run=handed.append)
    assert [r["id"] for r in handed] == ["momentum-seed0"]


def test_the_figures_modules_are_imported_while_a_pool_runs(monkeypatch):
    import sys
    import threading

    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    race._import_soon("gdlab_no_such_module", "colorsys")  # a failure is left to its user
    for thread in threading.enumerate():
        if thread.name == "gdlab-imports":
            thread.join(30)
    assert "colorsys" in sys.modules
    assert "gdlab_no_such_module" not in sys.modules
    assert "matplotlib.figure" in race.FIGURE_MODULES


# --------------------------------------------------------------------------- tuning


def _one_run(optimizer: str, lr: float, steps: int = 30) -> Experiment:
    return Experiment.from_dict(
        {
            "name": "widen",
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": steps},
            "runs": [{"optimizer": optimizer, "preset": "book", "lr": lr}],
        }
    )


def test_tuned_schedules_keep_their_schedules():
    import dataclasses

    schedules = experiments.builtin("schedules")
    # labels that state the rate (the built-in's name only the shape) follow the tuned one
    stated = ["constant 0.1", "0.1/(1 + 1·epoch)", "0.95^epoch · 0.1", "1/√epoch · 0.1"]
    stated += ["1/√t · 0.1", "halve every 3 epochs"]
    runs = [dataclasses.replace(r, label=s) for r, s in zip(schedules.runs, stated, strict=True)]
    schedules = schedules.replace(runs=tuple(runs))
    tuned = {
        "schema": tuning.SCHEMA_ID,
        "experiment": schedules.to_dict(),
        "folds": 3,
        "budget": 4,
        "metric": "validation loss",
        "configurations": {
            run.label: {"best": {"hyperparameters": {"lr": 0.2}, "lr": 0.2, "default": False}}
            for run in schedules.runs
        },
    }
    applied, notes = tuning.apply_tuned(schedules, tuned, source="here/tune.json")
    assert "here/tune.json" in notes[0]
    for old, new in zip(schedules.runs, applied.runs, strict=True):
        if isinstance(old.lr, dict):
            assert isinstance(new.lr, dict)
            assert new.lr["name"] == old.lr["name"]
            assert new.lr["lr0"] == 0.2
            new.make_optimizer()  # still a valid schedule
        else:
            assert new.lr == 0.2
    # a label that states the old rate states the tuned one (the rest stay as they are)
    assert [r.label for r in applied.runs] == [
        "constant 0.2", "0.2/(1 + 1·epoch)", "0.95^epoch · 0.2", "1/√epoch · 0.2",
        "1/√t · 0.2", "halve every 3 epochs",
    ]  # fmt: skip


def test_the_untuned_default_is_always_a_point(tmp_path):
    bowl = experiments.builtin("bowl")
    document = tuning.tune(bowl, tmp_path / "t", budget=3, progress=False)
    assert (tmp_path / "t" / "tune.json").is_file()
    assert set(document["configurations"]) == {r.label for r in bowl.runs}
    for run in bowl.runs:
        c = document["configurations"][run.label]
        first = c["points"][0]
        assert first["default"] is True
        assert first["hyperparameters"]["lr"] == run.lr
        assert c["default"] == first
        assert [p["default"] for p in c["points"][1:]] == [False] * (len(c["points"]) - 1)
        # never worse than the default on validation
        assert c["best"]["mean"] <= first["mean_loss"]


def test_widening_finds_a_best_rate_outside_the_first_grid(tmp_path):
    experiment = _one_run("adagrad", 0.01)
    first = tuning.candidates(experiment.runs[0], ("lr",), 3, "grid", np.random.default_rng(0))
    first_lrs = [p["lr"] for p in first]
    assert first[0] == {"lr": 0.01}  # the default comes first
    document = tuning.tune(experiment, tmp_path / "t", budget=3, progress=False)
    c = document["configurations"]["AdaGrad"]
    assert c["widened"] > 0
    assert c["best"]["lr"] > max(first_lrs)
    initial = [p["mean_loss"] for p in c["points"] if p["hyperparameters"]["lr"] in first_lrs]
    assert len(initial) == len(first_lrs)
    assert c["best"]["mean"] < min(m for m in initial if m is not None)
    assert len(c["points"]) > len(first_lrs)
    assert c["best"]["lr"] <= tuning.HARD_BOUNDS["lr"][1]


def test_a_best_alone_on_its_line_beyond_every_other_value_is_widened_along_it():
    grid = [{"lr": lr, "weight_decay": wd} for lr in (1e-3, 1e-2, 1e-1, 1.0) for wd in (1e-6, 1e-2)]
    default = {"lr": 1.5, "weight_decay": 0.0}  # the untuned default, off the grid
    ratios = {"lr": 1.0, "weight_decay": 2.5}  # the grid's own steps, in decades
    new, stuck = tuning._widen([default, *grid], default, ["lr", "weight_decay"], ratios)
    # lr: along the default's own line (weight_decay 0), by the grid's ratio 10, to the bound
    assert new == [{"lr": 10.0, "weight_decay": 0.0}]
    assert stuck == ["weight_decay"]  # 0 is the bottom of a log scale
    # a default inside the range of every lr tried is no edge, alone or not
    inside = {"lr": 0.05, "weight_decay": 0.0}
    assert tuning._widen([inside, *grid], inside, ["lr"], ratios) == ([], [])
    # random draws (every point alone on its lines): the draw with the largest lr widens
    draws = [{"lr": 0.01, "eps": 1e-7}, {"lr": 0.3, "eps": 5e-9}, {"lr": 0.002, "eps": 1e-9}]
    new, stuck = tuning._widen(draws, draws[1], ["lr", "eps"], {"lr": 3 / 7, "eps": 1.5})
    assert [p["eps"] for p in new] == [5e-9, 5e-9]  # eps is inside: only lr moves
    # by the ratio of a grid of the same budget (3/7 of a decade a step), not 0.3 / 0.01
    assert [p["lr"] for p in new] == pytest.approx([0.3 * 1000 ** (1 / 7), 0.3 * 1000 ** (2 / 7)])
    assert stuck == []


def test_tuning_two_names_widens_a_best_default_instead_of_calling_it_at_a_bound(tmp_path):
    # AdaGrad's book default on the bowl (lr 1.5, no weight decay) beats every grid point;
    # it was reported "at bound: lr" at 1.5 (the hard bound is 10) without a wider rate tried.
    experiment = Experiment.from_dict(
        {
            "name": "widen2",
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": 100},
            "runs": [{"optimizer": "adagrad", "preset": "book", "lr": 1.5}],
        }
    )
    document = tuning.tune(
        experiment, tmp_path / "t", budget=4, tune=("lr", "weight_decay"), progress=False
    )
    c = document["configurations"]["AdaGrad"]
    assert c["widened"] >= 1
    tried = [p["hyperparameters"] for p in c["points"]]
    assert any(p["lr"] > 1.5 and p["weight_decay"] == 0.0 for p in tried)
    assert c["best"]["mean"] <= c["default"]["mean_loss"]
    if "lr" in c["at_bound"]:
        assert c["best"]["lr"] == tuning.HARD_BOUNDS["lr"][1]


def _task_lines(directory: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in directory.glob("tasks-*.jsonl")}


def test_changing_steps_reruns_tasks_and_an_identical_tune_reuses_them(tmp_path, monkeypatch):
    out = tmp_path / "t"
    tuning.tune(_one_run("sgd", 0.01, steps=30), out, budget=3, progress=False)
    first = _task_lines(out)
    assert len(first) == 1
    assert next(iter(first.values())) > 0

    import gdlab.tuning

    ran = {"n": 0}
    real = gdlab.tuning.tune_task

    def counted(**kwargs):
        ran["n"] += 1
        return real(**kwargs)

    monkeypatch.setattr(gdlab.tuning, "tune_task", counted)
    tuning.tune(_one_run("sgd", 0.01, steps=30), out, budget=3, progress=False)
    assert _task_lines(out) == first
    assert ran["n"] == 0

    with pytest.raises(ValueError, match=r"training.steps: 30 → 20"):  # another tuning
        tuning.tune(_one_run("sgd", 0.01, steps=20), out, budget=3, progress=False)
    document = tuning.tune(
        _one_run("sgd", 0.01, steps=20), out, budget=3, progress=False, force=True
    )
    after = _task_lines(out)
    assert len(after) == 2
    assert {k: v for k, v in after.items() if k in first} == first
    assert ran["n"] > 0
    assert document["experiment"]["training"]["steps"] == 20
    assert json.loads((out / "tune.json").read_text())["experiment"]["training"]["steps"] == 20


# --------------------------------------------------------------------------- command-line errors


def _not_utf8(tmp_path: Path) -> list[str]:
    path = tmp_path / "latin.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    return ["race", "--config", str(path)]


def _out_is_a_file(tmp_path: Path) -> list[str]:
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return ["race", "bowl", "--steps", "2", "--out", str(path)]


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["race", "bowl", "--batch-size", "4"], ["batch_size", "2-D function"]),
        (["race", "boston", "--batch-size", "100000"], ["batch_size", "506"]),
        (["race", "bowl", "--optimizers", "sgd,sgd"], ["--optimizers", "'sgd' twice"]),
        (["race", "", "--steps", "1", "--optimizers", "sgd"], ["experiment must be"]),
        (["race", "bowl", "--set", "nosuch.lr=1"], ["'nosuch' must name a run", "adam"]),
        (["race", "bowl", "--set", "adam.betta1=0.9"],
         ["'betta1'", "hyperparameters of adam", "beta1"]),
        (_not_utf8, ["latin.toml", "not UTF-8"]),
        (_out_is_a_file, ["a-file", "not a directory"]),
        (["race", "bowl", "--set", "training.steps=0"], ["steps", "got 0"]),
        (["race", "bowl", "--set", "problem.speed=1"], ["'speed'"]),
    ],
)  # fmt: skip
def test_command_line_errors_are_one_line(tmp_path, capsys, argv, needles):
    if callable(argv):
        argv = argv(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, stderr = run([*argv, "--quiet"], capsys)
    assert code == cli.EXIT_USAGE
    assert stdout == ""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gdlab: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
