"""Edges of the command line and the experiment model: ``--force`` and links, ``--tune``,
``--preset``, damaged ``tune.json`` files, ``--lr`` on schedules; each test pins a fixed bug."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_run import BOWL, gdlab
from gdlab import cli, tuning
from gdlab._checks import ConfigError
from gdlab.experiments import load
from gdlab.experiments.model import RunSpec, schedule_lr0


def usage_error(code, out, err, *words):
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.startswith("gdlab: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def tree(root: Path) -> dict[str, bytes | str | None]:
    """Every path under ``root``: a file's bytes, a link's target, None for a directory."""
    found: dict[str, bytes | str | None] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = os.readlink(path)
        elif path.is_dir():
            found[key] = None
        else:
            found[key] = path.read_bytes()
    return found


# --------------------------------------------------------------------------- run group


def test_a_group_that_is_not_text_is_refused_before_anything_is_written(cwd, capsys):
    """It passed the model's checks and failed in the worker: exit 2 with a half report."""
    code, out, err = gdlab([*BOWL, "--set", "sgd.group=[1]"], capsys)
    usage_error(code, out, err, "--set sgd.group=[1]", "group", "string")
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("key", "typed", "field"),
    [("sgd.group", "1", "group"), ("sgd.label", "1e3", "label"), ("title", "2024", "title"),
     ("name", "2024", "name")],
)  # fmt: skip
def test_a_value_toml_reads_as_a_number_is_text_where_the_key_takes_text(
    cwd, capsys, key, typed, field
):
    """``--set title=2024``: TOML reads 2024 as an integer; the title is the text typed."""
    code, _out, err = gdlab([*BOWL, "--set", f"{key}={typed}"], capsys)
    assert code == 0, err
    document = json.loads(next(cwd.glob("gdlab-report/*/latest/results.json")).read_text())
    config = document["config"]
    value = config[field] if field in config else config["runs"][0][field]
    assert value == typed


def test_a_run_spec_checks_its_group_and_preset_types():
    with pytest.raises(ConfigError, match="group of run 'SGD' must be a string; got 1"):
        RunSpec("SGD", "sgd", group=1)
    with pytest.raises(ConfigError, match="preset of run 'SGD' must be a string"):
        RunSpec("SGD", "sgd", preset=["book"])


def test_a_label_set_empty_names_the_set(cwd, capsys):
    code, out, err = gdlab([*BOWL, "--set", 'sgd.label=""'], capsys)
    usage_error(code, out, err, "--set sgd.label", "non-empty")


# --------------------------------------------------------------------------- --lr on schedules


def test_lr_on_a_warmup_to_a_constant_rate_sets_that_rate():
    """docs/experiments.md: changing the rate sets "a warm-up's inner schedule"."""
    warmup = {"name": "warmup", "warmup_steps": 2, "schedule": 0.1}
    experiment = load("bowl").set("sgd.lr", warmup).with_lr("sgd", 0.5)
    lr = experiment.runs[0].hyperparameters["lr"]
    assert lr == {"name": "warmup", "warmup_steps": 2, "schedule": 0.5}
    assert schedule_lr0(warmup) == 0.1


def test_lr_that_is_not_a_number_on_a_schedule_is_refused_by_name():
    piecewise = {"name": "piecewise", "boundaries": [2], "values": [0.1, 0.01]}
    experiment = load("bowl").set("sgd.lr", piecewise)
    with pytest.raises(ConfigError, match=r"lr of run 'SGD' must be a number > 0.*got 'x'"):
        experiment.with_lr("sgd", "x")


# --------------------------------------------------------------------------- --tuned


