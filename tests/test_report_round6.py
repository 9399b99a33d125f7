"""Round 6 of the report's review: a diverged run's step read the same everywhere (the
page, the legends, the titles, the charts); captions ranked by what the summary ranks;
an interrupted tour's page; the accuracy figure's halos explained; each optimizer's card
true for that optimizer."""

from __future__ import annotations

import html as html_text
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gdlab import experiments, race, report
from gdlab.report import figures, html, interactive, stops


def _built(tmp: Path, name: str, experiment: Any) -> tuple[dict[str, Any], str]:
    """Race ``experiment``, build its report in ``tmp / name``; its document and page."""
    records = race.race(experiment, progress=False)
    page = report.build(records, tmp / name, problem=experiment)
    document = json.loads((tmp / name / "results.json").read_text(encoding="utf-8"))
    return document, Path(page).read_text(encoding="utf-8")


# --- 1. a diverged run's step ---------------------------------------------------------------


@pytest.fixture(scope="module")
def moons_diverged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """SGD at lr 1e6 on moons: step 2's batch loss is past the guard (``at`` step 2,
    one update applied)."""
    experiment = (
        experiments.builtin("moons")
        .select_optimizers(["sgd", "adam"])
        .with_lr("sgd", 1e6)
        .set("training.steps", 20)
    )
    return _built(tmp_path_factory.mktemp("moons"), "moons", experiment)


