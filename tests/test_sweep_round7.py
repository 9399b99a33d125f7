"""Round 7 of the sweep: a tuning's own optimizers on workers, schedulers that cannot
work here or are lost, one timeout rule for every executor, and the CLI's word for
failed tasks.

The task functions live at module level: the workers import this module to find them.
"""

from __future__ import annotations

import asyncio
import gc
import math
import re
import threading
import time
import types
from pathlib import Path

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.sweep import Task, _dask_timed_out, _within, demo_task, run_sweep
from gdlab.tuning import tune


def sleepy(*, rng, sleep=0.0):
    time.sleep(sleep)
    return {"draw": float(rng.standard_normal())}


def _experiment(name):
    return builtin("bowl").select_optimizers([name, "sgd"]).merge_training(steps=5)


def _scores(document):
    return {
        label: [(c["hyperparameters"], c["mean_loss"], c["failed"]) for c in block["points"]]
        for label, block in document["configurations"].items()
    }


# --------------------------------------------------------------------------- 1: own optimizers


def test_tune_on_workers_imports_the_module_that_registered_an_optimizer(own_optimizer, tmp_path):
    inline = tune(_experiment(own_optimizer), tmp_path / "inline", budget=2, progress=False)
    pooled = tune(
        _experiment(own_optimizer), tmp_path / "pool", budget=2, progress=False, workers=2
    )
    assert pooled["failed"] == [] == inline["failed"]
    assert _scores(pooled) == _scores(inline)
    # the same tasks, wherever they ran: an inline resume of the pool's tuning runs none
    again = tune(_experiment(own_optimizer), tmp_path / "pool", budget=2, progress=False)
    assert _scores(again) == _scores(pooled)


def test_tune_refuses_an_optimizer_only_this_process_knows_before_any_task(
    main_only_optimizer, tmp_path
):
    out = tmp_path / "tune"
    with pytest.raises(ConfigError, match=r"'main_only' is registered in this process "
                       r"only \(in __main__\).*tune with workers=1"):  # fmt: skip
        tune(_experiment(main_only_optimizer), out, budget=2, progress=False, workers=2)
    assert not out.exists()
    document = tune(_experiment(main_only_optimizer), out, budget=2, progress=False)
    assert document["failed"] == []  # inline: it runs


# --------------------------------------------------------------------------- 2, 3: schedulers


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("tls://127.0.0.1:8799", "needs Dask's TLS settings, which are not set"),
        ("wss://127.0.0.1:8799", "needs Dask's TLS settings, which are not set"),
        ("ucx://127.0.0.1:8799", "no working ucx:// backend here (UCX needs distributed-ucxx"),
    ],
)
def test_a_scheme_that_cannot_work_here_is_refused_at_once(tmp_path, address, words):
    pytest.importorskip("distributed")
    out = tmp_path / "sweep.jsonl"
    # refused before Dask's client is made: nothing waits 60 s for it to close
    with pytest.raises(ValueError, match=re.escape(f"scheduler {address!r} ")) as info:
        run_sweep(demo_task, [Task("a", {})], out, scheduler=address, progress=False)
    assert words in str(info.value)
    assert not out.exists()


#: What Dask's client says to its own user when it loses the scheduler.
_DASK_ADVICE = (
    "Client lost the connection to the scheduler. Please check your connection and "
    "re-run your work."
)


def _scheduler_lost_after_the_first_task(monkeypatch, first: str | None) -> None:
    """The scheduler lost (as Dask says it) once the task ``first`` is recorded (at
    once: ``None``)."""
    import gdlab.sweep

    real = gdlab.sweep._dask_record

    def record(distributed, future, task_id):
        if task_id == first:
            return real(distributed, future, task_id)
        raise distributed.client.FutureCancelledError(
            future.key, "scheduler-connection-lost", _DASK_ADVICE
        )

    monkeypatch.setattr(gdlab.sweep, "_dask_record", record)