def tune_json(**changes) -> dict:
    best = {"hyperparameters": {"lr": 0.1}}
    document = {
        "schema": tuning.SCHEMA_ID,
        "experiment": {"name": "bowl"},
        "configurations": {"SGD": {"best": best}, "Adam": {"best": best}},
        "folds": 3,
        "metric": "final loss",
        "budget": 2,
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"configurations": [1]}, ["configurations must be an object"]),
        ({"experiment": "bowl"}, ["experiment must be an object"]),
        ({"configurations": {"SGD": {"best": 3}}}, ["'SGD'", "best must be null or an object"]),
        (
            {"configurations": {"SGD": {"best": {"hyperparameters": 3}}}},
            ["'SGD'", "'hyperparameters'"],
        ),
        ({"budget": None}, ["'budget' is missing"]),
        (
            {
                "configurations": {
                    k: {"best": {"hyperparameters": {"lr": -1}}} for k in ("SGD", "Adam")
                }
            },
            ["T/tune.json", "lr must be > 0"],
        ),
    ],
)
def test_a_damaged_tune_json_is_one_line_naming_it(cwd, capsys, changes, words):
    Path("T").mkdir()
    Path("T", "tune.json").write_text(json.dumps(tune_json(**changes)))
    before = tree(cwd)
    code, out, err = gdlab([*BOWL, "--tuned", "T/tune.json"], capsys)
    usage_error(code, out, err, *words)
    assert tree(cwd) == before


def test_a_sound_tune_json_still_races(cwd, capsys):
    Path("T").mkdir()
    Path("T", "tune.json").write_text(json.dumps(tune_json()))
    code, _, err = gdlab([*BOWL, "--tuned", "T"], capsys)
    assert code == 0, err


# --------------------------------------------------------------------------- gdlab tune


@pytest.mark.parametrize(("given", "word"), [("lr,lr", "'lr' is named twice"), ("", "list"),
                                             (",", "list"), ("lr,", "list")])  # fmt: skip
def test_tune_names_are_a_list_without_gaps_or_repeats(cwd, capsys, given, word):
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--quiet", "--tune", given]
    code, out, err = gdlab(argv, capsys)
    usage_error(code, out, err, "--tune", word)
    assert list(cwd.iterdir()) == []


def test_a_tuning_that_fails_before_any_task_leaves_nothing(cwd, capsys, monkeypatch):
    """An unreachable Dask scheduler left ``T/`` with an empty tasks-*.jsonl (and parents)."""
    from gdlab import sweep

    def no_scheduler(fn, tasks, out, **kwargs):
        Path(out).touch()  # the sweep opens its file, then cannot reach the workers
        raise RuntimeError("cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'")

    monkeypatch.setattr(sweep, "run_sweep", no_scheduler)
    argv = ["tune", "bowl", "--steps", "3", "--budget", "2", "--quiet", "--optimizers", "sgd"]
    code, out, err = gdlab([*argv, "--out", "new/deeper/T"], capsys)
    usage_error(code, out, err, "Dask scheduler")
    assert list(cwd.iterdir()) == []
    Path("mine").mkdir()
    Path("mine", "notes.txt").write_text("keep\n")
    before = tree(cwd)
    code, out, err = gdlab([*argv, "--out", "mine"], capsys)
    usage_error(code, out, err, "--out mine", "'notes.txt', which no tuning makes")
    assert tree(cwd) == before


# --------------------------------------------------------------------------- --preset


def test_a_bad_preset_names_the_flag_and_every_preset(cwd, capsys):
    code, out, err = gdlab([*BOWL, "--preset", "nope"], capsys)
    usage_error(code, out, err, "--preset must be one of", "optax", "'nope'")
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["race"].format_help()
    assert "optax" in " ".join(help_text.split())


# --------------------------------------------------------------------------- --out/--force


def test_force_never_replaces_a_directory_that_is_not_a_report(cwd, capsys):
    Path("papers").mkdir()
    for name in ("thesis.tex", "data.csv"):
        Path("papers", name).write_text("mine\n")
    before = tree(cwd)
    code, out, err = gdlab([*BOWL, "--out", "papers", "--force"], capsys)
    usage_error(code, out, err, "papers", "not a gdlab report", "data.csv")
    assert tree(cwd) == before


