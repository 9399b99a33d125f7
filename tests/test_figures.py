"""Tests for gdlab.report.figures and its palette: which figures, what each shows (asserted
on the data: scales, ranges, styles, paths, panels), files written, determinism, lazy import."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gdlab import functions2d, optim
from gdlab.averages import ewma
from gdlab.report import figures, palette

BOWL_RACE = (  # (label, optimizer, lr): seed 001's six, with SGD pushed to diverge
    ("SGD", "sgd", 1.5),
    ("Momentum", "momentum", 0.1),
    ("AdaGrad", "adagrad", 1.5),
    ("Adam", "adam", 0.3),
    ("RMSprop", "rmsprop", 0.3),
    ("Nesterov", "nesterov", 0.3),
)
SGD_DIVERGED_AT = 8


# --- synthetic results documents, following docs/results.md -------------------------


def document(problem: dict | None, runs: list[dict], **extra: Any) -> dict:
    return {
        "schema": "gdlab.results/2",
        "experiment": "test",
        "title": "A test document",
        "description": "Built by hand for the figure tests.",
        "changes": [],
        "status": "complete",
        "command": "gdlab race test",
        "created": "2026-01-01T00:00:00+00:00",
        "config": {},
        "versions": {"gdlab": "0.1.0"},
        "machine": {"platform": "test", "processor": "test", "cpus": 1},
        "problem": problem,
        "runs": runs,
        **extra,
    }


def run(
    label: str,
    optimizer: str,
    lr: float,
    seed: int,
    loss: np.ndarray | list[float],
    *,
    group: str | None = None,
    status: str = "ok",
    stopped_at: int | None = None,
    **extra: Any,
) -> dict:
    loss = [float(v) for v in loss]
    return {
        "id": f"{label.lower().replace(' ', '-')}-seed{seed}",
        "label": label,
        "group": group or label,
        "optimizer": optimizer,
        "preset": "book",
        "hyperparameters": {"lr": lr},
        "seed": seed,
        "status": status,
        "reason": (  # as gdlab.train words it: step stopped_at + 1's loss, not applied
            f"diverged at step {(stopped_at or 0) + 1}: loss inf is not finite"
            if status == "diverged"
            else ""
        ),
        "stopped_at": stopped_at,
        "steps": len(loss),
        "seconds": 0.1,
        "compile_seconds": 0.0,
        "loss": loss,
        "lr": [lr] * len(loss),
        "epochs": [],
        "metrics": {
            "final_loss": loss[-1] if loss else None,
            "best_loss": min(loss) if loss else None,
        },
        **extra,
    }


def bowl_race() -> dict:
    fn = functions2d.get("bowl")
    runs = []
    for label, name, lr in BOWL_RACE:
        path = functions2d.run_path(fn, optim.create(name, preset="book", lr=lr), steps=30)
        status, stopped = "ok", None
        if label == "SGD":  # |y| doubles each step: 8 updates, then step 9 diverges
            path, status, stopped = path[: SGD_DIVERGED_AT + 1], "diverged", SGD_DIVERGED_AT
        loss = fn.f(path[:-1, 0], path[:-1, 1]) if status == "ok" else fn.f(path[:, 0], path[:, 1])
        runs.append(
            run(
                label, name, lr, 0, loss, status=status, stopped_at=stopped,
                path=path.tolist(), final_params={"x": path[-1, 0], "y": path[-1, 1]},
            )
        )  # fmt: skip
    return document(bowl_problem(), runs)


def bowl_problem() -> dict:
    """The ``problem`` block of a race on the bowl."""
    fn = functions2d.get("bowl")
    return {
        "kind": "function",
        "name": "bowl",
        "traits": ["function2d"],
        "description": "bowl: x²/20 + y², from (-7, 2)",
        "function": {
            "name": "bowl",
            "description": fn.description,
            "xlim": list(fn.xlim),
            "ylim": list(fn.ylim),
            "minima": [list(m) for m in fn.minima],
            "start": list(fn.start),
        },
    }


def epochs_of(loss: list[float], every: int, rng: np.random.Generator) -> list[dict]:
    out = []
    for k, step in enumerate(range(every, len(loss) + 1, every), start=1):
        acc = float(np.clip(1.0 - 0.5 * loss[step - 1] / loss[0], 0.0, 1.0))
        out.append(
            {
                "epoch": k, "step": step, "seconds": 0.01 * k,
                "train_loss": loss[step - 1], "train_accuracy": acc,
                "test_loss": loss[step - 1] * 1.1, "test_accuracy": acc - 0.02 * rng.random(),
            }
        )  # fmt: skip
    return out


def data_race() -> dict:
    """2 groups × 3 seeds; Adam seed 2 diverges at step 150, SGD seed 1 stops at 180."""
    rng = np.random.default_rng(0)
    runs = []
    for label, name, lr, rate in (("SGD", "sgd", 0.1, 0.01), ("Adam", "adam", 0.01, 0.03)):
        for seed in range(3):
            steps = np.arange(200)
            loss = 2.3 * np.exp(-rate * steps) + 0.1 + 0.2 * rng.random(200)
            status, stopped = "ok", None
            if (label, seed) == ("Adam", 2):
                loss, status, stopped = loss[:150], "diverged", 150
                loss[-5:] = [5.0, 20.0, 80.0, 400.0, 3000.0]  # blows up before NaN
            elif (label, seed) == ("SGD", 1):
                loss, status, stopped = loss[:180], "stopped", 180
            loss = loss.tolist()
            runs.append(
                run(
                    label, name, lr, seed, loss, status=status, stopped_at=stopped,
                    epochs=epochs_of(loss, 50, rng),
                )
            )  # fmt: skip
    problem = {
        "kind": "mlp",
        "name": "mlp-digits",
        "traits": ["classifier", "data"],
        "description": "a network with 32 hidden units on digits",
        "data": {"name": "digits", "n_train": 1000, "n_test": 200, "n_features": 64},
        "sizes": [64, 32, 10],
    }
    return document(problem, runs)


def moons_run() -> dict:
    rng = np.random.default_rng(1)
    t = rng.uniform(0, np.pi, 60)
    upper = np.c_[np.cos(t[:30]), np.sin(t[:30])]
    lower = np.c_[1 - np.cos(t[30:]), 0.5 - np.sin(t[30:])]
    X = np.r_[upper, lower] + 0.1 * rng.standard_normal((60, 2))
    y = [0] * 30 + [1] * 30
    xlim, ylim, res = [-1.5, 2.5], [-1.0, 1.5], 40
    gx, gy = np.meshgrid(np.linspace(*xlim, res), np.linspace(*ylim, res))
    runs = []
    for label, name, sharp in (("GD", "sgd", 2.0), ("Adam", "adam", 6.0)):
        prob = 1 / (1 + np.exp(-sharp * (gy - 0.25 - 0.5 * np.sin(2 * gx))))
        loss = (0.7 * np.exp(-np.arange(100) / (20 * (8 - sharp)))).tolist()
        runs.append(
            run(
                label, name, 0.1, 0, loss,
                epochs=epochs_of(loss, 25, rng),
                boundary={"xlim": xlim, "ylim": ylim, "resolution": res,
                          "probability": (1 - prob).tolist()},
            )
        )  # fmt: skip
        runs[-1]["metrics"]["test_accuracy"] = 0.8 if label == "GD" else 0.97
    problem = {
        "kind": "logreg",
        "name": "logreg-moons",
        "traits": ["classifier", "data"],
        "description": "logistic regression on the moons",
        "data": {
            "name": "moons", "n_train": 60, "n_test": 0, "n_features": 2,
            "points": {"X": X.tolist(), "y": y},
        },
    }  # fmt: skip
    return document(problem, runs)


def series_document(series: dict) -> dict:
    return document(None, [], series=series)


def schedules_series() -> dict:
    steps, per_epoch = np.arange(100), 10
    epoch = steps // per_epoch
    curves = [
        ("inverse time", "lr = 0.1/(1 + 0.5·epoch)", 0.1 / (1 + 0.5 * epoch)),
        ("exponential", "lr = 0.95^epoch·0.1", 0.95**epoch * 0.1),
        ("staircase", "halve every 3 epochs", 0.1 * 0.5 ** (epoch // 3)),
    ]
    return series_document(
        {
            "kind": "schedules",
            "steps": 100,
            "steps_per_epoch": per_epoch,
            "curves": [{"label": a, "formula": f, "lr": lr.tolist()} for a, f, lr in curves],
        }
    )


def ewma_series() -> dict:
    rng = np.random.default_rng(2)
    dates = np.arange("2012-01-01", "2012-03-01", dtype="datetime64[D]")
    values = 10 + 8 * np.sin(np.arange(len(dates)) / 15) + 3 * rng.standard_normal(len(dates))
    curves = [
        {"beta": beta, "bias_correction": corrected,
         "values": ewma(values, beta, bias_correction=corrected).tolist()}
        for beta in (0.5, 0.9, 0.98)
        for corrected in (True, False)
    ]  # fmt: skip
    return series_document(
        {
            "kind": "ewma",
            "dates": [str(d) for d in dates],
            "values": values.round(1).tolist(),
            "unit": "°C",
            "curves": curves,
        }
    )


def init_series(inits: tuple[str, ...], activations: tuple[str, ...], n_layers: int = 5) -> dict:
    rng = np.random.default_rng(3)
    cases = []
    for activation in activations:
        for init in inits:
            layers = []
            for k in range(n_layers):
                sample = np.tanh(rng.standard_normal(1000) * (1 + k))
                counts, edges = np.histogram(sample, bins=30, range=(-1, 1))
                layers.append(
                    {
                        "counts": counts.tolist(), "edges": edges.tolist(),
                        "mean": float(sample.mean()), "std": float(sample.std()),
                        "saturated": float(np.mean(np.abs(sample) > 0.99)),
                    }
                )  # fmt: skip
            cases.append({"init": init, "activation": activation, "layers": layers})
    return series_document(
        {"kind": "init", "layers": n_layers, "units": 100, "samples": 1000, "cases": cases}
    )


INITS = ("std 1", "std 0.01", "Xavier", "He")
ACTIVATIONS = ("sigmoid", "tanh", "relu")


def mnist_like_race() -> dict:
    """Seed 001's MNIST race in shape: six optimizers from 2.3 down to floors a decade
    apart (SGD 0.3 ... Adam 0.003), batch noise on top."""
    rng = np.random.default_rng(5)
    floors = {
        "SGD": 0.3, "Momentum": 0.025, "Nesterov": 0.02,
        "AdaGrad": 0.006, "RMSprop": 0.1, "Adam": 0.003,
    }  # fmt: skip
    runs = []
    for k, (label, floor) in enumerate(floors.items()):
        steps = np.arange(600)
        clean = floor + (2.3 - floor) * np.exp(-steps / (30 + 10 * k))
        loss = clean * np.exp(0.3 * rng.standard_normal(600))
        runs.append(run(label, label.lower(), 0.01, 0, loss))
    problem = {
        "kind": "mlp",
        "name": "mlp-mnist",
        "traits": ["classifier", "data"],
        "description": "the book's network on MNIST",
        "data": {"name": "mnist", "n_train": 4000, "n_test": 1000, "n_features": 784},
    }
    return document(problem, runs)


def linreg_race(steps: int = 150) -> dict:
    """Seed 003 in small: GD, SGD (1 sample) and mini-batch on a two-feature regression,
    trained by gdlab.train.fit, so the path comes from LinearRegression.point."""
    from gdlab import train
    from gdlab.data import Dataset
    from gdlab.problems import LinearRegression

    rng = np.random.default_rng(6)
    X = rng.random((80, 2))
    y = X @ np.array([6.0, -4.0]) + 2.0 + 0.5 * rng.standard_normal(80)
    problem = LinearRegression(
        Dataset(name="toy", task="regression", X=X, y=y, feature_names=("RM", "LSTAT"),
                target_names=("PRICE",))
    )  # fmt: skip
    runs = []
    for label, batch in (("GD", None), ("SGD", 1), ("Mini-batch", 10)):
        history = train.fit(
            problem, optim.create("sgd", lr=0.2), rng=np.random.default_rng(1), steps=steps,
            batch_size=batch, batching="random" if batch else "epoch", progress=False,
        )  # fmt: skip
        runs.append(run(label, "sgd", 0.2, 0, history.loss, path=[list(p) for p in history.path]))
    block = {
        "kind": "linreg",
        "name": "linreg-toy",
        "traits": ["data", "regression"],
        "description": "linear regression on a toy set",
        "data": {"name": "toy", "n_train": 80, "n_test": 0, "n_features": 2},
        "surface": problem.surface(),
    }
    return document(block, runs)


def bowl_pair() -> dict:
    """SGD (diverged) and Momentum of the bowl race: the draw tests' light version."""
    results = bowl_race()
    results["runs"] = results["runs"][:2]
    return results


