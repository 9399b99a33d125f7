"""Round 6 of the tuning's user test: task names cover the data, widening steps by the
grid's own ratio and stops at (never past) a hard bound, tune.json is never silently
replaced, a tuned run's label tells its rate, the comparison's target measures
something, and docs/tuning.md's ``search`` runs as written."""

from __future__ import annotations

import ast
import itertools
import json
import math
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from doc_checks import assert_written_signature
from gdlab import cli, experiments, selection, tuning
from gdlab._checks import ConfigError
from gdlab.averages import ewma
from gdlab.experiments.model import Experiment
from gdlab.race import comparison

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tuning.md"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def count_calls(monkeypatch) -> list[dict]:
    made = []
    real = tuning.tune_task

    def counted(**kwargs):
        made.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tuning, "tune_task", counted)
    return made


def lrs(configuration) -> list[float]:
    return [p["hyperparameters"]["lr"] for p in configuration["points"]]


def no_two_the_same_up_to_rounding(values):
    ordered = sorted(values)
    return all(not math.isclose(a, b, rel_tol=1e-9) for a, b in itertools.pairwise(ordered))


# --------------------------------------------------------------------------- 1. the data


def write_idx(directory: Path, seed: int) -> None:
    """MNIST's four IDX files of random digits (100 to train, 20 to test), as
    /tmp/ut_tune/mkidx.py writes them."""
    rng = np.random.default_rng(seed)
    directory.mkdir(exist_ok=True)
    for stem, n in (("train", 100), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        (directory / f"{stem}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes()
        )
        labels = np.tile(np.arange(10, dtype=np.uint8), n // 10)
        (directory / f"{stem}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, n) + labels.tobytes()
        )


def idx_experiment(directory: Path) -> Experiment:
    return Experiment.from_dict(
        {
            "name": "idx",
            "problem": {"kind": "mlp", "data": "mnist", "directory": str(directory),
                        "hidden": [4]},
            "training": {"steps": 5, "batch_size": 16},
            "runs": [{"optimizer": "sgd", "lr": 0.01}],
        }
    )  # fmt: skip


def test_new_files_under_the_same_data_directory_are_not_reused(tmp_path, monkeypatch):
    """The task digest covered the problem table (the directory's path) and the folds'
    indices: new digits in the same files reused every task of the old ones."""
    idx, out = tmp_path / "idx", tmp_path / "A"
    write_idx(idx, 1)
    first = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    write_idx(idx, 2)
    before = tree(out)
    with pytest.raises(ConfigError, match=r"the training data's digest: 2-[0-9a-f]{16} → "):
        tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    assert tree(out) == before  # refused before any task: nothing changed
    ran = count_calls(monkeypatch)
    second = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False, force=True)
    assert len(ran) == 2 * len(second["configurations"]["SGD"]["points"])  # every task ran
    assert len(list(out.glob("tasks-*.jsonl"))) == 2  # the first tuning's tasks stay
    assert first["settings"]["data"] != second["settings"]["data"]
    scores = [d["configurations"]["SGD"]["default"]["mean_loss"] for d in (first, second)]
    assert scores[0] != scores[1]


def test_a_task_loads_its_own_data_again_or_fails(tmp_path):
    """A pool kept from other data (a Dask worker that lives on) is read again; a
    process that finds other data than the digest its task was named for fails the
    task, naming both."""
    idx = tmp_path / "idx"
    write_idx(idx, 1)
    experiment = idx_experiment(idx)
    tuning._DATA.clear()
    pool = tuning._pool(experiment)
    old = tuning._data_digest(pool)
    write_idx(idx, 2)
    assert tuning._pool(experiment, old) is pool  # the data its tasks are named for
    tuning._DATA.clear()  # a new worker process: it reads the new files
    with pytest.raises(ConfigError) as caught:
        tuning._pool(experiment, old)
    new = tuning._data_digest(tuning._pool(experiment))
    assert new != old
    assert str(caught.value) == (
        f"the data of 'idx' changed while it was tuned: its training arrays' digest is {new}, "
        f"the tuning's tasks were named for {old}; run the tuning again"
    )
    write_idx(idx, 1)  # the kept pool (the new data) is not what a task of the old asks
    assert tuning._data_digest(tuning._pool(experiment, old)) == old


# --------------------------------------------------------------------------- 2-4. widening


def test_a_best_at_the_hard_bound_is_the_bound_and_flagged(capsys):
    """Widening down to the bound reaches 1e-06 itself (not a rounding's
    1.0000000000000002e-06 beside it), chooses it, and flags it."""
    argv = ["tune", "bowl", "--function", "rosenbrock", "--set", "problem.start=[-40,40]",
            "--optimizers", "sgd", "--budget", "3", "--quiet", "--out", "R"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    sgd = tuning.load_tuned("R")["configurations"]["SGD"]
    assert sgd["best"]["lr"] == 1e-06
    assert sgd["at_bound"] == ["lr"]
    assert no_two_the_same_up_to_rounding(lrs(sgd))
    assert min(lrs(sgd)) == tuning.HARD_BOUNDS["lr"][0]


@pytest.mark.parametrize(
    ("best", "step", "expected"),
    [
        (3.1622776601683795e-06, 0.5, [1e-06]),  # lands within rounding of the bound
        (1e-05, 2.0, [1e-06]),  # lands past it: the bound, and no further
        (1.0000000000000002e-06, 1.0, []),  # at the bound already: stuck
    ],
)
def test_widening_below_snaps_to_the_bound(best, step, expected):
    points = [{"lr": best}, {"lr": 1e-3}]
    new, stuck = tuning._widen(points, {"lr": best}, ["lr"], {"lr": step})
    assert [p["lr"] for p in new] == expected
    assert stuck == ([] if expected else ["lr"])


def test_widening_above_snaps_to_the_bound():
    """Lion tried 9.999999999999998 beside 10.0."""
    points = [{"lr": 1e-4}, {"lr": 1.0000000000000002}]
    new, stuck = tuning._widen(points, points[1], ["lr"], {"lr": 0.9999999999999999})
    assert [p["lr"] for p in new] == [10.0]
    assert stuck == []
    new, stuck = tuning._widen([{"lr": 1.0}, {"lr": 9.999999999999998}],
                               {"lr": 9.999999999999998}, ["lr"], {"lr": 0.5})  # fmt: skip
    assert (new, stuck) == ([], ["lr"])


def test_a_grid_point_equal_to_the_default_up_to_rounding_is_one_candidate():
    run = Experiment.from_dict(
        {"name": "x", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 5}, "runs": [{"optimizer": "sgd", "lr": 0.010000000000000002}]}
    ).runs[0]  # fmt: skip
    points = tuning.candidates(run, ("lr",), 4, "grid", np.random.default_rng(0))
    assert [p["lr"] for p in points] == [0.010000000000000002, 0.001, 0.1, 1.0]


def test_widening_steps_by_the_grids_own_ratio(capsys):
    """An off-grid default (1e-5, ratio 100 to the grid's 1e-3) made the step from the
    best 1.0 a ×100 one, straight to 10, skipping 2.68 and 7.2."""
    argv = ["tune", "moons", "--optimizers", "sgd", "--lr", "sgd=1e-5", "--steps", "40",
            "--budget", "8", "--folds", "2", "--quiet", "--out", "M"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    sgd = tuning.load_tuned("M")["configurations"]["SGD"]
    ratio = 1000 ** (1 / 7)  # SGD's 1e-3…1 in 8 points
    first = [1e-05, *selection.LogUniform(1e-3, 1.0).grid(8)]
    assert lrs(sgd)[:9] == first
    assert sgd["best"]["lr"] == 1.0
    assert lrs(sgd)[9:] == pytest.approx([ratio, ratio**2], rel=1e-12)
    assert sgd["widened"] == 1
    assert sgd["at_bound"] == []


def test_random_draws_widen_by_the_ratio_of_a_grid_of_their_budget():
    """The draws' largest end ratio (0.3 / 0.01 = 30) took the best 0.3 to 9 and 10."""
    draws = [{"lr": 0.01}, {"lr": 0.3}, {"lr": 0.002}]
    run = Experiment.from_dict(
        {"name": "x", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 5}, "runs": [{"optimizer": "sgd"}]}
    ).runs[0]  # fmt: skip
    ratios = tuning._ratios(run, ("lr",), 8)
    assert ratios == {"lr": pytest.approx(3 / 7, rel=1e-15)}
    new, _ = tuning._widen(draws, draws[1], ["lr"], ratios)
    assert [p["lr"] for p in new] == pytest.approx([0.3 * 1000 ** (1 / 7), 0.3 * 1000 ** (2 / 7)])


def test_tpe_widens_by_the_grids_ratio(capsys):
    pytest.importorskip("optuna")
    argv = ["tune", "moons", "--optimizers", "sgd", "--steps", "40", "--budget", "8",
            "--folds", "2", "--method", "tpe", "--quiet", "--out", "T"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    sgd = tuning.load_tuned("T")["configurations"]["SGD"]
    tried = lrs(sgd)
    step = 3 / 7  # decades: SGD's 1e-3…1 in 8 points
    for i in range(9, len(tried), 2):  # each round: two points, one and two steps out
        pair = tried[i : i + 2]
        assert any(
            math.isclose(abs(math.log10(pair[0] / v)), step, rel_tol=1e-9) for v in tried[:i]
        )
        if len(pair) == 2 and pair[1] != tuning.HARD_BOUNDS["lr"][1]:
            assert math.isclose(abs(math.log10(pair[1] / pair[0])), step, rel_tol=1e-9)


def test_a_default_above_the_hard_bound_is_not_widened_inward(tmp_path):
    """AdaGrad at lr 50 (above the bound 10) won: tuning added 10, below it, called that
    'widened 1×' and flagged 50 as at a bound."""
    experiment = Experiment.from_dict(
        {"name": "high", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 100}, "runs": [{"optimizer": "adagrad", "lr": 50.0}]}
    )  # fmt: skip
    document = tuning.tune(experiment, tmp_path / "t", budget=3, progress=False)
    adagrad = document["configurations"]["AdaGrad"]
    assert adagrad["best"]["lr"] == 50.0
    assert adagrad["best"]["default"]
    assert lrs(adagrad) == [50.0, *selection.LogUniform(1e-3, 1.0).grid(3)]
    assert adagrad["widened"] == 0
    assert adagrad["at_bound"] == []
    _, notes = tuning.apply_tuned(experiment, document, source="t")
    assert (
        "(outside what tuning may try, lr in [1e-06, 10]: nothing beyond it was tried)"
        in (notes[0])
    )


# --------------------------------------------------------------------------- 5. tune.json


def bowl(steps=5) -> Experiment:
    return Experiment.from_dict(
        {"name": "b", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": steps}, "runs": [{"optimizer": "sgd", "lr": 0.01}]}
    )  # fmt: skip


def quick(experiment, out, **kwargs):
    return tuning.tune(experiment, out, **{"budget": 2, "progress": False, **kwargs})


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"experiment": bowl(6)}, "experiment training.steps: 5 → 6"),
        ({"budget": 3}, "budget: 2 → 3"),
        ({"method": "random"}, "method: grid → random"),
        ({"base_seed": 1}, "base_seed: 0 → 1"),
    ],
)
def test_another_tuning_into_the_same_directory_is_refused(tmp_path, change, needle):
    out = tmp_path / "O"
    quick(bowl(), out)
    before = tree(out)
    kwargs = dict(change)
    experiment = kwargs.pop("experiment", bowl())
    with pytest.raises(ConfigError) as caught:
        quick(experiment, out, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"--out {out} holds another tuning")
    assert needle in message
    assert "force" in message
    assert tree(out) == before  # no task ran, nothing was written
    document = quick(experiment, out, force=True, **kwargs)
    assert json.loads((out / "tune.json").read_text()) == json.loads(json.dumps(document))


