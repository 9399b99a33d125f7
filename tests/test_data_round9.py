"""Round 9 of the data sets: dtype casts, MNIST's dtype, the data cache's keys, one class,
an empty IDX test set, the documented DataSource and Boston's scaling per fold."""

from __future__ import annotations

import dataclasses
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cli_run import gdlab
from gdlab.data import (
    DATASETS,
    Dataset,
    IDXError,
    Splits,
    boston,
    datasets,
    mnist_idx,
    registry,
    scale,
    write_idx,
)
from gdlab.problems import LinearRegression, LogisticRegression, MLPClassification

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _idx(directory: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Fake MNIST IDX files: random pixels, labels 0..9 in turn."""
    r = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte",
                  r.integers(0, 256, (n, 28, 28), dtype=np.uint8))  # fmt: skip
        write_idx(directory / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    return directory


# --------------------------------------------------------------------------- 1. casts


def _big() -> Dataset:
    X = np.array([[1.0, 1e300], [2.0, 0.0], [-1.0, 1.0], [-2.0, 0.0]])
    return Dataset(X, np.array([0, 1, 0, 1]), "big", ("a", "b"), ("n", "p"), "classification")


def test_float64_data_past_float32s_range_are_refused_not_diverged():
    message = (r"X\[0, 1\] \(feature 'b'\) of the data set 'big' must be within float32's "
               r"range .*use dtype float64\); got 1e\+300")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        MLPClassification(_big(), (3,))
    with pytest.raises(ValueError, match=message):
        LogisticRegression(_big(), dtype="float32")
    assert np.isfinite(MLPClassification(_big(), (3,), dtype="float64")._X["train"]).all()
    held_out = Splits(train=_big().subset([1, 2, 3]), validation=None, test=_big().subset([0]))
    with pytest.raises(ValueError, match=r"X\[0, 1\] \(feature 'b'\) of the data set 'big'"):
        MLPClassification(held_out, (3,))


def test_regression_targets_past_float32s_range_are_refused():
    data = Dataset(np.ones((3, 1)), np.array([1.0, -3e39, 2.0]), "r", ("x",), ("t",), "regression")
    with pytest.raises(ValueError, match=r"y\[1\] \(target 't'\) of the data set 'r' must be "
                       r"within float32's range.*got -3e\+39"):  # fmt: skip
        LinearRegression(data, dtype="float32")
    problem = LinearRegression(data)  # float64: fine
    assert problem.evaluate(problem.init_params(np.random.default_rng(0)))["loss"] > 1e78


# --------------------------------------------------------------------------- 2. MNIST's dtype


def test_a_float64_mnist_problem_trains_on_pixels_divided_in_float64(tmp_path):
    from gdlab.experiments import builtin

    folder = _idx(tmp_path / "idx", 30, 10)
    pixels = datasets.read_idx(folder / "train-images-idx3-ubyte").reshape(30, 784)
    experiment = builtin("mnist").with_problem(kind="logreg", data="mnist", directory=str(folder))
    X = experiment.problem.build()._X["train"]
    assert X.dtype == np.float64
    assert np.array_equal(X, pixels.astype(np.float64) / 255)
    # the float32 default is as before: divided in float32
    X32 = builtin("mnist").with_problem(directory=str(folder)).problem.build()._X["train"]
    assert X32.dtype == np.float32
    assert np.array_equal(X32, pixels.astype(np.float32) / np.float32(255))


def test_mnist_in_two_dtypes_never_shares_a_cached_array(tmp_path, fresh_cache, monkeypatch):
    """Even cached, the loaded data are the exact pixels (uint8): each dtype divides them."""
    from gdlab.experiments import builtin

    folder = _idx(tmp_path / "idx", 20, 10)
    pixels = datasets.read_idx(folder / "train-images-idx3-ubyte").reshape(20, 784)
    cached = dataclasses.replace(DATASETS["mnist"], cached_with=registry.libraries())
    monkeypatch.setitem(DATASETS, "mnist", cached)
    experiment = builtin("mnist").with_problem(directory=str(folder))
    for _ in range(2):  # made, then read back
        for dtype in ("float32", "float64"):
            X = experiment.with_problem(dtype=dtype).problem.build()._X["train"]
            assert X.dtype == dtype
            assert np.array_equal(X, pixels.astype(dtype) / np.dtype(dtype).type(255))
    prepared = set(fresh_cache.glob("data-mnist-prepared-*.npz"))
    (loaded,) = set(fresh_cache.glob("data-mnist-*.npz")) - prepared
    assert datasets._read_data_cache(loaded).train.X.dtype == np.uint8  # no dtype of its own
    dtypes = sorted(str(datasets._read_data_cache(p).train.X.dtype) for p in prepared)
    assert dtypes == ["float32", "float64"]  # one file each


# --------------------------------------------------------------------------- 3. cache keys


def _toy(value: float) -> Dataset:
    return Dataset(np.full((2, 1), value), np.array([0, 1]), "toy", ("a",), ("n", "p"),
                   "classification")  # fmt: skip


def test_a_data_cache_file_copied_under_another_keys_name_is_made_again(fresh_cache):
    datasets.cached_load("toy", {"n": 1}, (), lambda: _toy(1.0))
    datasets.cached_load("toy", {"n": 2}, (), lambda: _toy(2.0))
    one = datasets._data_cache_file("toy", {"n": 1}, ())
    two = datasets._data_cache_file("toy", {"n": 2}, ())
    shutil.copyfile(one, two)
    assert datasets._read_data_cache(two) is None
    assert datasets.cached_load("toy", {"n": 2}, (), lambda: _toy(2.0)).X[0, 0] == 2.0
    assert datasets._read_data_cache(two).X[0, 0] == 2.0  # rewritten under its own key
    assert datasets._read_data_cache(one).X[0, 0] == 1.0


def test_a_copied_load_file_is_not_served_as_another_sets(fresh_cache):
    from gdlab.data import load

    small = load("moons", n_samples=20, rng=np.random.default_rng(0))
    (made,) = fresh_cache.glob("data-load-moons-*.npz")
    large = load("moons", n_samples=40, rng=np.random.default_rng(0))
    (other,) = set(fresh_cache.glob("data-load-moons-*.npz")) - {made}
    shutil.copyfile(made, other)
    again = load("moons", n_samples=40, rng=np.random.default_rng(0))
    assert again.X.shape == (40, 2)
    assert np.array_equal(again.X, large.X)
    assert small.X.shape == (20, 2)


# --------------------------------------------------------------------------- 4. one class


@pytest.mark.parametrize("make", [lambda d: MLPClassification(d, (4,)), LogisticRegression])
def test_a_one_class_data_set_is_refused_once_without_circular_advice(make):
    data = Dataset(np.ones((3, 1)), np.zeros(3, np.int64), "solo", ("x",), ("only",),
                   "classification")  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 classes") as raised:
        make(data)
    message = str(raised.value)
    assert message == (
        "the data set 'solo' must have at least 2 classes for a classifier; got 1 class ('only')"
    )
    assert "sigmoid" not in message
    assert "output" not in message


# --------------------------------------------------------------------------- 5. empty test set


def test_an_idx_folder_with_no_test_images_is_refused_when_read(tmp_path):
    folder = _idx(tmp_path / "idx0", 200, 0)
    with pytest.raises(IDXError, match=r"t10k-images-idx3-ubyte': the MNIST test set must have "
                       r"at least one image .*got 0 images here and 0 labels in "
                       r".*t10k-labels-idx1-ubyte'"):  # fmt: skip
        mnist_idx(folder)


def test_the_cli_refuses_an_empty_idx_test_set_in_one_line(cwd, capsys):
    _idx(cwd / "idx0", 200, 0)
    argv = ["race", "mnist", "--data", "idx0", "--optimizers", "sgd", "--steps", "2",
            "--batch-size", "8", "--no-figures", "--out", "o"]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    assert code == 2, err
    assert err.count("\n") == 1
    assert "the MNIST test set must have at least one image" in err
    assert out == ""


# --------------------------------------------------------------------------- 6. the documented way


def _documented_example() -> str:
    """The code block of gdlab.data.registry's docstring, as written."""
    doc = registry.__doc__
    block = doc[doc.index("::\n") + 3 : doc.index("An experiment then names it")]
    return textwrap.dedent(block)


def test_the_documented_data_source_registers_and_races():
    from gdlab.experiments import Experiment
    from gdlab.race import prepare, race

    code = _documented_example()
    assert "dataset=" in code
    assert "TEST_SIZE" not in code
    try:
        exec(compile(code, "registry-docstring", "exec"), {})
        assert DATASETS["wine"].describe({}) == "scikit-learn's wines (13 features, 3 classes)"
        experiment = Experiment.from_dict({
            "name": "wine",
            "problem": {"kind": "logreg", "data": "wine"},
            "training": {"steps": 3, "batch_size": 16},
            "runs": [{"optimizer": "sgd", "lr": 0.1}],
        })  # fmt: skip
        (record,) = race(experiment, progress=False, workers=1)
        assert record["status"] == "ok"
        assert record["steps"] == 3
        assert prepare(experiment).splits == ("train", "test")
    finally:
        DATASETS.pop("wine", None)


def test_the_docs_say_a_data_source_needs_its_plain_loader():
    text = (DOCS / "experiments.md").read_text()
    section = text[text.index("## Adding a problem kind or a data set") :]
    assert re.search(r"`dataset`", section.split("\n## ")[0])


# --------------------------------------------------------------------------- 7. Boston per fold


def _boston_experiment(scale_kind: str = "minmax"):
    from gdlab.experiments import builtin

    return builtin("boston").with_problem(scale=scale_kind)


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_boston_is_scaled_on_a_folds_training_rows_only(kind):
    experiment = _boston_experiment(kind)
    raw = boston(features=("RM", "LSTAT"))
    pool = experiment.problem.load_data()  # what tuning folds
    assert np.array_equal(pool.X, raw.X)  # not scaled over all 506 rows first
    rng = np.random.default_rng(0)
    extremes = [*raw.X.argmin(axis=0), *raw.X.argmax(axis=0)]  # held out: the scaling moves
    validation = np.union1d(rng.choice(506, 97, replace=False), extremes)
    train = np.setdiff1d(np.arange(506), validation)
    fold = Splits(train=pool.subset(train), validation=pool.subset(validation),
                  test=pool.subset(validation))  # fmt: skip
    problem = experiment.problem.build(fold)
    expected = scale(Splits(train=raw.subset(train), validation=raw.subset(validation),
                            test=raw.subset(validation)), kind)  # fmt: skip
    assert np.array_equal(problem._X["train"], expected.train.X)
    assert np.array_equal(problem._X["validation"], expected.validation.X)
    whole = scale(raw, kind).X
    assert not np.array_equal(problem._X["train"], whole[train])  # the leak is gone


def test_the_boston_race_still_scales_all_506_rows():
    """Seed 003 trains on the whole set: min-max over every row, as before (bit for bit)."""
    problem = _boston_experiment().problem.build()
    assert np.array_equal(problem._X["train"], scale(boston(features=("RM", "LSTAT"))).X)


def test_a_folds_validation_part_is_prepared_once_as_its_test_part():
    """selection's folds pass the validation part as the test part too: one copy."""
    from gdlab.data import registry
    from gdlab.data.datasets import Dataset, Splits, scale

    pixels = np.arange(24, dtype=np.uint8).reshape(6, 4)
    part = Dataset(pixels, np.array([0, 1, 0, 1, 0, 1]), "d", ("a", "b", "c", "e"),
                   ("n", "p"), "classification")  # fmt: skip
    fold = Splits(train=part, validation=part, test=part)
    prepared = registry._scale_pixels({"dtype": "float32"}, fold)
    assert prepared.test is prepared.validation
    scaled = scale(Splits(train=part, validation=part, test=part), "minmax")
    assert scaled.test is scaled.validation
