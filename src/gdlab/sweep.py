"""Sweeps: independent tasks on local processes or on Dask, results streamed to disk.

A sweep is a list of :class:`Task` objects (say optimizer × learning rate ×
fold × seed) and one module-level function. :func:`run_sweep` calls
``fn(**task.kwargs, rng=task_rng(base_seed, task.id))`` for every task and
appends one JSON line per finished task to the results file, so an
interrupted or crashed sweep run again with the same arguments does only
what is left.

Where the tasks run:

==========================  ================================================
``workers=1`` (default)     one after another in this process
``workers=N``               N local processes: on Linux forked from a warm
                            server that has gdlab and numba loaded
                            (:mod:`gdlab._pool`), elsewhere ``spawn``ed
``dask_local=N``            a Dask ``LocalCluster`` of N one-thread processes,
                            started and closed by the sweep (what its nannies
                            set in this process's environment is put back)
``scheduler="tcp://H:P"``   an existing Dask cluster (gdlab and ``fn``'s
                            module must be importable on its workers)
==========================  ================================================

Dask is optional: ``pip install "gdlab[dask]"``. Whatever the executor, a
task runs with one BLAS thread and gets the same generator, so the results
are bit-identical however the sweep is run.

The results file (JSON Lines), one record per task::

    {"id": "adam/lr=0.01/seed=0", "key": "3f0c9a2be71d4c55", "status": "ok",
     "result": {...}, "error": null, "seconds": 0.41, "worker": "host:12345"}

``key`` is :func:`task_key`: a hash of the task's kwargs and the sweep's
``base_seed``. A sweep run again on the same file reuses a record only when
its key matches; one made with other arguments is refused (``ValueError``
naming the task and line), never mixed into the new results (a failed one
is simply run again with ``retry_failed=True``).

``status`` is ``"ok"`` or ``"failed"``; a failed task (``fn`` raised, or
returned something that is not plain JSON data) has ``result: null`` and
``error: {"type", "message", "traceback"}``, and the sweep goes on. Each line
is flushed and fsynced as its task finishes. On start the file is read back:
tasks with a record are skipped (failed ones are run again with
``retry_failed=True``), a last line cut short by a crash is dropped.

One writer per file: the sweep holds :func:`gdlab._io.exclusive` on the results
file (a ``flock`` on ``FILE.lock`` beside it, which records the holder's pid,
host, start time and command line) from before it reads the file until its
last record is written. A second sweep on the same file is refused at once
with :class:`gdlab._io.LockedError`, naming the holder, instead of running
every task again and interleaving its lines. The kernel drops the lock when
the holder exits, even by ``kill -9``, so a later run resumes normally.

Hostile tasks. ``timeout=`` seconds bounds each task, counted from when it
starts on its worker (after the worker's own start-up) to when it returns: one
still running at its deadline is stopped, one that returns after it is timed
out all the same (its record's ``seconds`` is at least the timeout); either is
recorded as failed with ``error.type`` ``"TimeoutError"`` and message
``"timed out after N s"``, and the sweep goes on. The rule is the same on
every executor, so the same tasks time out.

* Process pool: the sweep runs its own workers (new processes: forked from
  :mod:`gdlab._pool`'s warm server on Linux, spawned elsewhere), one task at a
  time each, over pipes. A timed-out task's worker is killed (SIGKILL) and replaced.
  A task that kills its worker (``os._exit``, a segfault, the OOM killer) is
  recorded as failed with ``error.type`` ``"RuntimeError"`` and message
  ``"worker died (exit code 3)"`` (or ``"worker died (killed by SIGKILL)"``, or
  ``"worker died (killed with its fork server, which ended)"``);
  the worker is replaced and the other tasks, the one running beside it
  included, finish with their usual records. A worker that dies before it
  could start (``fn``'s module cannot be imported, a script without
  ``if __name__ == "__main__":``) stops the sweep with a ``RuntimeError``.
  A worker that cannot be started from the fork server (it died) is started
  again once (multiprocessing starts a new server), then the sweep spawns its
  workers.
* Inline (``workers=1``): Python cannot stop a function running in its own
  thread, so with a ``timeout`` the tasks run in one worker process instead
  (``fn`` must then be picklable); without one they run in this process.
* Dask: with a ``timeout`` no more tasks are in flight than the cluster has
  threads, and a task's clock starts when its worker says it starts: a fresh
  worker first loads what a pool's worker finds ready (:func:`gdlab._warm.warm`),
  so that its start-up counts against no task. A task whose worker never says
  so (its word lost, the worker stuck, or busy with another client's tasks)
  has its clock start anyway, 62 s after it was submitted (or lost with its
  worker): the worker's warm-up bound (:data:`gdlab._warm.SECONDS`, 2 s)
  plus a minute for its imports, so that every task is bounded. A task past its
  deadline has its future cancelled and is recorded as timed out; Dask cannot
  stop a running task, so the worker running it is restarted (this needs a
  nanny, as ``LocalCluster`` and ``dask worker`` have; without one the
  worker's thread stays busy until the task returns). The sweep does not wait
  for the restart: the other tasks' records and deadlines go on meanwhile.
  A task that kills its worker is retried by Dask and, after
  ``distributed.scheduler.allowed-failures`` deaths, recorded as failed with
  ``KilledWorker`` ("... all those workers died while running it"); a task
  whose worker was lost (it died, or a timeout restarted it) and that Dask runs
  again has its clock start again when it starts again, so a worker's restart
  counts against no task. A task's future is dropped as soon as its record is
  written: Dask keeps no result of a finished task, and a worker lost later
  makes it compute none again (a task that finished just before its worker
  was lost, its result not yet fetched, is the exception: Dask computes it
  again). A ``dask_local`` cluster sends each worker no more tasks than it has
  threads, so that a task waiting beside one that kills the worker is not
  counted among its victims.

Whatever happens to other tasks, a task's generator comes from
``task_rng(base_seed, task.id)`` alone, so the records of the healthy tasks are
the same as in an undisturbed run.

Orphans: pool workers end when the sweep's process dies, even by ``kill -9``
(on Linux the kernel kills them at once, ``PR_SET_PDEATHSIG``; elsewhere a
thread in each worker sees its parent gone within half a second).

Ctrl-C: only the sweep's process acts on it (KeyboardInterrupt, raised once
every finished task is written). The pool's workers, its fork server and a
``dask_local`` cluster's processes never see it, and are stopped without a
word. A Ctrl-C while workers start is held back until they have started (the
first pool of a process waits about 2 s for the fork server), never lost
(:func:`interrupts_ignored`).

>>> import tempfile, os
>>> tasks = [Task(f"demo/seed={s}", {"draws": 2}) for s in range(3)]
>>> with tempfile.TemporaryDirectory() as tmp:
...     records = run_sweep(demo_task, tasks, os.path.join(tmp, "sweep.jsonl"), progress=False)
>>> [(r["id"], r["status"], len(r["result"]["draws"])) for r in records]
[('demo/seed=0', 'ok', 2), ('demo/seed=1', 'ok', 2), ('demo/seed=2', 'ok', 2)]
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from gdlab import _io, _pool, _warm
from gdlab._checks import ConfigError, check_bool, check_int, check_real, cut, describe, fail
from gdlab._registry import PluginWarning

__all__ = [
    "STATUSES",
    "SchedulerLost",
    "Task",
    "check_where",
    "demo_task",
    "import_modules",
    "interrupts_ignored",
    "registering_modules",
    "run_sweep",
    "task_key",
    "task_rng",
]

#: A record's ``status``: the task returned (``"ok"``) or raised (``"failed"``).
STATUSES = ("ok", "failed")

_ID = re.compile(r"[\w.=/+-]+")  # letters and digits of any script (a run label's slug)
_DASK_HINT = 'pip install "gdlab[dask]" (or pip install "dask[distributed]")'

#: Dask settings for the LocalCluster a sweep starts (and nobody watches: it has
#: no dashboard). The workers' statistical profiler samples the running task's
#: stack every 10 ms, and the event-loop health check and system monitor wake
#: every 20 and 500 ms, each time taking the GIL from the task: on two busy cores
#: that made the tasks several per cent slower than in a process pool. A worker is
#: sent no more tasks than it has threads (Dask's default sends 10 % more, rounded
#: up: a second task on a one-thread worker), so that a task that kills its worker
#: takes no task that was only waiting there into Dask's count of its deaths (a
#: healthy task recorded as ``KilledWorker``).
_LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}

#: Dask settings held while a sweep's LocalCluster runs (read as things happen, not
#: when it starts). The cluster closes a worker's nanny for good when no worker of
#: its name is there 15 s after one was lost: a task that keeps killing its worker,
#: or a worker that a timeout restarts, took the cluster's workers away one by one,
#: and the sweep waited for workers that never came. A nanny restarts its worker
#: itself, and closes when it cannot.
_LOCAL_CLUSTER_HELD = {"distributed.deploy.lost-worker-timeout": "1 day"}

#: The loggers whose lines :func:`_dask_muted` drops (with their children).
_DASK_LOGGERS = ("distributed", "tornado")


@dataclass(frozen=True)
class Task:
    """One unit of a sweep.

    Args:
        id: unique within the sweep and the same from one run to the next, e.g.
            ``"adam/lr=0.001/fold=2/seed=0"``; letters and digits (of any
            script: ``"모멘텀-seed0"``) and ``. _ = / + -``.
            It names the task's record and seeds its generator (:func:`task_rng`).
        kwargs: keyword arguments of the sweep's function, plain JSON data
            (``rng`` is added by the sweep); default none. Copied into a new
            ``dict``. Tasks hash by id.
    """

    id: str
    kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            fail("Task id", "a str", self.id, kind=TypeError)
        if not _ID.fullmatch(self.id):
            what = "letters, digits (of any script) and . _ = / + - (at least one)"
            fail("Task id", what, self.id)
        if not isinstance(self.kwargs, Mapping):
            fail(f"Task {self.id!r} kwargs", "a mapping", self.kwargs, kind=TypeError)
        for name in self.kwargs:
            if not isinstance(name, str):  # fn(**kwargs) takes names only
                fail(f"the keys of Task {self.id!r} kwargs", "strings", name, kind=TypeError)
        object.__setattr__(self, "kwargs", dict(self.kwargs))


def task_rng(base_seed: int, task_id: str) -> np.random.Generator:
    """The generator of one task: the same whatever the executor, worker or order.

    ``numpy.random.default_rng(SeedSequence([base_seed, h]))`` where ``h`` is
    the first 128 bits of the SHA-256 of the task id, so tasks get independent
    streams and a task keeps its stream when others are added or removed.

    >>> a, b = task_rng(0, "adam/seed=0"), task_rng(0, "adam/seed=0")
    >>> float(a.random()) == float(b.random())
    True
    >>> float(task_rng(0, "adam/seed=0").random()) == float(task_rng(1, "adam/seed=0").random())
    False
    """
    base_seed = check_int("base_seed", base_seed, low=0)
    if not isinstance(task_id, str):
        fail("task_id", "a str", task_id, kind=TypeError)
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    key = int.from_bytes(digest[:16], "big")
    return np.random.default_rng(np.random.SeedSequence([base_seed, key]))


def demo_task(
    *,
    rng: np.random.Generator,
    draws: int = 3,
    steps: int = 0,
    sleep: float = 0.0,
    fail: str | None = None,
) -> dict[str, Any]:
    """A small task function for examples and tests.

    Draws ``draws`` standard normal numbers; with ``steps > 0`` it also fits a
    linear regression (64 samples, 3 features drawn from ``rng``) with SGD on
    random batches of 16 for that many steps; sleeps ``sleep`` seconds; raises
    ``ValueError(fail)`` when ``fail`` is given.

    Returns:
        ``{"draws": [...], "mean": float}``, plus ``"loss"`` and ``"w"`` with ``steps``.
    """
    values = rng.standard_normal(draws)
    result: dict[str, Any] = {"draws": values, "mean": values.mean() if draws else 0.0}
    if steps:
        from gdlab.data import Dataset  # imported here: the sweep itself needs none of it
        from gdlab.optim import SGD
        from gdlab.problems import LinearRegression
        from gdlab.train import fit

        X = rng.standard_normal((64, 3))
        y = X @ rng.standard_normal(3) + 0.1 * rng.standard_normal(64)
        data = Dataset(X, y, "demo", ("x1", "x2", "x3"), ("y",), "regression")
        problem = LinearRegression(data, init="normal")
        history = fit(
            problem,
            SGD(0.05),
            steps=steps,
            batch_size=16,
            batching="random",
            rng=rng,
            progress=False,
        )
        result.update(loss=history.final_loss, w=history.params["w"])
    if sleep:
        time.sleep(sleep)
    if fail is not None:
        raise ValueError(fail)
    return result


# --------------------------------------------------------------------------- one task


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (NumPy scalars and arrays converted), or raise."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            fail(where, "finite (JSON has no NaN or infinity; return None or a string)", value)
        return float(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), where)
    if isinstance(value, np.generic):
        return _plain(value.item(), where)
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                fail(f"the keys of {where}", "strings", key, kind=TypeError)
            plain[str(key)] = _plain(item, f"{where}[{key!r}]")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    fail(
        where,
        "plain JSON data (None, bool, int, float, str, list, dict with str keys, "
        "NumPy scalars or arrays)",
        value,
        kind=TypeError,
    )


def _qualified(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _message(error: BaseException) -> str:
    """``str(error)``, or a stand-in when the exception's own ``__str__`` raises."""
    try:
        return str(error)
    except Exception as inner:
        return f"<str() of the exception failed: {_qualified(type(inner))}: {inner!r}>"


