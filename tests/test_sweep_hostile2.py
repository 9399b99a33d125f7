"""Sweeps, tuning, races and the tour under hostile input (a second audit).

Task kwargs whose keys are not strings, an exception whose ``str`` raises, a
timeout too far away for ``select``, a damaged record on resume; tuning
weight decay (its default is 0), ``tune`` given a string or nothing, bad
seeds, tuned results applied to a run whose optimizer changed; and a race,
report or tour called with bad options, which must leave nothing behind.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from gdlab import race, tour, tuning
from gdlab.experiments import Experiment
from gdlab.sweep import Task, demo_task, run_sweep

BOWL = {
    "name": "bowl-demo",
    "problem": {"kind": "function"},
    "training": {"steps": 4},
    "optimizers": {"preset": "book", "names": ["adam"]},
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def _bowl(**changes):
    return Experiment.from_dict({**BOWL, **changes})


# -- sweep: tasks ---------------------------------------------------------------------


def test_a_task_kwargs_key_that_is_not_a_string_is_refused_when_made():
    # fn(**kwargs) takes names only: every run of the task would fail
    with pytest.raises(TypeError, match=r"^the keys of Task 'a' kwargs must be strings; got 1"):
        Task("a", {1: 2})


def test_nested_keys_that_are_not_strings_are_refused_before_the_file_is_touched(tmp_path):
    out = tmp_path / "s.jsonl"
    # mixed keys could not be sorted into the task's key (a bare TypeError before)
    mixed = [Task("a", {"draws": 1, "x": {1: 2, "a": 3}})]
    with pytest.raises(TypeError, match=r"^the keys of tasks\[0\]\.kwargs\['x'\] must be strings"):
        run_sweep(demo_task, mixed, out, progress=False)
    # {1: x} and {"1": x} are one JSON text: a resume would take one's record for the other
    ints = [Task("a", {"draws": 1, "x": [{2: 3}]})]
    with pytest.raises(TypeError, match=r"^the keys of tasks\[0\]\.kwargs\['x'\]\[0\] must be"):
        run_sweep(demo_task, ints, out, progress=False)
    assert not out.exists()


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")


def _pick(*, rng, bad=False):
    if bad:
        raise _Unprintable
    return {"x": float(rng.random())}


def test_an_exception_whose_str_raises_fails_its_task_only(tmp_path):
    tasks = [Task("bad", {"bad": True}), Task("good", {})]
    records = run_sweep(_pick, tasks, tmp_path / "s.jsonl", progress=False)
    assert [r["status"] for r in records] == ["failed", "ok"]
    error = records[0]["error"]
    assert error["type"].endswith("_Unprintable")
    assert "str() of the exception failed" in error["message"]


def test_a_timeout_too_far_for_select_is_waited_for_in_pieces(tmp_path):
    # 1e300 s is a valid (finite, positive) timeout: it must not crash the pool's wait
    records = run_sweep(
        demo_task, [Task("a", {"draws": 1})], tmp_path / "s.jsonl", progress=False, timeout=1e300
    )
    assert [r["status"] for r in records] == ["ok"]


def test_a_finished_record_without_its_result_is_refused_on_resume(tmp_path):
    out = tmp_path / "s.jsonl"
    tasks = [Task("a", {"draws": 1}), Task("b", {"draws": 1})]
    run_sweep(demo_task, tasks, out, progress=False)
    first, second = out.read_text().splitlines()
    damaged = json.loads(first)
    del damaged["result"]
    out.write_text(json.dumps(damaged) + "\n" + second + "\n")
    before = out.read_bytes()
    with pytest.raises(
        ValueError, match=r"line 1 must be a finished task's record with its result"
    ):
        run_sweep(demo_task, tasks, out, progress=False)
    assert out.read_bytes() == before


# -- tuning ---------------------------------------------------------------------------


def test_tuning_weight_decay_whose_default_is_zero(tmp_path):
    # The default point (weight_decay 0) is on the low edge: no ratio to widen by (a
    # ZeroDivisionError before), and nothing below 0 on a log scale: it is at its bound.
    document = tuning.tune(
        _bowl(), tmp_path / "t", budget=2, tune=("weight_decay",), progress=False
    )
    configuration = document["configurations"]["Adam"]
    tried = [p["hyperparameters"]["weight_decay"] for p in configuration["points"]]
    assert tried[0] == 0.0
    assert configuration["best"] is not None
    assert all(0.0 <= x <= tuning.HARD_BOUNDS["weight_decay"][1] for x in tried)


def test_widening_from_a_zero_best_stops_at_once():
    points = [{"weight_decay": 0.0}, {"weight_decay": 1e-6}, {"weight_decay": 1e-1}]
    ratios = {"weight_decay": 1.0}  # the grid's own step, in decades
    new, stuck = tuning._widen(points, {"weight_decay": 0.0}, ["weight_decay"], ratios)
    assert (new, stuck) == ([], ["weight_decay"])
    # the top edge beside a 0: one decade per step, the grid's own
    new, stuck = tuning._widen(points[:2], {"weight_decay": 1e-6}, ["weight_decay"], ratios)
    assert [p["weight_decay"] for p in new] == [1e-5, 1e-4]
    assert stuck == []


@pytest.mark.parametrize(
    ("kwargs", "kind", "message"),
    [
        ({"tune": "lr"}, TypeError, r"^tune must be a sequence of names .*; got 'lr' \(str\)"),
        ({"tune": ()}, ValueError, r"^tune must be at least one hyperparameter's name; got \(\)"),
        ({"split_seed": -1}, ValueError, r"^split_seed must be an integer >= 0; got -1"),
        ({"base_seed": -1}, ValueError, r"^base_seed must be an integer >= 0; got -1"),
        ({"base_seed": 1.5}, TypeError, r"^base_seed must be an integer; got 1.5"),
    ],
)
def test_tune_refuses_bad_settings_before_writing(tmp_path, kwargs, kind, message):
    with pytest.raises(kind, match=message):
        tuning.tune(_bowl(), tmp_path / "t", budget=2, progress=False, **kwargs)
    assert not (tmp_path / "t").exists()


def _tuned_document(optimizer):
    best = {"hyperparameters": {"lr": 0.1}, "lr": 0.1, "default": False}
    return {
        "experiment": {"name": BOWL["name"]},
        "configurations": {"Adam": {"optimizer": optimizer, "best": best}},
        "folds": 1,
        "metric": "final loss",
        "budget": 2,
    }


def test_tuned_results_of_another_optimizer_are_refused():
    swapped = Experiment.from_dict(
        {**{k: v for k, v in BOWL.items() if k != "optimizers"},
         "runs": [{"label": "Adam", "optimizer": "sgd"}]}
    )  # fmt: skip
    with pytest.raises(tuning.ConfigError, match=r"for run 'Adam' are of optimizer 'adam', not"):
        tuning.apply_tuned(swapped, _tuned_document("adam"))
    tuned, _ = tuning.apply_tuned(_bowl(), _tuned_document("adam"))
    assert tuned.runs[0].hyperparameters["lr"] == 0.1


def test_tuned_results_of_another_problem_of_the_same_name_are_refused():
    # `gdlab tune bowl --function rosenbrock`, then `gdlab race bowl --tuned`
    document = _tuned_document("adam")
    document["experiment"]["problem"] = {"kind": "function", "function": "rosenbrock"}
    with pytest.raises(tuning.ConfigError, match=r"are for another problem of 'bowl-demo'"):
        tuning.apply_tuned(_bowl(), document)
    document["experiment"]["problem"] = json.loads(json.dumps(_bowl().to_dict()["problem"]))
    tuned, _ = tuning.apply_tuned(_bowl(), document)
    assert tuned.runs[0].hyperparameters["lr"] == 0.1


# -- races, reports and the tour: a bad option leaves nothing behind ------------------


def test_a_race_with_bad_options_makes_no_directory(tmp_path):
    out = tmp_path / "race"
    with pytest.raises(ValueError, match=r"^workers must be an integer >= 1; got 0"):
        race.race(_bowl(), out_dir=out, workers=0, progress=False)
    with pytest.raises(ValueError, match=r"^timeout must be > 0; got -1"):
        race.race(_bowl(), out_dir=out, timeout=-1, progress=False)
    assert not out.exists()
    with pytest.raises(TypeError, match=r"^out_dir must be a path \(str or os.PathLike\) or None"):
        race.race(_bowl(), out_dir=3, progress=False)


def test_a_report_with_bad_workers_writes_nothing(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(ValueError, match=r"^workers must be an integer >= 1; got 0"):
        race.run_experiment(_bowl(), out, workers=0, progress=False)
    assert not out.exists()


def test_a_tour_with_bad_options_writes_nothing(tmp_path):
    out = tmp_path / "tour"
    with pytest.raises(ValueError, match=r"^workers must be an integer >= 1; got 0"):
        tour.run(out, quick=True, progress=False, workers=0)
    with pytest.raises(TypeError, match=r"^quick must be True or False; got 'yes'"):
        tour.run(out, quick="yes", progress=False)
    assert not out.exists()


def test_comparison_takes_run_records_whose_losses_are_arrays():
    # run_record keeps a run's loss as a float64 array; `if run["loss"]` asked an array
    # for its truth value
    runs = race.race(_bowl(), progress=False)
    as_arrays = [{**r, "loss": np.asarray(r["loss"], dtype=np.float64)} for r in runs]
    assert race.comparison(as_arrays, {}) == race.comparison(runs, {})
    empty = [{**r, "loss": np.empty(0)} for r in runs]
    assert race.comparison(empty, {})[0] is None


@pytest.mark.parametrize(
    ("scheduler", "why"),
    [
        ("tcp://localhost:99999", "a host and a port in [1, 65535]"),
        ("tcp://:8786", "a host and a port in [1, 65535]"),
        ("inproc://x", "the scheme must be one of tcp, tls, ws, wss, ucx, not 'inproc'"),
    ],
)
def test_a_scheduler_address_nobody_can_reach_is_refused_at_once(tmp_path, scheduler, why):
    # before: a 30 s wait to connect, or distributed's own unpacking error
    pytest.importorskip("distributed")
    out = tmp_path / "s.jsonl"
    message = f'scheduler must be a Dask address such as "tcp://HOST:PORT" ({why}); got'
    with pytest.raises(ValueError, match=re.escape(message)):
        run_sweep(demo_task, [Task("a", {})], out, scheduler=scheduler, progress=False)
    assert not out.exists()