DOCUMENTS = {
    "bowl": (bowl_pair, ["overlay", "paths", "loss"]),
    "data": (data_race, ["loss", "accuracy"]),
    "linreg": (linreg_race, ["paths", "loss"]),
    "moons": (moons_run, ["loss", "accuracy", "boundary"]),
    "schedules": (schedules_series, ["schedules"]),
    "ewma": (ewma_series, ["ewma"]),
    # 12 cases split by activation (1 layer each: drawing 3 × 20 subplots is slow)
    "init-12": (
        lambda: init_series(INITS, ACTIVATIONS, n_layers=1),
        ["init-sigmoid", "init-tanh", "init-relu"],
    ),
    "init-3": (lambda: init_series(("Xavier",), ACTIVATIONS, n_layers=3), ["init"]),
}


# --- draw: names, files, determinism -------------------------------------------------


def check_files(out: Path, made: list[dict]) -> None:
    import matplotlib.image

    for entry in made:
        assert set(entry) == {"name", "title", "caption", "look_for", "png", "svg"}
        assert entry["title"]
        assert entry["caption"]
        assert isinstance(entry["look_for"], str)
        assert len(entry["look_for"]) > 40, entry["name"]
        assert entry["png"] == f"figures/{entry['name']}.png"
        assert entry["svg"] == f"figures/{entry['name']}.svg"
        png, svg = out / entry["png"], out / entry["svg"]
        assert png.stat().st_size > 0
        assert svg.stat().st_size > 0
        pixels = matplotlib.image.imread(png)
        assert pixels.ndim == 3
        assert pixels.shape[0] > 100
        assert pixels.shape[1] > 100
        assert pixels[..., :3].std() > 0.02, f"{png.name} looks blank"
        assert ET.parse(svg).getroot().tag.endswith("svg")
    names = sorted(p.name for p in (out / "figures").iterdir())
    expected = sorted(f"{e['name']}.{ext}" for e in made for ext in ("png", "svg"))
    assert names == expected  # nothing else left behind (no temporary files)