def _error(error: BaseException, text: str | None = None) -> dict[str, str]:
    return {
        "type": _qualified(type(error)),
        "message": _message(error),
        "traceback": text if text is not None else "".join(traceback.format_exception(error)),
    }


def _execute(fn: Callable[..., Any], task_id: str, kwargs: dict, base_seed: int) -> dict:
    """Run one task (in whatever process) and return its record."""
    from gdlab._blas import blas_threads_held

    rng = task_rng(base_seed, task_id)
    result, error = None, None
    start = time.perf_counter()
    try:
        with blas_threads_held(1):  # the same bits on any machine (and threads of a worker)
            returned = fn(**kwargs, rng=rng)
        seconds = time.perf_counter() - start
        if not isinstance(returned, Mapping):
            fail("fn's return value", "a dict of plain JSON data", returned, kind=TypeError)
        result = _plain(returned, "fn's result")
        json.dumps(result, allow_nan=False)  # the check the writer will make
    except (Exception, SystemExit) as exc:  # sys.exit() in a task fails the task only
        seconds = time.perf_counter() - start
        result, error = None, _error(exc, traceback.format_exc())
    return {
        "id": task_id,
        "status": "failed" if error else "ok",
        "result": result,
        "error": error,
        "seconds": seconds,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


#: Whether this Dask worker process has made ready what tasks run (:func:`_execute_on_dask`).
_WARMED = False
#: Held while a Dask worker warms up: its other threads' tasks wait, then warm up no more.
_WARM_LOCK = threading.Lock()


def _execute_on_dask(
    fn: Callable[..., Any], task_id: str, kwargs: dict, base_seed: int, topic: str | None = None
) -> dict:
    """:func:`_execute` on a Dask worker: the record names the worker's address.

    ``topic`` (a sweep with a timeout): the worker first makes ready what a pool's
    worker finds ready (:func:`gdlab._warm.warm`, once per worker process), then
    tells the sweep, in an event of ``topic``, that the task starts, and where: its
    clock starts then, as in the pool, not while a fresh worker loads and compiles
    (and starts again when Dask runs the task again after its worker was lost)."""
    from distributed import get_worker

    global _WARMED
    worker = get_worker()
    if topic is not None:
        with _WARM_LOCK:  # a worker of several threads: once, not once per thread
            if not _WARMED:
                from gdlab._warm import warm

                with contextlib.suppress(Exception):  # what fails is met again by the task
                    warm()
                _WARMED = True
        worker.log_event(topic, [task_id, worker.address])
    record = _execute(fn, task_id, kwargs, base_seed)
    record["worker"] = worker.address
    return record


#: Whether a thread can hold a signal back (POSIX): else SIGINT is ignored instead.
_CAN_HOLD = hasattr(signal, "pthread_sigmask")


@contextlib.contextmanager
def interrupts_ignored() -> Iterator[None]:
    """Hold Ctrl-C back while worker processes start, so that they never see it (the
    sweep's workers, its Dask cluster's, ``gdlab play``'s); a Ctrl-C that came
    meanwhile is raised here afterwards, as if it came then.

    In this thread SIGINT is blocked (``pthread_sigmask``), and this process's
    handler only notes it: a process started here (or by a thread started here)
    inherits the blocked signal across ``exec``, so a Ctrl-C while it is still
    importing gdlab waits in it until it ignores SIGINT, which drops it, and
    unblocks it (:func:`_ignore_interrupts`, :func:`gdlab._warm.prepare_server`):
    no traceback from the child. (A worker forked from the fork server gets the
    server's mask and Python's handler instead, the handler multiprocessing hands
    to any process it forks, until its loop ignores SIGINT a few milliseconds
    later.) This process keeps the signal (a start through
    the fork server waits seconds for it to warm up the first time) and, once
    out, handles it with its own handler: KeyboardInterrupt. SIGHUP (a closed
    terminal) is blocked in this thread meanwhile, and in what starts here for good
    (multiprocessing's resource tracker included, which ignores only SIGINT and
    SIGTERM): this process handles it, in another thread or once out.

    Where threads cannot block a signal (Windows), SIGINT is ignored meanwhile.
    One ignored already (a script's ``cmd &``) stays ignored, in this process and in
    what starts here: a caught signal is reset to the default across ``exec``, and the
    new interpreter would take Python's handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not _CAN_HOLD:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    arrived: list[int] = []
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:  # an ignored one has nothing to hold back
        signal.signal(signal.SIGINT, lambda signum, frame: arrived.append(signum))
    mask = None
    try:
        # SIGHUP is blocked too, and stays so in what starts here: the terminal's hang-up
        # (or timeout -s HUP) reaches the whole process group, and only this process
        # handles it (in another of its threads meanwhile, or once out). The tracker that
        # multiprocessing starts with its first process ignores SIGINT and SIGTERM but
        # not SIGHUP: killed by it, it was started again by the next process that used
        # it, which printed tracebacks for what the first one had tracked, some after
        # the command had ended. It unblocks SIGINT and SIGTERM in this thread once it
        # is up: start it before SIGINT's block.
        from multiprocessing import resource_tracker

        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a held Ctrl-C is noted now
        signal.signal(signal.SIGINT, previous)  # (Python runs the pending note first)
        if arrived:
            signal.raise_signal(signal.SIGINT)  # this process's own handler: KeyboardInterrupt


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is the parent's to handle (it stops the workers). A Ctrl-C
    held back while the worker started (:func:`interrupts_ignored`) is dropped."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _CAN_HOLD:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


# --------------------------------------------------------------------------- the file


def _refuse(name: str, allowed: str, shown: str) -> None:
    """``fail``'s message shape, with ``shown`` written as it is (not as a repr)."""
    raise ValueError(f"{name} must be {allowed}; got {shown}")


def task_key(task: Task, base_seed: int) -> str:
    """What a task's record is checked against on resume: 16 hex digits of the
    SHA-256 of its kwargs and the sweep's ``base_seed`` (canonical JSON)."""
    text = json.dumps(
        {"kwargs": task.kwargs, "base_seed": base_seed}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(
    path: Path, keys: Mapping[str, str], retry_failed: bool
) -> tuple[list[tuple[bytes, dict]], bool]:
    """The records in ``path`` as ``(line, record)`` pairs, and whether its end was cut.

    ``keys`` maps each task id to its :func:`task_key`: a record of a task made
    with other kwargs or another base seed is refused, not reused (unless it
    failed and ``retry_failed`` runs it again anyway).
    """
    if not path.exists():
        return [], False
    if not path.is_file():
        fail("out", "a file (the sweep's results)", str(path))
    lines = path.read_bytes().split(b"\n")
    cut = lines.pop() != b""  # a last line without its newline: a write that did not finish
    records: list[tuple[bytes, dict]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}, line {number} must be a sweep record; got {error}") from None
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("id"), str)
            or record.get("status") not in STATUSES
        ):
            fail(f"{path}, line {number}", "a sweep record (id, status, ...)", line.decode())
        task_id = record["id"]
        if task_id not in keys:
            _refuse(
                f"every record in {path}",
                "of one of the tasks (is it another sweep's file?)",
                f"task {task_id!r} on line {number}",
            )
        stale = record.get("key", keys[task_id]) != keys[task_id]  # files before keys: trusted
        if stale and not (retry_failed and record["status"] == "failed"):
            _refuse(
                f"the record of task {task_id!r} in {path}",
                "from the same kwargs and base_seed as the task now "
                "(a results file holds one sweep: give this one a new file)",
                f"one made with other arguments, on line {number}",
            )
        if task_id in seen:
            _refuse(
                f"the records in {path}",
                "one per task",
                f"task {task_id!r} on lines {seen[task_id]} and {number}",
            )
        seen[task_id] = number
        records.append((line, record))
    for line, record in records:  # what the callers read of a finished task
        if record["status"] == "ok" and not isinstance(record.get("result"), dict):
            where = f"{path}, line {seen[record['id']]}"
            fail(where, "a finished task's record with its result (an object)", line.decode())
    return records, cut


