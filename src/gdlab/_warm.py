"""What a sweep's worker would do before its first step, done once in the fork server.

:mod:`gdlab._pool` has multiprocessing's fork server import
:mod:`gdlab._preload` (and nothing else of ours) when it starts, which calls
:func:`prepare_server`; the sweep's workers are then forked from that server.
:func:`prepare_server`:

* ignores Ctrl-C while it warms up (and unblocks it: the sweep starts the
  server with it blocked), then gives it back Python's own handler:
  multiprocessing's server ignores Ctrl-C itself and gives each process it forks
  the handler it found, so that a process another part of the program starts
  through the same fork server (it is the program's one fork server) meets
  Ctrl-C as it would anywhere. A sweep's worker ignores Ctrl-C from the first
  line of its loop (:func:`gdlab.sweep._serve`; the sweep's process handles it);
* ends at once when the sweep's process has (:func:`_leave_at_once`): the
  interpreter's teardown of numba's, LLVM's and BLAS's modules (0.3–0.4 s) would
  keep the process's standard output and error open after it, and a caller
  reading them to their end (a script timing ``gdlab``, a pipe) would wait;
* imports the modules that the sweep's tasks run (races and tuning) and numba,
  and makes numba's compiler ready (about 0.9 s in all on a 2-core VM);
* loads from numba's cache, or compiles, the kernels that tasks use most
  (:func:`warm_ups`): a small network of each output takes a step, and each
  built-in experiment's run's optimizer steps once on a twin, as
  :func:`gdlab.train.fit`'s warm-up does; float32 first, then float64. This
  stops after :data:`SECONDS` (from the cache all of it takes about 0.2 s; a
  new machine, whose kernels are not in the cache yet, compiles the first
  ones here and the rest in the workers, as before).

Nothing here changes what a task computes: a warm-up touches none of a run's
arrays or generators, and a kernel loaded here is the one a worker would load.
Whatever fails is left for the worker to meet again with its own message:
:func:`prepare_server` never raises (an exception would stop the server, and
every pool after it would spawn).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator

from gdlab._registry import PluginWarning

#: The longest the server spends loading kernels (imports not counted).
SECONDS = 2.0

#: The fork server's pid, in the server and the workers forked from it (else None).
server_pid: int | None = None


def _network_step(output: str, dtype: type) -> None:
    """A step and an evaluation of a small network with ``output``, in ``dtype``."""
    import numpy as np

    from gdlab.nn import MLP

    sizes = [3, 2, 2] if output == "softmax" else [3, 2, 1]
    X = np.zeros((2, 3), dtype)
    y = np.zeros(2, dtype) if output == "linear" else np.array([0, 1])
    net = MLP(sizes, output=output, dtype=dtype, rng=np.random.default_rng(0))
    net.loss_and_grads(X, y)
    net.evaluate(X, y)


def warm_ups() -> Iterator[Callable[[], object]]:
    """The warm-up steps, the most used first: float32 (the networks' default) before
    float64; in each, the networks, then the optimizers of the built-in experiments'
    runs, the main job's (MNIST) first, each stepping once on a twin."""
    import numpy as np

    from gdlab import experiments
    from gdlab.nn.mlp import OUTPUTS
    from gdlab.train import warm_up

    names = sorted(experiments.BUILTIN, key=lambda name: name != "mnist")
    runs = [spec for name in names for spec in experiments.load(name).runs]  # read once
    for dtype in (np.float32, np.float64):
        for output in OUTPUTS:
            yield functools.partial(_network_step, output, dtype)
        params = {"W1": np.zeros((2, 2), dtype), "b1": np.zeros(2, dtype)}
        for spec in runs:
            yield functools.partial(warm_up, spec.make_optimizer(), params)


def warm(seconds: float = SECONDS) -> None:
    """Import what the tasks run and load the common kernels (for at most ``seconds``)."""
    from numba.core.registry import cpu_target

    import gdlab.race
    import gdlab.sweep
    import gdlab.tuning  # noqa: F401 - the tasks' modules
    from gdlab._blas import blas_threads_held

    cpu_target.target_context  # noqa: B018 - numba's compiler, made ready
    deadline = time.monotonic() + seconds
    with blas_threads_held(1):  # as in a task: one BLAS thread
        for step in warm_ups():
            if time.monotonic() > deadline:
                break
            with contextlib.suppress(Exception):
                step()


def _leave_at_once() -> None:
    """At the fork server's exit (when the sweep's process has ended), end this process
    now: the exit handlers registered before this one run first (multiprocessing's,
    another preloaded module's, coverage's), as at Python's exit; then its output is
    flushed and its teardown skipped. It holds nothing else to keep: it writes no
    file, and its workers have left (each ends with ``os._exit``)."""
    if os.getpid() != server_pid:  # a process forked from the server: not ours to end
        return
    atexit.unregister(_leave_at_once)
    atexit._run_exitfuncs()  # those registered before this one (atexit runs the last first)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def prepare_server() -> None:
    """Make this process the sweep's fork server: a quick exit, then :func:`warm` with
    Ctrl-C ignored.

    The sweep starts the server with SIGINT blocked (:func:`gdlab.sweep.interrupts_ignored`):
    a Ctrl-C that came since waits here; ignoring it drops it. Once warm, SIGINT has
    the handler it started with again, unblocked: the handler multiprocessing's server
    hands to the processes it forks (it ignores the signal itself). That is Python's
    own, or ``SIG_IGN`` when the sweep's process had SIGINT ignored (a script's
    ``cmd &``): its workers never take a Ctrl-C then, as it does not.
    """
    global server_pid
    server_pid = os.getpid()
    atexit.register(_leave_at_once)
    # a plug-in that fails to load as warm() imports gdlab.optim: the sweep's process told it
    warnings.simplefilter("ignore", PluginWarning)
    with contextlib.suppress(BaseException):
        started = signal.signal(signal.SIGINT, signal.SIG_IGN)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        try:
            warm()
        finally:
            signal.signal(signal.SIGINT, started)
