"""Tests for gdlab.data.datasets: the loaders, MNIST from IDX files, splits and scaling."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gdlab
from gdlab.data import (
    BOSTON_FEATURES,
    DATASETS,
    Dataset,
    IDXError,
    Splits,
    boston,
    circles,
    digits,
    load,
    load_mnist,
    minmax_scale,
    mnist_idx,
    mnist_subset,
    moons,
    scale,
    seattle_temperatures,
    spirals,
    split,
    standard_scale,
    write_idx,
    xor,
)


@pytest.fixture(autouse=True, scope="module")
def _cache_in_tmp(tmp_path_factory):
    """MNIST's parsed-digits cache goes to a temporary folder, never the home cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


def rng(seed=0):
    return np.random.default_rng(seed)


def toy(n_per_class=(30, 20, 10), n_features=3):
    """A classification set whose first column is the row number, to follow rows through splits."""
    y = np.repeat(np.arange(len(n_per_class)), n_per_class).astype(np.int64)
    X = np.zeros((len(y), n_features))
    X[:, 0] = np.arange(len(y))
    names = tuple(f"f{i}" for i in range(n_features))
    classes = tuple(f"c{k}" for k in range(len(n_per_class)))
    return Dataset(X, y, "toy", names, classes, "classification")


def rows(dataset):
    return dataset.X[:, 0].astype(int)


# -- the bundled MNIST subset -----------------------------------------------------


@pytest.fixture(scope="module")
def subset():
    return mnist_subset()


def test_mnist_subset_shape_range_and_types(subset):
    assert subset.X.shape == (5000, 784)
    assert (subset.n_samples, subset.n_features, subset.n_classes) == (5000, 784, 10)
    assert subset.X.dtype == np.float32
    assert subset.y.dtype == np.int64
    assert subset.X.min() == 0.0
    assert subset.X.max() == 1.0
    assert subset.task == "classification"
    assert subset.target_names == tuple("0123456789")
    assert len(subset.feature_names) == 784
    assert subset.X.flags.writeable  # a copy, not the cached pixels


def test_mnist_subset_is_sorted_by_label_with_500_each(subset):
    assert np.bincount(subset.y).tolist() == [500] * 10
    assert np.all(np.diff(subset.y) >= 0)  # documented: sorted, not shuffled


def test_mnist_subset_float64_is_the_same_pixels(subset):
    wide = mnist_subset(dtype=np.float64)
    assert wide.X.dtype == np.float64
    np.testing.assert_allclose(wide.X, subset.X, rtol=1e-7)
    assert set(np.unique(np.round(wide.X * 255, 9))) <= set(range(256))


def test_mnist_subset_calls_do_not_share_arrays(subset):
    other = mnist_subset()
    other.X[0, :] = 7.0
    assert subset.X[0].max() <= 1.0


def test_load_mnist_subset_is_shuffled_stratified_and_seeded(subset):
    parts = load_mnist(rng=rng(1))
    assert parts.validation is None
    assert (parts.train.n_samples, parts.test.n_samples) == (4000, 1000)
    assert np.bincount(parts.test.y).tolist() == [100] * 10
    assert np.bincount(parts.train.y).tolist() == [400] * 10
    assert np.any(np.diff(parts.train.y) < 0)  # no longer sorted
    again = load_mnist(rng=rng(1))
    np.testing.assert_array_equal(again.train.y, parts.train.y)
    np.testing.assert_array_equal(again.test.X, parts.test.X)
    other = load_mnist(rng=rng(2))
    assert not np.array_equal(other.train.y, parts.train.y)


def test_load_mnist_subset_with_validation(subset):
    parts = load_mnist(rng=rng(0), test_size=0.1, validation_size=0.2, dtype=np.float64)
    assert parts.train.X.dtype == np.float64
    sizes = [parts.train.n_samples, parts.validation.n_samples, parts.test.n_samples]
    assert sizes == [3500, 1000, 500]
    assert np.bincount(parts.validation.y).tolist() == [100] * 10


