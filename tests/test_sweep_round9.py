"""Round 9 of the sweep: Dask runs no finished task again, never waits on a worker's
restart, and gives a task whose worker died a new clock; a pool whose fork server
died goes on; a daemonic process is refused what would start processes.

The task functions live at module level: the workers import this module to find them.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from gdlab import _pool, sweep
from gdlab.sweep import Task, check_where, run_sweep


def counted(*, rng, log, name, die=False, sleep=0.0):
    """Note the task's start in ``log`` (a file); sleep; with ``die``, kill the worker."""
    with open(log, "a") as fh:
        fh.write(f"{name}\n")
    time.sleep(sleep)
    if die:
        os._exit(3)
    return {"draw": float(rng.standard_normal())}


def kill_fork_server(*, rng, kill=False):
    """With ``kill``: kill this worker's parent, the fork server (and with it the worker)."""
    if kill:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)
    return {"draw": float(rng.standard_normal())}


def quick(*, rng):
    return {"draw": float(rng.standard_normal())}


def _starts(log: Path) -> collections.Counter:
    return collections.Counter(log.read_text().split())


@pytest.fixture
def one_retry():
    """Dask retries a task that killed its worker once (default 3): a quicker test."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        yield


# --------------------------------------------------------------------------- 1: no rerun


def test_dask_a_lost_worker_runs_no_finished_task_again(tmp_path, one_retry):
    log = tmp_path / "starts.log"
    names = ["a0", "a1", "a2", "dies", "z0", "z1"]
    # "dies" runs a while first: the result of the task before it has reached this
    # process (Dask holds it on the worker until then, and a worker lost sooner loses it)
    tasks = [
        Task(name, {"log": str(log), "name": name, "die": name == "dies", "sleep": 0.5})
        for name in names
    ]
    records = run_sweep(counted, tasks, tmp_path / "s.jsonl", dask_local=1, progress=False)
    starts = _starts(log)
    # the finished tasks' results were dropped once written: none computed again
    assert {n: starts[n] for n in names if n != "dies"} == dict.fromkeys(names[:3] + names[4:], 1)
    assert starts["dies"] == 2  # Dask's own retry: allowed-failures + 1
    status = {r["id"]: (r["status"], r["error"] and r["error"]["type"]) for r in records}
    assert status.pop("dies") == ("failed", "distributed.scheduler.KilledWorker")
    assert set(status.values()) == {("ok", None)}


# --------------------------------------------------------------------------- 2: no wait


def test_dask_a_timed_out_tasks_restart_holds_up_no_other_task(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from distributed.scheduler import Scheduler

    others = 4
    written = threading.Event()  # every other task's record is written
    answered = []  # for each restart: whether those records were written before its answer
    real = Scheduler.restart_workers

    async def slow_restart(self, *args, **kwargs):  # the answer takes long to come
        import asyncio

        outcome = await real(self, *args, **kwargs)
        for _ in range(600):  # at most 30 s: the sweep without the fix waits here
            if written.is_set():
                break
            await asyncio.sleep(0.05)
        answered.append(written.is_set())
        return outcome

    monkeypatch.setattr(Scheduler, "restart_workers", slow_restart)
    seen = []

    def on_record(record):
        seen.append(record["id"])
        if sum(i.startswith("ok") for i in seen) == others:
            written.set()

    tasks = [Task("hang", {"sleep": 60.0})]
    tasks += [Task(f"ok{n}", {"sleep": 1.0}) for n in range(others)]
    records = run_sweep(
        sleepy, tasks, tmp_path / "s.jsonl", dask_local=2, timeout=2.5, progress=False,
        on_record=on_record,
    )  # fmt: skip
    assert written.is_set()
    assert answered in ([], [True])  # nobody waited on the restart's answer
    by_id = {r["id"]: r for r in records}
    assert by_id["hang"]["error"]["message"] == "timed out after 2.5 s"
    assert all(by_id[f"ok{n}"]["status"] == "ok" for n in range(others))


def sleepy(*, rng, sleep=0.0):
    time.sleep(sleep)
    return {"draw": float(rng.standard_normal())}


# --------------------------------------------------------------------------- 3: new clock


def test_dask_a_task_that_kills_its_worker_is_not_timed_out_while_it_restarts(tmp_path, one_retry):
    log = tmp_path / "starts.log"
    task = Task("dies", {"log": str(log), "name": "dies", "die": True})
    # a worker's restart takes longer than the timeout: the task's clock waits for it
    [record] = run_sweep(
        counted, [task], tmp_path / "s.jsonl", dask_local=1, timeout=1.0, progress=False
    )
    assert _starts(log)["dies"] == 2
    assert record["status"] == "failed"
    assert record["error"]["type"] == "distributed.scheduler.KilledWorker"
    assert "workers died" in record["error"]["message"]


def test_dask_gone_tells_a_task_lost_with_its_worker():
    processing = {"tcp://new": {"k"}}
    assert sweep._gone(processing, (0.0, "tcp://old"), "k")  # runs again elsewhere
    assert sweep._gone({}, (0.0, "tcp://old"), "k")  # waits for a worker
    assert not sweep._gone(processing, (0.0, "tcp://new"), "k")  # still where it started
    assert not sweep._gone(processing, None, "k")  # never said it started: its clock
    assert not sweep._gone(None, (0.0, "tcp://old"), "k")  # the scheduler did not say


# --------------------------------------------------------------------------- 4: fork server


class _Context:
    def __init__(self, method):
        self.method = method

    def get_start_method(self):
        return self.method


@pytest.mark.parametrize(("failures", "method"), [(1, "forkserver"), (2, "spawn"), (5, "spawn")])
def test_pool_a_failed_start_is_tried_again_then_spawned(monkeypatch, failures, method):
    tries = []

    def start(context):
        tries.append(context.get_start_method())
        if context.get_start_method() == "forkserver" and len(tries) <= failures:
            raise EOFError("unexpected EOF")  # the fork server died
        return context.get_start_method()

    monkeypatch.setattr(sweep._Worker, "start", staticmethod(start))
    monkeypatch.setattr(_pool, "spawn", lambda: _Context("spawn"))
    starter = sweep._Starter(_Context("forkserver"))
    assert starter() == method
    assert tries[: min(failures, 2)] == ["forkserver"] * min(failures, 2)
    assert starter() == method  # spawned once: spawned for the rest of the sweep
    assert starter.context.get_start_method() == method


def test_pool_a_spawn_that_fails_is_not_tried_again(monkeypatch):
    tries = []

    def start(context):
        tries.append(1)
        raise OSError("no")

    monkeypatch.setattr(sweep._Worker, "start", staticmethod(start))
    with pytest.raises(OSError, match="no"):
        sweep._Starter(_Context("spawn"))()
    assert tries == [1]


def test_pool_a_dead_fork_server_fails_its_workers_task_truthfully_and_the_sweep_goes_on(
    tmp_path,
):
    if _pool.context().get_start_method() != "forkserver":
        pytest.skip("workers are spawned here: no fork server")
    tasks = [Task("killer", {"kill": True}), Task("after")]
    records = run_sweep(
        kill_fork_server, tasks, tmp_path / "s.jsonl", workers=1, timeout=60, progress=False
    )
    killer, after = records
    assert killer["error"] == {
        "type": "RuntimeError",
        "message": "worker died (killed with its fork server, which ended)",
        "traceback": "",
    }
    assert after["status"] == "ok"


def test_pool_server_ended_tells_a_dead_process(tmp_path):
    if not os.path.exists("/proc/self/stat"):
        pytest.skip("no /proc")
    child = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    child.start()
    while child.is_alive() and not _pool.server_ended(child.pid):
        time.sleep(0.01)
    assert _pool.server_ended(child.pid)  # a zombie, not yet reaped
    child.join()
    assert _pool.server_ended(child.pid)  # reaped
    assert not _pool.server_ended(os.getpid())
    assert not _pool.server_ended(None)


# --------------------------------------------------------------------------- 5: daemonic


@pytest.fixture
def daemonic(monkeypatch):
    """This process as a multiprocessing Pool's worker sees itself."""
    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"workers": 2}, "workers must be 1 in a daemonic process .*; got workers=2"),
        ({"dask_local": 2}, "dask_local must be None in a daemonic process .*; got dask_local=2"),
        ({"timeout": 5}, "timeout must be None in a daemonic process .*; got timeout=5"),
    ],
)
def test_a_daemonic_process_is_refused_what_starts_processes(daemonic, tmp_path, where, message):
    arguments = {"workers": 1, "scheduler": None, "dask_local": None, "timeout": None, **where}
    with pytest.raises(ValueError, match=message):
        check_where(**arguments)
    out = tmp_path / "s.jsonl"
    with pytest.raises(ValueError, match=message):
        run_sweep(quick, [Task("a")], out, progress=False, **where)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_daemonic_process_runs_its_tasks_itself(daemonic, tmp_path):
    [record] = run_sweep(quick, [Task("a")], tmp_path / "s.jsonl", progress=False)
    assert record["status"] == "ok"


def test_a_race_in_a_daemonic_process_is_refused_before_it_writes(daemonic, tmp_path):
    from gdlab import experiments, race

    experiment = experiments.load("moons").merge_training(steps=5)
    with pytest.raises(ValueError, match="workers must be 1 in a daemonic process"):
        race.run_experiment(experiment, tmp_path / "nest", workers=2, figures=False,
                            progress=False)  # fmt: skip
    assert list(tmp_path.iterdir()) == []
