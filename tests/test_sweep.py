"""Sweeps: the task generator, the three executors, failures, resuming, errors.

The Dask tests are named ``test_dask_*`` (``pytest -k dask`` selects them).
They are skipped where ``distributed`` is missing, except under ``CI=true``,
where they fail: CI must run them (install ``dask[distributed]``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gdlab.sweep import Task, demo_task, run_sweep, task_key, task_rng

IN_CI = os.environ.get("CI", "").lower() == "true"

#: The same sweep on every executor: 12 tasks, each drawing numbers and fitting
#: a small linear regression from its own generator; one of them fails.
TASKS = [
    Task(
        f"sgd/steps={steps}/seed={seed}",
        {"draws": 4, "steps": steps, "fail": "seed 2 is cursed" if seed == 2 else None},
    )
    for steps in (10, 20, 30)
    for seed in range(4)
]


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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep run inline: the records every executor must reproduce."""
    out = tmp_path_factory.mktemp("reference") / "sweep.jsonl"
    return run_sweep(demo_task, TASKS, out, base_seed=7)


def lines(path: Path) -> list[dict]:
    text = path.read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def results(records: list[dict]) -> list:
    return [(r["id"], r["status"], r["result"]) for r in records]


def write_after(path: Path, count: int, process: subprocess.Popen, deadline: float = 60) -> None:
    """Wait until ``path`` holds ``count`` complete lines (the process still running)."""
    end = time.monotonic() + deadline
    while not path.exists() or path.read_bytes().count(b"\n") < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, f"fewer than {count} records in {deadline} s"
        time.sleep(0.02)


# --------------------------------------------------------------------------- task_rng


def test_task_rng_is_deterministic_and_depends_on_id_and_seed():
    a = task_rng(0, "adam/lr=0.001/fold=2/seed=0").random(5)
    np.testing.assert_array_equal(a, task_rng(0, "adam/lr=0.001/fold=2/seed=0").random(5))
    assert not np.array_equal(a, task_rng(0, "adam/lr=0.001/fold=2/seed=1").random(5))
    assert not np.array_equal(a, task_rng(1, "adam/lr=0.001/fold=2/seed=0").random(5))
    # The documented recipe: SeedSequence([base_seed, first 128 bits of sha256(id)]).
    import hashlib

    key = int.from_bytes(hashlib.sha256(b"x").digest()[:16], "big")
    expected = np.random.default_rng(np.random.SeedSequence([3, key])).random(3)
    np.testing.assert_array_equal(task_rng(3, "x").random(3), expected)


# --------------------------------------------------------------------------- inline


def test_inline_sweep_streams_one_record_per_task(tmp_path, reference):
    out = tmp_path / "sweep.jsonl"
    records = run_sweep(demo_task, TASKS, out, base_seed=7)
    assert lines(out) == records  # the file holds exactly what was returned
    assert [r["id"] for r in records] == [t.id for t in TASKS]
    assert results(records) == results(reference)
    for r in records:
        assert list(r) == ["id", "key", "status", "result", "error", "seconds", "worker"]
        assert r["seconds"] >= 0
        assert r["worker"] == f"{socket.gethostname()}:{os.getpid()}"
    ok = records[0]["result"]
    assert set(ok) == {"draws", "mean", "loss", "w"}
    # NumPy arrays and scalars came back as plain lists and floats, from the task's rng.
    assert ok["draws"] == task_rng(7, TASKS[0].id).standard_normal(4).tolist()
    assert type(ok["mean"]) is float
    assert len(ok["w"]) == 3


def test_a_finished_sweep_runs_nothing_again(tmp_path):
    out = tmp_path / "sweep.jsonl"
    first = run_sweep(demo_task, TASKS[:5], out)
    before = out.read_bytes()
    assert run_sweep(demo_task, TASKS[:5], out) == first
    assert out.read_bytes() == before
    # More tasks later: only the new ones run, the records come in the order of tasks.
    more = run_sweep(demo_task, TASKS[:8], out)
    assert more[:5] == first
    assert out.read_bytes().startswith(before)
    assert len(lines(out)) == 8


# --------------------------------------------------------------------------- executors