def test_a_lost_scheduler_keeps_the_finished_tasks_and_says_so_in_one_line(tmp_path, monkeypatch):
    """It pasted Dask's own advice ("re-run your work") and the task's key into it."""
    pytest.importorskip("distributed")
    from gdlab.sweep import SchedulerLost

    _scheduler_lost_after_the_first_task(monkeypatch, "a")
    out = tmp_path / "sweep.jsonl"
    tasks = [Task("a", {}), Task("b", {"sleep": 0.5})]
    with pytest.raises(ConnectionError) as info:
        run_sweep(sleepy, tasks, out, dask_local=1, progress=False)
    assert isinstance(info.value, SchedulerLost)
    assert str(info.value) == (
        "lost the Dask scheduler of the local cluster (FutureCancelledError: "
        "scheduler-connection-lost); the finished tasks are written: run the sweep again "
        "to resume once the scheduler is back"
    )
    monkeypatch.undo()
    records = run_sweep(sleepy, tasks, out, progress=False)  # resumes: "a" is kept
    assert [r["status"] for r in records] == ["ok", "ok"]


def test_gdlab_tune_tells_a_lost_scheduler_as_its_own_command_resumes(
    tmp_path, monkeypatch, capsys
):
    """It said "run the sweep again", and there is no gdlab sweep: the same command
    resumes."""
    pytest.importorskip("distributed")
    from gdlab import cli

    _scheduler_lost_after_the_first_task(monkeypatch, None)
    out = tmp_path / "T"
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--optimizers", "sgd", "--quiet",
            "--dask-local", "1", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        "gdlab: error: lost the Dask scheduler of the local cluster (FutureCancelledError: "
        "scheduler-connection-lost); the finished tasks are written: run the same command "
        "again to resume once the scheduler is back\n"
    )


# --------------------------------------------------------------------------- 4: one timeout rule


def test_a_record_of_a_task_that_ran_past_its_timeout_is_timed_out():
    done = {"id": "a", "status": "ok", "result": {}, "error": None, "seconds": 2.0, "worker": "w"}
    late = _within(done, 1.5)
    assert (late["status"], late["result"], late["seconds"]) == ("failed", None, 2.0)
    assert late["error"] == {
        "type": "TimeoutError",
        "message": "timed out after 1.5 s",
        "traceback": "",
    }
    assert _within(done, 2.5) is done
    assert _within(done, None) is done
    raised = {**done, "status": "failed", "result": None, "error": {"type": "ValueError"}}
    assert _within(raised, 1.5)["error"]["type"] == "TimeoutError"


def test_dask_a_quick_task_on_a_cold_worker_is_not_timed_out_and_a_slow_one_is(tmp_path):
    pytest.importorskip("distributed")
    tasks = [Task("quick", {"steps": 50}), Task("slow", {"sleep": 2.5})]
    records = run_sweep(
        demo_task, tasks, tmp_path / "sweep.jsonl", dask_local=1, timeout=1.0, progress=False
    )
    quick, slow = records
    assert quick["status"] == "ok", quick["error"]  # its clock started once its worker had
    assert (slow["status"], slow["error"]["message"]) == ("failed", "timed out after 1 s")


# --------------------------------------------------------------------------- 5: the CLI's word


def broken_task(**kwargs):
    raise ValueError("a bug in the task")


def test_the_cli_says_failed_not_raised_for_tasks_that_were_not_scored(
    tmp_path, capsys, monkeypatch
):
    from gdlab import cli, tuning

    monkeypatch.setattr(tuning, "tune_task", broken_task)
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--optimizers", "sgd", "--quiet",
            "--out", str(tmp_path / "T")]  # fmt: skip
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "gdlab: 3 task(s) failed and were not scored" in err, err
    assert "raised" not in err


# --------------------------------------------------------------------------- round 7b: review


def sleep_then_mark(*, rng, sleep, marker):
    time.sleep(sleep)
    Path(marker).touch()
    return {"draw": float(rng.standard_normal())}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_that_sleeps_twice_its_timeout_is_timed_out_and_a_quick_one_is_not(
    tmp_path, workers
):
    tasks = [Task("quick", {}), Task("slow", {"sleep": 0.6})]
    quick, slow = run_sweep(
        sleepy, tasks, tmp_path / "sweep.jsonl", workers=workers, timeout=0.3, progress=False
    )
    assert quick["status"] == "ok", quick["error"]
    assert (slow["status"], slow["result"]) == ("failed", None)
    assert slow["error"]["type"] == "TimeoutError"
    assert slow["error"]["message"] == "timed out after 0.3 s"
    assert slow["seconds"] >= 0.3


