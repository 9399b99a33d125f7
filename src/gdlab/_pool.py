"""Where a sweep's worker processes come from: a warm fork server on Linux, else spawn.

A spawned worker is a new interpreter: before its first step it imports
gdlab (0.3 s), numba (0.25 s) and numba's compiler (0.4 s), and loads its
runs' kernels from numba's cache (0.1-0.3 s), about 1 s on a 2-core VM, at
every pool. On Linux the workers are forked instead from multiprocessing's
fork server, started once per process with :mod:`gdlab._warm`'s preparation: the
server has done all that once, so the first pool waits for it about as long
as for spawned workers, and every later pool of the process (a tuning then
its race, the rounds of a benchmark, a notebook's second race) starts its
workers in milliseconds.

A forked worker is still a new process with the pool's view of this one, as a
spawned worker would have: it imports the sweep's function's module itself
(the server holds only gdlab and numba), runs in this process's working
directory with its ``sys.path`` (multiprocessing sends both), and takes this
process's environment and standard output and error as they are when the pool
starts, not as they were when the server did (:func:`worker_setup`). What is
read only when numba or a BLAS library loads (``NUMBA_*``, ``OMP_*``,
``OPENBLAS_*`` and the like) cannot follow: when such a variable changed
since the server started, that pool spawns its workers. A fork server that
other code started (without gdlab's preload, in an environment we do not
know) is not used either.

The server holds about 180 MB until this process ends (it ends with it, even
by ``kill -9``). A server that dies (killed) takes its workers with it
(:func:`server_ended` tells so); multiprocessing starts a new one at the next
start, and a sweep whose start fails even so spawns its workers from then on.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from typing import Any

#: The module the fork server imports (it runs :func:`gdlab._warm.prepare_server`).
PRELOAD = "gdlab._preload"

#: Environment variables that are read when a library loads, by prefix: a
#: worker forked from the server keeps the values the server started with.
LOAD_TIME_PREFIXES = (
    "NUMBA_", "OMP_", "KMP_", "GOMP_", "OPENBLAS_", "GOTO", "MKL_", "BLIS_", "VECLIB_",
    "NPY_", "NUMPY_", "PYTHON", "LD_", "MALLOC_",
)  # fmt: skip

#: What scikit-learn sets in the environment when it is imported (``setdefault``, for
#: Intel's OpenMP). gdlab imports it on many paths, often after the fork server has
#: started: these values count as no change of the server's load-time environment
#: (:func:`load_time_environment`), which would send every later pool to ``spawn``. A
#: forked worker gets them all the same (:func:`worker_setup`).
SKLEARN_DEFAULTS = {"KMP_DUPLICATE_LIB_OK": "True", "KMP_INIT_AT_FORK": "FALSE"}

_lock = threading.Lock()
#: The load-time environment our fork server started with (None: not started by us).
_server_environment: dict[str, str] | None = None


def load_time_environment() -> dict[str, str]:
    """The variables of this process's environment that libraries read when they load
    (scikit-learn's defaults left out: :data:`SKLEARN_DEFAULTS`)."""
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(LOAD_TIME_PREFIXES) and SKLEARN_DEFAULTS.get(k) != v
    }


def _forkserver() -> Any:
    """multiprocessing's fork server of this process (its private state: read with
    ``getattr`` and a safe default, in case another Python names it otherwise)."""
    from multiprocessing import forkserver

    return getattr(forkserver, "_forkserver", None)


def _forkserver_running() -> bool:
    """Whether the fork server is started already (by anyone); if that cannot be
    told, True (then it is not used)."""
    return getattr(_forkserver(), "_forkserver_pid", True) is not None


def _preloaded() -> list[str]:
    """The modules other code asked the fork server to preload (kept beside ours)."""
    return [m for m in getattr(_forkserver(), "_preload_modules", ()) if m != PRELOAD]


def context() -> Any:
    """The multiprocessing context that starts this pool's workers.

    ``forkserver`` (with :data:`PRELOAD`) on Linux, unless a library's load-time
    setting changed since our server started or the server is someone else's;
    ``spawn`` otherwise.
    """
    global _server_environment
    if not sys.platform.startswith("linux"):  # macOS: fork is unsafe in its system libraries
        return spawn()
    environment = load_time_environment()
    with _lock:
        if _server_environment is None:
            if _forkserver_running():
                return spawn()
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload([*_preloaded(), PRELOAD])
            _server_environment = environment
            return server
        if environment != _server_environment:
            return spawn()
    return multiprocessing.get_context("forkserver")


def server_pid() -> int | None:
    """The pid of this process's fork server, as multiprocessing last started it (None:
    none started)."""
    pid = getattr(_forkserver(), "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None


def server_ended(pid: int | None, wait: float = 0.0) -> bool:
    """Whether the fork server ``pid`` (:func:`server_pid` when a worker started) has
    ended, reaped or not, or ends within ``wait`` seconds (a killed server's threads,
    BLAS's among them, may still be on their way out when its workers are gone): its
    workers end with it (``PR_SET_PDEATHSIG``), and the exit code multiprocessing gives
    them then is a stand-in (255), as the server told none. False where that cannot be
    told (no ``/proc``)."""
    if pid is None or not sys.platform.startswith("linux"):
        return False
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[-1].split()
        except FileNotFoundError:  # reaped: multiprocessing started a new server since
            return True
        except OSError:
            return False
        if fields and fields[0] in (b"Z", b"X"):  # a zombie: not yet reaped
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def spawn() -> Any:
    """The context that starts workers when the fork server cannot (see :func:`context`)."""
    return multiprocessing.get_context("spawn")


class InheritedFd:
    """A file descriptor of this process that a worker gets as its own (pickled
    while the worker starts: multiprocessing passes the descriptor itself)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple:
        from multiprocessing import reduction

        return _detach, (reduction.DupFd(self.fd),)


def _detach(handle: Any) -> int:
    return handle.detach()


def _standard_streams() -> dict[int, InheritedFd]:
    """This process's standard output and error (the descriptors), those that are open."""
    streams = {}
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            continue
        streams[fd] = InheritedFd(fd)
    return streams


def worker_arguments() -> tuple[dict[str, str], dict[int, InheritedFd]]:
    """What :func:`worker_setup` needs, taken in the pool's process as a worker starts."""
    return dict(os.environ), _standard_streams()


def expected_parent(main: int) -> int:
    """A worker's parent: the fork server it was forked from, or ``main``, the
    sweep's process, which spawned it."""
    warm = sys.modules.get("gdlab._warm")
    server = getattr(warm, "server_pid", None)
    return main if server is None else server


def worker_setup(environment: dict[str, str], streams: dict[int, int]) -> None:
    """In a new worker: the pool's environment and standard output and error.

    A spawned worker has them already (this changes nothing); a forked one has
    the fork server's, from when it started.
    """
    if dict(os.environ) != environment:
        os.environ.clear()
        os.environ.update(environment)
    for target, fd in streams.items():
        if fd != target:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None and not stream.closed:
                    stream.flush()
            os.dup2(fd, target)
            os.close(fd)
