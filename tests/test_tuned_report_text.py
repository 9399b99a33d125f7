"""A tuned race's report says what its tuning did: the validation used (K folds, a
hold-out, a 2-D function's final loss), the search and its budget, what chose the best,
and every tuned hyperparameter with its value (``gdlab tune`` then ``gdlab race --tuned``)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from gdlab import cli
from gdlab._text import exact
from gdlab.report import figures
from gdlab.report import html as report_html


def _tuned(tmp: Path, name: str, tune_args: list[str], race_args: list[str]) -> tuple[dict, dict]:
    """``gdlab tune`` then ``gdlab race --tuned`` (no figures); results.json and tune.json."""
    tuned, raced = tmp / f"{name}-tune", tmp / f"{name}-race"
    assert cli.main(["tune", *tune_args, "--quiet", "--out", str(tuned)]) == 0
    command = ["race", *race_args, "--quiet", "--no-figures", "--tuned", str(tuned)]
    assert cli.main([*command, "--out", str(raced)]) == 0
    results = json.loads((raced / "results.json").read_text(encoding="utf-8"))
    return results, json.loads((tuned / "tune.json").read_text(encoding="utf-8"))


def _section(results: dict, out: Path) -> str:
    """The page's tuned comparison, as HTML."""
    page = report_html.render_report(results, [], out, charts=False)
    start = page.index('<section id="comparison">')
    return page[start : page.index("</section>", start)]


