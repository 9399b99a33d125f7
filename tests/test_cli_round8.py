"""Round 8 of the command line: ``--tuned`` before the experiment, flags given twice,
mistyped commands, empty folders, a second Ctrl-C, the ranking's headers, the
``--print-every`` step numbers and the origin a data check names; each test pins a
fixed bug."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from cli_run import BOWL, gdlab
from gdlab import cli


def refused(argv, capsys, message: str) -> None:
    """``gdlab argv`` says ``message`` in one line, exits with 2 and writes nothing."""
    code, out, err = gdlab(argv, capsys)
    assert (code, out, err) == (2, "", f"gdlab: error: {message}\n")
    assert list(Path().iterdir()) == []


# --------------------------------------------------------------------------- --tuned EXPERIMENT


def test_tuned_before_the_experiment_is_refused_with_the_right_order(cwd, capsys):
    """`--tuned bowl` took bowl for DIR: "no tuning results at bowl", and the race was mnist's."""
    refused(
        ["race", "--tuned", "bowl", "--optimizers", "sgd,adam", "--steps", "50"],
        capsys,
        "--tuned takes a directory of tuning results; got 'bowl', an experiment: put the "
        "experiment first, gdlab race bowl --tuned",
    )


def test_tuned_before_an_experiment_file_is_refused(cwd, capsys):
    Path("my.toml").write_text("")
    code, out, err = gdlab(["race", "--tuned", "my.toml"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "gdlab: error: --tuned takes a directory of tuning results; got 'my.toml', an "
        "experiment: put the experiment first, gdlab race my.toml --tuned\n"
    )


def test_a_directory_named_like_an_experiment_is_still_a_tuned_dir(cwd, capsys):
    Path("bowl").mkdir()
    code, _, err = gdlab(["race", "--tuned", "bowl", "--steps", "2"], capsys)
    assert code == 2
    assert "no tuning results at bowl" in err  # read as DIR, not refused as an experiment


# --------------------------------------------------------------------------- flags given twice


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["race", "bowl", "--steps", "5", "--steps", "7"], "--steps is given twice (5 and 7)"),
        (
            ["race", "bowl", "--optimizers", "sgd", "--optimizers", "adam"],
            "--optimizers is given twice (sgd and adam)",
        ),
        (["race", "bowl", "--seeds", "2", "--seeds", "1"], "--seeds is given twice (2 and 1)"),
        (["race", "bowl", "--out", "d2", "--out", "d3"], "--out is given twice (d2 and d3)"),
        (
            ["race", "--config", "a.toml", "--config", "b.toml"],
            "--config is given twice (a.toml and b.toml)",
        ),
        (
            ["race", "bowl", "--function", "beale", "--function", "rosenbrock"],
            "--function is given twice (beale and rosenbrock)",
        ),
        (["race", "bowl", "--tuned", "--tuned", "x"], "--tuned is given twice (no value and x)"),
        (["race", "bowl", "--step", "3", "--steps", "4"], "--steps is given twice (3 and 4)"),
        (["tune", "bowl", "--budget", "8", "--budget", "8"], "--budget is given twice (8 and 8)"),
        (["plot", "ewma", "--out", "a", "--out", "b"], "--out is given twice (a and b)"),
        (["play", "--port", "1", "--port", "2"], "--port is given twice (1 and 2)"),
    ],
)
def test_a_flag_given_twice_is_refused(cwd, capsys, argv, message):
    """The last value was kept silently: `--optimizers sgd --optimizers adam` raced Adam only."""
    refused(argv, capsys, f"{message}: give it once")


def test_the_repeatable_flags_may_be_given_twice(cwd, capsys):
    argv = [*BOWL, "--lr", "sgd=0.1", "--lr", "adam=0.2", "--set", "seeds=1", "--set", "title=x"]
    code, _, err = gdlab([*argv, "--out", "R"], capsys)
    assert (code, err) == (0, "")
    document = json.loads(Path("R", "results.json").read_text())
    assert {r["label"]: r["hyperparameters"]["lr"] for r in document["runs"]} == {
        "SGD": 0.1,
        "Adam": 0.2,
    }


