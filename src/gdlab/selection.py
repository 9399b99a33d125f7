"""Model selection: holdout and K-fold splits, search spaces, cross-validation, refit or ensemble.

Seed 002's recipe for choosing hyperparameters: keep a **test** set aside for
the very end; pick the setting with the lowest mean **validation** loss, on one
held-out validation part or, when data is scarce, by **K-fold
cross-validation** (train on K − 1 folds, validate on the one left out, K
times); then either **refit** the chosen setting on all the training data or
keep the K fold models as an **ensemble** that predicts by majority vote.

=========================  ====================================================
piece                      what it does
=========================  ====================================================
:func:`holdout`            training / validation / test parts (:func:`gdlab.data.split`)
:func:`kfold`              K folds of index arrays, stratified for classifiers
:class:`SearchSpace`       named :class:`LogUniform` / :class:`Uniform` / :class:`Choice`
:func:`default_space`      a learning-rate range (and more) per optimizer
:func:`train_fold`         one training on one fold: plain data in, a plain dict out
:func:`cross_validate`     one configuration over every fold and seed → :class:`CVResult`
:func:`select`             the best :class:`CVResult` (lowest loss or highest accuracy)
:func:`search`             grid / random / TPE search, then refit or ensemble
=========================  ====================================================

Randomness comes from the ``numpy.random.Generator`` passed in: scikit-learn's
splitters and Optuna's sampler get integer seeds drawn from it. Each training
run uses ``numpy.random.default_rng(seed)`` for a seed of ``seeds`` (as
:func:`gdlab.race.race` does), so every configuration starts from the same
parameters and sees the same batches. Results are plain data: ``to_dict()``
gives JSON with infinities (a diverged fold) written as ``null``.

>>> folds = kfold(10, 5, rng=np.random.default_rng(0))
>>> [len(f.validation) for f in folds]
[2, 2, 2, 2, 2]
>>> space = SearchSpace({"lr": LogUniform(1e-3, 1e-1), "momentum": [0.9, 0.99]})
>>> space
SearchSpace({'lr': LogUniform(0.001, 0.1), 'momentum': Choice([0.9, 0.99])})
>>> space.grid(3)[:2]
[{'lr': 0.001, 'momentum': 0.9}, {'lr': 0.001, 'momentum': 0.99}]
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab._checks import check_bool, check_choice, check_int, check_real, check_rng, describe, fail
from gdlab._io import plain
from gdlab._text import exact
from gdlab.data.datasets import (
    ClassSizeError,
    Dataset,
    Splits,
    carve,
    check_dataset,
    draw_seed,
    part_size,
    resolve_stratify,
    split,
)
from gdlab.optim import OPTIMIZERS
from gdlab.race import RunSpec, make_optimizer
from gdlab.train import fit

__all__ = [
    "ACCURACY_DIGITS",
    "CV_STATUSES",
    "DISTRIBUTIONS",
    "METHODS",
    "METRICS",
    "CVResult",
    "Choice",
    "Fold",
    "LogUniform",
    "SearchResult",
    "SearchSpace",
    "Uniform",
    "concat",
    "cross_validate",
    "default_space",
    "ensemble_predict",
    "holdout",
    "holdout_fold",
    "import_optuna",
    "kfold",
    "majority_vote",
    "search",
    "select",
    "train_fold",
]

#: What a configuration is judged by: mean validation ``"loss"`` (lower is
#: better) or ``"accuracy"`` (higher is better; classifiers only).
METRICS = ("loss", "accuracy")
#: How :func:`search` proposes configurations.
METHODS = ("grid", "random", "tpe")
#: A :class:`CVResult`'s status: no run diverged, some did, or all did.
CV_STATUSES = ("ok", "partial", "diverged")
_FINALS = ("refit", "ensemble")
# fit() arguments that selection owns: the seeds, and a fresh start per run.
_RESERVED_TRAIN_KEYS = ("rng", "params", "resume")
#: What ``train_kwargs['validation']`` may name: a fold's parts besides its training
#: set (both hold the part it leaves out, see :func:`_fold_data`).
_FOLD_VALIDATION = ("validation", "test")


# --------------------------------------------------------------------------- splits


def holdout(
    dataset: Dataset,
    *,
    validation_size: float,
    test_size: float,
    rng: np.random.Generator,
    stratify: bool | None = None,
) -> Splits:
    """Training, validation and test parts: :func:`gdlab.data.split` with a validation part.

    The sizes are fractions of the whole data set (rounded up to whole
    samples); the training part is the rest. Stratified for classification
    unless ``stratify=False``. The seeds are drawn from ``rng``.
    ``test_size=0`` keeps no test part: ``test`` is then an empty data set
    (0 samples, the same features), for data whose test set lives elsewhere.

    >>> from gdlab.data import moons
    >>> parts = holdout(moons(100, rng=np.random.default_rng(0)), validation_size=0.2,
    ...                 test_size=0.2, rng=np.random.default_rng(1))
    >>> parts.train.n_samples, parts.validation.n_samples, parts.test.n_samples
    (60, 20, 20)
    """
    dataset = check_dataset("dataset", dataset)
    validation_size = check_real(
        "validation_size", validation_size, low=0, high=1, low_open=True, high_open=True
    )
    test_size = check_real("test_size", test_size, low=0, high=1, high_open=True)
    if test_size > 0:
        return split(
            dataset,
            test_size=test_size,
            validation_size=validation_size,
            rng=rng,
            stratify=stratify,
        )
    rng = check_rng(rng)
    sizes = {"validation_size": (validation_size, part_size(validation_size, dataset.n_samples))}
    rest, parts = carve(dataset.y, sizes, rng, resolve_stratify(stratify, dataset))
    return Splits(
        train=dataset.subset(rest),
        validation=dataset.subset(parts["validation_size"]),
        test=dataset.subset(np.arange(0)),
    )


@dataclass(frozen=True, eq=False)
class Fold:
    """One fold: ``train`` and ``validation`` are sorted index arrays into the data set.

    ``repeat`` counts the repetitions of K-fold from 0 and ``index`` the fold
    within it (0 .. K − 1); a holdout is the single fold ``(0, 0)``.
    """

    repeat: int
    index: int
    train: np.ndarray
    validation: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "repeat", check_int("Fold repeat", self.repeat, low=0))
        object.__setattr__(self, "index", check_int("Fold index", self.index, low=0))
        for part in ("train", "validation"):
            object.__setattr__(self, part, _fold_indices(f"Fold {part}", getattr(self, part)))
        _check_disjoint("Fold validation", "train", self.train, self.validation)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repeat": self.repeat,
            "index": self.index,
            "train": self.train.tolist(),
            "validation": self.validation.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"Fold(repeat={self.repeat}, index={self.index}, "
            f"train={len(self.train)} samples, validation={len(self.validation)} samples)"
        )


def _fold_indices(name: str, indices: Any) -> np.ndarray:
    """A fold's part as a 1-D array of sample indices (at least one, none negative)."""
    array = np.asarray(indices)
    if array.size == 0 and array.ndim == 1 and array.dtype.kind == "f":
        array = array.astype(np.int64)  # [] is float64 to NumPy
    if array.dtype.kind not in "iu" or array.ndim != 1:
        fail(name, "a 1-D array of integer sample indices", indices, kind=TypeError)
    if array.size == 0:
        fail(name, "at least one sample index (a fold part with no samples)", indices)
    if array.min() < 0:
        fail(name, "sample indices >= 0", int(array.min()))
    return array


def _check_disjoint(name: str, other: str, train: np.ndarray, validation: np.ndarray) -> None:
    """A sample that trains and validates leaks: a fold's parts share none."""
    both = np.intersect1d(train, validation)
    if both.size:
        fail(
            name,
            f"disjoint from {other} (no sample both trains and validates)",
            f"sample {int(both[0])} in both ({both.size} shared)",
        )


def _check_fold_range(name: str, indices: np.ndarray, n: int) -> np.ndarray:
    """``indices`` (from :func:`_fold_indices`) within the ``n`` samples of the data."""
    indices = _fold_indices(name, indices)
    if indices.max() >= n:
        fail(name, f"sample indices in [0, {n - 1}] (the data has {n} samples)", int(indices.max()))
    return indices


