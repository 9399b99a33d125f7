"""Round 11 of data sets, gdlab.nn, selection and train: central differences over the step
float32 takes, stratified cuts checked before a seed is drawn, float32 layers checked, an
empty IDX training set, target shapes, History.metric names, the command line's words for
too-small classes, ragged rows."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from cli_run import gdlab
from gdlab.data import Dataset, IDXError, mnist_idx, moons, split, write_idx
from gdlab.data.datasets import ClassSizeError, load_mnist
from gdlab.nn import MLP
from gdlab.nn.gradcheck import check_layer, gradcheck, numerical_gradient
from gdlab.nn.layers import Affine
from gdlab.nn.losses import MeanSquaredError, SigmoidCrossEntropy
from gdlab.optim import create
from gdlab.problems import LogisticRegression
from gdlab.selection import holdout, holdout_fold, kfold
from gdlab.train import History, fit


def _idx(directory: Path, train_labels: np.ndarray, n_test: int = 20) -> Path:
    """Fake MNIST IDX files: random pixels, the given training labels, test labels 0..9."""
    r = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    n_train = len(train_labels)
    write_idx(directory / "train-images-idx3-ubyte",
              r.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))  # fmt: skip
    write_idx(directory / "train-labels-idx1-ubyte", np.asarray(train_labels, np.uint8))
    write_idx(directory / "t10k-images-idx3-ubyte",
              r.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))  # fmt: skip
    write_idx(directory / "t10k-labels-idx1-ubyte", (np.arange(n_test) % 10).astype(np.uint8))
    return directory


def _classes(counts: tuple[int, ...]) -> Dataset:
    y = np.repeat(np.arange(len(counts)), counts)
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    names = tuple(f"c{i}" for i in range(len(counts)))
    return Dataset(X, y, "d", ("a", "b"), names, "classification")


# --------------------------------------------------------------------------- 1. the step taken


def test_numerical_gradient_divides_by_the_step_float32_takes():
    p = {"x": np.array([1.0, 3.0, 10.0, 0.3], np.float32)}

    def f() -> float:  # exact: 2x of a float32 in float64
        return float(np.sum(p["x"].astype(np.float64) * 2.0))

    assert numerical_gradient(f, p)["x"].tolist() == [2.0, 2.0, 2.0, 2.0]  # was 1.97, 1.91, …
    assert gradcheck(f, p, {"x": np.full(4, 2.0)}) == {"x": 0.0}  # was 0.017
    assert p["x"].tolist() == np.array([1.0, 3.0, 10.0, 0.3], np.float32).tolist()


@pytest.mark.parametrize(("dtype", "eps", "below"), [(np.float32, 1e-3, 1e-3),
                                                     (np.float64, 1e-6, 1e-8)])  # fmt: skip
def test_gradcheck_of_a_correct_network_as_the_docstring_says(dtype, eps, below):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 3)).astype(dtype), rng.integers(0, 3, 7)
    net = MLP([3, 5, 3], "tanh", rng=np.random.default_rng(1), dtype=dtype)
    _, g = net.loss_and_grads(X, y)
    g = {k: v.copy() for k, v in g.items()}
    errors = gradcheck(lambda: net.loss_and_grads(X, y)[0], net.params, g, eps=eps)
    assert max(errors.values()) < below, errors  # float32 with 1e-3 was up to 2e-2 at 1e-6


# --------------------------------------------------------------------------- 2. later cuts


@pytest.mark.parametrize(("test_size", "validation_size"), [(0.6, 0.1), (0.5, 0.2)])
@pytest.mark.parametrize("how", ["split", "holdout"])
def test_a_stratified_validation_cut_is_checked_before_a_seed_is_drawn(
    test_size, validation_size, how, monkeypatch, tmp_path
):
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path))
    data = _classes((3, 30))
    r = np.random.default_rng(0)
    state = r.bit_generator.state
    cut = split if how == "split" else holdout
    with pytest.raises(ValueError, match=(
        r"^test_size must be small enough to leave 2 samples of every class for the stratified "
        r"validation part cut after it \(class 0 keeps as few as 1 of its 3 samples\), or pass "
        rf"stratify=False; got {test_size}$")):  # fmt: skip
        cut(data, test_size=test_size, validation_size=validation_size, rng=r)
    assert r.bit_generator.state == state
    assert list(tmp_path.iterdir()) == []
    parts = split(data, test_size=test_size, validation_size=validation_size, rng=r,
                  stratify=False)  # fmt: skip
    assert parts.test.n_samples == int(np.ceil(test_size * 33))


def test_the_check_of_later_cuts_agrees_with_scikit_learn():
    # a smaller test part leaves class 0 two samples: allowed, and made
    parts = split(_classes((3, 30)), test_size=0.3, validation_size=0.1,
                  rng=np.random.default_rng(0))  # fmt: skip
    assert np.bincount(parts.test.y).tolist() == [1, 9]
    assert np.bincount(parts.validation.y).tolist() == [0, 4]
    from sklearn.model_selection import train_test_split

    from gdlab.data.datasets import _kept_at_least

    for counts, test in (((3, 30), 20), ((5, 5, 2), 4), ((2, 7, 4, 4), 9), ((6, 6), 5)):
        y = np.repeat(np.arange(len(counts)), counts)
        kept = [np.bincount(y[train_test_split(np.arange(len(y)), test_size=test, stratify=y,
                                               random_state=s)[0]], minlength=len(counts))
                for s in range(8)]  # fmt: skip
        assert np.min(kept, axis=0).tolist() == _kept_at_least(np.array(counts), len(y) - test)\
            .tolist(), counts  # fmt: skip


# --------------------------------------------------------------------------- 3. float32 layers


def test_check_layer_checks_a_float32_layer_in_float32():
    net = MLP([3, 4, 2], rng=np.random.default_rng(0))
    X = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    for layer, x in zip(net.layers, (X, X @ np.ones((3, 4), np.float32), None), strict=False):
        if x is None:
            break
        errors = check_layer(layer, x, np.random.default_rng(2), eps=1e-3)
        assert max(errors.values()) < 1e-3, errors
    W = np.random.default_rng(3).normal(size=(3, 2))
    affine = Affine(W.astype(np.float32), np.zeros(2, np.float32))
    assert max(check_layer(affine, X.astype(np.float64), np.random.default_rng(2),
                           eps=1e-3).values()) < 1e-3  # fmt: skip
    affine64 = Affine(W, np.zeros(2))
    assert max(check_layer(affine64, X, np.random.default_rng(2)).values()) < 1e-8


# --------------------------------------------------------------------------- 4. no training image


def test_an_idx_folder_with_no_training_images_is_refused(tmp_path):
    folder = _idx(tmp_path / "m11", np.zeros(0))
    with pytest.raises(
        IDXError,
        match=r"train-images-idx3-ubyte': the MNIST training set must "
        r"have at least one image \(every run trains on it\); got 0 images",
    ):
        mnist_idx(folder)


def test_the_cli_refuses_an_empty_idx_training_set_in_one_line(cwd, capsys):
    _idx(cwd / "m11", np.zeros(0))
    argv = ["race", "mnist", "--data", "m11", "--optimizers", "sgd", "--steps", "2",
            "--batch-size", "full", "--seeds", "1", "--no-figures", "--out", "e2"]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1
    assert "the MNIST training set must have at least one image" in err
    assert out == ""
    assert not (cwd / "e2").exists()


# --------------------------------------------------------------------------- 5. target shapes


@pytest.mark.parametrize("loss", [MeanSquaredError, SigmoidCrossEntropy])
def test_a_target_shape_error_offers_n_only_for_one_output(loss):
    with pytest.raises(ValueError, match=r"^y must be of shape \(5, 2\) \(one target per output "
                       r"unit\); got 'shape \(5,\)'$"):  # fmt: skip
        loss().forward(np.zeros((5, 2)), np.zeros(5))
    with pytest.raises(ValueError, match=r"^y must be of shape \(5, 1\) \(or \(5,\)\); got"):
        loss().forward(np.zeros((5, 1)), np.zeros(4))
    assert loss().forward(np.zeros((5, 1)), np.ones(5)) >= 0


def test_a_network_names_target_shapes_in_its_layout():
    rows = MLP([3, 2], output="linear", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^y must be of shape \(5, 2\) \(one target per"):
        rows.loss_and_grads(np.zeros((5, 3)), np.zeros(5))
    columns = MLP([3, 2], output="sigmoid", layout="columns", rng=np.random.default_rng(0))
    for y in (np.zeros(5), np.zeros((3, 5))):
        with pytest.raises(ValueError, match=r"^y must be 5 targets, one per column of X: shape "
                           r"\(2, 5\); got"):  # fmt: skip
            columns.loss_and_grads(np.zeros((3, 5)), y)
    assert columns.loss_and_grads(np.zeros((3, 5)), np.zeros((2, 5)))[0] > 0


# --------------------------------------------------------------------------- 6. metric names


def test_history_metric_refuses_a_name_the_run_did_not_evaluate():
    h = fit(LogisticRegression(moons(40, rng=np.random.default_rng(0))), create("sgd", lr=0.1),
            epochs=3, rng=np.random.default_rng(0), progress=False)  # fmt: skip
    assert h.metric("train_loss").shape == (3,)
    for name in ("train_los", "accuracy", "val_loss"):
        with pytest.raises(ValueError, match=rf"^name must be one of 'epoch', 'step', 'seconds', "
                           rf"'train_loss', 'train_accuracy' \(what this run evaluated\); got "
                           rf"'{name}'$"):  # fmt: skip
            h.metric(name)
    with pytest.raises(TypeError, match=r"^name must be a metric name \(str\); got 3 \(int\)$"):
        h.metric(3)
    some = History(epochs=[{"epoch": 0, "train_loss": 1.0}, {"epoch": 1, "train_loss": 0.5,
                                                              "val_loss": 0.7}])  # fmt: skip
    assert np.isnan(some.metric("val_loss")[0])
    assert some.metric("val_loss")[1] == 0.7
    assert History().metric("val_loss").shape == (0,)


# --------------------------------------------------------------------------- 7. the CLI's words


def test_class_size_errors_keep_their_facts_across_processes():
    with pytest.raises(ClassSizeError) as caught:
        kfold(_classes((9, 2)), 3, rng=np.random.default_rng(0))
    error = pickle.loads(pickle.dumps(caught.value))
    assert (error.label, error.count, error.needed) == (1, 2, 3)
    assert str(error) == str(caught.value)
    assert "lower k or pass stratify=False; got 3" in str(error)  # the Python words stay
    with pytest.raises(ClassSizeError, match=r"^stratify must be False, or every class"):
        holdout_fold(_classes((9, 1)), validation_size=0.3, rng=np.random.default_rng(0))


def test_load_mnist_has_no_stratify_to_suggest(tmp_path):
    folder = _idx(tmp_path / "mj", np.r_[np.arange(39) % 9, 9])
    r = np.random.default_rng(0)
    state = r.bit_generator.state
    with pytest.raises(ClassSizeError, match=r"^validation_size must be 0 while a class has fewer "
                       r"than 2 samples \(class 9 has 1\): the validation part takes a share of "
                       r"every class; got 0.2$") as caught:  # fmt: skip
        load_mnist(folder, rng=r, validation_size=0.2)
    assert "stratify" not in str(caught.value)
    assert r.bit_generator.state == state


@pytest.mark.parametrize(("labels", "folds", "said"), [
    (np.r_[np.arange(38) % 9, 9, 9], "3",
     "cannot make 3 stratified folds: class 9 '9' has 2 samples; use --folds 2 or fewer"),
    (np.r_[np.arange(39) % 9, 9], "1",
     "cannot make a stratified 20% hold-out: class 9 '9' has 1 sample; every class needs at "
     "least 2 (one to train on, one to validate)"),
])  # fmt: skip
def test_tune_says_what_to_change_on_the_command_line(cwd, capsys, labels, folds, said):
    _idx(cwd / "mi", labels)
    argv = ["tune", "mnist", "--data", "mi", "--optimizers", "sgd", "--steps", "3", "--batch-size",
            "8", "--budget", "2", "--folds", folds, "--quiet", "--out", "tw"]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    assert out == ""
    assert code == 2, err
    assert err.count("\n") == 1
    assert f"--folds {folds}: the 40 training samples of 'mnist' {said}\n" in err
    assert "stratify" not in err
    assert " k " not in err
    assert not (cwd / "tw").exists()


# --------------------------------------------------------------------------- 8. ragged rows


@pytest.mark.parametrize(("X", "y", "message"), [
    ([[1, 2, 3], [4, 5]], [0, 1], r"^X of the data set 'mine' must be a 2-D array of numbers "
     r"\(rows of equal length\); got 'row 1 has 2 values, row 0 has 3'$"),
    ([[1, 2, 3], [3, 4, 5]], [0, [1]], r"^y of the data set 'mine' must be a 1-D array of "
     r"numbers \(one per sample\); got 'entry 1 has shape \(1,\), entry 0 has shape \(\)'$"),
])  # fmt: skip
def test_ragged_rows_are_named(X, y, message):
    with pytest.raises(ValueError, match=message):
        Dataset(X, y, "mine", ("a", "b", "c"), ("n", "y"), "classification")


def test_check_layer_checks_a_layer_without_weights_in_float64_whatever_x_is():
    net = MLP([3, 4, 2], "tanh", rng=np.random.default_rng(0))
    tanh = net.layers[1]
    for dtype in (np.float16, np.float32, np.float64):
        x = np.random.default_rng(1).normal(size=(5, 4)).astype(dtype)
        assert max(check_layer(tanh, x, np.random.default_rng(2)).values()) < 1e-8  # sharp


def test_numerical_gradient_of_a_long_double_array_divides_by_its_own_step():
    p = {"x": np.array([1e8], np.longdouble)}
    far = np.longdouble(1e8)
    grad = numerical_gradient(lambda: float((p["x"][0] - far) * 2), p, eps=1e-9)["x"]
    assert np.allclose(grad, 2.0, rtol=1e-3)  # the step is below float64's spacing at 1e8