@pytest.mark.parametrize("kind", list(DOCUMENTS))
def test_draw_writes_the_expected_figures(tmp_path: Path, kind: str) -> None:
    make, expected = DOCUMENTS[kind]
    results = make()
    assert figures.figure_names(results) == expected
    made = figures.draw(results, tmp_path / "a")
    assert [entry["name"] for entry in made] == expected
    check_files(tmp_path / "a", made)
    if kind != "linreg":  # contours with labels, paths, markers, two panels: enough
        return
    # deterministic: the same document gives the same bytes
    assert figures.draw(results, tmp_path / "b") == made
    for entry in made:
        for ext in ("svg", "png"):
            a = (tmp_path / "a" / entry[ext]).read_bytes()
            b = (tmp_path / "b" / entry[ext]).read_bytes()
            assert a == b, f"{entry[ext]} differs between two draws"
        assert b"<dc:date>" not in (tmp_path / "a" / entry["svg"]).read_bytes()


def test_draw_accepts_a_str_out_dir_and_overwrites(tmp_path: Path) -> None:
    results = schedules_series()
    figures.draw(results, str(tmp_path))
    made = figures.draw(results, str(tmp_path))
    check_files(tmp_path, made)


# --- the palette ------------------------------------------------------------------------


def test_palette_is_okabe_ito_and_stays_apart_in_grey() -> None:
    assert palette.PALETTE == "okabe-ito"
    assert palette.COLORS[:3] == ("#0072B2", "#E69F00", "#009E73")
    assert "#F0E442" not in palette.COLORS  # yellow: unreadable as a thin line on white
    assert len(palette.LINESTYLES) == len(palette.DASHES)
    assert len(palette.MARKERS) == len(palette.SYMBOLS)
    # up to four runs differ in line style alone (what survives a grey printout) ...
    assert len({palette.style(i).linestyle for i in range(4)}) == 4
    # ... any two of the first 36 in line style or marker (grey whatever the colour), any
    # two of the first 28 in colour or line style, and of the first 252 in one of the three
    assert len({(s.linestyle, s.marker) for s in map(palette.style, range(36))}) == 36
    assert len({(s.color, s.linestyle) for s in map(palette.style, range(28))}) == 28
    assert len({(s.color, s.linestyle, s.marker) for s in map(palette.style, range(252))}) == 252
    # Okabe–Ito's blue, vermillion, green and purple print as nearly one grey: the styles
    # that carry them differ in line style among the first four that use them
    greys = sorted(palette.grey_level(c) for c in palette.COLORS)
    assert min(np.diff(greys)) < 0.05  # (why colour alone is not enough)
    style = palette.style(1)
    assert (style.dash, style.symbol) == ("dash", "square")
    assert style.mpl() == {"color": "#E69F00", "linestyle": "--", "marker": "s"}