# --------------------------------------------------------------------------- unknown commands


@pytest.mark.parametrize(
    ("argv", "close"),
    [(["tunee", "bowl"], "tune"), (["plott", "ewma"], "plot"), (["Race", "bowl"], "race"),
     (["mnsit"], "mnist"), (["xyz"], None)],
)  # fmt: skip
def test_a_mistyped_command_is_named(cwd, capsys, argv, close):
    """It said "unrecognized arguments: bowl": the command became `race tunee bowl`."""
    hint = f"; did you mean {close!r}?" if close else ""
    refused(
        argv,
        capsys,
        f"unknown command {argv[0]!r}: expected one of race, tune, plot, tour, play, or an "
        f"experiment to race (bowl, boston, moons, mnist, schedules){hint}",
    )


def test_an_experiment_or_a_file_without_race_still_races(cwd, capsys):
    assert gdlab([*BOWL[1:], "--out", "R"], capsys)[0] == 0
    code, _, err = gdlab(["missing.toml"], capsys)  # a file: `race missing.toml` says why
    assert code == 2
    assert "got 'missing.toml' (no such file)" in err


# --------------------------------------------------------------------------- empty folders


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["tune", "bowl", "--budget", "2", "--steps", "2", "--out", ""], "--out"),
        (["tune", "bowl", "--out", " "], "--out"),
        (["race", "bowl", "--steps", "2", "--tuned", ""], "--tuned"),
        (["race", "bowl", "--out", ""], "--out"),
    ],
)
def test_an_empty_folder_is_refused_not_taken_as_the_default(cwd, capsys, argv, flag):
    """`tune --out ''` wrote gdlab-report/bowl-tune; `race --tuned ''` read the default."""
    refused(argv, capsys, f"{flag} must name a directory; got {argv[-1]!r}")


# --------------------------------------------------------------------------- a second Ctrl-C


def _ctrl_c_in_run(monkeypatch, number: int) -> None:
    """A real SIGINT to this process as the race's run ``number`` (from 1) starts."""
    from gdlab import race

    real_fit, started = race.fit, []

    def fit(*args, **kwargs):
        started.append(1)
        if len(started) == number:
            signal.raise_signal(signal.SIGINT)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(race, "fit", fit)


