"""Round 9 of the tuning fixes: a tuned race on other data, one budget per optimizer,
widening steps of at most a decade, numbers stuck to a name in a label, no spread
where there is one score, and why a run has no tuned setting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdlab import cli, tuning
from gdlab._checks import ConfigError
from gdlab.data import write_idx
from gdlab.experiments.model import Experiment, _label_numbers, label_change
from gdlab.selection import default_space
from test_tuning_round6 import count_calls


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Nothing is written into the repository, whatever a test forgets to pass."""
    monkeypatch.chdir(tmp_path)


def run_of(optimizer: str, **hyperparameters) -> object:
    return Experiment.from_dict(
        {"name": "x", "problem": {"kind": "function", "function": "bowl"},
         "training": {"steps": 5}, "runs": [{"optimizer": optimizer, **hyperparameters}]}
    ).runs[0]  # fmt: skip


# --------------------------------------------------------------------------- 1. the data


def fake_mnist(directory: Path, n_train: int, seed: int) -> None:
    """MNIST's four IDX files of random digits."""
    rng = np.random.default_rng(seed)
    directory.mkdir(exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        write_idx(directory / f"{stem}-images-idx3-ubyte", images)
        write_idx(
            directory / f"{stem}-labels-idx1-ubyte", np.tile(np.arange(10, dtype=np.uint8), n // 10)
        )


def idx_experiment(directory: Path) -> Experiment:
    return Experiment.from_dict(
        {"name": "idx",
         "problem": {"kind": "mlp", "data": "mnist", "directory": str(directory), "hidden": [4]},
         "training": {"steps": 3, "batch_size": 8},
         "runs": [{"optimizer": "sgd", "lr": 0.01}]}
    )  # fmt: skip


def test_a_tuned_race_on_other_data_is_refused_naming_both_digests(tmp_path):
    """Files replaced under the same --data directory raced at the rates tuned on the
    old ones, and the report said they were tuned for this data."""
    idx, out = tmp_path / "idx", tmp_path / "T"
    fake_mnist(idx, 100, seed=1)
    document = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    tuned = tuning.load_tuned(out)
    raced, _ = tuning.apply_tuned(idx_experiment(idx), tuned, out)  # the same data: raced
    assert raced.runs[0].optimizer == "sgd"
    fake_mnist(idx, 150, seed=2)
    with pytest.raises(ConfigError) as caught:
        tuning.apply_tuned(idx_experiment(idx), tuned, out)
    old = document["settings"]["data"]
    tuning._DATA.clear()
    new = tuning._data_digest(tuning._pool(idx_experiment(idx)))
    assert old != new
    assert str(caught.value) == (
        f"the tuning results in {out} were tuned on other data than this race's (tuning → "
        f"race: the training data's digest: {old} → {new}): race on the data that was "
        "tuned, or run `gdlab tune` again on this data"
    )


def test_gdlab_race_tuned_on_replaced_files_exits_with_the_digests(tmp_path, capsys):
    idx = tmp_path / "idx"
    fake_mnist(idx, 100, seed=1)
    common = ["mnist", "--data", str(idx), "--optimizers", "sgd", "--steps", "3",
              "--batch-size", "8"]  # fmt: skip
    tune = ["tune", *common, "--budget", "2", "--folds", "2", "--quiet", "--out", "T"]
    assert cli.main(tune) == 0, capsys.readouterr().err
    fake_mnist(idx, 150, seed=2)
    capsys.readouterr()
    assert cli.main(["race", *common, "--tuned", "T", "--quiet", "--out", "R"]) == 2
    assert "the training data's digest: " in capsys.readouterr().err
    assert not Path("R").exists()


# --------------------------------------------------------------------------- 2. the budget


@pytest.mark.parametrize(
    ("optimizer", "tune", "budget", "counts"),
    [
        ("sgd", ("lr",), 8, {"lr": 8}),
        ("momentum", ("lr", "momentum"), 8, {"lr": 4, "momentum": 2}),
        ("adam", ("lr", "beta1"), 16, {"lr": 4, "beta1": 4}),
        ("adam", ("lr", "beta1", "eps"), 8, {"lr": 2, "beta1": 2, "eps": 2}),
        ("adam", ("beta1", "lr"), 8, {"beta1": 2, "lr": 4}),  # lr first, whatever the order
        ("adam", ("lr", "beta1"), 2, {"lr": 2, "beta1": 1}),
        ("adam", ("lr", "beta1"), 64, {"lr": 16, "beta1": 4}),  # a list has its own values
    ],
)
def test_a_grid_has_at_most_budget_points_whatever_the_names(optimizer, tune, budget, counts):
    assert tuning._grid_counts(default_space(optimizer, tune=tune), budget) == counts


def test_every_optimizer_gets_the_same_budget():
    """--budget 8 --tune lr,beta1,momentum tried SGD 9, Momentum 17 and Adam 19 points:
    a grid of 8 rates for SGD, 4 × 4 for two names."""
    rng = np.random.default_rng(0)
    sizes = {}
    for name in ("sgd", "momentum", "adam"):
        run = run_of(name, lr=0.005)  # off every grid: the default is one point more
        own = tuning._own_tune(run, ("lr", "beta1", "momentum"))
        for method in ("grid", "random"):
            points = tuning.candidates(run, own, 8, method, rng)
            sizes[name, method] = len(points) - 1  # the untuned default is extra
    assert set(sizes.values()) == {8}


def test_a_short_list_is_spread_over_its_values_and_one_value_is_the_runs_own():
    space = default_space("momentum", tune=("lr", "momentum"))
    grid = tuning._grid(space, 8, {"lr": 0.01, "momentum": 0.9})
    assert sorted({p["momentum"] for p in grid}) == [0.5, 0.99]
    assert sorted({p["lr"] for p in grid}) == pytest.approx([1e-3, 1e-2, 1e-1, 1.0])
    single = tuning._grid(space, 2, {"lr": 0.01, "momentum": 0.9})
    assert [p["momentum"] for p in single] == [0.9, 0.9]


# --------------------------------------------------------------------------- 3. widening


def test_widening_never_jumps_over_a_decade_untried():
    """Adam's lr grid at --budget 4 with beta1 is 1e-4 and 0.1: its best 0.1 widened
    straight to 10 (×1000, the hard bound), never trying 1."""
    run = run_of("adam")
    ratios = tuning._ratios(run, ("lr", "beta1"), 4)
    assert ratios == {"lr": 1.0}
    grid = [{"lr": 1e-4, "beta1": 0.9}, {"lr": 0.1, "beta1": 0.9}]
    new, stuck = tuning._widen(grid, grid[1], ["lr"], ratios)
    assert [p["lr"] for p in new] == [1.0, 10.0]
    assert stuck == []
    # a grid finer than a decade keeps its own step (SGD's 8 rates: ×2.68)
    assert tuning._ratios(run_of("sgd"), ("lr",), 8) == {"lr": pytest.approx(3 / 7, rel=1e-15)}
    # random draws step as a grid of their budget does, at most a decade
    assert tuning._ratios(run_of("adam"), ("lr", "beta1", "eps"), 8)["eps"] == 1.0


# --------------------------------------------------------------------------- 4. labels


@pytest.mark.parametrize(
    ("label", "numbers"),
    [
        ("Adam lr 0.001 β0.9", ["0.001", "0.9"]),
        ("Adam b0.9", ["0.9"]),
        ("SGD lr0.1", ["0.1"]),
        ("SGD lr1e-3", ["1e-3"]),
        ("1/√t · 0.1", ["1", "0.1"]),
        ("SGD, batch 1", ["1"]),
    ],
)
def test_a_number_stuck_to_a_name_states_a_value(label, numbers):
    assert [m[0] for m in _label_numbers(label)] == numbers


@pytest.mark.parametrize(
    ("label", "numbers"),
    [
        ("Adam2", []),
        ("L2 net", []),
        ("Adam β1 0.9", ["0.9"]),
        ("x²/20", ["20"]),
        ("x²0.5", []),
        ("784-100-10", ["784", "100", "10"]),
        ("sgd_0.1", []),
        ("v1.2.3", []),
    ],
)
def test_a_name_with_a_digit_is_not_read_as_a_value(label, numbers):
    assert [m[0] for m in _label_numbers(label)] == numbers


@pytest.mark.parametrize("beta", ["β0.9", "b0.9", "beta1 0.9"])
def test_a_tuned_label_does_not_keep_a_beta_it_no_longer_has(beta):
    """The label "Adam lr 0.001 β0.9" raced as "Adam lr 0.1 β0.9 (adam: lr 0.1, beta1 0.5)"."""
    old = run_of("adam", lr=0.001, label=f"Adam lr 0.001 {beta}")
    new = old.with_hyperparameters(lr=0.1, beta1=0.5)
    (label,) = label_change(old, new)
    assert "0.9" not in label
    assert "0.5" in label
    assert "0.1" in label


def test_a_label_stuck_to_its_rate_gets_the_tuned_rate():
    old = run_of("sgd", lr=0.1, label="SGD lr0.1")
    assert label_change(old, old.with_hyperparameters(lr=1.0)) == ("SGD lr1", "SGD lr0.1 → lr 1")


# --------------------------------------------------------------------------- 5. no spread


def test_a_hold_out_has_no_spread(capsys):
    argv = ["tune", "moons", "--steps", "20", "--budget", "2", "--folds", "1", "--metric",
            "loss", "--optimizers", "sgd,adam", "--quiet", "--out", "H"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    document = tuning.load_tuned("H")
    for c in document["configurations"].values():
        assert c["best"]["std"] is None
        assert {p["std_loss"] for p in c["points"]} == {None}
        assert {p["std_accuracy"] for p in c["points"]} == {None}
        assert set(c["std"]) == {None}


def test_a_2d_function_has_no_spread_and_records_the_one_fold_it_ran(capsys):
    """tune.json said folds 1 and settings.folds 3, and ± 0 for its final loss."""
    assert cli.main(["tune", "bowl", "--budget", "2", "--quiet", "--out", "B"]) == 0
    document = tuning.load_tuned("B")
    assert document["folds"] == document["settings"]["folds"] == 1
    for c in document["configurations"].values():
        assert c["best"]["std"] is None
        assert {p["std_loss"] for p in c["points"]} == {None}
    # the same tuning with another --folds: it resumes (the folds are not the function's)
    assert cli.main(["tune", "bowl", "--budget", "2", "--folds", "5", "--quiet", "--out",
                     "B"]) == 0  # fmt: skip
    capsys.readouterr()


def test_k_folds_keep_their_spread():
    rows = [{"status": "ok", "result": {"status": "ok", "val_loss": v, "val_accuracy": a}}
            for v, a in ((1.0, 0.5), (3.0, 0.7))]  # fmt: skip
    summary = tuning._summary(rows)
    assert summary["std_loss"] == 1.0
    assert summary["std_accuracy"] == pytest.approx(0.1)
    assert tuning._summary(rows[:1])["std_loss"] is None


# --------------------------------------------------------------------------- 6. why no setting


def steeper() -> Experiment:
    return Experiment.from_dict(
        {"name": "steeper",
         "problem": {"kind": "expression", "expression": "1e8*(x^2 + y^2)", "start": [1.0, 1.0]},
         "training": {"steps": 200},
         "runs": [{"label": "SGD", "optimizer": "sgd", "lr": 0.5}]}
    )  # fmt: skip


def test_a_run_whose_every_candidate_diverged_is_refused_saying_why(tmp_path):
    out = tmp_path / "T"
    tuning.tune(steeper(), out, budget=4, progress=False)
    tuned = tuning.load_tuned(out)
    assert tuned["configurations"]["SGD"]["best"] is None
    with pytest.raises(ConfigError) as caught:
        tuning.apply_tuned(steeper(), tuned, out)
    assert str(caught.value) == (
        f"{out} has no tuned setting for SGD (every candidate diverged, down to the lowest "
        "rate tuning may try, 1e-06: no rate tried trains it; check the problem (a steep "
        "function, a far start) and its training, or race it without --tuned)"
    )


def test_a_run_with_failed_tasks_is_refused_saying_so():
    failed = {"points": [{"hyperparameters": {"lr": 0.1}, "diverged": 0, "failed": 1}]}
    assert tuning._why_unfinished("SGD", failed) == "SGD has 1 of its 1 candidates unscored"
    diverged = {"points": [{"hyperparameters": {"lr": 0.01}, "diverged": 1, "failed": 0}]}
    assert "down to lr 0.01" in tuning._why_untuned("SGD", diverged)


def test_a_tuning_by_an_earlier_gdlab_is_not_said_to_be_on_other_data(capsys):
    """Its data digest (no format prefix) was taken of the data as then kept: not
    comparable, and not evidence of other data."""
    import json

    tune = ["tune", "moons", "--optimizers", "sgd", "--steps", "10", "--budget", "2",
            "--folds", "2", "--quiet", "--out", "T"]  # fmt: skip
    assert cli.main(tune) == 0
    summary = Path("T", "tune.json")
    document = json.loads(summary.read_text())
    assert document["settings"]["data"].startswith(f"{tuning.DATA_DIGEST_FORMAT}-")
    document["settings"]["data"] = document["settings"]["data"].split("-", 1)[1]
    summary.write_text(json.dumps(document))
    capsys.readouterr()
    race = ["race", "moons", "--optimizers", "sgd", "--steps", "10", "--tuned", "T",
            "--no-figures", "--quiet", "--out", "R"]  # fmt: skip
    assert cli.main(race) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "made by an earlier gdlab" in err
    assert "other data" not in err
    assert not Path("R").exists()


# --------------------------------------------------------------------------- the data's path


def task_ids(out: Path) -> dict[str, set[str]]:
    import json

    return {
        tasks.name: {json.loads(line)["id"] for line in tasks.read_text().splitlines()}
        for tasks in out.glob("tasks-*.jsonl")
    }


def test_the_same_data_by_another_path_is_the_same_tuning(tmp_path, monkeypatch):
    """A link to the data's folder, or a copy of it, named every task anew (the folder's
    path was in the task ids): nothing was reused, and tune.json was "another tuning"
    and "another problem" to tune and to a race. docs/tuning.md: tasks are named by a
    digest of the training arrays, not by where their files are."""
    idx, out = tmp_path / "idx", tmp_path / "T"
    fake_mnist(idx, 100, seed=1)
    (tmp_path / "link").symlink_to(idx)
    (tmp_path / "copy").mkdir()
    for file in idx.iterdir():
        (tmp_path / "copy" / file.name).write_bytes(file.read_bytes())
    first = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    ran = count_calls(monkeypatch)
    for other in ("link", "copy"):
        again = tuning.tune(idx_experiment(tmp_path / other), out, budget=2, folds=2,
                            progress=False)  # fmt: skip
        assert ran == []  # every task reused
        assert again["configurations"] == first["configurations"]
        assert again["experiment"]["problem"]["directory"] == str(tmp_path / other)
    ids = list(task_ids(out).values())
    assert len(ids) == 3  # a file per path,
    assert ids[0] == ids[1] == ids[2]  # the same tasks
    tuned = tuning.load_tuned(out)
    raced, _ = tuning.apply_tuned(idx_experiment(idx), tuned, out)  # tuned by way of copy/
    assert raced.problem.options["directory"] == str(idx)


def test_other_data_by_another_path_is_still_another_problem(tmp_path):
    idx, other, out = tmp_path / "idx", tmp_path / "other", tmp_path / "T"
    fake_mnist(idx, 100, seed=1)
    fake_mnist(other, 100, seed=2)
    tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    with pytest.raises(ConfigError, match=r"the training data's digest: .*problem.directory: "):
        tuning.tune(idx_experiment(other), out, budget=2, folds=2, progress=False)
    with pytest.raises(ConfigError, match=r"another problem of 'idx' .*problem.directory: .* "
                       r"the training data's digest: "):  # fmt: skip
        tuning.apply_tuned(idx_experiment(other), tuning.load_tuned(out), out)


def test_a_tuning_whose_ids_held_the_path_is_resumed_from_its_tasks(tmp_path, monkeypatch):
    """A task file of an earlier gdlab (its ids named the folder's path) is read for the
    tasks it finished: nothing runs again."""
    idx, out = tmp_path / "idx", tmp_path / "T"
    fake_mnist(idx, 100, seed=1)
    with monkeypatch.context() as earlier:  # as it named them: the problem table whole
        earlier.setattr(tuning, "_unlocated", dict)
        first = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    ran = count_calls(monkeypatch)
    again = tuning.tune(idx_experiment(idx), out, budget=2, folds=2, progress=False)
    assert ran == []
    assert again["configurations"] == first["configurations"]
    ids = list(task_ids(out).values())
    assert len(ids) == 2  # its own file, and this one's
    assert ids[0] != ids[1]


def test_gdlab_race_tuned_on_the_same_data_by_a_link_races(tmp_path, capsys):
    """It was refused: "the tuning results in T are for another problem of 'mnist'
    (tuning → race: problem.directory: …/idx → …/link): run `gdlab tune` again"; and a
    race run again from its results.json after a tuning of the same data by a copy
    keeps its tuned comparison."""
    import json

    idx = tmp_path / "idx"
    fake_mnist(idx, 100, seed=1)
    (tmp_path / "link").symlink_to(idx)
    (tmp_path / "copy").mkdir()
    for file in idx.iterdir():
        (tmp_path / "copy" / file.name).write_bytes(file.read_bytes())

    def common(data: str) -> list[str]:
        return ["mnist", "--data", data, "--optimizers", "sgd", "--steps", "3",
                "--batch-size", "8", "--quiet"]  # fmt: skip

    tune = ["--budget", "2", "--folds", "2", "--out", "T"]
    assert cli.main(["tune", *common("idx"), *tune]) == 0, capsys.readouterr().err
    race = ["race", *common("link"), "--tuned", "T", "--no-figures", "--out", "R"]
    assert cli.main(race) == 0, capsys.readouterr().err
    assert cli.main(["tune", *common("copy"), *tune]) == 0, capsys.readouterr().err
    again = ["race", "--config", "R/results.json", "--no-figures", "--quiet", "--out", "R2"]
    assert cli.main(again) == 0, capsys.readouterr().err
    assert json.loads(Path("R2", "results.json").read_text())["series"]["kind"] == "tuning"