def test_the_same_tuning_resumes_and_a_new_title_is_the_same_tuning(tmp_path, monkeypatch):
    out = tmp_path / "O"
    first = quick(bowl(), out)
    ran = count_calls(monkeypatch)
    again = quick(bowl().replace(title="Renamed"), out, workers=1)
    assert ran == []
    assert again["configurations"] == first["configurations"]


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_with_files_no_tuning_makes_is_refused(tmp_path, force):
    out = tmp_path / "junk"
    out.mkdir()
    (out / "tune.json").write_text('{"mine": true}\n')
    (out / "notes.txt").write_text("keep\n")
    before = tree(out)
    with pytest.raises(ConfigError, match=r"it holds 'notes.txt', which no tuning makes"):
        quick(bowl(), out, force=force)
    (out / "notes.txt").unlink()
    with pytest.raises(ConfigError, match=r"holds a tune.json that is not a gdlab tuning's"):
        quick(bowl(), out, force=force)
    assert tree(out) == {"tune.json": before["tune.json"]}


def test_force_must_be_a_bool(tmp_path):
    with pytest.raises(TypeError, match=r"^force must be True or False; got 'yes'"):
        quick(bowl(), tmp_path / "O", force="yes")
    assert not (tmp_path / "O").exists()


# --------------------------------------------------------------------------- 6. labels


