"""Imported by the sweep's fork server (:data:`gdlab._pool.PRELOAD`) to prepare it:
see :mod:`gdlab._warm`.

Imported anywhere else (a doctest run that imports every module, say), it does
nothing: only multiprocessing's fork server, importing its preload, is made one.
"""

import sys
from multiprocessing import forkserver


def _in_fork_server() -> bool:
    """Whether multiprocessing's fork server is importing this module (its preload)."""
    frame = sys._getframe()
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename == forkserver.__file__:
            return True
        frame = frame.f_back
    return False


if _in_fork_server():
    from gdlab._warm import prepare_server

    prepare_server()