# -- MNIST from IDX files ------------------------------------------------------------

N_TRAIN, N_TEST = 60, 10


def fake_mnist(directory, *, gz=False, dotted=False, seed=0, **overrides):
    """Write four small MNIST-like IDX files; ``overrides`` replaces arrays by key."""
    generator = np.random.default_rng(seed)
    arrays = {
        "train-images": generator.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels": np.tile(np.arange(10, dtype=np.uint8), N_TRAIN // 10),
        "t10k-images": generator.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels": np.arange(N_TEST, dtype=np.uint8) % 10,
    }
    arrays.update({key.replace("_", "-"): value for key, value in overrides.items()})
    directory.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        kind = "idx3" if key.endswith("images") else "idx1"
        name = f"{key}.{kind}-ubyte" if dotted else f"{key}-{kind}-ubyte"
        write_idx(directory / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mnist")
    return directory, fake_mnist(directory)


def test_mnist_idx_reads_the_four_files(mnist_dir):
    directory, arrays = mnist_dir
    train, test = mnist_idx(directory)
    assert (train.X.shape, test.X.shape) == ((N_TRAIN, 784), (N_TEST, 784))
    assert train.X.dtype == np.float32
    assert train.y.dtype == np.int64
    assert (train.name, test.name) == ("mnist-train", "mnist-test")
    np.testing.assert_allclose(
        train.X * 255, arrays["train-images"].reshape(N_TRAIN, -1), atol=1e-4
    )
    np.testing.assert_array_equal(train.y, arrays["train-labels"])  # file order kept
    np.testing.assert_array_equal(test.y, arrays["t10k-labels"])
    assert train.X.min() >= 0.0
    assert train.X.max() <= 1.0


@pytest.mark.parametrize(("gz", "dotted"), [(True, False), (False, True), (True, True)])
def test_mnist_idx_accepts_gz_and_the_dotted_spelling(tmp_path, gz, dotted):
    arrays = fake_mnist(tmp_path, gz=gz, dotted=dotted)
    train, test = mnist_idx(str(tmp_path), dtype=np.float64)
    assert train.X.dtype == np.float64
    np.testing.assert_array_equal(test.X * 255, arrays["t10k-images"].reshape(N_TEST, -1))


def test_load_mnist_from_a_directory(mnist_dir):
    directory, arrays = mnist_dir
    parts = load_mnist(directory, rng=rng(0))
    assert parts.validation is None
    np.testing.assert_array_equal(parts.train.y, arrays["train-labels"])
    assert parts.test.n_samples == N_TEST


def test_load_mnist_from_a_directory_carves_a_stratified_validation_set(mnist_dir):
    directory, _ = mnist_dir
    parts = load_mnist(directory, rng=rng(0), validation_size=0.2)
    assert (parts.train.n_samples, parts.validation.n_samples) == (48, 12)
    assert parts.test.n_samples == N_TEST  # the test set is untouched
    assert set(parts.validation.y.tolist()) == set(range(10))  # every digit, 1 or 2 each
    assert np.bincount(parts.validation.y, minlength=10).min() >= 1
    together = np.concatenate([parts.train.X, parts.validation.X])
    assert np.unique(together, axis=0).shape[0] == N_TRAIN  # disjoint, all 60 kept
    again = load_mnist(directory, rng=rng(0), validation_size=0.2)
    np.testing.assert_array_equal(again.validation.X, parts.validation.X)


def test_load_mnist_refuses_a_test_size_with_a_directory(mnist_dir):
    with pytest.raises(ValueError, match=r"test_size must be None with a directory"):
        load_mnist(mnist_dir[0], rng=rng(), test_size=0.2)


def test_missing_mnist_file_lists_the_names_looked_for(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"MNIST test labels not found in") as info:
        mnist_idx(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    for name in [
        "t10k-labels-idx1-ubyte",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-labels.idx1-ubyte",
        "t10k-labels.idx1-ubyte.gz",
    ]:
        assert name in message


def test_missing_or_wrong_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST directory not found"):
        mnist_idx(tmp_path / "nowhere")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="MNIST directory is a file"):
        mnist_idx(tmp_path / "file")
    with pytest.raises(TypeError, match=r"directory must be a str or os.PathLike"):
        mnist_idx(42)


@pytest.mark.parametrize(
    ("overrides", "bad_file", "pattern"),
    [
        (
            {"train_labels": np.arange(59, dtype=np.uint8) % 10},
            "train-labels-idx1-ubyte",
            r"59 labels for 60 images in .*train-images-idx3-ubyte",
        ),
        (
            {"t10k_labels": np.full(N_TEST, 10, dtype=np.uint8)},
            "t10k-labels-idx1-ubyte",
            r"labels must be digits 0..9; got 10",
        ),
        (
            {"train_images": np.zeros((N_TRAIN, 784), dtype=np.uint8)},
            "train-images-idx3-ubyte",
            r"must be a 3-D array .*got shape \(60, 784\)",
        ),
        (
            {"t10k_images": np.zeros((N_TEST, 28, 28), dtype=np.int16)},
            "t10k-images-idx3-ubyte",
            r"test images must be unsigned bytes .*got int16",
        ),
        (
            {"train_labels": np.zeros((N_TRAIN, 1), dtype=np.uint8)},
            "train-labels-idx1-ubyte",
            r"labels must be a 1-D array",
        ),
        (
            {"t10k_images": np.zeros((N_TEST, 20, 20), dtype=np.uint8)},
            "t10k-images-idx3-ubyte",
            r"test images of 20 x 20 pixels, but the training images .* are 28 x 28",
        ),
    ],
    ids=["count-mismatch", "label-10", "images-2d", "images-int16", "labels-2d", "image-size"],
)
def test_wrong_mnist_files_are_named(tmp_path, overrides, bad_file, pattern):
    fake_mnist(tmp_path, **overrides)
    with pytest.raises(IDXError, match=pattern) as info:
        mnist_idx(tmp_path)
    assert info.value.path == str(tmp_path / bad_file)
    assert str(info.value).startswith(repr(str(tmp_path / bad_file)))


def test_a_broken_mnist_file_is_named(tmp_path):
    fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IDXError, match="truncated data") as info:
        mnist_idx(tmp_path)
    assert info.value.path == str(path)


