"""Round 11 docs mends (README, experiments.md, results.md): a report built from fit()
histories names its problem (or is refused by --config); a symlinked lock refused as a
bad request, in one line; an unknown data set named before the keys it would read; a
file's relative directory stored absolute; --out at a tree of reports named as such;
the help tells what race takes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdlab import cli, experiments, optim, report, train
from gdlab._checks import ConfigError
from gdlab.functions2d import FUNCTIONS
from gdlab.problems import FunctionProblem


def _fit_runs(problem, steps=5):
    runs = {}
    for name, lr in (("sgd", 0.001), ("adam", 0.1)):
        optimizer = optim.create(name, lr=lr)
        history = train.fit(
            problem, optimizer, steps=steps, rng=np.random.default_rng(0), progress=False
        )
        runs[name] = (optimizer, history)
    return runs


def _config(path):
    return json.loads((path / "results.json").read_text())["config"]


# --------------------------------------------------------------------------- 1: build config


def test_a_report_of_fit_histories_names_its_function_and_start(tmp_path):
    rosenbrock = FUNCTIONS["rosenbrock"]
    problem = FunctionProblem(rosenbrock, (-1.0, 1.5))
    report.build(_fit_runs(problem), tmp_path / "r", problem=problem, charts=False)
    config = _config(tmp_path / "r")
    assert config["problem"] == {"kind": "function", "function": "rosenbrock", "start": [-1.0, 1.5]}
    again = experiments.load(tmp_path / "r" / "results.json")
    assert again.problem.options["function"] == "rosenbrock"
    assert [r.optimizer for r in again.runs] == ["sgd", "adam"]


def test_a_report_of_an_expression_names_it(tmp_path):
    from gdlab import expressions

    fn = expressions.function("x^2/20 + y^2", start=(-7, 2), xlim=(-8, 8), ylim=(-3, 3))
    report.build(_fit_runs(FunctionProblem(fn)), tmp_path / "e", problem=fn, charts=False)
    assert _config(tmp_path / "e")["problem"] == {
        "kind": "expression", "expression": "x^2/20 + y^2", "start": [-7.0, 2.0],
        "xlim": [-8.0, 8.0], "ylim": [-3.0, 3.0],
    }  # fmt: skip


def test_a_report_on_a_function_of_ones_own_is_refused_by_config(tmp_path, capsys):
    from test_report_build import _valley  # a function of one's own, no registry name

    valley = _valley()
    report.build(_fit_runs(FunctionProblem(valley)), tmp_path / "v", problem=valley, charts=False)
    from gdlab.report import schema

    document = json.loads((tmp_path / "v" / "results.json").read_text())
    schema.validate(document)
    assert "problem" not in document["config"]
    with pytest.raises(ConfigError, match=r"holds no experiment .*made in Python"):
        experiments.load(tmp_path / "v" / "results.json")
    assert cli.main(["race", "--config", str(tmp_path / "v" / "results.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "holds no experiment" in err


# --------------------------------------------------------------------------- 2: linked lock


@pytest.mark.parametrize("command", [["race", "bowl", "--no-figures"], ["plot", "schedules"]])
def test_a_linked_lock_is_a_bad_request_told_in_one_line(tmp_path, capsys, command):
    out = tmp_path / "sl"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (out / ".gdlab.lock").symlink_to(victim)
    assert cli.main([*command, "--quiet", "--out", str(out)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == (
        f"gdlab: error: {out}/.gdlab.lock is a symbolic link, not a gdlab lock file (remove it)\n"
    )
    assert victim.read_text() == "keep"


# --------------------------------------------------------------------------- 3: data first


def test_an_unknown_data_set_is_named_before_the_keys_it_would_read(tmp_path):
    text = (
        'name = "w"\n[problem]\nkind = "mlp"\ndata = "mnsit"\nvalidation_size = 0.1\n'
        '[training]\nsteps = 3\n[[runs]]\noptimizer = "sgd"\n'
    )
    with pytest.raises(ConfigError, match=r"problem\.data must be one of .*got 'mnsit'"):
        experiments.Experiment.from_toml(text, "w.toml")
    moons = experiments.builtin("moons")
    with pytest.raises(ConfigError, match=r"problem\.data must be one of .*got 'circels'"):
        moons.with_problem(data="circels", noise=0.3)


# --------------------------------------------------------------------------- 4: directory

_REL = (
    'name = "rel"\n[problem]\nkind = "mlp"\ndata = "mnist"\ndirectory = "mnist-idx"\n'
    'hidden = [10]\n[training]\nsteps = 3\nbatch_size = 16\n[[runs]]\noptimizer = "sgd"\n'
)


def test_a_files_relative_directory_is_kept_absolute(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel.toml").write_text(_REL)
    monkeypatch.chdir(tmp_path)
    experiment = experiments.load("sub/rel.toml")
    where = str(tmp_path / "mnist-idx")
    assert experiment.problem.options["directory"] == where  # the command's folder
    assert experiment.to_dict()["problem"]["directory"] == where
    # the folder the file names, set again (as --set/--data give it: absolute), is no change
    assert experiment.set("problem.directory", where).changes_from(experiment) == []


def test_a_report_of_a_relative_directory_runs_again_from_another_folder(
    tmp_path, monkeypatch, capsys
):
    from gdlab.data.idx import write_idx

    data = tmp_path / "mnist-idx"
    data.mkdir()
    rng = np.random.default_rng(0)
    for part, n in (("train", 40), ("t10k", 10)):
        write_idx(data / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(data / f"{part}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel.toml").write_text(_REL)
    monkeypatch.chdir(tmp_path)
    quiet = ["--no-figures", "--quiet"]
    assert cli.main(["race", "--config", "sub/rel.toml", *quiet, "--out", "sub/r1"]) == 0
    assert _config(tmp_path / "sub" / "r1")["problem"]["directory"] == str(data)
    monkeypatch.chdir(tmp_path / "sub")
    assert cli.main(["race", "--config", "r1/results.json", *quiet, "--out", "r2"]) == 0
    monkeypatch.chdir(tmp_path)
    argv = ["race", "--config", "sub/rel.toml", "--set", "problem.directory=mnist-idx"]
    assert cli.main([*argv, *quiet, "--out", "r3"]) == 0
    assert json.loads((tmp_path / "r3" / "results.json").read_text())["changes"] == []
    capsys.readouterr()


# --------------------------------------------------------------------------- 6: stride


def test_the_series_blocks_in_results_md_follow_the_stride_rule():
    import math
    import re
    from pathlib import Path

    from gdlab.results import SERIES_POINTS

    text = (Path(__file__).parent.parent / "docs" / "results.md").read_text(encoding="utf-8")
    blocks = re.findall(r'"stride": (\d+), "steps": (\d+)', text)
    assert len(blocks) >= 2
    for stride, steps in blocks:
        assert int(stride) == math.ceil((int(steps) + 1) / SERIES_POINTS), (stride, steps)


# --------------------------------------------------------------------------- 8: --out a tree


def test_out_at_a_tree_of_reports_or_a_tuning_is_named_so_without_force(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    bowl = ["race", "bowl", "--steps", "2", "--no-figures", "--quiet"]
    for _ in range(2):
        assert cli.main(bowl) == 0
    (tmp_path / "bowl-tune").mkdir()
    (tmp_path / "bowl-tune" / "tasks-0123abcd.jsonl").write_text("")
    (tmp_path / "bowl-tune" / "tune.json").write_text("{}")
    capsys.readouterr()
    for force in ([], ["--force"]):
        assert cli.main([*bowl, "--out", "gdlab-report/bowl", *force]) == 2
        err = capsys.readouterr().err
        assert "--out gdlab-report/bowl holds gdlab reports (" in err, err
        assert "latest" not in err
        assert cli.main([*bowl, "--out", "bowl-tune", *force]) == 2
        err = capsys.readouterr().err
        assert "--out bowl-tune holds a gdlab tuning (tune.json), not a report" in err, err


# --------------------------------------------------------------------------- 7: docs and help


def _help(*argv):
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.build_parser().parse_args([*argv, "--help"])
    return " ".join(out.getvalue().split())


def test_the_help_tells_what_race_takes_and_what_plot_draws():
    assert "a TOML experiment file, or a report's results.json" in _help("race")
    assert "`gdlab bowl` = `gdlab race bowl`" in _help()
    plot = _help("plot")
    assert all(f"{what}:" in plot for what in ("schedules", "ewma", "init"))


def test_the_readme_tells_the_flags_the_help_has():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for flag in ("--json", "--quiet", "--no-figures", "--no-js", "tour --quick"):
        assert flag in readme, flag
    assert "(seed 002's tuning: gdlab tune)" not in readme  # the help: "not seed 002's"
    assert "gdlab bowl --steps 50" in readme