def test_a_second_ctrl_c_while_the_page_is_drawn_is_ignored(cwd, capsys, monkeypatch):
    """A second Ctrl-C during the stopped race's cleanup left a report with no page."""
    from gdlab import report

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has another handler here")
    _ctrl_c_in_run(monkeypatch, 2)
    real_write, drawn = report.write, []

    def write(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # the second Ctrl-C
        drawn.append(real_write(*args, **kwargs))

    monkeypatch.setattr(report, "write", write)
    code, _, err = gdlab(["race", "bowl", "--steps", "3", "--quiet", "--workers", "1",
                          "--optimizers", "sgd,adam", "--out", "R"], capsys)  # fmt: skip
    assert (code, err) == (cli.EXIT_INTERRUPTED, "gdlab: interrupted; the finished runs are in R\n")
    assert drawn
    assert Path("R", "index.html").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_ctrl_c_is_ignored_until_the_command_has_said_what_it_left(monkeypatch):
    """The whole command (a tuning's clean-up, the line that says what is left), not
    only a report's writing, is safe from a second Ctrl-C; Python's handler is back after."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has another handler here")
    said = []

    def command(argv, line, *_):
        try:
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C stops the command
        except KeyboardInterrupt:
            signal.raise_signal(signal.SIGINT)  # the second does nothing
            said.append("interrupted")
        return cli.EXIT_INTERRUPTED

    monkeypatch.setattr(cli, "_main", command)
    assert cli.main(["race", "bowl"]) == cli.EXIT_INTERRUPTED
    assert said == ["interrupted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def serving(argv, line, *_):  # gdlab play: Python's handler throughout
        said.append(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
        return 0

    monkeypatch.setattr(cli, "_main", serving)
    assert cli.main(["play"]) == 0
    assert said[-1] is True


def test_an_interrupted_race_without_its_page_says_so(cwd, capsys, monkeypatch):
    """It said "the finished runs are in R" of a report with no index.html."""
    from gdlab import report

    _ctrl_c_in_run(monkeypatch, 2)

    def write(*args, **kwargs):
        raise KeyboardInterrupt  # a Ctrl-C the command could not hold back

    monkeypatch.setattr(report, "write", write)
    code, _, err = gdlab(["race", "bowl", "--steps", "3", "--quiet", "--workers", "1",
                          "--optimizers", "sgd,adam", "--out", "R"], capsys)  # fmt: skip
    kept = Path("R", "results.json")
    assert code == cli.EXIT_INTERRUPTED
    assert err == (
        f"gdlab: interrupted; {kept} keeps the 1 finished run, but the page was not drawn: "
        f"R has no index.html (gdlab race --config {kept})\n"
    )
    assert len(json.loads(kept.read_text())["runs"]) == 1
    assert not Path("R", "index.html").exists()


# --------------------------------------------------------------------------- the ranking


def _run(label, **metrics):
    return {"label": label, "seed": 0, "status": "ok", "metrics": metrics, "steps": 3,
            "seconds": 0.1}  # fmt: skip


@pytest.mark.parametrize(
    ("metrics", "header"),
    [
        ({"test_accuracy": 0.9, "train_accuracy": 0.95}, "test accuracy"),
        ({"train_accuracy": 0.95}, "train accuracy"),
        ({}, None),
    ],
)
def test_the_ranking_says_which_accuracy_and_which_loss(metrics, header):
    """The column said "accuracy": test for mnist, train for moons (it has no test set);
    a regression has none, and no column of dashes."""
    rows = cli.summary({"runs": [_run("SGD", final_loss=0.5, best_loss=0.4, **metrics)]})
    assert rows[0]["accuracy_on"] == (header.split()[0] if metrics else None)
    head, _, row = cli._table(rows).splitlines()
    assert "final train loss" in head
    assert "best train loss" in head
    if header is None:
        assert "accuracy" not in head
        assert len(row.split()) == len(head.split()) - 4  # "final/best train loss": 2 words more
    else:
        assert header in head


def test_a_2d_functions_ranking_says_f(cwd, capsys):
    code, out, _ = gdlab([*BOWL, "--out", "R"], capsys)
    assert code == 0
    assert "final f" in out.splitlines()[1]
    assert "best f" in out.splitlines()[1]


# --------------------------------------------------------------------------- --print-every


def test_print_every_numbers_steps_as_results_json(cwd, capsys):
    """The row "3" showed loss[3], which results.json calls step 4's (before its update).
    Round 11: a 2-D function's figures count updates applied (f after 3 updates is their
    step 3), so its table does too: rows 0, 3, 6 hold loss[0], loss[3], loss[6]."""
    argv = ["race", "bowl", "--steps", "7", "--no-figures", "--quiet", "--optimizers",
            "sgd,adam", "--print-every", "3", "--out", "R"]  # fmt: skip
    code, out, _ = gdlab(argv, capsys)
    assert code == 0
    table = out.split("every 3 steps:\n")[1].splitlines()
    loss = {r["label"]: r["loss"] for r in json.loads(Path("R/results.json").read_text())["runs"]}
    assert [line.split()[0] for line in table[2:]] == ["0", "3", "6"]
    for line, step in zip(table[2:], [0, 3, 6], strict=True):
        assert float(line.split()[1]) == pytest.approx(loss["SGD"][step], rel=1e-3)


# --------------------------------------------------------------------------- the origin


def test_a_data_check_names_every_change_of_the_command(cwd, capsys):
    """--optimizers and --preset were left out of "built-in experiment mnist with …"."""
    code, out, err = gdlab(["race", "mnist", "--optimizers", "sgd,adam", "--preset", "book",
                            "--lr", "adam=0.003", "--seeds", "3", "--data", "none",
                            "--steps", "20"], capsys)  # fmt: skip
    assert (code, out) == (2, "")
    assert err.startswith(
        "gdlab: error: built-in experiment mnist with --optimizers sgd,adam --preset book "
        "--steps 20 --data none --seeds 3 --lr adam=0.003: "
    ), err
    assert not any(cwd.iterdir())