def test_a_task_that_came_back_after_its_deadline_unseen_is_timed_out(tmp_path):
    # While the sweep's process is busy (here: in on_record for "quick"), "late" runs
    # past its deadline and returns: its record comes back before the deadline is
    # looked at, and is recorded as timed out all the same.
    marker = tmp_path / "late.done"

    def busy(record):
        if record["id"] == "quick":
            for _ in range(300):  # until "late" has returned (at most 3 s)
                if marker.exists():
                    break
                time.sleep(0.01)
            time.sleep(0.2)  # its record is in the pipe

    tasks = [
        Task("quick", {"sleep": 0.0, "marker": str(tmp_path / "quick.done")}),
        Task("late", {"sleep": 0.8, "marker": str(marker)}),
    ]
    quick, late = run_sweep(
        sleep_then_mark,
        tasks,
        tmp_path / "sweep.jsonl",
        workers=2,
        timeout=0.4,
        progress=False,
        on_record=busy,
    )
    assert quick["status"] == "ok", quick["error"]
    assert (late["status"], late["result"]) == ("failed", None)
    assert late["error"] == {
        "type": "TimeoutError",
        "message": "timed out after 0.4 s",
        "traceback": "",
    }
    assert late["seconds"] >= 0.4


class _Client:
    """A Dask client's few methods that a timeout uses, on a worker ``tcp://w``."""

    def __init__(self, processing, restart="OK"):
        self.running = processing
        self.restart = restart
        self.cancelled = []

    def processing(self):
        return self.running

    def nthreads(self):
        return {"tcp://w": 2}

    def cancel(self, futures):
        self.cancelled.extend(futures)

    def restart_workers(self, workers, raise_for_error=True):
        if isinstance(self.restart, Exception):
            raise self.restart
        return {worker: self.restart for worker in workers}


class _Future:
    def __init__(self, key, done_at=math.inf, record=None):
        self.key, self.done_at, self.record = key, done_at, record

    def done(self):
        return time.monotonic() >= self.done_at

    def result(self):
        return self.record


#: A coroutine made and never awaited warns as it is collected (the warning goes to
#: sys.unraisablehook, which pytest turns into a warning of its own): both are errors.
_NO_COROUTINE_UNAWAITED = pytest.mark.filterwarnings(
    "error::RuntimeWarning", "error::pytest.PytestUnraisableExceptionWarning"
)


@_NO_COROUTINE_UNAWAITED
def test_dask_a_timeout_cancels_the_task_and_says_where_it_ran():
    client = _Client({"tcp://w": ["sweep-a-RUN", "sweep-b-RUN"]})
    future = _Future("sweep-a-RUN")
    processing = {"tcp://w": {"sweep-a-RUN", "sweep-b-RUN"}}
    record, _ = _dask_timed_out(client, future, "a", processing, 0.5, 0.75)
    assert client.cancelled == [future]
    assert record == {
        "id": "a",
        "status": "failed",
        "result": None,
        "error": {"type": "TimeoutError", "message": "timed out after 0.5 s", "traceback": ""},
        "seconds": 0.75,
        "worker": "tcp://w",
    }
    gc.collect()  # a restart's coroutine made but never run warns here


class _Scheduler:
    """The scheduler's two calls of a restart, for ``client.scheduler``."""

    def __init__(self):
        self.restarted = []

    async def identity(self):
        return {"workers": {"tcp://w": {"nanny": "tcp://n"}}}

    async def restart_workers(self, workers, **kwargs):
        self.restarted.extend(workers)
        return {worker: "OK" for worker in workers}


def _on_loop(client, loop):
    """``client`` with a scheduler and ``loop`` as its Dask loop's asyncio loop."""
    client.scheduler = _Scheduler()
    client.loop = types.SimpleNamespace(asyncio_loop=loop)
    return client