def test_force_never_replaces_a_tree_of_reports(cwd, capsys):
    for _ in range(2):
        code, _, err = gdlab(BOWL, capsys)
        assert code == 0, err
    before = tree(cwd)
    code, out, err = gdlab([*BOWL, "--out", "gdlab-report/bowl", "--force"], capsys)
    usage_error(code, out, err, "gdlab-report/bowl", "holds gdlab reports", "not one report")
    assert tree(cwd) == before


def test_force_still_replaces_a_report(cwd, capsys):
    code, _, err = gdlab([*BOWL, "--out", "R"], capsys)
    assert code == 0, err
    code, _, err = gdlab([*BOWL, "--out", "R", "--force", "--set", "seeds=2"], capsys)
    assert code == 0, err
    assert json.loads(Path("R", "results.json").read_text())["config"]["seeds"] == 2


def test_force_into_latest_replaces_the_report_it_points_to_and_keeps_the_link(cwd, capsys):
    """It replaced the link by a directory and left a stray ``.latest.old-*`` link."""
    code, _, err = gdlab(BOWL, capsys)
    assert code == 0, err
    root = Path("gdlab-report", "bowl")
    target = os.readlink(root / "latest")
    code, _, err = gdlab([*BOWL, "--out", str(root / "latest"), "--force", "--set", "seeds=2"],
                         capsys)  # fmt: skip
    assert code == 0, err
    assert (root / "latest").is_symlink()
    assert os.readlink(root / "latest") == target
    assert sorted(p.name for p in root.iterdir()) == sorted([target, "latest"])
    assert json.loads((root / target / "results.json").read_text())["config"]["seeds"] == 2


# --------------------------------------------------------------------------- the path told


def _told(out: str) -> Path:
    """The file the command named after its title line, ``TITLE  (PATH)``."""
    return Path(out.splitlines()[0].rsplit("(", 1)[1].rstrip(")"))


def test_without_symlinks_the_race_names_its_stamped_report(cwd, capsys, monkeypatch):
    """It named gdlab-report/bowl/latest/results.json, which a filesystem without links
    never has (the newest report's name is in the text file LATEST)."""

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    code, out, err = gdlab(BOWL, capsys)
    assert code == 0, err
    root = Path("gdlab-report", "bowl")
    stamped = (root / "LATEST").read_text().strip()
    assert _told(out) == root / stamped / "results.json"
    assert _told(out).is_file()


def test_a_latest_that_cannot_be_pointed_is_not_named(cwd, capsys, monkeypatch):
    from gdlab import results

    def refused(root, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(results, "_relink_latest", refused)
    code, out, err = gdlab([*BOWL[:4], "--quiet", "--optimizers", "sgd,adam"], capsys)
    assert code == 0, err
    assert "could not be pointed at" in err
    told = _told(out)
    assert told.name == "index.html"
    assert told.is_file()
    assert told.parent.parent == Path("gdlab-report", "bowl")
    assert not Path("gdlab-report", "bowl", "latest").exists()


def test_a_plot_names_what_exists_without_symlinks(cwd, capsys, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", no_links)
    code, out, err = gdlab(["plot", "schedules", "--quiet"], capsys)
    assert code == 0, err
    assert Path(out.strip().splitlines()[-1]).is_file(), out


# --------------------------------------------------------------------------- a full disk


def failed(code, out, err, *words):
    """The race ran and could not finish its report: exit 1 (a bad request is 2), one line."""
    assert code == 1, (code, out, err)
    assert out == ""
    assert err.startswith("gdlab: error: "), err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)


def _disk_full_in_the_page(monkeypatch):
    """The runs finish and results.json is written; the page then meets a full disk."""
    import errno

    import gdlab.report

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gdlab.report, "write", full)


