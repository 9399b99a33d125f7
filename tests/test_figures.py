"""Tests for gdlab.report.figures: which figures, files written, determinism, lazy import."""

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
from gdlab.report import figures

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
        "reason": "loss is not finite" if status == "diverged" else "",
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
        if label == "SGD":  # |y| doubles each step: call it diverged at step 8
            path, status, stopped = path[: SGD_DIVERGED_AT + 1], "diverged", SGD_DIVERGED_AT
        loss = fn.f(path[:-1, 0], path[:-1, 1]) if status == "ok" else fn.f(path[:, 0], path[:, 1])
        runs.append(
            run(
                label, name, lr, 0, loss, status=status, stopped_at=stopped,
                path=path.tolist(), final_params={"x": path[-1, 0], "y": path[-1, 1]},
            )
        )  # fmt: skip
    problem = {
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
    return document(problem, runs)


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

DOCUMENTS = {
    "bowl": (bowl_race, ["paths", "loss"]),
    "data": (data_race, ["loss", "accuracy", "lr"]),
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
        assert set(entry) == {"name", "title", "caption", "png", "svg"}
        assert entry["title"]
        assert entry["caption"]
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
    if kind not in ("bowl", "moons"):  # contours, boundaries, lines, legends: enough
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


# --- what the figures show ----------------------------------------------------------------


def test_paths_figure_has_a_subplot_per_group_with_the_functions_range() -> None:
    results = bowl_race()
    fig = figures.paths_figure(results, resolution=60, levels=8)
    axes = fig.axes
    assert len(axes) == 6
    rows_cols = {ax.get_subplotspec().get_geometry()[:2] for ax in axes}
    assert rows_cols == {(2, 3)}
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == f"SGD (lr=1.5)\ndiverged at step {SGD_DIVERGED_AT}"
    assert titles[1:] == [f"{label} (lr={lr:g})" for label, _, lr in BOWL_RACE[1:]]
    for ax in axes:
        assert ax.get_xlim() == (-10.0, 10.0)
        assert ax.get_ylim() == (-5.0, 5.0)
    path_line = next(line for line in axes[1].lines if line.get_marker() == "o")
    assert len(path_line.get_xdata()) == 31
    assert path_line.get_color() == "red"
    assert any(line.get_marker() == "+" for line in axes[1].lines)


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


def test_function_loss_is_on_a_log_axis() -> None:
    fig = figures.loss_figure(bowl_race())
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == f"SGD (diverged at step {SGD_DIVERGED_AT})"
    assert len(labels) == 6


def legend_colors(ax: Any) -> dict[str, str]:
    import matplotlib.colors

    handles, labels = ax.get_legend_handles_labels()
    return {
        label.split(" (")[0]: matplotlib.colors.to_hex(h.get_color())
        for h, label in zip(handles, labels, strict=True)
    }


def test_data_loss_colours_band_limits_and_divergence() -> None:
    results = data_race()
    fig = figures.loss_figure(results)
    (ax,) = fig.axes
    assert (
        legend_colors(ax)
        == figures.group_colors(results["runs"])
        == {
            "SGD": figures.TAB10[0],
            "Adam": figures.TAB10[1],
        }
    )
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["SGD", "Adam (1 of 3 diverged at step 150)"]
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
    assert ends[0].get_xdata()[0] == 149


def test_accuracy_and_lr_keep_the_group_colours() -> None:
    results = data_race()
    colors = figures.group_colors(results["runs"])
    accuracy = figures.accuracy_figure(results).axes[0]
    drawn = {(line.get_color(), line.get_linestyle()) for line in accuracy.lines}
    assert drawn == {(c, style) for c in colors.values() for style in ("-", "--")}
    lr = figures.lr_figure(results).axes[0]
    assert legend_colors(lr) == colors
    assert lr.get_yscale() == "log"


def test_a_group_that_diverged_at_step_zero_keeps_its_legend_entry() -> None:
    results = data_race()
    results["runs"].append(
        run("SGD lr 10", "sgd", 10.0, 0, [], status="diverged", stopped_at=0, epochs=[])
    )
    fig = figures.loss_figure(results)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels[-1] == "SGD lr 10 (diverged at step 0)"
    assert figures.figure_names(results) == ["loss", "accuracy", "lr"]


def test_lr_figure_only_when_the_lr_changes_or_differs() -> None:
    results = data_race()
    for r in results["runs"]:
        r["lr"] = [0.1] * len(r["loss"])
    assert "lr" not in figures.figure_names(results)
    results["runs"][0]["lr"][50:] = [0.05] * 150
    assert "lr" in figures.figure_names(results)


def test_boundary_figure() -> None:
    fig = figures.boundary_figure(moons_run())
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(axes) == 2
    assert axes[0].get_title() == "GD (lr=0.1)\ntest accuracy 0.800"
    assert axes[1].get_title() == "Adam (lr=0.1)\ntest accuracy 0.970"
    assert len(axes[0].collections) >= 4  # filled contours, the 0.5 line, two classes


def test_schedules_figure_has_formulas_and_an_epoch_axis() -> None:
    fig = figures.schedules_figure(schedules_series())
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "inverse time: lr = 0.1/(1 + 0.5·epoch)"
    assert len(labels) == 3
    assert any(child.__class__.__name__ == "SecondaryAxis" for child in ax.get_children())


def test_ewma_figure_styles() -> None:
    fig = figures.ewma_figure(ewma_series())
    ax = fig.axes[0]
    styles = [line.get_linestyle() for line in ax.lines[1:]]
    assert styles == ["-", "--"] * 3
    labels = ax.get_legend_handles_labels()[1]
    assert labels[1] == "β = 0.5 (≈2 days), bias-corrected"
    assert labels[6] == "β = 0.98 (≈50 days), uncorrected"
    assert np.issubdtype(np.asarray(ax.lines[0].get_xdata()).dtype, np.datetime64)


def test_init_figure_per_activation() -> None:
    fig = figures.init_figure(init_series(INITS, ACTIVATIONS), activation="tanh")
    assert len(fig.axes) == 4 * 5
    assert [ax.get_title() for ax in fig.axes[:5]] == [f"layer {k}" for k in range(1, 6)]
    assert [fig.axes[5 * r].get_ylabel() for r in range(4)] == [f"{i}, tanh" for i in INITS]
    assert fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[4])
    assert not fig.axes[0].get_shared_y_axes().joined(fig.axes[0], fig.axes[5])
    assert fig.axes[0].get_xlabel().startswith("std ")


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


def test_group_colors_cycle_in_run_order() -> None:
    runs = [{"group": f"g{i}"} for i in range(12)] + [{"group": "g0"}]
    colors = figures.group_colors(runs)
    assert list(colors) == [f"g{i}" for i in range(12)]
    assert colors["g10"] == colors["g0"] == figures.TAB10[0]


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
    assert figures.figure_names(results) == ["paths", "loss"]
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
