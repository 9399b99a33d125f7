"""Writing results: ``results.json``, ``results.csv``, parameter and series files.

:class:`ResultsWriter` keeps the document of an experiment and rewrites both
files atomically after every run it is given, with ``"status": "interrupted"``
until :meth:`ResultsWriter.finish`: whatever stops a race, the files on disk
describe every run that finished. The schema is in ``docs/results.md``.

A run of more than :data:`SERIES_INLINE` steps keeps every ``stride``-th value
of its per-step series (``loss``, ``lr``, ``path``) in ``results.json`` and
the whole of them in ``series/<id>.npz`` beside it; :func:`load_series` reads
them back.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import errno
import io
import json
import math
import numbers
import os
import platform
import re
import shlex
import shutil
import signal
import sys
import threading
import unicodedata
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from gdlab import _io
from gdlab._checks import cut
from gdlab._io import plain

__all__ = [
    "CSV_COLUMNS",
    "SCHEMA_ID",
    "SERIES_INLINE",
    "SERIES_POINTS",
    "Placed",
    "ResultsWriter",
    "check_new",
    "environment",
    "holds_report",
    "inline_series",
    "load_epochs",
    "load_series",
    "output",
    "plain",
    "read_series",
    "series_stride",
    "store_params",
    "store_series",
]

#: The ``schema`` of every results.json (2: the experiment model as ``config``).
SCHEMA_ID = "gdlab.results/2"
CSV_COLUMNS = (
    "id",
    "label",
    "optimizer",
    "preset",
    "hyperparameters",
    "seed",
    "status",
    "final_loss",
    "best_loss",
    "train_accuracy",
    "test_accuracy",
    "steps",
    "seconds",
)
_DEPENDENCIES = (
    "numpy",
    "numba",
    "scikit-learn",
    "mlxtend",
    "pandas",
    "vega_datasets",
    "matplotlib",
    "tqdm",
)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> tuple[dict[str, str], dict[str, Any]]:
    """``(versions, machine)``: gdlab's and its dependencies' versions, and the machine."""
    from gdlab import __version__

    versions = {"gdlab": __version__, "python": platform.python_version()}
    for name in _DEPENDENCIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    machine = {
        "platform": platform.platform(),
        "processor": _cpu(),
        "cpus": os.cpu_count() or 1,
    }
    return versions, machine


_SAFE = re.compile(r"[\w.-]+\Z")  # letters and digits of any script (slug)


#: Parameters with at most this many numbers go into results.json inline.
INLINE_PARAMS = 1000


def _check_id(record: Mapping[str, Any]) -> str:
    run_id = record.get("id")
    if not isinstance(run_id, str) or not _SAFE.match(run_id):
        raise ValueError(
            f"run id must be letters, digits (of any script), '.', '_' or '-'; got {run_id!r}"
        )
    return run_id


def store_params(record: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """``record`` with its ``final_params`` arrays stored: inline (as lists) when they
    hold at most :data:`INLINE_PARAMS` numbers, else in ``out_dir/params/<id>.npz``
    (``{"file": "params/<id>.npz"}``). Stored params are left as they are.

    Long per-step series are stored too (:func:`store_series`)."""
    record = store_series(record, out_dir)
    params = record.get("final_params") or {}
    if "file" in params or not all(isinstance(v, np.ndarray) for v in params.values()):
        return record
    if sum(np.size(v) for v in params.values()) <= INLINE_PARAMS:
        record["final_params"] = plain(params)
    else:
        relative = f"params/{record['id']}.npz"
        _io.atomic_write(Path(out_dir) / relative, lambda fh: np.savez(fh, **params))
        record["final_params"] = {"file": relative}
    return record


#: Runs of at most this many steps keep their per-step series whole in results.json.
SERIES_INLINE = 20_000
#: Values a longer run keeps inline per series (enough for a figure); the whole series
#: is in its file. Never more than :data:`SERIES_INLINE`.
SERIES_POINTS = 2_000


def _inline_points() -> int:
    return min(SERIES_POINTS, SERIES_INLINE)


#: Training points a 2-D classifier's ``problem.data.points`` keeps for its figure.
DATA_POINTS = 2_000


def data_block(train: Any, test: Any, classifier: bool, validation: Any = None) -> dict[str, Any]:
    """The ``problem.data`` block of results.json for ``train`` (and ``test``, and the
    ``validation`` part evaluated each epoch: ``n_validation``, only when there is one).

    A classifier on two features keeps its training points for the decision
    boundary figure: all of them up to :data:`DATA_POINTS`, else that many evenly
    spaced through the set, with ``"of"`` the set's size (a million points would
    make a 76 MB results.json and a figure no clearer than two thousand do).
    """
    block: dict[str, Any] = {
        "name": train.name,
        "n_train": train.n_samples,
        "n_test": 0 if test is None else test.n_samples,
        "n_features": train.n_features,
    }
    if validation is not None:
        block["n_validation"] = validation.n_samples
    if train.n_features == 2 and classifier:
        n = train.n_samples
        rows = slice(None) if n <= DATA_POINTS else np.linspace(0, n - 1, DATA_POINTS).astype(int)
        block["points"] = {"X": train.X[rows].tolist(), "y": train.y[rows].tolist()}
        if n > DATA_POINTS:
            block["points"]["of"] = n
    return block


#: The per-step series of a run record: ``path`` (2-D problems) has ``steps + 1`` points.
SERIES_KEYS = ("loss", "lr", "path")


def _series_array(key: str, values: Any) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1, 2) if key == "path" else array.reshape(-1)


#: The evaluations' columns in a series file are ``epochs.<key>``: ``epochs.train_loss``, ….
_EPOCHS = "epochs."


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real | np.bool_)


def _epoch_columns(epochs: Sequence[Mapping[str, Any]], run_id: str) -> dict[str, np.ndarray]:
    """The evaluations as columns: int64 where every value is an integer (``epoch``,
    ``step``), else float64, NaN where an evaluation lacks the key.

    Raises:
        ValueError: a value that is not a number (text, a list), naming the run,
            the evaluation and the key, before anything is written.
    """
    columns = {}
    for key in dict.fromkeys(k for entry in epochs for k in entry):
        values = [entry.get(key) for entry in epochs]
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            with contextlib.suppress(OverflowError):  # beyond int64: floats, as the rest
                columns[_EPOCHS + key] = np.asarray(values, dtype=np.int64)
                continue
        bad = next(
            (i for i, v in enumerate(values) if v is not None and not _real(v)),
            None,
        )
        if bad is not None:
            raise ValueError(
                f"run {run_id!r}: epochs[{bad}][{key!r}] is {values[bad]!r:.60}; an evaluation "
                "holds numbers only"
            )
        floats = [math.nan if v is None else v for v in values]
        columns[_EPOCHS + key] = np.asarray(floats, dtype=np.float64)
    return columns


def _thin(entries: Sequence[Any], limit: int) -> list[Any]:
    """Every ``k``-th entry, ending with the last, ``k`` the least that keeps ``limit``."""
    k = math.ceil(len(entries) / limit)
    kept = list(entries[k - 1 :: k])
    if len(entries) % k:
        kept.append(entries[-1])
    return kept


def store_series(record: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """``record`` with its per-step series (``loss``, ``lr``, ``path``) stored.

    A run of at most :data:`SERIES_INLINE` steps keeps them whole (arrays or
    lists, as given). A longer one writes them whole, as float64 arrays
    (``path`` of shape ``(n, 2)``), to ``out_dir/series/<id>.npz`` and keeps
    every ``stride``-th value inline (the values of steps ``0, stride,
    2 * stride, …``), with ``"series": {"file": "series/<id>.npz", "stride":
    stride, "steps": steps}``. ``stride = ceil((steps + 1) / SERIES_POINTS)``,
    so that even the path (``steps + 1`` points) keeps at most
    :data:`SERIES_POINTS` of them.

    Its evaluations (``epochs``: one a step on a 2-D function), when there
    are more than :data:`SERIES_INLINE`, go to the file too, as columns
    ``epochs.<key>``; every ``k``-th of them stays inline, the last one
    included (at most :data:`SERIES_POINTS`), and ``series`` adds ``"epochs": <how many>``
    (:func:`load_epochs` reads them all back).

    A record with a ``series`` block is left as it is.
    """
    record = dict(record)
    run_id = _check_id(record)
    steps = record.get("steps")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        return record
    steps = int(steps)  # a NumPy integer too
    if "series" in record or steps <= SERIES_INLINE:
        return record
    series = {k: _series_array(k, record[k]) for k in SERIES_KEYS if record.get(k) is not None}
    epochs = record.get("epochs") or []
    columns = _epoch_columns(epochs, run_id) if len(epochs) > SERIES_INLINE else {}
    relative = f"series/{run_id}.npz"
    _io.atomic_write(Path(out_dir) / relative, lambda fh: np.savez(fh, **series, **columns))
    stride = math.ceil((steps + 1) / _inline_points())
    record.update({key: array[::stride] for key, array in series.items()})
    record["series"] = {"file": relative, "stride": stride, "steps": steps}
    if columns:
        record["epochs"] = _thin(epochs, _inline_points())
        record["series"]["epochs"] = len(epochs)
    return record


def series_stride(run: Mapping[str, Any]) -> int:
    """The steps between two inline values of ``run``'s series (1 without ``series``)."""
    block = run.get("series")
    stride = block.get("stride") if isinstance(block, Mapping) else None
    if isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1:
        return stride
    return 1