class _Sink:
    """Appends records to the results file (flushed and fsynced) and counts them."""

    def __init__(
        self,
        path: Path,
        records: dict[str, dict],
        keys: Mapping[str, str],
        total: int,
        progress: bool,
    ) -> None:
        self.path = path
        self.keys = keys
        self.records = records
        self.file = open(path, "ab")  # noqa: SIM115 - closed in close()
        self.failed = sum(r["status"] == "failed" for r in records.values())
        self.bar: Any = None
        self.busy = False
        self.on_record: Callable[[dict], None] | None = None
        self.timeout: float | None = None  # a record of a task that ran longer: timed out
        if progress and sys.stderr.isatty():
            from tqdm.auto import tqdm  # imported only when a bar is shown

            self.bar = tqdm(
                total=total, initial=len(records), desc="sweep", unit="task", dynamic_ncols=True
            )

    def ready(self, task_id: str) -> bool:
        """Whether a record of ``task_id`` may be written now (while stopping, too)."""
        return not self.busy and task_id not in self.records

    def write(self, record: dict) -> None:
        record = _within(record, self.timeout)
        record = {"id": record["id"], "key": self.keys[record["id"]], **record}
        line = json.dumps(record, allow_nan=False) + "\n"
        parsed = json.loads(line)  # what a resumed sweep reads back
        # busy: a write cut by Ctrl-C leaves at most a cut last line (dropped on
        # resume), and nothing is appended after it.
        self.busy = True
        try:
            self.file.write(line.encode())
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as error:  # a full disk: say which file
            raise type(error)(error.errno, error.strerror, str(self.path)) from None
        self.records[record["id"]] = parsed
        self.busy = False
        if self.on_record is not None:
            self.on_record(parsed)
        self.failed += record["status"] == "failed"
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(failed=self.failed, refresh=False)

    def close(self) -> None:
        self.file.close()
        if self.bar is not None:
            self.bar.close()


def _timed_out_message(timeout: float) -> str:
    return f"timed out after {timeout:g} s"


def _timed_out_error(timeout: float) -> dict[str, str]:
    return {"type": "TimeoutError", "message": _timed_out_message(timeout), "traceback": ""}


def _within(record: dict, timeout: float | None) -> dict:
    """``record``, or, where its task ran ``timeout`` seconds or more (its own clock, from
    when it started on its worker), the record of a timed-out task: a task that returned
    (or raised) just after its deadline, before it could be stopped, times out as it
    would have on any other executor."""
    seconds = record.get("seconds")
    if timeout is None or seconds is None or seconds < timeout:
        return record
    if record["error"] is not None and record["error"]["type"] == "TimeoutError":
        return record  # stopped at its deadline
    return {**record, "status": "failed", "result": None, "error": _timed_out_error(timeout)}


# --------------------------------------------------------------------------- executors


def _run_inline(fn, pending: list[Task], base_seed: int, sink: _Sink) -> None:
    for task in pending:
        sink.write(_execute(fn, task.id, dict(task.kwargs), base_seed))


# Parent-death signal of Linux's prctl(2): the kernel sends it to this process
# when the thread that started it ends (with its process, in a sweep).
_PR_SET_PDEATHSIG = 1
#: How often a worker checks that its parent is still there (the portable way).
_PARENT_POLL_SECONDS = 0.5
#: How long a worker's death that may be its fork server's waits for the server to be
#: seen gone (a killed server's other threads end after its main one).
_SERVER_SECONDS = 1.0
#: How long the end of a sweep waits for an idle worker to exit before killing it.
_JOIN_SECONDS = 5.0
#: How often a Dask sweep with a timeout looks for finished tasks.
_DASK_POLL_SECONDS = 0.02
#: The longest one wait of the pool for its workers (a longer one is made of several).
_MAX_WAIT_SECONDS = 3600.0
#: How long after its submission (or its worker's restart) a Dask task's clock starts
#: if its worker never says that it started (the event lost, the worker stuck or busy
#: with another client's tasks): the worker's warm-up bound plus a generous minute for
#: its imports, so that every task is bounded. A task that says so starts its clock then.
_START_SECONDS = _warm.SECONDS + 60.0


def _watch_parent(main: int) -> None:
    """End this process when the sweep's process ``main`` ends, even by ``kill -9``.

    This worker's parent is ``main`` (spawned) or the fork server (see
    :mod:`gdlab._pool`), which ends with ``main``. On Linux the kernel sends
    SIGKILL at once when the parent ends (``PR_SET_PDEATHSIG``); everywhere a
    daemon thread checks every half second that the parent is the same and
    ``main`` still runs, and leaves with ``os._exit`` otherwise.
    """
    parent = _pool.expected_parent(main)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # no libc.prctl: the thread still watches
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    def gone() -> bool:
        return os.getppid() != parent or not _io.alive(main)

    def watch() -> None:
        while not gone():
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    if gone():  # the parent ended before the kernel was told to signal us
        os._exit(1)
    threading.Thread(target=watch, name="gdlab-parent-watch", daemon=True).start()


def _serve(conn: Any, main: int, environment: dict, streams: dict) -> None:
    """A pool worker: run one task at a time, as the parent sends them, until it hangs up.

    ``main`` is the sweep's process; ``environment`` and ``streams`` are its
    environment and standard output and error (:func:`gdlab._pool.worker_setup`).

    Messages to the parent: ``("ready", None)`` once started, then for each task
    ``("started", None)`` and ``("done", record)``, or ``("unloadable", error)``
    when the task (``fn``) cannot be unpickled here.
    """
    _ignore_interrupts()
    warnings.simplefilter("ignore", PluginWarning)  # the sweep's process told it
    _pool.worker_setup(environment, streams)
    _watch_parent(main)
    _reply(conn, "ready", None)
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):  # the parent hung up: the sweep is over
            _leave()
        try:
            fn, task_id, kwargs, base_seed = pickle.loads(message)
        except Exception as error:
            _reply(conn, "unloadable", _error(error))
            continue
        _reply(conn, "started", None)  # the task's clock starts now, not while we booted
        _reply(conn, "done", _execute(fn, task_id, kwargs, base_seed))


