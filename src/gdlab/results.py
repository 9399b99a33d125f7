"""Writing results: ``results.json``, ``results.csv`` and parameter files.

:class:`ResultsWriter` keeps the document of an experiment and rewrites both
files atomically after every run it is given, with ``"status": "interrupted"``
until :meth:`ResultsWriter.finish`: whatever stops a race, the files on disk
describe every run that finished. The schema is in ``docs/results.md``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import os
import platform
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from gdlab import _io
from gdlab._io import plain

__all__ = [
    "CSV_COLUMNS",
    "SCHEMA_ID",
    "ResultsWriter",
    "environment",
    "output",
    "plain",
    "store_params",
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


_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


#: Parameters with at most this many numbers go into results.json inline.
INLINE_PARAMS = 1000


def store_params(record: Mapping[str, Any], out_dir: str | os.PathLike) -> dict[str, Any]:
    """``record`` with its ``final_params`` arrays stored: inline (as lists) when they
    hold at most :data:`INLINE_PARAMS` numbers, else in ``out_dir/params/<id>.npz``
    (``{"file": "params/<id>.npz"}``). Stored params are left as they are."""
    record = dict(record)
    if not isinstance(record.get("id"), str) or not _SAFE.match(record["id"]):
        raise ValueError(f"run id must match {_SAFE.pattern}; got {record.get('id')!r}")
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


class ResultsWriter:
    """The results of one experiment, written after every run.

    Args:
        out_dir: the output directory (made if missing).
        header: the top-level fields of ``results.json`` other than
            ``schema``, ``status``, ``created``, ``versions``, ``machine`` and
            ``runs`` (which the writer fills in): ``experiment``, ``title``,
            ``description``, ``command``, ``config``, ``problem`` and
            optionally ``series``.
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
            "changes": list(header.get("changes", [])),
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
        self.write()

    @property
    def runs(self) -> list[dict[str, Any]]:
        return self.document["runs"]

    def add(self, record: Mapping[str, Any]) -> None:
        """Add a run record (from :func:`gdlab.race.run_record`) and rewrite the files."""
        self.runs.append(plain(store_params(record, self.out_dir)))
        self.write()

    def finish(self, status: str = "complete") -> None:
        """Mark the experiment ``status`` (``"complete"`` or ``"interrupted"``) and rewrite."""
        self.document["status"] = status
        self.write()

    def write(self) -> None:
        """Rewrite ``results.json`` and ``results.csv`` atomically."""
        text = json.dumps(self.document, indent=1, allow_nan=False) + "\n"
        _io.atomic_write(self.out_dir / "results.json", lambda fh: fh.write(text.encode()))
        _io.atomic_write(
            self.out_dir / "results.csv", lambda fh: fh.write(csv_text(self.runs).encode())
        )


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
        metrics = run.get("metrics", {})
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


def _point_latest(root: Path, target: Path) -> None:
    """``root/latest`` → ``target`` (a relative symlink, replaced atomically)."""
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(target.name, tmp)
        os.replace(tmp, link)
    except OSError:  # no symlinks here: a text file names the newest report
        tmp.unlink(missing_ok=True)
        _io.atomic_write(root / "LATEST", lambda fh: fh.write(f"{target.name}\n".encode()))


def _is_empty(path: Path) -> bool:
    return not path.exists() or not any(p.name != ".gdlab.lock" for p in path.iterdir())


@contextlib.contextmanager
def output(
    root: str | os.PathLike, *, out: str | os.PathLike | None = None, force: bool = False
) -> Iterator[Path]:
    """Where a report is written: yields a fresh staging directory, moved into place at the end.

    * Without ``out``: a new directory ``root/<UTC time>-<id>`` for every run,
      and ``root/latest`` pointing to the newest. Nothing earlier is touched.
    * With ``out``: that directory, which must not hold anything yet unless
      ``force`` is given; then the old report is replaced only once the new
      one is complete (a failed run leaves it byte-identical). ``out`` is
      locked for the run: a second writer is refused, naming the holder.

    When the block raises (Ctrl-C included), what was written (the finished
    runs) is moved into place if the target held nothing before, and thrown
    away otherwise; the exception propagates.

    Raises:
        gdlab._io.OutputError: ``out`` cannot be written or holds a report (no ``force``).
        gdlab._io.LockedError: another process is writing ``out``.
    """
    if out is None:
        target = Path(root) / _stamp()
        _io.check_output_dir(target)
        lock = contextlib.nullcontext()
    else:
        target = _io.check_output_dir(out)
        if not _is_empty(target) and not force:
            raise _io.OutputError(
                f"{target} already holds a report; add --force to replace it, or leave out "
                "--out to write a new directory"
            )
        lock = _io.exclusive(target, what="--out", directory=True)
    with lock:
        existed = not _is_empty(target)
        staged = _io.staging_dir(target)
        os.chmod(staged, _DIR_MODE)  # mkdtemp makes it 0700; a report is to be read
        try:
            yield staged
        except BaseException:
            if existed:
                shutil.rmtree(staged, ignore_errors=True)
            else:
                _io.replace_dir(staged, target)
            raise
        _io.replace_dir(staged, target)
    if out is None:
        _point_latest(Path(root), target)