def test_a_full_disk_in_a_new_out_names_the_unfinished_report_it_kept(cwd, capsys, monkeypatch):
    """It said "R was not written", and R held the finished runs."""
    _disk_full_in_the_page(monkeypatch)
    code, out, err = gdlab([*BOWL[:4], "--quiet", "--optimizers", "sgd,adam", "--out", "R"],
                           capsys)  # fmt: skip
    failed(code, out, err, "No space left on device", "the report in R is unfinished")
    assert "was not written" not in err
    assert len(json.loads(Path("R", "results.json").read_text())["runs"]) == 2


def test_a_full_disk_without_out_names_the_stamped_report(cwd, capsys, monkeypatch):
    _disk_full_in_the_page(monkeypatch)
    code, out, err = gdlab([*BOWL[:4], "--quiet", "--optimizers", "sgd,adam"], capsys)
    (stamped,) = [p for p in Path("gdlab-report", "bowl").iterdir() if p.name[0].isdigit()]
    failed(code, out, err, f"the report in {stamped} is unfinished")
    assert (stamped / "results.json").is_file()


def test_a_full_disk_while_replacing_keeps_the_old_report(cwd, capsys, monkeypatch):
    code, _, err = gdlab([*BOWL, "--out", "R"], capsys)
    assert code == 0, err
    before = tree(Path("R"))
    _disk_full_in_the_page(monkeypatch)
    argv = [*BOWL[:4], "--quiet", "--optimizers", "sgd,adam", "--out", "R", "--force"]
    code, out, err = gdlab(argv, capsys)
    failed(code, out, err, "R was not written (nothing earlier changed)")
    assert tree(Path("R")) == before


def _ctrl_c_in_run(monkeypatch, number: int) -> None:
    """Ctrl-C as the race's run ``number`` (from 1) starts, in this process."""
    import gdlab.race

    real_fit, started = gdlab.race.fit, []

    def fit(*args, **kwargs):
        started.append(1)
        if len(started) == number:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(gdlab.race, "fit", fit)


def test_ctrl_c_without_out_names_the_stamped_report_of_the_finished_runs(cwd, capsys, monkeypatch):
    """It named gdlab-report/bowl, which holds every report of bowl."""
    _ctrl_c_in_run(monkeypatch, 2)
    code, _, err = gdlab(BOWL, capsys)
    assert code == cli.EXIT_INTERRUPTED
    (stamped,) = [p for p in Path("gdlab-report", "bowl").iterdir() if p.name[0].isdigit()]
    assert err == f"gdlab: interrupted; the finished runs are in {stamped}\n"
    assert [r["label"] for r in json.loads((stamped / "results.json").read_text())["runs"]][:1] == [
        "SGD"
    ]


