"""Round 8 of the experiment model: labels that stay true after a change, decimal
widening, a full batch after an explicit batching, and ``--set`` with a label as shown."""

from __future__ import annotations

import json

import pytest

from cli_run import gdlab
from gdlab import tuning
from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.experiments.describe import text
from gdlab.experiments.model import fresh_labels, slug

QUICK = ["--quiet", "--no-figures"]
STEP = {"name": "step", "lr0": 0.1, "every": 1, "factor": 0.9, "per": "epoch"}


def labels(experiment) -> list[str]:
    return [r.label for r in experiment.runs]


# ----------------------------------------------------------------- 1. labels stay true


def test_a_batch_size_for_every_run_relabels_the_runs_whose_labels_state_their_batches():
    boston = builtin("boston")
    changed = boston.set("training.batch_size", 32)
    assert labels(changed) == [
        "SGD (batch 32, lr 0.01)",
        "SGD (batch 32 at random, lr 0.01)",
        "SGD (batch 32 at random, lr 0.01) (2)",
    ]
    assert len({slug(label) for label in labels(changed)}) == 3
    words = text(changed, base=boston)
    for old in ("all 506 samples", "1 sample", "30 samples"):
        assert old not in words["title"]
        assert old not in words["description"].split("Changed from")[0].split("Problem:")[1]
    assert "SGD (1 sample) → SGD (batch 32 at random, lr 0.01)" in "; ".join(words["changes"])
    assert "SGD (batch 32 at random, lr 0.01): batch_size: 1 → 32" in words["changes"]


def test_one_runs_batch_size_relabels_that_run_alone():
    boston = builtin("boston")
    changed = boston.set("sgd-1-sample.batch_size", 8)
    assert labels(changed) == [
        "GD (all 506 samples)",
        "SGD (batch 8 at random, lr 0.01)",
        "Mini-batch (30 samples)",
    ]
    words = text(changed, base=boston)
    assert "SGD (1 sample)" not in words["description"].split("Changed from")[0]


def test_a_new_schedule_relabels_its_run_and_a_new_batch_or_rate_does_not():
    schedules = builtin("schedules")
    changed = schedules.set("halve-every-3-epochs.lr", STEP)
    assert labels(changed)[:5] == labels(schedules)[:5]
    assert labels(changed)[5] == "SGD (batch 64, step: lr0 0.1 every 1 factor 0.9 per epoch)"
    # the labels state the schedules, not the batches nor the rate they all share
    assert labels(schedules.set("training.batch_size", 32)) == labels(schedules)
    assert labels(schedules.with_lr("constant", 0.2)) == labels(schedules)
    assert labels(schedules.set("halve-every-3-epochs.lr", 0.3)) == labels(schedules)


def test_a_label_set_with_the_change_stays_and_class_name_labels_stay():
    boston = builtin("boston")
    mine = boston.set("sgd-1-sample.label", "mine").set("mine.batch_size", 3)
    assert labels(mine)[1] == "SGD (batch 3 at random, lr 0.01)"  # a label set before: as any other
    kept = boston.set("sgd-1-sample.batch_size", 3).set("sgd-batch-3-at-random-lr-0.01.label", "x")
    assert labels(kept)[1] == "x"
    moons = builtin("moons")
    assert labels(moons.set("adam.batch_size", 8).set("adam.beta1", 0.5)) == labels(moons)


def test_a_label_stating_a_hyperparameter_is_relabelled_when_it_changes():
    boston = builtin("boston")
    own = boston.set("sgd-1-sample.label", "SGD, decay 0.001").set(
        "sgd-decay-0.001.weight_decay", 0.001
    )
    assert labels(own)[1] == "SGD, decay 0.001"
    changed = own.set("sgd-decay-0.001.weight_decay", 0.01)
    assert labels(changed)[1] == "SGD (batch 1 at random, lr 0.01, weight_decay 0.01)"
    # a hyperparameter it does not state leaves it as it is
    assert labels(boston.set("sgd-1-sample.weight_decay", 0.01)) == labels(boston)


def test_fresh_labels_prefer_a_first_choice_no_other_run_wants():
    assert fresh_labels(["a", "b", "c"], {0: ("x", "a → 1"), 1: ("x", "b → 1")}) == {
        0: "a → 1",
        1: "b → 1",
    }
    assert fresh_labels(["a", "b"], {0: ("b",), 1: ("b",)}) == {0: "b", 1: "b (2)"}


