"""How gdlab's processes end: the command and the sweep's fork server skip the
interpreter's teardown, and lose nothing by it (output, exit code, exit handlers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gdlab import _warm


def python(code: str, folder, *args: str) -> subprocess.CompletedProcess:
    """``code`` run as a script (in ``folder``) by a new interpreter, with ``args``."""
    script = folder / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, timeout=240, cwd=folder,
    )  # fmt: skip


class Left(Exception):
    """Raised by a stand-in for ``os._exit``."""


@pytest.fixture
def exits(monkeypatch):
    """``os._exit`` made to raise :class:`Left` with its code, so that a test survives it."""

    def stand_in(code):
        raise Left(code)

    monkeypatch.setattr(os, "_exit", stand_in)


# --------------------------------------------------------------------------- the command


def test_the_command_keeps_its_exit_code_and_all_its_output(tmp_path):
    """Through a pipe, stdout is block-buffered: all of it comes out before the process ends."""
    done = subprocess.run(
        [sys.executable, "-m", "gdlab", "race", "bowl", "--steps", "1500", "--print-every", "1",
         "--no-figures", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 65536  # more than a pipe holds: written while the reader reads
    assert done.stdout.rstrip().splitlines()[-1].startswith("1500 ")  # the table's last step
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["status"] == "complete"


def test_the_command_exits_2_on_a_mistake():
    done = subprocess.run(
        [sys.executable, "-m", "gdlab", "race", "nowhere"], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("gdlab: error: experiment must be one of")
    assert "Traceback" not in done.stderr


def test_a_bug_in_the_command_exits_1_with_its_traceback(tmp_path):
    code = """
        import gdlab.cli as cli
        cli._run = lambda argv, stop: 1 / 0
        cli.console()
    """
    done = python(code, tmp_path)
    assert done.returncode == 1
    assert "ZeroDivisionError" in done.stderr
    assert "Traceback" in done.stderr


def test_the_commands_exit_still_runs_the_other_exit_handlers(tmp_path):
    """Handlers registered while the command ran (a library's cleanup) run before it ends;
    so do weakref finalizers (a TemporaryDirectory left to the exit)."""
    done = python(
        """
        import atexit, sys, tempfile
        from pathlib import Path
        import gdlab.cli as cli

        def main():
            atexit.register(lambda: Path(sys.argv[1], "handler").write_text("ran"))
            kept = tempfile.TemporaryDirectory(dir=sys.argv[1])
            Path(sys.argv[1], "tmp").write_text(kept.name)
            globals()["kept"] = kept  # left for the exit to clean up
            print("printed, not flushed", end="")
            return 3

        cli._run = lambda argv, stop: main()
        cli.console()
        """,
        tmp_path,
        str(tmp_path),
    )
    assert done.returncode == 3
    assert done.stdout == "printed, not flushed"
    assert (tmp_path / "handler").read_text() == "ran"
    assert not os.path.exists((tmp_path / "tmp").read_text())


def test_exit_handlers_registered_before_the_command_run_too(tmp_path):
    """A handler from before ``console`` (coverage's, a sitecustomize's) runs as it would
    at Python's exit, after those registered while the command ran."""
    done = python(
        """
        import atexit, sys
        from pathlib import Path
        atexit.register(lambda: Path(sys.argv[1], "order").open("a").write("before\\n"))
        import gdlab.cli as cli

        def main():
            atexit.register(lambda: Path(sys.argv[1], "order").open("a").write("during\\n"))
            return 0

        cli._run = lambda argv, stop: main()
        cli.console()
        """,
        tmp_path,
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "order").read_text().split() == ["during", "before"]


def test_a_thread_still_running_is_waited_for(tmp_path):
    done = python(
        """
        import sys, threading, time
        import gdlab.cli as cli

        def main():
            def late():
                time.sleep(0.2)
                print("from the thread", end="")
            threading.Thread(target=late).start()
            return 0

        cli._run = lambda argv, stop: main()
        cli.console()
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from the thread"


def test_an_interrupt_before_mains_own_handling_exits_130(tmp_path):
    code = """
        import gdlab.cli as cli

        def main():
            raise KeyboardInterrupt

        cli._run = lambda argv, stop: main()
        cli.console()
    """
    done = python(code, tmp_path)
    assert done.returncode == 130
    assert done.stderr == "gdlab: interrupted\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_summary_that_cannot_be_written_exits_1_and_says_where_the_report_is(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "gdlab", "race", "bowl", "--steps", "5", "--quiet",
             "--no-figures", "--out", str(tmp_path / "r")],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, env=env,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        "gdlab: error: the summary could not be printed (No space left on device); "
        f"the report is in {tmp_path / 'r'}\n"
    )
    assert json.loads((tmp_path / "r" / "results.json").read_text())["status"] == "complete"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_output_left_unwritten_at_the_end_is_told_with_exit_code_1(tmp_path):
    code = """
        import gdlab.cli as cli

        def main():
            print("the ranking", end="")  # buffered: written at the exit
            return 0

        cli._run = lambda argv, stop: main()
        cli.console()
    """
    (tmp_path / "script.py").write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, str(tmp_path / "script.py")], stdout=full, stderr=subprocess.PIPE,
            text=True, timeout=120, env=env,
        )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr == "gdlab: error: the output could not be written (No space left on device)\n"
    )


def _signal_when(process, ready, signum) -> str:
    """Send ``signum`` to ``process`` once ``ready()`` is true (or it has ended); its stderr."""
    try:
        while not ready() and process.poll() is None:
            time.sleep(0.02)
        process.send_signal(signum)
        return process.communicate(timeout=120)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_keep_what_finished_as_ctrl_c_does(tmp_path, name):
    signum = getattr(signal, name)
    process = subprocess.Popen(
        [sys.executable, "-m", "gdlab", "race", "moons", "--steps", "200000", "--quiet",
         "--workers", "1", "--out", "R"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    err = _signal_when(process, lambda: list(tmp_path.glob(".R.tmp-*/results.json")), signum)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert err.startswith("gdlab: interrupted; ")
    assert len(err.splitlines()) == 1


QUICK_THEN_LONG = """\
[problem]
kind = "function"
function = "bowl"
[training]
steps = 5000000
[[runs]]
label = "A"
optimizer = "sgd"
steps = 3
[[runs]]
label = "B"
optimizer = "sgd"
steps = 3
[[runs]]
label = "Long"
optimizer = "adam"
"""


def _two_runs_staged(folder) -> bool:
    """Whether the race into ``folder/R`` has staged two runs (results.csv's rows).
    The first is kept by then; the second may not be yet: a stop that lands as its
    files are written leaves it out."""
    for staged in folder.glob(".R.tmp-*/results.csv"):
        try:
            if len(staged.read_text().splitlines()) > 2:
                return True
        except OSError:  # moved into place meanwhile
            pass
    return False


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_background_job_with_ctrl_c_ignored_still_stops_on_sigterm(tmp_path, name):
    """``gdlab … &`` from a script starts with SIGINT ignored: SIGTERM and SIGHUP still
    stop it as Ctrl-C would (what finished kept and said, 128 + the signal, nothing
    staged left behind)."""
    signum = getattr(signal, name)
    (tmp_path / "two.toml").write_text(QUICK_THEN_LONG)
    process = subprocess.Popen(
        [sys.executable, "-m", "gdlab", "race", "--config", "two.toml", "--no-figures",
         "--quiet", "--workers", "1", "--out", "R"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `cmd &` does
    )  # fmt: skip
    err = _signal_when(process, lambda: _two_runs_staged(tmp_path), signum)
    assert process.returncode == 128 + signum, err
    assert err == "gdlab: interrupted; the finished runs are in R\n"
    results = json.loads((tmp_path / "R" / "results.json").read_text())
    assert results["status"] == "interrupted"
    assert [run["label"] for run in results["runs"]] in (["A"], ["A", "B"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R", "two.toml"]


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
def test_a_sigterm_swallowed_by_a_c_callback_stops_a_job_with_ctrl_c_ignored(tmp_path):
    """As numba compiles, SIGTERM's exception can land in a ctypes callback, which
    swallows it: it is sent again, as SIGTERM, since SIGINT (ignored) would be lost."""
    code = """
        import ctypes, os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job starts
        import gdlab.cli as cli

        def callback():
            os.kill(os.getpid(), signal.SIGTERM)  # its Terminated goes no further

        def main(argv, command, stop):
            with cli._ctrl_c_never_lost(stop):
                ctypes.CFUNCTYPE(None)(callback)()
                for _ in range(1000):
                    time.sleep(0.01)
                print("ran on", end="")
            return 0

        cli._main = main
        cli.console()
    """
    done = python(code, tmp_path)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert done.stdout == ""
    assert "Exception ignored" not in done.stderr


def test_a_ctrl_c_its_starter_ignores_stays_ignored(tmp_path):
    code = """
        import os, signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job starts
        import gdlab.cli as cli

        def main():
            os.kill(os.getpid(), signal.SIGINT)
            print("ran on", end="")
            return 0

        cli._main = lambda argv, command, stop: main()  # under the command's handlers
        cli.console()
    """
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ran on"


# --------------------------------------------------------------------------- the fork server


def test_the_fork_server_ends_at_once(exits, monkeypatch, capsys):
    import atexit

    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: None)  # not this test's process's
    monkeypatch.setattr(_warm, "server_pid", os.getpid())
    print("a line not yet flushed", end="")
    with pytest.raises(Left) as left:
        _warm._leave_at_once()
    assert left.value.args == (0,)
    assert capsys.readouterr().out == "a line not yet flushed"


def test_a_process_forked_from_the_server_is_not_ended_by_its_handler(exits, monkeypatch):
    """A worker inherits the server's exit handlers: the handler ends only the server."""
    monkeypatch.setattr(_warm, "server_pid", os.getpid() + 1)
    assert _warm._leave_at_once() is None


def test_the_server_registers_its_quick_exit(monkeypatch):
    import atexit
    import signal

    registered = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(_warm, "warm", lambda: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # this process keeps its Ctrl-C
    monkeypatch.setattr(signal, "pthread_sigmask", lambda *args: None, raising=False)
    monkeypatch.setattr(_warm, "server_pid", None)
    _warm.prepare_server()
    assert registered == [_warm._leave_at_once]
    assert _warm.server_pid == os.getpid()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server: Linux only")
def test_a_pool_and_its_server_lose_no_output_when_the_process_ends(tmp_path):
    """The workers' lines come through the pool's pipe; the process ends with its code."""
    done = python(
        """
        import sys
        from gdlab import _pool
        from gdlab.sweep import Task, run_sweep

        def say(*, text, rng):
            print(text, end="")  # not flushed: the worker flushes before it leaves
            return {}

        if __name__ == "__main__":
            assert _pool.context().get_start_method() == "forkserver"
            tasks = [Task(f"say/{i}", {"text": f"<line {i}>"}) for i in range(4)]
            records = run_sweep(say, tasks, sys.argv[1], workers=2)
            print("", *sorted(r["status"] for r in records), end="")
            sys.exit(5)
        """,
        tmp_path,
        str(tmp_path / "say.jsonl"),
    )
    assert done.returncode == 5, done.stderr
    assert sorted(done.stdout.split(">")[:4]) == [f"<line {i}" for i in range(4)]
    assert done.stdout.endswith(" ok ok ok ok")


def test_the_fork_servers_quick_exit_runs_the_handlers_registered_before_it(exits, monkeypatch):
    """It unregisters itself, then runs the rest (atexit runs the last registered first:
    multiprocessing's own handler and a coverage's were registered before it)."""
    import atexit

    calls = []
    monkeypatch.setattr(_warm, "server_pid", os.getpid())
    monkeypatch.setattr(atexit, "unregister", lambda f: calls.append(("unregister", f)))
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: calls.append("the others"))
    with pytest.raises(Left):
        _warm._leave_at_once()
    assert calls == [("unregister", _warm._leave_at_once), "the others"]


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")
def test_a_hang_up_its_starter_ignores_stays_ignored(tmp_path):
    """nohup starts the command with SIGHUP ignored: a closed terminal must not stop it."""
    code = """
        import os, signal
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does
        import gdlab.cli as cli

        def main():
            os.kill(os.getpid(), signal.SIGHUP)
            print("ran on", end="")
            return 0

        cli._run = lambda argv, stop: main()
        cli.console()
    """
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ran on"


def test_a_profiler_saves_its_profile(tmp_path):
    """cProfile -o writes after the code returns: the command takes Python's own exit."""
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(tmp_path / "p.prof"), "-m", "gdlab",
         "--version"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.prof").stat().st_size > 0


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
@pytest.mark.parametrize(
    ("first", "then", "code"), [("SIGINT", "SIGTERM", 130), ("SIGTERM", "SIGINT", 143)]
)
def test_one_stop_among_ctrl_c_and_sigterm_keeps_what_finished(tmp_path, first, then, code):
    """After the first of them, the other is ignored too until what finished is kept,
    also across a worker's start (which saves and puts back SIGINT's handler)."""
    done = python(
        f"""
        import os, signal
        import gdlab.cli as cli
        from gdlab.sweep import interrupts_ignored

        def main(argv, command, stop):
            try:
                os.kill(os.getpid(), signal.{first})
                for _ in range(100000):
                    pass
                return 0
            except KeyboardInterrupt:
                with interrupts_ignored():  # as a pool's worker starts
                    pass
                os.kill(os.getpid(), signal.{then})  # while the finished runs are kept
                for _ in range(100000):
                    pass
                print("kept", end="")
                return cli.EXIT_INTERRUPTED

        cli._main = main
        cli.console()
        """,
        tmp_path,
    )
    assert done.returncode == code, done.stderr
    assert done.stdout == "kept"