def test_palette_assigns_styles_by_first_appearance() -> None:
    styles = palette.assign(["GD", "SGD", "GD", "mini-batch"])
    assert list(styles) == ["GD", "SGD", "mini-batch"]
    assert [s.index for s in styles.values()] == [0, 1, 2]
    assert palette.assign(["GD", "SGD"]) == {k: styles[k] for k in ("GD", "SGD")}  # stable
    with pytest.raises(ValueError, match="index"):
        palette.style(-1)


def test_no_two_runs_share_a_colour_and_style() -> None:
    results = mnist_like_race()
    extra = [run(f"extra {k}", "sgd", 0.1, 0, np.linspace(2, 1, 50)) for k in range(6)]
    results["runs"] += extra  # twelve groups: the colours cycle, the pairs do not repeat
    ax = figures.loss_figure(results).axes[0]
    handles, labels = ax.get_legend_handles_labels()
    assert len(labels) == 12
    drawn = {(h.get_color(), h.get_linestyle(), h.get_marker()) for h in handles}
    assert len(drawn) == 12
    assert len({(c, ls) for c, ls, _ in drawn}) == 12
    assert figures.group_colors(results["runs"])["SGD"] == palette.COLORS[0]


# --- the scale, from the data --------------------------------------------------------


def test_the_mnist_loss_is_on_a_log_axis() -> None:
    results = mnist_like_race()
    ax = figures.loss_figure(results).axes[0]
    assert ax.get_yscale() == "log"
    low, high = ax.get_ylim()
    assert low < 0.005 < 2.3 < high  # Adam's end and the start are both inside
    assert high < 10  # no empty decade on top
    look = figures._loss_look_for(results)
    assert "Adam" in look.split(";")[0]  # lowest at the end
    assert "logarithmic" in look


def test_choose_scale() -> None:
    # ends a factor of ten apart at the bottom of a linear axis: log spreads them
    decay = np.exp(-np.arange(200) / 20)
    slow, fast = 0.2 + 2.1 * decay, 0.02 + 2.28 * decay
    assert figures.choose_scale([slow, fast]).kind == "log"
    # well apart on a linear axis: linear, from 0
    scale = figures.choose_scale([0.5 + 0.2 * decay, 0.1 + 0.6 * decay])
    assert (scale.kind, scale.low) == ("linear", 0.0)
    # a collapsing tail (cosine's end) neither makes it log nor sets its bottom
    cosine = 0.05 * (1 + np.cos(np.pi * np.arange(1000) / 1000))
    scale = figures.choose_scale([np.full(1000, 0.1), cosine, 0.1 / np.sqrt(np.arange(1, 1001))])
    assert scale.kind == "linear"
    assert figures.choose_scale([[1.0, -1.0]]).kind == "linear"  # not all positive
    assert figures.choose_scale([[1.0, 2.0]], log=True).kind == "log"
    assert figures.choose_scale([[1.0, 1e-6] * 50], log=False).kind == "linear"


