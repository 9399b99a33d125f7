"""Round 7 of the sweep: a tuning's own optimizers on workers, schedulers that cannot
work here or are lost, one timeout rule for every executor, and the CLI's word for
failed tasks.

The task functions live at module level: the workers import this module to find them.
"""

from __future__ import annotations

import re
import time

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.sweep import Task, _within, demo_task, run_sweep
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


def test_a_lost_scheduler_keeps_the_finished_tasks_and_says_so_in_one_line(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import gdlab.sweep

    real = gdlab.sweep._dask_record

    def record(distributed, future, task_id):
        if task_id == "a":
            return real(distributed, future, task_id)
        raise distributed.client.FutureCancelledError(future.key, "scheduler-connection-lost")

    monkeypatch.setattr(gdlab.sweep, "_dask_record", record)
    out = tmp_path / "sweep.jsonl"
    tasks = [Task("a", {}), Task("b", {"sleep": 0.5})]
    with pytest.raises(ConnectionError) as info:
        run_sweep(sleepy, tasks, out, dask_local=1, progress=False)
    message = str(info.value)
    assert message.startswith("lost the Dask scheduler of the local cluster (FutureCancelledError")
    assert message.endswith("run the sweep again to resume once the scheduler is back")
    assert distributed is not None
    monkeypatch.undo()
    records = run_sweep(sleepy, tasks, out, progress=False)  # resumes: "a" is kept
    assert [r["status"] for r in records] == ["ok", "ok"]


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