# -- Boston housing ------------------------------------------------------------------


def test_boston_shape_names_and_first_row():
    data = boston()
    assert data.X.shape == (506, 13)
    assert data.X.dtype == data.y.dtype == np.float64
    assert data.feature_names == BOSTON_FEATURES
    assert data.feature_names[5] == "RM"
    assert data.feature_names[12] == "LSTAT"
    assert data.target_names == ("PRICE",)
    assert data.task == "regression"
    assert data.n_classes is None
    # the first town: CRIM 0.00632, ZN 18, ..., RM 6.575, ..., LSTAT 4.98, price 24.0
    assert data.X[0, 0] == pytest.approx(0.00632)
    assert data.X[0, 1] == 18.0
    assert data.X[0, 5] == pytest.approx(6.575)
    assert data.X[0, 12] == pytest.approx(4.98)
    assert data.y[0] == 24.0


def test_boston_selects_features_by_name():
    full = boston()
    data = boston(features=["RM", "LSTAT"])
    assert data.feature_names == ("RM", "LSTAT")
    np.testing.assert_array_equal(data.X, full.X[:, [5, 12]])
    assert data.X.flags.c_contiguous
    swapped = boston(features=("LSTAT", "RM"))
    np.testing.assert_array_equal(swapped.X, full.X[:, [12, 5]])
    np.testing.assert_array_equal(data.y, full.y)