def _reply(conn: Any, kind: str, payload: Any) -> None:
    """Send a message to the parent; if it hung up (the sweep was stopped: Ctrl-C, an
    error), leave quietly: the parent wants nothing more from this worker."""
    try:
        conn.send((kind, payload))
    except OSError:  # BrokenPipeError, ConnectionResetError: nobody is listening
        _leave()


def _leave() -> NoReturn:
    """End a worker whose sweep is over, at once: every record went through the pipe
    and every file it wrote is closed, so the interpreter's teardown (freeing numba's
    and BLAS's modules: 0.3–0.6 s, which the sweep's end would wait for) has nothing
    to keep. Its output is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


@dataclass
class _Worker:
    """A pool process, its end of the pipe, and the task it runs (if any)."""

    process: Any
    conn: Any
    task: Task | None = None
    sent: float = 0.0  # when the task was sent
    started: float | None = None  # when the worker began it (it may still be booting)
    ready: bool = False
    server: int | None = None  # the fork server it was forked from (None: spawned)

    @classmethod
    def start(cls, context: Any) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, os.getpid(), *_pool.worker_arguments()),
            name="gdlab-sweep-worker",
        )
        try:
            # A spawned worker inherits the held signal and ignores Ctrl-C from its
            # first line; one forked from the fork server has Python's handler until
            # its loop's first line (a few milliseconds: a Ctrl-C then may print its
            # traceback, as any forked process's). A Ctrl-C during the start is raised
            # once the process is there: it is stopped here.
            with interrupts_ignored():
                process.start()
        except BaseException:
            if process.pid is not None:
                process.kill()
                process.join()
            ours.close()
            raise
        finally:
            theirs.close()
        forked = context.get_start_method() == "forkserver"
        return cls(process, ours, server=_pool.server_pid() if forked else None)

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"

    def assign(self, task: Task, message: bytes) -> None:
        self.task, self.sent, self.started = task, time.monotonic(), None
        with contextlib.suppress(OSError):  # a dead worker: its sentinel tells
            self.conn.send_bytes(message)

    def receive(self, fn: Any) -> tuple[dict | None, bool]:
        """The record the worker sent, if any, and whether its pipe is closed."""
        while self.conn.poll():
            try:
                kind, payload = self.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                return None, True
            if kind == "ready":
                self.ready = True
            elif kind == "started":
                self.started = time.monotonic()
            elif kind == "unloadable":
                raise RuntimeError(
                    f"fn ({_name(fn)}) cannot be loaded in a worker process: "
                    f"{payload['type']}: {payload['message']}. It must be importable in a "
                    "new process (a module on sys.path, not a script's local function)."
                )
            else:
                return payload, False
        return None, False

    def stop(self, now: bool) -> None:
        """Hang up (an idle worker then exits); ``now``: kill it first, so that it
        cannot meet the closed pipe while it sends a record."""
        if now:
            self.process.kill()
        self.conn.close()
        self.process.join(_JOIN_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _lost(task: Task, worker: _Worker, kind: str, message: str) -> dict:
    """The record of a task whose worker died or was killed: no result, no traceback."""
    return {
        "id": task.id,
        "status": "failed",
        "result": None,
        "error": {"type": kind, "message": message, "traceback": ""},
        "seconds": time.monotonic() - (worker.started or worker.sent),
        "worker": worker.name,
    }


class _Starter:
    """Starts the pool's workers from ``context``. A start that fails (the fork server
    died: multiprocessing starts a new one at the next start, or meets the dying one)
    is tried once more; if that fails too, this sweep spawns its workers from then on."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def __call__(self) -> _Worker:
        for _ in range(2):
            if self.context.get_start_method() != "forkserver":
                break
            try:
                return _Worker.start(self.context)
            except Exception:  # EOFError, OSError from the server's socket
                continue
        self.context = _pool.spawn()
        return _Worker.start(self.context)


def _with_server(worker: _Worker, code: int | None) -> bool:
    """Whether ``worker`` ended with its fork server (its exit code is then
    multiprocessing's stand-in, 255, as the server told none)."""
    return code == 255 and _pool.server_ended(worker.server, _SERVER_SECONDS)


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _outcome(worker: _Worker, fn: Any, timeout: float | None) -> dict | None:
    """The record of ``worker``'s task if it is over (done, worker died, timed out)."""
    record, closed = worker.receive(fn)
    if record is not None:
        return record
    if closed or not worker.process.is_alive():
        worker.process.join(_JOIN_SECONDS)
        code = worker.process.exitcode
        server = _with_server(worker, code)
        if not worker.ready and not server:
            raise RuntimeError(
                f"a worker process could not start ({_exit_text(code)}). fn ({_name(fn)}) "
                "must be importable in a new process; a script that runs a sweep needs "
                'if __name__ == "__main__":. Run the sweep again to resume.'
            )
        how = "killed with its fork server, which ended" if server else _exit_text(code)
        return _lost(worker.task, worker, "RuntimeError", f"worker died ({how})")
    started = worker.started
    if timeout is not None and started is not None and time.monotonic() - started >= timeout:
        worker.process.kill()
        worker.process.join()
        return _lost(worker.task, worker, "TimeoutError", _timed_out_message(timeout))
    return None


def _wait_seconds(pool: list[_Worker], timeout: float | None) -> float | None:
    """Until the first deadline of a running task (None: no deadline)."""
    if timeout is None:
        return None
    now = time.monotonic()
    deadlines = [w.started + timeout - now for w in pool if w.started is not None and w.task]
    # A worker still booting sends "started" first: the wait ends on its message.
    # A far deadline (timeout=1e300) is waited for in pieces: select() takes no more.
    return min(max(0.0, min(deadlines)), _MAX_WAIT_SECONDS) if deadlines else None


def _feed(pool: list[_Worker], queue: collections.deque, fn, base_seed: int) -> None:
    """Give every idle worker the next task."""
    for worker in pool:
        if worker.task is None and queue:
            task = queue.popleft()
            message = pickle.dumps((fn, task.id, dict(task.kwargs), base_seed))
            worker.assign(task, message)


def _collect(pool: list[_Worker], fn, sink: _Sink, timeout: float | None, start: _Starter) -> None:
    """Write what the workers finished (or failed); replace a worker that died."""
    for i, worker in enumerate(pool):
        record = None if worker.task is None else _outcome(worker, fn, timeout)
        if record is None:
            continue
        sink.write(record)
        worker.task = None
        if not worker.process.is_alive():
            worker.stop(now=True)
            pool[i] = start()


def _salvage(pool: list[_Worker], fn, sink: _Sink) -> None:
    """On the way out: write the tasks that finished while we were not looking, stop all."""
    for worker in pool:
        with contextlib.suppress(Exception):
            record, _ = worker.receive(fn)
            if record is not None and sink.ready(record["id"]):
                sink.write(record)
    for worker in pool:
        worker.stop(now=True)
    pool.clear()


def _run_pool(
    fn, pending: list[Task], base_seed: int, workers: int, sink: _Sink, timeout: float | None
) -> None:
    """Run the tasks on ``workers`` processes of our own, one task at a time each.

    A worker that dies, or runs a task past ``timeout`` (and is killed), is
    replaced; its task is recorded as failed and the others go on.
    """
    start = _Starter(_pool.context())
    queue = collections.deque(pending)
    pool: list[_Worker] = []
    try:
        pool.extend(start() for _ in range(min(workers, len(pending))))
        while queue or any(w.task is not None for w in pool):
            _feed(pool, queue, fn, base_seed)
            busy = [w for w in pool if w.task is not None]
            handles = [w.conn for w in busy] + [w.process.sentinel for w in busy]
            multiprocessing.connection.wait(handles, _wait_seconds(pool, timeout))
            _collect(pool, fn, sink, timeout, start)
    except BaseException:
        _salvage(pool, fn, sink)
        raise
    finally:
        for worker in pool:
            worker.stop(now=False)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ImportError(f"scheduler= and dask_local= need Dask: {_DASK_HINT}") from error
    return distributed


#: Where a sweep's scheduler can be: another process, reached over the network.
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def _check_address(distributed: Any, scheduler: str) -> None:
    try:
        protocol, location = distributed.comm.parse_address(scheduler)
        if protocol not in _SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(_SCHEMES)}, not {protocol!r}")
        if protocol in ("tcp", "tls"):
            host, port = distributed.comm.addressing.parse_host_port(location)
            if not host or not 0 < port < 65536:  # else a 30 s wait to connect to nothing
                raise ValueError("a host and a port in [1, 65535]")
    except (ValueError, TypeError) as error:
        fail("scheduler", f'a Dask address such as "tcp://HOST:PORT" ({error})', scheduler)
    _check_scheme_ready(distributed, scheduler, protocol)