def tuned_document(experiment: Experiment, lrs_by_label: dict[str, float]) -> dict:
    return {
        "schema": tuning.SCHEMA_ID,
        "experiment": experiment.to_dict(),
        "folds": 2,
        "budget": 2,
        "metric": "validation loss",
        "configurations": {
            run.label: {
                "best": {
                    "hyperparameters": {"lr": lrs_by_label.get(run.label, 0.1)},
                    "lr": lrs_by_label.get(run.label, 0.1),
                    "default": run.label not in lrs_by_label,
                },
                "within_10_percent": 0.5,
            }
            for run in experiment.runs
        },
    }


def test_a_tuned_schedule_run_is_labelled_with_its_tuned_rate():
    """``1/√t · 0.1`` raced at lr0 1."""
    import dataclasses

    schedules = experiments.builtin("schedules")
    # labels that state the rate (the built-in's name only the shape)
    stated = ["constant 0.1", "0.1/(1 + 1·epoch)", "0.95^epoch · 0.1", "1/√epoch · 0.1"]
    stated += ["1/√t · 0.1", "halve every 3 epochs"]
    runs = [dataclasses.replace(r, label=s) for r, s in zip(schedules.runs, stated, strict=True)]
    schedules = schedules.replace(runs=tuple(runs))
    tuned = tuned_document(schedules, {"1/√t · 0.1": 1.0, "constant 0.1": 0.31622776601683794})
    applied, notes = tuning.apply_tuned(schedules, tuned, source="S")
    labels = [r.label for r in applied.runs]
    assert labels == [
        "constant 0.31622776601683794", "0.1/(1 + 1·epoch)", "0.95^epoch · 0.1",
        "1/√epoch · 0.1", "1/√t · 1", "halve every 3 epochs",
    ]  # fmt: skip
    assert applied.runs[4].lr["lr0"] == 1.0
    assert "1/√t · 1 (tuned as '1/√t · 0.1') lr 1 (lr0 of its inverse_sqrt_step" in notes[0]
    # the report's table and figures find each raced run's tuning under its new label
    assert list(tuning.series(tuned)["configurations"]) == labels
    runs = [
        {"id": f"{label}-seed0", "group": label, "status": "ok", "loss": [2.0, 1.0],
         "metrics": {"final_loss": 1.0}}
        for label in labels
    ]  # fmt: skip
    _, rows = comparison(runs, tuning.series(tuned)["configurations"])
    assert [row["lr"] for row in rows] == [0.31622776601683794, *[0.1] * 3, 1.0, 0.1]