def test_the_race_report_says_what_ran(tmp_path, capsys):
    out = tmp_path / "b1"
    argv = ["race", "boston", "--batch-size", "32", "--steps", "3", *QUICK, "--out", str(out)]
    code, _, err = gdlab(argv, capsys)
    assert code == 0, err
    results = json.loads((out / "results.json").read_text())
    assert "sample" not in results["title"]
    assert [r["label"] for r in results["config"]["runs"]] == labels(
        builtin("boston").set("training.batch_size", 32)
    )


# ----------------------------------------------------------------- 2. decimal widening


def test_widening_a_decimal_grid_by_whole_decades_stays_decimal():
    grid = [{"lr": lr} for lr in (0.003, 0.03, 0.3)]
    new, _ = tuning._widen(grid, grid[-1], ["lr"], {"lr": 1.0})
    assert [p["lr"] for p in new] == [3.0, 10.0]  # not 2.9999999999999996; the bound
    grid = [{"lr": lr} for lr in (0.0095, 0.095, 0.95)]
    new, _ = tuning._widen(grid, grid[-1], ["lr"], {"lr": 1.0})
    assert new[0]["lr"] == 9.5  # not 9.499999999999998
    new, _ = tuning._widen(grid, grid[0], ["lr"], {"lr": 1.0})
    assert [p["lr"] for p in new][:2] == [0.00095, 0.000095]


def test_widening_by_a_part_of_a_decade_keeps_fifteen_digits():
    grid = [{"lr": lr} for lr in (0.01, 0.1)]
    new, _ = tuning._widen(grid, grid[-1], ["lr"], {"lr": 0.5})
    assert new[0]["lr"] == float(f"{0.1 * 10**0.5:.15g}")


# ----------------------------------------------------------------- 3. batching, either order


@pytest.mark.parametrize(
    "order",
    [
        [("training.batching", "random"), ("training.batch_size", "full")],
        [("training.batch_size", "full"), ("training.batching", "random")],
    ],
)
def test_an_explicit_random_batching_and_a_full_batch_are_refused_in_either_order(order):
    (first, one), (second, two) = order
    experiment = builtin("moons").select_optimizers(["sgd"]).set(first, one)
    with pytest.raises(ConfigError) as error:
        experiment.set(second, two)
    assert "training.batching = 'random' needs a batch_size" in str(error.value)


def test_a_full_batch_still_puts_a_files_batching_back_to_epoch():
    mnist = builtin("mnist")
    assert mnist.training.batching == "random"
    assert mnist.set("training.batch_size", "full").training.batching == "epoch"
    moons = builtin("moons").set("training.batching", "epoch").set("training.batch_size", "full")
    assert moons.training.batching == "epoch"


# ----------------------------------------------------------------- 4. a label as shown


def test_set_takes_a_dotted_label_as_shown_as_lr_does():
    schedules = builtin("schedules")
    by_set = schedules.set("0.95^epoch.lr", 0.2)
    assert by_set == schedules.with_lr("0.95^epoch", 0.2)
    assert by_set == schedules.set("0.95-epoch.lr", 0.2)
    assert by_set.runs[2].hyperparameters["lr"]["lr0"] == 0.2


def test_a_relabelled_run_is_still_named_by_its_former_label():
    boston = builtin("boston")
    changed = boston.set("gd-all-506-samples.batch_size", 30)
    changed = changed.set("gd-all-506-samples.batching", "random").set("sgd-1-sample.batch_size", 9)
    assert labels(changed) == [
        "SGD (batch 30 at random, lr 0.01)",
        "SGD (batch 9 at random, lr 0.01)",
        "Mini-batch (30 samples)",
    ]
    assert changed.set("GD (all 506 samples).lr", 0.5).runs[0].hyperparameters["lr"] == 0.5


def test_a_setting_only_one_optimizer_has_does_not_tell_the_runs_apart():
    # Adam's eps is not a difference between Adam and SGD: a label that states no eps
    # stays when eps changes (it depended on which other optimizers raced)
    moons = builtin("moons").set("sgd.label", "plain").set("adam.label", "my adaptive")
    changed = moons.set("adam.eps", 1e-6)
    assert labels(changed) == ["plain", "Momentum", "my adaptive"]


def test_a_relabelled_schedule_says_its_arguments():
    changed = builtin("schedules").set(
        "0.95^epoch.lr", {"name": "exponential", "lr0": 0.1, "rate": 0.9, "per": "epoch"}
    )
    assert "SGD (batch 64, exponential: lr0 0.1 rate 0.9 per epoch)" in labels(changed)