def test_ctrl_c_before_any_run_finished_says_so(cwd, capsys, monkeypatch):
    """It said "the finished runs are in R", and R held none."""
    _ctrl_c_in_run(monkeypatch, 1)
    code, _, err = gdlab([*BOWL, "--out", "R"], capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert err == "gdlab: interrupted; no run had finished (nothing was written)\n"


@pytest.mark.parametrize("existing", [False, True])
def test_ctrl_c_before_any_run_finished_leaves_nothing(cwd, capsys, monkeypatch, existing):
    """It left a report of no run in a new --out (results.json and results.csv), which
    the same command then refused without --force; gdlab tune and gdlab tour leave
    nothing. A new --out (and the folders made for it) is gone; an existing empty one
    stays, empty."""
    if existing:
        Path("given").mkdir()
    out = Path("given", "R") if not existing else Path("given")
    argv = [*BOWL, "--quiet", "--no-figures", "--out", str(out)]
    _ctrl_c_in_run(monkeypatch, 1)
    code, _, err = gdlab(argv, capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert err == "gdlab: interrupted; no run had finished (nothing was written)\n"
    assert sorted(p.name for p in Path().iterdir()) == (["given"] if existing else [])
    if existing:
        assert list(out.iterdir()) == []
    code, _, err = gdlab(argv, capsys)  # the same command (its runs not stopped): no --force
    assert code == 0, err
    assert json.loads((out / "results.json").read_text())["status"] == "complete"


#: The commands, without --out, stopped before anything finished, and what each says.
_STOPPED_AT_ONCE = {
    "race": ([*BOWL], "no run had finished"),
    "tour": (["tour", "--quick", "--quiet"], "no experiment had finished"),
    "tune": (
        ["tune", "bowl", "--steps", "3", "--budget", "2", "--optimizers", "sgd", "--quiet"],
        "no task had finished",
    ),
}


@pytest.mark.parametrize("before", ["nothing", "an empty gdlab-report", "an earlier report"])
@pytest.mark.parametrize("command", sorted(_STOPPED_AT_ONCE))
def test_ctrl_c_before_anything_finished_leaves_no_default_directory(
    cwd, capsys, monkeypatch, command, before
):
    """Without --out, it left the gdlab-report/NAME/ it had made (and gdlab-report/),
    empty, though it said that nothing was written; what was there before stays as it
    was, an earlier report's latest link included."""
    from gdlab import sweep

    argv, told = _STOPPED_AT_ONCE[command]
    if before == "an empty gdlab-report":
        Path("gdlab-report").mkdir()
    elif before == "an earlier report":  # gdlab-report/bowl/<stamp>/ and its latest
        code, _, err = gdlab(BOWL, capsys)
        assert code == 0, err
        assert Path("gdlab-report", "bowl", "latest").is_symlink()
    earlier = tree(Path())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    _ctrl_c_in_run(monkeypatch, 1)
    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    code, _, err = gdlab(argv, capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert err == f"gdlab: interrupted; {told} (nothing was written)\n"
    assert tree(Path()) == earlier


def test_a_staging_directory_is_made_again_where_a_stopped_run_removed_its_parent(
    tmp_path, monkeypatch
):
    """A run stopped early removes the empty gdlab-report/NAME/ it made; another that
    had just made (found) it for its own staging directory failed (FileNotFoundError)."""
    import tempfile

    from gdlab import _io

    real, removed = tempfile.mkdtemp, []

    def mkdtemp(*args, dir, **kwargs):
        if not removed:  # the other run's clean-up, between mkdir and mkdtemp
            removed.append(dir)
            os.rmdir(dir)
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(_io.tempfile, "mkdtemp", mkdtemp)
    staged = _io.staging_dir(tmp_path / "gdlab-report" / "bowl" / "20261203-074100-ab12")
    assert removed == [tmp_path / "gdlab-report" / "bowl"]
    assert staged.is_dir()
    assert staged.parent == removed[0]


def test_ctrl_c_in_a_tour_names_the_stamped_tour_it_kept(cwd, capsys, monkeypatch):
    """It named gdlab-report/tour, which holds every tour."""
    from gdlab import experiments

    _ctrl_c_in_run(monkeypatch, len(experiments.builtin("bowl").runs) + 1)  # the second one's
    code, _, err = gdlab(["tour", "--quick", "--quiet"], capsys)
    assert code == cli.EXIT_INTERRUPTED
    (stamped,) = [p for p in Path("gdlab-report", "tour").iterdir() if p.name[0].isdigit()]
    assert err.startswith(f"gdlab: interrupted; the tour stopped early; {stamped}: it shows bowl")
    assert err.count("\n") == 1
    assert (stamped / "bowl" / "index.html").is_file()
    assert (stamped / "index.html").is_file()  # the combined page of what finished


def test_ctrl_c_in_a_tour_replacing_a_report_says_the_earlier_one_is_kept(cwd, capsys, monkeypatch):
    """It said "the finished experiments are in X" while X held the earlier report."""
    code, _, err = gdlab([*BOWL, "--out", "X"], capsys)
    assert code == 0, err
    before = tree(Path("X"))
    _ctrl_c_in_run(monkeypatch, 1)
    code, _, err = gdlab(["tour", "--quick", "--quiet", "--out", "X", "--force"], capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert (
        err == "gdlab: interrupted; X keeps its earlier report (the unfinished one was not kept)\n"
    )
    assert tree(Path("X")) == before