#: Seconds beyond Dask's connect timeout (``distributed.comm.timeouts.connect``, 30 s by
#: default) that an address has to answer as a Dask scheduler once it takes the
#: connection: Dask's own handshake waits for an answer without end, so a server that
#: takes the connection and says nothing (a scheduler's dashboard port, a web server)
#: held a sweep for ever.
_ANSWER_SECONDS = 5.0


def _check_scheduler(distributed: Any, scheduler: str) -> None:
    """Ask the Dask scheduler at ``scheduler`` who it is, within Dask's connect timeout
    and :data:`_ANSWER_SECONDS`, before anything is written: an address nobody answers
    on, or one whose answer is not a Dask scheduler's (a dashboard's port, a web server,
    a worker), is refused with a :class:`ConnectionError` in one line.

    The question runs on a thread of its own (its own event loop: this thread may have
    one running, a notebook's) that this thread waits for, so Ctrl-C meanwhile raises
    :class:`KeyboardInterrupt` at once; the thread is a daemon, and stops at the deadline.
    """
    import dask

    connect = dask.utils.parse_timedelta(
        dask.config.get("distributed.comm.timeouts.connect"), default="seconds"
    )
    connection_args = distributed.Security().get_connection_args("client")
    deadline = connect + _ANSWER_SECONDS
    outcome: dict[str, Any] = {}

    async def identity() -> Any:
        comm = await distributed.comm.connect(scheduler, timeout=connect, **connection_args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def ask() -> None:
        try:
            outcome["reply"] = asyncio.run(asyncio.wait_for(identity(), deadline))
        except BaseException as error:  # told in this process's thread, below
            outcome["error"] = error

    thread = threading.Thread(target=ask, name="gdlab-scheduler-check", daemon=True)
    thread.start()
    thread.join()  # Ctrl-C: KeyboardInterrupt here, and the thread ends at its deadline
    error = outcome.get("error")
    if type(error) is OSError:  # distributed.comm.connect: nobody took the connection
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {scheduler!r} ({error}); is it "
            "running? (Dask waits distributed.comm.timeouts.connect, 30 s by default)"
        )
    reply = outcome.get("reply")
    if error is None and isinstance(reply, Mapping) and reply.get("type") == "Scheduler":
        return
    if isinstance(error, TimeoutError):
        why = f"it took the connection but gave no answer in {deadline:g} s"
    elif error is not None:
        why = f"its answer is not a Dask scheduler's ({type(error).__name__}: {_message(error)})"
    elif isinstance(reply, Mapping) and isinstance(reply.get("type"), str):
        why = f"it answers as a Dask {reply['type']}, not as a scheduler"
    else:
        why = "its answer is not a Dask scheduler's"
    raise ConnectionError(
        f"cannot use the Dask scheduler at {scheduler!r}: {why}; give the address of a "
        "Dask scheduler (its own port, 8786 by default, not its dashboard's)"
    )


def _check_scheme_ready(distributed: Any, scheduler: str, protocol: str) -> None:
    """Refuse, now, a scheme this process cannot connect with as it is set up (else the
    client fails inside Dask and its half-made self waits 60 s to close)."""
    if protocol in ("tls", "wss"):
        security = distributed.Security()  # what the client would use: Dask's configuration
        if security.get_connection_args("client").get("ssl_context") is None:
            raise ValueError(
                f"scheduler {scheduler!r} needs Dask's TLS settings, which are not set: "
                "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
                "distributed.comm.tls.client.key in Dask's configuration (or use tcp://)"
            )
        return
    try:
        distributed.comm.registry.get_backend(protocol).get_connector()
    except Exception as error:  # Dask's own ucx:// is a stub that says to install ucxx
        package = " (UCX needs distributed-ucxx: pip install distributed-ucxx-cu12)"
        raise ValueError(
            f"scheduler {scheduler!r} cannot be reached from this process: Dask has no "
            f"working {protocol}:// backend here{package if protocol == 'ucx' else ''} "
            f"({type(error).__name__}); use tcp://"
        ) from None


def _dask_record(distributed: Any, future: Any, task_id: str) -> dict:
    """The record a finished Dask future holds (or of the task that killed its workers)."""
    try:
        return future.result()
    except distributed.KilledWorker as error:
        # The task took its worker down (more than allowed-failures times).
        return {
            "id": task_id,
            "status": "failed",
            "result": None,
            "error": _error(error),
            "seconds": None,
            "worker": None,
        }


def _processing(client: Any) -> dict[str, set[str]] | None:
    """The keys each worker is running, by address (None: the scheduler did not say)."""
    try:
        return {a: {str(k) for k in keys} for a, keys in client.processing().items()}
    except Exception:  # best effort: a task is then timed out on its clock
        return None


def _restart_soon(client: Any, address: str) -> Any:
    """Ask the scheduler to restart the worker at ``address`` (its nanny kills it and
    starts a new one), without waiting: the sweep goes on meanwhile, its other tasks'
    deadlines watched. A worker without a nanny is left alone (the scheduler would
    only remove it). The answer is a :class:`concurrent.futures.Future` (``None``
    where the client's loop cannot take the request: closed, or the client gone),
    never waited for: Dask's own ``Client.restart_workers`` waits for as many
    workers as the cluster had, which a worker that a task keeps killing never gives
    back (120 s).

    The request's coroutine is made on the client's loop, as it starts: one made here
    would be left never awaited (a RuntimeWarning) where the loop cannot take it, or
    closes before it gets to it."""

    async def restart() -> Any:
        workers = (await client.scheduler.identity())["workers"]  # all of them
        if workers.get(address, {}).get("nanny") is None:
            return {address: "no nanny"}
        return await client.scheduler.restart_workers(
            workers=[address],
            wait_for_workers=False,
            on_error="return",
            stimulus_id=f"gdlab-sweep-restart-{time.time()}",
        )

    answer: concurrent.futures.Future = concurrent.futures.Future()

    def start() -> None:  # on the client's loop
        if answer.set_running_or_notify_cancel():
            request = asyncio.ensure_future(restart())
            _RESTARTING.add(request)  # the loop keeps only a weak reference to a task
            request.add_done_callback(lambda done: _answer(answer, done))

    with contextlib.suppress(Exception):  # best effort: the record matters, not the restart
        client.loop.asyncio_loop.call_soon_threadsafe(start)
        return answer
    return None


#: The restarts under way on a client's loop (:func:`_restart_soon`), each until it ends.
_RESTARTING: set[asyncio.Future] = set()


def _answer(answer: concurrent.futures.Future, done: asyncio.Future) -> None:
    """Give ``answer`` the outcome of the restart ``done``, which is no longer kept."""
    _RESTARTING.discard(done)
    if done.cancelled():  # the client closed meanwhile
        answer.set_exception(concurrent.futures.CancelledError())
    elif done.exception() is not None:
        answer.set_exception(done.exception())
    else:
        answer.set_result(done.result())


def _dask_timed_out(
    client: Any,
    future: Any,
    task_id: str,
    processing: Mapping[str, set[str]] | None,
    timeout: float,
    seconds: float,
) -> tuple[dict, Any]:
    """Cancel ``future`` and restart the worker running it (``processing``: the keys of
    each worker): the task's failed record, and the restart under way (or None). Dask
    runs the other tasks on that worker again: their clocks start again when they
    start again (:func:`_run_dask_deadlines`)."""
    address = next((a for a, keys in (processing or {}).items() if future.key in keys), None)
    client.cancel([future])
    # Dask cannot stop a running task: the thread would stay busy until it returned.
    # A restart (workers with a nanny: LocalCluster, dask worker) ends it.
    restart = None if address is None else _restart_soon(client, address)
    record = {
        "id": task_id,
        "status": "failed",
        "result": None,
        "error": _timed_out_error(timeout),
        "seconds": seconds,
        "worker": address,
    }
    return record, restart


