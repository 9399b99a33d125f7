"""What a killed run (SIGKILL, the OOM killer) leaves of a report is found and recovered.

Every writer here is a real process (forked from the test's, and one real
``gdlab race``), killed with SIGKILL (or killing itself at the moment a swap is
half done), so nothing of it runs on the way out; the run that follows is a
real ``results.output``.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: Writers are forked from this process (no interpreter to start): real processes that
#: share nothing with it but what they inherit, killed with a real SIGKILL.
from forked_writers import end, receive, start
from gdlab import _io, results

#: The command line of the killed writers' reports: a race that asked for no figures.
NO_PAGE = "gdlab race killed --no-figures"


def _die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


def _writer(conn, mode: str, root: Path, out: Path | None, runs: int) -> None:
    """Enter ``results.output(root, out=out)``, write a results.json of ``runs`` finished
    runs (none at all for -1), send the staging directory, then, by ``mode``: wait to be
    killed (``killed``); wait for a message and finish (``live``); finish a complete
    report and kill itself once the swap over ``out`` has moved the old report aside
    (``mid-swap``) or once the new one is in place, before the old one is removed
    (``after-swap``)."""
    if mode == "mid-swap":
        rename = os.rename

        def rename_then_die(src, dst):
            rename(src, dst)
            if Path(dst).name.startswith(f".{out.name}.old-"):
                _die()

        os.rename = rename_then_die
    if mode == "after-swap":
        _io.shutil.rmtree = _die
    with results.output(root, out=out, force=mode.endswith("swap")) as staged:
        if runs >= 0:
            # --no-figures: recovery writes the csv again but draws no page (these records
            # have no problem to draw; tests/test_recovery_pages.py draws real ones)
            writer = results.ResultsWriter(staged, {"experiment": "killed", "command": NO_PAGE})
            for i in range(runs):
                record = {"id": f"run{i}", "label": f"Run {i}", "steps": 2, "loss": [1.0, 0.5]}
                writer.add({**record, "status": "ok"})
        if mode.endswith("swap"):
            writer.finish()
            (staged / "index.html").write_text("the new page")
        conn.send(str(staged))
        if mode == "killed":
            time.sleep(600)
        elif mode == "live":
            conn.recv()
            writer.finish()


def _claimer(conn, path: Path) -> None:
    """Hold ``_io.claimed(path)`` (sending whether it was taken) until a message comes."""
    with _io.claimed(path) as gone:
        conn.send(gone)
        conn.recv()


def _recoverer(conn, root: Path) -> None:
    """On a message, open and close an output of ``root``; send what it said on stderr."""
    conn.send("ready")
    conn.recv()
    sys.stderr = io.StringIO()
    with results.output(root):
        pass
    conn.send(sys.stderr.getvalue())


def killed(root: Path, out: Path | None = None, runs: int = 1) -> Path:
    """A writer's staging directory after the writer was killed with SIGKILL."""
    process, conn = start(_writer, "killed", root, out, runs)
    staged = Path(receive(process, conn))
    end(process, kill=True)
    assert process.exitcode == -signal.SIGKILL
    assert staged.is_dir()
    return staged


def tree(path: Path) -> dict[str, bytes]:
    """Every file below ``path`` (its lock file aside) and its bytes."""
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".gdlab.lock"
    }


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def document(report: Path) -> dict:
    return json.loads((report / "results.json").read_text())


def told(capsys) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def write_report(staged: Path, page: str) -> None:
    writer = results.ResultsWriter(staged, {"experiment": "new"})
    writer.finish()
    (staged / "index.html").write_text(page)


# --------------------------------------------------------------------------- killed writers


def test_a_killed_run_is_recovered_under_its_own_stamped_name(tmp_path, capsys):
    root = tmp_path / "bowl"
    staged = killed(root, runs=2)
    stamp = staged.name[1:].split(".tmp-")[0]
    with results.output(root) as new:
        write_report(new, "later")
    recovered = root / stamp
    assert told(capsys) == [
        f"gdlab: recovered the unfinished report of a killed run (2 finished runs) as {recovered}"
    ]
    assert [r["id"] for r in document(recovered)["runs"]] == ["run0", "run1"]
    assert document(recovered)["status"] == "interrupted"
    assert (recovered / "results.csv").is_file()
    assert hidden(root) == []  # nothing hidden left, no lock or temporary file inside
    assert hidden(recovered) == []
    latest = root / "latest"
    assert latest.is_symlink()
    assert latest.resolve() != recovered.resolve()  # the newest report is the new one
    assert (latest / "index.html").read_text() == "later"


