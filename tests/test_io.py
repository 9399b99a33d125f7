"""gdlab._io: the output lock, output checks, atomic directories, write errors."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gdlab import _io, results
from gdlab._io import OutputError

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def read_only_place() -> Path:
    """A directory where no file can be made, even by root (a read-only mount)."""
    sys_dir = Path("/sys")
    if not sys_dir.is_dir() or _io._can_create_in(sys_dir):
        pytest.skip("no read-only file system at /sys here")
    return sys_dir


# --------------------------------------------------------------------------- exclusive


def test_a_second_writer_is_refused_with_the_path_and_the_holder(tmp_path):
    out = tmp_path / "sweep.jsonl"
    with _io.exclusive(out, what="--out") as lock:
        assert lock == tmp_path / "sweep.jsonl.lock"
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid()
        assert holder["host"] == socket.gethostname()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", holder["since"])
        assert holder["argv"][1:] == sys.argv[1:]
        with pytest.raises(_io.LockedError) as info, _io.exclusive(out, what="--out"):
            pytest.fail("the lock was taken twice")
        assert isinstance(info.value, RuntimeError)
        message = str(info.value)
        assert message.startswith(f"{out} is in use by another gdlab process (pid {os.getpid()} ")
        assert f"on {socket.gethostname()}, since {holder['since']}: " in message
        assert message.endswith("); wait for it to finish or choose another --out")
    assert not lock.exists()  # removed on release
    with _io.exclusive(out):  # free again
        pass


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    out = tmp_path / "x.json"
    with pytest.raises(KeyError), _io.exclusive(out):
        raise KeyError("boom")
    assert os.listdir(tmp_path) == []
    with _io.exclusive(out):
        pass


def test_a_directory_is_locked_inside(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    with _io.exclusive(report) as lock:
        assert lock == report / ".gdlab.lock"
        locked = pytest.raises(_io.LockedError, match=re.escape(f"{report} is in use"))
        with locked, _io.exclusive(report, directory=True):
            pass
    fresh = tmp_path / "not-yet" / "bowl"
    with _io.exclusive(fresh, directory=True) as lock:  # made, so every run locks one file
        assert lock == fresh / ".gdlab.lock"
        assert lock.exists()
    assert fresh.is_dir()
    assert os.listdir(fresh) == []


def test_a_stale_lock_file_of_a_dead_process_does_not_block(tmp_path):
    out = tmp_path / "sweep.jsonl"
    stale = {"pid": 999999, "host": "gone", "since": "2000-01-01T00:00:00Z", "argv": ["x"]}
    (tmp_path / "sweep.jsonl.lock").write_text(json.dumps(stale))
    with _io.exclusive(out) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()  # ours now
    assert not lock.exists()


HOLD = """
import sys, time
from gdlab import _io, results
from gdlab._io import OutputError
with _io.exclusive(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_another_process_holds_it_until_it_dies(tmp_path):
    out = tmp_path / "sweep.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), "--flag"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline() == "locked\n"
        with pytest.raises(_io.LockedError) as info, _io.exclusive(out):
            pass
        assert f"(pid {process.pid} on {socket.gethostname()}, since " in str(info.value)
        assert f": -c {out} --flag)" in str(info.value)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    assert (tmp_path / "sweep.jsonl.lock").exists()  # left behind by kill -9 ...
    with _io.exclusive(out):  # ... and harmless: the kernel dropped the flock
        pass


# --------------------------------------------------------------------------- check_output_dir


def test_check_output_dir_accepts_what_can_be_made_and_makes_nothing(tmp_path):
    assert _io.check_output_dir(tmp_path) == tmp_path
    deep = tmp_path / "a" / "b" / "c"
    assert _io.check_output_dir(deep) == deep
    assert _io.check_output_dir(str(deep)) == deep
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "culprit"),
    [
        ("file", "{out} cannot be an output directory: it exists and is not a directory"),
        ("devnull", "/dev/null cannot be an output directory: it exists and is not a directory"),
        ("below", "{out} cannot be an output directory: {tmp}/file is a file, not a directory"),
        ("deep-below", "{out} cannot be an output directory: {tmp}/file is a file, not a"),
    ],
)
def test_check_output_dir_refuses_files_and_paths_below_them(tmp_path, where, culprit):
    (tmp_path / "file").write_text("x")
    out = {
        "file": tmp_path / "file",
        "devnull": Path("/dev/null"),
        "below": tmp_path / "file" / "out",
        "deep-below": tmp_path / "file" / "a" / "b",
    }[where]
    with pytest.raises(_io.OutputError) as info:
        _io.check_output_dir(out)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(culprit.format(out=out, tmp=tmp_path))
    assert "\n" not in str(info.value)
    assert os.listdir(tmp_path) == ["file"]


def test_check_output_dir_refuses_a_read_only_file_system():
    place = read_only_place()
    out = place / "gdlab-out" / "bowl"
    message = f"{out} cannot be an output directory: {place} is not writable"
    with pytest.raises(_io.OutputError, match=re.escape(message)):
        _io.check_output_dir(out)


