"""A killed run's report is recovered readable, and nothing of a user's is lost on the way.

A killed race's report gets its figures and page as Ctrl-C would have left it
(or says why it could not); its results.csv agrees with its results.json; the
temporary links of ``latest`` that killed writers leave are removed, a live
writer's never; a ``latest`` that cannot be pointed does not fail a report that
is in place; ``--force`` never replaces a directory that holds more than a
report. Writers are real processes forked from the test's and killed with
SIGKILL, as in tests/test_staging_recovery.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from forked_writers import FORK, end, receive, start
from gdlab import _io, results


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def told(capsys) -> list[str]:
    captured = capsys.readouterr()
    return captured.err.splitlines()


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def recovered_from(line: str) -> Path:
    assert line.startswith("gdlab: recovered the unfinished report of a killed run"), line
    return Path(line.rsplit(" as ", 1)[1].split("; ", 1)[0])


# --------------------------------------------------------------------------- the page


def _racer(conn, root: Path) -> None:
    """``gdlab race bowl`` as the CLI runs it, killed once its third run is in the race's
    journal but not yet in results.json (as a run that finished in another process
    waits there for an earlier one still running)."""
    from gdlab import experiments, race

    add = results.ResultsWriter.add

    def add_or_die(writer, record):
        if len(writer.runs) == 2:
            conn.send([*(r["id"] for r in writer.runs), record["id"]])
            _die()
        add(writer, record)

    results.ResultsWriter.add = add_or_die
    with results.output(root) as staged:
        race.run_experiment(
            experiments.builtin("bowl"), staged, command="gdlab race bowl --workers 1",
            progress=False,
        )  # fmt: skip


def test_a_killed_race_is_recovered_with_its_figures_and_page(tmp_path, capsys):
    root = tmp_path / "gdlab-report" / "bowl"
    process, conn = start(_racer, root)
    finished = receive(process, conn)
    end(process)
    assert process.exitcode == -signal.SIGKILL
    begun = time.perf_counter()
    with results.output(root):  # what the next `gdlab race bowl` does first
        took = time.perf_counter() - begun
    (line,) = told(capsys)
    recovered = recovered_from(line)
    assert line.endswith(f"(3 finished runs) as {recovered}")  # nothing went wrong
    document = json.loads((recovered / "results.json").read_text())
    assert document["status"] == "interrupted"
    assert [r["id"] for r in document["runs"]] == finished  # the journal's third one too
    rows = (recovered / "results.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["id", *finished]
    page = (recovered / "index.html").read_text()
    assert "<strong>Interrupted.</strong>" in page  # the notice Ctrl-C's page has
    assert "the 3 runs that finished" in page
    for run in document["runs"]:
        assert run["label"] in page
    assert 'id="gdlab-charts"' in page  # the command asked for its charts
    pngs = sorted(p.name for p in (recovered / "figures").glob("*.png"))
    assert "paths.png" in pngs, pngs
    assert hidden(recovered) == []  # no journal, no lock, no temporary file
    assert hidden(root) == []
    assert results.looks_like_report(recovered)  # --force may replace it
    print(f"recovery with figures and page: {took:.2f} s")


def _writer(conn, root: Path, command: str, die_at_csv: int | None) -> None:
    """Write a report of two runs without a problem (no page can be drawn), then wait
    to be killed; with ``die_at_csv``, die at that write of results.csv instead (the
    results.json of that run written, its csv not)."""
    if die_at_csv is not None:
        writes = []
        atomic_write = _io.atomic_write

        def write_or_die(path, write):
            if Path(path).name == "results.csv":
                writes.append(path)
                if len(writes) == die_at_csv:
                    _die()
            return atomic_write(path, write)

        _io.atomic_write = write_or_die
    with results.output(root) as staged:
        conn.send(str(staged))
        writer = results.ResultsWriter(staged, {"experiment": "killed", "command": command})
        for i in range(2):
            writer.add({"id": f"run{i}", "label": f"Run {i}", "status": "ok", "steps": 1,
                        "loss": [1.0]})  # fmt: skip
        time.sleep(600)


def killed_writer(root: Path, command: str, die_at_csv: int | None = None) -> Path:
    process, conn = start(_writer, root, command, die_at_csv)
    staged = Path(receive(process, conn))
    if die_at_csv is None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if len(json.loads((staged / "results.json").read_text())["runs"]) == 2:
                    break
            time.sleep(0.005)
    end(process, kill=die_at_csv is None)
    assert process.exitcode == -signal.SIGKILL
    return staged


def test_a_page_that_cannot_be_made_keeps_the_results_and_says_why(tmp_path, capsys):
    root = tmp_path / "bowl"
    killed_writer(root, "gdlab race killed")
    with results.output(root) as new:  # the new run goes on
        (new / "results.json").write_text("{}")
    (line,) = told(capsys)
    recovered = recovered_from(line)
    assert line == (
        f"gdlab: recovered the unfinished report of a killed run (2 finished runs) as "
        f"{recovered}; its page could not be made (ValueError: results['problem'] must be a "
        "dict with 'kind' when there are runs; got None): results.json holds the runs"
    )
    assert [r["id"] for r in json.loads((recovered / "results.json").read_text())["runs"]] == [
        "run0",
        "run1",
    ]
    assert sorted(p.name for p in recovered.iterdir()) == ["results.csv", "results.json"]
    assert (root / "latest" / "results.json").read_text() == "{}"


def test_a_run_killed_between_its_json_and_its_csv_gets_a_csv_of_every_run(tmp_path, capsys):
    root = tmp_path / "bowl"
    killed_writer(root, "gdlab race killed --no-figures", die_at_csv=3)  # run1's csv
    with results.output(root):
        pass
    recovered = recovered_from(told(capsys)[0])
    rows = (recovered / "results.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["id", "run0", "run1"]
    assert not (recovered / "index.html").exists()  # --no-figures: no page, as it asked


@pytest.mark.parametrize(
    ("command", "asked"),
    [
        ("gdlab race bowl", (True, True)),
        ("gdlab race bowl --no-figures --steps 5", (False, True)),
        ("gdlab race bowl --no-fig", (False, True)),  # argparse takes a start of it
        ("gdlab plot schedules --no-j", (True, False)),
        ("gdlab race bowl --no-js --no-figures", (False, False)),
        ("gdlab race bowl --no-", (True, True)),  # ambiguous: argparse refuses it
        ("gdlab race --config 'my --no-js.toml'", (True, True)),
        ("gdlab race bowl -- --no-js", (True, True)),
        ("gdlab race 'unbalanced", (True, True)),
        ("gdlab.report.build(...) in Python", (True, True)),
        (None, (True, True)),
    ],
)
def test_the_page_is_made_as_its_command_asked(command, asked):
    assert results._asked(command) == asked


def test_an_orphan_that_cannot_be_read_never_fails_the_run_that_finds_it(tmp_path, capsys):
    root = tmp_path / "bowl"
    orphan = root / ".20261201-120000-abcd.tmp-abcd1234"
    orphan.mkdir(parents=True)
    (orphan / "results.json").write_text("[" * 100_000)  # deeper than Python's stack
    with results.output(root) as new:
        (new / "results.json").write_text("{}")
    (line,) = told(capsys)
    assert line.startswith(f"gdlab: could not recover {orphan}, left by a killed run: Recursion")
    assert (orphan / "results.json").read_text() == "[" * 100_000  # left as it is
    assert (root / "latest" / "results.json").read_text() == "{}"


# --------------------------------------------------------------------------- latest


def _latest_writer(conn, root: Path, target: Path, mode: str) -> None:
    """Point ``root/latest`` at ``target``; once its temporary link is made, die
    (``killed``) or wait for a message (``live``)."""
    replace = os.replace

    def replace_then(src, dst):
        if mode == "killed":
            _die()
        conn.send(sorted(p.name for p in root.iterdir() if p.name.startswith(".latest.")))
        conn.recv()
        return replace(src, dst)

    results.os.replace = replace_then
    results._point_latest(root, target)
    conn.send("done")


def _waiter(conn) -> None:
    conn.recv()


def test_a_killed_writers_temporary_latest_link_is_removed(tmp_path, capsys):
    root = tmp_path / "bowl"
    (root / "old").mkdir(parents=True)
    process, _ = start(_latest_writer, root, root / "old", "killed")
    end(process)
    assert process.exitcode == -signal.SIGKILL
    (left,) = hidden(root)
    assert left.startswith(f".latest.{process.pid}.")
    gone = FORK.Process(target=int)
    gone.start()
    gone.join()
    (root / f".latest.{gone.pid}.tmp").symlink_to("old")  # an earlier gdlab's name
    with results.output(root) as new:
        (new / "results.json").write_text("{}")
    assert hidden(root) == []
    assert (root / "latest" / "results.json").read_text() == "{}"
    assert told(capsys) == []


def test_a_live_writers_temporary_latest_link_is_never_removed(tmp_path, monkeypatch, capsys):
    root = tmp_path / "bowl"
    (root / "theirs").mkdir(parents=True)
    process, conn = start(_latest_writer, root, root / "theirs", "live")
    other, waiting = start(_waiter)
    try:
        (link,) = receive(process, conn)
        unlocked = root / f".latest.{other.pid}.tmp"  # a live writer that does not lock
        unlocked.symlink_to("theirs")
        monkeypatch.setattr(_io, "HOLD_WAIT", 0.2, raising=False)  # root's lock is held
        with results.output(root) as new:
            (new / "results.json").write_text("{}")
        assert sorted(hidden(root)) == sorted([link, unlocked.name])
        assert (root / "latest" / "results.json").read_text() == "{}"
        conn.send("go")
        assert receive(process, conn) == "done"
    finally:
        end(process, conn)
        end(other, waiting)
    assert process.exitcode == 0
    assert os.readlink(root / "latest") == "theirs"  # its replace found its link
    assert told(capsys) == []


def test_two_writers_of_latest_at_once_never_share_a_temporary_link(tmp_path, monkeypatch):
    """The second writer (another thread) comes between the first one's link and its
    rename: they shared ``.latest.<pid>.tmp``, and the first wrote a stray LATEST."""
    root = tmp_path / "bowl"
    for name in ("first", "second"):
        (root / name).mkdir(parents=True)
    monkeypatch.setattr(_io, "HOLD_WAIT", 0.05, raising=False)
    symlink, calls = os.symlink, []

    def symlink_then_another(src, dst, *args, **kwargs):
        symlink(src, dst, *args, **kwargs)
        calls.append(src)
        if len(calls) == 1:
            other = threading.Thread(target=results._point_latest, args=(root, root / "second"))
            other.start()
            other.join()

    monkeypatch.setattr(results.os, "symlink", symlink_then_another)
    results._point_latest(root, root / "first")
    assert calls == ["first", "second"]
    assert sorted(p.name for p in root.iterdir()) == ["first", "latest", "second"]
    assert os.readlink(root / "latest") == "first"  # the last to finish


def test_a_latest_that_cannot_be_pointed_does_not_fail_the_report(tmp_path, monkeypatch, capsys):
    root = tmp_path / "bowl"

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    atomic_write = _io.atomic_write

    def write_but_latest(path, write):
        if Path(path).name == "LATEST":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return atomic_write(path, write)

    monkeypatch.setattr(results.os, "symlink", full)
    monkeypatch.setattr(_io, "atomic_write", write_but_latest)
    with results.output(root) as new:
        (new / "results.json").write_text('{"runs": []}')
        name = new.name[1:].split(".tmp-")[0]
    (line,) = told(capsys)
    assert line == (
        f"gdlab: the report is in {root / name}, but {root / 'latest'} could not be pointed "
        f"at it ([Errno 28] No space left on device: '{root / 'LATEST'}')"
    )
    assert (root / name / "results.json").read_text() == '{"runs": []}'
    assert hidden(root) == []


# --------------------------------------------------------------------------- --force


def _site(path: Path) -> dict[str, str]:
    (path / "photos").mkdir(parents=True)
    files = {"index.html": "<h1>my site</h1>", "style.css": "body {}", "photos/a.jpg": "jpg"}
    for name, text in files.items():
        (path / name).write_text(text)
    return files


def test_force_never_replaces_a_page_among_other_files(tmp_path):
    site = tmp_path / "site"
    files = _site(site)
    refused = pytest.raises(
        _io.OutputError, match=r"holds what is not a gdlab report \(photos, style\.css\)"
    )
    with refused, results.output(tmp_path / "unused", out=site, force=True):
        pytest.fail("a site was about to be replaced")
    for name, text in files.items():
        assert (site / name).read_text() == text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_force_replaces_reports_only(tmp_path):
    report = tmp_path / "report"
    for name in ("figures", "params", "series"):
        (report / name).mkdir(parents=True)
    for name in ("results.json", "results.csv", "index.html", "figures/loss.png"):
        (report / name).write_text("x")
    (report / ".results.json.abcd1234.tmp").write_text("a killed writer's")
    (report / ".race.jsonl").write_text("")  # a report recovered by an earlier gdlab
    assert results.looks_like_report(report)
    tour = tmp_path / "tour"
    (tour / "bowl" / "figures").mkdir(parents=True)
    (tour / "index.html").write_text("x")
    (tour / "bowl" / "results.json").write_text("{}")
    assert results.looks_like_report(tour)
    (tour / "bowl" / "notes.txt").write_text("mine")
    assert not results.looks_like_report(tour)
    (report / "figures.bak").symlink_to(tmp_path)
    assert not results.looks_like_report(report)
    (report / "figures.bak").unlink()
    only = tmp_path / "only"
    only.mkdir()
    (only / ".race.jsonl").write_text("")  # a writer's file alone is not a report
    assert not results.looks_like_report(only)
    (only / ".x.abcd1234.tmp").mkdir()  # named as a temporary file, but a folder
    (only / "results.json").write_text("{}")
    assert not results.looks_like_report(only)
    (report / "figures").rename(report / "f")
    (report / "figures").symlink_to(report / "f")
    assert not results.looks_like_report(report)


def _tour_writer(conn, root: Path) -> None:
    """A killed tour: its first experiment's report holds two runs in results.json and
    results.csv, and a third finished run still in the race's journal."""
    with results.output(root) as staged:
        report = staged / "bowl"
        report.mkdir()
        writer = results.ResultsWriter(report, {"experiment": "bowl", "command": "gdlab tour"})
        for i in range(2):
            writer.add({"id": f"run{i}", "label": f"Run {i}", "status": "ok", "steps": 1,
                        "loss": [1.0]})  # fmt: skip
        third = {"id": "run2", "label": "Run 2", "status": "ok", "steps": 1, "loss": [1.0]}
        line = json.dumps({"id": "t/2", "status": "ok", "result": third})
        (report / ".race.jsonl").write_text(line + "\n")
        conn.send(str(staged))
        time.sleep(600)


def test_a_killed_tours_reports_get_their_journals_runs_in_csv_too(tmp_path, capsys):
    """The journal's runs went into a tour report's results.json, and its results.csv
    kept the rows of before: only the top report's csv was written again."""
    root = tmp_path / "gdlab-report" / "tour"
    process, conn = start(_tour_writer, root)
    receive(process, conn)
    end(process, kill=True)
    with results.output(root):
        pass
    (line,) = told(capsys)
    report = recovered_from(line) / "bowl"
    ids = [r["id"] for r in json.loads((report / "results.json").read_text())["runs"]]
    assert ids == ["run0", "run1", "run2"]
    rows = (report / "results.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["id", *ids]
