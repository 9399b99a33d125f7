"""A command started with SIGINT ignored (a script's ``cmd &``): the workers it starts
keep it ignored from their first line, as it does.

:func:`gdlab.sweep.interrupts_ignored` caught SIGINT while a worker started, and
``exec`` resets a caught signal to the default: the fork server (and a spawned
worker) began with Python's handler, and :func:`gdlab._warm.prepare_server` put
Python's handler back in the server whatever it had, so forked workers had it too.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import signal, sys
    from gdlab import _pool
    from gdlab.sweep import interrupts_ignored


    def report(conn):  # the worker's first line
        conn.send(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


    if __name__ == "__main__":
        context = _pool.context() if sys.argv[1] == "forkserver" else _pool.spawn()
        assert context.get_start_method() == sys.argv[1]
        ours, theirs = context.Pipe()
        process = context.Process(target=report, args=(theirs,))
        with interrupts_ignored():  # as a sweep's worker starts
            process.start()
        print(ours.recv(), signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
        process.join()
    """
)


def _ignoring_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server: Linux only")
@pytest.mark.parametrize("method", ["forkserver", "spawn"])
@pytest.mark.parametrize("ignored", [True, False])
def test_a_worker_starts_with_sigint_as_its_command_has_it(tmp_path, method, ignored):
    script = tmp_path / "start_one.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), method],
        preexec_fn=_ignoring_sigint if ignored else None,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr) == (0, "")
    # ignored: the worker and the command both; else the worker has Python's handler
    # until its loop ignores SIGINT (its first line, which this worker does not run)
    assert done.stdout == ("True True\n" if ignored else "False False\n")
