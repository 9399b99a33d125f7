"""Round 7 checks of what SEEDS.md's experiments show: Adam's worked examples with
ε = 0, the bowl's and the schedules race's "what to look for", and the race's
``--print-every`` loss table."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from gdlab.optim import create

# --------------------------------------------------- seed 001's Adam steps, ε = 0

R2, R3 = math.sqrt(2), math.sqrt(3)
WORKED = [
    # f = xy from (1, 2): ∂f/∂x = y, ∂f/∂y = x
    ((1.0, 2.0), lambda x, y: (y, x), [(0.0, 1.0), (-2 * R2 / 3, 1 - R3 / 3)]),
    # f = x² + xy from (1, 1): ∂f/∂x = 2x + y, ∂f/∂y = x
    ((1.0, 1.0), lambda x, y: (2 * x + y, x), [(0.0, 0.0), (-R3 / 3, -R3 / 3)]),
]


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(("start", "grad", "expected"), WORKED, ids=["xy", "x2+xy"])
def test_adam_reproduces_the_seed_worked_examples_with_eps_zero(start, grad, expected, fused):
    opt = create("adam", lr=1.0, beta1=0.5, beta2=0.5, eps=0.0, fused=fused)
    assert opt.eps == 0.0
    p = {"x": np.array(start[0]), "y": np.array(start[1])}
    for want in expected:
        gx, gy = grad(float(p["x"]), float(p["y"]))
        opt.update(p, {"x": np.array(gx), "y": np.array(gy)})
        assert float(p["x"]) == pytest.approx(want[0], abs=1e-15)
        assert float(p["y"]) == pytest.approx(want[1], abs=1e-15)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "adamw", "nadam", "adamax"])
def test_eps_zero_is_accepted_and_negative_still_refused(name):
    assert create(name, eps=0.0).eps == 0.0
    with pytest.raises(ValueError, match=r"^eps must be >= 0; got -1e-08$"):
        create(name, eps=-1e-8)


def test_eps_zero_gives_nan_where_a_state_is_zero_as_torch():
    opt = create("adam", lr=0.1, eps=0.0)
    p = {"w": np.array([1.0, 1.0])}
    with np.errstate(invalid="ignore"):
        opt.update(p, {"w": np.array([0.0, 1.0])})
    assert math.isnan(p["w"][0])
    assert p["w"][1] == pytest.approx(0.9)


# ------------------------------------------------------ the race's reports, built once


def _race(tmp_path_factory, *argv):
    from gdlab import cli

    out = tmp_path_factory.mktemp("race") / "report"
    assert cli.main(["race", *argv, "--out", str(out), "--no-figures", "--quiet"]) == 0
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def bowl(tmp_path_factory):
    return _race(tmp_path_factory, "bowl")


def _look_for(results, name):
    from gdlab.report import figures

    return next(p for p in figures._plan(results) if p.name == name).look_for()


# ------------------------------------------------- the bowl's paths, as they are drawn


@pytest.mark.parametrize("figure", ["overlay", "paths"])
def test_bowl_look_for_says_what_the_built_in_paths_do(bowl, figure):
    text = _look_for(bowl, figure)
    assert "rescales each coordinate (AdaGrad, RMSprop, Adam)" not in text
    assert "Nearly straight (path length over the straight line from start to end): " in text
    assert "AdaGrad (1.06×)." in text  # the only straight one
    assert "RMSprop over steps 1–4" in text  # (−4, −1), (−2.5, 0.35), (−1.6, −0.12)
    assert "SGD at every step" in text
    curved = text.split("Curving without zigzagging")[1]
    assert "Adam (1.13×)" in curved  # the wide arc through (−3, −0.7)
    assert "Momentum" in curved


def test_bowl_look_for_follows_changed_paths(bowl):
    changed = copy.deepcopy(bowl)
    runs = {r["label"]: r for r in changed["runs"]}
    n = len(runs["SGD"]["path"])
    runs["SGD"]["path"] = [[-7 + 7 * k / (n - 1), 2 - 2 * k / (n - 1)] for k in range(n)]
    runs["AdaGrad"]["path"] = [[-7 + 0.2 * k, 2 * (-1) ** k] for k in range(n)]
    text = _look_for(changed, "overlay")
    assert (
        "Nearly straight (path length over the straight line from start to end): SGD (1.00×)."
        in text
    )
    assert "AdaGrad at every step" in text


# ---------------------------------------------------------------- the schedules race


@pytest.fixture(scope="module")
def schedules(tmp_path_factory):
    return _race(tmp_path_factory, "schedules", "--epochs", "4")


def _with_finals(results, finals):
    changed = copy.deepcopy(results)
    for run in changed["runs"]:
        run["metrics"]["final_loss"] = finals.get(run["label"], 0.3)
    return changed


def test_schedules_look_for_never_promises_the_loss_calms(schedules):
    text = _look_for(_with_finals(schedules, {"constant": 0.18, "1/√t": 0.6}), "lr")
    assert "should flatten or calm down" not in text
    assert "Lowest final loss: constant (0.18); highest: 1/√t (0.6)." in text
    assert "The constant rate ends lowest: every schedule that lowers the rate" in text
    assert "(constant)" not in text  # the run is not named twice


def test_schedules_look_for_names_a_constant_run_by_its_label(schedules):
    changed = copy.deepcopy(schedules)
    for run in changed["runs"]:
        if run["label"] == "constant":
            run["label"] = run["group"] = "fixed 0.1"
    text = _look_for(_with_finals(changed, {"fixed 0.1": 0.18, "1/√t": 0.6}), "lr")
    assert "A constant rate (fixed 0.1) ends lowest" in text


def test_schedules_look_for_names_a_decay_that_ends_lowest(schedules):
    text = _look_for(_with_finals(schedules, {"halve every 3 epochs": 0.1}), "lr")
    assert "Lowest final loss: halve every 3 epochs (0.1)" in text
    assert "halve every 3 epochs, whose rate decays, ends below the constant rate." in text
    assert "A constant rate" not in text


def test_schedules_look_for_says_where_the_staircase_drops(schedules):
    text = _look_for(schedules, "lr")
    assert "the rate of halve every 3 epochs changes at steps 189." in text
    assert "change at steps 63, 126 and 189" in text


# ------------------------------------------------------------ gdlab race --print-every


def test_print_every_prints_each_runs_loss(tmp_path, capsys):
    from gdlab import cli

    out = tmp_path / "r"
    argv = ["race", "bowl", "--steps", "7", "--print-every", "3", "--out", str(out)]
    assert cli.main([*argv, "--no-figures", "--quiet", "--optimizers", "sgd,adam"]) == 0
    printed = capsys.readouterr().out
    # a 2-D function's steps count updates applied, as its figures do (the start at 0)
    said = "Loss per step (f, after that many updates: step 0 is the start), every 3 steps:\n"
    table = printed.split(said)[1]
    lines = table.splitlines()
    assert lines[0].split() == ["step", "SGD", "Adam"]
    document = json.loads((out / "results.json").read_text())
    loss = {r["label"]: r["loss"] for r in document["runs"]}
    for line, step in zip(lines[2:], [0, 3, 6], strict=True):  # f after k updates: loss[k]
        cells = line.split()
        assert cells[0] == str(step)
        assert float(cells[1]) == pytest.approx(loss["SGD"][step], rel=1e-3)
        assert float(cells[2]) == pytest.approx(loss["Adam"][step], rel=1e-3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "argument --print-every: --print-every must be an integer in [1, 10000000]; got 0"),
        ("x", "argument --print-every: --print-every must be an integer; got 'x'"),
    ],
)
def test_print_every_refuses_a_bad_n_before_anything_runs(tmp_path, capsys, value, message):
    from gdlab import cli

    out = tmp_path / "r"
    assert cli.main(["race", "bowl", "--print-every", value, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"gdlab: error: {message}"
    assert not out.exists()


def test_print_every_and_json_exclude_each_other(tmp_path, capsys):
    from gdlab import cli

    assert (
        cli.main(["race", "bowl", "--print-every", "2", "--json", "--out", str(tmp_path / "r")])
        == 2
    )
    assert "not allowed with argument" in capsys.readouterr().err


def test_print_every_reads_a_long_runs_series_file(tmp_path, monkeypatch):
    from gdlab import cli, results

    monkeypatch.setattr(results, "SERIES_INLINE", 10)
    loss = [float(k) for k in range(30, 0, -1)]
    record = results.store_series(
        {"id": "a-0", "label": "A", "seed": 0, "steps": 30, "loss": loss}, tmp_path
    )
    assert results.series_stride(record) == 4
    document = {"runs": [record]}
    table = cli.loss_table(document, tmp_path, 5).splitlines()
    assert [line.split()[1] for line in table[3:]] == ["30", "25", "20", "15", "10", "5"]
    (tmp_path / record["series"]["file"]).unlink()  # the file gone: the inline values
    table = cli.loss_table(document, tmp_path, 5).splitlines()
    assert "series file could not be read" in table[0]
    assert [line.split()[1] for line in table[3:]] == ["30", "-", "-", "-", "10", "-"]


def _one_path(path, stride=None):
    run = {"label": "A", "group": "A", "status": "ok", "path": path, "loss": [1.0] * len(path)}
    if stride:
        run["series"] = {"stride": stride}
    return {"runs": [run], "problem": {"kind": "function", "traits": ["function2d"]}}


def test_zigzag_steps_count_the_moves_left_out_and_a_long_runs_stride():
    from gdlab.report.figures import _path_shapes

    # two steps that do not move (3 and 4) sit inside the zigzag of steps 2–7
    path = [[0, 0], [1, 0], [2, 0], [2, 0], [2, 0], [3, 1], [4, 0], [5, 1]]
    assert _path_shapes(_one_path(path), ["A"])["zigzag"] == ["A over steps 2–7"]
    # every 10th point of a long run: the moves cover steps 11 to 70
    assert _path_shapes(_one_path(path, stride=10), ["A"])["zigzag"] == ["A over steps 11–70"]


def test_a_path_that_never_moves_is_said_so_not_called_straight():
    from gdlab.report.figures import _path_shape_words, _path_shapes

    still = _one_path([[1.0, 2.0]] * 4)
    assert _path_shapes(still, ["A"])["still"] == ["A"]
    assert "Never moved from the start: A." in _path_shape_words(still, ["A"])
    assert "straight" not in _path_shape_words(still, ["A"]).lower()