def _run_dask_deadlines(
    distributed: Any,
    client: Any,
    submit: Callable[[Task], Any],
    forget: Callable[[Any], None],
    pending: list[Task],
    timeout: float,
    sink: _Sink,
    started: dict[str, tuple[float, str]],
) -> None:
    """Dask with a deadline per task: no more tasks in flight than the cluster has
    threads. A task's clock starts when its worker says it starts (``started``, by
    task id: when and where, :func:`_execute_on_dask`), after a fresh worker's
    start-up, or, if it never says so, :data:`_START_SECONDS` after it was submitted;
    one past its deadline is stopped, one that came back late is timed out all the
    same (:func:`_within`). A task past its deadline that no longer runs where it
    started (its worker died or was restarted: Dask runs it again) is not late: its
    clock waits for it to start again, and its record tells what happened there
    (a worker killed too often: ``KilledWorker``). ``forget`` drops a written
    task's future."""
    queue = collections.deque(pending)
    running: dict[Any, str] = {}  # future: task id
    fallback: dict[str, float] = {}  # task id: when its clock starts if no word comes
    restarts: list[Any] = []  # the restarts asked for, kept until the sweep ends

    def begun(task_id: str) -> float:
        return started[task_id][0] if task_id in started else fallback[task_id]

    while queue or running:
        threads = max(1, sum(client.nthreads().values()))
        while queue and len(running) < threads:
            task = queue.popleft()
            running[submit(task)] = task.id
            fallback[task.id] = time.monotonic() + _START_SECONDS
        # Future.done() reads the client's state: polling it costs no round trip.
        while not any(f.done() for f in running) and all(
            time.monotonic() - begun(i) < timeout for i in running.values()
        ):
            time.sleep(_DASK_POLL_SECONDS)
        now = time.monotonic()
        late = {f.key for f, i in running.items() if not f.done() and now - begun(i) >= timeout}
        processing = _processing(client) if late else None
        for future, task_id in list(running.items()):
            if future.done():
                sink.write(_dask_record(distributed, future, task_id))
            elif future.key not in late:
                continue
            elif _gone(processing, started.get(task_id), future.key):
                started.pop(task_id)  # lost with its worker: its clock waits for its new start
                fallback[task_id] = now + _START_SECONDS
                continue
            else:
                record, restart = _dask_timed_out(
                    client, future, task_id, processing, timeout, now - begun(task_id)
                )
                sink.write(record)
                restarts.append(restart)
            del running[future]
            forget(future)


def _gone(
    processing: Mapping[str, set[str]] | None, start: tuple[float, str] | None, key: str
) -> bool:
    """Whether a task that said it started (``start``: when and on which worker) runs
    there no more (``processing``: what each worker runs; None: not known)."""
    if processing is None or start is None:
        return False
    return key not in processing.get(start[1], ())


@contextlib.contextmanager
def _local_cluster_held() -> Iterator[None]:
    """While a sweep's own ``LocalCluster`` runs: its Dask settings; and after it, this
    process's environment as it was (its nannies run here and set their workers'
    variables in it, :func:`_environment_kept`)."""
    import dask

    with dask.config.set(_LOCAL_CLUSTER_HELD), _environment_kept():
        yield


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """The variables a ``LocalCluster`` writes into this process's environment put back
    as they were when the block ends; any other variable as the block left it.

    Its nannies run in the sweep's process and, before starting a worker, write
    ``distributed.nanny.pre-spawn-environ`` (``OMP_NUM_THREADS``,
    ``MALLOC_TRIM_THRESHOLD_`` …) and ``PYTHONHASHSEED`` into *its* environment, and
    ``__DASK_PARENT_PID``: left there, they would reach every process the program
    starts later, and a pool's workers would be spawned, not forked
    (:func:`gdlab._pool.context`). Those, and any library's load-time variable
    (:data:`gdlab._pool.LOAD_TIME_PREFIXES`: a later Dask may write more), are put back.
    """
    import dask

    from gdlab._pool import LOAD_TIME_PREFIXES

    written = {*dask.config.get("distributed.nanny.pre-spawn-environ", {}), "__DASK_PARENT_PID"}
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in {*os.environ, *before}:
            if key in written or key.startswith(LOAD_TIME_PREFIXES):
                if key not in before:
                    os.environ.pop(key, None)
                elif os.environ.get(key) != before[key]:
                    os.environ[key] = before[key]


def _run_dask(
    fn,
    pending: list[Task],
    base_seed: int,
    scheduler: str | None,
    dask_local: int | None,
    sink: _Sink,
    timeout: float | None,
) -> None:
    """``pending`` on Dask: on the cluster at ``scheduler``, or on a ``LocalCluster`` of
    ``dask_local`` workers started and closed here, its settings held meanwhile
    (:func:`_local_cluster_held`)."""
    distributed = _import_distributed()
    held = contextlib.nullcontext() if dask_local is None else _local_cluster_held()
    with held:
        cluster = client = None
        futures: dict[Any, str] = {}  # the tasks in flight (a written task's future is dropped)
        try:
            if scheduler is not None:  # it answered as one: check_where
                try:
                    client = distributed.Client(scheduler, set_as_default=False)
                except Exception as error:  # gone since, or lost on the way
                    raise ConnectionError(
                        f"cannot use the Dask scheduler at {scheduler!r} ({type(error).__name__}: "
                        f"{_message(error)}); is it running? (Dask waits "
                        "distributed.comm.timeouts.connect, 30 s by default)"
                    ) from None
            else:
                import dask

                # The cluster's event loop thread starts its worker processes, now and when
                # it restarts one: started while Ctrl-C is held, the thread and those
                # processes keep SIGINT blocked, so that a Ctrl-C reaches this process only.
                with dask.config.set(_LOCAL_CLUSTER_CONFIG), interrupts_ignored():
                    cluster = distributed.LocalCluster(
                        n_workers=dask_local,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        # no dashboard; the scheduler's own HTTP server on a free port, not
                        # 8787 (another cluster there made it warn on stderr)
                        scheduler_kwargs={"dashboard_address": ":0"},
                    )
                    client = distributed.Client(cluster, set_as_default=False)
            run = uuid.uuid4().hex[:12]  # two sweeps on one cluster never share a key
            topic = None if timeout is None else f"gdlab-sweep-{run}"
            started: dict[str, tuple[float, str]] = {}  # task id: when and where it started

            def said(event: Any) -> None:  # (time, [task id, worker address]), on the client's loop
                task_id, address = event[1]
                started[task_id] = (time.monotonic(), address)

            if topic is not None:
                client.subscribe_topic(topic, said)

            def submit(task: Task) -> Any:
                future = client.submit(
                    _execute_on_dask,
                    fn,
                    task.id,
                    dict(task.kwargs),
                    base_seed,
                    topic,
                    key=f"sweep-{task.id}-{run}",
                    pure=False,
                )
                futures[future] = task.id
                return future

            def forget(future: Any) -> None:
                """Drop a future whose record is written: Dask keeps a task's result while a
                future holds it, and computes it again when that worker is lost."""
                futures.pop(future, None)
                future.release()

            if timeout is None:
                for task in pending:
                    submit(task)
                for future in distributed.as_completed(list(futures), loop=client.loop):
                    sink.write(_dask_record(distributed, future, futures[future]))
                    forget(future)
            else:
                _run_dask_deadlines(
                    distributed, client, submit, forget, pending, timeout, sink, started
                )
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt)
            lost = _scheduler_lost(distributed, client, error)
            with _dask_muted() if interrupted or lost else contextlib.nullcontext():
                _dask_salvage(futures, sink)
                if cluster is None and futures and not lost:  # someone else's: stop our tasks
                    with contextlib.suppress(Exception):  # the cluster may be gone already
                        client.cancel([f for f, i in futures.items() if i not in sink.records])
                _close_dask(client, cluster, now=interrupted or lost)
            if lost:
                where = f"at {scheduler!r}" if scheduler is not None else "of the local cluster"
                raise SchedulerLost(where, _in_short(error)) from None
            raise
        _close_dask(client, cluster, now=False)


class SchedulerLost(ConnectionError):
    """The Dask scheduler of a sweep was lost while it ran (killed, its machine gone);
    the finished tasks are written, and the same sweep resumes from them.

    ``where`` names the scheduler (``"at 'tcp://…'"``, ``"of the local cluster"``),
    ``why`` is what Dask said, in short; the message tells to run the sweep again,
    :meth:`told` says it with other words for that (``gdlab tune``: the same command).
    """

    def __init__(self, where: str, why: str) -> None:
        self.where, self.why = where, why
        super().__init__(self.told("run the sweep again"))

    def told(self, again: str) -> str:
        """The message, with ``again`` (``"run the sweep again"``) saying how to resume."""
        return (
            f"lost the Dask scheduler {self.where} ({self.why}); the finished tasks are "
            f"written: {again} to resume once the scheduler is back"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.where, self.why)


def _in_short(error: BaseException) -> str:
    """What Dask said of a lost scheduler, in short: the error's type and a cancelled
    future's reason (``scheduler-connection-lost``), or else the first line of its
    message; never Dask's advice to its own user that follows it ("re-run your work")."""
    reason = getattr(error, "reason", None)
    said = reason if isinstance(reason, str) and reason else _message(error).strip()
    said = said.splitlines()[0] if said else ""
    name = type(error).__name__
    return f"{name}: {cut(said, 160)}" if said else name


def _scheduler_lost(distributed: Any, client: Any, error: BaseException) -> bool:
    """Whether ``error`` says the client lost its scheduler (killed, its machine gone):
    Dask cancels every future then (``scheduler-connection-lost``)."""
    import concurrent.futures

    if isinstance(error, concurrent.futures.CancelledError | distributed.comm.CommClosedError):
        return True
    return isinstance(error, OSError) and client is not None and client.status != "running"


def _dask_salvage(futures: Mapping[Any, str], sink: _Sink) -> None:
    """On the way out: write the tasks that finished while we were not looking."""
    for future, task_id in futures.items():
        if sink.ready(task_id) and future.status == "finished":
            with contextlib.suppress(Exception):  # best effort while stopping
                sink.write(future.result(timeout=5))