@pytest.mark.skipif(ROOT, reason="root writes into a mode-0555 directory")
def test_check_output_dir_refuses_a_read_only_directory(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(_io.OutputError, match=re.escape(f"{locked} is not writable")):
            _io.check_output_dir(locked / "out")
    finally:
        locked.chmod(0o755)
    assert os.listdir(locked) == []


# --------------------------------------------------------------------------- directories


def test_staging_dir_is_a_fresh_hidden_sibling(tmp_path):
    target = tmp_path / "deep" / "report"
    a, b = _io.staging_dir(target), _io.staging_dir(target)
    assert a != b
    for staged in (a, b):
        assert staged.parent == target.parent
        assert staged.is_dir()
        assert staged.name.startswith(".report.tmp-")
        assert os.listdir(staged) == []
    assert not target.exists()


def test_replace_dir_moves_in_a_new_tree_and_replaces_an_old_one(tmp_path):
    target = tmp_path / "report"
    staged = _io.staging_dir(target)
    (staged / "index.html").write_text("one")
    assert _io.replace_dir(staged, target) == target
    assert (target / "index.html").read_text() == "one"
    staged = _io.staging_dir(target)
    (staged / "page.html").write_text("two")
    _io.replace_dir(staged, target)
    assert os.listdir(target) == ["page.html"]  # the old tree is gone, not merged
    assert os.listdir(tmp_path) == ["report"]  # no staging or backup left


def test_replace_dir_puts_the_old_tree_back_when_the_swap_fails(tmp_path, monkeypatch):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.html").write_text("old")
    staged = _io.staging_dir(target)
    (staged / "new.html").write_text("new")
    rename = os.rename
    calls = []

    def second_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise OSError(errno.EIO, "I/O error", str(src))
        rename(src, dst)

    monkeypatch.setattr(os, "rename", second_fails)
    with pytest.raises(OSError, match="I/O error"):
        _io.replace_dir(staged, target)
    assert os.listdir(target) == ["old.html"]
    assert sorted(os.listdir(tmp_path)) == sorted(["report", staged.name])


def test_a_locked_directory_stays_locked_across_replace_dir(tmp_path):
    target = tmp_path / "report"
    with _io.exclusive(target, directory=True) as lock:
        staged = _io.staging_dir(target)
        (staged / "index.html").write_text("new")
        _io.replace_dir(staged, target)
        assert lock.exists()
        locked = pytest.raises(_io.LockedError, match=re.escape(f"{target} is in use"))
        with locked, _io.exclusive(target):
            pass
    assert os.listdir(target) == ["index.html"]


# --------------------------------------------------------------------------- atomic_write


def test_atomic_write_below_a_file_names_the_target(tmp_path):
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "sub" / "doc.json"
    with pytest.raises(OSError, match=re.escape(str(target))) as info:
        _io.write_json(target, {"a": 1})
    assert info.value.filename == str(target)
    assert str(target) in str(info.value)


def test_atomic_write_in_a_read_only_place_names_the_target():
    target = read_only_place() / "doc.json"
    with pytest.raises(PermissionError) as info:
        _io.write_json(target, {"a": 1})
    assert info.value.filename == str(target)


def test_a_full_disk_names_the_target_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "doc.json"
    target.write_text("old")

    def full(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write(2) reports it

    with pytest.raises(OSError, match="No space left on device") as info:
        _io.atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(target)
    assert str(info.value) == f"[Errno {errno.ENOSPC}] No space left on device: '{target}'"
    assert os.listdir(tmp_path) == ["doc.json"]
    assert target.read_text() == "old"  # the old file is untouched


def test_atomic_write_still_writes(tmp_path):
    target = tmp_path / "new" / "doc.json"
    assert _io.write_json(target, {"a": [1, 2]}) == target
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert os.listdir(target.parent) == ["doc.json"]


# ------------------------------------------------------------------------ results.output (Python)


def _report_in(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text("{}")
    (path / "index.html").write_text("<html></html>")


def test_output_with_force_refuses_a_directory_of_other_files(tmp_path):
    """Python callers had no guard: ``force=True`` replaced any directory whole."""
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "thesis.tex").write_text("years of work")
    refused = pytest.raises(OutputError, match=r"holds what is not a gdlab report \(thesis.tex\)")
    with refused, results.output(tmp_path / "root", out=papers, force=True) as staged:
        (staged / "results.json").write_text("{}")
    assert sorted(p.name for p in papers.iterdir()) == ["thesis.tex"]
    assert (papers / "thesis.tex").read_text() == "years of work"
    assert not (tmp_path / "root").exists()


def test_output_with_force_refuses_a_tree_of_reports(tmp_path):
    root = tmp_path / "gdlab-report" / "bowl"
    with results.output(root) as staged:
        (staged / "results.json").write_text("{}")
    before = sorted(p.name for p in root.iterdir())
    refused = pytest.raises(OutputError, match=r"holds gdlab reports .*, not one report")
    with refused, results.output(tmp_path / "other", out=root, force=True):
        pass
    assert sorted(p.name for p in root.iterdir()) == before


def test_output_into_a_latest_link_replaces_its_report_and_keeps_the_link(tmp_path):
    """The link was replaced by a directory before (the check lived in the CLI only)."""
    root = tmp_path / "gdlab-report" / "bowl"
    with results.output(root) as staged:
        (staged / "results.json").write_text('{"old": 1}')
    link = root / "latest"
    target = os.readlink(link)
    with results.output(tmp_path / "unused", out=link, force=True) as staged:
        (staged / "results.json").write_text('{"new": 1}')
    assert link.is_symlink()
    assert os.readlink(link) == target
    assert (root / target / "results.json").read_text() == '{"new": 1}'
    assert sorted(p.name for p in root.iterdir()) == sorted([target, "latest"])


def test_output_with_force_replaces_a_report(tmp_path):
    out = tmp_path / "report"
    _report_in(out)
    with results.output(tmp_path / "unused", out=out, force=True) as staged:
        (staged / "results.json").write_text('{"new": 1}')
    assert sorted(p.name for p in out.iterdir() if p.name != ".gdlab.lock") == ["results.json"]
    assert results.looks_like_report(out)