@pytest.mark.parametrize(
    ("features", "error", "pattern"),
    [
        (
            ("RM", "rooms"),
            ValueError,
            r"features must be names among CRIM, ZN, .*LSTAT; got 'rooms'",
        ),
        ("RM", TypeError, r"features must be a sequence of feature names"),
        ((), ValueError, r"features must be at least one feature name"),
        (("RM", "RM"), ValueError, r"features must be distinct names"),
    ],
)
def test_boston_bad_features(features, error, pattern):
    with pytest.raises(error, match=pattern):
        boston(features=features)


# -- scaling ----------------------------------------------------------------------------


def test_minmax_scaling_of_rm_and_lstat_over_all_rows():
    data = boston(features=("RM", "LSTAT"))
    scaled = minmax_scale(data)
    assert scaled.X.min(axis=0).tolist() == [0.0, 0.0]
    np.testing.assert_allclose(scaled.X.max(axis=0), [1.0, 1.0], rtol=0, atol=1e-12)
    low, high = data.X.min(axis=0), data.X.max(axis=0)
    np.testing.assert_allclose(scaled.X, (data.X - low) / (high - low), atol=1e-12)
    np.testing.assert_array_equal(scaled.y, data.y)  # targets untouched
    assert data.X.max() > 1  # the input is not changed
    assert scale(data, "minmax").X.tolist() == scaled.X.tolist()


def test_standard_scaling():
    scaled = standard_scale(boston())
    np.testing.assert_allclose(scaled.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(scaled.X.std(axis=0), 1, atol=1e-12)


def test_scaling_splits_fits_on_the_training_part_only():
    parts = split(boston(), test_size=0.2, validation_size=0.1, rng=rng(3))
    scaled = minmax_scale(parts)
    assert isinstance(scaled, Splits)
    low, high = parts.train.X.min(axis=0), parts.train.X.max(axis=0)
    for name in ("train", "validation", "test"):
        expected = (getattr(parts, name).X - low) / (high - low)
        np.testing.assert_allclose(getattr(scaled, name).X, expected, atol=1e-12)
    assert scaled.train.X.min() == 0.0
    standard = standard_scale(parts)
    np.testing.assert_allclose(standard.train.X.mean(axis=0), 0, atol=1e-12)
    assert np.abs(standard.test.X.mean(axis=0)).max() > 1e-3  # not refitted on the test part


def test_scaling_keeps_float32_and_handles_constant_pixels(subset):
    scaled = scale(subset.subset(np.arange(50)), "standard")
    assert scaled.X.dtype == np.float32
    assert np.all(np.isfinite(scaled.X))  # constant (all-zero) pixels give 0, not NaN


def test_scaling_errors():
    with pytest.raises(ValueError, match=r"kind must be one of 'minmax', 'standard'; got 'robust'"):
        scale(boston(), "robust")
    with pytest.raises(TypeError, match=r"data must be a gdlab.data.Dataset"):
        scale(np.zeros((3, 2)))


# -- moons and digits ---------------------------------------------------------------


def test_moons_shape_types_and_classes():
    data = moons(rng=rng(0))
    assert data.X.shape == (300, 2)
    assert data.X.dtype == np.float64
    assert data.y.dtype == np.int64
    assert np.bincount(data.y).tolist() == [150, 150]
    assert data.n_classes == 2
    assert moons(7, rng=rng(0)).n_samples == 7


def test_moons_reproducible_with_a_seed_and_different_with_another():
    a = moons(100, noise=0.1, rng=rng(5))
    b = moons(100, noise=0.1, rng=rng(5))
    c = moons(100, noise=0.1, rng=rng(6))
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


def test_moons_without_noise_lie_on_the_half_circles():
    data = moons(40, noise=0.0, rng=rng(0))
    upper = data.X[data.y == 0]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)


