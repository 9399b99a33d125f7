"""Child processes for the recovery suites: forked writers that wait for a word, or die.

A child gets one end of a pipe: it says what it did (``receive``) and may wait
for ``"go"`` before it goes on; ``end`` lets it finish, or kills it with
SIGKILL as the OOM killer would.
"""

from __future__ import annotations

import contextlib
import multiprocessing

import pytest

FORK = multiprocessing.get_context("fork")


def start(target, *args):
    """``target(conn, *args)`` in a forked child; ``(process, our end of the pipe)``."""
    mine, theirs = FORK.Pipe()
    process = FORK.Process(target=target, args=(theirs, *args), daemon=True)
    process.start()
    theirs.close()
    return process, mine


def receive(process, conn, timeout: float = 60):
    """What the child sent; the test fails if it ended or hung without a word."""
    if conn.poll(timeout):
        with contextlib.suppress(EOFError):
            return conn.recv()
    process.kill()
    pytest.fail(f"the child ended ({process.exitcode}) or hung before it answered")


def end(process, conn=None, *, kill: bool = False) -> None:
    """Let ``process`` end (a message first, when it may wait for one; SIGKILL with ``kill``)."""
    if kill:
        process.kill()
    elif conn is not None and process.is_alive():
        with contextlib.suppress(OSError):
            conn.send("go")
    process.join(60)
    if process.is_alive():
        process.kill()
        process.join()