def test_two_processes_give_the_same_records(tmp_path, reference):
    out = tmp_path / "sweep.jsonl"
    records = run_sweep(demo_task, TASKS, out, base_seed=7, workers=2)
    assert results(records) == results(reference)
    assert sorted(r["id"] for r in lines(out)) == sorted(t.id for t in TASKS)
    assert all(r["worker"] != f"{socket.gethostname()}:{os.getpid()}" for r in records)


def test_dask_local_cluster_gives_the_same_records(tmp_path, reference, distributed):
    records = run_sweep(demo_task, TASKS, tmp_path / "sweep.jsonl", base_seed=7, dask_local=2)
    assert results(records) == results(reference)
    assert all(r["worker"].startswith("tcp://") for r in records)


@pytest.fixture
def dask_cluster(tmp_path, distributed):
    """A scheduler and two one-thread workers, each a ``dask`` command of its own."""
    scheduler_file = tmp_path / "s.json"
    log = tmp_path / "dask.log"
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        with open(log, "ab") as stderr:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *args],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,  # its own process group: stopped as a whole
                )
            )

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(scheduler_file))  # fmt: skip
        end = time.monotonic() + 60
        address = None
        while address is None:
            assert processes[0].poll() is None, log.read_text()
            assert time.monotonic() < end, "no scheduler file in 60 s:\n" + log.read_text()
            try:
                address = json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.05)
        for _ in range(2):
            start("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard")
        with distributed.Client(address, set_as_default=False, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_dask_cluster_of_separate_processes_gives_the_same_records(
    tmp_path, reference, dask_cluster
):
    out = tmp_path / "sweep.jsonl"
    records = run_sweep(demo_task, TASKS, out, base_seed=7, scheduler=dask_cluster)
    assert results(records) == results(reference)
    assert lines(out) == [records[[t.id for t in TASKS].index(r["id"])] for r in lines(out)]
    workers = {r["worker"] for r in records}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
    # The same cluster runs a second sweep with the same task ids (new keys).
    again = run_sweep(
        demo_task, TASKS, tmp_path / "again.jsonl", base_seed=7, scheduler=dask_cluster
    )
    assert results(again) == results(reference)


# --------------------------------------------------------------------------- failures


def test_a_failed_task_is_recorded_and_the_others_finish(reference):
    failed = [r for r in reference if r["status"] == "failed"]
    assert [r["id"] for r in failed] == [t.id for t in TASKS if t.kwargs["fail"]]
    for r in failed:
        assert r["result"] is None
        assert r["error"]["type"] == "ValueError"
        assert r["error"]["message"] == "seed 2 is cursed"
        assert "in demo_task" in r["error"]["traceback"]
        assert r["error"]["traceback"].rstrip().endswith("ValueError: seed 2 is cursed")
    assert sum(r["status"] == "ok" for r in reference) == len(TASKS) - len(failed)
    assert all(r["error"] is None for r in reference if r["status"] == "ok")


def test_failed_tasks_are_run_again_only_with_retry_failed(tmp_path):
    out = tmp_path / "sweep.jsonl"
    tasks = [Task(f"t/{i}", {"fail": "no" if i == 1 else None}) for i in range(3)]
    run_sweep(demo_task, tasks, out)
    before = out.read_bytes()
    records = run_sweep(demo_task, tasks, out)
    assert out.read_bytes() == before  # nothing ran
    assert [r["status"] for r in records] == ["ok", "failed", "ok"]
    # the bug fixed: the task would pass now (its kwargs stand for the fix)
    fixed = [Task(t.id, {} if t.id == "t/1" else t.kwargs) for t in tasks]
    with pytest.raises(ValueError, match=r"task 't/1' .* other arguments, on line 2"):
        run_sweep(demo_task, fixed, out)  # a stale record is never reused
    assert out.read_bytes() == before
    records = run_sweep(demo_task, fixed, out, retry_failed=True)
    assert [r["status"] for r in records] == ["ok", "ok", "ok"]
    assert [r["id"] for r in lines(out)] == ["t/0", "t/2", "t/1"]  # the old record is gone


def ragged(rng):
    return {"n": np.int64(3), "x": np.float32(0.5), "a": np.arange(4).reshape(2, 2), "t": (1, "b")}


def not_a_number(rng):
    return {"loss": float("nan")}


def not_a_dict(rng):
    return [1, 2]


def int_keys(rng):
    return {1: "one"}


def an_object(rng):
    return {"f": object()}


@pytest.mark.parametrize(
    ("fn", "kind", "message"),
    [
        (not_a_number, "ValueError", "fn's result['loss'] must be finite (JSON has no NaN"),
        (
            not_a_dict,
            "TypeError",
            "fn's return value must be a dict of plain JSON data; got [1, 2]",
        ),
        (int_keys, "TypeError", "the keys of fn's result must be strings; got 1 (int)"),
        (an_object, "TypeError", "fn's result['f'] must be plain JSON data"),
    ],
)
def test_results_that_are_not_json_fail_the_task(tmp_path, fn, kind, message):
    (record,) = run_sweep(fn, [Task("a", {})], tmp_path / "sweep.jsonl")
    assert record["status"] == "failed"
    assert record["error"]["type"] == kind
    assert record["error"]["message"].startswith(message)


def test_numpy_results_become_plain_data(tmp_path):
    (record,) = run_sweep(ragged, [Task("a", {})], tmp_path / "sweep.jsonl")
    assert record["result"] == {"n": 3, "x": 0.5, "a": [[0, 1], [2, 3]], "t": [1, "b"]}


def exits(rng):
    sys.exit(3)


def test_sys_exit_in_a_task_fails_that_task_only(tmp_path):
    (record,) = run_sweep(exits, [Task("a", {})], tmp_path / "sweep.jsonl")
    assert record["status"] == "failed"
    assert record["error"]["type"] == "SystemExit"
    assert record["error"]["message"] == "3"


CRASHY = """
import os

from gdlab.sweep import demo_task


def task(*, crash=False, rng):
    if crash:
        os._exit(3)  # the interpreter dies: no exception, no record
    return demo_task(rng=rng, sleep=0.1)
"""


def test_a_worker_that_dies_fails_its_task_only_and_the_sweep_goes_on(tmp_path, monkeypatch):
    (tmp_path / "crashy_sweep_tasks.py").write_text(CRASHY)
    monkeypatch.syspath_prepend(tmp_path)  # spawned workers get this sys.path too
    import crashy_sweep_tasks

    out = tmp_path / "sweep.jsonl"
    tasks = [Task(f"t/{i}", {"crash": i == 5}) for i in range(8)]
    records = run_sweep(crashy_sweep_tasks.task, tasks, out, workers=2)
    assert [r["id"] for r in records] == [t.id for t in tasks]
    assert sorted(r["id"] for r in lines(out)) == sorted(t.id for t in tasks)  # each once
    dead = records[5]
    assert (dead["status"], dead["result"]) == ("failed", None)
    assert dead["error"]["type"] == "RuntimeError"
    assert dead["error"]["message"] == "worker died (exit code 3)"
    healthy = [r for r in records if r["id"] != "t/5"]
    assert all(r["status"] == "ok" for r in healthy)
    for r in healthy:
        assert r["result"]["draws"] == task_rng(0, r["id"]).standard_normal(3).tolist()
    # Fixed, a retry runs the dead task alone.
    fixed = [Task(t.id, {} if t.id == "t/5" else t.kwargs) for t in tasks]
    again = run_sweep(crashy_sweep_tasks.task, fixed, out, retry_failed=True)
    assert [r["status"] for r in again] == ["ok"] * len(tasks)
    assert again[:5] == records[:5]


# --------------------------------------------------------------------------- resuming


@pytest.mark.parametrize(
    "change",
    [
        {"base_seed": 1},  # another seed: other draws
        {"tasks": [Task("t/0", {"draws": 2}), Task("t/1", {"draws": 4})]},  # other kwargs
    ],
    ids=["base_seed", "kwargs"],
)
def test_a_record_made_with_other_arguments_is_refused_not_reused(tmp_path, change):
    out = tmp_path / "sweep.jsonl"
    tasks = [Task("t/0", {"draws": 2}), Task("t/1", {"draws": 2})]
    first = run_sweep(demo_task, tasks, out)
    before = out.read_bytes()
    again = {"tasks": tasks, "base_seed": 0, **change}
    with pytest.raises(ValueError, match=r"other arguments, on line \d") as error:
        run_sweep(demo_task, again.pop("tasks"), out, **again)
    assert str(out) in str(error.value)
    assert out.read_bytes() == before  # nothing ran, nothing was rewritten
    assert run_sweep(demo_task, tasks, out) == first  # the same arguments: reused
    assert [r["key"] for r in first] == [task_key(t, 0) for t in tasks]


def test_a_record_from_before_keys_is_reused(tmp_path):
    out = tmp_path / "sweep.jsonl"
    tasks = [Task("t/0", {"draws": 2})]
    (record,) = run_sweep(demo_task, tasks, out)
    del record["key"]
    out.write_text(json.dumps(record) + "\n")
    (again,) = run_sweep(demo_task, tasks, out)
    assert again == record


SLOW = [Task(f"slow/{i:02d}", {"draws": 3, "sleep": 0.2}) for i in range(16)]

RUN_SLOW = """
import sys
from gdlab.sweep import Task, demo_task, run_sweep
tasks = [Task(f"slow/{i:02d}", {"draws": 3, "sleep": 0.2}) for i in range(16)]
run_sweep(demo_task, tasks, sys.argv[1], workers=2, progress=False)
"""


def interruptible() -> None:
    """In the child before it starts: SIGINT as a terminal's foreground job has it.

    A shell that runs the test suite in the background (``cmd &`` without job
    control) starts it with SIGINT ignored, and children inherit that; a
    Ctrl-C test would then see the child finish instead of stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_slow_sweep(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SLOW, str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the sweep and its workers: one process group
        preexec_fn=interruptible,
    )


def test_a_killed_sweep_resumes_every_task_exactly_once(tmp_path):
    out = tmp_path / "sweep.jsonl"
    process = start_slow_sweep(out)
    try:
        write_after(out, 4, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    data = out.read_bytes()
    done = data[: data.rfind(b"\n") + 1]  # the complete lines (a cut one may follow)
    finished = [json.loads(line) for line in done.splitlines()]
    assert 4 <= len(finished) < len(SLOW)
    # A crash in the middle of a write: half a record of a task not yet done.
    pending = next(t.id for t in SLOW if t.id not in {r["id"] for r in finished})
    with open(out, "ab") as fh:
        fh.write(json.dumps({"id": pending, "status": "ok", "result": {}}).encode()[:25])

    records = run_sweep(demo_task, SLOW, out, workers=2)
    written = lines(out)
    assert out.read_bytes().startswith(done)  # what was on disk is kept, not run again
    assert sorted(r["id"] for r in written) == [t.id for t in SLOW]  # each exactly once
    assert [r["id"] for r in records] == [t.id for t in SLOW]
    assert all(r["status"] == "ok" for r in records)
    for r in records:
        assert r["result"]["draws"] == task_rng(0, r["id"]).standard_normal(3).tolist()


def test_ctrl_c_stops_the_workers_and_leaves_every_finished_task_written(tmp_path):
    out = tmp_path / "sweep.jsonl"
    process = start_slow_sweep(out)
    try:
        write_after(out, 3, process)
        seen = out.read_bytes().count(b"\n")
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == -signal.SIGINT
    assert b"KeyboardInterrupt" in stderr
    written = lines(out)  # complete lines only
    assert seen <= len(written) < len(SLOW)
    assert len({r["id"] for r in written}) == len(written)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda out: run_sweep(demo_task, [Task("a", {}), Task("b", {}), Task("a", {})], out),
            ValueError,
            "task ids must be unique; got 'a' twice (tasks[0] and tasks[2])",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {})], out, workers=2, dask_local=2),
            ValueError,
            "workers > 1, scheduler and dask_local must be used one at a time; "
            "got workers=2, dask_local=2",
        ),
        (
            lambda out: run_sweep(demo_task, [], out, scheduler="tcp://h:1", dask_local=1),
            ValueError,
            "workers > 1, scheduler and dask_local must be used one at a time; "
            "got scheduler='tcp://h:1', dask_local=1",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {})], out, workers=0),
            ValueError,
            "workers must be an integer >= 1; got 0",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {})], out, dask_local=0),
            ValueError,
            "dask_local must be an integer >= 1; got 0",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {})], out, base_seed=-1),
            ValueError,
            "base_seed must be an integer >= 0; got -1",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {"rng": 1})], out),
            ValueError,
            "tasks[0].kwargs must be free of 'rng' (the sweep passes it); got {'rng': 1}",
        ),
        (
            lambda out: run_sweep(demo_task, [Task("a", {"x": {1, 2}})], out),
            ValueError,
            "tasks[0].kwargs must be plain JSON data (Object of type set",
        ),
        (
            lambda out: run_sweep(demo_task, [("a", {})], out),
            TypeError,
            "tasks[0] must be a Task; got ('a', {}) (tuple)",
        ),
        (
            lambda out: run_sweep(lambda rng: {}, [Task("a", {})], out, workers=2),
            TypeError,
            "fn must be a module-level function (picklable) to run in other processes",
        ),
        (
            lambda out: Task("a b", {}),
            ValueError,
            "Task id must be letters, digits (of any script) and",
        ),
        (
            lambda out: Task("", {}),
            ValueError,
            "Task id must be letters, digits (of any script) and",
        ),
        (lambda out: Task("a\nb", {}), ValueError, "Task id must be letters, digits"),
        (lambda out: Task(3, {}), TypeError, "Task id must be a str; got 3 (int)"),
        (lambda out: Task("a", [1]), TypeError, "Task 'a' kwargs must be a mapping; got [1]"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(tmp_path, call, error, message):
    out = tmp_path / "sweep.jsonl"
    with pytest.raises(error, match=re.escape(message)):
        call(out)
    assert not out.exists()  # refused before the file was touched


def test_a_file_of_another_sweep_is_refused(tmp_path):
    out = tmp_path / "sweep.jsonl"
    run_sweep(demo_task, [Task("other/0", {}), Task("other/1", {})], out)
    before = out.read_bytes()
    with pytest.raises(ValueError, match=re.escape("got task 'other/0' on line 1")) as info:
        run_sweep(demo_task, [Task("mine/0", {})], out)
    assert "another sweep's" in str(info.value)
    assert out.read_bytes() == before


def test_a_damaged_line_before_the_last_is_refused(tmp_path):
    out = tmp_path / "sweep.jsonl"
    out.write_text('{"id": "a", "status": "ok"}\n{"id": "b", "sta\n{"id": "c", "status": "ok"}\n')
    tasks = [Task(x, {}) for x in "abc"]
    with pytest.raises(ValueError, match=re.escape("sweep.jsonl, line 2 must be a sweep record")):
        run_sweep(demo_task, tasks, out)
    out.write_text('{"id": "a", "status": "ok"}\n{"id": "a", "status": "ok"}\n')
    with pytest.raises(ValueError, match=re.escape("got task 'a' on lines 1 and 2")):
        run_sweep(demo_task, tasks, out)


def test_dask_missing_asks_for_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    out = tmp_path / "sweep.jsonl"
    for option in ({"dask_local": 2}, {"scheduler": "tcp://127.0.0.1:8786"}):
        with pytest.raises(ImportError, match=re.escape('pip install "gdlab[dask]"')):
            run_sweep(demo_task, [Task("a", {})], out, **option)
    assert not out.exists()


def test_dask_scheduler_that_is_not_there_fails_fast(tmp_path, distributed):
    import dask

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    message = f"cannot reach the Dask scheduler at {address!r}"
    # distributed is imported (the fixture) before dask.config.set: a set() made
    # before distributed loads its defaults would drop them when it ends.
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConnectionError, match=re.escape(message)),
    ):
        run_sweep(demo_task, [Task("a", {})], tmp_path / "sweep.jsonl", scheduler=address)
    with pytest.raises(
        ValueError, match=re.escape('scheduler must be a Dask address such as "tcp')
    ):
        run_sweep(demo_task, [Task("a", {})], tmp_path / "sweep.jsonl", scheduler="nowhere")
