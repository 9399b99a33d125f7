"""Hostile input for the ``gdlab`` command line and what it writes.

Every mistake must end the same way: exit code 2, exactly one line on stderr
that starts with ``gdlab: error: `` and names the culprit (the flag, key,
value, file or path), no traceback, nothing on stdout, and every output made
earlier byte-identical afterwards (each test hashes the whole working
directory, which is a temporary folder, before and after). Interruption,
kill, a full disk and a closed pipe are run as real processes.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_run import gdlab
from gdlab import _io, cli

# --------------------------------------------------------------------------- helpers

BOWL = ["race", "bowl", "--steps", "3", "--no-figures", "--quiet"]
BOSTON = ["race", "boston", "--steps", "5", "--no-figures", "--quiet", "--workers", "1"]
ERROR = "gdlab: error: "


def tree(root: str | os.PathLike = ".") -> dict[str, str]:
    """Every directory, file and link below ``root``: a file by its SHA-256, a link by
    its target. Hidden entries included, links not followed."""
    root = Path(root)
    found: dict[str, str] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top, name)
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[key] = "dir"
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def command(*argv: str) -> list[str]:
    """``gdlab ARGV`` as a real process (this interpreter, ``python -m gdlab``)."""
    return [sys.executable, "-m", "gdlab", *argv]


def assert_usage_error(code: int, out: str, err: str, *names: str) -> str:
    """Exit code 2, nothing on stdout, one line ``gdlab: error: …`` naming every one of
    ``names``; returns the line."""
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(ERROR), err
    assert line[len(ERROR) :].strip(), err
    assert code == cli.EXIT_USAGE, (code, err)
    assert out == "", out
    for name in names:
        assert name in line, f"{name!r} not named in {line!r}"
    return line


def results(out: str | os.PathLike) -> dict:
    return json.loads(Path(out, "results.json").read_text())


def staged_dirs(name: str) -> list[str]:
    """Hidden siblings (staging or backup) that the output ``name`` left in the cwd."""
    return sorted(glob.glob(f".{name}.tmp-*") + glob.glob(f".{name}.old-*"))


def wait_for(predicate, timeout: float, what: str, process=None) -> None:
    start = time.monotonic()
    while not predicate():
        if process is not None and process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"gdlab ended ({process.returncode}) before {what}: {err}")
        if time.monotonic() - start > timeout:
            if process is not None:
                process.kill()
                process.communicate()
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.05)


def read_only_dir() -> Path:
    """A directory nobody can create files in, root included (modes do not stop root)."""
    for candidate in (Path("/proc"), Path("/sys")):
        if candidate.is_dir() and not _io._can_create_in(candidate):
            return candidate
    pytest.skip("no read-only file system at /proc or /sys here")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def earlier(tmp_path_factory) -> Path:
    """A folder of earlier outputs, made once: ``R`` (a report written with ``--out``),
    ``gdlab-report/bowl/<stamp>`` with its ``latest`` link, and a plain file ``afile``."""
    root = tmp_path_factory.mktemp("earlier")
    sink = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        patch.chdir(root)
        assert cli.main([*BOWL, "--out", "R"]) == 0, sink.getvalue()
        assert cli.main(BOWL) == 0, sink.getvalue()
    Path(root, "afile").write_text("not a directory\n")
    assert Path(root, "gdlab-report", "bowl", "latest").is_symlink()
    return root


@pytest.fixture
def work(tmp_path, monkeypatch, earlier) -> Path:
    """The test's own copy of the earlier outputs, as the working directory."""
    shutil.copytree(earlier, tmp_path, symlinks=True, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- 1. flags and values

FLAG_CASES = [
    # lengths, seeds, batch sizes, workers
    ("race bowl --steps 0", ["--steps", "got 0"]),
    ("race bowl --steps -1", ["--steps", "got -1"]),
    ("race bowl --steps x", ["--steps", "'x'"]),
    ("race bowl --steps 100000001", ["--steps", "100000001"]),
    ("race bowl --steps 99999999999999999999999", ["--steps", "99999999999999999999999"]),
    ("race bowl --steps", ["--steps", "expected one argument"]),
    ("race boston --epochs 0", ["--epochs", "got 0"]),
    ("race boston --epochs -1", ["--epochs", "got -1"]),
    ("race boston --epochs x", ["--epochs", "'x'"]),
    ("race boston --epochs 1000001", ["--epochs", "1000001"]),
    ("race bowl --seeds 0", ["--seeds", "got 0"]),
    ("race bowl --seeds -1", ["--seeds", "got -1"]),
    ("race bowl --seeds x", ["--seeds", "'x'"]),
    ("race bowl --seeds 1001", ["--seeds", "1001"]),
    ("race boston --batch-size 0", ["--batch-size", "got 0"]),
    ("race boston --batch-size -1", ["--batch-size", "got -1"]),
    ("race boston --batch-size x", ["--batch-size", "'x'"]),
    ("race boston --batch-size 99999999999999", ["--batch-size", "99999999999999"]),
    ("race bowl --workers 0", ["--workers", "got 0"]),
    ("race bowl --workers -1", ["--workers", "got -1"]),
    ("race bowl --workers x", ["--workers", "'x'"]),
    ("race bowl --workers 1025", ["--workers", "1025"]),
    ("race bowl --steps 3 --epochs 2", ["--epochs", "--steps"]),
    ("race bowl --set seeds=1000 --steps 100000000", ["'bowl'", "too large", "steps"]),
    # unknown flags, arguments and experiments
    ("race bowl --nosuch", ["--nosuch"]),
    ("race bowl extra", ["extra"]),
    ("race nosuch", ["'nosuch'", "no such file"]),
    ("nosuch", ["'nosuch'"]),
    ("race ''", ["got ''"]),
    ("plot nosuch", ["'nosuch'"]),
    ("race bowl --config x.toml", ["--config"]),
    ("race bowl --tuned nosuchdir", ["nosuchdir"]),
    # --optimizers
    ("race bowl --optimizers sgd,nosuch", ["--optimizers", "'nosuch'"]),
    ("race bowl --optimizers sgd,SGD", ["--optimizers", "'sgd'", "twice"]),
    ("race bowl --optimizers ''", ["--optimizers", "''"]),
    ("race bowl --optimizers sgd,,adam", ["--optimizers", "'sgd,,adam'"]),
    ("race bowl --optimizers ,", ["--optimizers", "','"]),
    # --lr
    ("race bowl --lr adam", ["--lr", "'adam'"]),
    ("race bowl --lr =0.1", ["--lr", "'=0.1'"]),
    ("race bowl --lr adam=x", ["--lr", "adam", "'x'"]),
    ("race bowl --lr adam=-1", ["--lr", "adam", "-1"]),
    ("race bowl --lr adam=0", ["--lr", "adam", "> 0"]),
    ("race bowl --lr adam=nan", ["--lr", "adam", "nan"]),
    ("race bowl --lr adam=inf", ["--lr", "adam", "inf"]),
    ("race bowl --lr nosuch=0.1", ["--lr nosuch=0.1", "'nosuch'"]),
    # --preset, --function, --data
    ("race bowl --preset nosuch", ["preset", "'nosuch'"]),
    ("race bowl --function nosuch", ["problem.function", "'nosuch'"]),
    ("race bowl --data somewhere", ["--data somewhere", "'directory'"]),
    ("race mnist --data /nonexistent-gdlab-dir", ["/nonexistent-gdlab-dir"]),
    # --set, malformed
    ("race bowl --set noequals", ["--set", "'noequals'"]),
    ("race bowl --set =3", ["--set", "'=3'"]),
    ("race bowl --set training.steps=", ["--set", "'training.steps='"]),
    ("race bowl --set adam.=1", ["--set adam.=1", "'adam.'"]),
    # --set, unknown paths
    ("race bowl --set nosuch.lr=0.1", ["--set nosuch.lr=0.1", "'nosuch'"]),
    ("race bowl --set problem.nosuch=1", ["--set problem.nosuch=1", "'nosuch'"]),
    ("race bowl --set training.nosuch=1", ["training", "'nosuch'"]),
    ("race bowl --set adam.betta1=0.8", ["--set adam.betta1=0.8", "'betta1'"]),
    ("race bowl --set sgd.momentum=0.5", ["--set sgd.momentum=0.5", "'momentum'"]),
    ("race bowl --set problem.kind=nosuch", ["problem.kind", "'nosuch'"]),
    # --set, bad values
    ("race boston --set training.batching=shuffle", ["training.batching", "'shuffle'"]),
    ("race boston --set training.validation=holdout", ["training.validation", "'holdout'"]),
    ("race boston --set training.evaluate_every=0", ["training.evaluate_every", "got 0"]),
    ("race boston --set 'training.batch_size=\"64\"'", ["training.batch_size", "'64'"]),
    ("race bowl --set training.steps=1e400", ["training.steps", "inf"]),
    ("race bowl --set training.steps=3.0", ["training.steps", "3.0"]),
    ("race bowl --set training.steps=nan", ["training.steps", "nan"]),
    ("race bowl --set seeds=0", ["seeds", "got 0"]),
    ("race bowl --set seeds=x", ["seeds", "'x'"]),
    ("race mnist --set problem.split_seed=-1", ["problem.split_seed", "-1"]),
    ("race bowl --set problem.start=[1]", ["problem.start", "[1]"]),
    ("race bowl --set adam.beta1=1.5", ["Adam", "beta1", "1.5"]),
    ("race bowl --set adam.beta1=true", ["Adam", "beta1", "got true (boolean)"]),  # as typed
    ("race bowl --set sgd.lr=-1", ["SGD", "lr", "-1"]),
    ("race bowl --set sgd.label=Adam", ["'Adam'"]),
    ("race bowl --set name=a/b", ["name", "'a/b'"]),
    # sizes that need the data (or its absence)
    ("race bowl --batch-size 4", ["batch_size", "2-D function", "got 4"]),
    ("race boston --batch-size 100000", ["batch_size", "506", "100000"]),
    # tune
    ("tune bowl --metric accuracy", ["--metric accuracy", "'bowl'"]),
    ("tune bowl --tune nosuch", ["--tune", "'nosuch'"]),
    ("tune bowl --budget 1", ["--budget", "got 1"]),
    ("tune bowl --folds 0", ["--folds", "got 0"]),
    ("tune bowl --workers 2 --scheduler tcp://127.0.0.1:1", ["--scheduler", "--workers"]),
    ("tune bowl --method nosuch", ["--method", "'nosuch'"]),
]


FLAG_PARAMS = [pytest.param(line, names, id=line) for line, names in FLAG_CASES] + [
    pytest.param(
        "tune bowl --scheduler notanaddress",
        ["scheduler", "'notanaddress'"],
        id="tune bowl --scheduler notanaddress",
    ),
]


@pytest.mark.parametrize(("line", "names"), FLAG_PARAMS)
def test_a_bad_flag_or_value_is_one_line_and_touches_nothing(work, capsys, line, names):
    before = tree()
    code, out, err = gdlab(shlex.split(line), capsys)
    assert_usage_error(code, out, err, *names)
    assert tree() == before


@pytest.mark.parametrize(
    "argv",
    [["race", "nosuch"], ["race", "bowl", "--steps", "0"]],
    ids=["unknown experiment", "bad --steps"],
)
def test_a_real_process_ends_the_same_way(work, argv):
    """As a process (``python -m gdlab``): exit code 2, one line, no traceback."""
    before = tree()
    done = subprocess.run(command(*argv), capture_output=True, text=True, timeout=120)
    assert_usage_error(done.returncode, done.stdout, done.stderr, argv[-1])
    assert tree() == before


# --------------------------------------------------------------------------- 2. TOML files

PROBLEM = '[problem]\nkind = "function"\nfunction = "bowl"\n'
TRAINING = "[training]\nsteps = 3\n"
SGD = '[[runs]]\noptimizer = "sgd"\n'
GOOD = PROBLEM + TRAINING + SGD

TOML_CASES = [
    ("latin1.toml", b'name = "caf\xe9"\n' + GOOD.encode(), ["latin1.toml", "UTF-8"]),
    ("utf16.toml", GOOD.encode("utf-16"), ["utf16.toml", "UTF-8"]),
    ("invalid.toml", b"name = \n[problem\n", ["invalid.toml", "not valid TOML"]),
    ("cut.toml", (PROBLEM + TRAINING + '[[runs]]\noptimizer = "sg').encode(), ["cut.toml", "TOML"]),
    ("noproblem.toml", (TRAINING + SGD).encode(), ["noproblem.toml", "[problem]"]),
    ("notraining.toml", (PROBLEM + SGD).encode(), ["notraining.toml", "[training]"]),
    ("top.toml", ("bogus = 1\n" + GOOD).encode(), ["top.toml", "'bogus'"]),
    ("pkey.toml", (PROBLEM + "colour = 1\n" + TRAINING + SGD).encode(), ["pkey.toml", "'colour'"]),
    ("tkey.toml", (PROBLEM + TRAINING + "speed = 1\n" + SGD).encode(), ["tkey.toml", "'speed'"]),
    ("rkey.toml", (GOOD + "colour = 1\n").encode(), ["rkey.toml", "runs[0]", "'colour'"]),
    (
        "okey.toml",
        (PROBLEM + TRAINING + '[optimizers]\nnames = ["sgd"]\nspeed = 1\n').encode(),
        ["okey.toml", "'speed'"],
    ),
    (
        "ten.toml",
        (PROBLEM + '[training]\nsteps = "ten"\n' + SGD).encode(),
        ["ten.toml", "training.steps", "'ten'"],
    ),
    (
        "minus.toml",
        (PROBLEM + "[training]\nsteps = -5\n" + SGD).encode(),
        ["minus.toml", "training.steps", "-5"],
    ),
    (
        "huge.toml",
        (PROBLEM + "[training]\nsteps = 99999999999999999\n" + SGD).encode(),
        ["huge.toml", "training.steps", "99999999999999999"],
    ),
    (
        "half.toml",
        (PROBLEM + "[training]\nsteps = 3.5\n" + SGD).encode(),
        ["half.toml", "training.steps", "3.5"],
    ),
    (
        "both.toml",
        (PROBLEM + "[training]\nsteps = 3\nepochs = 2\n" + SGD).encode(),
        ["both.toml", "steps", "epochs"],
    ),
    (
        "collide.toml",
        (PROBLEM + TRAINING + SGD + 'label = "SGD"\n' + SGD + 'label = "sgd!"\n').encode(),
        ["collide.toml", "'SGD'", "'sgd!'"],
    ),
    ("runsteps.toml", (GOOD + 'steps = "3"\n').encode(), ["runsteps.toml", "steps", "'3'"]),
    (
        "beta.toml",
        (PROBLEM + TRAINING + '[[runs]]\noptimizer = "adam"\nbeta1 = 1.5\n').encode(),
        ["beta.toml", "runs[0]", "beta1", "1.5"],
    ),
    (
        "lrtwice.toml",
        (GOOD + "lr = 0.1\nhyperparameters = { lr = 0.2 }\n").encode(),
        ["lrtwice.toml", "'lr'"],
    ),
    (
        "optname.toml",
        (PROBLEM + TRAINING + '[[runs]]\noptimizer = "nosuch"\n').encode(),
        ["optname.toml", "'nosuch'"],
    ),
    ("noruns.toml", (PROBLEM + TRAINING).encode(), ["noruns.toml", "no runs"]),
    ("runs3.toml", ("runs = 3\n" + PROBLEM + TRAINING).encode(), ["runs3.toml", "runs"]),
    ("seeds.toml", ("seeds = 0\n" + GOOD).encode(), ["seeds.toml", "seeds", "0"]),
    ("name.toml", ('name = "../x"\n' + GOOD).encode(), ["name.toml", "name", "'../x'"]),
    ("label.toml", (GOOD + 'label = " "\n').encode(), ["label.toml", "label"]),
    ("sched.toml", (GOOD + 'lr = { name = "nosuch" }\n').encode(), ["sched.toml", "'nosuch'"]),
    ("batch.toml", (GOOD + "batch_size = 4\n").encode(), ["batch.toml", "runs[0].batch_size"]),
    (
        "kind.toml",
        ('[problem]\nkind = "nosuch"\n' + TRAINING + SGD).encode(),
        ["kind.toml", "'nosuch'"],
    ),
    (
        "hidden.toml",
        ('[problem]\nkind = "linreg"\ndata = "boston"\nhidden = [7]\n' + TRAINING + SGD).encode(),
        ["hidden.toml", "'hidden'"],
    ),
    (
        "strayl.toml",
        (PROBLEM + TRAINING + '[optimizers]\nnames = ["sgd"]\nlr = { adam = 0.1 }\n').encode(),
        ["strayl.toml", "'adam'"],
    ),
]


@pytest.mark.parametrize(("name", "content", "names"), TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_a_bad_experiment_file_is_named(work, capsys, name, content, names):
    Path(name).write_bytes(content)
    before = tree()
    code, out, err = gdlab(["race", "--config", name, "--no-figures", "--quiet"], capsys)
    assert_usage_error(code, out, err, *names)
    assert tree() == before


def _damaged(kind: str) -> bytes:
    """R/results.json of the earlier report, damaged as ``kind`` says."""
    text = Path("R", "results.json").read_text()
    document = json.loads(text)
    if kind == "cut short":
        return text[: len(text) // 2].encode()
    if kind == "empty":
        return b""
    if kind == "binary":
        return b"\xff\xfe\x00garbage"
    if kind == "wrong schema":
        return json.dumps({**document, "schema": "other/1"}).encode()
    if kind == "no schema":
        return json.dumps({k: v for k, v in document.items() if k != "schema"}).encode()
    if kind == "a list":
        return b"[1, 2, 3]"
    if kind == "no config":
        return json.dumps({k: v for k, v in document.items() if k != "config"}).encode()
    if kind == "bad config":
        return json.dumps({**document, "config": {**document["config"], "bogus": 1}}).encode()
    raise AssertionError(kind)


RESULTS_CASES = [
    ("cut short", ["damaged.json", "JSON"]),
    ("empty", ["damaged.json", "JSON"]),
    ("binary", ["damaged.json", "UTF-8"]),
    ("wrong schema", ["damaged.json", "'other/1'"]),
    ("no schema", ["damaged.json", "schema"]),
    ("a list", ["damaged.json", "results.json"]),
    ("no config", ["damaged.json", "no experiment"]),
    ("bad config", ["damaged.json", "'bogus'"]),
]


@pytest.mark.parametrize(("kind", "names"), RESULTS_CASES, ids=[c[0] for c in RESULTS_CASES])
def test_a_damaged_results_json_is_named(work, capsys, kind, names):
    Path("damaged.json").write_bytes(_damaged(kind))
    before = tree()
    code, out, err = gdlab(["race", "--config", "damaged.json", "--no-figures"], capsys)
    assert_usage_error(code, out, err, *names)
    assert tree() == before


@pytest.mark.parametrize(
    ("make", "given", "names"),
    [
        (lambda: Path("dir.toml").mkdir(), "dir.toml", ["dir.toml", "directory"]),
        (lambda: None, "missing.toml", ["'missing.toml'", "no such file"]),
        (lambda: None, "R", ["R", "directory"]),
        (lambda: None, "", ["''"]),
    ],
    ids=["a directory", "a missing file", "a report directory", "empty"],
)
def test_a_config_that_is_not_a_file_is_named(work, capsys, make, given, names):
    make()
    before = tree()
    code, out, err = gdlab(["race", "--config", given, "--no-figures"], capsys)
    assert_usage_error(code, out, err, *names)
    assert tree() == before


def test_the_results_json_of_a_report_runs_again(work, capsys):
    """The undamaged file, for contrast: it is read back and runs."""
    code, _, err = gdlab(["race", "--config", "R/results.json", "--no-figures", "--quiet",
                          "--out", "again"], capsys)  # fmt: skip
    assert code == 0, err
    assert [r["label"] for r in results("again")["runs"]] == [
        r["label"] for r in results("R")["runs"]
    ]


def test_config_reads_the_file_even_where_its_name_is_a_builtin(work, capsys):
    Path("bowl").write_text(PROBLEM + TRAINING + SGD + 'label = "Mine"\n')
    code, _, err = gdlab(["race", "--config", "bowl", "--no-figures", "--quiet", "--out", "M"],
                         capsys)  # fmt: skip
    assert code == 0, err
    assert [r["label"] for r in results("M")["runs"]] == ["Mine"]


# --------------------------------------------------------------------------- 3. output paths

OUT_COMMANDS = {
    "race": BOWL,
    "plot": ["plot", "schedules", "--quiet"],
    "tour": ["tour", "--quick", "--quiet"],
    "tune": ["tune", "bowl", "--steps", "3", "--budget", "2", "--folds", "1", "--quiet"],
}


def _bad_out(kind: str) -> tuple[str, list[str]]:
    if kind == "a file":
        return "afile", ["afile", "not a directory"]
    if kind == "below a file":
        return "afile/sub", ["afile/sub", "afile", "is a file"]
    if kind == "/dev/null":
        return "/dev/null", ["/dev/null", "not a directory"]
    if kind == "read-only":
        where = read_only_dir()
        return f"{where}/gdlab-hostile", [f"{where}/gdlab-hostile", "not writable"]
    if kind == "read-only, deeper":
        where = read_only_dir()
        return f"{where}/gdlab-hostile/a/b", [f"{where}/gdlab-hostile/a/b", "not writable"]
    raise AssertionError(kind)


@pytest.mark.parametrize("which", list(OUT_COMMANDS))
@pytest.mark.parametrize(
    "kind", ["a file", "below a file", "/dev/null", "read-only", "read-only, deeper"]
)
def test_an_out_that_cannot_be_written_is_refused_first(work, capsys, which, kind):
    out, names = _bad_out(kind)
    before = tree()
    code, stdout, err = gdlab([*OUT_COMMANDS[which], "--out", out], capsys)
    assert_usage_error(code, stdout, err, *names)
    assert tree() == before


@pytest.mark.parametrize("which", ["race", "plot", "tour"])
def test_an_out_holding_a_report_is_kept_without_force(work, capsys, which):
    before = tree()
    code, out, err = gdlab([*OUT_COMMANDS[which], "--out", "R"], capsys)
    assert_usage_error(code, out, err, "R already holds a report", "--force")
    assert tree() == before


def test_an_out_holding_anything_is_kept_without_force(work, capsys):
    Path("D").mkdir()
    Path("D", "notes.txt").write_text("mine\n")
    before = tree()
    code, out, err = gdlab([*BOWL, "--out", "D"], capsys)
    assert_usage_error(code, out, err, "D already holds", "--force")
    assert tree() == before


def test_force_replaces_the_report_and_leaves_nothing_else(work, capsys):
    old = results("R")
    others = {k: v for k, v in tree().items() if not k.startswith("R")}
    code, _, err = gdlab(
        ["race", "bowl", "--steps", "4", "--no-figures", "--quiet", "--out", "R", "--force"],
        capsys,
    )
    assert code == 0, err
    new = results("R")
    assert new["created"] >= old["created"]
    assert "--force" in new["command"]
    assert {r["steps"] for r in new["runs"]} == {4}
    assert sorted(os.listdir("R")) == ["results.csv", "results.json"]  # no lock left
    assert staged_dirs("R") == []
    assert {k: v for k, v in tree().items() if not k.startswith("R")} == others


def test_a_failing_run_with_force_keeps_the_old_report(work, capsys):
    """race boston --out B, then a second run into B that fails: B is byte-identical."""
    code, _, err = gdlab([*BOSTON, "--out", "B"], capsys)
    assert code == 0, err
    before = tree()
    code, out, err = gdlab(
        ["race", "boston", "--batch-size", "100000", "--out", "B", "--force"], capsys
    )
    assert_usage_error(code, out, err, "batch_size", "100000")
    assert tree() == before


def test_tune_into_a_race_report_leaves_its_files_as_they_are(work, capsys):
    """A race report is no tuning's directory: refused (even with --force), files as they were."""
    before = tree()
    for force in ([], ["--force"]):
        code, out, err = gdlab([*OUT_COMMANDS["tune"], "--out", "R", *force], capsys)
        assert_usage_error(code, out, err, "which no tuning makes")
        assert tree() == before


def test_out_dot_with_force_leaves_the_working_directory_as_it_was(work, capsys):
    before = tree()
    code, out, err = gdlab([*BOWL, "--out", ".", "--force"], capsys)
    assert_usage_error(code, out, err, ".")
    assert tree() == before


def test_an_empty_out_is_refused_first(empty_cwd, capsys):
    code, out, err = gdlab([*BOWL, "--out", ""], capsys)
    assert_usage_error(code, out, err, "--out")
    assert tree() == {}


# --------------------------------------------------------------------------- 4. concurrency


def test_a_second_writer_is_refused_naming_the_holder(work, capsys):
    before = tree()
    with _io.exclusive(Path("R"), what="--out", directory=True):
        holding = tree()
        code, out, err = gdlab([*BOWL, "--out", "R", "--force"], capsys)
        assert_usage_error(code, out, err, "R is in use", f"pid {os.getpid()} ", "--out")
        assert tree() == holding
    assert tree() == before  # the lock file went with its holder


def test_a_second_writer_into_a_new_out_is_refused(work, capsys):
    with _io.exclusive(Path("N"), what="--out", directory=True):
        holding = tree()
        code, out, err = gdlab([*BOWL, "--out", "N"], capsys)
        assert_usage_error(code, out, err, "N is in use", f"pid {os.getpid()} ")
        assert tree() == holding
    assert staged_dirs("N") == []


HOLD = """
import sys
from pathlib import Path
from gdlab import _io
with _io.exclusive(Path(sys.argv[1]), what="--out", directory=True):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_writer_is_refused_while_another_process_holds_out(work, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "R"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        holding = tree()
        code, out, err = gdlab([*BOWL, "--out", "R", "--force"], capsys)
        assert_usage_error(code, out, err, "R is in use", f"pid {holder.pid} ")
        assert tree() == holding
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0


def test_two_default_races_keep_both_and_latest_names_the_second(work, capsys):
    root = Path("gdlab-report", "bowl")
    before = tree()
    made = []
    for _ in range(2):
        known = set(os.listdir(root))
        code, _, err = gdlab(BOWL, capsys)
        assert code == 0, err
        new = set(os.listdir(root)) - known - {"latest"}
        assert len(new) == 1, new
        made.append(new.pop())
    assert made[0] != made[1]
    assert os.readlink(root / "latest") == made[1]
    after = tree()
    for key, value in before.items():  # every earlier file, the first report included
        if key != "gdlab-report/bowl/latest":
            assert after[key] == value, key
    for name in made:
        assert results(root / name)["status"] == "complete"
    assert staged_dirs(str(root / made[0])) == []


# --------------------------------------------------------------------------- 5. interruption

LONG = ["race", "bowl", "--steps", "200000", "--no-figures", "--quiet"]


def _interruptible() -> None:
    # In the child before it starts: SIGINT as a terminal's foreground job has
    # it. A suite run in the background (``cmd &`` without job control) starts
    # with SIGINT ignored, children inherit that, and a race would then finish
    # instead of stop.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        command(*argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
        **kwargs,
    )


def _begun(name: str):
    """Whether a race into --out ``name`` has started writing (its staged results.json)."""
    return lambda: bool(glob.glob(f".{name}.tmp-*/results.json"))


def _a_run_finished(name: str):
    """Whether a race into --out ``name`` has finished a run (its staged results.json)."""

    def finished() -> bool:
        for staged in glob.glob(f".{name}.tmp-*/results.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(Path(staged).read_text())["runs"]:
                    return True
        return False

    return finished


#: A shell reports both as 130: gdlab returns 130, and CPython, once a KeyboardInterrupt
#: was raised inside code run by exec() (numba and dataclasses make functions that way),
#: ends the process with SIGINT after main() has returned 130, which the shell also
#: reports as 128 + 2. A subprocess sees -2 then.
INTERRUPTED = (cli.EXIT_INTERRUPTED, -signal.SIGINT)


def _interrupt(process: subprocess.Popen, *, group: bool = False) -> str:
    """Send SIGINT (to the whole process group, as a terminal does, if ``group``);
    return stderr."""
    try:
        if group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return err


def assert_interrupted(
    process: subprocess.Popen, err: str, out: str, *, replaced: bool = False
) -> None:
    assert process.returncode in INTERRUPTED, (process.returncode, err)
    assert "Traceback" not in err, err
    if replaced:
        told = f"{out} keeps its earlier report (the unfinished one was not kept)"
    elif not Path(out).exists():  # Ctrl-C came before the first run's end
        told = "no run had finished (nothing was written)"
    else:
        told = f"the finished runs are in {out}"
    assert err.splitlines() == [f"gdlab: interrupted; {told}"], err


def test_ctrl_c_keeps_every_earlier_output(work):
    """SIGINT into a --force race over R: exit 130, one line, R and the rest unchanged."""
    before = tree()
    process = _start([*LONG, "--workers", "1", "--out", "R", "--force"])
    wait_for(_begun("R"), 120, "staged report", process)
    time.sleep(0.3)
    err = _interrupt(process)
    assert_interrupted(process, err, "R", replaced=True)
    assert tree() == before


def test_ctrl_c_to_the_process_group_leaves_a_valid_first_report(work):
    """Ctrl-C into a new --out: one line; the finished runs are there, marked
    interrupted; nothing earlier changes."""
    before = tree()
    process = _start([*LONG, "--workers", "1", "--out", "F"], start_new_session=True)
    wait_for(_a_run_finished("F"), 120, "a finished run", process)  # else no F is left
    err = _interrupt(process, group=True)
    assert_interrupted(process, err, "F")
    assert results("F")["status"] == "interrupted"
    assert staged_dirs("F") == []
    after = tree()
    assert {k: after[k] for k in before} == before


def _swallowed_ctrl_c() -> None:
    """Ctrl-C landing in a ctypes callback, as it does while numba compiles through
    llvmlite: ctypes prints the KeyboardInterrupt as "Exception ignored" and goes on."""
    import ctypes

    def callback() -> None:
        raise KeyboardInterrupt

    ctypes.CFUNCTYPE(None)(callback)()


def test_ctrl_c_swallowed_by_a_c_callback_still_stops_the_race(tmp_path, capsys, monkeypatch):
    import gdlab.race

    real_fit = gdlab.race.fit

    def fit(*args, **kwargs):
        _swallowed_ctrl_c()
        return real_fit(*args, **kwargs)  # 200,000 steps: the interrupt comes back in them

    monkeypatch.setattr(gdlab.race, "fit", fit)
    argv = ["race", "bowl", "--steps", "200000", "--no-figures", "--quiet", "--workers", "1"]
    assert cli.main([*argv, "--out", str(tmp_path / "R")]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "Exception ignored" not in err
    assert err.startswith("gdlab: interrupted"), err


def test_ctrl_c_swallowed_as_a_command_ends_is_raised_on_the_way_out():
    with pytest.raises(KeyboardInterrupt), cli._ctrl_c_never_lost():
        _swallowed_ctrl_c()
    time.sleep(0.05)  # and it is not sent again later
    with cli._ctrl_c_never_lost():  # a command without one ends as it would
        pass


QUICK_THEN_LONG = (
    PROBLEM
    + "[training]\nsteps = 200000\n"
    + '[[runs]]\nlabel = "Quick"\noptimizer = "sgd"\nsteps = 3\n'
    + '[[runs]]\nlabel = "Long"\noptimizer = "adam"\n'
)


def test_ctrl_c_with_force_does_not_claim_the_finished_runs_are_kept(work):
    Path("two.toml").write_text(QUICK_THEN_LONG)
    process = _start(["race", "--config", "two.toml", "--no-figures", "--quiet",
                      "--workers", "1", "--out", "R", "--force"])  # fmt: skip

    def one_run_done() -> bool:
        for path in glob.glob(".R.tmp-*/results.json"):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(Path(path).read_text())["runs"]:
                    return True
        return False

    try:
        wait_for(one_run_done, 120, "finished run", process)
    finally:
        err = _interrupt(process)
    assert process.returncode in INTERRUPTED, err
    labels = [r["label"] for r in results("R")["runs"]]
    assert "the finished runs are in R" not in err or "Quick" in labels, (err, labels)


def test_a_killed_race_leaves_no_lock_that_blocks(work, capsys):
    process = _start([*LONG, "--workers", "1", "--out", "K"])
    try:
        wait_for(_begun("K"), 120, "staged report", process)
        assert Path("K", ".gdlab.lock").exists()
    finally:
        process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    code, _, err = gdlab([*BOWL, "--out", "K"], capsys)
    assert code == 0, err
    assert results("K")["status"] == "complete"
    assert not Path("K", ".gdlab.lock").exists()


# --------------------------------------------------------------------------- 6. full disk


@pytest.fixture
def small_disk(work):
    """A 300 KiB tmpfs at ./disk (root and a working mount(8) needed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount(8) here")
    disk = work / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


FILL = ["race", "bowl", "--steps", "2000", "--no-figures", "--quiet"]


@pytest.mark.parametrize("force", [False, True], ids=["new out", "force over a report"])
def test_a_full_disk_is_one_line_and_keeps_the_report_there(small_disk, capsys, force):
    code, _, err = gdlab([*BOWL, "--out", "disk/old"], capsys)
    assert code == 0, err
    target = "disk/old" if force else "disk/new"
    before = tree("disk")
    code, out, err = gdlab([*FILL, "--out", target, *(["--force"] if force else [])], capsys)
    line = assert_run_error(code, out, err)
    assert "No space left" in line or target in line, line
    after = tree("disk")
    if force:
        assert after == before
    else:  # a first run into a new --out keeps what finished there; the old report stays
        assert {k: after[k] for k in before} == before
    assert not glob.glob("disk/.old.tmp-*")
    assert not glob.glob("disk/.old.old-*")


def assert_run_error(code: int, out: str, err: str, *names: str) -> str:
    """A request that was fine and a machine that failed it (a full disk): exit code 1,
    one line ``gdlab: error: …`` naming every one of ``names``; returns the line."""
    assert code == cli.EXIT_RUN_FAILED, (code, err)
    assert out == "", out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR), err
    for name in names:
        assert name in lines[0], (name, err)
    return lines[0]


def test_a_full_disk_names_where(small_disk, capsys):
    code, out, err = gdlab([*FILL, "--out", "disk/new"], capsys)
    assert_run_error(code, out, err, "No space left", "disk/new")


# --------------------------------------------------------------------------- 7. broken pipe


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["table", "json"])
def test_a_closed_pipe_ends_quietly(work, extra):
    """``gdlab race … | head -c 0``: the reader is gone before gdlab prints."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            command(*BOWL, "--out", "X", *extra),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr == ""
    assert done.returncode == cli.EXIT_BROKEN_PIPE
    assert results("X")["status"] == "complete"


# --------------------------------------------------------------------------- 8. results.csv

FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "plain"]


def test_a_label_that_a_spreadsheet_would_run_stays_text(work, capsys):
    runs = "".join(
        f'[[runs]]\nlabel = {json.dumps(label)}\noptimizer = "sgd"\n' for label in FORMULAS
    )
    Path("formula.toml").write_text(PROBLEM + TRAINING + runs)
    code, _, err = gdlab(["race", "--config", "formula.toml", "--no-figures", "--quiet",
                          "--out", "C"], capsys)  # fmt: skip
    assert code == 0, err
    with open("C/results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [row["label"] for row in rows]
    assert cells == ["'" + label for label in FORMULAS[:-1]] + ["plain"]
    assert [r["label"] for r in results("C")["runs"]] == FORMULAS
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@")), (column, cell)
