"""BLAS threads, held for a block: what makes a float32 product the same bits everywhere.

A BLAS may share a product's work out differently on different thread counts,
and its sums then round differently (measured: a float32 network's fit on one
and on two OpenBLAS threads ends in other bits). :func:`gdlab.train.fit` and
every sweep task compute with one thread (a setting of the whole process), held
here so that calls in several threads (play's server, a threaded Dask worker)
share one limit and the last to leave puts the library's setting back.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["blas_threads_held"]

#: threadpoolctl's view of the loaded libraries, and the modules it was taken after.
_BLAS_VIEW: list[Any] = [None, None]


def _blas_controller() -> Any:
    """A ``threadpoolctl.ThreadpoolController`` of the libraries loaded now.

    Making one reads the process's loaded libraries (3 ms), so it is kept and
    made again only when a module was imported or removed since: a BLAS comes
    with the extension module that links it (NumPy's, SciPy's, torch's).
    """
    from threadpoolctl import ThreadpoolController  # comes with scikit-learn

    modules = sys.modules
    seen = (len(modules), next(reversed(modules)))
    if _BLAS_VIEW[0] is None or _BLAS_VIEW[1] != seen:
        _BLAS_VIEW[:] = [ThreadpoolController(), seen]
    return _BLAS_VIEW[0]


#: The BLAS limit that the blocks running now in this process share:
#: ``[calls, threads, limiter]``. The limit is a setting of the whole process,
#: so calls in several threads take it once and the last to leave puts the
#: library's setting back (each call entering and leaving its own would let
#: one put it back under another still running).
_BLAS_HELD: list[Any] = [0, None, None]
_BLAS_LOCK = threading.Lock()


@contextlib.contextmanager
def blas_threads_held(threads: int | None) -> Iterator[None]:
    """BLAS on ``threads`` threads for the block (``None``: as the library is set).

    Once per call of :func:`gdlab.train.fit` or per sweep task, never per step:
    about 20 µs to enter and leave, plus 3 ms to look up the loaded libraries
    again when modules were imported since the last call (:func:`_blas_controller`).
    Blocks running at once share one count: another count while one is held is a
    ``ValueError`` (the first would run on the second's), not a wait (a block
    nested in another, in one thread, would wait for itself).
    """
    if threads is None:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS_HELD[0] == 0:
            limiter = _blas_controller().limit(limits=threads, user_api="blas")
            _BLAS_HELD[:] = [1, threads, limiter]
        elif _BLAS_HELD[1] == threads:
            _BLAS_HELD[0] += 1
        else:  # the count is the whole process's: two at once would run one on the other's
            raise ValueError(
                f"blas_threads must be {_BLAS_HELD[1]}, the count another block of this "
                f"process holds now (a fit or a sweep task), or None; got {threads}"
            )
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_HELD[0] -= 1
            if _BLAS_HELD[0] == 0:
                _BLAS_HELD[2].restore_original_limits()
                _BLAS_HELD[:] = [0, None, None]
