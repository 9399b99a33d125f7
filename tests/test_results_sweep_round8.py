"""Round 8: a Dask "scheduler" that is not one, the path a race names, a race into a
tuning's directory, and a second Ctrl-C while a stopped race keeps what finished."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gdlab import results
from gdlab._io import OutputError
from gdlab.cli import main as gdlab_main
from gdlab.experiments import builtin
from gdlab.sweep import Task, demo_task, run_sweep

# --------------------------------------------------------------------------- 1: not a scheduler


@contextlib.contextmanager
def _server(on_connection: Callable[[socket.socket], None]) -> Iterator[str]:
    """A local TCP server that hands each connection to ``on_connection``; its address."""
    listener = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):  # closed: the test is over
            while True:
                conn, _ = listener.accept()
                taken.append(conn)
                on_connection(conn)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for conn in taken:
            conn.close()


def _bad_request(conn: socket.socket) -> None:
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def _silent(conn: socket.socket) -> None:
    """Takes the connection and says nothing (a dashboard's port waiting for more)."""


def _ended(call: Callable[[], object], seconds: float = 60) -> BaseException | None:
    """What ``call`` raised, run on a thread; fails the test, not hangs it, if it never
    ends (before the fix a client of a silent server waited for ever)."""
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            raised.append(None)
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert raised, f"still waiting after {seconds} s"
    return raised[0]


@pytest.fixture
def short_deadline(monkeypatch):
    """Dask's connect timeout 1 s, and 0.2 s more to answer as a scheduler."""
    pytest.importorskip("distributed")  # loads Dask's defaults before the set() below
    import dask

    import gdlab.sweep

    monkeypatch.setattr(gdlab.sweep, "_ANSWER_SECONDS", 0.2)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        yield


@pytest.mark.parametrize(
    ("on_connection", "why"),
    [
        (_bad_request, "its answer is not a Dask scheduler's ("),
        (_silent, "it took the connection but gave no answer in 1.2 s"),
    ],
    ids=["http-400", "silent"],
)
def test_a_server_that_is_no_dask_scheduler_is_refused_in_one_line_before_writing(
    tmp_path, short_deadline, on_connection, why
):
    out = tmp_path / "sweep" / "tasks.jsonl"
    with _server(on_connection) as address:
        error = _ended(
            lambda: run_sweep(demo_task, [Task("a", {})], out, scheduler=address, progress=False)
        )
    assert isinstance(error, ConnectionError), repr(error)
    message = str(error)
    assert message.startswith(f"cannot use the Dask scheduler at {address!r}: {why}")
    assert "\n" not in message
    assert not (tmp_path / "sweep").exists()


def test_a_tuning_on_a_silent_server_fails_before_its_directory_is_made(tmp_path, short_deadline):
    from gdlab.tuning import tune

    experiment = builtin("bowl")
    experiment = experiment.replace(runs=experiment.runs[:1])
    out = tmp_path / "bowl-tune"
    with _server(_silent) as address:
        error = _ended(
            lambda: tune(experiment, out, budget=2, folds=1, scheduler=address, progress=False)
        )
    assert isinstance(error, ConnectionError), repr(error)
    assert str(error).startswith(f"cannot use the Dask scheduler at {address!r}")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler for the test (a test runner may have another)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_while_asking_a_silent_server_stops_at_once(tmp_path, python_sigint, monkeypatch):
    pytest.importorskip("distributed")
    import gdlab.sweep

    monkeypatch.setattr(gdlab.sweep, "_ANSWER_SECONDS", 3600.0)  # only Ctrl-C ends the wait

    pressed = threading.Lock()

    def interrupt(conn: socket.socket) -> None:  # connected: now the user presses Ctrl-C
        if pressed.acquire(blocking=False):  # once: a second connection's would come late
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "tasks.jsonl"
    with _server(interrupt) as address, pytest.raises(KeyboardInterrupt):
        run_sweep(demo_task, [Task("a", {})], out, scheduler=address, progress=False)
    assert not out.exists()


# --------------------------------------------------------------------------- 2: the path named


def test_the_path_named_is_the_reports_own_directory_not_latest(tmp_path):
    # latest is re-pointed by a race that finishes a moment later: naming
    # root/latest named that race's report
    root = tmp_path / "bowl"
    placed = [results.Placed(), results.Placed()]
    for n, place in enumerate(placed):
        with results.output(root, placed=place) as staged:
            (staged / "results.json").write_text(f'{{"n": {n}}}')
    for n, place in enumerate(placed):
        assert place.shown == place.directory
        assert place.shown.parent == root
        assert place.shown.name != "latest"
        assert (place.shown / "results.json").read_text() == f'{{"n": {n}}}'
    assert (root / "latest").resolve() == placed[1].directory.resolve()


def test_gdlab_race_names_its_own_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = gdlab_main(["race", "bowl", "--steps", "5", "--optimizers", "sgd", "--quiet",
                       "--no-figures"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    named = Path(out.splitlines()[0].rsplit("(", 1)[1].rstrip(")"))
    assert named.parent.parent == Path("gdlab-report", "bowl")
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{4}", named.parent.name)
    assert named.name == "results.json"
    assert named.is_file()


# --------------------------------------------------------------------------- 3: a tuning's dir


@pytest.mark.parametrize("name", ["tune.json", "tasks-0123abcd.jsonl", "tasks-0a.points.json"])
def test_reports_never_go_into_a_tunings_directory(tmp_path, name):
    root = tmp_path / "bowl-tune"
    root.mkdir()
    (root / name).write_text("")
    refused = pytest.raises(
        OutputError,
        match=re.escape(f"{root} holds a gdlab tuning ({name}), not reports")
        + ".*pass --out DIR, or give the experiment another name",
    )
    with refused, results.output(root) as staged:
        pytest.fail(f"ran into {staged}")
    assert [p.name for p in root.iterdir()] == [name]


def test_a_race_refused_in_a_tunings_directory_leaves_the_tuning_resumable(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    tune = ["tune", "bowl", "--steps", "5", "--optimizers", "sgd", "--budget", "2", "--folds",
            "1", "--quiet"]  # fmt: skip
    assert gdlab_main(tune) == 0
    before = sorted(p.name for p in Path("gdlab-report", "bowl-tune").iterdir())
    capsys.readouterr()
    race = ["race", "bowl", "--steps", "5", "--optimizers", "sgd", "--set", "name=bowl-tune",
            "--quiet", "--no-figures"]  # fmt: skip
    assert gdlab_main(race) == 2
    err = capsys.readouterr().err
    assert err.startswith("gdlab: error: gdlab-report/bowl-tune holds a gdlab tuning (")
    assert len(err.splitlines()) == 1
    assert sorted(p.name for p in Path("gdlab-report", "bowl-tune").iterdir()) == before
    assert gdlab_main(tune) == 0  # resumes


# --------------------------------------------------------------------------- 4: a 2nd Ctrl-C


def _stopped_race(placed: results.Placed, root: Path) -> None:
    """A race stopped by Ctrl-C that draws its page, and Ctrl-C again meanwhile."""
    with results.output(root, placed=placed) as staged:
        (staged / "results.json").write_text("{}")
        try:
            signal.raise_signal(signal.SIGINT)  # the first: stops the race
        except KeyboardInterrupt:
            signal.raise_signal(signal.SIGINT)  # again, while the page is drawn: ignored
            (staged / "index.html").write_text("<p>stopped early</p>")
            raise


def test_a_second_ctrl_c_never_cuts_short_what_the_first_keeps(tmp_path, python_sigint):
    placed = results.Placed()
    with pytest.raises(KeyboardInterrupt):
        _stopped_race(placed, tmp_path / "bowl")
    assert sorted(p.name for p in placed.directory.iterdir()) == ["index.html", "results.json"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # back afterwards
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


def test_a_scheduler_is_asked_once_a_minute_not_at_every_sweep(monkeypatch):
    # a race checks the scheduler before writing, then its sweep would ask again, and a
    # tuning at each round: one answer stands for a minute
    from gdlab import sweep

    asked = []
    monkeypatch.setattr(sweep, "_check_scheduler", lambda _d, address: asked.append(address))
    monkeypatch.setattr(sweep, "_SCHEDULERS_ANSWERED", {})
    for _ in range(3):
        sweep.check_where(1, "tcp://127.0.0.1:8786", None, None)
    assert asked == ["tcp://127.0.0.1:8786"]
    monkeypatch.setattr(sweep, "_ANSWERED_SECONDS", -1.0)  # the answer has grown old
    sweep.check_where(1, "tcp://127.0.0.1:8786", None, None)
    assert len(asked) == 2