def test_a_killed_out_run_goes_beside_it_and_the_next_run_writes_out(tmp_path, capsys):
    out = tmp_path / "papers" / "R"
    killed(tmp_path / "unused", out=out, runs=1)
    assert not results.holds_report(out)
    with results.output(tmp_path / "unused", out=out) as new:  # not refused: out is free
        write_report(new, "the new one")
    (line,) = told(capsys)
    beside = sorted(out.parent.glob("R.recovered-*"))
    assert len(beside) == 1
    assert line == (
        f"gdlab: recovered the unfinished report of a killed run (1 finished run) as {beside[0]}"
    )
    assert document(beside[0])["status"] == "interrupted"
    assert [r["id"] for r in document(beside[0])["runs"]] == ["run0"]
    assert (out / "index.html").read_text() == "the new one"
    assert hidden(out.parent) == []
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("runs", [0, -1], ids=["no finished run", "nothing written"])
def test_an_orphan_without_a_finished_run_is_removed(tmp_path, capsys, runs):
    root = tmp_path / "bowl"
    killed(root, runs=runs)
    assert len(hidden(root)) == 1
    with results.output(root) as new:
        write_report(new, "later")
    assert told(capsys) == []
    assert hidden(root) == []
    assert sorted(p.name for p in root.iterdir() if p.name != "latest") == [
        (root / "latest").resolve().name
    ]


# --------------------------------------------------------------------------- live writers


def test_a_live_writer_is_left_alone_and_finishes(tmp_path, capsys):
    root = tmp_path / "bowl"
    process, conn = start(_writer, "live", root, None, 1)
    try:
        staged = Path(receive(process, conn))
        before = tree(staged)
        with results.output(root) as new:
            write_report(new, "meanwhile")
        assert told(capsys) == []
        assert tree(staged) == before  # not moved, not removed, not changed
    finally:
        end(process, conn)
    assert process.exitcode == 0
    assert not staged.exists()
    reports = [p for p in root.iterdir() if p.name != "latest"]
    assert len(reports) == 2
    assert hidden(root) == []
    statuses = sorted(document(p)["status"] for p in reports)
    assert statuses == ["complete", "complete"]


def test_an_orphan_another_process_is_recovering_is_left_to_it(tmp_path, capsys):
    root = tmp_path / "bowl"
    staged = killed(root, runs=1)
    holder, conn = start(_claimer, staged)
    try:
        assert receive(holder, conn) is True  # its writer is gone: the holder took it
        with results.output(root):
            pass
        assert told(capsys) == []
        assert staged.is_dir()
    finally:
        end(holder, conn)
    with results.output(root):  # the holder let go without moving it: this one does
        pass
    (line,) = told(capsys)
    assert "recovered the unfinished report of a killed run (1 finished run)" in line
    assert hidden(root) == []


def test_processes_recovering_at_once_recover_each_orphan_once(tmp_path):
    root = tmp_path / "bowl"
    first = killed(root, runs=1)
    stamp = first.name[1:].split(".tmp-")[0]
    for i in range(5):  # more of them (like a gdlab's from before the lock: no writer)
        shutil.copytree(first, root / f".{stamp}.tmp-copy{i:04d}")
    assert len(hidden(root)) == 6
    recoverers = [start(_recoverer, root) for _ in range(4)]
    try:
        for process, conn in recoverers:
            assert receive(process, conn) == "ready"
        for _, conn in recoverers:  # all at once
            conn.send("go")
        errs = [receive(process, conn) for process, conn in recoverers]
    finally:
        for process, conn in recoverers:
            end(process, conn)
    assert [p.exitcode for p, _ in recoverers] == [0] * 4, errs
    lines = [line for err in errs for line in err.splitlines()]
    assert len(lines) == 6, errs
    places = [Path(line.rsplit(" as ", 1)[1]) for line in lines]
    assert len(set(places)) == 6
    for place in places:
        assert [r["id"] for r in document(place)["runs"]] == ["run0"]
    assert hidden(root) == []


# --------------------------------------------------------------------------- killed swaps


def old_report(root: Path, out: Path) -> dict[str, bytes]:
    with results.output(root, out=out) as staged:
        writer = results.ResultsWriter(staged, {"experiment": "old"})
        writer.add({"id": "old", "label": "Old", "status": "ok", "steps": 1, "loss": [2.0]})
        writer.finish()
        (staged / "index.html").write_text("the old page")
    return tree(out)


def test_a_swap_killed_midway_puts_the_old_report_back(tmp_path, capsys):
    out = tmp_path / "R"
    before = old_report(tmp_path, out)
    process, conn = start(_writer, "mid-swap", tmp_path, out, 1)
    receive(process, conn)
    end(process)
    assert process.exitcode == -signal.SIGKILL
    assert not out.exists()  # the old report is aside, the new one not in place
    assert len(glob.glob(str(tmp_path / ".R.old-*"))) == 1
    refused = pytest.raises(_io.OutputError, match="already holds a report")
    with refused, results.output(tmp_path, out=out):
        pass
    beside = sorted(tmp_path.glob("R.recovered-*"))
    assert len(beside) == 1
    assert told(capsys) == [
        f"gdlab: put back the earlier report in {out}: a run killed while replacing it had "
        "moved it aside",
        f"gdlab: recovered the unfinished report of a killed run (1 finished run) as {beside[0]}",
    ]
    assert tree(out) == before
    assert (beside[0] / "index.html").read_text() == "the new page"
    assert document(beside[0])["status"] == "complete"
    assert hidden(tmp_path) == []
    assert hidden(out) == []