def test_moons_draw_from_the_generator_only():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking it is untouched
    generator = rng(0)
    before = generator.bit_generator.state
    moons(10, rng=generator)
    assert generator.bit_generator.state != before
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"n_samples": 1}, ValueError, r"n_samples must be an integer >= 2; got 1"),
        ({"n_samples": 3.5}, TypeError, r"n_samples must be an integer"),
        ({"noise": -0.1}, ValueError, r"noise must be >= 0; got -0.1"),
        ({"rng": 0}, TypeError, r"rng must be a numpy.random.Generator"),
    ],
)
@pytest.mark.parametrize("make", [moons, circles, spirals, xor])
def test_plane_sets_errors(make, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        make(**{"rng": rng(), **kwargs})


@pytest.mark.parametrize("make", [circles, spirals, xor])
def test_plane_sets_shape_balance_and_seed(make):
    data = make(101, rng=rng(3))
    assert data.X.shape == (101, 2)
    assert data.X.dtype == np.float64
    assert data.y.dtype == np.int64
    counts = np.bincount(data.y, minlength=2)
    # moons, circles and spirals alternate the classes; XOR's quadrants are drawn.
    assert abs(int(counts[0]) - int(counts[1])) <= (1 if make is not xor else 30)
    assert data.name == make.__name__
    assert data.task == "classification"
    again = make(101, rng=rng(3))
    np.testing.assert_array_equal(data.X, again.X)
    np.testing.assert_array_equal(data.y, again.y)
    assert not np.array_equal(data.X, make(101, rng=rng(4)).X)


def test_circles_without_noise_lie_on_their_circles():
    data = circles(40, noise=0.0, rng=rng(0))
    radius = np.hypot(data.X[:, 0], data.X[:, 1])
    np.testing.assert_allclose(radius[data.y == 0], 1.0)
    np.testing.assert_allclose(radius[data.y == 1], 0.5)


def test_spirals_without_noise_lie_on_the_two_spirals():
    data = spirals(200, noise=0.0, rng=rng(0))
    t = np.hypot(data.X[:, 0], data.X[:, 1])
    assert t.min() >= 0.1
    assert t.max() <= 1.0
    # The angle of a point at radius t is 3πt (class 0) or 3πt + π (class 1).
    angle = np.arctan2(data.X[:, 1], data.X[:, 0])
    expected = 3 * np.pi * t + np.pi * data.y
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-12)


def test_xor_without_noise_is_the_sign_rule_away_from_the_axes():
    data = xor(200, noise=0.0, rng=rng(0))
    assert np.all(np.abs(data.X) >= 0.05)
    assert np.all(np.abs(data.X) <= 1.0)
    np.testing.assert_array_equal(data.y == 1, data.X[:, 0] * data.X[:, 1] < 0)


def test_digits():
    data = digits()
    assert data.X.shape == (1797, 64)
    assert data.X.dtype == np.float64
    assert (data.X.min(), data.X.max()) == (0.0, 1.0)
    assert data.n_classes == 10
    assert data.feature_names[:2] == ("pixel_0_0", "pixel_0_1")
    assert digits(dtype=np.float32).X.dtype == np.float32


@pytest.mark.parametrize(
    ("dtype", "error"), [(np.int32, ValueError), ("nonsense", TypeError), (None, TypeError)]
)
def test_dtype_must_be_floating(dtype, error):
    with pytest.raises(error, match=r"dtype must be a NumPy floating type"):
        digits(dtype=dtype)
    with pytest.raises(error, match=r"dtype must be a NumPy floating type"):
        mnist_subset(dtype=dtype)


# -- split ---------------------------------------------------------------------------------


