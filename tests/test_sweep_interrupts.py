"""Ctrl-C during a sweep: never lost, never a traceback from a worker, whatever the executor.

A terminal's Ctrl-C sends SIGINT to every process of the foreground group: the
sweep's process, the fork server, the workers, a Dask cluster's processes. Only
the sweep's process may act on it (KeyboardInterrupt, the finished tasks
written); the others must ignore it and end quietly when the sweep stops them.

The tests run each sweep in a process of its own, in a new session (one process
group, as in a terminal), and make the awkward moment happen on purpose:
SIGINT sent from a hook while the fork server is starting, a pipe closed while
a worker is running a task.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gdlab import _pool, sweep
from gdlab.sweep import Task, demo_task, run_sweep

IN_CI = os.environ.get("CI", "").lower() == "true"
LINUX = sys.platform.startswith("linux")
SIGINT_BIT = 1 << (signal.SIGINT - 1)  # in /proc/PID/status's signal masks
SIGHUP_BIT = 1 << (getattr(signal, "SIGHUP", 1) - 1)

#: A task function that reports the signal state of its worker and of the worker's
#: parent (the fork server, for a pool on Linux), from /proc.
PROBE = """
import os


def masks(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("SigBlk", "SigIgn"):
                fields[name] = int(value, 16)
    return fields


def probe(*, rng):
    return {"worker": masks(os.getpid()), "parent": masks(os.getppid())}
"""


def interruptible() -> None:
    """In the child before it starts: SIGINT as a terminal's foreground job has it
    (a suite started in the background inherits it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(script: str, *args: str | Path) -> subprocess.Popen:
    """``script`` in a new Python process, a process group of its own (as in a terminal)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=interruptible,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return out.decode(), err.decode()


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def distributed():
    """The ``distributed`` module, or skip (fail under CI=true) without it."""
    try:
        import distributed
    except ImportError:
        if IN_CI:
            pytest.fail('dask[distributed] is required in CI (CI=true): pip install "gdlab[dask]"')
        pytest.skip("dask[distributed] is not installed")
    return distributed


# --------------------------------------------------------------------------- held, not lost

HELD = """
import os, signal, sys, time
from gdlab.sweep import interrupts_ignored

reached = False
try:
    with interrupts_ignored():
        os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C while a worker starts
        time.sleep(0.3)
        reached = True
except KeyboardInterrupt:
    held = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    print("raised after the start", reached, signal.SIGINT in held,
          signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    sys.exit(130)
print("lost")
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_ctrl_c_while_a_worker_starts_is_raised_once_it_has_started():
    process = start(HELD)
    out, err = finish(process, timeout=60)
    assert (process.returncode, out, err) == (130, "raised after the start True False True\n", "")


RACE_THE_SERVER = """
import sys
from multiprocessing import forkserver
import os, signal

from gdlab.sweep import Task, demo_task, run_sweep

real = forkserver.ForkServer.ensure_running
sent = []


def ensure_running(self):
    real(self)
    if not sent:  # the server is importing gdlab and warming up: Ctrl-C, to all of us
        sent.append(True)
        os.killpg(0, signal.SIGINT)


forkserver.ForkServer.ensure_running = ensure_running
tasks = [Task(f"slow/{i:02d}", {"draws": 3, "sleep": 0.3}) for i in range(12)]
try:
    run_sweep(demo_task, tasks, sys.argv[1], workers=2, progress=False)
except KeyboardInterrupt:
    print("interrupted", sent)
    sys.exit(130)
print("finished", sent)
"""


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's")
def test_ctrl_c_while_the_fork_server_starts_stops_the_sweep(tmp_path):
    """The first pool waits seconds for the fork server to warm up; a Ctrl-C then
    was ignored (and the whole sweep ran). Now it stops the sweep once the worker is
    started, with one KeyboardInterrupt and not a word from the server or the workers."""
    out = tmp_path / "sweep.jsonl"
    process = start(RACE_THE_SERVER, out)
    stdout, stderr = finish(process)
    assert (process.returncode, stdout, stderr) == (130, "interrupted [True]\n", "")
    assert len(lines(out)) < 12


RUN_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from probe import probe
from gdlab.sweep import Task, run_sweep

where = json.loads(sys.argv[3])
records = run_sweep(probe, [Task(f"probe/{i}") for i in range(2)], sys.argv[2],
                    progress=False, **where)
print(json.dumps([r["result"] for r in records]))
"""


def probe(tmp_path: Path, **where) -> list[dict]:
    """What the workers of a sweep run with ``where`` (its executor) report."""
    (tmp_path / "probe.py").write_text(PROBE)
    process = start(RUN_PROBE, tmp_path, tmp_path / "probe.jsonl", json.dumps(where))
    out, err = finish(process)
    assert process.returncode == 0, err
    return json.loads(out)


@pytest.mark.skipif(not LINUX, reason="/proc and the fork server are Linux's")
def test_the_fork_server_and_its_workers_ignore_ctrl_c_and_do_not_hold_it(tmp_path):
    """The fork server is started with SIGINT blocked (so that a Ctrl-C during its
    start waits); it must ignore it and unblock it, and so must the workers."""
    for result in probe(tmp_path, workers=2):
        for process in ("worker", "parent"):  # the parent: the fork server
            assert result[process]["SigIgn"] & SIGINT_BIT, (process, result)
            assert not result[process]["SigBlk"] & SIGINT_BIT, (process, result)


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_dask_local_workers_never_see_ctrl_c(tmp_path, distributed):
    """A LocalCluster's worker processes (and their nannies' restarts) are started
    by its event loop thread, which the sweep starts with SIGINT blocked: they keep
    it blocked, so that a Ctrl-C reaches the sweep's process only."""
    for result in probe(tmp_path, dask_local=1):
        assert result["worker"]["SigBlk"] & SIGINT_BIT, result
        assert result["worker"]["SigBlk"] & SIGHUP_BIT, result  # a closed terminal's too


TRACKER = """
import sys
from multiprocessing import resource_tracker
sys.path.insert(0, sys.argv[1])
from probe import masks
from gdlab.sweep import interrupts_ignored

with interrupts_ignored():  # the first workers start: the resource tracker with them
    pass
print(masks(resource_tracker._resource_tracker._pid)["SigBlk"])
"""


@pytest.mark.skipif(not LINUX, reason="/proc is Linux's")
def test_the_resource_tracker_never_sees_a_hang_up(tmp_path):
    """It ignores SIGINT and SIGTERM, not SIGHUP: a closed terminal (timeout -s HUP)
    killed it, the next process that used it started another, and that one printed
    a traceback for each resource the first had tracked, after the command ended."""
    (tmp_path / "probe.py").write_text(PROBE)
    process = start(TRACKER, tmp_path)
    out, err = finish(process, timeout=60)
    assert process.returncode == 0, err
    assert int(out) & SIGHUP_BIT


# --------------------------------------------------------------------------- quiet workers


@pytest.mark.skipif(not LINUX, reason="the fork server is Linux's")
def test_a_worker_whose_sweep_hung_up_exits_quietly(capfd):
    """Ctrl-C: the sweep stops and closes its pipes while a worker runs a task; the
    worker's record then has nowhere to go. It must leave without a traceback."""
    worker = sweep._Worker.start(_pool.context())
    try:
        task = Task("slow", {"sleep": 0.5})
        worker.assign(task, pickle.dumps((demo_task, task.id, dict(task.kwargs), 0)))
        end = time.monotonic() + 60
        while worker.started is None:
            assert time.monotonic() < end, "the worker did not start the task"
            worker.conn.poll(0.05)
            worker.receive(demo_task)
        worker.conn.close()  # the sweep is gone while the task runs
        worker.process.join(30)
    finally:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
    assert worker.process.exitcode == 0
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err
    assert "BrokenPipeError" not in err, err


class Recorder:
    """A stand-in for a worker's process and pipe that notes what is done to them."""

    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.name = calls, name

    def kill(self) -> None:
        self.calls.append(f"{self.name}.kill")

    def close(self) -> None:
        self.calls.append(f"{self.name}.close")

    def join(self, timeout: float | None = None) -> None:
        self.calls.append(f"{self.name}.join")

    def is_alive(self) -> bool:
        return False


def test_stopping_a_worker_now_kills_it_before_hanging_up():
    """Hanging up first left a window in which a worker that finished its task met the
    closed pipe (BrokenPipeError, printed); killed first, it cannot."""
    calls: list[str] = []
    worker = sweep._Worker(Recorder(calls, "process"), Recorder(calls, "pipe"))
    worker.stop(now=True)
    assert calls == ["process.kill", "pipe.close", "process.join"]
    calls.clear()
    worker.stop(now=False)  # at the end of a sweep: hang up, the idle worker leaves
    assert calls == ["pipe.close", "process.join"]


# --------------------------------------------------------------------------- Dask

DASK_TASKS = [Task(f"slow/{i:02d}", {"draws": 3, "sleep": 0.3}) for i in range(24)]

RUN_DASK = """
import sys
from gdlab.sweep import Task, demo_task, run_sweep

tasks = [Task(f"slow/{i:02d}", {"draws": 3, "sleep": 0.3}) for i in range(24)]
try:
    run_sweep(demo_task, tasks, sys.argv[1], dask_local=2, progress=False)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


def test_dask_local_hang_up_to_the_group_is_one_line(tmp_path, distributed):
    """SIGHUP to the whole group (a closed terminal, timeout -s HUP) during gdlab tune
    --dask-local 2: the resource tracker died of it, and the one started again printed
    "resource_tracker: process died unexpectedly" and a KeyError traceback per
    resource the first had tracked, most of them after the command had ended (the
    pipe is read to its end: what the tracker writes later is read too)."""
    out = tmp_path / "T"
    argv = ["tune", "moons", "--steps", "6000", "--budget", "4", "--folds", "2",
            "--optimizers", "sgd,adam,rmsprop", "--quiet", "--dask-local", "2",
            "--out", str(out)]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gdlab", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=interruptible,
    )
    signal_when(process, lambda: any(lines(f) for f in out.glob("tasks-*.jsonl")), signal.SIGHUP)
    _, err = finish(process)
    assert (process.returncode, err) == (
        129,
        f"gdlab: interrupted; run the same command again to resume ({out})\n",
    )


def signal_when(process: subprocess.Popen, ready: Callable[[], bool], signum: int) -> None:
    """Send ``signum`` to ``process``'s group once ``ready()`` (records written), within
    120 s; the group is killed if anything goes wrong on the way."""
    try:
        end = time.monotonic() + 120
        while not ready():
            assert process.poll() is None, finish(process)
            assert time.monotonic() < end, "no records in 120 s"
            time.sleep(0.05)
        os.killpg(process.pid, signum)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def test_dask_local_ctrl_c_is_one_line_and_the_sweep_resumes(tmp_path, distributed):
    """Ctrl-C to the whole group (as a terminal sends it) with a LocalCluster: before,
    its worker processes printed KeyboardInterrupt tracebacks and Dask logged the
    cancelled tasks and the workers it killed. Now only the sweep's process hears
    it, the cluster goes quietly, and the same sweep run again finishes the rest."""
    out = tmp_path / "sweep.jsonl"
    process = start(RUN_DASK, out)
    signal_when(process, lambda: len(lines(out)) >= 2, signal.SIGINT)
    _, err = finish(process)
    assert (process.returncode, err) == (130, "interrupted\n")
    done = lines(out)
    assert 2 <= len(done) < len(DASK_TASKS)

    records = run_sweep(demo_task, DASK_TASKS, out, workers=2, progress=False)
    assert [r["id"] for r in records] == [t.id for t in DASK_TASKS]
    assert sorted(r["id"] for r in lines(out)) == [t.id for t in DASK_TASKS]  # each once
    assert lines(out)[: len(done)] == done  # what was written is kept
    assert all(r["status"] == "ok" for r in records)