def holdout_fold(
    dataset: Dataset,
    *,
    validation_size: float,
    rng: np.random.Generator,
    stratify: bool | None = None,
) -> Fold:
    """One :class:`Fold`: a validation part of ``validation_size``, stratified for
    classification data unless ``stratify=False`` (a class of one sample cannot be).

    >>> from gdlab.data import moons
    >>> fold = holdout_fold(moons(100, rng=np.random.default_rng(0)), validation_size=0.2,
    ...                     rng=np.random.default_rng(1))
    >>> len(fold.train), len(fold.validation)
    (80, 20)
    """
    dataset = check_dataset("dataset", dataset)
    size = check_real("validation_size", validation_size, low=0, high=1, low_open=True,
                      high_open=True)  # fmt: skip
    stratified = resolve_stratify(stratify, dataset)
    sizes = {"validation_size": (size, part_size(size, dataset.n_samples))}
    rest, parts = carve(dataset.y, sizes, check_rng(rng), stratified)
    return Fold(0, 0, np.sort(rest), np.sort(parts["validation_size"]))


def kfold(
    n_or_dataset: int | Dataset,
    k: int,
    *,
    rng: np.random.Generator,
    stratify: bool | None = None,
    repeats: int = 1,
) -> list[Fold]:
    """K shuffled folds (``repeats`` times over): every sample validates exactly once per repeat.

    scikit-learn's ``KFold`` / ``StratifiedKFold`` (``RepeatedKFold`` /
    ``RepeatedStratifiedKFold`` when ``repeats > 1``) with ``shuffle=True``
    and a ``random_state`` drawn from ``rng``: the same generator state gives
    the same folds. Fold sizes differ by at most one sample; stratified folds
    keep each class's share in every fold (to within one sample per class).

    Args:
        n_or_dataset: a number of samples, or a :class:`~gdlab.data.Dataset`.
        k: folds per repeat, ``2 <= k <= n``.
        rng: the generator the seed is drawn from.
        stratify: keep class proportions. ``None`` (default) stratifies a
            classification data set and nothing else; ``True`` needs
            classification data with at least ``k`` samples of every class.
        repeats: how many times to repeat K-fold with a new shuffle (default 1).

    Returns:
        ``k * repeats`` :class:`Fold` objects, repeat by repeat.

    >>> folds = kfold(7, 3, rng=np.random.default_rng(0), repeats=2)
    >>> [(f.repeat, f.index, len(f.train), len(f.validation)) for f in folds[:3]]
    [(0, 0, 4, 3), (0, 1, 5, 2), (0, 2, 5, 2)]
    """
    if isinstance(n_or_dataset, Dataset):
        dataset: Dataset | None = n_or_dataset
        n = n_or_dataset.n_samples
        stratified = resolve_stratify(stratify, n_or_dataset)
    elif isinstance(n_or_dataset, numbers.Integral) and not isinstance(n_or_dataset, bool):
        dataset = None
        n = check_int("n_or_dataset", n_or_dataset, low=2)
        if stratify is not None and check_bool("stratify", stratify):
            fail(
                "stratify",
                "False or None for a sample count (there are no labels to stratify by)",
                stratify,
            )
        stratified = False
    else:
        fail(
            "n_or_dataset",
            "a number of samples or a gdlab.data.Dataset",
            n_or_dataset,
            kind=TypeError,
        )
        raise AssertionError  # unreachable
    k = check_int("k", k, low=2)
    if k > n:
        fail("k", f"<= the number of samples ({n})", k)
    repeats = check_int("repeats", repeats, low=1)
    rng = check_rng(rng)

    from sklearn import model_selection as ms

    y = np.zeros(n, dtype=np.int64)
    if stratified:
        assert dataset is not None
        y = dataset.y
        _check_class_sizes(dataset, k, "k")
    seed = draw_seed(rng)
    if repeats == 1:
        kind = ms.StratifiedKFold if stratified else ms.KFold
        splitter = kind(n_splits=k, shuffle=True, random_state=seed)
    else:
        kind = ms.RepeatedStratifiedKFold if stratified else ms.RepeatedKFold
        splitter = kind(n_splits=k, n_repeats=repeats, random_state=seed)
    X = np.zeros((n, 1))
    return [
        Fold(i // k, i % k, np.sort(train), np.sort(validation))
        for i, (train, validation) in enumerate(splitter.split(X, y))
    ]


# --------------------------------------------------------------------------- search spaces


def _check_bounds(kind: str, low: Any, high: Any, *, positive: bool) -> tuple[float, float]:
    low = check_real(f"{kind} low", low, low=0 if positive else None, low_open=positive)
    high = check_real(f"{kind} high", high)
    if high <= low:
        fail(f"{kind} high", f"> low = {low!r}", high)
    if not math.isfinite(high - low):  # U(-1e308, 1e308): draws and grids overflow
        fail(f"{kind} high - low", "finite (a range within the float limits)", high - low)
    return low, high


@dataclass(frozen=True)
class LogUniform:
    """Values spread evenly in ``log``: ``exp(U(log low, log high))``, ``0 < low < high``.

    The natural prior for a learning rate or an ε: 1e-4 .. 1e-3 gets as many
    draws as 1e-2 .. 1e-1. ``grid(n)`` is ``numpy.geomspace(low, high, n)``
    (both end points exact).
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _check_bounds("LogUniform", self.low, self.high, positive=True)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return min(max(x, self.low), self.high)  # exp(log(x)) may be an ulp outside

    def grid(self, n: int) -> list[float]:
        n = check_int("points", n, low=2)
        return [float(x) for x in np.geomspace(self.low, self.high, n)]

    def to_config(self) -> dict[str, Any]:
        return {"type": "loguniform", "low": self.low, "high": self.high}

    def __repr__(self) -> str:
        return f"LogUniform({exact(self.low)}, {exact(self.high)})"


@dataclass(frozen=True)
class Uniform:
    """Values spread evenly: ``U(low, high)``; ``grid(n)`` is ``numpy.linspace(low, high, n)``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        low, high = _check_bounds("Uniform", self.low, self.high, positive=False)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, rng: np.random.Generator) -> float:
        return min(float(rng.uniform(self.low, self.high)), self.high)

    def grid(self, n: int) -> list[float]:
        n = check_int("points", n, low=2)
        return [float(x) for x in np.linspace(self.low, self.high, n)]

    def to_config(self) -> dict[str, Any]:
        return {"type": "uniform", "low": self.low, "high": self.high}

    def __repr__(self) -> str:
        return f"Uniform({exact(self.low)}, {exact(self.high)})"