def test_the_schedules_range_holds_every_curve() -> None:
    from gdlab.experiments import plots

    results = series_document(plots.schedules_series())
    ax = figures.schedules_figure(results).axes[0]
    low, high = ax.get_ylim()
    for curve in results["series"]["curves"]:
        p1, p99 = np.quantile(curve["lr"], (0.01, 0.99))
        assert low <= p1 <= p99 <= high, curve["label"]
    assert ax.get_yscale() == "linear"  # cosine's 2e-7 at the end does not stretch a log axis
    assert high < 0.12  # no band of empty space on top, and the legend is below the axes
    legend = ax.get_legend()
    ax.figure.canvas.draw()
    assert legend.get_window_extent().y1 < ax.get_window_extent().y0
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == 7
    assert labels[-1].startswith("cosine: ")


# --- the paths -----------------------------------------------------------------------


def test_the_paths_overlay_holds_every_optimizer() -> None:
    results = bowl_race()
    fig = figures.overlay_figure(results, resolution=60, levels=8)
    (ax,) = fig.axes
    labels = ax.get_legend_handles_labels()[1]
    for label, _, lr in BOWL_RACE:
        assert any(text.startswith(f"{label} (lr={lr:g})") for text in labels), label
    assert labels[0] == f"SGD (lr=1.5), diverged at step {SGD_DIVERGED_AT + 1}"
    assert "start" in labels
    paths = [line for line in ax.lines if line.get_label() in labels and len(line.get_xdata()) > 2]
    assert len(paths) == 6
    assert len({line.get_color() for line in paths}) == 6
    # each finished path ends in a large marker with a black edge; the diverged one in x
    ends = [
        line
        for line in ax.lines
        if line.get_markersize() >= 9 and line.get_mec() == "black" and line.get_mfc() != "none"
    ]  # not the minimum's hollow target
    assert len(ends) == 5
    assert sum(line.get_marker() == "x" for line in ax.lines) == 1
    # zoomed on the paths: the bowl's range is (-10, 10) × (-5, 5)
    assert -10 < ax.get_xlim()[0] < -7
    assert ax.get_xlim()[1] < 10


def test_paths_figure_has_a_subplot_per_group_with_the_functions_range() -> None:
    results = bowl_race()
    fig = figures.paths_figure(results, resolution=60, levels=8)
    axes = fig.axes
    assert len(axes) == 6
    rows_cols = {ax.get_subplotspec().get_geometry()[:2] for ax in axes}
    assert rows_cols == {(2, 3)}
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == f"SGD (lr=1.5)\ndiverged at step {SGD_DIVERGED_AT + 1}"
    assert titles[1:] == [f"{label} (lr={lr:g})" for label, _, lr in BOWL_RACE[1:]]
    for ax in axes:
        assert ax.get_xlim() == (-10.0, 10.0)
        assert ax.get_ylim() == (-5.0, 5.0)
    style = figures.group_styles(results["runs"])["Momentum"]
    own = [line for line in axes[1].lines if line.get_color() == style.color]
    assert len(own) == 1
    assert len(own[0].get_xdata()) == 31
    assert own[0].get_marker() == style.marker
    others = [line for line in axes[1].lines if line.get_color() == "0.75"]
    assert len(others) == 5  # the other groups, faint, for comparison
    assert any(line.get_mfc() == "none" for line in axes[1].lines)  # the minimum's target


def test_paths_grid_for_fewer_groups() -> None:
    results = bowl_race()
    results["runs"] = results["runs"][:2]
    fig = figures.paths_figure(results, resolution=30, levels=5)
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes] == [(1, 2), (1, 2)]
    results = bowl_race()
    results["runs"] = results["runs"][:4]
    fig = figures.paths_figure(results, resolution=30, levels=5)
    assert len(fig.axes) == 4
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes} == {(2, 3)}


def test_paths_accept_any_function2d() -> None:
    fn = functions2d.Function2D(
        name="tilted",
        f=lambda x, y: (x - 1) ** 2 + 3 * (y + 0.5) ** 2 + x * y,
        grad=lambda x, y: (2 * (x - 1) + y, 6 * (y + 0.5) + x),
        minima=(),
        start=(-3.0, 2.0),
        xlim=(-4.0, 4.0),
        ylim=(-3.0, 3.0),
        description="my own tilted bowl",
    )
    runs = []
    for label, name, lr in (("SGD", "sgd", 0.1), ("Adam", "adam", 0.3)):
        path = functions2d.run_path(fn, optim.create(name, lr=lr), steps=20)
        runs.append(run(label, name, lr, 0, fn.f(path[:-1, 0], path[:-1, 1]), path=path.tolist()))
    problem = {"kind": "mine", "name": "tilted", "traits": ["function2d"], "description": "mine"}
    results = document({**problem, "function": {"name": "tilted"}}, runs)
    with pytest.raises(ValueError, match="tilted"):  # not registered: the function is needed
        figures.figure_names(results)
    assert figures.figure_names(results, function=fn) == ["overlay", "paths", "loss"]
    assert len(figures.paths_figure(results, function=fn, resolution=30).axes) == 2
    plans = figures._plan(results, fn)  # what draw(results, out, function=fn) draws
    assert plans[0].title == "Every path on my own tilted bowl"
    assert plans[0].look_for().startswith("Lowest f at the end: SGD")
    # a document built in Python may hold the Function2D itself
    inline = document({**problem, "function": fn}, runs)
    assert figures.overlay_figure(inline, resolution=30).axes[0].get_xlim()[0] >= -4.0
    # and a typed expression still works (problem kind "expression")
    typed = document(
        {**problem, "function": {"name": "expression", "expression": "x^2 + 3*y^2",
                                 "xlim": [-4, 4], "ylim": [-3, 3]}}, runs,
    )  # fmt: skip
    assert figures.figure_names(typed) == ["overlay", "paths", "loss"]
    with pytest.raises(TypeError, match="Function2D"):
        figures.paths_figure(results, function="tilted")  # type: ignore[arg-type]