def test_split_sizes_round_up_like_scikit_learn():
    parts = split(toy(), test_size=0.2, validation_size=0.1, rng=rng())
    assert (parts.train.n_samples, parts.validation.n_samples, parts.test.n_samples) == (
        42,
        6,
        12,
    )
    parts = split(boston(), test_size=0.2, rng=rng())  # ceil(101.2) = 102
    assert (parts.train.n_samples, parts.test.n_samples) == (404, 102)
    assert parts.validation is None
    parts = split(toy((5, 5)), test_size=0.3, rng=rng())  # 0.3 * 10 is 3, not 4
    assert parts.test.n_samples == 3


def test_split_indices_are_disjoint_and_cover_everything():
    parts = split(toy(), test_size=0.25, validation_size=0.25, rng=rng(4))
    train, validation, test = (set(rows(p)) for p in (parts.train, parts.validation, parts.test))
    assert not train & validation
    assert not train & test
    assert not validation & test
    assert train | validation | test == set(range(60))
    for part in (parts.train, parts.validation, parts.test):  # rows keep their labels
        np.testing.assert_array_equal(part.y, toy().y[rows(part)])


def test_split_is_stratified_for_classification():
    parts = split(toy((30, 20, 10)), test_size=0.5, validation_size=0.2, rng=rng(1))
    assert np.bincount(parts.test.y).tolist() == [15, 10, 5]
    assert np.bincount(parts.validation.y).tolist() == [6, 4, 2]
    assert np.bincount(parts.train.y).tolist() == [9, 6, 3]
    plain = [split(toy(), test_size=0.5, rng=rng(s), stratify=False).test.y for s in range(10)]
    assert any(np.bincount(y, minlength=3).tolist() != [15, 10, 5] for y in plain)


def test_split_is_seeded_by_the_generator():
    a = split(toy(), test_size=0.2, validation_size=0.2, rng=rng(7))
    b = split(toy(), test_size=0.2, validation_size=0.2, rng=rng(7))
    c = split(toy(), test_size=0.2, validation_size=0.2, rng=rng(8))
    for name in ("train", "validation", "test"):
        np.testing.assert_array_equal(rows(getattr(a, name)), rows(getattr(b, name)))
    assert not np.array_equal(rows(a.test), rows(c.test))
    assert not np.array_equal(rows(a.train), np.sort(rows(a.train)))  # shuffled


def test_split_keeps_the_names():
    parts = split(boston(features=("RM", "LSTAT")), test_size=0.2, rng=rng())
    assert parts.test.feature_names == ("RM", "LSTAT")
    assert parts.train.task == "regression"
    assert parts.train.name == "boston"


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"test_size": 0.0}, ValueError, r"test_size must be in \(0, 1\); got 0.0"),
        ({"test_size": 1.0}, ValueError, r"test_size must be in \(0, 1\); got 1.0"),
        ({"test_size": "0.2"}, TypeError, r"test_size must be a real number"),
        (
            {"test_size": 0.2, "validation_size": -0.1},
            ValueError,
            r"validation_size must be in \[0, 1\); got -0.1",
        ),
        (
            {"test_size": 0.5, "validation_size": 0.5},
            ValueError,
            r"test_size \+ validation_size must be < 1 \(the rest is the training set\)",
        ),
        (
            {"test_size": 0.01},
            ValueError,
            r"test_size must be large enough for one sample of each of the 3 classes",
        ),
        (
            {"test_size": 0.6, "validation_size": 0.38},
            ValueError,
            r"test_size \+ validation_size must be small enough to leave one training sample",
        ),
        ({"test_size": 0.2, "rng": 1}, TypeError, r"rng must be a numpy.random.Generator"),
        ({"test_size": 0.2, "stratify": "yes"}, TypeError, r"stratify must be True or False"),
        ({"test_size": 0.2, "dataset": np.zeros(3)}, TypeError, r"dataset must be a gdlab"),
    ],
)
def test_split_errors(kwargs, error, pattern):
    arguments = {"dataset": toy(), "rng": rng(), **kwargs}
    with pytest.raises(error, match=pattern):
        split(**arguments)