def test_a_swap_killed_once_done_keeps_the_new_report_and_drops_the_old(tmp_path, capsys):
    out = tmp_path / "R"
    old_report(tmp_path, out)
    process, conn = start(_writer, "after-swap", tmp_path, out, 1)
    receive(process, conn)
    end(process)
    assert process.exitcode == -signal.SIGKILL
    assert (out / "index.html").read_text() == "the new page"
    assert len(glob.glob(str(tmp_path / ".R.old-*"))) == 1
    new = tree(out)
    with pytest.raises(RuntimeError, match="stop"), results.output(tmp_path, out=out, force=True):
        raise RuntimeError("stop")
    assert told(capsys) == []
    assert tree(out) == new
    assert hidden(tmp_path) == []
    assert not list(tmp_path.glob("R.recovered-*"))


def test_a_backup_that_is_not_the_replaced_report_is_kept_beside(tmp_path, capsys):
    """A backup with no lock that proves its swap finished (another gdlab's): kept."""
    out = tmp_path / "R"
    old_report(tmp_path, out)
    backup = tmp_path / ".R.old-abcd_123"
    backup.mkdir()
    (backup / "results.json").write_text('{"runs": [{"id": "x"}]}')
    with pytest.raises(RuntimeError), results.output(tmp_path, out=out, force=True):
        raise RuntimeError("stop")
    (line,) = told(capsys)
    (beside,) = tmp_path.glob("R.recovered-*")
    assert line == (
        f"gdlab: kept an earlier report of {out} that a killed run had moved aside as {beside}"
    )
    assert (beside / "results.json").read_text() == '{"runs": [{"id": "x"}]}'
    assert hidden(tmp_path) == []


# --------------------------------------------------------------------------- the marks


def test_a_staging_directory_is_claimed_only_once_its_writer_let_go(tmp_path):
    target = tmp_path / "report"
    with _io.staging(target) as staged:
        with _io.claimed(staged) as gone:
            assert not gone  # held: another open file of this process is refused too
        renamed = tmp_path / "elsewhere"
        os.rename(staged, renamed)  # the lock follows the directory
        with _io.claimed(renamed) as gone:
            assert not gone
    with _io.claimed(renamed) as gone:
        assert gone
    link = tmp_path / ".report.tmp-link0000"
    link.symlink_to(renamed)
    with _io.claimed(link) as gone:
        assert not gone  # never through a link
    with _io.claimed(tmp_path / ".report.tmp-gone0000") as gone:
        assert not gone


def test_hidden_dirs_match_their_own_target_only(tmp_path):
    for name in (".a.tmp-abcdefgh", ".a.tmp-x.tmp-abcdefgh", ".a.old-12345678", ".ab.tmp-abcdefgh"):
        (tmp_path / name).mkdir()
    (tmp_path / ".a.tmp-filefile").write_text("a file")
    (tmp_path / ".a.tmp-linklink").symlink_to(tmp_path / ".ab.tmp-abcdefgh")
    staged, backups = _io.hidden_dirs(tmp_path, "a")
    assert [p.name for p in staged] == [".a.tmp-abcdefgh"]
    assert [p.name for p in backups] == [".a.old-12345678"]
    assert _io.hidden_dirs(tmp_path / "missing", "a") == ([], [])


# --------------------------------------------------------------------------- a real race


def test_a_real_race_killed_after_its_first_run_is_recovered(tmp_path, capsys, monkeypatch):
    argv = ["race", "bowl", "--steps", "50", "--no-figures", "--quiet", "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "gdlab", *argv],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    pattern = str(tmp_path / "gdlab-report" / "bowl" / ".*.tmp-*" / "results.json")
    finished = 0
    try:
        deadline = time.monotonic() + 120
        while not finished and process.poll() is None and time.monotonic() < deadline:
            for path in glob.glob(pattern):
                try:
                    finished = len(json.loads(Path(path).read_text())["runs"])
                except (OSError, ValueError):
                    continue
            time.sleep(0.001)
        os.killpg(process.pid, signal.SIGKILL)  # the whole job, as kill -9 of a shell's job
    finally:
        _, err = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"the race ended first: {err}"
    assert finished >= 1
    monkeypatch.chdir(tmp_path)
    root = Path("gdlab-report", "bowl")
    with results.output(root):  # what `gdlab race bowl` does first
        pass
    (line,) = told(capsys)
    recovered = Path(line.rsplit(" as ", 1)[1])
    assert line.startswith("gdlab: recovered the unfinished report of a killed run (")
    assert recovered.parent == root
    report = document(recovered)
    assert report["status"] == "interrupted"
    assert len(report["runs"]) >= finished
    assert report["command"].startswith("gdlab race bowl --steps 50")
    assert hidden(root) == []
    assert hidden(recovered) == []  # the race's journal and its lock went with it
    assert not (recovered / "index.html").exists()  # --no-figures: no page, as it asked