def test_the_linreg_paths_figure_shows_gd_sgd_and_mini_batch() -> None:
    results = linreg_race()
    surface = results["problem"]["surface"]
    assert surface["axes"] == ["w1 (RM)", "w2 (LSTAT)"]
    fig = figures.weights_figure(results)
    left, right = fig.axes[:2]
    assert left.get_xlabel() == "w1 (RM)"
    styles = figures.group_styles(results["runs"])
    paths = {
        name: line
        for name, style in styles.items()
        for line in left.lines
        if line.get_color() == style.color and len(line.get_xdata()) > 100
    }
    assert set(paths) == {"GD", "SGD", "Mini-batch"}
    # the smooth GD path is drawn over the jittery SGD one
    assert paths["GD"].get_zorder() > paths["Mini-batch"].get_zorder() > paths["SGD"].get_zorder()
    start = [line for line in left.lines if line.get_label() == "start"]
    assert len(start) == 1
    assert start[0].get_xdata()[0] == 0.0
    # the least-squares minimum: a target, as a 2-D function's minimum
    minimum = [line for line in left.lines if not isinstance(line.get_marker(), str)]
    np.testing.assert_allclose(minimum[0].get_xydata()[0], surface["minimum"])
    # the least-squares minimum is where the quadratic is lowest
    A, b = np.array(surface["A"]), np.array(surface["b"])
    np.testing.assert_allclose(2 * A @ np.array(surface["minimum"]) + b, 0, atol=1e-8)
    assert right.get_title().startswith("Training loss per step")
    look = figures._weights_look_for(results)
    assert "GD follows the smoothest path" in look
    assert "SGD jitters most" in look


def test_linreg_records_its_weights_path() -> None:
    results = linreg_race(steps=5)
    for r in results["runs"]:
        assert len(r["path"]) == 6
        assert r["path"][0] == [0.0, 0.0]  # seed 003's start: w = 0 (and b = 1)


# --- the loss ------------------------------------------------------------------------


def test_function_loss_is_on_a_log_axis() -> None:
    fig = figures.loss_figure(bowl_race())
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == f"SGD (diverged at step {SGD_DIVERGED_AT + 1})"
    assert len(labels) == 6


def legend_colors(ax: Any) -> dict[str, str]:
    import matplotlib.colors

    handles, labels = ax.get_legend_handles_labels()
    return {
        label.split(" (")[0]: matplotlib.colors.to_hex(h.get_color()).upper()
        for h, label in zip(handles, labels, strict=True)
    }


def test_data_loss_colours_band_limits_and_divergence() -> None:
    results = data_race()
    fig = figures.loss_figure(results)
    (ax,) = fig.axes
    assert (
        legend_colors(ax)
        == figures.group_colors(results["runs"])
        == {"SGD": palette.COLORS[0], "Adam": palette.COLORS[1]}
    )
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["SGD", "Adam (1 of 3 diverged at step 151)"]
    assert len(ax.collections) == 2  # one min–max band per group of seeds
    bottom, top = ax.get_ylim()
    assert bottom == 0
    assert 2.0 < top < 5.0  # the 3000 spike does not set the scale
    assert ax.get_yscale() == "linear"
    faint = [line for line in ax.lines if line.get_alpha() == figures.RAW_ALPHA]
    assert len(faint) == 2
    assert len(faint[0].get_xdata()) == 200  # the longest seed's length
    alone = [line for line in ax.lines if line.get_alpha() == 0.8]
    assert len(alone) == 1  # the diverged seed, left out of Adam's mean and band
    assert len(alone[0].get_xdata()) == 150
    ends = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(ends) == 1
    # loss[i] is step i + 1's: the curve ends at step 150, and the × stands at step 151,
    # the step its reason names (that step's loss was not applied)
    assert alone[0].get_xdata()[-1] == 150
    assert ends[0].get_xdata()[0] == 151
    # the legend is outside the data
    fig.canvas.draw()  # the legend is outside the data
    assert not ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())


def test_overlapping_runs_get_a_halo_a_note_and_the_reason() -> None:
    """Seed 000's moons: SGD and Momentum (EMA form) at lr 0.0007 trace one curve."""
    results = moons_run()
    loss = results["runs"][0]["loss"]
    twin = run("Momentum", "momentum", 0.1, 0, [v * 1.0005 for v in loss])
    twin["hyperparameters"]["form"] = "ema"
    results["runs"].insert(1, twin)
    ax = figures.loss_figure(results).axes[0]
    halos = [line for line in ax.lines if line.get_linewidth() == figures.HALO_WIDTH]
    assert len(halos) == 1
    assert any("GD and Momentum overlap" in t.get_text() for t in ax.texts)
    look = figures._loss_look_for(results)
    assert "GD and Momentum overlap within the line width" in look
    assert "v = βv + (1 − β)g" in look  # plain GD and EMA Momentum at one rate: the reason
    twin["hyperparameters"]["form"] = "book"
    assert "v = βv" not in figures._loss_look_for(results)  # the book's form: no such reason
    # curves apart: no overlap
    scale = figures.choose_scale([[1.0, 0.5], [1.0, 0.9]])
    pairs = figures.overlaps({"a": (np.arange(2), np.array([1.0, 0.5])),
                              "b": (np.arange(2), np.array([1.0, 0.9]))}, scale)  # fmt: skip
    assert pairs == []


