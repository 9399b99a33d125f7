"""A resumed tuning runs again what failed (once per call), reuses what finished or
diverged, keys its tasks by the folds' contents; its sensitivity figure shows the
candidates that diverged or failed."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from gdlab import cli, selection, tuning
from gdlab._checks import ConfigError
from gdlab.experiments.model import Experiment
from gdlab.report.figures import sensitivity_figure


def bowl(steps=5):
    """One SGD run on the bowl: budget 4 gives lr 0.001, 0.01 (its default), 0.1 and 1,
    the best 0.1 inside the grid (nothing widened)."""
    return Experiment.from_dict(
        {
            "name": "resume",
            "problem": {"kind": "function", "function": "bowl"},
            "training": {"steps": steps},
            "runs": [{"optimizer": "sgd", "lr": 0.01}],
        }
    )


def rosenbrock():
    """lr 0.01, 0.1 and 1 diverge in 10 steps on Rosenbrock; the best, 0.001, widens."""
    return Experiment.from_dict(
        {
            "name": "diverging",
            "problem": {"kind": "function", "function": "rosenbrock"},
            "training": {"steps": 10},
            "runs": [{"optimizer": "sgd", "lr": 0.001}],
        }
    )


def moons(steps=3):
    return Experiment.from_dict(
        {
            "name": "tiny",
            "problem": {"kind": "logreg", "data": "moons", "n_samples": 40},
            "training": {"steps": steps, "batch_size": 8},
            "runs": [{"optimizer": "sgd", "lr": 0.1}],
        }
    )


def tune(experiment, out, **kwargs):
    return tuning.tune(experiment, out, **{"budget": 4, "progress": False, **kwargs})


def count_calls(monkeypatch):
    """Every task run from now on (its run, lr and fold), in this process (workers=1)."""
    made = []
    real = tuning.tune_task

    def counted(**kwargs):
        made.append((kwargs["run"], kwargs["hyperparameters"]["lr"], kwargs["fold"]))
        return real(**kwargs)

    monkeypatch.setattr(tuning, "tune_task", counted)
    return made


def fail_at(monkeypatch, lr, marker=None):
    """Tasks at ``lr`` raise: always, or (with a ``marker`` file) the first time only."""
    inner = tuning.tune_task

    def flaky(**kwargs):
        if kwargs["hyperparameters"]["lr"] == lr and (marker is None or not marker.exists()):
            if marker is not None:
                marker.write_text("failed once")
            raise RuntimeError("out of memory")
        return inner(**kwargs)

    monkeypatch.setattr(tuning, "tune_task", flaky)


def sweep_lines(out):
    (path,) = out.glob("tasks-*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_resume_runs_the_failed_task_again_and_only_it(tmp_path, monkeypatch):
    reference = tune(bowl(), tmp_path / "never-failed")
    assert reference["configurations"]["SGD"]["widened"] == 0
    fail_at(monkeypatch, 0.1, marker=tmp_path / "marker")
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    first = tune(bowl(), out)
    assert len(first["failed"]) == 1
    c = first["configurations"]["SGD"]
    assert c["failed"][c["grid"].index(0.1)] == 1
    # without 0.1 the best, lr 1, is on the edge: widening ran lr 10 (the hard bound)
    assert (c["widened"], c["best"]["lr"], 10.0 in c["grid"]) == (1, 1.0, True)
    assert calls.count((0, 0.1, 0)) == 1
    ran = len(calls)
    calls.clear()

    again = tune(bowl(), out)
    assert calls == [(0, 0.1, 0)]  # the failed task, and nothing else
    assert again["failed"] == []
    # the widened candidate stays in the file, run once, but is no candidate now
    assert again["configurations"] == reference["configurations"]
    assert ran == len(again["configurations"]["SGD"]["points"]) + 1
    records = sweep_lines(out)
    assert [r["status"] for r in records].count("failed") == 0
    assert len(records) == len({r["id"] for r in records}) == ran
    (row,) = cli._tune_table(again).splitlines()[2:]
    assert "failed" not in row

    calls.clear()  # a third call has nothing to run
    before = sweep_lines(out)
    assert tune(bowl(), out) == again
    assert calls == []
    assert sweep_lines(out) == before


def test_a_failure_that_changes_nothing_else_is_run_again_too(tmp_path, monkeypatch):
    # lr 0.001 is no best with or without its score: the same candidates, nothing widened
    fail_at(monkeypatch, 0.001, marker=tmp_path / "marker")
    calls = count_calls(monkeypatch)
    first = tune(bowl(), tmp_path / "t")
    assert len(first["failed"]) == 1
    assert first["configurations"]["SGD"]["widened"] == 0
    calls.clear()
    again = tune(bowl(), tmp_path / "t")
    assert calls == [(0, 0.001, 0)]
    assert again["failed"] == []
    (point,) = [p for p in again["configurations"]["SGD"]["points"]
                if p["hyperparameters"]["lr"] == 0.001]  # fmt: skip
    assert (point["failed"], point["mean_loss"] is not None) == (0, True)


def test_a_task_that_always_fails_runs_once_per_call_not_per_widening_round(tmp_path, monkeypatch):
    fail_at(monkeypatch, 0.1)  # always
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    first = tune(bowl(), out)
    assert first["configurations"]["SGD"]["widened"] >= 1  # more than one sweep in the call
    assert calls.count((0, 0.1, 0)) == 1
    n_points = len(first["configurations"]["SGD"]["points"])
    calls.clear()
    again = tune(bowl(), out)
    assert calls == [(0, 0.1, 0)]
    assert again["configurations"] == first["configurations"]
    assert len(again["failed"]) == 1
    assert len(sweep_lines(out)) == n_points


def test_diverged_candidates_are_reused_not_run_again(tmp_path, monkeypatch):
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    first = tune(rosenbrock(), out)
    c = first["configurations"]["SGD"]
    assert sum(c["diverged"]) == 3
    assert first["failed"] == []
    assert c["widened"] == 1
    before = sweep_lines(out)
    calls.clear()
    again = tune(rosenbrock(), out)
    assert calls == []
    assert sweep_lines(out) == before
    assert again == first


def split_differently(monkeypatch):
    """scikit-learn as another version might split: the same folds, in another order."""
    real = selection.kfold

    def reordered(*args, **kwargs):
        return real(*args, **kwargs)[::-1]

    monkeypatch.setattr(selection, "kfold", reordered)
    monkeypatch.setattr(tuning, "_FOLDS", {})  # none made by the real splitter kept


def test_the_task_key_changes_with_the_folds_contents(tmp_path, monkeypatch):
    calls = count_calls(monkeypatch)
    experiment = moons()
    settings = {"folds": 2, "split_seed": 0, "base_seed": 0, "budget": 2, "tune": ("lr",),
                "method": "grid"}  # fmt: skip
    tuner = tuning._Tuner(experiment, tmp_path, **settings)
    ids = [tuner.task(0, {"lr": 0.1}, f).id for f in (0, 1)]
    assert tuning._Tuner(experiment, tmp_path, **settings).task(0, {"lr": 0.1}, 0).id == ids[0]

    monkeypatch.setattr(tuning, "MAX_WIDEN", 0)  # the candidates of the grid only: fast
    out = tmp_path / "t"
    first = tune(experiment, out, budget=2, folds=2)
    (old_file,) = out.glob("tasks-*.jsonl")
    old = old_file.read_bytes()
    ran = len(calls)
    assert ran == 2 * len(first["configurations"]["SGD"]["points"])

    split_differently(monkeypatch)
    other = tuning._Tuner(experiment, tmp_path, **settings)
    assert [other.task(0, {"lr": 0.1}, f).id for f in (0, 1)] != ids
    assert other.sweep_file.name != old_file.name
    calls.clear()
    second = tune(experiment, out, budget=2, folds=2)
    # nothing of the other folds reused: every task of every candidate ran
    assert len(calls) == 2 * len(second["configurations"]["SGD"]["points"])
    assert old_file.read_bytes() == old  # nor overwritten, nor mixed
    assert len(list(out.glob("tasks-*.jsonl"))) == 2


def test_the_fold_digests_are_of_the_indices():
    experiment = moons()
    digests = tuning._fold_digests(experiment, 3, 0)
    assert len(digests) == len(set(digests)) == 3
    assert tuning._fold_digests(experiment, 3, 0) == digests
    assert tuning._fold_digests(experiment, 3, 1) != digests
    assert tuning._fold_digests(bowl(), 3, 0) is None


def marks_of(fig):
    """The strip of rates with no score, and its marks by kind ("x" diverged, "s" failed)."""
    strip, ax = fig.axes
    marks = {}
    for line in strip.lines:  # (the legend's samples are not drawn on any axes)
        marks.setdefault(line.get_marker(), []).append(line)
    return strip, ax, marks


def test_the_sensitivity_figure_marks_diverged_and_failed_candidates(tmp_path, monkeypatch):
    fail_at(monkeypatch, 0.0001)  # a rate widening adds; the others at 0.01 and up diverge
    document = tune(rosenbrock(), tmp_path / "t")
    c = document["configurations"]["SGD"]
    diverged = [g for g, d in zip(c["grid"], c["diverged"], strict=True) if d]
    failed = [g for g, f in zip(c["grid"], c["failed"], strict=True) if f]
    assert len(diverged) == 3
    assert failed == [0.0001]

    fig = sensitivity_figure({"series": tuning.series(document)})
    strip, ax, marks = marks_of(fig)
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"SGD", "diverged", "failed"} <= legend
    ((x,), (square,)) = marks["x"], marks["s"]
    assert sorted(x.get_xdata()) == diverged
    assert list(square.get_xdata()) == failed
    assert square.get_markerfacecolor() == "none"  # hollow: apart from the curve's markers
    assert x.get_linestyle() == square.get_linestyle() == "None"
    assert [t.get_text() for t in strip.get_yticklabels()] == ["SGD"]  # one row, named
    assert strip.get_shared_x_axes().joined(strip, ax)  # at the curve's rates
    low, high = ax.get_xlim()
    assert low < min(c["grid"])  # every rate tried is on the axis
    assert max(c["grid"]) < high
    # the curve has a gap there: no loss is drawn for a rate without a score
    (curve,) = [line for line in ax.lines if line.get_label() == "SGD"]
    ys = dict(zip(curve.get_xdata(), curve.get_ydata(), strict=True))
    assert all(np.isnan(ys[g]) for g in diverged + failed)

    # the page's interactive twin marks the same rates, with the same shapes
    from gdlab.report import interactive

    (chart,) = interactive.charts({"problem": None, "runs": [], "series": tuning.series(document)})
    marked = {t["marker"]["symbol"]: t["x"] for t in chart["traces"] if "marker" in t}
    assert sorted(marked["x"]) == diverged
    assert list(marked["square-open"]) == failed


def test_one_row_per_configuration_with_marks_none_without():
    def curve(diverged):
        n = len(diverged)
        mean = [None if d else 1.0 + i for i, d in enumerate(diverged)]
        return {"grid": [10.0**-k for k in range(n, 0, -1)], "mean": mean, "std": [0.0] * n,
                "diverged": diverged, "failed": [0] * n, "best": None}  # fmt: skip

    def series(configurations):
        return {"series": {"kind": "tuning", "metric": "final loss", "folds": 1, "budget": 2,
                           "configurations": configurations}}  # fmt: skip

    fig = sensitivity_figure(
        series({"A": curve([0, 0]), "B": curve([1, 1]), "C $5": curve([0, 1])})
    )
    strip, ax, marks = marks_of(fig)
    # a "$" in a name is a dollar sign, not matplotlib's maths
    assert [t.get_text() for t in strip.get_yticklabels()] == ["B", r"C \$5"]
    assert sorted((float(line.get_ydata()[0]), len(line.get_xdata())) for line in marks["x"]) == [
        (0.0, 2),
        (1.0, 1),
    ]
    assert "failed" not in {t.get_text() for t in ax.get_legend().get_texts()}

    (plain,) = sensitivity_figure(series({"A": curve([0, 0])})).axes  # nothing to mark
    assert "diverged" not in {t.get_text() for t in plain.get_legend().get_texts()}


# --------------------------------------------------------------------------- a lost .points.json


def points_file(out):
    (path,) = out.glob("tasks-*.points.json")
    return path


def damage(path, how):
    """A ``.points.json`` lost or damaged ``how``; ``short``: only the first candidates
    (what a resume refused before widened candidates were rebuilt left behind)."""
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif how == "not JSON":
        path.write_text("candidates: lost\n")
    elif how == "wrong shape":
        path.write_text(json.dumps({"schema": "gdlab.tune-points/1", "points": [0.001]}))
    else:
        document = json.loads(path.read_text())
        document["points"] = {run: points[:-2] for run, points in document["points"].items()}
        path.write_text(json.dumps(document))


def test_a_resume_without_its_points_file_rebuilds_it_from_the_records(tmp_path, monkeypatch):
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    first = tune(rosenbrock(), out)
    assert first["configurations"]["SGD"]["widened"] == 1
    path = points_file(out)
    issued = json.loads(path.read_text())
    records = sweep_lines(out)
    for how in ("deleted", "truncated", "not JSON", "wrong shape", "short"):
        damage(path, how)
        calls.clear()
        assert tune(rosenbrock(), out) == first, how  # no refusal, the same choice
        assert calls == [], how  # nothing run again
        assert sweep_lines(out) == records, how
        assert json.loads(path.read_text()) == issued, how  # written back, whole


def test_a_rebuilt_points_file_keeps_the_candidates_of_an_earlier_call(tmp_path, monkeypatch):
    # lr 0.1 fails in the first call, which widens to lr 10; the second call runs 0.1
    # again and no longer reaches 10: its record is of neither call's scores now
    fail_at(monkeypatch, 0.1, marker=tmp_path / "marker")
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    tune(bowl(), out)
    again = tune(bowl(), out)
    assert 10.0 not in again["configurations"]["SGD"]["grid"]
    assert len(sweep_lines(out)) == len(again["configurations"]["SGD"]["points"]) + 1
    damage(points_file(out), "truncated")
    calls.clear()
    assert tune(bowl(), out) == again
    assert calls == []
    lrs = [p["lr"] for p in json.loads(points_file(out).read_text())["points"]["0"]]
    assert 10.0 in lrs


def test_a_foreign_record_is_still_refused_and_the_message_says_what_to_do(tmp_path):
    out = tmp_path / "t"
    tune(rosenbrock(), out)
    (tasks,) = out.glob("tasks-*.jsonl")
    points_file(out).unlink()
    result = {"status": "ok", "val_loss": 1.0, "val_accuracy": None, "steps": 1}
    foreign = {"id": "Adam/0123456789abcdef", "key": "0123456789abcdef", "status": "ok",
               "result": result}  # fmt: skip
    with tasks.open("a") as fh:
        fh.write(json.dumps(foreign) + "\n")
    before = tasks.read_bytes()
    with pytest.raises(ConfigError) as info:
        tune(rosenbrock(), out)
    message = str(info.value)
    assert "'Adam/0123456789abcdef'" in message
    assert str(tasks) in message
    assert "another sweep's file" in message
    assert "a new --out" in message
    assert tasks.read_bytes() == before  # nothing deleted or rewritten


def test_a_tpe_tuning_without_its_points_file_replays_its_rounds(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    calls = count_calls(monkeypatch)
    out = tmp_path / "t"
    first = tune(rosenbrock(), out, method="tpe")
    path = points_file(out)
    issued = json.loads(path.read_text())
    assert len(issued["points"]["0"]) > 2  # the default, TPE's draws (and any widening)
    path.unlink()
    calls.clear()
    assert tune(rosenbrock(), out, method="tpe") == first
    assert calls == []
    assert json.loads(path.read_text()) == issued


def test_a_tuning_refused_by_the_lock_removes_none_of_the_holders_files(tmp_path, monkeypatch):
    # the tuning holding --out starts its first sweep (its candidates written, its task
    # file made, no task finished yet) while the refused one is still starting
    from gdlab import _io

    out = tmp_path / "t"
    out.mkdir()
    holders = [out / "tasks-0123456789ab.points.json", out / "tasks-0123456789ab.jsonl"]
    real = _io.exclusive

    @contextlib.contextmanager
    def contended(path, **kwargs):
        with real(path, **kwargs):  # the other tuning's
            holders[0].write_text('{"schema": "gdlab.tune-points/1", "points": {}}')
            holders[1].touch()
            with real(path, **kwargs):  # this one's: refused
                yield

    monkeypatch.setattr(_io, "exclusive", contended)
    with pytest.raises(_io.LockedError):
        tune(bowl(), out)
    assert all(path.exists() for path in holders)


def test_a_run_whose_every_rate_diverged_widens_below_the_smallest(tmp_path):
    # Nesterov's book rates all diverge on Rosenbrock in 50 steps: there was no best,
    # nothing widened, and `race --tuned` refused ("no tuned setting for Nesterov")
    experiment = Experiment.from_dict(
        {
            "name": "too-large",
            "problem": {"kind": "function", "function": "rosenbrock"},
            "training": {"steps": 50},
            "optimizers": {"preset": "book", "names": ["nesterov"]},
        }
    )
    document = tuning.tune(experiment, tmp_path / "t", budget=6, progress=False)
    c = document["configurations"]["Nesterov"]
    diverged = dict(zip(c["grid"], c["diverged"], strict=True))
    too_large = [lr for lr, d in diverged.items() if d]
    assert c["widened"] >= 1
    assert c["best"]["lr"] is not None
    assert c["best"]["lr"] < min(too_large)  # found below every rate first tried
    assert diverged[c["best"]["lr"]] == 0