@_NO_COROUTINE_UNAWAITED
def test_dask_a_timeout_restarts_the_worker_on_the_clients_loop():
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        client = _on_loop(_Client({"tcp://w": ["sweep-a-RUN"]}), loop)
        _, restart = _dask_timed_out(
            client, _Future("sweep-a-RUN"), "a", {"tcp://w": {"sweep-a-RUN"}}, 0.5, 0.75
        )
        assert restart.result(timeout=30) == {"tcp://w": "OK"}
        assert client.scheduler.restarted == ["tcp://w"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


@_NO_COROUTINE_UNAWAITED
@pytest.mark.parametrize("loop", ["none", "closed", "closed before it runs the request"])
def test_dask_a_restart_the_clients_loop_never_runs_leaves_no_coroutine_unawaited(loop):
    """The coroutine was made before the loop was asked to run it: a client without a
    loop (closed), a closed loop or one closed with the request still queued dropped it
    never awaited (RuntimeWarning); the task's record is written all the same."""
    client = _Client({"tcp://w": ["sweep-a-RUN"]})
    asyncio_loop = None if loop == "none" else asyncio.new_event_loop()
    if asyncio_loop is not None:
        _on_loop(client, asyncio_loop)
        if loop == "closed":
            asyncio_loop.close()
    record, restart = _dask_timed_out(
        client, _Future("sweep-a-RUN"), "a", {"tcp://w": {"sweep-a-RUN"}}, 0.5, 0.75
    )
    if asyncio_loop is not None:
        asyncio_loop.close()  # the request queued on a loop that never ran is dropped
    del restart
    gc.collect()
    assert (record["status"], record["worker"]) == ("failed", "tcp://w")


class _Records:
    def __init__(self):
        self.records = []

    def write(self, record):
        self.records.append(record)


def test_dask_a_task_whose_start_is_never_heard_of_times_out_all_the_same(monkeypatch):
    import gdlab.sweep

    monkeypatch.setattr(gdlab.sweep, "_START_SECONDS", 0.0)
    done = {"id": "a", "status": "ok", "result": {}, "error": None, "seconds": 0.0, "worker": "w"}
    future = _Future("sweep-a-RUN", done_at=time.monotonic() + 1.0, record=done)
    sink = _Records()
    client = _Client({})
    gdlab.sweep._run_dask_deadlines(
        None, client, lambda task: future, lambda future: None, [Task("a", {})], 0.1, sink, {}
    )
    [record] = sink.records  # no start event: its clock started at its submission
    assert (record["id"], record["status"], record["error"]["type"]) == (
        "a",
        "failed",
        "TimeoutError",
    )
    assert record["seconds"] >= 0.1
    assert client.cancelled == [future]


def test_dask_a_worker_of_several_threads_warms_up_once(monkeypatch):
    distributed = pytest.importorskip("distributed")
    import gdlab._warm
    import gdlab.sweep

    calls = []
    everyone = threading.Event()

    def warm():
        calls.append(1)
        if len(calls) == 4:
            everyone.set()
        everyone.wait(0.5)  # without a lock, all four threads are in here at once

    events = []
    worker = types.SimpleNamespace(address="tcp://w", log_event=lambda *a: events.append(a))
    monkeypatch.setattr(distributed, "get_worker", lambda: worker)
    monkeypatch.setattr(gdlab._warm, "warm", warm)
    monkeypatch.setattr(gdlab.sweep, "_WARMED", False)
    barrier = threading.Barrier(4)
    records = []

    def task(n):
        barrier.wait()
        records.append(gdlab.sweep._execute_on_dask(sleepy, f"t{n}", {}, 0, "topic"))

    threads = [threading.Thread(target=task, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(r["id"] for r in records) == ["t0", "t1", "t2", "t3"]
    assert all(r["status"] == "ok" and r["worker"] == "tcp://w" for r in records)
    assert sorted(event[1][0] for event in events) == ["t0", "t1", "t2", "t3"]
    assert all(event[1][1] == "tcp://w" for event in events)


class _Imported(Exception):
    pass


def test_race_task_imports_its_modules_with_the_sweeps_import_modules(monkeypatch, tmp_path):
    import gdlab.sweep
    from gdlab.race import race_task

    seen = []

    def import_modules(modules, strict=True):
        seen.append(list(modules))
        raise _Imported

    monkeypatch.setattr(gdlab.sweep, "import_modules", import_modules)
    with pytest.raises(_Imported):
        race_task(config={}, run=0, seed=0, out=str(tmp_path), modules=("not.a.module",))
    assert seen == [["not.a.module"]]