def _close_dask(client: Any, cluster: Any, now: bool) -> None:
    """Close the client, and the cluster if the sweep started it; ``now`` (Ctrl-C):
    kill the cluster's worker processes first, as the process pool's are, rather than
    let them finish their tasks (Dask waits 4 s, then kills them, and says so)."""
    try:
        if now and cluster is not None:
            for nanny in list(getattr(cluster, "workers", {}).values()):
                pid = getattr(nanny, "pid", None)
                if isinstance(pid, int) and pid > 0:
                    with contextlib.suppress(OSError):  # gone already
                        os.kill(pid, signal.SIGKILL)
        if client is not None:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _dask_muted() -> Iterator[None]:
    """Dask's log lines in this process dropped: after Ctrl-C, what the scheduler and
    the nannies say while the cluster is torn down (tasks lost, workers killed) is no
    news; the caller says in one line that the sweep was interrupted."""
    import logging

    def drop(record: logging.LogRecord) -> bool:
        return False

    loggers = [
        logger
        for name, logger in list(logging.root.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and name.split(".")[0] in _DASK_LOGGERS
    ]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def _name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


# --------------------------------------------------------------------------- the sweep


def _check_tasks(tasks: Any) -> dict[str, int]:
    if isinstance(tasks, str | bytes) or not isinstance(tasks, Sequence):
        fail("tasks", "a sequence of Task", tasks, kind=TypeError)
    index: dict[str, int] = {}
    for i, task in enumerate(tasks):
        if not isinstance(task, Task):
            fail(f"tasks[{i}]", "a Task", task, kind=TypeError)
        if task.id in index:
            _refuse(
                "task ids", "unique", f"{task.id!r} twice (tasks[{index[task.id]}] and tasks[{i}])"
            )
        if "rng" in task.kwargs:
            fail(f"tasks[{i}].kwargs", "free of 'rng' (the sweep passes it)", dict(task.kwargs))
        try:
            json.dumps(task.kwargs)
        except (TypeError, ValueError) as error:
            fail(f"tasks[{i}].kwargs", f"plain JSON data ({error})", dict(task.kwargs))
        _check_keys(task.kwargs, f"tasks[{i}].kwargs")
        index[task.id] = i
    return index


def _check_keys(value: Any, where: str) -> None:
    """Every dict in ``value`` has string keys: JSON would write ``1`` as ``"1"``, so the
    task's key (:func:`task_key`) could not tell ``{1: x}`` from ``{"1": x}``, and keys of
    mixed types cannot be sorted."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                fail(f"the keys of {where}", "strings (as in JSON)", key, kind=TypeError)
            _check_keys(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            _check_keys(item, f"{where}[{n}]")


def _check_fn(fn: Any, pool: bool) -> None:
    """``fn`` is callable and, for a process pool, picklable (Dask uses cloudpickle)."""
    if not callable(fn):
        fail("fn", "a function", fn, kind=TypeError)
    if not pool:
        return
    main = sys.modules.get("__main__")
    if getattr(fn, "__module__", None) == "__main__" and not getattr(main, "__file__", None):
        fail(
            "fn",
            "defined in a module other processes can import (not typed in at a prompt)",
            fn,
            kind=TypeError,
        )
    try:
        pickle.dumps(fn)
    except Exception as error:
        raise TypeError(
            f"fn must be a module-level function (picklable) to run in other processes; "
            f"got {describe(fn)} ({error})"
        ) from None


def check_where(
    workers: Any, scheduler: Any, dask_local: Any, timeout: Any
) -> tuple[int, str | None, int | None, float | None]:
    """:func:`run_sweep`'s ``workers``, ``scheduler``, ``dask_local`` and ``timeout``,
    checked (one executor at a time), Dask installed for a Dask option, and a
    ``scheduler`` that answers as a Dask scheduler (it connects: :func:`_check_scheduler`);
    for callers that check them before writing."""
    checked = _where(workers, scheduler, dask_local, timeout)
    _check_dask(checked[1], checked[2])
    return checked


def _where(
    workers: Any, scheduler: Any, dask_local: Any, timeout: Any
) -> tuple[int, str | None, int | None, float | None]:
    """:func:`check_where` but Dask's part."""
    workers = check_int("workers", workers, low=1)
    if scheduler is not None and not isinstance(scheduler, str):
        fail("scheduler", 'an address such as "tcp://HOST:PORT"', scheduler, kind=TypeError)
    if dask_local is not None:
        dask_local = check_int("dask_local", dask_local, low=1)
    if timeout is not None:
        timeout = check_real("timeout", timeout, low=0, low_open=True)
    chosen = [
        text
        for text, used in (
            (f"workers={workers}", workers > 1),
            (f"scheduler={scheduler!r}", scheduler is not None),
            (f"dask_local={dask_local}", dask_local is not None),
        )
        if used
    ]
    if len(chosen) > 1:
        _refuse("workers > 1, scheduler and dask_local", "used one at a time", ", ".join(chosen))
    _check_children(workers, dask_local, timeout)
    return workers, scheduler, dask_local, timeout


def _check_children(workers: int, dask_local: int | None, timeout: float | None) -> None:
    """Refuse, before anything is written, what would start processes in a daemonic
    process (a ``multiprocessing.Pool``'s worker), which may start none: a process pool,
    a local Dask cluster, or the worker process of ``timeout`` with ``workers=1``."""
    if not multiprocessing.current_process().daemon:
        return
    daemonic = "in a daemonic process (a multiprocessing Pool's worker may start no processes)"
    if workers > 1:
        _refuse("workers", f"1 {daemonic}: use workers=1", f"workers={workers}")
    if dask_local is not None:
        where = "run the tasks here with workers=1, or on scheduler="
        _refuse("dask_local", f"None {daemonic}: {where}", f"dask_local={dask_local}")
    if timeout is not None:  # the tasks would run in a worker process, to be stopped
        where = "the tasks run here with none"
        _refuse("timeout", f"None {daemonic}: {where}", f"timeout={timeout:g}")


def _check_dask(scheduler: str | None, dask_local: int | None) -> None:
    """Dask is there for ``scheduler`` and ``dask_local``, and ``scheduler`` answers as a
    Dask scheduler (:func:`_check_scheduler`): before anything is written."""
    if scheduler is None and dask_local is None:
        return
    distributed = _import_distributed()
    if scheduler is not None:
        _check_address(distributed, scheduler)
        # once per address a minute: a race or a tuning checks before writing, then
        # each of its sweeps would ask again (one it lost since fails as it connects)
        now = time.monotonic()
        if now - _SCHEDULERS_ANSWERED.get(scheduler, -math.inf) > _ANSWERED_SECONDS:
            _check_scheduler(distributed, scheduler)
            _SCHEDULERS_ANSWERED[scheduler] = now


#: When each scheduler address last answered as a Dask scheduler (time.monotonic()),
#: and how long that answer is taken as still true.
_SCHEDULERS_ANSWERED: dict[str, float] = {}
_ANSWERED_SECONDS = 60.0


def registering_modules(optimizers: Iterable[str], caller: str) -> list[str]:
    """The modules a worker process imports to see ``optimizers`` (registry names)
    that gdlab does not register itself (a worker starts fresh): each one's
    registering module, once. An optimizer that only this process knows
    (registered in ``__main__``: a notebook, ``python -c``) is refused here, before
    any task starts, rather than failing every task there; ``caller`` (``"race"``,
    ``"tune"``) names what to run with ``workers=1`` instead."""
    from gdlab.optim.registry import _MAIN_MODULES, registering_module

    modules: list[str] = []
    for name in optimizers:
        module = registering_module(name)  # not the rule's own module: it may not register
        if module.split(".")[0] == "gdlab" or module in modules:
            continue
        if module in _MAIN_MODULES or module not in sys.modules:
            main = (
                " (a script, or a module run with python -m, is __main__ here, which no "
                "worker imports)"
                if module in _MAIN_MODULES
                else ""
            )
            raise ConfigError(
                f"optimizer {name!r} is registered in this process only (in {module}), "
                f"and worker processes start fresh: {caller} with workers=1, or register "
                f"it in a module of your own, imported{main}, or in a gdlab.optimizers "
                "entry point"
            )
        if not _importable(module):
            raise ConfigError(
                f"optimizer {name!r} is registered by module {module!r}, which a worker "
                "process cannot import (it was not loaded from a path on sys.path): "
                f"{caller} with workers=1, or put the module's folder on sys.path "
                "(PYTHONPATH) or install it"
            )
        modules.append(module)
    return modules


def _importable(module: str) -> bool:
    """Would a fresh process find ``module`` by its name (as ``import`` does, without the
    modules this one has loaded already)? Not one loaded from a file path by hand, nor
    one whose package was (its ``__path__`` would find it here, and not there)."""
    parent = module.rpartition(".")[0]
    if parent and not _importable(parent):
        return False
    path = getattr(sys.modules.get(parent), "__path__", None) if parent else None
    if parent and path is None:
        return False
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        try:
            if find_spec is not None and find_spec(module, path) is not None:
                return True
        except Exception:  # a finder that cannot say is no answer
            continue
    return False


#: The modules :func:`import_modules` could not import in this process after their
#: top-level code started, and why (the first try's error): never tried again, as that
#: code may have run in part. A module that was not found is tried again (installed
#: since, on a long-lived Dask worker). Tasks in threads of one worker share it.
_IMPORT_FAILURES: dict[str, str] = {}
_IMPORT_LOCK = threading.Lock()


def import_modules(modules: Iterable[str]) -> dict[str, str]:
    """Import ``modules`` (:func:`registering_modules`): in a worker, first thing in a task.

    A module that fails to import is skipped, and the failures are returned,
    ``{module: why}``, so that a task whose own optimizer is known runs all the
    same; the task whose optimizer is not names them (:func:`unknown_optimizer`).
    A module whose code failed is not imported again in this process (its top-level
    code would run again, and may fail otherwise: on a name it registered before it
    raised): later calls return its first error. One that was not found is looked for
    again.
    """
    import importlib

    failed: dict[str, str] = {}
    with _IMPORT_LOCK:
        for module in modules:
            if module in _IMPORT_FAILURES:
                failed[module] = _IMPORT_FAILURES[module]
                continue
            try:
                importlib.import_module(module)
            except Exception as error:  # its own code may raise anything
                failed[module] = why = f"{type(error).__name__}: {error}"
                if not _not_found(error, module):
                    _IMPORT_FAILURES[module] = why
    return failed


def _not_found(error: Exception, module: str) -> bool:
    """Whether importing ``module`` failed because it, or a package above it, is not
    there (none of its code ran), not because of its own code."""
    name = getattr(error, "name", None)
    return isinstance(error, ModuleNotFoundError) and (
        name == module or (name is not None and module.startswith(name + "."))
    )


def unknown_optimizer(name: Any, modules: Sequence[str], failed: Mapping[str, str]) -> str:
    """Why optimizer ``name`` is not registered in this worker after :func:`import_modules`
    (``failed``: what it returned), in words: the modules that failed, or those imported."""
    if failed:
        why = "; ".join(f"importing {m!r} failed: {e}" for m, e in failed.items())
        return (
            f"optimizer {name!r} is not registered in this worker ({why}): install the "
            "module where the workers run, or put its folder on their PYTHONPATH"
        )
    imported = ", ".join(repr(m) for m in modules) or "no module of yours"
    return (
        f"optimizer {name!r} is not registered in this worker after importing {imported} "
        "(what registered the optimizers where the sweep started): register it when its "
        "module is imported"
    )


def one_run(config: Mapping[str, Any], run: int, modules: Sequence[str]) -> Any:
    """In a task: ``modules`` imported (:func:`import_modules`), then the
    :class:`~gdlab.experiments.Experiment` of ``config`` holding run ``run`` alone.

    Another run's optimizer that this worker cannot see fails that run's tasks, named,
    never this one's; this run's own unknown optimizer is a ``ConfigError`` saying why
    (:func:`unknown_optimizer`).
    """
    from gdlab.experiments.model import Experiment
    from gdlab.optim import OPTIMIZERS

    failed = import_modules(modules)
    own = config["runs"][run]
    name = own.get("optimizer") if isinstance(own, Mapping) else None
    if isinstance(name, str) and name.lower() not in OPTIMIZERS:
        raise ConfigError(unknown_optimizer(name, modules, failed))
    return Experiment.from_dict({**config, "runs": [own]})


def run_sweep(
    fn: Callable[..., Mapping[str, Any]],
    tasks: Sequence[Task],
    out: str | os.PathLike,
    *,
    base_seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: bool = True,
    retry_failed: bool = False,
    timeout: float | None = None,
    on_record: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run ``fn`` on every task not yet in ``out``; return the records of all tasks.

    Args:
        fn: a module-level function (picklable): ``fn(**task.kwargs, rng=...)``
            returns a dict of plain JSON data (NumPy scalars and arrays are
            converted; NaN and infinities are not JSON and fail the task).
        tasks: the :class:`Task` objects, with unique ids.
        out: the results file (JSON Lines), created or continued.
        base_seed: mixed with each task id into the task's generator (:func:`task_rng`).
        workers: local processes; 1 (default) runs the tasks in this process.
        scheduler: the address of an existing Dask scheduler, ``"tcp://HOST:PORT"``.
        dask_local: start a Dask ``LocalCluster`` with this many one-thread processes.
        progress: a tqdm bar on stderr (shown only on a terminal).
        retry_failed: run the tasks recorded as failed again (their old records
            are removed from ``out`` first).
        timeout: seconds a task may run, counted from when it starts on its
            worker (after the worker's own start-up) to when it returns: one
            still running at its deadline is stopped, one that returns after it
            is timed out all the same, recorded as failed (``TimeoutError``,
            "timed out after N s"), on every executor alike. On Dask, a
            task whose worker never says that it started has its clock start
            62 s after its submission (the worker's warm-up bound, 2 s, plus a
            minute for its imports), so every task is bounded.
            Default None: no limit. With ``workers=1`` the tasks then run in
            one worker process (only a process can be stopped), so ``fn``
            must be picklable, as for ``workers > 1``.
        on_record: called in this process with each record as soon as it is
            written (in the order the tasks finish; records found in ``out``
            from an earlier sweep are not announced again).

    Returns:
        One record per task, in the order of ``tasks`` (those found in ``out``
        and those run now).

    Raises:
        ValueError: duplicate task ids; ``out`` holds a record of a task not in
            ``tasks`` (another sweep's file) or a damaged line other than the
            last; more than one of ``workers > 1``, ``scheduler``, ``dask_local``;
            a ``tls://`` or ``wss://`` scheduler without Dask's TLS settings, or a
            scheme this Dask cannot connect with (``ucx://`` without its package);
            in a daemonic process (a ``multiprocessing.Pool``'s worker, which may
            start no processes), ``workers > 1``, ``dask_local`` or ``timeout``.
        ImportError: a Dask option without Dask installed.
        ConnectionError: the scheduler cannot be reached, does not answer as a Dask
            scheduler within Dask's connect timeout and 5 s more (a dashboard's port,
            a web server: checked before ``out`` is touched), or was lost during the
            sweep (:class:`SchedulerLost`: the finished tasks are written, run it
            again to resume).
        LockedError: another sweep (or process) is writing ``out``; the message
            names it (:func:`gdlab._io.exclusive`).
        RuntimeError: a worker process could not start, or ``fn`` could not be
            loaded in it; the finished tasks are written. (A worker that dies
            while running a task fails that task only.)
        KeyboardInterrupt: on Ctrl-C, after the pending tasks were cancelled,
            the workers stopped and every finished task written.
    """
    _check_tasks(tasks)
    base_seed = check_int("base_seed", base_seed, low=0)
    workers, scheduler, dask_local, timeout = _where(workers, scheduler, dask_local, timeout)
    progress = check_bool("progress", progress)
    retry_failed = check_bool("retry_failed", retry_failed)
    if not isinstance(out, str | os.PathLike):
        fail("out", "a path (str or os.PathLike)", out, kind=TypeError)
    dask = scheduler is not None or dask_local is not None
    _check_fn(fn, pool=workers > 1 or (timeout is not None and not dask))
    _check_dask(scheduler, dask_local)  # before touching the file

    path = Path(out)
    with _io.exclusive(path, what="results file (out)", directory=False):
        return _sweep(
            fn,
            tasks,
            path,
            base_seed,
            workers,
            scheduler,
            dask_local,
            progress,
            retry_failed,
            timeout,
            on_record,
        )


def _sweep(
    fn: Callable[..., Mapping[str, Any]],
    tasks: Sequence[Task],
    path: Path,
    base_seed: int,
    workers: int,
    scheduler: str | None,
    dask_local: int | None,
    progress: bool,
    retry_failed: bool,
    timeout: float | None,
    on_record: Callable[[dict], None] | None = None,
) -> list[dict]:
    """:func:`run_sweep` once its arguments are checked and ``path`` is locked."""
    keys = {task.id: task_key(task, base_seed) for task in tasks}
    found, cut = _read(path, keys, retry_failed)
    kept = [(line, r) for line, r in found if r["status"] == "ok" or not retry_failed]
    if cut or len(kept) < len(found):
        text = b"".join(line + b"\n" for line, _ in kept)
        _io.atomic_write(path, lambda fh: fh.write(text))
    path.parent.mkdir(parents=True, exist_ok=True)
    records = {r["id"]: r for _, r in kept}
    pending = [task for task in tasks if task.id not in records]

    sink = _Sink(path, records, keys, len(tasks), progress)
    sink.on_record = on_record
    sink.timeout = timeout  # a task that came back after its deadline: timed out
    try:
        if not pending:
            pass
        elif scheduler is not None or dask_local is not None:
            _run_dask(fn, pending, base_seed, scheduler, dask_local, sink, timeout)
        elif workers > 1 or timeout is not None:
            _run_pool(fn, pending, base_seed, workers, sink, timeout)
        else:
            _run_inline(fn, pending, base_seed, sink)
    finally:
        sink.close()
    return [records[task.id] for task in tasks]
