"""Round 6 of the fit loop: a failed call changes nothing (also when the first step
finds the mistake), checkpoint paths checked and never overwritten unasked, one
BLAS thread by default, the metric early stopping names, JSON-valid histories,
the split cache's sizes, and TypeError messages that describe."""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from gdlab._checks import fail
from gdlab.data import Dataset, moons, split
from gdlab.data import datasets as datasets_module
from gdlab.nn.gradcheck import check_layer, gradcheck
from gdlab.nn.layers import ReLU
from gdlab.optim import create
from gdlab.problems import FunctionProblem, LinearRegression, LogisticRegression, MLPClassification
from gdlab.train import (
    Callback,
    Checkpoint,
    EarlyStopping,
    History,
    fit,
)
from param_checks import assert_same, copied

# --------------------------------------------------------------------------- helpers


def _moons_problem(**kwargs):
    return LogisticRegression(moons(100, rng=np.random.default_rng(0)), **kwargs)


def _digest(params):
    return hashlib.sha256(b"".join(params[k].tobytes() for k in sorted(params))).hexdigest()


class _Raise(Callback):
    """Raises in ``hook`` (at ``step`` for on_step_end)."""

    def __init__(self, hook, step=1):
        self.hook, self.step = hook, step

    def on_train_begin(self, run):
        if self.hook == "begin":
            raise RuntimeError("refused at the start")

    def on_step_end(self, run, loss):
        if self.hook == "step" and run.step == self.step:
            raise RuntimeError(f"refused at step {run.step}")


# --------------------------------------------------------------------------- 1. first step


def test_params_the_problem_refuses_at_the_first_step_change_nothing():
    problem = _moons_problem()
    optimizer = create("sgd", lr=0.1)
    params = problem.init_params(np.random.default_rng(0))
    params["W1"] = params["W1"][:1].copy()  # one input row where the data has two
    before = copied(params)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"params\['W1'\] must be a float64 array of shape"):
        fit(problem, optimizer, epochs=1, rng=rng, params=params, schedule=0.7, progress=False)
    assert optimizer.lr == 0.1
    assert optimizer.schedule(0) == 0.1
    assert rng.bit_generator.state == state
    assert optimizer.t == 0
    assert optimizer.state is None
    assert_same(params, before)


def test_an_optimizer_state_made_for_other_params_changes_nothing():
    optimizer = create("adam", lr=0.1)
    fit(FunctionProblem("bowl"), optimizer, steps=3, rng=np.random.default_rng(0), progress=False)
    saved = optimizer.state_dict()
    problem = _moons_problem()
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match=r"params must have the keys .* \['x', 'y'\]"):
        fit(problem, optimizer, epochs=1, rng=rng, schedule=0.5, progress=False)
    assert rng.bit_generator.state == state
    assert optimizer.lr == 0.1
    assert optimizer.schedule(3) == 0.1
    assert optimizer.t == saved["t"] == 3
    assert optimizer.epoch == saved["epoch"]
    for key, bufs in saved["state"].items():
        assert_same(optimizer.state[key], bufs)


def test_a_failed_first_step_puts_back_the_problem_dropout_generators():
    problem = MLPClassification(moons(60, rng=np.random.default_rng(0)), [8], dropout=0.5)
    before = problem.state_dict()
    optimizer = create("adam", lr=0.1)
    fit(FunctionProblem("bowl"), optimizer, steps=1, rng=np.random.default_rng(0), progress=False)
    with pytest.raises(ValueError, match="the optimizer's state was made for"):
        fit(problem, optimizer, epochs=1, rng=np.random.default_rng(3), progress=False)
    assert problem.state_dict() == before


def test_a_failure_before_the_first_step_of_a_resumed_run_changes_nothing(tmp_path):
    problem = LinearRegression(_regression())
    path = tmp_path / "run.npz"

    def run(callbacks, **kwargs):
        return fit(problem, create("adam", lr=0.1), steps=6, rng=np.random.default_rng(0),
                   progress=False, callbacks=callbacks, **kwargs)  # fmt: skip

    with pytest.raises(RuntimeError):
        run([_Raise("step", 4), Checkpoint(path, every=3), EarlyStopping(2)])
    optimizer = create("adam", lr=0.1)
    params = problem.init_params(np.random.default_rng(9))
    params["w"][:] = [7.0, -7.0]
    kept, stop = copied(params), EarlyStopping(2)
    stop_state = stop.state_dict()
    with pytest.raises(RuntimeError, match="refused at the start"):
        fit(problem, optimizer, steps=6, rng=np.random.default_rng(0), progress=False,
            params=params, resume=path, callbacks=[Checkpoint(path, every=3), stop,
                                                   _Raise("begin")])  # fmt: skip
    assert_same(params, kept)  # the checkpoint's parameters were loaded, then put back
    assert optimizer.t == 0
    assert optimizer.state is None
    assert stop.state_dict() == stop_state