def _series_file(base: Path, name: Any) -> Path:
    """``base / name``, refused unless it is a relative path that stays inside ``base``."""
    if not isinstance(name, str) or not name or Path(name).is_absolute():
        raise ValueError(f"a series file must be a relative path; got {name!r}")
    path = (base / name).resolve()
    if not path.is_relative_to(base.resolve()):
        raise ValueError(f"series file {name!r} lies outside {base}")
    return path


_SERIES_FILE = "a gdlab series file"


def read_series(run: Mapping[str, Any], base: str | os.PathLike) -> dict[str, np.ndarray]:
    """The whole per-step series of ``run`` (a record whose files are in ``base``):
    from its ``series`` file when it has one, else its inline lists.

    Raises:
        ValueError: the ``series`` block is not an object, its file lies outside
            ``base``, or the file is damaged or lacks a series the run has inline
            (the message names the file).
    """
    block = run.get("series")
    if block is None:
        return {k: _series_array(k, run[k]) for k in SERIES_KEYS if run.get(k) is not None}
    if not isinstance(block, Mapping):
        raise ValueError(f"run {run.get('id')!r}: 'series' must be an object; got {block!r}")
    path = _series_file(Path(base), block.get("file"))
    with _io.open_npz(path, _SERIES_FILE) as data:
        names = list(data.files)
        series = {k: _series_array(k, data[k]) for k in SERIES_KEYS if k in names}
    missing = [k for k in SERIES_KEYS if run.get(k) is not None and k not in series]
    if missing:
        raise ValueError(
            f"{path} is not {_SERIES_FILE} of run {run.get('id')!r}: it has no "
            f"{missing[0]!r} (it holds {', '.join(names) or 'nothing'})"
        )
    return series


def _find_run(results: str | os.PathLike, run_id: str) -> tuple[Mapping[str, Any], Path]:
    """Run ``run_id`` of a results.json (or of the directory holding one), and its directory."""
    path = Path(results)
    if path.is_dir():
        path = path / "results.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a gdlab results.json ({error})") from error
    runs = (document.get("runs") or []) if isinstance(document, Mapping) else []
    run = next((r for r in runs if isinstance(r, Mapping) and r.get("id") == run_id), None)
    if run is None:
        ids = ", ".join(repr(r.get("id")) for r in runs if isinstance(r, Mapping))
        raise KeyError(f"no run {run_id!r} in {path}; its runs: {ids or 'none'}")
    return run, path.parent


def load_series(results: str | os.PathLike, run_id: str) -> dict[str, np.ndarray]:
    """The whole per-step series of run ``run_id`` as float64 arrays.

    ``loss`` and ``lr`` (1-D) and, for 2-D problems, ``path`` (``(steps + 1,
    2)``), read from the run's ``series/<id>.npz`` when it has one (a run of
    more than :data:`SERIES_INLINE` steps), else from its inline lists.

    Args:
        results: a ``results.json``, or the report directory holding it.
        run_id: the run's ``id``.

    Raises:
        KeyError: no run has that id (the message lists the ids there are).
        ValueError: results.json is not JSON, or the run's series file is not a path
            inside the report's directory, is damaged or lacks a series (the
            message names the file).
        OSError: a file cannot be read (``FileNotFoundError``: it is missing).
    """
    run, base = _find_run(results, run_id)
    return read_series(run, base)


