"""Hostile inputs to training: bad batches, bad data, bad targets, bad checkpoints, bad files.

Every case pins the exception type and a message that names the culprit.
"""

from __future__ import annotations

import gzip
import zlib

import numpy as np
import pytest

from gdlab import train
from gdlab.data import BatchStream, Dataset, IDXError, epoch_batches, partition, read_idx
from gdlab.data import moons as make_moons
from gdlab.nn import MLP, MeanSquaredError, SigmoidCrossEntropy, SoftmaxCrossEntropy
from gdlab.optim import SGD, Adam, create
from gdlab.problems import FunctionProblem, MLPClassification
from gdlab.schedules import ReduceOnPlateau
from gdlab.train import Checkpoint, fit


@pytest.fixture(scope="module")
def moons():
    return make_moons(60, rng=np.random.default_rng(0))


def rng(seed=0):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- batches

FIT_BATCH_ERRORS = [
    ("zero", {"batch_size": 0}, ValueError, r"^batch_size must be an integer >= 1; got 0$"),
    ("negative", {"batch_size": -5}, ValueError, r"^batch_size must be an integer >= 1; got -5$"),
    ("float", {"batch_size": 2.5}, TypeError, r"^batch_size must be an integer; got 2\.5"),
    ("random-too-big", {"batch_size": 10_000_000, "batching": "random"}, ValueError,
     r"^batch_size must be at most the 60 training samples with batching='random'.*"
     r"got 10000000$"),
    ("random-61", {"batch_size": 61, "batching": "random"}, ValueError,
     r"at most the 60 training samples.*got 61$"),
    ("epoch-too-big", {"batch_size": 61}, ValueError,
     r"^batch_size must be at most n_samples = 60; got 61$"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [c[1:] for c in FIT_BATCH_ERRORS],
    ids=[c[0] for c in FIT_BATCH_ERRORS],
)
def test_fit_refuses_bad_batch_sizes(moons, kwargs, error, message):
    problem = MLPClassification(moons, (4,))
    with pytest.raises(error, match=message):
        fit(problem, SGD(0.1), steps=3, rng=rng(), progress=False, **kwargs)


def test_random_batch_of_the_whole_set_is_allowed(moons):
    history = fit(MLPClassification(moons, (4,)), SGD(0.1), steps=3, batch_size=60,
                  batching="random", rng=rng(), progress=False)  # fmt: skip
    assert history.status == "ok"
    assert history.steps == 3


@pytest.mark.parametrize("batch_size", [None, 4])
def test_fit_refuses_an_empty_training_set(moons, batch_size):
    empty = moons.subset(np.arange(0))
    problem = MLPClassification(empty, (4,))
    with pytest.raises(ValueError, match=r"^the training set must be at least 1 sample.*got 0$"):
        fit(problem, SGD(0.1), steps=3, batch_size=batch_size, rng=rng(), progress=False)


LOW_LEVEL_BATCH_ERRORS = [
    ("partition-0", lambda: partition(10, 0, rng()), ValueError,
     r"^batch_size must be an integer >= 1; got 0$"),
    ("partition-n0", lambda: partition(0, 1, rng()), ValueError,
     r"^n_samples must be an integer >= 1; got 0$"),
    ("stream-0", lambda: BatchStream(10, 0, rng()), ValueError,
     r"^batch_size must be an integer >= 1; got 0$"),
    ("stream-random-0", lambda: BatchStream(10, 0, rng(), mode="random"), ValueError,
     r"^batch_size must be an integer >= 1; got 0$"),
    ("epoch-batches-empty-X", lambda: epoch_batches(np.zeros((0, 2)), None, 1, rng()),
     ValueError, r"^X\.shape\[0\] must be at least 1 \(the number of samples\); got 0$"),
    ("mlp-empty-batch", lambda: MLP([2, 3, 2], rng=rng()).loss_and_grads(
        np.zeros((0, 2)), np.zeros(0, int)), ValueError,
     r"^X must be at least one sample .*got 'shape \(0, 2\)'$"),
    ("mlp-evaluate-empty", lambda: MLP([2, 3, 2], rng=rng()).evaluate(
        np.zeros((0, 2)), np.zeros(0, int)), ValueError, r"^X must be at least one sample"),
    ("mlp-columns-empty", lambda: MLP([2, 3, 2], layout="columns", rng=rng()).loss_and_grads(
        np.zeros((2, 0)), np.zeros(0, int)), ValueError, r"got 'shape \(2, 0\)'$"),
    ("problem-empty-index", lambda: MLPClassification(
        make_moons(10, rng=rng()), (3,)).loss_and_grads(
            MLPClassification(make_moons(10, rng=rng()), (3,)).init_params(rng()),
            np.zeros(0, np.int64)), ValueError, r"^X must be at least one sample"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [c[1:] for c in LOW_LEVEL_BATCH_ERRORS],
    ids=[c[0] for c in LOW_LEVEL_BATCH_ERRORS],
)
def test_zero_size_batches_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --------------------------------------------------------------------------- data sets


def _dataset(X, y, task="regression", targets=("t",)):
    X = np.asarray(X)
    features = tuple(f"x{i}" for i in range(X.shape[1])) if X.ndim == 2 else ("x",)
    return Dataset(X, y, "toy", features, targets, task)


DATASET_ERRORS = [
    ("y-str", np.zeros((2, 1)), np.array(["a", "b"]), r"y\.dtype of the data set 'toy'.*'str32'"),
    ("y-bytes", np.zeros((2, 1)), np.array([b"a", b"b"]),
     r"y\.dtype of the data set 'toy'.*'bytes8'"),
    ("y-object", np.zeros((2, 1)), np.array([1, None], dtype=object),
     r"y\.dtype of the data set 'toy'.*'object'"),
    ("y-complex", np.zeros((2, 1)), np.array([1j, 2]),
     r"y\.dtype of the data set 'toy'.*'complex128'"),
    ("X-object", np.array([[1], ["a"]], dtype=object), np.zeros(2),
     r"X\.dtype of the data set 'toy'.*'object'"),
    ("X-str", np.array([["1"], ["2"]]), np.zeros(2), r"X\.dtype of the data set 'toy'.*'str32'"),
    ("X-complex", np.ones((2, 1), complex), np.zeros(2),
     r"X\.dtype of the data set 'toy'.*'complex128'"),
    ("X-datetime", np.array([["2020-01-01"], ["2020-01-02"]], dtype="datetime64[D]"), np.zeros(2),
     r"X\.dtype of the data set 'toy'.*'datetime64\[D\]'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [c[1:] for c in DATASET_ERRORS],
    ids=[c[0] for c in DATASET_ERRORS],
)
def test_dataset_refuses_non_numeric_data(X, y, message):
    with pytest.raises(ValueError, match=message + r"$") as info:
        _dataset(X, y)
    assert "must be a real number type (bool, integer or floating)" in str(info.value)


def test_dataset_accepts_bool_and_integer_features():
    data = _dataset(np.array([[True], [False]]), np.array([1, 2]))
    assert data.X.dtype == np.bool_


# --------------------------------------------------------------------------- targets

TARGET_ERRORS = [
    ("sigmoid-minus-3", SigmoidCrossEntropy, np.zeros((2, 1)), np.array([0.0, -3.0]),
     r"^y must be binary targets in \[0, 1\]; got -3\.0$"),
    ("sigmoid-5", SigmoidCrossEntropy, np.zeros((2, 1)), np.array([5.0, 1.0]),
     r"^y must be binary targets in \[0, 1\]; got 5\.0$"),
    ("sigmoid-int-2", SigmoidCrossEntropy, np.zeros((2, 1)), np.array([0, 2]),
     r"^y must be binary targets in \[0, 1\]; got 2$"),
    ("sigmoid-nan", SigmoidCrossEntropy, np.zeros((2, 1)), np.array([np.nan, 0.5]),
     r"^y must be binary targets in \[0, 1\]; got nan$"),
    ("sigmoid-str", SigmoidCrossEntropy, np.zeros((2, 1)), np.array(["a", "b"]),
     r"^y must be numbers .*got '<U1 array'$"),
    ("soft-negative", SoftmaxCrossEntropy, np.zeros((2, 2)), np.array([[0.5, 0.5], [-1.0, 2.0]]),
     r"^y\[1\] must be a target distribution .*got \[-1\.0, 2\.0\]$"),
    ("soft-unnormalised", SoftmaxCrossEntropy, np.zeros((1, 3)), np.array([[0.3, 0.3, 0.3]]),
     r"^y\[0\] must be a target distribution \(entries >= 0 summing to 1 within 1e-06 x 3\)"),
    ("soft-nan", SoftmaxCrossEntropy, np.zeros((1, 2)), np.array([[np.nan, 1.0]]),
     r"^y\[0\] must be a target distribution"),
    ("soft-just-off", SoftmaxCrossEntropy, np.zeros((1, 2)), np.array([[0.5, 0.5 + 3e-6]]),
     r"^y\[0\] must be a target distribution"),
    ("label-minus-1", SoftmaxCrossEntropy, np.zeros((2, 3)), np.array([0, -1]),
     r"^y must be class labels in \[0, 2\]; got -1$"),
    ("label-k", SoftmaxCrossEntropy, np.zeros((2, 3)), np.array([3, 0]),
     r"^y must be class labels in \[0, 2\]; got 3$"),
    ("softmax-str", SoftmaxCrossEntropy, np.zeros((2, 3)), np.array(["a", "b"]),
     r"^y must be numbers .*got '<U1 array'$"),
    ("mse-object", MeanSquaredError, np.zeros((2, 1)), np.array([1, None], dtype=object),
     r"^y must be numbers .*got 'object array'$"),
    ("empty-scores", SoftmaxCrossEntropy, np.zeros((0, 3)), np.zeros(0, int),
     r"^scores must be a 2-D array with at least one row \(sample\); got 'shape \(0, 3\)'$"),
    ("empty-mse", MeanSquaredError, np.zeros((0, 1)), np.zeros(0),
     r"^scores must be a 2-D array with at least one row"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("loss", "scores", "y", "message"),
    [c[1:] for c in TARGET_ERRORS],
    ids=[c[0] for c in TARGET_ERRORS],
)
def test_losses_refuse_targets_out_of_range(loss, scores, y, message):
    error = TypeError if "must be numbers" in message else ValueError
    with pytest.raises(error, match=message):
        loss().forward(scores, y)


def test_soft_targets_within_the_tolerance_are_accepted():
    y = np.array([[0.5, 0.5 + 1e-7], [1.0, 0.0]])
    assert np.isfinite(SoftmaxCrossEntropy().forward(np.zeros((2, 2)), y))


def test_the_network_checks_targets_at_the_first_call():
    net = MLP([2, 3, 1], output="sigmoid", rng=rng())
    with pytest.raises(ValueError, match=r"^y must be binary targets in \[0, 1\]; got 5\.0$"):
        net.loss_and_grads(np.ones((2, 2)), np.array([1.0, 5.0]))
    net = MLP([2, 3, 4], rng=rng())
    with pytest.raises(ValueError, match=r"^y must be class labels in \[0, 3\]; got 4$"):
        net.loss_and_grads(np.ones((2, 2)), np.array([1, 4]))


# --------------------------------------------------------------------------- MLP arguments

MLP_ERRORS = [
    ("activation-list", {"activation": ["relu"]}, TypeError,
     r"^activation must be one of 'relu', 'leaky_relu', 'sigmoid', 'tanh'; "
     r"got \['relu'\] \(list\)$"),
    ("activation-none", {"activation": None}, TypeError,
     r"^activation must be one of .*\(NoneType\)$"),
    ("activation-int", {"activation": 1}, TypeError,
     r"^activation must be one of .*got 1 \(int\)$"),
    ("activation-name", {"activation": "elu"}, ValueError,
     r"^activation must be one of 'relu', 'leaky_relu', 'sigmoid', 'tanh'; got 'elu'$"),
    ("output-list", {"output": ["softmax"]}, TypeError,
     r"^output must be one of 'softmax', 'sigmoid', 'linear'; got \['softmax'\] \(list\)$"),
    ("output-name", {"output": "softplus"}, ValueError,
     r"^output must be one of 'softmax', 'sigmoid', 'linear'; got 'softplus'$"),
    ("layout-list", {"layout": ["rows"]}, TypeError,
     r"^layout must be 'rows' or 'columns'; got \['rows'\] \(list\)$"),
    ("layout-none", {"layout": None}, TypeError, r"^layout must be 'rows' or 'columns'; got None"),
    ("layout-name", {"layout": "cols"}, ValueError, r"^layout must be 'rows' .*got 'cols'$"),
    ("init-list", {"init": ["he"]}, TypeError,
     r"^init must be one of 'he', 'xavier', 'glorot' or a positive number; got \['he'\] \(list\)$"),
    ("init-name", {"init": "kaiming"}, ValueError, r"^init must be one of .*got 'kaiming'$"),
    ("init-zero", {"init": 0.0}, ValueError, r"^init must be > 0; got 0\.0$"),
    ("dtype-nonsense", {"dtype": "nonsense"}, TypeError,
     r"^dtype must be numpy\.float32 or numpy\.float64; got 'nonsense' \(str\)$"),
    ("dtype-none", {"dtype": None}, TypeError, r"^dtype must be numpy\.float32 .*got None"),
    ("dtype-int", {"dtype": np.int32}, ValueError, r"^dtype must be numpy\.float32"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [c[1:] for c in MLP_ERRORS],
    ids=[c[0] for c in MLP_ERRORS],
)
def test_mlp_validates_its_choices(kwargs, error, message):
    with pytest.raises(error, match=message):
        MLP([2, 3, 2], rng=rng(), **kwargs)


def test_mlp_refuses_non_numeric_inputs():
    net = MLP([1, 3, 2], rng=rng())
    with pytest.raises(TypeError, match=r"^X must be numbers .*got '<U1 array'$"):
        net.loss_and_grads(np.array([["a"], ["b"]]), np.array([0, 1]))


# --------------------------------------------------------------------------- checkpoints


def _interrupted_checkpoint(problem, optimizer, tmp_path):
    """A checkpoint at step 3 of a 6-step run."""

    class Stop(train.Callback):
        def on_step_end(self, run, loss):
            if run.step == 3:
                raise KeyboardInterrupt

    path = tmp_path / "ck.npz"
    with pytest.raises(KeyboardInterrupt):
        fit(problem, optimizer, steps=6, batch_size=4, rng=rng(), progress=False,
            callbacks=[Checkpoint(path, every=3), Stop()])  # fmt: skip
    return path


def _edit_checkpoint(path, change):
    from gdlab import _io

    state = _io.load_tree(path)
    change(state)
    _io.save_tree(path, state)
    return path


RESUME_ERRORS = [
    ("other-optimizer", lambda s: None, lambda: SGD(0.1), ValueError,
     r"state_dict\['optimizer'\] must be 'sgd'; got 'adam'"),
    ("other-lr", lambda s: None, lambda: Adam(0.2), ValueError,
     r"hyperparameters must match.*lr \(saved 0\.1, here 0\.2\)"),
    ("missing-key", lambda s: s["params"].pop("b1"), lambda: Adam(0.1), ValueError,
     r"^checkpoint params must be the keys W1, b1, W2, b2; got \['W1', 'W2', 'b2'\]$"),
    ("extra-key", lambda s: s["params"].__setitem__("W9", np.zeros(1)), lambda: Adam(0.1),
     ValueError, r"^checkpoint params must be the keys W1, b1, W2, b2"),
    ("shape", lambda s: s["params"].__setitem__("b2", np.zeros(3)), lambda: Adam(0.1),
     ValueError,
     r"^checkpoint params\['b2'\] must be a float32 array of shape \(1,\); got 'float64 \(3,\)'$"),
    ("dtype", lambda s: s["params"].__setitem__("W1", s["params"]["W1"].astype(np.float64)),
     lambda: Adam(0.1), ValueError,
     r"^checkpoint params\['W1'\] must be a float32 array of shape \(2, 4\); "
     r"got 'float64 \(2, 4\)'$"),
    ("state-shape",
     lambda s: s["optimizer"]["state"]["W2"].__setitem__("exp_avg", np.zeros((5, 5))),
     lambda: Adam(0.1), ValueError,
     r"\['W2'\]\['exp_avg(_sq)?'\] must be a float(32|64) array of shape \((4, 1|5, 5)\)"),
    ("state-keys", lambda s: s["optimizer"]["state"].pop("W2"), lambda: Adam(0.1), ValueError,
     r"^checkpoint optimizer state must be arrays for the keys W1, b1, W2, b2"),
    ("format", lambda s: s.__setitem__("format", "other/9"), lambda: Adam(0.1), ValueError,
     r"^resume must be a checkpoint written by gdlab\.train\.Checkpoint \(format "
     r"'gdlab\.train/1'\); got '.*ck\.npz', whose format is 'other/9'$"),
    ("step", lambda s: s.__setitem__("step", -2), lambda: Adam(0.1), ValueError,
     r"^checkpoint step must be an integer >= 0; got -2$"),
    ("stream", lambda s: s["stream"].__setitem__("batch_size", 7), lambda: Adam(0.1), ValueError,
     r"^state\['batch_size'\] must be 4 \(this stream's setting\); got 7$"),
    ("callbacks", lambda s: s["callbacks"].__setitem__("EarlyStopping#0", {"best": 1.0}),
     lambda: Adam(0.1), ValueError,
     r"the callbacks of a resumed run must be those of the saved run.*EarlyStopping#0"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "make_optimizer", "error", "message"),
    [c[1:] for c in RESUME_ERRORS],
    ids=[c[0] for c in RESUME_ERRORS],
)
def test_a_bad_checkpoint_changes_nothing(moons, tmp_path, change, make_optimizer, error, message):
    problem = MLPClassification(moons, (4,))
    path = _interrupted_checkpoint(problem, Adam(0.1), tmp_path)
    _edit_checkpoint(path, change)
    mine = problem.init_params(rng(5))
    before = {k: v.copy() for k, v in mine.items()}
    optimizer = make_optimizer()
    with pytest.raises(error, match=message):
        fit(problem, optimizer, steps=6, batch_size=4, rng=rng(), progress=False, params=mine,
            resume=path, callbacks=[Checkpoint(tmp_path / "other.npz")])  # fmt: skip
    for key, array in before.items():
        np.testing.assert_array_equal(mine[key], array)
    assert optimizer.t == 0
    assert optimizer.state is None


def test_a_good_checkpoint_still_resumes(moons, tmp_path):
    problem = MLPClassification(moons, (4,))
    straight = fit(problem, Adam(0.1), steps=6, batch_size=4, rng=rng(), progress=False)
    path = _interrupted_checkpoint(problem, Adam(0.1), tmp_path)
    resumed = fit(problem, Adam(0.1), steps=6, batch_size=4, rng=rng(), progress=False,
                  resume=path, callbacks=[Checkpoint(path, every=3)])  # fmt: skip
    assert resumed.loss == straight.loss


# --------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("lr", [1.5, 3.0, 10.0])
def test_reduce_on_plateau_in_a_diverging_run_ends_as_diverged(lr):
    """The bowl at lr > 1 blows up; the plateau schedule is never told a NaN."""
    schedule = ReduceOnPlateau(lr, patience=1000)
    history = fit(FunctionProblem("bowl"), SGD(lr), steps=3000, schedule=schedule, rng=rng(),
                  progress=False)  # fmt: skip
    assert history.status == "diverged"
    assert "diverged" in history.reason
    assert schedule.best is None or np.isfinite(schedule.best)


def test_a_non_finite_validation_loss_is_a_divergence(moons):
    class NanValidation(MLPClassification):
        def evaluate(self, params, split="train"):
            metrics = super().evaluate(params, split)
            if split == "validation":
                metrics["loss"] = float("nan")
            return metrics

    from gdlab.data import Splits

    problem = NanValidation(Splits(moons.subset(np.arange(40)), moons.subset(np.arange(40, 60)),
                                   moons.subset(np.arange(40, 60))), (4,))  # fmt: skip
    history = fit(problem, SGD(ReduceOnPlateau(0.1)), epochs=3, validation="validation",
                  rng=rng(), progress=False)  # fmt: skip
    assert history.status == "diverged"
    assert history.reason == "diverged by step 1: the monitored val_loss nan is not finite"


# --------------------------------------------------------------------------- timing


def test_compile_time_is_kept_apart_and_runs_time_alike():
    first = fit(FunctionProblem("bowl"), create("nadam", lr=0.01), steps=200, rng=rng(),
                progress=False)  # fmt: skip
    second = fit(FunctionProblem("bowl"), create("nadam", lr=0.01), steps=200, rng=rng(),
                 progress=False)  # fmt: skip
    assert first.compile_seconds >= 0
    assert second.compile_seconds >= 0
    assert first.seconds < 5 * second.seconds + 0.05
    assert second.seconds < 5 * first.seconds + 0.05
    assert first.to_dict()["compile_seconds"] == first.compile_seconds


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_the_warm_up_leaves_the_trajectory_bit_identical(moons, monkeypatch, name, dropout):
    def run():
        problem = MLPClassification(moons, (4,), dropout=dropout)
        return fit(problem, create(name, lr=0.05), steps=20, batch_size=8, rng=rng(),
                   progress=False)  # fmt: skip

    warmed = run()
    monkeypatch.setattr(train, "warm_up", lambda optimizer, params: 0.0)
    monkeypatch.setattr(MLPClassification, "warm_up", lambda self: None)
    cold = run()
    assert warmed.loss == cold.loss
    assert warmed.lr == cold.lr
    for key in warmed.params:
        np.testing.assert_array_equal(warmed.params[key], cold.params[key])


def test_the_warm_up_touches_neither_optimizer_nor_params():
    schedule = ReduceOnPlateau(0.1)
    optimizer = Adam(schedule, clip_norm=1.0)
    params = {"w": np.ones(3), "v": np.ones(2, np.float32)}
    seconds = train.warm_up(optimizer, params)
    assert seconds >= 0
    assert optimizer.t == 0
    assert optimizer.state is None
    assert schedule.best is None
    assert params["w"].tolist() == [1.0] * 3
    assert params["v"].tolist() == [1.0] * 2


# --------------------------------------------------------------------------- IDX files


def _header(code, shape):
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def _gzip_stream(header, zeros):
    """A gzip file of ``header`` and ``zeros`` zero bytes, compressed chunk by chunk."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [packer.compress(header)]
    chunk = bytes(2**20)
    for _ in range(zeros // len(chunk)):
        out.append(packer.compress(chunk))
    out.append(packer.compress(bytes(zeros % len(chunk))))
    out.append(packer.flush())
    return b"".join(out)


IDX_ERRORS = [
    ("ndim-255", _header(0x08, [1] * 255), {},
     r"ndim \(byte 3\) is 255; NumPy arrays have at most \d+ dimensions"),
    ("ndim-65", _header(0x08, [1] * 65), {}, r"ndim \(byte 3\) is 65"),
    ("declared-too-big", _header(0x08, [60000, 28, 28]), {"max_bytes": 1000},
     r"the header declares 47040000 bytes of data after the 16-byte header "
     r"\(60000 x 28 x 28 uint8\), more than the limit of 1000 bytes"),
    ("declared-4GiB", _header(0x0E, [2**31, 2]), {},
     r"declares 34359738368 bytes .*more than the limit of 1073741824 bytes"),
    ("gz-truncated-data", gzip.compress(_header(0x08, [10]) + bytes(4)), {},
     r"truncated data: expected 10 bytes after the 8-byte header \(10 uint8\), found 4"),
    ("gz-extra-data", gzip.compress(_header(0x08, [2]) + bytes(5)), {},
     r"extra bytes after the data: expected 2 bytes .*found 5$"),
    ("gz-bomb", _gzip_stream(_header(0x08, [4]), 64 * 2**20), {},
     r"extra bytes after the data: expected 4 bytes .*found more than \d+$"),
    ("gz-bad-magic", gzip.compress(b"PK\x03\x04"), {}, r"bad magic"),
    ("gz-short-header", gzip.compress(b"\x00\x00\x08\x02\x00\x00\x00\x02"), {},
     r"truncated header: expected 12 bytes .*found 8"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [c[1:] for c in IDX_ERRORS],
    ids=[c[0] for c in IDX_ERRORS],
)
def test_every_idx_error_names_the_file(tmp_path, content, kwargs, message):
    path = tmp_path / "hostile-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(IDXError, match=message) as info:
        read_idx(path, **kwargs)
    assert str(info.value).startswith(repr(str(path)) + ": ")
    assert info.value.path == str(path)


def test_a_gzip_bomb_is_not_unpacked_whole(tmp_path, monkeypatch):
    """The reader asks the stream for the declared size and at most a bounded rest."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(_gzip_stream(_header(0x08, [4]), 256 * 2**20))
    asked = []
    real = gzip.GzipFile.read

    def counting(self, size=-1):
        data = real(self, size)
        asked.append(len(data))
        return data

    monkeypatch.setattr(gzip.GzipFile, "read", counting)
    with pytest.raises(IDXError, match="extra bytes after the data"):
        read_idx(path)
    assert sum(asked) < 4 * 2**20  # of 256 MiB


def test_max_bytes_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"^max_bytes must be an integer >= 0; got -1$"):
        read_idx(tmp_path / "x.idx", max_bytes=-1)