def test_a_failure_after_the_first_update_is_the_run_s():
    """The boundary: once a step has changed the parameters, an error is the run's."""
    optimizer = create("sgd", lr=0.1)
    with pytest.raises(RuntimeError, match="refused at step 2"):
        fit(FunctionProblem("bowl"), optimizer, steps=5, rng=np.random.default_rng(0),
            progress=False, callbacks=[_Raise("step", 2)], schedule=0.2)  # fmt: skip
    assert optimizer.t == 2
    assert optimizer.lr == 0.2


def _regression(n=40):
    r = np.random.default_rng(0)
    X = r.normal(size=(n, 2))
    y = X @ np.array([1.5, -2.0]) + 0.5
    return Dataset(X, y, "toy", ("x0", "x1"), ("y",), "regression")


# --------------------------------------------------------------------------- 2. checkpoint paths


def _bowl_run(callbacks, optimizer=None, rng=None, **kwargs):
    return fit(FunctionProblem("bowl"), optimizer or create("sgd", lr=0.1), steps=6,
               rng=rng or np.random.default_rng(0), progress=False, callbacks=callbacks,
               **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("isdir.npz", r"Checkpoint path must be a file to write, not a directory; got '.*isdir"),
        ("afile/x.npz", r"Checkpoint path must be a file in a directory \(.*afile is a file\)"),
        ("afile/deeper/x.npz", r"\(.*afile is a file\); got '.*afile/deeper/x.npz'"),
    ],
)
def test_a_checkpoint_path_that_cannot_be_written_is_refused_before_any_step(
    tmp_path, where, message
):
    (tmp_path / "isdir.npz").mkdir()
    (tmp_path / "afile").write_text("a file")
    optimizer, rng = create("sgd", lr=0.1), np.random.default_rng(0)
    state = rng.bit_generator.state
    params = FunctionProblem("bowl").init_params(rng)
    with pytest.raises(ValueError, match=message):
        _bowl_run([Checkpoint(tmp_path / where, every=5)], optimizer, rng, params=params,
                  schedule=0.3)  # fmt: skip
    assert optimizer.t == 0
    assert optimizer.lr == 0.1
    assert rng.bit_generator.state == state
    assert (float(params["x"]), float(params["y"])) == (-7.0, 2.0)
    assert (tmp_path / "afile").read_text() == "a file"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_checkpoint_in_a_directory_that_cannot_be_written_is_refused():
    optimizer = create("sgd", lr=0.1)
    with pytest.raises(ValueError, match=r"a directory that can be written \(/proc\)"):
        _bowl_run([Checkpoint("/proc/gdlab-checkpoint.npz")], optimizer)
    assert optimizer.t == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_checkpoint_that_is_not_a_regular_file_is_refused(tmp_path):
    # A pipe in tmp_path, never /dev/null: a regression would replace the node itself.
    pipe = tmp_path / "pipe.npz"
    os.mkfifo(pipe)
    with pytest.raises(ValueError, match=r"a regular file to write .*; got '.*pipe.npz'"):
        _bowl_run([Checkpoint(pipe, overwrite=True)])
    assert pipe.is_fifo()


def test_missing_parent_directories_are_made_at_the_first_save(tmp_path):
    path = tmp_path / "new" / "sub" / "run.npz"
    history = _bowl_run([Checkpoint(path, every=5)])
    assert history.steps == 6
    assert path.is_file()


# --------------------------------------------------------------------------- 3. never overwritten


