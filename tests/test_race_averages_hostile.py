"""A hostile user's races: the tuned comparison's statistics and diverged classifiers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gdlab.averages import EWMA, ewma
from gdlab.experiments import Experiment
from gdlab.race import comparison, race


def _run(group: str, seed: int, loss: list[float], *, status: str = "ok", **metrics) -> dict:
    """A run record as comparison reads it (final loss: the last loss unless given)."""
    final = metrics.pop("final_loss", loss[-1] if loss else None)
    return {
        "id": f"{group}-seed{seed}",
        "group": group,
        "seed": seed,
        "status": status,
        "steps": len(loss),
        "loss": loss,
        "metrics": {"final_loss": final, **metrics},
    }


def _row(rows: list[dict], group: str) -> dict:
    return next(row for row in rows if row["group"] == group)


# --------------------------------------------------------------------------- comparison


def test_runs_that_never_fall_below_their_start_set_no_target():
    """Every run starts at the minimum (loss 0) and stays there: no run fell, so there is
    no target to reach (not a target at the start that every run 'reaches' at step 1)."""
    runs = [_run("SGD", 0, [0.0, 0.0, 0.0]), _run("Adam", 0, [0.0, 0.0])]
    target, rows = comparison(runs, {})
    assert target is None
    assert [row["steps_to_target"] for row in rows] == [None, None]


def test_a_target_at_or_below_zero_is_a_target():
    """Losses that fall through 0 (a loss may be negative): the target is the worst best,
    below 0, and is reached, not 'never' because it is not positive."""
    runs = [_run("SGD", 0, [1.0, -1.0, -2.0, -3.0]), _run("Adam", 0, [1.0, 0.0, -1.0, -1.5])]
    target, rows = comparison(runs, {})
    assert target is not None
    assert target < 0
    assert all(row["steps_to_target"] is not None for row in rows)


def test_steps_to_target_is_the_median_over_every_seed():
    """Three seeds: one at the target at step 1, one at step 5, one never. The median seed
    took 5 steps; the seed that never got there is not left out (which made it 3, a step
    no seed took)."""
    runs = [
        _run("SGD", 0, [0.0] * 5),
        _run("SGD", 1, [4.0, 3.0, 2.0, 1.0, 0.0]),
        _run("SGD", 2, [9.0] * 5),
    ]
    target, rows = comparison(runs, {})
    assert target == ewma([4.0, 3.0, 2.0, 1.0, 0.0], 0.9, bias_correction=True)[-1]
    assert rows[0]["steps_to_target"] == 5


def test_a_failed_seed_is_counted_apart_not_as_a_slow_one():
    runs = [
        _run("SGD", 0, [2.0, 1.0]),
        _run("SGD", 1, [], status="failed"),
        _run("SGD", 2, [3.0, 2.5], status="diverged", final_loss=1e30),
    ]
    _, rows = comparison(runs, {})
    row = rows[0]
    assert (row["seeds"], row["diverged"], row["failed"]) == (3, 1, 1)
    assert row["steps_to_target"] == 2
    assert (row["final_loss_mean"], row["final_loss_std"]) == (1.0, None)


def test_equal_seeds_have_their_value_as_mean_and_no_spread():
    runs = [_run("SGD", s, [0.5, 0.1], test_accuracy=0.7) for s in range(3)]
    _, rows = comparison(runs, {})
    row = rows[0]
    assert (row["final_loss_mean"], row["final_loss_std"]) == (0.1, 0.0)
    assert (row["test_accuracy_mean"], row["test_accuracy_std"]) == (0.7, 0.0)


@pytest.mark.parametrize(
    ("finals", "mean", "std"),
    [
        ([1e200, -1e200], 0.0, 1e200),  # the squares overflowed: std was inf
        ([1e308, 1e308], 1e308, 0.0),  # the sum overflowed: mean was inf
        ([-3e300, -1e300], -2e300, 1e300),
    ],
)
def test_huge_final_losses_do_not_overflow(finals, mean, std):
    """A loss unbounded below (f = -x) runs to -1e300 without diverging."""
    runs = [_run("SGD", s, [1.0, 1.0], final_loss=v) for s, v in enumerate(finals)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, rows = comparison(runs, {})
    assert rows[0]["final_loss_mean"] == pytest.approx(mean, rel=1e-15, abs=0)
    assert rows[0]["final_loss_std"] == pytest.approx(std, rel=1e-15)


# --------------------------------------------------------------------------- races


def _xor(lr: float) -> Experiment:
    return Experiment.from_dict(
        {
            "name": "xor-blowup",
            "problem": {"kind": "mlp", "data": "xor", "hidden": [5]},
            "training": {"steps": 3, "batch_size": 16},
            "runs": [{"optimizer": "sgd", "lr": lr}, {"optimizer": "adam", "lr": 0.01}],
        }
    )


def test_a_classifier_that_blows_up_is_diverged_without_a_boundary():
    """Its parameters are inf/NaN: the boundary grid was all NaN (null in results.json,
    which the schema refuses) and warned, so that with warnings as errors the run was
    recorded as failed instead of diverged."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sgd, adam = race(_xor(1e300), progress=False)
    assert sgd["status"] == "diverged", sgd["reason"]
    assert "boundary" not in sgd
    probability = np.asarray(adam["boundary"]["probability"], dtype=np.float64)
    assert probability.shape == (100, 100)
    assert np.isfinite(probability).all()


# --------------------------------------------------------------------------- averages


def test_ints_past_int64_are_real_numbers():
    """NumPy keeps 10**20 as an object array: it was refused as 'not real numbers'."""
    assert ewma([10**20, 1], 0.5).tolist() == ewma([1e20, 1.0], 0.5).tolist()
    both = ewma([[10**20, 2], [1, 3]], 0.9, bias_correction=True, axis=1)
    assert (
        both.tolist() == ewma([[1e20, 2.0], [1.0, 3.0]], 0.9, bias_correction=True, axis=1).tolist()
    )
    assert EWMA(0.5).update([10**20, 3]).tolist() == [5e19, 1.5]


def test_an_int_past_float64_is_named_with_its_index():
    with pytest.raises(ValueError, match=r"x\[1\] must be within float64's range"):
        ewma([1, 10**400], 0.5)
    average = EWMA(0.5)
    with pytest.raises(ValueError, match=r"x\[0, 1\] must be within float64's range"):
        average.update([[1, 10**400]])
    assert average.t == 0  # a failed update changes nothing


def test_a_run_whose_parameters_blew_up_writes_a_valid_results_json(tmp_path):
    # SGD at lr 1e308 on the bowl: y overflows to inf, written as null, which the
    # schema's numeric_tree refused (results.json then failed its own schema).
    import json

    from gdlab import cli
    from gdlab.report.schema import validate

    argv = ["race", "bowl", "--optimizers", "sgd", "--lr", "sgd=1e308", "--no-figures"]
    assert cli.main([*argv, "--quiet", "--out", str(tmp_path / "r")]) == 0
    document = json.loads((tmp_path / "r" / "results.json").read_text())
    (run,) = document["runs"]
    assert run["status"] == "diverged"
    assert None in run["final_params"].values()
    validate(document)