def _json_number(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def load_epochs(results: str | os.PathLike, run_id: str) -> list[dict[str, Any]]:
    """Every evaluation of run ``run_id`` (its ``epochs``, as in results.json).

    A run whose ``series`` block counts ``epochs`` keeps every ``k``-th of them
    inline and all in its series file; read from there, a value that is not
    finite (or a key an evaluation lacked) is ``None``, as in the JSON.
    Arguments and errors as :func:`load_series`.
    """
    run, base = _find_run(results, run_id)
    return _read_epochs(run, base)


def _read_epochs(run: Mapping[str, Any], base: str | os.PathLike) -> list[dict[str, Any]]:
    block = run.get("series")
    if not isinstance(block, Mapping) or "epochs" not in block:
        return [dict(entry) for entry in run.get("epochs") or []]
    path = _series_file(Path(base), block.get("file"))
    with _io.open_npz(path, _SERIES_FILE) as data:
        columns = {n[len(_EPOCHS) :]: data[n].tolist() for n in data.files if n.startswith(_EPOCHS)}
    counts = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(counts) != 1 or next(iter(counts)) != block["epochs"]:
        raise ValueError(
            f"{path} is not {_SERIES_FILE} of run {run.get('id')!r}: its evaluations should be "
            f"{block['epochs']!r} values a column; its columns hold "
            f"{sorted(counts) if counts else 'none'}"
        )
    count = counts.pop()
    return [{k: _json_number(v[i]) for k, v in columns.items()} for i in range(count)]


def inline_series(record: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """``record`` with its whole series inline again as lists (no ``series`` block)."""
    if "series" not in record:
        return dict(record)
    whole = {k: v.tolist() for k, v in read_series(record, out_dir).items()}
    whole["epochs"] = _read_epochs(record, out_dir)
    return {**{k: v for k, v in record.items() if k != "series"}, **whole}


def _series_shape_ok(key: str, array: np.ndarray) -> bool:
    if key != "path":
        return array.ndim == 1
    return array.shape == (0,) or (array.ndim == 2 and array.shape[1] == 2)


def _check_finite(record: Mapping[str, Any]) -> None:
    """Refuse a record whose ``loss`` or ``lr`` is not a flat sequence of finite numbers, or
    whose ``path`` is not one of finite ``(x, y)`` points (NaN, ±inf, ``None``, text, a
    3-D point): results.json would hold ``null`` or what its schema forbids."""
    for key in SERIES_KEYS:
        values = record.get(key)
        if values is None:
            continue
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            array = None
        if array is None or not _series_shape_ok(key, array):
            got = f"shape {array.shape}" if array is not None else f"{values!r:.60}"
            shape = "a list of (x, y) points" if key == "path" else "a flat list of numbers"
            raise ValueError(f"run {record.get('id')!r}: {key} must be {shape}; got {got}")
        if not array.size:
            continue
        bad = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
        if bad.size:
            raise ValueError(
                f"run {record.get('id')!r}: {key}[{bad[0]}] is {array[bad[0]].tolist()}; "
                "results hold finite numbers only (end a diverged run's series at its last "
                "finite value)"
            )


class ResultsWriter:
    """The results of one experiment, written after every run.

    Args:
        out_dir: the output directory (made if missing).
        header: the top-level fields of ``results.json`` other than
            ``schema``, ``status``, ``created``, ``versions``, ``machine`` and
            ``runs`` (which the writer fills in): ``experiment``, ``title``,
            ``description``, ``command``, ``config``, ``problem`` and
            optionally ``series`` and ``base``.
    """

    def __init__(self, out_dir: str | os.PathLike, header: Mapping[str, Any]) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        versions, machine = environment()
        self.document: dict[str, Any] = {
            "schema": SCHEMA_ID,
            "experiment": header["experiment"],
            "title": header.get("title", header["experiment"]),
            "description": header.get("description", ""),
            "changes": plain(list(header.get("changes", []))),
            "status": "interrupted",
            "command": header.get("command", ""),
            "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
            "config": plain(header.get("config", {})),
            "versions": versions,
            "machine": machine,
            "problem": plain(header.get("problem")),
            "runs": [],
        }
        if "series" in header:
            self.document["series"] = plain(header["series"])
        if "base" in header:  # the file that ``changes`` are from, as read
            self.document["base"] = plain(header["base"])
        self.write()

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.document["runs"]

    def add(self, record: Mapping[str, Any]) -> None:
        """Add a run record (from :func:`gdlab.race.run_record`) and rewrite the files.

        A record that cannot be added changes nothing: neither the files nor
        :attr:`runs` (a parameter or series file it wrote is removed again).
        A stop (:class:`KeyboardInterrupt`: Ctrl-C, :class:`Terminated`) that lands
        while the files are written never loses the run: once its parameter and
        series files are written it is in :attr:`runs`, and :meth:`finish` writes it
        into both files; a stop before that leaves it out, its files removed.

        Raises:
            ValueError: before anything is written, when the record's ``id`` is not a
                safe file name or is already a run's (ids that differ only in case or
                Unicode form are one file name on macOS and Windows), or when its
                per-step series (``loss``, ``lr``, ``path``) hold a value that is not a
                finite number (results.json holds none: a diverged run's series stop at
                the last finite value); and when the record holds what JSON cannot (a
                ``Path``, a set: the message names the run and the key).
        """
        run_id = _check_id(record)
        same = _file_key(run_id)
        taken = next((r.get("id") for r in self.runs if _file_key(str(r.get("id"))) == same), None)
        if taken == run_id:
            raise ValueError(f"run id {run_id!r} is already taken: every run needs its own id")
        if taken is not None:
            raise ValueError(
                f"run id {run_id!r} and the earlier run {taken!r} differ only in case or "
                "Unicode form: one file name on macOS and Windows; every run needs its own id"
            )
        _check_finite(record)
        entry: dict[str, Any] | None = None
        try:
            entry = plain(store_params(record, self.out_dir))
            self.runs.append(entry)  # the run is recorded from here: a stop keeps it
            self.write()
        except BaseException as error:
            kept = bool(self.runs) and self.runs[-1] is entry
            if kept and isinstance(error, KeyboardInterrupt):
                raise  # written by finish(), whatever of its files the stop cut short
            if kept:
                self.runs.pop()
                # results.json may already name it (the error came in results.csv's
                # write): written again without it, as far as the disk lets
                with contextlib.suppress(Exception):
                    self.write()
            self._remove_files(record)
            raise

    def _remove_files(self, record: Mapping[str, Any]) -> None:
        """Remove the parameter and series files :func:`store_params` writes for
        ``record``, written or not (a file the record names already is the caller's)."""
        params = record.get("final_params")
        named = {
            "params": isinstance(params, Mapping) and "file" in params,
            "series": "series" in record,
        }
        for folder in (f for f, given in named.items() if not given):
            with contextlib.suppress(OSError):
                (self.out_dir / folder / f"{record['id']}.npz").unlink()

    def finish(self, status: str = "complete") -> None:
        """Mark the experiment ``status`` (``"complete"`` or ``"interrupted"``) and rewrite.

        Raises:
            ValueError: another ``status``, before anything is written.
        """
        if status not in ("complete", "interrupted"):
            raise ValueError(f"status must be 'complete' or 'interrupted'; got {status!r}")
        self._write({**self.document, "status": status})
        self.document["status"] = status

    def write(self) -> None:
        """Rewrite ``results.json`` and ``results.csv`` atomically."""
        self._write(self.document)

    def _write(self, document: Mapping[str, Any]) -> None:
        """Write ``document`` (checked first: a document JSON cannot hold writes nothing)."""
        where = self.out_dir / "results.json"
        text = _io.json_text(document, str(where), indent=1)
        table = csv_text(document["runs"])
        _io.atomic_write(where, lambda fh: fh.write(text.encode()))
        _io.atomic_write(self.out_dir / "results.csv", lambda fh: fh.write(table.encode()))


def _file_key(run_id: str) -> str:
    """What a case-insensitive, normalising file system (macOS, Windows) sees of a name."""
    return unicodedata.normalize("NFKC", run_id).casefold()


#: A text cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell: numbers exactly (``repr``), text that a spreadsheet would run as a
    formula (``=cmd|…``, ``+1``, ``@SUM``) prefixed with ``'`` so that it stays text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """``results.csv``: one row per run, the columns of :data:`CSV_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        metrics = run.get("metrics") or {}  # a failed run read back may have null
        row = {
            **{k: run.get(k) for k in CSV_COLUMNS},
            "hyperparameters": json.dumps(run.get("hyperparameters", {}), separators=(",", ":")),
            "final_loss": metrics.get("final_loss"),
            "best_loss": metrics.get("best_loss"),
            "train_accuracy": metrics.get("train_accuracy"),
            "test_accuracy": metrics.get("test_accuracy"),
        }
        writer.writerow([_cell(row[k]) for k in CSV_COLUMNS])
    return buffer.getvalue()


# --------------------------------------------------------------------------- output directories


def _dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


_DIR_MODE = _dir_mode()


def _stamp() -> str:
    now = _dt.datetime.now(_dt.UTC)
    return now.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


#: The name of a report in a tree of them: ``20261130-214056-3bc1`` (:func:`_stamp`).
_STAMPED = re.compile(r"\d{8}-\d{6}-[0-9a-f]{4}\Z")


def _move_new(staged: Path, target: Path, fresh: Callable[[], str] | None = None) -> Path:
    """Rename ``staged`` to ``target``, or to another new name ``fresh()`` beside it
    (default: a new stamp) when a report already has that name (another run in the
    same second): never over one."""
    while True:
        try:
            os.rename(staged, target)  # refused (ENOTEMPTY, EEXIST, ENOTDIR) over anything
            return target
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise
        target = target.parent / (fresh or _stamp)()


#: The temporary link of a writer of ``root/latest`` (``.latest.<pid>.<random>.tmp``;
#: an earlier gdlab's ``.latest.<pid>.tmp``), and
#: :func:`gdlab._io.atomic_write`'s temporary file of ``root/LATEST``.
_LATEST_TEMP = re.compile(r"\.latest\.(\d+)(?:\.[0-9a-f]{8})?\.tmp\Z")
_LATEST_FILE_TEMP = re.compile(r"\.LATEST\.[a-z0-9_]{8}\.tmp\Z")


def _point_latest(root: Path, target: Path) -> bool:
    """``root/latest`` → ``target`` (a relative symlink, replaced atomically); whether
    ``root/latest`` now leads to ``target``.

    Done holding the lock of ``root`` itself (:func:`gdlab._io.holding`), so
    that writers point it one at a time, and the temporary links a killed
    writer left (``.latest.<pid>.<random>.tmp``: made only by a holder) are
    removed, unless their pid still runs. ``target`` is in place already: a link that
    cannot be made is told on stderr, never raised.
    """
    try:
        with _io.holding(os.path.realpath(root)) as held:  # a link to it: the same lock
            if held:
                _drop_latest_temps(root)
            return _relink_latest(root, target)
    except OSError as error:
        print(
            f"gdlab: the report is in {target}, but {root / 'latest'} could not be pointed at "
            f"it ({error})",
            file=sys.stderr,
        )
        return False


def _relink_latest(root: Path, target: Path) -> bool:
    """Point ``root/latest`` at ``target`` through a temporary link of this call's own
    (``.latest.<pid>.<random>.tmp``: two writers never share one); where no link can
    be made, write the name into the text file ``root/LATEST`` (and return False)."""
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        os.symlink(target.name, tmp)
    except FileExistsError:  # a name another made (1 in 2**32): told, never written over
        raise
    except OSError:  # no symlinks here: a text file names the newest report
        _io.atomic_write(root / "LATEST", lambda fh: fh.write(f"{target.name}\n".encode()))
        return False
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return True


def _drop_latest_temps(root: Path) -> None:
    """Remove the temporary links and files of ``latest`` that killed writers left in
    ``root`` (called holding its lock: no live writer of this gdlab has one)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            found = _LATEST_TEMP.match(entry.name)
            if found and _io.alive(int(found.group(1))):
                continue  # its pid runs: a writer that does not lock (an older gdlab)
            if (found or _LATEST_FILE_TEMP.match(entry.name)) and not _is_real_dir(entry):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return True  # unknown: left alone


def check_new(name: str, path: str | os.PathLike) -> Path:
    """``path`` as a ``Path`` when it is a directory to make, or an empty one (a lock
    file aside): what a report written in Python goes into, never over another.

    Raises:
        gdlab._io.OutputError: naming ``path`` and the first few names it holds, or
            why it cannot be an output directory (a file, below a file).
    """
    path = _io.check_output_dir(path)
    if not _is_empty(path):
        held = sorted(p.name for p in path.iterdir() if p.name != _LOCK_FILE)
        shown = ", ".join(held[:3]) + (", …" if len(held) > 3 else "")
        raise _io.OutputError(
            f"{name} must be a new or empty directory; got {str(path)!r}, which holds {shown}"
        )
    return path


def holds_report(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory that holds anything (a lock file aside)."""
    return Path(path).is_dir() and not _is_empty(Path(path))


def _check_not_around_us(out: str | os.PathLike) -> Path:
    """``out`` unless it is empty, or the working directory or one above it (which a
    report cannot replace: it is in use)."""
    if not str(out).strip():
        raise _io.OutputError("--out must name a directory; got ''")
    path = Path(out)
    here = Path.cwd().resolve()
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as error:  # a loop of links (3.11: RuntimeError)
        raise _io.OutputError(f"{out} cannot be an output directory: {error}") from None
    if target == here or target in here.parents:
        raise _io.OutputError(
            f"{out} cannot be an output directory: it is the working directory or holds it "
            "(give a new or empty directory)"
        )
    return path


def _is_empty(path: Path) -> bool:
    return not path.exists() or not any(p.name != _LOCK_FILE for p in path.iterdir())


#: The files that make a directory a report (a race's or a plot's).
REPORT_FILES = ("results.json", "index.html")
_LOCK_FILE = ".gdlab.lock"


#: What a report directory holds besides its lock file: name → whether it is a folder.
_REPORT_ENTRIES = {
    "results.json": False,
    "results.csv": False,
    "index.html": False,
    "figures": True,
    "params": True,
    "series": True,
}


def looks_like_report(path: str | os.PathLike) -> bool:
    """Whether the directory ``path`` holds a report that ``force`` may replace.

    A race's or a plot's (its ``results.json`` or ``index.html``), or a
    tour's (its page and directories that each hold ``results.json``), and
    nothing else: no file or folder a report does not hold (a site's
    ``style.css`` beside its ``index.html``, a link). A tree of reports
    (``gdlab-report/bowl/``, with its ``latest``) is not one, nor a
    directory of other files.
    """
    entries = [p for p in Path(path).iterdir() if p.name != _LOCK_FILE]
    names = {p.name for p in entries}
    if names & {"latest", "LATEST"} or any(_STAMPED.match(name) for name in names):
        return False  # a tree of reports, its latest link removed or never made
    if _foreign(Path(path), tour=True):
        return False
    return bool(names & set(REPORT_FILES)) or any(  # a tour's reports
        p.is_dir() and p.name not in _REPORT_ENTRIES for p in entries
    )


def _foreign(path: Path, *, tour: bool) -> list[str]:
    """The names in the directory ``path`` that a report does not hold (sorted); with
    ``tour``, a directory that is a report itself (a tour's) is one it holds."""
    return sorted(p.name for p in path.iterdir() if not _report_entry(p, tour))


def _report_entry(entry: Path, tour: bool) -> bool:
    name = entry.name
    if entry.is_symlink():  # gdlab writes none
        return False
    if name in (_LOCK_FILE, _JOURNAL, _JOURNAL + ".lock") or _TEMP_FILE.match(name):
        return not entry.is_dir()  # a writer's file, killed or live
    folder = _REPORT_ENTRIES.get(name)
    if folder is not None:
        return entry.is_dir() is folder
    return (
        tour
        and entry.is_dir()
        and (entry / "results.json").is_file()
        and not _foreign(entry, tour=False)
    )


def checked_out(out: str | os.PathLike, force: bool = False) -> Path:
    """The directory a report for ``out`` goes into, checked before anything runs.

    A link (``gdlab-report/bowl/latest``) stands for the directory it points
    to: the report is written there and the link kept. ``force`` replaces
    only a report (:func:`looks_like_report`), never a directory of other
    files or a tree of reports.

    Raises:
        gdlab._io.OutputError: naming ``out`` and what it holds.
    """
    path = _check_not_around_us(out)
    if path.is_symlink():
        path = path.resolve()
    if force and path.is_dir() and not _is_empty(path) and not looks_like_report(path):
        raise _not_one_report(path, out) or _io.OutputError(
            f"--out {out} holds what is not a gdlab report ({_listed(path)}); --force "
            "replaces only a report: give a new or empty directory"
        )
    return path


def _not_one_report(path: Path, out: str | os.PathLike) -> _io.OutputError | None:
    """The refusal of ``--out`` at a tree of reports (as ``gdlab-report/NAME/`` is) or at
    a tuning's directory, named as such, with ``--force`` or without; ``None`` for any
    other directory that is not one report."""
    reports = _reports_in(path)
    if reports:
        shown = ", ".join(reports[:3]) + (", …" if len(reports) > 3 else "")
        return _io.OutputError(
            f"--out {out} holds gdlab reports ({shown}), not one report; --force "
            f"replaces only one report: pass one of them (--out {Path(out) / reports[-1]}) "
            "or a new or empty directory"
        )
    tuning = sorted(
        (p.name for p in path.iterdir() if _TUNING_FILE.fullmatch(p.name)),
        key=lambda name: (name != "tune.json", name),
    )
    if tuning:
        return _io.OutputError(
            f"--out {out} holds a gdlab tuning ({tuning[0]}), not a report; --force "
            "replaces only a report: give a new or empty directory"
        )
    return None


def _reports_in(path: Path) -> list[str]:
    """The names of the reports in the directory ``path`` when it is a tree of them (it
    holds nothing a report does not hold but its ``latest`` link or ``LATEST`` file, and a
    report in a subdirectory); else none."""
    if any(name not in ("latest", "LATEST") for name in _foreign(path, tour=True)):
        return []
    return sorted(
        p.name
        for p in path.iterdir()
        if not p.is_symlink() and p.is_dir() and (p / "results.json").is_file()
    )


def _listed(path: Path) -> str:
    """The first few names in the directory ``path`` that a report does not hold, or
    when it holds none of them (a tree of reports), its first few names (its lock file
    aside), for errors."""
    entries = _foreign(path, tour=True) or sorted(
        p.name for p in path.iterdir() if p.name != _LOCK_FILE
    )
    return ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")


@dataclass
class Placed:
    """Where :func:`output` put a finished report: ``directory`` (``out``, or the
    stamped directory under ``root``) and ``shown``, the path to name to a user
    (``out``, or the stamped directory: never ``root/latest``, which another run
    that finishes at the same time may point at its own report a moment later).
    Both ``None`` until the report is in place."""

    directory: Path | None = None
    shown: Path | None = None


@contextlib.contextmanager
def output(
    root: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    force: bool = False,
    placed: Placed | None = None,
) -> Iterator[Path]:
    """Where a report is written: yields a fresh staging directory, moved into place at the end.

    * Without ``out``: a new directory ``root/<UTC time>-<id>`` for every run,
      and ``root/latest`` pointing to the newest. Nothing earlier is touched.
    * With ``out``: that directory (a link: the directory it points to, the
      link kept), which must not hold anything yet unless ``force`` is given
      and it holds a report (see :func:`checked_out`); then the old report is
      replaced only once the new one is complete (a failed run leaves it
      byte-identical). ``out`` is locked for the run: a second writer is
      refused, naming the holder.

    When the block raises (Ctrl-C included), what was written (the finished
    runs) is moved into place if the target held nothing before, and thrown
    away otherwise; when nothing was written, no directory is left (nor the
    ``out`` the lock made, nor, without ``out``, the ``root`` made for the staging
    directory); the exception propagates. ``out`` is checked
    again once its lock is held, so a report another process finished there
    meanwhile is never replaced without ``force``; without ``out``, a report
    whose stamped name was taken meanwhile takes another name. After a first
    Ctrl-C, those that follow are ignored until what it keeps is in place (the
    block's own clean-up included: a stopped race's page), where SIGINT has
    Python's handler (:func:`later_interrupts_ignored`).

    The staging directory is locked for as long as the block runs (see
    :func:`gdlab._io.staging`), and first, what runs that were killed (SIGKILL,
    the OOM killer: nothing of theirs ran on the way out) left of this output
    is recovered (:func:`_recover`): without ``out``, an unfinished report of
    ``root`` is moved into place under its own stamped name, as Ctrl-C would
    have left it; with ``out``, an unfinished report of it goes beside it as
    ``OUT.recovered-<UTC time>-<id>`` (it never takes ``out``'s place), and an
    earlier report that a killed swap had moved aside is put back. A recovered
    report is finished as Ctrl-C would have left it: the runs of its race's
    journal that finished added (a run that failed is not: Ctrl-C's report would
    list it as failed), its results.csv written again, its figures and page drawn
    (as its command asked: :func:`_finish_page`). One line on stderr names
    each (and a page that could not be made); an error while recovering is
    told there too, never raised. A hidden directory whose writer still runs is
    never touched, and one that holds no finished run is removed.

    ``placed``, if given, is filled in as soon as the report is in place (see
    :class:`Placed`), before ``latest`` is pointed at it: where it went, and
    which path to name to a user; also when the block raised and what it wrote
    was kept (then both name that unfinished report). An interrupt that lands
    after the move leaves it filled in: the report is there.

    Raises:
        gdlab._io.OutputError: ``out`` cannot be written, holds a report (no
            ``force``) or holds what is not a report; without ``out``,
            ``root/latest`` is not a link, or ``root`` holds a tuning
            (``gdlab tune``'s ``tune.json`` or task files).
        gdlab._io.LockedError: another process is writing ``out``.
    """
    if out is None:
        target = Path(root) / _stamp()
        _io.check_output_dir(target)
        _check_not_a_tuning(Path(root))
        _check_latest(Path(root))
        lock = contextlib.nullcontext()
    else:
        target = _io.check_output_dir(checked_out(out, force))
        _check_replaceable(target, out, force)
        lock = _io.exclusive(target, what="--out", directory=True)
    made = _io.missing_dirs(target)
    with later_interrupts_ignored():  # a 2nd Ctrl-C never cuts short what the 1st keeps
        target = yield from _written(root, target, out, force, lock, made, placed)
        if out is None:  # placed names its own directory: latest may lead to another's
            _point_latest(Path(root), target)


def _written(
    root: str | os.PathLike,
    target: Path,
    out: Any,
    force: bool,
    lock: contextlib.AbstractContextManager,
    made: list[Path],
    placed: Placed | None,
) -> Generator[Path, None, Path]:
    """:func:`output`'s block, from its lock to the report in place: yields the staging
    directory; returns where the report went."""
    locked = False
    try:
        with lock:
            locked = True
            _recover(Path(root), target, out)
            if out is not None:  # again, now that no other gdlab can write it
                _check_replaceable(target, out, force)
            existed = not _is_empty(target)
            with _io.staging(target) as staged:  # locked: not a killed run's
                os.chmod(staged, _DIR_MODE)  # mkdtemp makes it 0700; a report is to be read
                try:
                    yield staged
                except BaseException:
                    if existed or _is_empty(staged):
                        shutil.rmtree(staged, ignore_errors=True)
                    else:  # an unfinished report: named by where it is
                        _into_place(staged, target, out, placed, shown=None)
                    raise
                return _into_place(staged, target, out, placed, shown=out)
    except BaseException:
        if locked:  # this run made them (``out``'s lock, or the staging directory's
            for directory in made:  # parents): a failed run leaves none
                with contextlib.suppress(OSError):  # one never made, or not empty
                    directory.rmdir()  # only if empty (a report moved there stays)
        raise


def _into_place(staged: Path, target: Path, out: Any, placed: Placed | None, *, shown: Any) -> Path:
    """:func:`_put_in_place`, and ``placed`` filled in as soon as the report is there
    (``shown``: the path to name, or ``None`` for where it went), before anything
    else (``latest``): an interrupt that lands after the move, even one just after the
    rename, leaves ``placed`` naming the report in place."""
    try:
        where = _put_in_place(staged, target, out)
        _record(placed, where, shown)
    except BaseException:
        moved = out is not None and not os.path.lexists(staged) and target.is_dir()
        if moved and placed is not None and placed.directory is None:
            _record(placed, target, shown)
        raise
    return where


def _record(placed: Placed | None, where: Path, shown: Any) -> None:
    if placed is not None:
        placed.directory, placed.shown = where, where if shown is None else Path(shown)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, met as a first Ctrl-C is (:func:`later_interrupts_ignored`
    with ``terminations``): every path that keeps what finished on a Ctrl-C keeps it."""


@dataclass
class Stop:
    """The first stop signal a :func:`later_interrupts_ignored` block met: its number
    (``None``: none came), and whether its exception is on its way (the signals after
    it are ignored meanwhile)."""

    signum: int | None = None
    raising: bool = False

    def exception(self) -> KeyboardInterrupt:
        """The exception the first signal raises: Terminated for SIGTERM or SIGHUP."""
        return KeyboardInterrupt() if self.signum in (None, signal.SIGINT) else Terminated()

    def again(self) -> None:
        """Let the next signal raise again: the first's exception was swallowed on its
        way (in a C callback) and is being sent again."""
        self.raising = False


#: The handler each stop signal has when nothing (the process's starter, a notebook)
#: changed it: only such a one is :func:`later_interrupts_ignored`'s to take.
_UNTOUCHED = {signal.SIGINT: signal.default_int_handler}


@contextlib.contextmanager
def later_interrupts_ignored(
    *, terminations: bool = False, stop: Stop | None = None
) -> Iterator[Stop]:
    """The first Ctrl-C raises :class:`KeyboardInterrupt`, as Python's own handler does;
    those after it are ignored until the block ends, so that what the interrupted
    writer keeps (the finished runs, their page, the report moved into place) is
    written whole. Python's handler is back afterwards. Only on the main thread.

    With ``terminations`` (``gdlab``'s command), SIGTERM and SIGHUP are met the same
    way (raising :class:`Terminated`), one stop among the three: after any first,
    the others are ignored too. Each signal is taken on its own, and only where
    nothing changed its handler (Python's for SIGINT, the system's for the others):
    one ignored when the block began stays ignored (``nohup`` leaves SIGHUP so, and a
    script's ``cmd &`` SIGINT: SIGTERM still stops that job), and one with a handler
    of its own (a notebook's, an outer block's) keeps it. The handler stays installed
    and ignores by its state, not by ``SIG_IGN``, so code that saves and puts back
    SIGINT's handler meanwhile (a worker's start) keeps later signals ignored. Yields
    the :class:`Stop` (``stop``, or a new one), which tells which signal came.
    """
    stop = Stop() if stop is None else stop
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    names = ("SIGINT", "SIGTERM", "SIGHUP") if terminations else ("SIGINT",)
    signums = [getattr(signal, name) for name in names if hasattr(signal, name)]
    signums = [n for n in signums if signal.getsignal(n) is _UNTOUCHED.get(n, signal.SIG_DFL)]

    def first(signum: int, frame: Any) -> None:
        if stop.raising:
            return  # a later one: what the first stops to keep is being kept
        stop.raising = True
        if stop.signum is None:
            stop.signum = signum
        raise stop.exception()

    previous = {n: signal.signal(n, first) for n in signums}
    try:
        yield stop
    finally:
        for n, handler in previous.items():
            signal.signal(n, handler)


#: The names of the files that mark a directory as a tuning's (:func:`gdlab.tuning.tune`,
#: which makes a few more beside them): its summary, its task files and their candidates.
TUNING_FILES = r"tune\.json|tasks-[0-9a-f]+\.(jsonl|points\.json)"
_TUNING_FILE = re.compile(TUNING_FILES)


def _check_not_a_tuning(root: Path) -> None:
    """Refuse a ``root`` that holds a tuning (``gdlab tune``'s directory, the default
    ``gdlab-report/NAME-tune``): a report written there would make the tuning refuse to
    resume (its directory holds only its own files)."""
    try:
        found = sorted(p.name for p in root.iterdir() if _TUNING_FILE.fullmatch(p.name))
    except OSError:  # not a directory (yet): checked where it is made
        return
    if found:
        raise _io.OutputError(
            f"{root} holds a gdlab tuning ({found[0]}), not reports: a report written there "
            "would stop the tuning from resuming; pass --out DIR, or give the experiment "
            "another name (--set name=...)"
        )


def _check_latest(root: Path) -> None:
    """Refuse a ``root/latest`` that is not a link: it could not be pointed at the new
    report and would go on naming an old one."""
    link = root / "latest"
    if link.exists() and not link.is_symlink():
        kind = "a directory" if link.is_dir() else "a file"
        raise _io.OutputError(
            f"{link} is {kind}, not the link to the newest report that gdlab keeps there; "
            "move it away (or write with --out)"
        )


def _put_in_place(staged: Path, target: Path, out: Any) -> Path:
    """Move the written ``staged`` to ``target`` (without ``out``: a new name, never over
    an earlier report); returns where it went."""
    if out is None:
        return _move_new(staged, target)
    return _io.replace_dir(staged, target)


def _check_replaceable(target: Path, out: str | os.PathLike, force: bool) -> None:
    """Refuse a ``target`` that holds a report (without ``force``) or what is not one."""
    if _is_empty(target):
        return
    if not force and not looks_like_report(target):  # --force would not replace it either
        raise _not_one_report(target, out) or _io.OutputError(
            f"{target} already holds what is not one gdlab report ({_listed(target)}); "
            "--force replaces only a report: give a new or empty directory"
        )
    if not force:
        raise _io.OutputError(
            f"{target} already holds a report; add --force to replace it, or leave out "
            "--out to write a new directory"
        )
    checked_out(target, force)


# --------------------------------------------------------------------------- killed runs

#: Beside ``--out DIR``, a killed run's unfinished report of it: ``DIR.recovered-<stamp>``.
_RECOVERED = ".recovered-"
#: Bytes of ``DIR``'s name that such a name repeats (the rest must fit in 255 bytes).
_RECOVERED_NAME_BYTES = 200
#: A temporary file of :func:`gdlab._io.atomic_write` (``.NAME.<random>.tmp``).
_TEMP_FILE = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp\Z")
#: ``.NAME.tmp-<random>`` and ``.NAME.old-<random>``: what follows ``NAME``.
_HIDDEN_TAIL = len(".tmp-") + 8


def _recover(root: Path, target: Path, out: Any) -> None:
    """Recover what killed runs left of this output, one line on stderr for each report.

    Without ``out``: the staging directories ``root/.<stamp>.tmp-*``; with
    ``out``: ``target``'s ``.NAME.tmp-*`` and ``.NAME.old-*`` beside it (called
    holding ``out``'s lock). Each is taken only when its writer is gone
    (:func:`gdlab._io.claimed`); a directory that cannot be recovered (an error,
    of any kind) is left as it is, and named.
    """
    if out is None:
        parent, name = root, _STAMPED.pattern.removesuffix(r"\Z")
    else:
        parent, name = target.parent, re.escape(target.name)
    staged, backups = _io.hidden_dirs(parent, name)
    for backup in sorted(backups, key=_changed, reverse=True):  # the newest restores
        _say(_recover_backup, backup, out)
    for orphan in staged:
        _say(_recover_staged, orphan, out)


def _say(recover: Callable[[Path, Any], str | None], hidden: Path, out: Any) -> None:
    """Recover ``hidden``, and tell it; an error is told too, never raised: recovering
    what an earlier run left never fails the run that recovers it."""
    try:
        told = recover(hidden, out)
    except Exception as error:  # a damaged file (a results.json nested past Python's stack)
        told = f"could not recover {hidden}, left by a killed run: {_in_words(error)}"
    if told:
        print(f"gdlab: {told}", file=sys.stderr)


def _changed(path: Path) -> float:
    """When ``path`` was last renamed or changed (0 when it cannot be read)."""
    try:
        return path.lstat().st_ctime
    except OSError:
        return 0.0


def _target_of(hidden: Path) -> Path:
    """The output that the hidden ``.NAME.tmp-<random>`` (or ``.old-``) was for: ``NAME``."""
    return hidden.parent / hidden.name[1:-_HIDDEN_TAIL]


def _beside(target: Path) -> str:
    """A new name for a killed run's report of ``target``: ``NAME.recovered-<stamp>``."""
    short = target.name.encode("utf-8", "surrogateescape")[:_RECOVERED_NAME_BYTES]
    return f"{short.decode('utf-8', 'ignore')}{_RECOVERED}{_stamp()}"


def _recover_staged(orphan: Path, out: Any) -> str | None:
    """A killed writer's staging directory: its finished runs moved into place, or,
    when it holds none, removed; what to tell (``None``: nothing)."""
    with _io.claimed(orphan) as gone:
        if not gone:  # its writer runs, or another process is recovering it
            return None
        for report in (orphan, *_subdirs(orphan)):  # a tour's reports are its folders
            _take_journal(report)
            _drop_untaken(report)
            _rewrite_csv(report)
        runs = _finished(orphan)
        if runs is None:
            shutil.rmtree(orphan, ignore_errors=True)
            return None
        _tidy(orphan)
        if _is_tour(orphan):
            failed = _finish_tour(orphan)
        else:
            failed = _finish_page(orphan)
            if failed:
                failed = f"its page could not be made ({failed}): results.json holds the runs"
        target = _target_of(orphan)
        if out is None:  # its own stamped name, as Ctrl-C would have left it
            where = _move_new(orphan, target)
        else:  # never in --out's place: the run that recovers it writes there
            where = _move_new(orphan, target.parent / _beside(target), lambda: _beside(target))
    told = f"recovered the unfinished report of a killed run{_counted(runs)} as {where}"
    return f"{told}; {failed}" if failed else told


def _subdirs(directory: Path) -> list[Path]:
    try:
        return sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


#: A race's journal in its report directory (:func:`gdlab.sweep.run_sweep`'s JSON
#: Lines, one line a finished run), removed when the race ends, and its lock file.
_JOURNAL = ".race.jsonl"


def _take_journal(report: Path) -> None:
    """Add to ``report/results.json`` the runs a killed race had finished but not yet
    written there (they wait for an earlier run still running, in another process),
    from its journal ``.race.jsonl``; then remove the journal and its lock file, as
    the race would have on its way out. A journal whose runs cannot be added (no
    results.json of runs, a disk full) is kept."""
    journal = report / _JOURNAL
    if not journal.is_file() or journal.is_symlink():
        return
    where = report / "results.json"
    try:
        document = json.loads(where.read_text(encoding="utf-8"))
        runs = document["runs"]
        extra = _journal_runs(journal, runs)
        if extra:
            document["runs"] = [*runs, *extra]
            text = _io.json_text(document, str(where), indent=1)
            _io.atomic_write(where, lambda fh: fh.write(text.encode()))
    except (OSError, ValueError, TypeError, KeyError):
        return
    for name in (_JOURNAL, _JOURNAL + ".lock"):
        with contextlib.suppress(OSError):
            (report / name).unlink()


def _journal_runs(journal: Path, runs: list[Any]) -> list[dict[str, Any]]:
    """The run records of ``journal`` that finished (``"status": "ok"``) and are not
    among ``runs`` (by id), in the order they finished. A line cut short by the kill,
    and a record that is not a run's (an id that is not a file name, a series that is
    not finite), are left out."""
    taken = {_file_key(str(r.get("id"))) for r in runs if isinstance(r, Mapping)}
    extra = []
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            if entry["status"] != "ok":  # a failed run: Ctrl-C's report keeps it, not this
                continue
            record = entry["result"]
            run_id = _check_id(record)
            _check_finite(record)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
        if _file_key(run_id) not in taken:
            taken.add(_file_key(run_id))
            extra.append(record)
    return extra


#: The folders of a report's parameter and series files (``params/<id>.npz``, …).
_RUN_FILES = ("params", "series")


def _drop_untaken(report: Path) -> None:
    """Remove from a killed run's ``report`` the parameter and series files of runs that
    its ``results.json`` does not list (a worker writes them before the race records its
    run): the recovered report holds its own runs' files only. A report whose
    results.json cannot be read, or whose journal could not be taken, is left as it is."""
    if (report / _JOURNAL).exists():
        return
    try:
        document = json.loads((report / "results.json").read_text(encoding="utf-8"))
        runs = document["runs"]
        named = {
            os.path.normpath(block["file"])
            for run in runs
            for block in (run.get("final_params"), run.get("series"))
            if isinstance(block, Mapping) and isinstance(block.get("file"), str)
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return
    for folder in _RUN_FILES:
        for path in sorted((report / folder).glob("*.npz")):
            if os.path.join(folder, path.name) not in named and not path.is_dir():
                with contextlib.suppress(OSError):
                    path.unlink()
        with contextlib.suppress(OSError):
            (report / folder).rmdir()  # only if empty


def _is_tour(directory: Path) -> bool:
    """Whether ``directory`` holds a tour (its reports in folders, no results.json of its
    own) whose combined page is not drawn yet."""
    if any((directory / name).exists() for name in REPORT_FILES):
        return False
    return any((p / "results.json").is_file() for p in _subdirs(directory))


def _finish_tour(directory: Path) -> str | None:
    """Finish a killed tour's ``directory`` as Ctrl-C would have
    (:func:`gdlab.tour.finish_killed`): its reports' pages and its combined page;
    ``None``, or what could not be drawn, in words."""
    try:
        from gdlab.tour import finish_killed

        failed = finish_killed(directory)
    except Exception as error:  # recovery never fails the run that recovers
        return f"its page could not be made ({_in_words(error)})"
    if not failed:
        return None
    return (
        f"the page of {', '.join(failed)} could not be made (its results.json holds its "
        "runs; the tour's page leaves it out)"
    )


def _rewrite_csv(report: Path) -> None:
    """``report/results.csv`` written again from ``results.json``, in a killed run's
    report without a page (it may have been killed between the two, or its journal's
    runs just added); a report with a page, or without a readable ``results.json`` of
    runs, is left as it is."""
    document = _unfinished(report)
    if document is None:
        return
    with contextlib.suppress(Exception):  # a run that is not a record: the csv as it was
        table = csv_text(document["runs"])
        _io.atomic_write(report / "results.csv", lambda fh: fh.write(table.encode()))


def _finish_page(report: Path) -> str | None:
    """Finish the killed run's report in ``report`` as Ctrl-C would have: its figures
    and ``index.html`` drawn from ``results.json`` (its results.csv is written again
    first: :func:`_rewrite_csv`), unless its command asked for none
    (``--no-figures``; ``--no-js`` draws the page without charts). A report with a page
    already, or without a readable ``results.json`` of runs, is left as it is.

    Returns:
        ``None``, or why the page could not be made (in a few words); the
        figures it drew are removed then, and results.json is kept.
    """
    document = _unfinished(report)
    if document is None:
        return None
    figures, charts = _asked(document.get("command"))
    if not figures:
        return None
    drawn = report / "figures"
    fresh = not (drawn.exists() or drawn.is_symlink())
    try:
        from gdlab.report import write

        write(document, report, charts=charts)
    except Exception as error:  # recovery never fails the run that recovers
        if fresh:
            shutil.rmtree(drawn, ignore_errors=True)
        return _in_words(error)
    return None


def _unfinished(report: Path) -> dict[str, Any] | None:
    """``report/results.json`` read, when it is a document of runs and the report has
    no page yet; else ``None``."""
    if (report / "index.html").exists():
        return None
    try:
        document = json.loads((report / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        return None
    return document


#: The options that leave out a race's figures and its page's charts (argparse takes
#: any unambiguous start of them: ``--no-fig``).
_NO_FIGURES, _NO_CHARTS = "--no-figures", "--no-js"


def _asked(command: Any) -> tuple[bool, bool]:
    """``(figures, charts)``: whether the command line ``command`` that wrote a report
    asked for its figures (no ``--no-figures``) and its page's charts (no ``--no-js``)."""
    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError:  # not a line gdlab wrote: the defaults
        words = []
    figures = charts = True
    for word in words[1:]:
        if word == "--":
            break
        if len(word) > len("--no-"):
            figures = figures and not _NO_FIGURES.startswith(word)
            charts = charts and not _NO_CHARTS.startswith(word)
    return figures, charts


def _in_words(error: BaseException) -> str:
    """``error`` on one line, its kind first, cut to fit a line of stderr."""
    return f"{type(error).__name__}: {cut(' '.join(str(error).split()) or 'no message', 160)}"


def _recover_backup(backup: Path, out: Any) -> str | None:
    """An earlier report that a killed :func:`gdlab._io.replace_dir` had moved aside:
    put back when its place is empty, removed when the swap had finished, else kept
    beside it; what to tell."""
    target = _target_of(backup)
    with _io.claimed(backup) as gone:
        if not gone:
            return None
        if not holds_report(backup) or _swapped(backup, target):
            shutil.rmtree(backup, ignore_errors=True)  # nothing, or replaced as asked
            return None
        _tidy(backup)  # its lock file too: ``target`` keeps the lock held now
        if _is_empty(target):
            _io.replace_dir(backup, target)
            return (
                f"put back the earlier report in {target}: a run killed while replacing "
                "it had moved it aside"
            )
        where = _move_new(backup, target.parent / _beside(target), lambda: _beside(target))
    return f"kept an earlier report of {target} that a killed run had moved aside as {where}"


def _swapped(backup: Path, target: Path) -> bool:
    """Whether ``target`` is the report a killed swap moved in: it holds the lock file
    that the swap's writer held (hard-linked into it before the swap)."""
    try:
        return os.path.samefile(backup / _LOCK_FILE, target / _LOCK_FILE)
    except OSError:
        return False


def _finished(directory: Path) -> int | None:
    """The finished runs in a killed run's ``directory`` (a report, or a tour's reports
    in its subdirectories); ``None`` when it holds nothing to keep."""
    counts = [_runs_in(directory)]
    with contextlib.suppress(OSError):
        counts += [_runs_in(p) for p in directory.iterdir() if p.is_dir() and not p.is_symlink()]
    kept = [n for n in counts if n is not None]
    return sum(kept) if kept else None


def _runs_in(directory: Path) -> int | None:
    """The runs of ``directory/results.json``: ``None`` when there is no report to keep
    (no results.json and no page, or results.json of no runs and no series), 0 for one
    without runs (a plot's series, a page, what cannot be read: kept, never thrown away)."""
    page = (directory / "index.html").is_file()
    try:
        document = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return 0 if page else None
    except (OSError, ValueError):
        return 0
    if not isinstance(document, dict):
        return 0
    runs = document.get("runs")
    if isinstance(runs, list) and runs:
        return len(runs)
    if runs == [] and document.get("series") is None and not page:
        return None
    return 0


def _counted(runs: int) -> str:
    return f" ({runs} finished run{'' if runs == 1 else 's'})" if runs else ""


def _tidy(directory: Path) -> None:
    """Remove what a killed writer left half-made in ``directory``: its temporary files
    (:func:`gdlab._io.atomic_write`'s) and its lock file."""
    for folder, _, files in os.walk(directory):
        for name in files:
            if name == _LOCK_FILE or _TEMP_FILE.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