def test_an_earlier_run_s_checkpoint_is_not_overwritten(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(RuntimeError):  # a long run, interrupted after its save at step 3
        _bowl_run([Checkpoint(path, every=3), _Raise("step", 4)], create("adam", lr=0.1))
    saved = path.read_bytes()
    optimizer = create("sgd", lr=0.01)
    with pytest.raises(ValueError, match=r"must be a new file: it holds something already; "
                       r"pass resume= .* overwrite=True"):  # fmt: skip
        _bowl_run([Checkpoint(path, every=3)], optimizer, np.random.default_rng(1))
    assert path.read_bytes() == saved
    assert optimizer.t == 0
    # the long run goes on from it, and ends as the straight one does
    resumed = _bowl_run([Checkpoint(path, every=3)], create("adam", lr=0.1), resume=path)
    straight = _bowl_run([], create("adam", lr=0.1))
    assert resumed.loss == straight.loss
    assert resumed.path == straight.path


def test_a_file_that_is_no_checkpoint_is_not_overwritten(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("my notes")
    with pytest.raises(ValueError, match="holds something already"):
        _bowl_run([Checkpoint(path, every=2)])
    assert path.read_text() == "my notes"


def test_overwrite_true_replaces_the_file(tmp_path):
    path = tmp_path / "run.npz"
    path.write_text("old")
    history = _bowl_run([Checkpoint(path, every=2, overwrite=True)])
    with np.load(path) as data:
        assert "__tree__" in data.files
    assert history.steps == 6
    with pytest.raises(TypeError, match=r"overwrite must be True or False; got 1 \(int\)"):
        Checkpoint(path, overwrite=1)


def test_the_resume_file_by_another_name_may_be_written(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(RuntimeError):
        _bowl_run([Checkpoint(path, every=3), _Raise("step", 4)])
    link = tmp_path / "link.npz"
    link.symlink_to(path)
    history = _bowl_run([Checkpoint(link, every=3)], resume=path)
    assert history.steps == 6
    assert history.status == "ok"


def test_two_checkpoints_on_one_file_are_refused(tmp_path):
    path = tmp_path / "run.npz"
    with pytest.raises(ValueError, match="written by one Checkpoint of the run"):
        _bowl_run([Checkpoint(path, every=2), Checkpoint(tmp_path / "." / "run.npz", every=3)])
    assert not path.exists()


# --------------------------------------------------------------------------- 4. BLAS threads


def _wide_problem():
    """A float32 network wide enough that OpenBLAS splits its products between threads."""
    rng = np.random.default_rng(0)
    X = rng.random((600, 784)).astype(np.float32)
    y = (X[:, :5].sum(1) * 2).astype(np.int64) % 3
    names = tuple(f"f{i}" for i in range(784))
    data = Dataset(X, y, "wide", names, ("a", "b", "c"), "classification")
    return MLPClassification(data, [64, 32])


class _Threads(Callback):
    """Records the BLAS threads the run computes with."""

    def on_train_begin(self, run):
        self.seen = sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})


def _wide_fit(problem, rng, **kwargs):
    watch = _Threads()
    history = fit(problem, create("sgd", lr=0.1), steps=10, batch_size=128, rng=rng,
                  progress=False, callbacks=[watch], **kwargs)  # fmt: skip
    return _digest(history.params), watch.seen


def _task(problem, rng):
    digest, _ = _wide_fit(problem, rng)
    return {"digest": digest}


def test_fit_computes_with_one_blas_thread_whatever_the_caller_set():
    problem = _wide_problem()
    with threadpool_limits(limits=1, user_api="blas"):
        one, _ = _wide_fit(problem, np.random.default_rng(4), blas_threads=None)
    with threadpool_limits(limits=2, user_api="blas"):
        default, seen = _wide_fit(problem, np.random.default_rng(4))
        outside = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert seen == [1]
    assert default == one
    # and a sweep task (a race's or a tune's) gives the same bits for the same generator
    from gdlab.sweep import _execute, task_rng

    record = _execute(_task, "t0", {"problem": problem}, 7)
    assert record["status"] == "ok", record["error"]
    with threadpool_limits(limits=2, user_api="blas"):
        mine, _ = _wide_fit(problem, task_rng(7, "t0"))
    assert record["result"]["digest"] == mine
    if outside == {2}:  # BLAS takes two threads here: blas_threads=None leaves them
        with threadpool_limits(limits=2, user_api="blas"):
            _, left = _wide_fit(problem, np.random.default_rng(4), blas_threads=None)
        assert left == [2]


def test_blas_threads_is_checked_and_the_setting_is_put_back():
    with pytest.raises(TypeError, match=r"blas_threads must be an integer; got 1.0 \(float\)"):
        _bowl_run([], blas_threads=1.0)
    with pytest.raises(ValueError, match="blas_threads must be an integer >= 1; got 0"):
        _bowl_run([], blas_threads=0)
    with threadpool_limits(limits=2, user_api="blas"):
        before = [i["num_threads"] for i in threadpool_info()]
        _bowl_run([])
        with pytest.raises(RuntimeError):
            _bowl_run([_Raise("step", 2)])
        assert [i["num_threads"] for i in threadpool_info()] == before


# --------------------------------------------------------------------------- 5. early stopping


@pytest.mark.parametrize(
    ("validation", "named"),
    [(None, "train_loss (the run has no val_loss)"),
     ("test", "train_loss (the run has no val_loss)"), ("validation", "val_loss")],
)  # fmt: skip
def test_early_stopping_names_the_loss_it_watched(validation, named):
    data = split(moons(200, noise=0.3, rng=np.random.default_rng(1)), test_size=0.2,
                 validation_size=0.2, rng=np.random.default_rng(2))  # fmt: skip
    history = fit(MLPClassification(data, [16]), create("adam", lr=0.3), epochs=40,
                  batch_size=32, rng=np.random.default_rng(0), progress=False,
                  validation=validation, callbacks=[EarlyStopping(patience=0)])  # fmt: skip
    assert history.status == "stopped"
    assert history.reason.startswith(f"early stopping: {named} did not improve")


# --------------------------------------------------------------------------- 6. JSON-valid history


def test_to_dict_is_valid_json_and_from_dict_reads_it_back(tmp_path):
    path = tmp_path / "diverged.npz"
    history = fit(FunctionProblem("rosenbrock"), create("sgd", lr=1e150), steps=50,
                  rng=np.random.default_rng(0), progress=False,
                  callbacks=[Checkpoint(path)])  # fmt: skip
    assert history.status == "diverged"
    assert history.epochs[-1]["train_loss"] == math.inf
    data = history.to_dict()
    assert data["epochs"][-1]["train_loss"] is None
    json.dumps(data, allow_nan=False)
    back = History.from_dict(json.loads(json.dumps(data)))
    assert math.isnan(back.epochs[-1]["train_loss"])
    assert back.loss == history.loss
    # a checkpoint keeps the values exactly
    again = fit(FunctionProblem("rosenbrock"), create("sgd", lr=1e150), steps=50,
                rng=np.random.default_rng(0), progress=False, resume=path,
                callbacks=[Checkpoint(path)])  # fmt: skip
    assert again.epochs[-1]["train_loss"] == math.inf


# --------------------------------------------------------------------------- 7. split cache


def _classes(n=20):
    X = np.arange(2.0 * n).reshape(n, 2)
    return Dataset(X, np.arange(n) % 2, "toy", ("a", "b"), ("no", "yes"), "classification")


def _sizes(parts):
    return parts.train.n_samples, parts.test.n_samples


def test_a_split_cache_file_of_other_sizes_is_split_again(fresh_cache):
    data = _classes()
    first = split(data, test_size=0.2, rng=np.random.default_rng(3))
    (a,) = fresh_cache.glob("split-*.npz")
    other = split(data, test_size=0.4, rng=np.random.default_rng(3))
    (b,) = set(fresh_cache.glob("split-*.npz")) - {a}
    assert _sizes(first) == (16, 4)
    assert _sizes(other) == (12, 8)
    a.write_bytes(b.read_bytes())  # a valid (checksummed) split of other sizes
    again = split(data, test_size=0.2, rng=np.random.default_rng(3))
    assert _sizes(again) == (16, 4)
    np.testing.assert_array_equal(again.test.X, first.test.X)


@pytest.mark.parametrize("damage", ["no key", "sizes", "overlap"])
def test_a_split_cache_file_that_is_not_the_split_is_made_again(fresh_cache, damage):
    data = _classes()
    first = split(data, test_size=0.2, rng=np.random.default_rng(3))
    (path,) = fresh_cache.glob("split-*.npz")
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files if k != "sha256"}
    if damage == "no key":  # a file of an earlier gdlab, or of another key renamed
        del arrays["key"]
    elif damage == "sizes":
        arrays["rest"], arrays["part_test_size"] = (
            arrays["rest"][:-1],
            np.append(arrays["part_test_size"], arrays["rest"][-1]),
        )
    else:
        arrays["rest"] = arrays["rest"].copy()
        arrays["rest"][0] = arrays["part_test_size"][0]
    datasets_module._write_npz(path, arrays)
    again = split(data, test_size=0.2, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(again.test.X, first.test.X)
    np.testing.assert_array_equal(again.train.X, first.train.X)
    with np.load(path) as stored:  # and written again, whole
        assert str(stored["key"]) == path.name[len("split-") : -len(".npz")]


# --------------------------------------------------------------------------- 8. messages


def test_type_errors_describe_the_value_without_a_misleading_type():
    with pytest.raises(TypeError) as info:
        gradcheck(lambda: 0.0, {"w": np.array([1, 2])}, {"w": np.zeros(2)})
    assert str(info.value) == (
        "params['w'] must be a floating-point NumPy array; got 'int64 array'"
    )
    with pytest.raises(TypeError) as info:
        check_layer(ReLU(), np.array(["a"]), np.random.default_rng(0))
    assert str(info.value).endswith("got '<U1 array'")
    with pytest.raises(TypeError) as info:
        _classes().subset(np.array([0.5]))
    assert str(info.value) == "index must be integer indices or a boolean mask; got 'float64 array'"
    # a value itself still shows its type
    with pytest.raises(TypeError, match=r"got 'fast' \(str\)$"):
        fail("lr", "a real number", "fast", kind=TypeError)
    with pytest.raises(TypeError, match=r"got 'int64 array'$"):
        fail("x", "floats", "int64 array", kind=TypeError, described=True)
    with pytest.raises(TypeError, match=r"got \[1\] \(list\)$"):
        gradcheck(lambda: 0.0, {"w": [1]}, {"w": np.zeros(1)})