def _comparison(results: dict, out: Path) -> str:
    """The page's tuned comparison as text, tags dropped and spaces squeezed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", _section(results, out)))
    return re.sub(r"\s+", " ", text)


def _headers(results: dict, out: Path) -> list[str]:
    section = _section(results, out)
    head = section[section.index("<thead>") : section.index("</thead>")]
    return [html.unescape(h) for h in re.findall(r'data-type="[a-z]+">([^<]*)</button>', head)]


def _caption(results: dict) -> str:
    (plan,) = [p for p in figures._plan(results) if p.name == "sensitivity"]
    return plan.caption


def _as_tune_json_says(results: dict, tune: dict) -> dict:
    """``results`` whose series also carries tune.json's own words for its validation,
    selection and search (kept where the race already recorded them)."""
    series = dict(results["series"])
    series.setdefault("validation", tune["validation"])
    series.setdefault("selected_by", tune["selected_by"])
    series.setdefault("method", tune["settings"]["method"])
    return {**results, "series": series}


@pytest.fixture(scope="module")
def races(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict, dict]]:
    tmp = tmp_path_factory.mktemp("tuned")
    steps = ["--steps", "20"]
    moons = ["moons", "--steps", "40", "--optimizers", "sgd,momentum,adam"]
    random = ["--budget", "3", "--folds", "1", "--method", "random", "--tune", "lr,beta1,momentum"]
    return {
        "bowl": _tuned(tmp, "bowl", ["bowl", *steps, "--budget", "4"], ["bowl", *steps]),
        "folds": _tuned(tmp, "folds", [*moons, "--budget", "3", "--folds", "3"], moons),
        "random": _tuned(
            tmp,
            "random",
            [*moons, *random],
            moons,
        ),
    }


#: a validation with no folds, as the page and the caption say it (the page said
#: "1-fold cross-validation" and the caption "over 1 folds … across the folds")
NO_FOLDS = [
    (
        "bowl",
        "scored each candidate by the final loss (a 2-D function has no data)",
        "final loss (a 2-D function has no data, so no folds and no band)",
    ),
    (
        "random",
        "scored each candidate by a 20% hold-out of the training set",
        "validation loss on a 20% hold-out of the training set (one score: no band)",
    ),
]


@pytest.mark.parametrize(("race", "scored", "captioned"), NO_FOLDS)
def test_a_validation_without_folds_is_said_as_it_was(races, tmp_path, race, scored, captioned):
    results, _ = races[race]
    text = _comparison(results, tmp_path)
    assert "1-fold" not in text
    assert scored in text
    caption = _caption(results)
    assert "over 1 folds" not in caption
    assert "across the folds" not in caption
    assert captioned in caption


def test_a_2d_functions_spread_is_of_final_losses(races, tmp_path):
    text = _comparison(races["bowl"][0], tmp_path)
    assert "cross-validation" not in text
    assert "whose final loss came within 10% of the chosen setting's" in text


def test_a_typed_in_function_is_said_as_a_2d_function(races, tmp_path):
    """A function typed in (kind "expression") was said to be data: "a 20% hold-out" in
    the caption and "final training loss" on the page."""
    results, _ = races["bowl"]
    problem = {**results["problem"], "kind": "expression", "expression": "x^2/20 + y^2"}
    typed = {**results, "problem": problem}
    assert "function2d" in problem["traits"]
    caption = _caption(typed)
    assert "final loss (a 2-D function has no data, so no folds and no band)" in caption
    assert "hold-out" not in caption
    text = _comparison(typed, tmp_path)
    assert "final training loss" not in text
    assert "The race, over several seeds: final loss " in text


def test_a_grid_of_one_other_hyperparameter_is_not_called_learning_rates():
    """``--tune beta1`` alone was said to be "a grid of 4 learning rates on a log scale"."""
    from gdlab.report import tuning_text

    series = {"kind": "tuning", "budget": 4, "method": "grid",
              "configurations": {"Adam": {"tuned": ["beta1"]}}}  # fmt: skip
    text = tuning_text.search(series)
    assert "learning rates" not in text
    assert text.startswith("a grid of beta1 per configuration")
    lr = {**series, "configurations": {"Adam": {"tuned": ["lr"]}}}
    assert tuning_text.search(lr).startswith("a grid of 4 learning rates on a log scale")


def test_k_folds_are_said_with_their_number(races, tmp_path):
    results, _ = races["folds"]
    text = _comparison(results, tmp_path)
    assert "scored each candidate by 3-fold cross-validation of the training set" in text
    assert "over its 3 cross-validation folds" in _caption(results)


def test_random_search_is_not_called_a_log_grid(races, tmp_path):
    results, tune = races["random"]
    assert "on a log grid" not in _comparison(results, tmp_path)
    said = _as_tune_json_says(results, tune)
    text = _comparison(said, tmp_path)
    assert "random search: 3 random draws per configuration (rates log-uniform)" in text
    assert "chose the best by mean validation accuracy (loss breaks ties)" in text
    assert "random search: 3 random draws per configuration" in _caption(said)


def test_a_grid_search_names_its_budget_and_what_chose_the_best(races, tmp_path):
    results, tune = races["folds"]
    text = _comparison(_as_tune_json_says(results, tune), tmp_path)
    assert "a grid of 3 learning rates on a log scale per configuration" in text
    assert "chose the best by mean validation accuracy (loss breaks ties)" in text


def test_every_tuned_hyperparameter_has_a_column_with_every_digit(races, tmp_path):
    results, tune = races["random"]
    headers = _headers(results, tmp_path)
    assert headers[:4] == ["Configuration", "Tuned lr", "Tuned momentum", "Tuned beta1"]
    section = _section(results, tmp_path)
    rows = re.findall(r"<tr data-index[^>]*>(.*?)</tr>", section)
    cells = {
        html.unescape(re.findall(r"<td[^>]*>([^<]*)</td>", row)[0]): [
            html.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)[1:4]
        ]
        for row in rows
    }
    for label, c in tune["configurations"].items():
        best = c["best"]["hyperparameters"]
        shown = cells[label]
        for column, name in enumerate(("lr", "momentum", "beta1")):
            if name in c["tuned"]:  # every digit, as the race's note gives it
                value = best[name]
                digits = shown[column].split(" (")[0]  # "(its default)", "(at edge)" after
                assert digits == (exact(value) if isinstance(value, float) else str(value))
                assert f"{name} {digits}" in results["description"]
            else:
                assert shown[column] == report_html._MISSING
    assert "Tuned: lr, momentum, beta1" in _comparison(results, tmp_path)
    assert "a configuration that tuned momentum or beta1 too shows only" in _caption(results)


def test_a_value_at_the_edge_of_what_tuning_may_try_is_flagged(races, tmp_path):
    results, tune = races["bowl"]
    at_bound = [label for label, c in tune["configurations"].items() if "lr" in c["at_bound"]]
    assert at_bound  # bowl's adaptive optimizers want rates past the range's top: lr 10
    section = _section(results, tmp_path)
    for label in at_bound:
        row = re.search(rf"<td>{re.escape(label)}</td><td[^>]*>([^<]*)</td>", section)
        assert row is not None
        assert row.group(1).endswith("(at bound)")
    assert "“(at bound)” marks a value at a hard bound of what tuning may try" in _comparison(
        results, tmp_path
    )


# -- gdlab plot init: what the histograms leave out ------------------------------------


@pytest.fixture(scope="module")
def init_document() -> dict:
    from gdlab.experiments import plots
    from test_figures import series_document

    return series_document(plots.init_series(samples=200, units=20, layers=2))


def _relu_figure(document: dict):
    figure = figures.init_figure(document, activation="relu")
    figure.canvas.draw()
    return figure


def test_relu_panels_say_their_share_of_exact_zeros(init_document):
    relu = [c for c in init_document["series"]["cases"] if c["activation"] == "relu"]
    figure = _relu_figure(init_document)
    said = sorted(t.get_text().split("\n")[0] for ax in figure.axes for t in ax.texts)
    wanted = sorted(f"0: {100 * layer['zeros']:.0f}%" for c in relu for layer in c["layers"])
    assert said == wanted
    assert all(40 <= int(text[3:-1]) <= 60 for text in said)  # about half of ReLU's outputs
    # std 1 explodes past the axis fitted to Xavier and He: its panels say how much
    off = [t.get_text() for ax in figure.axes for t in ax.texts if "off axis" in t.get_text()]
    assert off
    (plan,) = [p for p in figures._plan(init_document) if p.name == "init-relu"]
    assert "“0: n%” in a panel's corner is the share that is exactly 0" in plan.caption
    (tanh,) = [p for p in figures._plan(init_document) if p.name == "init-tanh"]
    assert "exactly 0" not in tanh.caption
    tanh_figure = figures.init_figure(init_document, activation="tanh")
    assert not [t for ax in tanh_figure.axes for t in ax.texts]


def test_the_histograms_name_their_x_axis(init_document):
    figure = _relu_figure(init_document)
    histograms = figure.axes[:-1]
    labels = [ax.get_xlabel() for ax in histograms if ax.get_xlabel()]
    assert labels == ["activation value (> 0)"] * 2  # the bottom row, one per layer
    tanh = figures.init_figure(init_document, activation="tanh")
    assert [ax.get_xlabel() for ax in tanh.axes[:-1] if ax.get_xlabel()] == ["activation value"] * 2


def test_no_blank_band_under_the_histograms(init_document):
    """The std panel's legend sits beside it, not in a band the histograms lose."""
    figure = _relu_figure(init_document)
    renderer = figure.canvas.get_renderer()
    stds = figure.axes[-1]
    legend = stds.get_legend().get_window_extent(renderer)
    assert legend.x0 >= stds.get_window_extent(renderer).x1
    bottom = min(ax.get_tightbbox(renderer).y0 for ax in figure.axes[:-1])
    assert bottom < 0.05 * figure.bbox.height  # the histograms reach the foot of the figure


def test_the_interactive_chart_says_folds_only_where_there_were_folds(races):
    import copy

    from gdlab.report import interactive

    def marks(results: dict) -> list[str]:
        results = copy.deepcopy(results)
        for c in results["series"]["configurations"].values():
            c["diverged"] = [1] + [0] * (len(c["grid"]) - 1)  # the first rate diverged
        (chart,) = interactive.charts(results, names=["sensitivity"])
        return [t["meta"] for t in chart["traces"] if "diverged" in str(t.get("meta"))]

    held_out = marks(races["random"][0])
    assert held_out
    assert all(m.endswith(": diverged at this rate") for m in held_out)
    assert all(
        m.endswith(": diverged in some folds at this rate") for m in marks(races["folds"][0])
    )