@pytest.fixture(scope="module")
def bowl_diverged(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """SGD at lr 1e6 on the bowl: the evaluation after its first update is past the guard
    (``by`` step 1, one update applied)."""
    experiment = (
        experiments.builtin("bowl")
        .select_optimizers(["sgd", "adam"])
        .with_lr("sgd", 1e6)
        .set("training.steps", 5)
    )
    return _built(tmp_path_factory.mktemp("bowl"), "bowl", experiment)


def _sgd(document: dict[str, Any]) -> dict[str, Any]:
    (run,) = [r for r in document["runs"] if r["optimizer"] == "sgd"]
    return run


def test_the_races_diverge_as_the_tests_below_assume(moons_diverged, bowl_diverged) -> None:
    moons, bowl = _sgd(moons_diverged[0]), _sgd(bowl_diverged[0])
    assert (moons["status"], moons["stopped_at"]) == ("diverged", 1)
    assert moons["reason"].startswith("diverged at step 2: loss ")
    assert (bowl["status"], bowl["stopped_at"]) == ("diverged", 1)
    assert bowl["reason"].startswith("diverged by step 1: the evaluated training loss ")


def test_stops_reads_the_step_from_the_reason() -> None:
    base = {"status": "diverged", "stopped_at": 1, "loss": [2.3]}
    assert stops.divergence({**base, "reason": "diverged at step 2: loss 1e+26"}) == ("at", 2)
    assert stops.divergence({**base, "reason": "diverged by step 1: the evaluated"}) == ("by", 1)
    # No reason to read: only "after" the updates applied is sure.
    assert stops.divergence_words({**base, "reason": ""}) == "diverged after step 1"
    assert stops.divergence_words({"status": "diverged", "loss": [1.0] * 3}) == (
        "diverged after step 3"
    )
    assert stops.divergence_words({"status": "diverged", "stopped_at": 0}) == ("diverged at step 1")
    assert stops.divergence({"status": "ok", "stopped_at": 3}) is None
    assert stops.divergence_words({"status": "stopped", "stopped_at": 3}) == ""
    assert stops.where_words([("at", 7), ("at", 2), ("at", 2)]) == "at steps 2, 7"
    assert stops.where_words([("by", 5), ("at", 2)]) == "at step 2; by step 5"


def _status_cells(page: str) -> list[str]:
    """The runs table's status cells, as text (the reason after a ``|``)."""
    cells = re.findall(r'<td class="status" data-value="[^"]*">(.*?)</td>', page, re.S)
    return [re.sub(r'<span class="reason">(.*?)</span>', r"|\1", c) for c in cells]


def test_the_page_says_the_step_of_the_reason_once(moons_diverged, bowl_diverged) -> None:
    for (_, page), words in (
        (moons_diverged, "diverged at step 2"),
        (bowl_diverged, "diverged by step 1"),
    ):
        diverged = [c for c in _status_cells(page) if c.startswith("diverged")]
        assert len(diverged) == 1
        status, reason = diverged[0].split("|")
        assert status == words
        assert "step" not in reason  # the step is said once, in the status
        assert reason.startswith(("loss ", "the evaluated training loss "))
        ranking = page[page.index('id="ranking"') :]
        ranking = ranking[: ranking.index("</table>")]
        assert f'<td class="status">{words}</td>' in ranking
        assert "diverged at step 1<" not in page


def test_legends_titles_and_charts_say_the_same_step(moons_diverged, bowl_diverged) -> None:
    moons, bowl = moons_diverged[0], bowl_diverged[0]
    labels = figures.loss_figure(moons).axes[0].get_legend_handles_labels()[1]
    assert "SGD (diverged at step 2)" in labels
    titles = [ax.get_title() for ax in figures.boundary_figure(moons).axes if ax.get_title()]
    assert any(t.endswith("\ndiverged at step 2") for t in titles), titles
    labels = figures.overlay_figure(bowl).axes[0].get_legend_handles_labels()[1]
    assert any(label.endswith(", diverged by step 1") for label in labels), labels
    titles = [ax.get_title() for ax in figures.paths_figure(bowl).axes]
    assert any(t.endswith("\ndiverged by step 1") for t in titles), titles
    (loss,) = [c for c in interactive.charts(moons) if c["figure"] == "loss"]
    assert "SGD (diverged at step 2)" in [trace.get("meta") for trace in loss["traces"]]
    assert html._status_text(_sgd(moons)) == "diverged at step 2"


# --- 2. captions rank what the Summary ranks ------------------------------------------------


@pytest.fixture(scope="module")
def bowl_average(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """An EMA average (decay 0.999) that lags far behind its iterate, beside a slightly
    slower SGD: SGD's evaluated f ends lowest, Average's path (its iterate) ends lowest."""
    experiment = (
        experiments.builtin("bowl")
        .select_optimizers(["average", "sgd"])
        .with_lr("sgd", 0.0009)
        .set("training.steps", 30)
    )
    return _built(tmp_path_factory.mktemp("average"), "average", experiment)


def _look_fors(page: str) -> list[str]:
    found = re.findall(r'class="look-for">(.*?)</p>', page, re.S)
    return [html_text.unescape(re.sub(r"<[^>]+>", "", text)) for text in found]


def _ranked(page: str) -> list[str]:
    ranking = page[page.index('id="ranking"') :]
    ranking = ranking[: ranking.index("</table>")]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", ranking, re.S)[1:]
    return [re.findall(r"<td>([^<]*)</td>", row)[0] for row in rows]


def test_the_average_ends_lower_on_its_path_but_higher_where_evaluated(bowl_average) -> None:
    document, _ = bowl_average
    by = {run["optimizer"]: run for run in document["runs"]}
    average, sgd = by["average"]["metrics"], by["sgd"]["metrics"]
    assert average["iterate_train_loss"] < sgd["final_loss"] < average["final_loss"]


def test_captions_rank_as_the_summary_and_say_where_the_path_ends(bowl_average) -> None:
    document, page = bowl_average
    assert _ranked(page) == ["SGD", "Average"]
    average = next(r for r in document["runs"] if r["optimizer"] == "average")["metrics"]
    iterate, evaluated = f"{average['iterate_train_loss']:.3g}", f"{average['final_loss']:.3g}"
    texts = _look_fors(page)
    assert len(texts) == 3  # the overlay, the grid, f per step
    for text in texts:
        assert "Average ends lowest" not in text
        assert "Lowest f at the end: Average" not in text
        assert (
            f"Average's path is its iterate, the point it trains (f = {iterate} at the "
            f"path's end); at its averaged point, where it is evaluated and ranked, f ends "
            f"at {evaluated}."
        ) in text
    assert texts[0].startswith(
        "What to look for. Lowest f at the end (where each is evaluated, as the Summary "
        f"ranks): SGD (f = {document['runs'][1]['metrics']['final_loss']:.3g}); highest: "
        f"Average (f = {evaluated})."
    )
    assert (
        "SGD ends lowest where each is evaluated (as the Summary ranks), Average highest."
        in texts[2]
    )


def test_the_legends_give_both_points_of_an_average(bowl_average) -> None:
    document, _ = bowl_average
    average = next(r for r in document["runs"] if r["optimizer"] == "average")["metrics"]
    iterate, evaluated = f"{average['iterate_train_loss']:.3g}", f"{average['final_loss']:.3g}"
    labels = figures.overlay_figure(document).axes[0].get_legend_handles_labels()[1]
    assert (
        f"Average (lr=0.001): f = {evaluated} at its averaged point, {iterate} at the path's end"
    ) in labels
    labels = figures.loss_figure(document).axes[0].get_legend_handles_labels()[1]
    assert labels == [
        f"Average\n(f along its iterate, which ends at {iterate};\n"
        f"at its averaged point: {evaluated})",
        "SGD",
    ]


def test_a_data_curve_at_the_fast_weights_says_where_it_is_ranked(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Lookahead (k = 5) after 42 steps: its fast weights are 2 steps past its slow ones."""
    experiment = (
        experiments.builtin("moons")
        .select_optimizers(["sgd", "lookahead"])
        .set("training.steps", 42)
    )
    document, _ = _built(tmp_path_factory.mktemp("lookahead"), "lookahead", experiment)
    metrics = next(r for r in document["runs"] if r["optimizer"] == "lookahead")["metrics"]
    fast, slow = figures._two_values(metrics["iterate_train_loss"], metrics["final_loss"])
    assert fast != slow
    assert (
        f"Lookahead's loss curve is at its fast weights, the point it trains (training loss "
        f"{fast} there at the end); at its slow weights, where it is evaluated and ranked, "
        f"the training loss ends at {slow}."
    ) in figures._loss_look_for(document)
    assert figures._two_values(0.6857104, 0.6857739) == ("0.6857", "0.6858")
    assert figures._two_values(6.027, 6.427) == ("6.03", "6.43")


# --- 3. an interrupted tour ----------------------------------------------------------------


@pytest.fixture(scope="module")
def stopped_tour(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A quick tour of bowl, moons and mnist, Ctrl-C after moons's second run."""
    from gdlab import tour

    out = tmp_path_factory.mktemp("tour") / "tour"
    real = race.race

    def stopping(experiment: Any, *, on_run: Any = None, **options: Any) -> Any:
        if experiment.name != "moons":
            return real(experiment, on_run=on_run, **options)
        finished = []

        def counted(record: dict[str, Any]) -> None:
            on_run(record)
            finished.append(record)
            if len(finished) == 2:
                raise KeyboardInterrupt

        return real(experiment, on_run=counted, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(race, "race", stopping)
        patch.setattr(experiments, "BUILTIN", ("bowl", "moons", "mnist"))
        with pytest.raises(KeyboardInterrupt):
            tour.run(out, quick=True, progress=False, command="gdlab tour --quick")
        words = tour.stopped_words(out)
    return out, words


def test_an_interrupted_experiment_of_a_tour_gets_its_page(stopped_tour) -> None:
    out, _ = stopped_tour
    moons = json.loads((out / "moons" / "results.json").read_text(encoding="utf-8"))
    assert (moons["status"], len(moons["runs"])) == ("interrupted", 2)
    page = (out / "moons" / "index.html").read_text(encoding="utf-8")
    assert "This race stopped early: the report shows the 2 runs that finished." in page
    assert not (out / "mnist").exists()


def test_an_interrupted_tour_says_it_stopped_and_what_is_missing(stopped_tour) -> None:
    out, words = stopped_tour
    assert words == (
        "it shows bowl, and the 2 runs of moons that finished (stopped early); "
        "not run: mnist, plot-schedules, plot-ewma, plot-init"
    )
    page = html_text.unescape((out / "index.html").read_text(encoding="utf-8"))
    assert "<h1>gdlab tour: the seed experiments' races and plots (stopped early)</h1>" in page
    assert "races and plots (stopped early)</title>" in page
    assert f"This tour stopped early (interrupted): {words}." in page
    assert 'href="moons/index.html"' in page
    assert 'href="bowl/index.html"' in page
    assert "(quick)</a> (stopped early: 2 runs)</li>" in page
    assert page.count("This race stopped early: the report shows the 2 runs that finished.") == 1


def test_a_whole_tour_page_keeps_its_title_and_has_no_notice(tmp_path: Path) -> None:
    document = {
        "schema": "gdlab.results/2",
        "experiment": "bowl",
        "title": "Bowl",
        "description": "",
        "status": "complete",
        "command": "gdlab race bowl",
        "runs": [],
    }
    page = html.render_tour([(document, [], "bowl")], tmp_path, command="gdlab tour")
    assert "<h1>gdlab tour: the seed experiments&#x27; races and plots</h1>" in page
    assert "stopped early" not in page.lower()


# --- 4. the accuracy figure's halos ---------------------------------------------------------


def _accuracy_document() -> dict[str, Any]:
    """Three single-seed groups on a network: A and B at the same train accuracy (B drawn
    over A), C apart; no test accuracy."""

    def record(label: str, train: list[float]) -> dict[str, Any]:
        epochs = [
            {"epoch": i + 1, "step": 10 * (i + 1), "train_loss": 1.0 - a, "train_accuracy": a}
            for i, a in enumerate(train)
        ]
        return {
            "id": f"{label.lower()}-seed0",
            "label": label,
            "group": label,
            "optimizer": "sgd",
            "hyperparameters": {"lr": 0.1},
            "seed": 0,
            "status": "ok",
            "reason": "",
            "stopped_at": None,
            "steps": 10 * len(train),
            "loss": [1.0] * (10 * len(train)),
            "lr": [0.1] * (10 * len(train)),
            "epochs": epochs,
            "metrics": {"final_loss": 1.0 - train[-1], "train_accuracy": train[-1]},
        }

    rising = [0.5, 0.8, 0.95, 1.0, 1.0, 1.0]
    return {
        "schema": "gdlab.results/2",
        "experiment": "halo",
        "problem": {"kind": "mlp", "traits": ["classifier", "data"]},
        "runs": [
            record("A", rising),
            record("B", rising),
            record("C", [0.3, 0.4, 0.5, 0.55, 0.6, 0.62]),
        ],
    }


def test_the_accuracy_figure_says_what_its_halos_are() -> None:
    document = _accuracy_document()
    fig = figures.accuracy_figure(document)
    (ax,) = fig.axes
    halos = [line for line in ax.get_lines() if line.get_linewidth() == figures.HALO_WIDTH]
    assert len(halos) == 1  # under A, which B hides
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["Pale bands: halos under curves\nhidden within the line width\ntrain: A and B"]
    words = figures._accuracy_look_for(document)
    assert words.endswith(
        "A wide pale band is a halo under a curve that another hides within the line width, "
        "not a spread (this figure draws no band over seeds). In train accuracy, A and B "
        "overlap."
    )


def test_an_accuracy_figure_without_overlaps_has_no_halo_note() -> None:
    document = _accuracy_document()
    document["runs"] = document["runs"][1:]  # B and C only
    ax = figures.accuracy_figure(document).axes[0]
    assert not [line for line in ax.get_lines() if line.get_linewidth() == figures.HALO_WIDTH]
    assert len(ax.texts) == 0
    assert "halo" not in figures._accuracy_look_for(document)


# --- 5. each optimizer's card is true for it ------------------------------------------------


def _card_symbols(name: str, hp: dict[str, Any] | None = None) -> dict[str, str]:
    """The symbol words on ``name``'s card: symbol (MathML stripped) -> words."""
    from gdlab.optim import OPTIMIZERS

    text = "".join(html._card_rule(OPTIMIZERS[name], hp or {}, name))
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text, re.S)
    # <msub><mi>lr</mi><mi>t</mi></msub> is lr_t
    symbols = [re.sub(r"<[^>]+>", "", re.sub(r"</mi><mi>", "_", dt)) for dt, _ in pairs]
    return {sym: html_text.unescape(dd) for sym, (_, dd) in zip(symbols, pairs, strict=True)}


def test_the_adagrad_card_says_what_its_lr_t_and_eps_are() -> None:
    words = _card_symbols("adagrad")
    assert words["lr_t"].startswith("this step's learning rate, lr decayed by lr_decay")
    assert "lr / (1 + (t − 1)·lr_decay)" in words["lr_t"]
    assert "bias correction folded" not in words["lr_t"]
    assert "h, the sum of squared gradients" in words["ε"]
    assert "average" not in words["ε"]


@pytest.mark.parametrize(
    ("name", "symbol", "words"),
    [
        ("adam", "lr_t", "this step's learning rate, the bias correction folded into it"),
        ("schedule_free_sgd", "lr_t", "lr after its warm-up"),
        ("schedule_free_adamw", "v̂", "bias correction: without it v starts near 0"),
        ("sam", "ε", "the perturbation"),
        ("rprop", "s", "each coordinate's own step size"),
        ("lbfgs", "t", "the step length along d (t = lr), not the step count"),
        ("lbfgs", "d", "the search direction"),
        ("prodigy", "d", "the estimate of the distance to the solution"),
        ("adafactor", "d", "the clipping threshold on RMS(u)"),
        ("novograd", "d", "the gradient divided by √ν"),
        ("lion", "β2", "the averaging factor of m"),
        ("lion", "β1", "the share of m in this step's direction c"),
        ("adabelief", "s", "a running average of (g − m)²"),
        ("adan", "v", "a running average of the gradient's changes δ"),
        ("adamax", "ε", "so that u, which divides, is never 0"),
        ("muon", "s", "a scale for the matrix's shape"),
        ("groups", "h", "the hyperparameters of the key's group"),
        ("asgd", "α", "the power of the step size's decay"),
        ("lookahead", "α", "the slow weights' step towards the fast ones"),
    ],
)
def test_a_card_explains_a_shared_symbol_as_its_optimizer_uses_it(name, symbol, words) -> None:
    assert words in _card_symbols(name)[symbol]


def test_no_card_borrows_another_optimizers_words() -> None:
    from gdlab.optim import OPTIMIZERS
    from gdlab.report.maths import rules

    for name, cls in OPTIMIZERS.items():
        text = " ".join(line for rule in rules(cls) for line in rule.lines)
        words = _card_symbols(name)
        said = " ".join(words.values())
        if "bias correction folded" in said:  # only where lr_t holds the β's corrections
            assert re.search(r"lr_t = .*β1", text), name
        if "as for m̂" in said:
            assert "m̂" in text, name
        if "s" in words and "squared gradients" in words["s"]:
            assert re.search(r"s ← \S+·s \+ \(1 − \S+\)·d²", text), name