def _scalar(name: str, value: Any) -> Any:
    """``value`` as a JSON scalar (None, bool, int, finite float or str)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(name, "finite", value)
        return value
    fail(name, "None, a bool, a number or a str", value, kind=TypeError)
    raise AssertionError  # unreachable


@dataclass(frozen=True, eq=False)
class Choice:
    """One of the given values, each equally likely; ``grid(n)`` is the values (``n`` unused).

    Values are plain scalars (None, bool, int, float, str), distinct, at least one.
    Two Choices are equal when their values are, types included (``True``,
    ``1`` and ``1.0`` are different values to an optimizer's keyword).
    """

    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        values = self.values
        if isinstance(values, str) or not isinstance(values, Sequence):
            fail("Choice values", "a sequence of values", values, kind=TypeError)
        values = tuple(_scalar("every Choice value", v) for v in values)
        if not values:
            fail("Choice values", "at least one value", list(values))
        # 1 == 1.0 == True in Python: compare with the types for distinctness.
        if len(set(_typed_values(values))) != len(values):
            fail("Choice values", "distinct", list(values))
        object.__setattr__(self, "values", values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Choice):
            return NotImplemented
        return _typed_values(self.values) == _typed_values(other.values)

    def __hash__(self) -> int:
        return hash(_typed_values(self.values))

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def grid(self, n: int | None = None) -> list[Any]:
        return list(self.values)

    def to_config(self) -> dict[str, Any]:
        return {"type": "choice", "values": list(self.values)}

    def __repr__(self) -> str:
        return f"Choice({list(self.values)!r})"


def _typed_values(values: Sequence[Any]) -> tuple[tuple[type, Any], ...]:
    """``values`` with their types: ``1 == 1.0 == True`` in Python, not to a Choice."""
    return tuple((type(v), v) for v in values)


Distribution = LogUniform | Uniform | Choice
#: Distribution classes by their ``to_config()["type"]``.
DISTRIBUTIONS: dict[str, type] = {"loguniform": LogUniform, "uniform": Uniform, "choice": Choice}


def _distribution(name: str, value: Any) -> Distribution:
    if isinstance(value, LogUniform | Uniform | Choice):
        return value
    if isinstance(value, np.ndarray) and value.ndim <= 1:  # numpy.geomspace(...) is a Choice too
        value = value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, str) or not isinstance(value, Sequence):
        return Choice((_scalar(f"space[{name!r}]", value),))  # a fixed value
    return Choice(tuple(value))


class SearchSpace:
    """Named hyperparameter distributions, in order.

    Args:
        params: name → a :class:`LogUniform`, :class:`Uniform` or
            :class:`Choice`; a list or tuple is a :class:`Choice` of its
            values, a single scalar a fixed value (a one-value Choice).
            Names are the optimizer's keyword arguments (``lr``, ``beta1``, …).

    ``grid(points)`` is the Cartesian product, in the order given (the first
    name varies slowest), with ``points`` values per continuous dimension;
    ``sample(n, rng)`` draws ``n`` configurations; ``size`` counts the
    distinct configurations (``math.inf`` with a continuous dimension);
    ``to_config()`` / ``from_config()`` round-trip through plain data.

    >>> space = SearchSpace({"lr": LogUniform(1e-4, 1e-1), "beta2": [0.99, 0.999]})
    >>> len(space.grid(4)), space.grid_size(4), space.size
    (8, 8, inf)
    >>> SearchSpace.from_config(space.to_config()) == space
    True
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            fail("params", "a mapping of names to distributions", params, kind=TypeError)
        self.params: dict[str, Distribution] = {}
        for name, value in params.items():
            if not isinstance(name, str) or not name:
                fail("every name of a SearchSpace", "a non-empty str", name, kind=TypeError)
            self.params[name] = _distribution(name, value)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.params)

    @property
    def size(self) -> float:
        """The number of distinct configurations: ``math.inf`` with a continuous dimension."""
        total = 1
        for dist in self.params.values():
            if not isinstance(dist, Choice):
                return math.inf
            total *= len(dist.values)
        return total

    def grid_size(self, points: int) -> int:
        """``len(self.grid(points))``, without building it."""
        points = check_int("points", points, low=2)
        return math.prod(
            len(d.values) if isinstance(d, Choice) else points for d in self.params.values()
        )

    def grid(self, points: int = 5) -> list[dict[str, Any]]:
        """Every combination, ``points`` values per continuous dimension (end points included)."""
        points = check_int("points", points, low=2)
        axes = [dist.grid(points) for dist in self.params.values()]
        return [dict(zip(self.params, values, strict=True)) for values in itertools.product(*axes)]

    def sample(self, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
        """``n`` independent draws, each a dict (dimensions drawn in order)."""
        n = check_int("n", n, low=1)
        rng = check_rng(rng)
        return [{name: d.sample(rng) for name, d in self.params.items()} for _ in range(n)]

    def to_config(self) -> dict[str, dict[str, Any]]:
        return {name: dist.to_config() for name, dist in self.params.items()}

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        if not isinstance(config, Mapping):
            fail("config", "a mapping of names to distribution configs", config, kind=TypeError)
        params = {}
        for name, entry in config.items():
            if not isinstance(entry, Mapping):
                fail(f"config[{name!r}]", "a mapping with a 'type'", entry, kind=TypeError)
            kind = check_choice(f"config[{name!r}]['type']", entry.get("type"), DISTRIBUTIONS)
            args = {k: v for k, v in entry.items() if k != "type"}
            keys = ("values",) if kind == "choice" else ("low", "high")
            if set(args) != set(keys):
                fail(
                    f"config[{name!r}]",
                    f"a {kind!r} entry with the keys 'type', {', '.join(map(repr, keys))}",
                    list(entry),
                )
            params[name] = DISTRIBUTIONS[kind](**args)
        return cls(params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return list(self.params.items()) == list(other.params.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{name!r}: {dist!r}" for name, dist in self.params.items())
        return f"SearchSpace({{{inner}}})"


# The ranges default_space searches are declared by each optimizer where it is
# registered: ``register(..., lr_range=...)`` for the learning rate, and
# ``tunable=`` for the others (the standard ones, beta1, beta2, eps, decay,
# momentum, weight_decay, have ranges of their own in gdlab.optim.registry);
# ``cls.tunable_ranges`` holds them all as distribution configs. Plain
# gradient descent and the momentum methods take steps of ``lr·g``, so their
# useful rates depend on the gradient's scale; 1e-3 .. 1 covers the seeds'
# 0.01 .. 0.95. AdaGrad divides by the root of the summed squares and starts
# with steps of about ``lr``: 1e-3 .. 1 (seed 001 uses 1.5 on the bowl, the
# MNIST race 0.01). RMSprop and the Adam family take steps of about ``lr`` per
# coordinate whatever the scale: 1e-4 .. 1e-1 around the usual 1e-3.
# Adadelta's ``lr`` only scales its unit-correcting step (1.0 by default):
# 1e-2 .. 10. What tuning may name is ``cls.tunable``.


def _tuned(optimizer: str, what: str) -> Distribution:
    """The distribution :func:`default_space` uses for one tunable of one optimizer."""
    cls = OPTIMIZERS[optimizer]
    if what == "lr":
        return LogUniform(*cls.lr_range)
    return SearchSpace.from_config({what: cls.tunable_ranges[what]}).params[what]


def default_space(optimizer: str, *, tune: Sequence[str] = ("lr",)) -> SearchSpace:
    """A search space that suits ``optimizer``: its learning rate, and more on request.

    ``lr`` is log-uniform over the optimizer's registered ``lr_range``:

    ==============================================  ============
    optimizers                                      lr
    ==============================================  ============
    sgd, momentum, nesterov, adagrad                1e-3 .. 1
    rmsprop, adam, adamw, adamax, nadam, radam      1e-4 .. 1e-1
    adadelta                                        1e-2 .. 10
    ==============================================  ============

    ``tune`` may also name (where the optimizer has it, see its ``tunable``):
    ``"momentum"`` (Choice 0.5, 0.9, 0.95, 0.99; RMSprop 0, 0.5, 0.9),
    ``"beta1"`` (Choice 0.5, 0.8, 0.9, 0.95), ``"beta2"`` (Choice 0.99,
    0.999, 0.9999), ``"eps"`` (log-uniform 1e-10 .. 1e-4), ``"decay"``
    (RMSprop's ``alpha`` or Adadelta's ``rho``: Choice 0.9, 0.95, 0.99,
    0.999) and ``"weight_decay"`` (log-uniform 1e-6 .. 1e-1), and any other
    name over the range the optimizer registered with it (``register(...,
    tunable={"gamma": {"range": (1e-3, 1.0)}})``). The β's and decays are
    choices: what matters is ``1 − β`` (the averaging window, about
    ``1/(1 − β)`` steps), and a few windows cover it.

    >>> default_space("adam", tune=("lr", "beta2"))
    SearchSpace({'lr': LogUniform(0.0001, 0.1), 'beta2': Choice([0.99, 0.999, 0.9999])})
    """
    if not isinstance(optimizer, str):
        fail("optimizer", f"one of {', '.join(OPTIMIZERS)}", optimizer, kind=TypeError)
    key = optimizer.lower()
    if key not in OPTIMIZERS:
        fail("optimizer", f"one of {', '.join(OPTIMIZERS)}", optimizer)
    tunable = OPTIMIZERS[key].tunable
    if isinstance(tune, str) or not isinstance(tune, Sequence):
        fail("tune", 'a sequence of names such as ("lr", "beta1")', tune, kind=TypeError)
    if not tune:
        fail("tune", "at least one hyperparameter's name", tune)
    params: dict[str, Distribution] = {}
    for what in tune:
        if not isinstance(what, str):
            fail(f"every name in tune for {key!r}", f"one of {', '.join(tunable)}", what,
                 kind=TypeError)  # fmt: skip
        if what not in tunable:
            fail(f"tune for {key!r}", f"among {', '.join(tunable)}", what)
        if tunable[what] in params:
            fail("tune", "distinct names (each hyperparameter tuned once)", list(tune))
        params[tunable[what]] = _tuned(key, what)
    return SearchSpace(params)


# --------------------------------------------------------------------------- training on folds


def _fit_settings(
    train_kwargs: Mapping[str, Any], spec: RunSpec, *, make_callbacks: bool = True
) -> dict[str, Any]:
    """fit()'s keyword arguments: ``train_kwargs`` with the spec's ``training`` on top.

    ``make_callbacks=False`` only checks (the callbacks function is not called).
    """
    if not isinstance(train_kwargs, Mapping):
        fail("train_kwargs", "a mapping of gdlab.train.fit arguments", train_kwargs, kind=TypeError)
    for key in _RESERVED_TRAIN_KEYS:
        if key in train_kwargs:
            fail(
                "train_kwargs",
                f"free of {key!r} (selection seeds and starts every run itself)",
                sorted(train_kwargs),
            )
    settings = {"progress": False, **train_kwargs, **spec.training}
    if "steps" in spec.training:
        settings.pop("epochs", None)
    elif "epochs" in spec.training:
        settings.pop("steps", None)
    _check_fold_validation(settings.get("validation"))
    callbacks = settings.pop("callbacks", None)
    if callbacks is not None:
        if not callable(callbacks):
            fail(
                "train_kwargs['callbacks']",
                "a function returning fresh callbacks (callbacks keep state, and every run "
                "needs its own)",
                callbacks,
                kind=TypeError,
            )
        if make_callbacks:
            settings["callbacks"] = list(callbacks())
    return settings


def _check_fold_validation(validation: Any) -> None:
    """``train_kwargs['validation']``: a part every fold's problem has besides its training set."""
    if validation is None or (isinstance(validation, str) and validation in _FOLD_VALIDATION):
        return
    fail(
        "train_kwargs['validation']",
        "None, 'validation' or 'test' (a fold's problem has these parts besides 'train', "
        "and both are the part the fold leaves out)",
        validation,
        kind=ValueError if isinstance(validation, str) else TypeError,
    )


def _fold_data(data: Dataset, train_index: np.ndarray, validation_index: np.ndarray) -> Splits:
    """A fold as a :class:`Splits`: its validation part also fills the test slot.

    Problems take a Dataset or a Splits, and a Splits needs a test part; the
    real test set never enters selection, so the fold's validation part is
    put there (a problem that evaluates "test" then sees validation data).
    """
    validation = data.subset(validation_index)
    return Splits(train=data.subset(train_index), validation=validation, test=validation)


def train_fold(
    make_problem: Callable[[Dataset | Splits], Any],
    spec: RunSpec,
    data: Dataset,
    train_index: np.ndarray,
    validation_index: np.ndarray,
    *,
    rng: np.random.Generator,
    train_kwargs: Mapping[str, Any],
    keep_params: bool = False,
) -> dict[str, Any]:
    """Train ``spec`` on the rows ``train_index`` of ``data``; validate on ``validation_index``.

    One task of a selection: everything it takes is plain data (a data set,
    index arrays, a :class:`~gdlab.race.RunSpec`, fit arguments) besides
    ``make_problem`` (a module-level function, so that the task can be sent
    to another process) and ``rng``; it returns a plain dict. The problem is
    ``make_problem(Splits(train=…, validation=…, test=<the validation part>))``.

    Returns:
        ``status`` (``"ok"``, ``"stopped"`` or ``"diverged"``), ``reason``,
        ``steps``, ``stopped_at``, ``seconds``, ``train_loss`` (the trained
        model's training loss: the parameters early stopping put back, if it
        did, not the last epoch's), ``val_loss`` (``inf`` when diverged, or
        when the trained model's validation loss is not finite, which then
        counts as diverged) and, for classification data, ``val_accuracy``
        (0 when diverged); with ``keep_params`` also ``params`` (a copy).
        The trained model is where :func:`~gdlab.train.fit` evaluates:
        ``History.eval_params`` for an optimizer that evaluates elsewhere
        than it trains (Schedule-Free, Lookahead, EMA/SWA), else the
        trained parameters.
    """
    _check_make_problem(make_problem)
    data = check_dataset("data", data)
    train_index = _check_fold_range("train_index", train_index, data.n_samples)
    validation_index = _check_fold_range("validation_index", validation_index, data.n_samples)
    _check_disjoint("validation_index", "train_index", train_index, validation_index)
    keep_params = check_bool("keep_params", keep_params)
    settings = _fit_settings(train_kwargs, spec)
    problem = make_problem(_fold_data(data, train_index, validation_index))
    history = fit(problem, make_optimizer(spec), rng=rng, **settings)
    record: dict[str, Any] = {
        "status": history.status,
        "reason": history.reason,
        "steps": history.steps,
        "stopped_at": history.stopped_at,
        "seconds": history.seconds,
    }
    classifier = data.task == "classification"
    trained = _evaluated(history)
    record["train_loss"] = _train_loss(problem, history, trained)
    metrics: dict[str, float] = {}
    if history.status != "diverged":
        metrics = problem.evaluate(trained, "validation")
        if not math.isfinite(metrics["loss"]):
            record["status"] = "diverged"
            record["reason"] = f"validation loss {metrics['loss']!r} is not finite"
    if record["status"] == "diverged":
        record["val_loss"] = math.inf
        if classifier:
            record["val_accuracy"] = 0.0
    else:
        record["val_loss"] = float(metrics["loss"])
        if classifier:
            record["val_accuracy"] = float(metrics.get("accuracy", math.nan))
    if keep_params:
        record["params"] = {key: array.copy() for key, array in trained.items()}
    return record


def _check_make_problem(make_problem: Any) -> None:
    if not callable(make_problem):
        fail(
            "make_problem",
            "a function from a Dataset or Splits to a problem (such as LinearRegression)",
            make_problem,
            kind=TypeError,
        )


def _evaluated(history: Any) -> dict[str, np.ndarray]:
    """The model a run trained: where fit evaluates it (``History.eval_params``: the
    average of Schedule-Free, Lookahead, EMA/SWA, or the best point early stopping
    kept) when the optimizer has one, else the trained parameters."""
    return history.params if history.eval_params is None else history.eval_params


def _train_loss(problem: Any, history: Any, trained: dict[str, np.ndarray]) -> float:
    """The training loss of ``trained``, the model a record reports.

    A run that ran to its end (``"ok"``) was evaluated by :func:`~gdlab.train.fit`
    after its last step, at ``trained`` itself: ``History.final_loss`` is that
    loss. A stopped run may have moved since (early stopping's ``restore_best``
    puts the best epoch back): it is evaluated again, as is a run of no step
    (never evaluated). A diverged run keeps its last loss.
    """
    if history.status == "diverged" or (history.status == "ok" and _evaluated_at_end(history)):
        return float(history.final_loss)
    return float(problem.evaluate(trained, "train")["loss"])


def _evaluated_at_end(history: Any) -> bool:
    """Whether the run's last evaluation came after its last step."""
    return bool(history.epochs) and history.epochs[-1]["step"] == history.steps


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any():  # a metric the problem did not give: unknown, not infinite
        return math.nan, math.nan
    if not np.all(np.isfinite(array)):
        return math.inf, math.inf
    return float(array.mean()), float(array.std())


@dataclass
class CVResult:
    """One configuration's cross-validation: one run per fold and seed, and their summary.

    Attributes:
        config: the hyperparameters tried (merged into the optimizer's).
        optimizer: the optimizer's registry name; label: the spec's label.
        metric: the metric the selection uses (``"loss"`` or ``"accuracy"``).
        runs: per fold and seed, in order: ``repeat``, ``fold``, ``seed`` and
            :func:`train_fold`'s record (without parameters).
        models: the runs' trained parameters when kept (``None`` otherwise;
            not in :meth:`to_dict`).

    Per-fold values average the seeds; ``mean_*`` and ``std_*`` (population
    deviation) are over the folds. A diverged run counts as loss ``inf``
    and accuracy 0, so a configuration with a diverged fold has
    ``mean_loss == inf``.
    """

    config: dict[str, Any]
    optimizer: str
    label: str
    metric: str
    runs: list[dict[str, Any]]
    models: list[dict[str, np.ndarray]] | None = field(default=None, repr=False)

    def _per_fold(self, key: str) -> list[float]:
        folds: dict[tuple[int, int], list[float]] = {}
        for run in self.runs:
            folds.setdefault((run["repeat"], run["fold"]), []).append(run[key])
        return [math.inf if math.inf in v else float(np.mean(v)) for v in folds.values()]

    @property
    def classifier(self) -> bool:
        return bool(self.runs) and "val_accuracy" in self.runs[0]

    @property
    def fold_loss(self) -> list[float]:
        """Mean validation loss per fold (over the seeds)."""
        return self._per_fold("val_loss")

    @property
    def fold_accuracy(self) -> list[float] | None:
        """Mean validation accuracy per fold (over the seeds); ``None`` for regression."""
        return self._per_fold("val_accuracy") if self.classifier else None

    @property
    def mean_loss(self) -> float:
        return _mean_std(self.fold_loss)[0]

    @property
    def std_loss(self) -> float:
        return _mean_std(self.fold_loss)[1]

    @property
    def mean_accuracy(self) -> float | None:
        return None if not self.classifier else _mean_std(self.fold_accuracy)[0]

    @property
    def std_accuracy(self) -> float | None:
        return None if not self.classifier else _mean_std(self.fold_accuracy)[1]

    @property
    def steps(self) -> list[int]:
        """Steps each run took (a diverged run stops early)."""
        return [run["steps"] for run in self.runs]

    @property
    def n_diverged(self) -> int:
        return sum(run["status"] == "diverged" for run in self.runs)

    @property
    def status(self) -> str:
        """``"ok"`` (no run diverged), ``"partial"`` or ``"diverged"`` (every run did)."""
        if self.n_diverged == 0:
            return "ok"
        return "diverged" if self.n_diverged == len(self.runs) else "partial"

    def score(self, metric: str | None = None) -> float:
        """``mean_loss`` or ``mean_accuracy`` (``metric`` defaults to :attr:`metric`)."""
        metric = check_choice("metric", self.metric if metric is None else metric, METRICS)
        if metric == "loss":
            return self.mean_loss
        if not self.classifier:
            fail("metric", "'loss' for a regression problem (there is no accuracy)", metric)
        return self.mean_accuracy  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (infinities as ``None``)."""
        return plain(
            {
                "optimizer": self.optimizer,
                "label": self.label,
                "config": self.config,
                "metric": self.metric,
                "status": self.status,
                "n_diverged": self.n_diverged,
                "mean_loss": self.mean_loss,
                "std_loss": self.std_loss,
                "mean_accuracy": self.mean_accuracy,
                "std_accuracy": self.std_accuracy,
                "fold_loss": self.fold_loss,
                "fold_accuracy": self.fold_accuracy,
                "steps": self.steps,
                "runs": self.runs,
            }
        )


def _spec_for(spec_factory: RunSpec | Callable[[dict], RunSpec], config: dict) -> RunSpec:
    if isinstance(spec_factory, RunSpec):
        hp = {**spec_factory.hyperparameters, **config}
        return dataclasses.replace(spec_factory, hyperparameters=hp)
    if callable(spec_factory):
        spec = spec_factory(dict(config))
        if not isinstance(spec, RunSpec):
            fail("spec_factory(config)", "a gdlab.race.RunSpec", spec, kind=TypeError)
        return spec
    fail(
        "spec_factory",
        "a RunSpec or a function from a config to a RunSpec",
        spec_factory,
        kind=TypeError,
    )
    raise AssertionError  # unreachable


def _check_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        fail("config", "a mapping of hyperparameter names to values", config, kind=TypeError)
    for name in config:
        if not isinstance(name, str):
            fail("every name of config", "a str", name, kind=TypeError)
    return dict(config)


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, str) or not isinstance(seeds, Sequence):
        fail("seeds", "a sequence of integer seeds", seeds, kind=TypeError)
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not seeds:
        fail("seeds", "at least one seed", seeds)
    if len(set(seeds)) != len(seeds):  # a repeated seed repeats the same run
        fail("seeds", "distinct", seeds)
    return seeds


def _check_folds(folds: Any, data: Dataset) -> None:
    """Folds of ``data``, each numbered apart: runs are grouped into folds by
    ``(repeat, index)``, and two folds with one number would be averaged as one."""
    if isinstance(folds, Fold) or not isinstance(folds, Sequence) or not folds:
        fail("folds", "a non-empty list of Fold (from kfold)", folds, kind=TypeError)
    seen = set()
    for fold in folds:
        if not isinstance(fold, Fold):
            fail("every fold", "a gdlab.selection.Fold", fold, kind=TypeError)
        where = f"fold (repeat {fold.repeat}, index {fold.index})"
        if (fold.repeat, fold.index) in seen:
            fail(
                "folds",
                "numbered apart (a distinct (repeat, index) each, as kfold makes them)",
                f"two folds with repeat {fold.repeat}, index {fold.index}",
            )
        seen.add((fold.repeat, fold.index))
        _check_fold_range(f"{where} train", fold.train, data.n_samples)
        _check_fold_range(f"{where} validation", fold.validation, data.n_samples)


def _check_metric(metric: str, data: Dataset) -> str:
    metric = check_choice("metric", metric, METRICS)
    if metric == "accuracy" and data.task != "classification":
        fail("metric", f"'loss' for the regression data set {data.name!r}", metric)
    return metric


def cross_validate(
    make_problem: Callable[[Dataset | Splits], Any],
    spec_factory: RunSpec | Callable[[dict], RunSpec],
    config: Mapping[str, Any],
    data: Dataset,
    folds: Sequence[Fold],
    *,
    train_kwargs: Mapping[str, Any],
    seeds: Sequence[int] = (0,),
    metric: str = "loss",
    keep_params: bool = False,
) -> CVResult:
    """Train one configuration on every fold's training part; validate on the part left out.

    Each (fold, seed) pair is one call of :func:`train_fold` with
    ``numpy.random.default_rng(seed)`` and plain data, so a sweep may run the
    calls in other processes; here they run one after another, fold by fold.

    Args:
        make_problem: builds the problem from a :class:`~gdlab.data.Splits`
            (``train``, ``validation``, and the validation part again as
            ``test``), e.g. ``LinearRegression`` or
            ``lambda d: MLPClassification(d, (16,))``.
        spec_factory: a :class:`~gdlab.race.RunSpec` whose hyperparameters
            ``config`` updates, or a function from the config to the spec to
            train (it then decides what the config means).
        config: the hyperparameters to try, e.g. ``{"lr": 0.01}``.
        data: the data the folds index (the training data: never the test set).
        folds: from :func:`kfold` (or one holdout :class:`Fold`).
        train_kwargs: :func:`gdlab.train.fit` arguments (``steps`` or
            ``epochs``, ``batch_size``, …; not ``rng``, ``params``,
            ``resume``); ``callbacks`` must be a function returning fresh
            ones; ``validation`` may be ``"validation"`` (``val_loss``, what
            early stopping watches) or ``"test"``: both name the part the
            fold leaves out. The spec's ``training`` overrides them.
        seeds: one run per fold and seed.
        metric: ``"loss"`` or ``"accuracy"`` (classification data only):
            what :meth:`CVResult.score` reports.
        keep_params: keep the trained parameters of every run (for an ensemble).
    """
    _check_make_problem(make_problem)
    data = check_dataset("data", data)
    metric = _check_metric(metric, data)
    config = _check_config(config)
    seeds = _check_seeds(seeds)
    _check_folds(folds, data)
    keep_params = check_bool("keep_params", keep_params)
    spec = _spec_for(spec_factory, config)
    make_optimizer(spec)  # a bad hyperparameter fails here, before any training
    _fit_settings(train_kwargs, spec, make_callbacks=False)  # checks them
    runs, models = [], []
    for fold in folds:
        for seed in seeds:
            record = train_fold(
                make_problem,
                spec,
                data,
                fold.train,
                fold.validation,
                rng=np.random.default_rng(seed),
                train_kwargs=train_kwargs,
                keep_params=keep_params,
            )
            params = record.pop("params", None)
            if keep_params:
                models.append(params)
            runs.append({"repeat": fold.repeat, "fold": fold.index, "seed": seed, **record})
    return CVResult(
        config=config,
        optimizer=spec.optimizer,
        label=spec.label,
        metric=metric,
        runs=runs,
        models=models if keep_params else None,
    )


def select(results: Sequence[CVResult], *, metric: str = "loss") -> CVResult:
    """The result with the lowest mean validation loss (or the highest mean accuracy).

    With ``"accuracy"``, equal mean accuracies (to :data:`ACCURACY_DIGITS`
    decimals: averaging folds leaves float noise, 0.1 and 0.2 average to
    0.15000000000000002, 0.15 and 0.15 to 0.15) go to the lower mean loss.
    Remaining ties go to the result given first. With ``"loss"`` a configuration that
    diverged on any fold (mean ``inf``) never wins; with ``"accuracy"`` its
    diverged folds count 0, and only a configuration that diverged on every
    fold is left out. Raises ``ValueError`` when no configuration is left.
    """
    if isinstance(results, CVResult) or not isinstance(results, Sequence) or not results:
        fail("results", "a non-empty list of CVResult", results, kind=TypeError)
    for result in results:
        if not isinstance(result, CVResult):
            fail("every result", "a CVResult", result, kind=TypeError)
    metric = check_choice("metric", metric, METRICS)
    if metric == "loss":
        candidates = [r for r in results if math.isfinite(r.mean_loss)]
    else:
        for result in results:
            result.score("accuracy")  # a regression result has none: say so
        candidates = [
            r for r in results if r.status != "diverged" and not math.isnan(r.score("accuracy"))
        ]
    if not candidates:
        what = "on at least one fold" if metric == "loss" else "on every fold"
        raise ValueError(
            f"no configuration to select: all {len(results)} diverged {what} "
            f"(configs tried: {describe([r.config for r in results])})"
        )
    if metric == "loss":
        return min(candidates, key=lambda r: r.mean_loss)  # min keeps the first of ties
    return min(candidates, key=_accuracy_rank)  # as it does with these keys


#: Mean accuracies equal to this many decimals are a tie (broken by the loss).
ACCURACY_DIGITS = 12


def _accuracy_rank(result: CVResult) -> tuple[float, float]:
    """Smaller is better: the higher accuracy, then the lower loss (NaN counts as inf)."""
    loss = result.mean_loss
    return -round(result.score("accuracy"), ACCURACY_DIGITS), math.inf if math.isnan(loss) else loss


# --------------------------------------------------------------------------- ensembles


def majority_vote(predictions: Any, n_classes: int | None = None) -> np.ndarray:
    """The most common label per sample, over the models' predictions.

    ``predictions`` is ``(n_models, n_samples)`` class indices. A tie goes to
    the **lowest** class among the tied ones (``argmax`` of the vote counts).

    >>> majority_vote([[0, 1, 2, 1], [1, 1, 0, 2], [1, 0, 0, 0]]).tolist()
    [1, 1, 0, 0]
    >>> majority_vote([[2, 1], [1, 2]]).tolist()    # ties: the lower class
    [1, 1]
    """
    votes = np.asarray(predictions)
    if votes.ndim != 2 or votes.shape[0] == 0:
        fail("predictions", "a 2-D array (models, samples) with at least one model", votes.shape)
    if votes.dtype.kind not in "iu" or (votes.size and votes.min() < 0):
        fail("predictions", "non-negative integer class indices", votes.dtype.name)
    top = int(votes.max()) + 1 if votes.size else 0
    n_classes = top if n_classes is None else check_int("n_classes", n_classes, low=top)
    counts = np.zeros((votes.shape[1], max(n_classes, 1)), dtype=np.int64)
    columns = np.arange(votes.shape[1])
    for row in votes:
        counts[columns, row] += 1
    return counts.argmax(axis=1)


def ensemble_predict(
    problem: Any, models: Sequence[Mapping[str, np.ndarray]], X: np.ndarray
) -> np.ndarray:
    """The ensemble's prediction on ``X``: majority vote for a classifier, mean for regression.

    ``problem`` gives ``predict(params, X)`` (``LinearRegression``,
    ``LogisticRegression``, ``MLPClassification``) and its training data's task.
    ``X`` holds the samples on its rows, as the data set does, whatever a
    network's ``layout``.
    """
    _check_predicts(problem)
    if not models:
        fail("models", "at least one set of parameters", list(models))
    task = problem.parts["train"].task
    predictions = [_predicted(problem, params, X) for params in models]
    if task == "classification":
        return majority_vote(
            np.stack(predictions).astype(np.int64), problem.parts["train"].n_classes
        )
    return np.mean(predictions, axis=0)


def _check_predicts(problem: Any) -> None:
    if not callable(getattr(problem, "predict", None)):
        fail("problem", "a problem with predict(params, X)", problem, kind=TypeError)


def _predicted(problem: Any, params: Mapping[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """One model's predictions on the rows of ``X``: one value per sample."""
    predicted = np.asarray(problem.predict(dict(params), X))
    if predicted.size != len(X):
        fail(
            "problem.predict(params, X)",
            f"one prediction per sample of X ({len(X)})",
            f"shape {predicted.shape}",
        )
    return predicted.reshape(len(X))


def _check_ensemble(problem: Any, test: Dataset | None) -> None:
    """An ensemble's problem predicts, one value per test sample: checked on a model
    it draws for one test sample, before any fold trains."""
    _check_predicts(problem)
    if test is not None and test.n_samples:
        _predicted(problem, problem.init_params(np.random.default_rng(0)), test.X[:1])


# --------------------------------------------------------------------------- search


@dataclass
class SearchResult:
    """A finished search: every configuration's :class:`CVResult`, the best, and the final model.

    Attributes:
        optimizer, method, metric: as passed to :func:`search`.
        space: the search space's config.
        validation: how configurations were validated (``{"kind": "kfold",
            "k", "repeats", "stratified"}`` or ``{"kind": "holdout",
            "train", "validation"}``, sizes in samples).
        results: one :class:`CVResult` per configuration, in the order tried.
        best: the selected one (:func:`select`).
        final: the final model: ``kind`` (``"refit"`` or ``"ensemble"``),
            ``train_samples``, ``test_samples``, ``test`` (the test metrics,
            ``None`` without a test set) and, for a refit, ``status``,
            ``reason``, ``steps`` and ``train_loss``; for an ensemble
            ``members`` and ``member_test`` (each member's own test metrics).
        params: the refit parameters, or the ensemble members' (not in :meth:`to_dict`).
    """

    optimizer: str
    method: str
    metric: str
    space: dict[str, Any]
    validation: dict[str, Any]
    results: list[CVResult]
    best: CVResult
    final: dict[str, Any]
    params: Any = field(default=None, repr=False)

    @property
    def best_config(self) -> dict[str, Any]:
        return dict(self.best.config)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (infinities as ``None``)."""
        return plain(
            {
                "optimizer": self.optimizer,
                "method": self.method,
                "metric": self.metric,
                "space": self.space,
                "validation": self.validation,
                "best_config": self.best_config,
                "best": self.best.to_dict(),
                "results": [r.to_dict() for r in self.results],
                "final": self.final,
            }
        )


def concat(first: Dataset, second: Dataset) -> Dataset:
    """One data set: the rows of ``first``, then those of ``second`` (same features)."""
    return dataclasses.replace(
        first, X=np.concatenate([first.X, second.X]), y=np.concatenate([first.y, second.y])
    )


def import_optuna() -> Any:
    """Optuna, or ``ImportError`` with the command that installs it."""
    try:
        import optuna
    except ImportError as error:
        raise ImportError(
            "method='tpe' needs Optuna, which is not installed: pip install optuna"
        ) from error
    return optuna


def suggest(trial: Any, name: str, dist: Distribution) -> Any:
    """Ask an Optuna trial for a value of ``dist`` (log-uniform, uniform or a choice)."""
    if isinstance(dist, LogUniform):
        return trial.suggest_float(name, dist.low, dist.high, log=True)
    if isinstance(dist, Uniform):
        return trial.suggest_float(name, dist.low, dist.high)
    return trial.suggest_categorical(name, dist.values)


def _better(result: CVResult, best: CVResult | None, metric: str) -> bool:
    """Would :func:`select` pick ``result`` over ``best`` (given before it)?"""
    if best is None:
        return True
    try:
        return select([best, result], metric=metric) is result
    except ValueError:  # neither can be selected
        return False


def _search_data(
    data: Splits | Dataset,
    test_size: float | None,
    rng: np.random.Generator,
    stratify: bool | None,
) -> tuple[Dataset, Dataset | None, Dataset | None]:
    """What selection may see (the pool), the test set for the end, a given validation part
    (``data`` and ``test_size`` as :func:`_check_validation` let them through)."""
    if isinstance(data, Splits):
        # empty parts are no parts (holdout(test_size=0) keeps an empty test set)
        test = data.test if data.test.n_samples else None
        validation = data.validation
        if validation is not None and validation.n_samples == 0:
            validation = None
        return data.train, test, validation
    if test_size is None:
        return data, None, None
    parts = split(data, test_size=test_size, rng=rng, stratify=stratify)
    return parts.train, parts.test, None


def _holdout_folds(
    pool: Dataset,
    given_validation: Dataset | None,
    validation_size: float | None,
    stratify: bool | None,
    rng: np.random.Generator,
) -> tuple[Dataset, list[Fold]]:
    if validation_size is not None:  # checked by _check_validation
        sizes = {"validation_size": (validation_size, part_size(validation_size, pool.n_samples))}
        rest, parts = carve(pool.y, sizes, rng, resolve_stratify(stratify, pool))
        return pool, [Fold(0, 0, np.sort(rest), np.sort(parts["validation_size"]))]
    if given_validation is not None:
        n = pool.n_samples
        fold = Fold(0, 0, np.arange(n), n + np.arange(given_validation.n_samples))
        return concat(pool, given_validation), [fold]
    fail("folds or validation_size", "given (or data a Splits with a validation part)", None)
    raise AssertionError  # unreachable


def _check_stratified_folds(pool: Dataset, folds: int, stratify: bool | None) -> None:
    """Stratified folds need ``folds`` samples of every class (named as search's ``folds``)."""
    if resolve_stratify(stratify, pool):
        _check_class_sizes(pool, folds, "folds")


def _check_class_sizes(dataset: Dataset, k: int, name: str) -> None:
    """Stratified folds need ``k`` samples of every class; the error names ``name``
    (a :class:`~gdlab.data.datasets.ClassSizeError`, for a front end to say it its way)."""
    classes, counts = np.unique(dataset.y, return_counts=True)
    if counts.min() < k:
        c, m = int(classes[counts.argmin()]), int(counts.min())
        raise ClassSizeError(
            f"{name} must be <= the size of every class for stratified folds (class {c} "
            f"{dataset.target_names[c]!r} has {m} samples); lower {name} or pass "
            f"stratify=False; got {k}",
            label=c,
            count=m,
            needed=k,
        )


def _search_folds(
    pool: Dataset,
    given_validation: Dataset | None,
    folds: int | None,
    validation_size: float | None,
    repeats: int,
    stratify: bool | None,
    rng: np.random.Generator,
) -> tuple[Dataset, list[Fold], dict[str, Any]]:
    """The pool the folds index, the folds, and how they were made (for the record).

    The arguments are those :func:`_check_validation` let through.
    """
    if given_validation is not None and (folds is not None or validation_size is not None):
        pool = concat(pool, given_validation)  # the validation part joins the training data
        given_validation = None
    if folds is not None:
        _check_stratified_folds(pool, folds, stratify)
        fold_list = kfold(pool, folds, rng=rng, stratify=stratify, repeats=repeats)
        validation = {
            "kind": "kfold",
            "k": fold_list[-1].index + 1,
            "repeats": fold_list[-1].repeat + 1,
            "stratified": resolve_stratify(stratify, pool),
        }
        return pool, fold_list, validation
    pool, fold_list = _holdout_folds(pool, given_validation, validation_size, stratify, rng)
    validation = {
        "kind": "holdout",
        "train": len(fold_list[0].train),
        "validation": len(fold_list[0].validation),
    }
    return pool, fold_list, validation


def search(
    make_problem: Callable[[Dataset | Splits], Any],
    optimizer: str | RunSpec,
    space: SearchSpace | Mapping[str, Any],
    data: Splits | Dataset,
    *,
    rng: np.random.Generator,
    train_kwargs: Mapping[str, Any],
    folds: int | None = None,
    validation_size: float | None = None,
    test_size: float | None = None,
    repeats: int = 1,
    stratify: bool | None = None,
    method: str = "grid",
    budget: int | None = None,
    points: int = 5,
    metric: str = "loss",
    final: str = "refit",
    seeds: Sequence[int] = (0,),
    preset: str | None = None,
) -> SearchResult:
    """Search ``space`` for ``optimizer``'s best setting, then refit it or ensemble its folds.

    **Data.** A :class:`~gdlab.data.Splits` gives the training data (its
    ``train`` and, if any, ``validation`` parts) and the test set, which is
    used only at the very end. A :class:`~gdlab.data.Dataset` is all
    training data; ``test_size`` first cuts a test part from it (without
    it, there are no test metrics).

    **Validation.** ``folds=K``: K-fold cross-validation of the training
    data (:func:`kfold`, ``repeats`` and ``stratify`` as there).
    ``validation_size=f``: one validation part, the fraction ``f`` of the
    training data. Neither, with a Splits that has a validation part: that
    part validates. Fold and holdout draws come from ``rng``.

    **Configurations.** ``method="grid"``: :meth:`SearchSpace.grid` with
    ``points`` per continuous dimension (``budget``, if given, must cover
    the grid); ``"random"``: ``budget`` draws from the space; ``"tpe"``:
    ``budget`` trials of Optuna's ``TPESampler`` (seeded from ``rng``;
    LogUniform is ``suggest_float(log=True)``, Uniform ``suggest_float``,
    Choice ``suggest_categorical``), told each configuration's score.
    Optuna is optional: without it ``"tpe"`` raises ``ImportError``.

    **Selection.** :func:`cross_validate` per configuration (every fold and
    seed), then :func:`select` by ``metric``.

    **Final model.** ``final="refit"`` trains the best configuration on all
    the training data (seed ``seeds[0]``, the same ``train_kwargs`` but
    ``validation``: the refit has no validation part, and the test set must
    not steer it, so it evaluates the training set alone and an
    ``EarlyStopping`` watching ``val_loss`` watches ``train_loss`` there)
    and reports its test metrics; ``train_loss`` in its record and in every
    fold's is the reported model's (early stopping's restored parameters).
    ``final="ensemble"`` keeps the best configuration's fold models (one per
    fold and seed; diverged ones are left out) and predicts by majority
    vote (ties to the lowest class) for classification, reporting the test
    ``accuracy``, or by their mean for regression, reporting the test
    ``loss`` (MSE). An ensemble's problem is built before any training and
    predicts one test sample then: a problem that cannot predict fails
    before the cross-validation's work (a refit's is built after it).

    Args:
        make_problem: builds a problem from a Dataset or Splits, e.g.
            ``LinearRegression``; a module-level function if the tasks are
            to run in other processes.
        optimizer: a registry name (with ``preset``) or a
            :class:`~gdlab.race.RunSpec` whose hyperparameters the
            configurations update.
        space: a :class:`SearchSpace` or the mapping to build one.
        rng: the generator for the test split, folds, draws and TPE seed (a
            search that raises, refused or failed, leaves it as it was).
        train_kwargs: :func:`gdlab.train.fit` arguments for every training
            (see :func:`cross_validate`).
        seeds: training seeds: every configuration runs once per fold and seed.
    """
    rng = check_rng(rng)
    _check_make_problem(make_problem)
    method = check_choice("method", method, METHODS)
    final = check_choice("final", final, _FINALS)
    if isinstance(optimizer, RunSpec):
        spec = optimizer if preset is None else dataclasses.replace(optimizer, preset=preset)
    elif isinstance(optimizer, str):
        spec = RunSpec(label=optimizer, optimizer=optimizer, preset=preset)
    else:
        fail("optimizer", "an optimizer name or a gdlab.race.RunSpec", optimizer, kind=TypeError)
    space = space if isinstance(space, SearchSpace) else SearchSpace(space)
    seeds = _check_seeds(seeds)
    points = check_int("points", points, low=2)
    if budget is not None:
        budget = check_int("budget", budget, low=1)
    if method != "grid" and budget is None:
        fail("budget", f"a number of configurations for method={method!r}", budget)
    optuna = import_optuna() if method == "tpe" else None
    _fit_settings(train_kwargs, spec, make_callbacks=False)  # checks them
    configs = _grid_configs(space, points, budget) if method == "grid" else None
    _check_space(spec, space, configs)  # a refused search changes nothing, rng included
    metric, folds, validation_size, repeats = _check_validation(
        data, test_size, folds, validation_size, repeats, stratify, metric
    )
    with _restored_on_failure(rng):  # what depends on the draws (a class too small for
        # stratified folds, a training that raises, nothing selectable) leaves rng as it was
        return _search(
            make_problem, spec, space, data, rng, train_kwargs, folds, validation_size,
            test_size, repeats, stratify, method, budget, configs, metric, final, seeds, optuna,
        )  # fmt: skip


@contextlib.contextmanager
def _restored_on_failure(rng: np.random.Generator) -> Iterator[None]:
    """Put ``rng`` back as it was if the body raises: a failed call changes nothing."""
    state = rng.bit_generator.state
    try:
        yield
    except BaseException:
        rng.bit_generator.state = state
        raise


def _check_validation(
    data: Any,
    test_size: float | None,
    folds: int | None,
    validation_size: float | None,
    repeats: int,
    stratify: bool | None,
    metric: str,
) -> tuple[str, int | None, float | None, int]:
    """:func:`search`'s data and validation arguments, checked before anything is drawn."""
    if isinstance(data, Splits):
        if test_size is not None:
            fail("test_size", "None when data is a Splits (it has its test part)", test_size)
        train, extra = data.train, data.validation
        n = train.n_samples + (0 if extra is None else extra.n_samples)
        given = extra is not None and extra.n_samples > 0
    elif isinstance(data, Dataset):
        train, n, given = data, data.n_samples, False
        if test_size is not None:
            test_size = check_real("test_size", test_size, low=0, high=1, low_open=True,
                                   high_open=True)  # fmt: skip
            n -= part_size(test_size, n)
    else:
        fail("data", "a gdlab.data Splits or Dataset", data, kind=TypeError)
        raise AssertionError  # unreachable
    metric = _check_metric(metric, train)
    resolve_stratify(stratify, train)
    repeats = check_int("repeats", repeats, low=1)
    if folds is not None:
        folds = check_int("folds", folds, low=2)
        if folds > n:
            fail("folds", f"<= the {n} samples selection may use", folds)
    if validation_size is not None:
        validation_size = check_real("validation_size", validation_size, low=0, high=1,
                                     low_open=True, high_open=True)  # fmt: skip
    if folds is not None and validation_size is not None:
        fail("folds and validation_size", "given one at a time", (folds, validation_size))
    if folds is None and repeats != 1:
        fail("repeats", "1 unless folds is given", repeats)
    if folds is None and validation_size is None and not given:
        fail("folds or validation_size", "given (or data a Splits with a validation part)", None)
    return metric, folds, validation_size, repeats


def _search(
    make_problem: Callable[[Dataset | Splits], Any],
    spec: RunSpec,
    space: SearchSpace,
    data: Splits | Dataset,
    rng: np.random.Generator,
    train_kwargs: Mapping[str, Any],
    folds: int | None,
    validation_size: float | None,
    test_size: float | None,
    repeats: int,
    stratify: bool | None,
    method: str,
    budget: int | None,
    configs: list[dict[str, Any]] | None,
    metric: str,
    final: str,
    seeds: list[int],
    optuna: Any,
) -> SearchResult:
    """:func:`search` once its arguments are checked: draw, cross-validate, select, finish."""
    pool, test, given_validation = _search_data(data, test_size, rng, stratify)
    pool, fold_list, validation = _search_folds(
        pool, given_validation, folds, validation_size, repeats, stratify, rng
    )
    final_data = pool if test is None else Splits(train=pool, validation=None, test=test)
    problem = None
    if final == "ensemble":  # what an ensemble cannot do fails before any training
        problem = make_problem(final_data)
        _check_ensemble(problem, test)

    # -- the configurations, cross-validated one after another
    keep = final == "ensemble"
    results: list[CVResult] = []
    best: CVResult | None = None

    def evaluate(config: dict[str, Any]) -> CVResult:
        nonlocal best
        result = cross_validate(
            make_problem,
            spec,
            config,
            pool,
            fold_list,
            train_kwargs=train_kwargs,
            seeds=seeds,
            metric=metric,
            keep_params=keep,
        )
        results.append(result)
        if keep:  # keep the models of the best so far only
            if _better(result, best, metric):
                if best is not None:
                    best.models = None
                best = result
            else:
                result.models = None
        return result

    if configs is not None:
        for config in configs:
            evaluate(config)
    elif method == "random":
        for config in space.sample(budget, rng):
            evaluate(config)
    else:
        assert optuna is not None
        sampler = optuna.samplers.TPESampler(seed=draw_seed(rng))
        direction = "minimize" if metric == "loss" else "maximize"
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
        try:
            study = optuna.create_study(direction=direction, sampler=sampler)
            for _ in range(budget):
                trial = study.ask()
                config = {name: suggest(trial, name, d) for name, d in space.params.items()}
                study.tell(trial, evaluate(config).score(metric))
        finally:
            optuna.logging.set_verbosity(verbosity)

    chosen = select(results, metric=metric)
    if problem is None:
        problem = make_problem(final_data)
    final_record, final_params = _finish(
        final, problem, spec, chosen, pool, test, seeds, train_kwargs
    )
    return SearchResult(
        optimizer=spec.optimizer,
        method=method,
        metric=metric,
        space=space.to_config(),
        validation=validation,
        results=results,
        best=chosen,
        final=final_record,
        params=final_params,
    )


def _grid_configs(space: SearchSpace, points: int, budget: int | None) -> list[dict[str, Any]]:
    configs = space.grid(points)
    if budget is not None and budget < len(configs):
        fail(
            "budget",
            f">= the grid's {len(configs)} configurations (or use method='random')",
            budget,
        )
    return configs


def _check_space(spec: RunSpec, space: SearchSpace, configs: list[dict[str, Any]] | None) -> None:
    """Build the optimizer for the configurations a search will try, before it draws anything.

    A grid's configurations are all known: each is built. A random or TPE
    search draws inside the ranges, so each dimension is built at its
    middle value (every value of a Choice), the others at theirs: names and
    values the optimizer refuses fail before the search spends ``rng``.
    """
    if configs is None:
        axes = {
            name: dist.values if isinstance(dist, Choice) else [dist.grid(3)[1]]
            for name, dist in space.params.items()
        }
        base = {name: values[0] for name, values in axes.items()}
        configs = [{**base, name: v} for name, values in axes.items() for v in values] or [{}]
    for config in configs:
        _spec_for(spec, config).make_optimizer()


def _finish(
    final: str,
    problem: Any,
    spec: RunSpec,
    best: CVResult,
    pool: Dataset,
    test: Dataset | None,
    seeds: list[int],
    train_kwargs: Mapping[str, Any],
) -> tuple[dict[str, Any], Any]:
    """The final model on ``problem`` (``pool`` to train, ``test`` to test): refit on
    all the training data, or the ensemble of the fold models."""
    record: dict[str, Any] = {
        "kind": final,
        "train_samples": pool.n_samples,
        "test_samples": None if test is None else test.n_samples,
    }
    if final == "refit":
        chosen = _spec_for(spec, best.config)
        settings = _fit_settings(train_kwargs, chosen)
        # no validation part here (all the training data trains), and the test set
        # must not steer the training: the refit evaluates the training set only
        settings.pop("validation", None)
        history = fit(
            problem, make_optimizer(chosen), rng=np.random.default_rng(seeds[0]), **settings
        )
        ok = history.status != "diverged"
        trained = _evaluated(history)
        record.update(
            status=history.status,
            reason=history.reason,
            steps=history.steps,
            seed=seeds[0],
            train_loss=_train_loss(problem, history, trained),
            test=problem.evaluate(trained, "test") if ok and test is not None else None,
        )
        return record, {key: array.copy() for key, array in trained.items()}

    assert best.models is not None
    members = [
        params
        for params, run in zip(best.models, best.runs, strict=True)
        if run["status"] != "diverged"
    ]
    record["members"] = len(members)
    record["test"] = None
    record["member_test"] = None
    if test is not None:
        predicted = ensemble_predict(problem, members, test.X)
        if test.task == "classification":
            record["test"] = {"accuracy": float(np.mean(predicted == test.y))}
        else:
            record["test"] = {"loss": float(np.mean((predicted - test.y) ** 2))}
        record["member_test"] = [problem.evaluate(params, "test") for params in members]
    return record, members