def test_a_noisy_loss_is_smoothed_more_and_drawn_as_dots() -> None:
    results = linreg_race(steps=400)
    ax = figures.loss_figure(results).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "GD"  # noise-free: the default smoothing, its fast start kept
    assert labels[1].startswith("SGD, smoothed over ≈")
    dots = [
        line for line in ax.lines if line.get_linestyle() == "None" and line.get_marker() == "."
    ]
    assert dots  # SGD's raw loss: a cloud, not a wall of zigzags


def test_accuracy_and_lr_keep_the_group_styles() -> None:
    results = data_race()
    styles = figures.group_styles(results["runs"])
    accuracy = figures.accuracy_figure(results).axes[0]
    drawn = {(line.get_color(), line.get_linestyle()) for line in accuracy.lines}
    assert drawn == {(s.color, style) for s in styles.values() for style in ("-", "--")}
    for r in results["runs"]:
        r["lr"] = (r["lr"][0] * 0.99 ** np.arange(len(r["lr"]))).tolist()
    lr = figures.lr_figure(results).axes[0]
    assert legend_colors(lr) == {k: s.color for k, s in styles.items()}
    assert lr.get_yscale() == "log"


def test_lr_figure_only_when_an_lr_changes_and_equal_rates_share_a_line() -> None:
    results = data_race()  # two constant rates: the run table says it, no figure
    assert "lr" not in figures.figure_names(results)
    results["runs"][0]["lr"][50:] = [0.05] * 150
    assert "lr" in figures.figure_names(results)
    results = mnist_like_race()
    for r in results["runs"]:
        r["lr"] = (0.01 * 0.5 ** (np.arange(600) // 200)).tolist()
    results["runs"][-1]["lr"] = (0.001 * 0.5 ** (np.arange(600) // 200)).tolist()
    ax = figures.lr_figure(results).axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["SGD, Momentum, Nesterov, AdaGrad, RMSprop", "Adam"]


def test_a_group_that_diverged_at_step_zero_keeps_its_legend_entry() -> None:
    results = data_race()
    results["runs"].append(
        run("SGD lr 10", "sgd", 10.0, 0, [], status="diverged", stopped_at=0, epochs=[])
    )
    fig = figures.loss_figure(results)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels[-1] == "SGD lr 10 (diverged at step 1)"
    assert figures.figure_names(results) == ["loss", "accuracy"]


def test_boundary_figure() -> None:
    fig = figures.boundary_figure(moons_run())
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 2
    assert axes[0].get_title() == "GD (lr=0.1)\ntest accuracy 0.800"
    assert axes[1].get_title() == "Adam (lr=0.1)\ntest accuracy 0.970"
    assert len(axes[0].collections) >= 4  # filled contours, the 0.5 line, two classes


# --- the series figures ----------------------------------------------------------------


def test_schedules_figure_has_formulas_and_an_epoch_axis() -> None:
    fig = figures.schedules_figure(schedules_series())
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "inverse time: lr = 0.1/(1 + 0.5·epoch)"
    assert len(labels) == 3
    assert any(child.__class__.__name__ == "SecondaryAxis" for child in ax.get_children())
    lines = ax.get_legend_handles_labels()[0]
    assert len({(h.get_color(), h.get_linestyle(), h.get_marker()) for h in lines}) == 3


def test_the_ewma_figure_has_a_first_60_days_panel() -> None:
    fig = figures.ewma_figure(ewma_series())
    whole, start = fig.axes
    assert np.issubdtype(np.asarray(whole.lines[0].get_xdata()).dtype, np.datetime64)
    assert len(whole.lines) == 1 + 3  # the days and the three corrected averages
    assert start.get_title() == "The first 60 days: bias correction"
    assert start.get_xlim()[1] <= 60.5
    assert start.get_ylabel() == whole.get_ylabel() == "value (°C)"
    averages = start.lines[1:]
    assert [line.get_linestyle() for line in averages] == ["-", "--"] * 3
    assert all(len(line.get_xdata()) == 60 for line in averages)
    uncorrected = averages[5].get_ydata()  # β = 0.98 without correction starts near 0
    assert uncorrected[0] < 0.1 * averages[4].get_ydata()[0]
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["daily", "β = 0.5 (≈2 days)"]
    assert labels[-2:] == ["bias-corrected", "uncorrected (v₁ = (1 − β)·θ₁)"]


def test_init_figure_has_the_std_plot_and_readable_ticks() -> None:
    fig = figures.init_figure(init_series(INITS, ACTIVATIONS, n_layers=3), activation="tanh")
    fig.canvas.draw()
    hists = [ax for ax in fig.axes if ax.get_title() != "std per layer"]
    (std,) = [ax for ax in fig.axes if ax.get_title() == "std per layer"]
    assert len(hists) == 4 * 3
    assert [ax.get_title() for ax in hists[:3]] == [f"layer {k}" for k in range(1, 4)]
    assert [hists[3 * r].get_ylabel() for r in range(4)] == list(INITS)
    assert hists[0].get_shared_y_axes().joined(hists[0], hists[-1])  # one scale for all
    assert hists[0].get_shared_x_axes().joined(hists[0], hists[-1])
    assert [line.get_label() for line in std.lines] == list(INITS)
    assert all(len(line.get_xdata()) == 3 for line in std.lines)
    for ax in hists:
        bottom = ax in hists[-3:]
        shown = [t.get_text() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        assert bool(shown) == bottom
        assert ax.xaxis.get_tick_params()["labelbottom"] == bottom
        assert all(len(text) <= 6 for text in shown), shown  # no 0.0000000050000010
        assert ax.xaxis.get_offset_text().get_text() == ""  # no stray 1e-6
        assert ax.yaxis.get_offset_text().get_text() == ""


def test_relu_init_histograms_share_a_linear_scale_of_positive_outputs() -> None:
    from gdlab.experiments import plots

    series = plots.init_series(samples=200, units=20, layers=2)
    relu = [c for c in series["cases"] if c["activation"] == "relu"]
    assert all(c["positive"] for c in relu)  # (a log axis showed every row alike)
    edges = {tuple(layer["edges"]) for c in relu for layer in c["layers"]}
    assert len(edges) == 1  # one scale for every layer and initialisation
    for c in relu:
        for layer in c["layers"]:
            assert sum(layer["counts"]) <= layer["total"] * (1 - layer["zeros"]) + 1
    fig = figures.init_figure(series_document(series), activation="relu")
    assert fig.axes[0].get_xscale() == "linear"


def test_init_split_by_activation_only_for_many_cases() -> None:
    names = figures.figure_names(init_series(INITS, ACTIVATIONS))
    assert names == ["init-sigmoid", "init-tanh", "init-relu"]
    assert figures.figure_names(init_series(INITS[:2], ACTIVATIONS)) == ["init"]


def test_smooth_is_the_bias_corrected_ewma() -> None:
    values = np.random.default_rng(4).random(50)
    np.testing.assert_array_equal(
        figures.smooth(values, 0.8), ewma(values, 0.8, bias_correction=True)
    )
    assert figures.smooth([]).shape == (0,)
    assert figures.smooth([3.0] * 5).tolist() == [3.0] * 5


def test_group_styles_cycle_in_run_order() -> None:
    runs = [{"group": f"g{i}"} for i in range(12)] + [{"group": "g0"}]
    styles = figures.group_styles(runs)
    assert list(styles) == [f"g{i}" for i in range(12)]
    assert styles["g7"].color == styles["g0"].color == palette.COLORS[0]
    assert styles["g7"].linestyle != styles["g0"].linestyle


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(series={"kind": "histogram"}), "series.kind .*got 'histogram'"),
        (lambda d: d["problem"]["function"].update(name="banana"), "function .*got 'banana'"),
        (lambda d: d.update(problem=None), "results\\['problem'\\] must be a dict"),
    ],
)
def test_unknown_kinds_raise_and_draw_nothing(tmp_path: Path, change: Any, message: str) -> None:
    results = bowl_race()
    change(results)
    with pytest.raises(ValueError, match=message):
        figures.draw(results, tmp_path)
    assert not (tmp_path / "figures").exists()


def test_figures_follow_the_traits_not_the_kind() -> None:
    results = bowl_race()
    results["problem"]["kind"] = "my-own-2d-kind"  # any kind: the traits decide
    assert figures.figure_names(results) == ["overlay", "paths", "loss"]
    results["problem"]["traits"] = ["data"]
    names = figures.figure_names(results)
    assert "paths" not in names
    assert names[0] == "loss"
    with pytest.raises(ValueError, match="traits with 'function2d'"):
        figures.paths_figure(results)


def test_a_series_document_may_name_a_problem() -> None:
    results = ewma_series()
    results["problem"] = {"kind": "mlp", "name": "none"}  # no runs: only the series' figure
    assert figures.figure_names(results) == ["ewma"]
    del results["problem"]
    assert figures.figure_names(results) == ["ewma"]


def test_unknown_series_kind_without_runs() -> None:
    with pytest.raises(ValueError, match=r"series\.kind .*got 'violin'"):
        figures.figure_names(series_document({"kind": "violin"}))


# --- matplotlib stays out until something is drawn -------------------------------------


def test_import_does_not_load_matplotlib() -> None:
    code = """
import sys
import gdlab.report
import gdlab.report.figures as figures
import gdlab.report.palette
assert "matplotlib" not in sys.modules, "imported on import"
figures.smooth([1.0, 2.0])
doc = {"runs": [], "series": {"kind": "schedules", "steps": 3, "curves": [{"lr": [1, 2, 3]}]}}
assert figures.figure_names(doc) == ["schedules"]
assert "matplotlib" not in sys.modules, "imported by planning"
figures.schedules_figure(doc)
assert "matplotlib" in sys.modules
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