def test_a_label_with_several_numbers_at_the_old_rate_says_the_new_one():
    experiment = Experiment.from_dict(
        {"name": "s", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 5}, "runs": [{"label": "1/(1 + 1·epoch)", "optimizer": "sgd",
                   "lr": {"name": "inverse_time", "lr0": 1.0, "decay_rate": 1.0}},
                  {"label": "SGD 0.5", "optimizer": "sgd", "lr": 0.25},
                  {"label": "SGD 0.25", "optimizer": "sgd", "lr": 0.25}]}
    )  # fmt: skip
    tuned = tuned_document(experiment, {"1/(1 + 1·epoch)": 0.5, "SGD 0.25": 0.5})
    applied, _ = tuning.apply_tuned(experiment, tuned)
    # "SGD 0.5" states no rate of its own (its lr is 0.25, its own setting won): kept, so
    # "SGD 0.25" at 0.5 cannot take its label
    assert [r.label for r in applied.runs] == [
        "1/(1 + 1·epoch) → lr 0.5", "SGD 0.5", "SGD 0.25 → lr 0.5",
    ]  # fmt: skip


# --------------------------------------------------------------------------- 7. the target


def race_run(group, loss, status="ok"):
    return {"id": f"{group}-0", "group": group, "seed": 0, "status": status, "loss": loss,
            "metrics": {"final_loss": loss[-1] if loss else None}}  # fmt: skip


def test_a_spiking_run_does_not_make_its_start_the_target():
    """RMSprop's tuned lr spiked the bowl's loss: its best smoothed loss was its first,
    the target, and every configuration reached it at step 1."""
    falling = [6.45, 5.2, 4.3, 3.5, 2.8]
    runs = [race_run("SGD", falling), race_run("RMSprop", [6.45, 1e4, 6.2, 1e-2, 1e-4])]
    target, rows = comparison(runs, {})
    assert target == ewma(falling, 0.9, bias_correction=True)[-1]
    steps = {row["group"]: row["steps_to_target"] for row in rows}
    assert steps == {"SGD": 5, "RMSprop": None}


def test_no_configuration_below_its_start_means_no_target():
    runs = [race_run("SGD", [1.0, 1.0, 1.0]), race_run("Adam", [1.0, 2.0, 3.0])]
    target, rows = comparison(runs, {})
    assert target is None
    assert [row["steps_to_target"] for row in rows] == [None, None]


# --------------------------------------------------------------------------- 8. the docs


def test_the_docs_search_signature_and_example_run():
    text = DOCS.read_text(encoding="utf-8")
    written = re.search(r"- `search\((.*?)\)`:", text, re.DOTALL)
    assert written is not None
    assert_written_signature(" ".join(written[1].split()), selection.search)
    section = text[text.index("## `gdlab.selection`") : text.index("## `gdlab.sweep`")]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    ast.parse(block)
    namespace: dict = {}
    exec(compile(block, str(DOCS), "exec"), namespace)
    assert set(namespace["result"].best_config) == {"lr"}
    assert 0.0 <= namespace["result"].final["test"]["accuracy"] <= 1.0
