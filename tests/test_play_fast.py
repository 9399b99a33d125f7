"""gdlab play's fast paths: checked requests kept, cached answers at once, worker processes.

Each must answer exactly what the plain path answers: the same runs, bit
for bit, and the same errors.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gdlab.play import api

OPT = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _body(lr: float = 0.05, **extra) -> dict:
    runs = [{"optimizer": n, "hyperparameters": {"lr": lr}} for n in OPT]
    return {"function": "rosenbrock", "steps": 40, "runs": runs, **extra}


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch):
    monkeypatch.setattr(api, "RUNS", api._Cache())
    monkeypatch.setattr(api, "PREPARED", api._Cache(256))


def _without_cache(body: dict) -> dict:
    """The answer computed from scratch (nothing cached)."""
    runs, prepared = api.RUNS, api.PREPARED
    api.RUNS, api.PREPARED = api._Cache(), api._Cache()
    try:
        return api.paths(body)
    finally:
        api.RUNS, api.PREPARED = runs, prepared


def test_a_repeated_request_is_checked_once_and_answered_alike() -> None:
    first = api.paths(_body())
    assert len(api.PREPARED.items) == 1
    again = api.paths(_body())
    assert again == first == _without_cache(_body())
    held = [run["key"] for run in first["runs"][:4]]
    partly = api.paths(_body(have=held))
    assert [run.get("same") for run in partly["runs"]] == [True] * 4 + [None] * 2
    assert len(api.PREPARED.items) == 1  # have is not part of what is checked


def test_known_paths_answers_only_without_work() -> None:
    assert api.known_paths(_body()) is None  # never checked
    answer = api.paths(_body())
    assert api.known_paths(_body()) == answer
    assert api.known_paths(_body(lr=0.06)) is None  # new runs to compute
    assert api.known_paths(_body(have="all")) is None  # wrong: left to paths' error
    with pytest.raises(api.PlayError, match="have must be a list"):
        api.paths(_body(have="all"))
    assert api.known_paths([1, 2]) is None
    assert api.known_paths(None) is None


def test_only_plain_json_requests_are_kept() -> None:
    assert api._request_text(_body()) == repr({k: v for k, v in _body().items()})
    assert api._request_text(_body(have=["k"])) == api._request_text(_body())
    as_tuple = dict(_body(), runs=tuple(_body()["runs"]))
    assert api._request_text(as_tuple) is None
    with pytest.raises(api.PlayError, match="runs must be a list"):
        api.paths(as_tuple)
    # 0 and -0.0, 1 and 1.0 and True: told apart
    texts = {api._request_text(dict(_body(), start=[v, 1])) for v in (0, 0.0, -0.0, False)}
    assert len(texts) == 4


def test_an_invalid_request_is_not_kept() -> None:
    body = _body()
    body["runs"][0]["hyperparameters"]["lr"] = -1.0
    for _ in range(2):
        with pytest.raises(api.PlayError):
            api.paths(body)
    assert not api.PREPARED.items


def test_the_app_answers_cached_requests_without_a_worker(monkeypatch) -> None:
    from starlette.testclient import TestClient

    from gdlab.play import create_app

    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        first = client.post("/api/paths", json=_body()).json()
        monkeypatch.setattr(api, "paths", lambda body, deadline=None: pytest.fail("computed"))
        again = client.post("/api/paths", json=_body())
        assert again.status_code == 200
        assert again.json() == first


def test_a_play_error_crosses_processes_whole() -> None:
    error = api.PlayError("too long", status=503, field="runs", position=3)
    back = pickle.loads(pickle.dumps(error))
    assert (back.message, back.status, back.field, back.position) == ("too long", 503, "runs", 3)
    assert back.payload() == error.payload()


def test_worker_processes_compute_the_same_bits() -> None:
    reference = _without_cache(_body(lr=0.02))
    api.start_processes(1, warm=False)
    try:
        assert api._PROCESSES is not None
        _ready(api._PROCESSES, 1)  # (while it starts, runs are computed here)
        assert api.paths(_body(lr=0.02)) == reference
        api.RUNS = api._Cache()
        with pytest.raises(api.PlayError) as caught:
            api.paths(_body(lr=0.03), deadline=time.monotonic() - 1)
        assert caught.value.status == 503
    finally:
        api.stop_processes()
    assert api._PROCESSES is None


def _ready(pool, count: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while len(pool.idle_pids()) < count:
        assert time.monotonic() < end, "the workers did not start"
        time.sleep(0.05)


def test_runs_are_computed_here_while_every_worker_starts() -> None:
    reference = _without_cache(_body(lr=0.06))  # (compiles this process's kernels)
    api.start_processes(1, warm=True)  # a worker warms up for seconds before it is ready
    pool = api._PROCESSES
    try:
        assert pool.starting
        # not kept waiting for the worker: computed in this thread, well within 3 s
        assert api.paths(_body(lr=0.06), deadline=time.monotonic() + 3) == reference
    finally:
        api.stop_processes()


def test_a_dead_worker_is_replaced_and_its_run_computed_again() -> None:
    reference = _without_cache(_body(lr=0.04))
    api.start_processes(1, warm=False)
    pool = api._PROCESSES
    try:
        _ready(pool, 1)
        (dead,) = pool.pids()
        os.kill(dead, signal.SIGKILL)
        assert api.paths(_body(lr=0.04)) == reference
        assert api._PROCESSES is pool
        assert dead not in pool.pids()
        assert len(pool.pids()) == 1
    finally:
        api.stop_processes()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has ended


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_with_the_server_even_when_it_is_killed() -> None:
    script = (
        "import time\n"
        "from gdlab.play import api\n"
        "api.start_processes(1, warm=False)\n"
        "pool = api._PROCESSES\n"
        "while not pool.idle_pids():\n"
        "    time.sleep(0.05)\n"
        "assert pool.call(abs, (-1,), time.monotonic() + 60) == 1\n"
        "print(*pool.pids(), flush=True)\n"
        "time.sleep(120)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in server.stdout.readline().split()]
        assert workers
        assert all(_alive(pid) for pid in workers)
    finally:
        server.kill()
        server.wait(10)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)
