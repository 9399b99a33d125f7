"""The paths' "What to look for" words, true of the paths drawn and of the function
(round 12: Rosenbrock's AdaGrad called nearly straight, the saddle given a minimum and a
valley)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gdlab import cli, functions2d
from gdlab.report import figures


def _race(tmp_path_factory, *argv):
    out = tmp_path_factory.mktemp("race") / "report"
    code = cli.main(["race", "bowl", *argv, "--out", str(out), "--no-figures", "--quiet"])
    assert code == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _paths_words(results):
    return next(p for p in figures._plan(results) if p.name == "paths").look_for()


@pytest.fixture(scope="module")
def rosenbrock(tmp_path_factory):
    return _race(tmp_path_factory, "--function", "rosenbrock", "--steps", "200")


@pytest.fixture(scope="module")
def saddle(tmp_path_factory):
    return _race(tmp_path_factory, "--function", "saddle", "--steps", "60")


def test_rosenbrock_adagrad_that_leaves_and_comes_back_is_not_nearly_straight(rosenbrock):
    # AdaGrad's first step leaves through the top, its second comes back, and it goes
    # back and forth before settling: it was "Nearly straight (1.00×, up to the range's
    # edge)", measured on its first step alone
    text = _paths_words(rosenbrock)
    assert "AdaGrad leaves the plotted range and comes back inside" in text
    assert "Nearly straight" not in text
    assert "1.00×, up to the range's edge" not in text
    zigzag = text.split("Zigzagging")[1].split(".")[0]
    assert "AdaGrad over steps 3–6" in zigzag
    # RMSprop leaves at its first step for good: one straight line, no shape to judge
    assert (
        "Off the plotted range in one straight move, too soon to show a shape: RMSprop (step 1)."
        in text
    )
    # a valley it has (curvatures 0.4 and 1000 at (1, 1)), and one minimum
    assert "zigzagging across the valley against those that move along it" in text
    assert text.endswith("which can point a path straight at the minimum.")


def test_saddle_words_name_no_minimum_and_no_valley(saddle):
    text = _paths_words(saddle)
    assert "minimum" not in text.replace("f has no minimum", "").replace("no minimum to", "")
    assert "valley" not in text
    assert (
        "count the steps it wastes going back and forth against those that carry it "
        "downhill: f has no minimum, so a path that keeps going down without end must leave "
        "the plotted range."
    ) in text
    assert text.endswith("which can point a path straight downhill, with no minimum to stop at.")
    # what the panels draw: SGD overshoots across x = 0; RMSprop's one move leaves
    assert "SGD over steps 1–8" in text
    assert "RMSprop (step 1)" in text.split("Off the plotted range")[1]


@pytest.mark.parametrize(
    ("name", "valley"),
    [("bowl", True), ("rosenbrock", True), ("beale", True), ("himmelblau", False),
     ("rastrigin", False), ("saddle", False)],
)  # fmt: skip
def test_a_valley_is_where_the_curvatures_at_a_minimum_differ_tenfold(name, valley):
    fn = functions2d.get(name)
    assert figures._narrow_valley(fn, fn.minima) is valley


def _one_path(path, function="bowl"):
    fn = functions2d.get(function)
    run = {"label": "A", "group": "A", "status": "ok", "path": path, "loss": [1.0] * len(path)}
    run["metrics"] = {"final_loss": float(fn.f(*path[-1]))}
    block = {"name": function, "xlim": list(fn.xlim), "ylim": list(fn.ylim),
             "minima": [list(m) for m in fn.minima]}  # fmt: skip
    problem = {"kind": "function", "name": function, "traits": ["function2d"],
               "function": block}  # fmt: skip
    return {"runs": [run], "problem": problem}


def test_himmelblau_and_rastrigin_have_minima_but_no_valley():
    # four minima, curvatures at most 3.7 apart: no valley, "a minimum"
    path = [[0.0, 0.0], [1.0, 0.5], [2.0, 1.0], [3.0, 2.0]]
    fn = functions2d.get("himmelblau")
    text = figures._paths_look_for(_one_path(path, "himmelblau"), fn, grid=True)
    assert "valley" not in text
    assert "against those that head for a minimum." in text
    assert text.endswith("which can point a path straight at a minimum.")
    fn = functions2d.get("rastrigin")
    text = figures._paths_look_for(_one_path(path, "rastrigin"), fn, grid=True)
    assert "valley" not in text
    assert text.endswith("which can point a path straight at the minimum.")


def test_a_path_out_and_back_in_is_never_nearly_straight():
    # out through the top (y 5) by a little and back: 1.01× its chord, but it turned
    # out there, where the figure does not draw it
    path = [[-8.0, 4.0], [-1.0, 5.5], [6.0, 4.0], [8.0, 3.8]]
    shapes = figures._path_shapes(_one_path(path), ["A"], ((-10.0, 10.0), (-5.0, 5.0)))
    assert shapes["straight"] == []
    assert shapes["curved"] == ["A (1.02×, out of the range and back)"]
    # the same path inside a larger range is straight
    shapes = figures._path_shapes(_one_path(path), ["A"], ((-10.0, 10.0), (-6.0, 6.0)))
    assert shapes["straight"] == ["A (1.02×)"]


def test_a_path_is_judged_up_to_where_it_last_leaves():
    # out at step 1, back at step 2, zigzagging, then out for good at step 6
    path = [[0.0, 0.0], [0.0, 6.0], [1.0, 1.0], [2.0, -1.0], [3.0, 1.0], [4.0, -1.0],
            [30.0, 0.0]]  # fmt: skip
    drawn, cut = figures._drawn_part(np.array(path), ((-10.0, 10.0), (-5.0, 5.0)))
    assert cut
    assert drawn.tolist() == [*path[:6], [10.0, -1.0 + 6 / 26]]
    shapes = figures._path_shapes(_one_path(path), ["A"], ((-10.0, 10.0), (-5.0, 5.0)))
    assert shapes["zigzag"] == ["A over steps 3–6"]  # the turns at (2, −1), (3, 1), (4, −1)


def test_an_expression_is_not_said_to_have_no_minimum(tmp_path):
    # gdlab does not work out a typed expression's minima: none are known, which is not
    # "f has no minimum" (x²/20 + y² has one)
    (tmp_path / "e.toml").write_text(
        '[problem]\nkind = "expression"\nexpression = "x^2/20 + y^2"\nstart = [-7, 2]\n'
        "xlim = [-10, 10]\nylim = [-5, 5]\n[training]\nsteps = 30\n"
        '[[runs]]\noptimizer = "sgd"\nlr = 0.9\n[[runs]]\noptimizer = "adam"\nlr = 0.3\n',
        encoding="utf-8",
    )
    out = tmp_path / "report"
    argv = ["race", str(tmp_path / "e.toml"), "--out", str(out), "--no-figures", "--quiet"]
    assert cli.main(argv) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    words = " ".join(p.look_for() for p in figures._plan(results))
    assert "no minimum" not in words
    assert "valley" not in words
    assert "which can point a path straight downhill." in words
    assert "a line that levels off has stopped going down" in words