def test_split_errors_for_tiny_classes_and_regression():
    with pytest.raises(ValueError, match=r"stratify must be False, or every class with at least 2"):
        split(toy((10, 1)), test_size=0.3, rng=rng())
    assert split(toy((10, 1)), test_size=0.3, rng=rng(), stratify=False).test.n_samples == 4
    with pytest.raises(ValueError, match=r"stratify must be False or None for the regression"):
        split(boston(), test_size=0.2, rng=rng(), stratify=True)
    with pytest.raises(ValueError, match=r"test_size must be small enough to leave training"):
        split(toy((2,)), test_size=0.6, rng=rng(), stratify=False)


# -- Seattle temperatures ---------------------------------------------------------------


def test_seattle_temperatures_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("seattle_temperatures tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    dates, temp_max = seattle_temperatures()
    assert len(dates) == len(temp_max) == 1461
    assert dates.dtype == np.dtype("datetime64[D]")
    assert dates[0] == np.datetime64("2012-01-01")
    assert dates[-1] == np.datetime64("2015-12-31")
    assert np.all(np.diff(dates) == np.timedelta64(1, "D"))
    assert temp_max.dtype == np.float64
    assert temp_max[0] == 12.8
    assert -10 < temp_max.min() < temp_max.max() < 45  # degrees Celsius


# -- registry and containers ---------------------------------------------------------------


def test_registry():
    assert sorted(DATASETS) == ["boston", "circles", "digits", "mnist", "moons", "spirals", "xor"]
    assert DATASETS["mnist"].dataset is mnist_subset
    assert DATASETS["mnist"].classifier
    assert not DATASETS["boston"].classifier
    data = load("moons", n_samples=20, rng=rng(3))
    np.testing.assert_array_equal(data.X, moons(20, rng=rng(3)).X)
    assert load("boston", features=("RM",)).feature_names == ("RM",)
    with pytest.raises(
        ValueError,
        match=r"name must be one of 'mnist', 'boston', 'moons', 'circles', 'spirals', 'xor',",
    ):
        load("iris")


def test_dataset_is_frozen_and_describes_itself():
    data = toy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.X = np.zeros((1, 3))
    assert repr(data) == (
        "Dataset(name='toy', task='classification', X=float64[60, 3], y=int64[60], n_classes=3)"
    )
    assert data.subset(data.y == 2).n_samples == 10
    assert "n_classes" not in repr(boston())


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        ({"X": np.zeros(60)}, ValueError, r"X.ndim must be 2"),
        ({"y": np.zeros(59, dtype=int)}, ValueError, r"y.shape must be \(60,\)"),
        ({"task": "ranking"}, ValueError, r"task must be one of 'classification', 'regression'"),
        ({"feature_names": ("a", "b")}, ValueError, r"len\(feature_names\) must be X.shape\[1\]"),
        ({"feature_names": "abc"}, TypeError, r"feature_names must be a sequence of str"),
        ({"y": np.zeros(60)}, ValueError, r"y.dtype must be an integer type"),
        ({"target_names": ("a", "b")}, ValueError, r"y must be class indices in \[0, 1\]"),
        ({"task": "regression"}, ValueError, r"target_names must be one name"),
        ({"name": 3}, TypeError, r"name must be a str"),
    ],
)
def test_dataset_checks(change, error, pattern):
    with pytest.raises(error, match=pattern):
        dataclasses.replace(toy(), **change)


def test_splits_check_their_parts():
    with pytest.raises(TypeError, match=r"test must be a Dataset"):
        Splits(toy(), None, "test")


# -- light import ----------------------------------------------------------------------------


def test_import_gdlab_data_loads_no_heavy_packages():
    source = str(Path(gdlab.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys, gdlab.data\n"
        "heavy = [m for m in ('sklearn', 'mlxtend', 'pandas', 'vega_datasets', 'scipy')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
