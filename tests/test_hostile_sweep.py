"""Sweeps against hostile tasks and neighbours: two sweeps on one file, tasks that
hang or kill their worker, a parent killed with ``kill -9``.

The task functions live at module level: the process pool uses ``spawn``, so its
workers import this module to find them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gdlab import _io
from gdlab.sweep import Task, run_sweep


def task(*, rng, sleep=0.0, exit_code=None, kill=False):
    """Draws from its generator; may first sleep, leave with ``os._exit`` or SIGKILL itself."""
    if exit_code is not None:
        os._exit(exit_code)
    if kill:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(sleep)
    return {"draws": rng.standard_normal(3)}


def results(records):
    return [(r["id"], r["status"], r["result"]) for r in records]


def inline(tmp_path: Path, tasks: list[Task]) -> list:
    """What the healthy tasks give run inline, one after another, in this process."""
    healthy = [Task(t.id, {}) for t in tasks]
    return results(run_sweep(task, healthy, tmp_path / "inline.jsonl", base_seed=3))


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- one file, one sweep


def test_a_sweep_refuses_a_file_another_sweep_holds(tmp_path):
    out = tmp_path / "sweep.jsonl"
    with _io.exclusive(out, what="--out"), pytest.raises(_io.LockedError) as info:
        run_sweep(task, [Task("a", {})], out)
    message = str(info.value)
    assert message.startswith(f"{out} is in use by another gdlab process (pid {os.getpid()} on ")
    assert message.endswith("choose another results file (out)")
    assert not out.exists()  # refused before anything ran


RUN = """
import sys
from gdlab.sweep import Task, run_sweep
from test_hostile_sweep import task
tasks = [Task(f"t/{i}", {"sleep": 0.3}) for i in range(6)]
run_sweep(task, tasks, sys.argv[1], base_seed=3, progress=False)
"""


def test_two_sweeps_on_one_file_run_once_and_a_later_run_resumes(tmp_path):
    out = tmp_path / "sweep.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    first = subprocess.Popen([sys.executable, "-c", RUN, str(out)], env=env, stderr=subprocess.PIPE)
    tasks = [Task(f"t/{i}", {"sleep": 0.3}) for i in range(6)]
    try:
        end = time.monotonic() + 30
        while not out.exists() or not out.read_bytes():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < end
            time.sleep(0.02)
        with pytest.raises(_io.LockedError) as info:
            run_sweep(task, tasks, out, base_seed=3)
        assert f"{out} is in use by another gdlab process (pid {first.pid} on " in str(info.value)
        assert f": -c {out})" in str(info.value)  # the holder's command line
    finally:
        _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr.decode()
    before = out.read_bytes()
    assert sorted(r["id"] for r in lines(out)) == [t.id for t in tasks]  # each once
    records = run_sweep(task, tasks, out, base_seed=3)  # finished: nothing runs again
    assert out.read_bytes() == before
    assert results(records) == inline(tmp_path, tasks)
    assert not (tmp_path / "sweep.jsonl.lock").exists()


# --------------------------------------------------------------------------- timeouts

HANGS = [
    Task("t/0", {}),
    Task("t/hangs", {"sleep": 60}),
    Task("t/2", {"sleep": 0.2}),
    Task("t/3", {}),
]


def check_timed_out(records, tasks, reference, timeout="1.5"):
    assert [r["id"] for r in records] == [t.id for t in tasks]
    (hung,) = [r for r in records if r["id"] == "t/hangs"]
    assert (hung["status"], hung["result"]) == ("failed", None)
    assert hung["error"]["type"] == "TimeoutError"
    assert hung["error"]["message"] == f"timed out after {timeout} s"
    healthy = [(i, s, r) for i, s, r in results(records) if i != "t/hangs"]
    assert healthy == [(i, s, r) for i, s, r in reference if i != "t/hangs"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_past_its_timeout_fails_and_the_sweep_goes_on(tmp_path, workers):
    out = tmp_path / "sweep.jsonl"
    start = time.monotonic()
    records = run_sweep(task, HANGS, out, base_seed=3, workers=workers, timeout=1.5)
    assert time.monotonic() - start < 30  # nobody waited for the 60 s task
    check_timed_out(records, HANGS, inline(tmp_path, HANGS))
    assert lines(out) == [records[[t.id for t in HANGS].index(r["id"])] for r in lines(out)]
    assert 1.5 <= records[1]["seconds"] < 10


def test_dask_a_task_past_its_timeout_fails_and_the_sweep_goes_on(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "sweep.jsonl"
    start = time.monotonic()
    records = run_sweep(task, HANGS, out, base_seed=3, dask_local=2, timeout=1.5)
    assert time.monotonic() - start < 45
    check_timed_out(records, HANGS, inline(tmp_path, HANGS))


def test_a_timeout_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match=re.escape("timeout must be > 0; got 0")):
        run_sweep(task, [Task("a", {})], tmp_path / "sweep.jsonl", timeout=0)


# --------------------------------------------------------------------------- dead workers


def test_a_task_that_kills_its_worker_fails_alone_beside_healthy_ones(tmp_path):
    tasks = [
        Task("t/slow", {"sleep": 1.0}),  # runs beside the killers
        Task("t/exit", {"exit_code": 3}),
        Task("t/1", {}),
        Task("t/kill", {"kill": True}),
        Task("t/2", {}),
    ]
    out = tmp_path / "sweep.jsonl"
    records = run_sweep(task, tasks, out, base_seed=3, workers=2)
    by_id = {r["id"]: r for r in records}
    assert by_id["t/exit"]["error"]["message"] == "worker died (exit code 3)"
    assert by_id["t/kill"]["error"]["message"] == "worker died (killed by SIGKILL)"
    for dead in ("t/exit", "t/kill"):
        assert (by_id[dead]["status"], by_id[dead]["result"]) == ("failed", None)
        assert by_id[dead]["error"]["type"] == "RuntimeError"
    reference = inline(tmp_path, tasks)
    healthy = [x for x in results(records) if x[0] not in ("t/exit", "t/kill")]
    assert healthy == [x for x in reference if x[0] not in ("t/exit", "t/kill")]
    assert sorted(r["id"] for r in lines(out)) == sorted(t.id for t in tasks)


# --------------------------------------------------------------------------- kill -9 of the parent

PARENT = """
import sys
from gdlab.sweep import Task, run_sweep
from test_hostile_sweep import task
tasks = [Task(f"t/{i}", {"sleep": 60}) for i in range(4)]
run_sweep(task, tasks, sys.argv[1], workers=2, progress=False)
"""


def workers_of(parent: psutil.Process) -> list[psutil.Process]:
    """The pool's workers: spawned children, or children of the fork server (gdlab._pool)."""
    found = []
    for child in parent.children(recursive=True):
        try:
            line = " ".join(child.cmdline())
            forked = "forkserver" in line and child.ppid() != parent.pid
            if "spawn_main" in line or forked:
                found.append(child)
        except psutil.Error:
            continue
    return found


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped by init
    except psutil.NoSuchProcess:
        return True


def test_workers_end_when_their_parent_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    process = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sweep.jsonl")],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        parent = psutil.Process(process.pid)
        end = time.monotonic() + 30
        while len(workers := workers_of(parent)) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < end, "no two workers in 30 s"
            time.sleep(0.05)
        time.sleep(1.0)  # the workers are running their tasks
        process.send_signal(signal.SIGKILL)
        process.communicate()
        end = time.monotonic() + 5
        while not all(gone(w) for w in workers) and time.monotonic() < end:
            time.sleep(0.05)
        assert [w.pid for w in workers if not gone(w)] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for worker in workers_of(psutil.Process()):
            worker.kill()
