"""The sweep's workers fork from a warm server (gdlab._pool) and see what a spawned one sees."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys

import pytest

from gdlab import _pool, _warm, experiments, race
from gdlab.sweep import Task, run_sweep
from test_experiments import results, without_times

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork server is used on Linux only"
)


def probe(*, name: str = "GDLAB_POOL_PROBE", say: str = "", rng) -> dict:
    """What a worker sees when its task starts (a sweep task)."""
    if say:
        print(say, flush=True)
    return {
        "parent": os.getppid(),
        "server": getattr(sys.modules.get("gdlab._warm"), "server_pid", None),
        "preloaded": [m for m in ("gdlab._preload", "numba") if m in sys.modules],
        "value": os.environ.get(name),
        "draw": float(rng.random()),
    }


def sweep(tmp_path, file: str, **kwargs) -> list[dict]:
    tasks = [Task(f"probe/{i}", kwargs) for i in range(2)]
    return [r["result"] for r in run_sweep(probe, tasks, tmp_path / f"{file}.jsonl", workers=2)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The fork server, started by a first pool (before any test's capfd or env change)."""
    if _pool.context().get_start_method() != "forkserver":
        pytest.skip("this process's fork server was started by other code")
    sweep(tmp_path_factory.mktemp("pool"), "first")


def test_workers_fork_from_the_warm_server(server, tmp_path):
    seen = sweep(tmp_path, "forked")
    parents = {r["parent"] for r in seen}
    assert os.getpid() not in parents  # not spawned by this process: forked by the server
    assert parents == {r["server"] for r in seen}  # the parent a worker watches
    assert len(parents) == 1
    assert all(r["preloaded"] == ["gdlab._preload", "numba"] for r in seen)


def test_forked_workers_get_the_pools_environment_not_the_servers(server, tmp_path, monkeypatch):
    monkeypatch.setenv("GDLAB_POOL_PROBE", "set after the server started")
    assert {r["value"] for r in sweep(tmp_path, "set")} == {"set after the server started"}
    monkeypatch.delenv("GDLAB_CACHE_DIR")  # the suite's: set when the server started
    assert {r["value"] for r in sweep(tmp_path, "unset", name="GDLAB_CACHE_DIR")} == {None}


def test_a_changed_load_time_setting_makes_the_pool_spawn(server, tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_GDLAB_POOL_PROBE", "1")  # read when numba loads: cannot follow
    assert _pool.context().get_start_method() == "spawn"
    seen = sweep(tmp_path, "spawned", name="NUMBA_GDLAB_POOL_PROBE")
    assert {r["parent"] for r in seen} == {os.getpid()}
    assert {r["server"] for r in seen} == {None}  # a spawned worker watches this process
    assert {r["value"] for r in seen} == {"1"}
    monkeypatch.delenv("NUMBA_GDLAB_POOL_PROBE")
    assert _pool.context().get_start_method() == "forkserver"


def test_forked_workers_write_to_the_pools_standard_output(server, tmp_path, capfd):
    sweep(tmp_path, "printed", say="a line from a forked worker")
    out = capfd.readouterr().out
    assert out.count("a line from a forked worker") == 2


def test_forked_and_spawned_pools_give_the_same_race(server, tmp_path, monkeypatch):
    experiment = experiments.builtin("moons").merge_training(steps=20)

    def run(name):
        doc = race.run_experiment(
            experiment, tmp_path / name, progress=False, figures=False, workers=2
        )
        return without_times(doc), without_times(results(tmp_path / name))

    forked = run("forked")
    monkeypatch.setattr(_pool, "context", lambda: multiprocessing.get_context("spawn"))
    assert run("spawned") == forked


def test_the_preload_prepares_only_the_fork_server():
    """Imported elsewhere (pytest's doctests import every module) it changes nothing."""
    before = signal.getsignal(signal.SIGINT)
    sys.modules.pop("gdlab._preload", None)
    importlib.import_module("gdlab._preload")
    assert signal.getsignal(signal.SIGINT) is before


def test_the_servers_warm_up_runs_clean():
    """The server swallows every error of its warm-up (it must not die): here none is hidden."""
    steps = list(_warm.warm_ups())
    assert len(steps) >= 26  # three networks and the built-in experiments' runs, two dtypes
    for step in steps:
        step()


def _handler_seen(conn) -> None:
    """In a process the program starts itself through the fork server: its Ctrl-C handler."""
    conn.send(signal.getsignal(signal.SIGINT) is signal.default_int_handler)


def test_other_processes_of_the_fork_server_keep_their_ctrl_c(server):
    """gdlab's server is the program's fork server: a process the program starts through
    it later meets Ctrl-C as it would anywhere (KeyboardInterrupt), not gdlab's way."""
    context = multiprocessing.get_context("forkserver")
    ours, theirs = context.Pipe()
    process = context.Process(target=_handler_seen, args=(theirs,))
    process.start()
    try:
        assert ours.recv() is True
    finally:
        process.join(30)
    assert process.exitcode == 0


def test_importing_scikit_learn_after_the_server_keeps_the_fork_server():
    """scikit-learn sets Intel OpenMP's variables when imported, often after the server
    started: its values count as no change, so later pools still fork from the warm
    server; and a pool writes none of them into the environment itself."""
    import subprocess

    code = (
        "import os, sys\n"
        "from gdlab import _pool\n"
        "assert 'sklearn' not in sys.modules\n"
        "first = _pool.context().get_start_method()\n"
        "assert not [k for k in os.environ if k.startswith('KMP_')]\n"
        "import sklearn\n"
        "print(first, _pool.context().get_start_method())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMP_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["forkserver", "forkserver"]
