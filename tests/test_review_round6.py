"""What the last read of round 6's change found: step counts that agree, one BLAS count
at a time, an interrupted first update that is the run's, problem keys before the
training's, data parts read from a source's keys, and a grid without a quadratic pass."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import cli, tuning
from gdlab._blas import blas_threads_held
from gdlab.data.registry import DataSource
from gdlab.experiments import builtin
from gdlab.optim import SGD, create
from gdlab.train import fit


def test_a_wrapper_counts_a_step_its_inner_lbfgs_counted_before_failing():
    """L-BFGS moved, then its closure raised: it counts the step; Lookahead did not."""
    calls = {"n": 0}

    def closure(q):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise RuntimeError("the closure fails")
        return float(np.sum(q["w"] ** 2)), {"w": 2 * q["w"]}

    opt = create("lookahead", inner={"optimizer": "lbfgs"})
    params = {"w": np.array([3.0, -2.0])}
    with pytest.raises(RuntimeError, match="the closure fails"):
        opt.update(params, {"w": 2 * params["w"]}, closure=closure)
    assert opt._lead.t == 1
    assert opt.t == opt._lead.t  # the two agree
    assert not np.array_equal(params["w"], [3.0, -2.0])


def test_a_second_blas_count_while_one_is_held_is_refused():
    with blas_threads_held(1):
        with blas_threads_held(1):  # the same count: shared
            pass
        refused = pytest.raises(ValueError, match="blas_threads must be 1, the count another")
        with refused, blas_threads_held(2):
            pass
    with blas_threads_held(2):  # nothing held any more: any count
        pass


class _CutHalfway(SGD):
    """An update that Ctrl-C stops after it changed the parameters (this instance's:
    not the twin fit warms the kernels up with)."""

    armed = False

    def _step(self, params, grads, lr):
        super()._step(params, grads, lr)
        if self.armed:
            raise KeyboardInterrupt


def test_an_update_cut_halfway_is_the_runs_not_put_back():
    from gdlab.data import moons
    from gdlab.problems import LogisticRegression

    problem = LogisticRegression(moons(60, rng=np.random.default_rng(0)))
    optimizer = _CutHalfway(lr=0.1)
    optimizer.armed = True
    rng = np.random.default_rng(0)
    with pytest.raises(KeyboardInterrupt):
        fit(problem, optimizer, steps=3, rng=rng, schedule=0.05, progress=False)
    assert optimizer.t == 1  # counted: the run's
    assert optimizer.lr == 0.05  # the call's rate stays with the update it made


def test_problem_keys_apply_before_a_batch_size_for_the_new_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["race", "bowl", "--batch-size", "8", "--set", "problem.kind=logreg", "--set",
            "problem.data=moons", "--epochs", "1", "--quiet", "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 0, capsys.readouterr().err
    argv = ["race", "moons", "--set", "training.batch_size=8", "--set", "problem.kind=function",
            "--steps", "2", "--quiet", "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 2  # a batch for a function: refused, not dropped
    assert "--set training.batch_size=8" in capsys.readouterr().err


def test_a_sources_parts_are_read_from_its_keys_by_default():
    from gdlab._checks import Field

    def source(**fields):
        return DataSource(
            name="own", task="classification", summary="", fields=fields,
            load=lambda o: None, describe=lambda o: "", dataset=lambda: None,
        )  # fmt: skip

    assert source().split_names({}) == ("train",)
    with_test = source(test_size=Field("real", 0.2, "test fraction", low=0, high=1))
    assert with_test.split_names({"test_size": 0.2}) == ("train", "test")
    both = source(
        test_size=Field("real", 0.2, "", low=0, high=1),
        validation_size=Field("real", 0.0, "", low=0, high=1),
    )
    assert both.split_names({"validation_size": 0.1}) == ("train", "validation", "test")
    assert both.split_names({"validation_size": 0.0}) == ("train", "test")


def test_a_large_grid_keeps_every_point_once_and_the_default_first():
    run = builtin("bowl").runs[0]
    points = tuning.candidates(run, ("lr",), 40, "grid", np.random.default_rng(0))
    keys = [tuple(p.items()) for p in points]
    assert len(keys) == len(set(keys))
    assert points[0] == tuning._default_point(run, ("lr",))
