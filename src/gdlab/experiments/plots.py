"""The figures of ``gdlab plot``: schedules, EWMAs and initial weights, as data.

Each ``*_series`` function computes what its figure draws (plain data, the
``series`` block of a results.json); :func:`run_plot` writes the report.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from gdlab._checks import ConfigError, check_int, check_real, fail

__all__ = ["PLOTS", "ewma_series", "init_series", "run_plot", "schedules_series"]

#: The ``gdlab plot`` figures.
PLOTS = ("schedules", "ewma", "init")


def schedules_series(lr0: float = 0.1, epochs: int = 20, steps_per_epoch: int = 50) -> dict:
    """Seed 004's decays as lr-per-step curves (``gdlab plot schedules``)."""
    from gdlab import schedules as S

    lr0 = check_real("lr0", lr0, low=0, low_open=True)
    epochs = check_int("epochs", epochs, low=1)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, low=1)

    cases = [
        S.Constant(lr0),
        S.InverseTimeDecay(lr0, 1.0, per="epoch"),
        S.ExponentialDecay(lr0, 0.95, per="epoch"),
        S.InverseSqrtEpochDecay(lr0, 1.0),
        S.InverseSqrtStepDecay(lr0, 1.0),
        S.StepDecay(lr0, every=5, factor=0.5, per="epoch"),
        S.CosineDecay(lr0, epochs * steps_per_epoch),
    ]
    labels = ["constant", "inverse time", "exponential", "k/√epoch", "k/√t", "staircase", "cosine"]
    steps = epochs * steps_per_epoch
    curves = []
    for label, schedule in zip(labels, cases, strict=True):
        lr = [schedule(t, t // steps_per_epoch) for t in range(steps)]
        curves.append({"label": label, "formula": repr(schedule), "lr": lr})
    return {
        "kind": "schedules",
        "steps": steps,
        "steps_per_epoch": steps_per_epoch,
        "curves": curves,
    }


def ewma_series(betas: Sequence[float] = (0.5, 0.9, 0.98)) -> dict:
    """Seattle's daily maximum temperatures and their EWMAs (``gdlab plot ewma``)."""
    from gdlab.averages import ewma
    from gdlab.data import seattle_temperatures

    dates, values = seattle_temperatures()
    curves = []
    for beta in betas:
        for corrected in (True, False):
            smooth = ewma(values, beta, bias_correction=corrected)
            curves.append(
                {
                    "beta": beta,
                    "bias_correction": corrected,
                    "values": [round(float(v), 4) for v in smooth],
                }
            )
    return {
        "kind": "ewma",
        "dates": [str(d) for d in dates.astype("datetime64[D]")],
        "values": [float(v) for v in values],
        "unit": "°C",
        "curves": curves,
    }


def _init_edges(activation: str, outputs: Sequence[Sequence[np.ndarray]], bins: int) -> np.ndarray:
    """One set of ``bins`` bin edges for every layer and initialisation of ``activation``.

    Sigmoid and tanh have fixed ranges, (0, 1) and (-1, 1); ``bins`` is odd so
    that the middle bin is centred on the middle value (0.5, 0): a collapsed
    layer (std 0.01) is one bar, not two halves on an edge. ReLU's positive
    outputs get a linear axis from 0 to the largest 99.5th percentile of the
    positive outputs of the Xavier and He layers (``outputs[2:]``), as the
    book draws them: it shows Xavier's spread shrink toward 0 layer after
    layer and He's stay. Std 1 explodes far beyond it (its share off the axis
    is each layer's ``above``) and std 0.01 piles into the first bin.
    """
    if activation == "sigmoid":
        return np.linspace(0.0, 1.0, bins + 1)
    if activation == "tanh":
        return np.linspace(-1.0, 1.0, bins + 1)
    fitted = [z[z > 0] for row in outputs[2:] or outputs for z in row]
    highs = [float(np.percentile(z, 99.5)) for z in fitted if z.size]
    return np.linspace(0.0, max(highs, default=1.0), bins + 1)


def init_series(samples: int = 1000, units: int = 100, layers: int = 5, seed: int = 0) -> dict:
    """Seed 001's activation histograms per layer for each initialisation and activation.

    Each case holds, per layer, a histogram (``counts`` over ``edges``, one
    set of edges per activation: :func:`_init_edges`), the number of
    activations ``total`` (so ``counts / total`` is a share), ``mean``,
    ``std``, the ``saturated`` share (sigmoid outside 0.1–0.9, tanh beyond
    ±0.9), the share of ``zeros`` (ReLU's negative inputs) and the share
    ``above`` the last edge (off the axis: ReLU with std 1). A ReLU case has
    ``positive: true``: its histogram counts the positive outputs.
    """
    from gdlab.nn.init import weights
    from gdlab.nn.layers import ReLU, Sigmoid, Tanh

    samples = check_int("samples", samples, low=1)  # none: every statistic is 0/0
    units = check_int("units", units, low=1)
    layers = check_int("layers", layers, low=1)
    seed = check_int("seed", seed, low=0)

    inits = [("std 1", 1.0), ("std 0.01", 0.01), ("Xavier", "xavier"), ("He", "he")]
    activations = [("sigmoid", Sigmoid), ("tanh", Tanh), ("relu", ReLU)]
    cases = []
    for act_name, act in activations:
        outputs: list[list[np.ndarray]] = []
        for _, init in inits:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((samples, units))
            per_layer = []
            for _ in range(layers):
                w = weights(
                    (units, units), init, rng, fan_in=units, fan_out=units, dtype=np.float64
                )
                x = act().forward(x @ w)
                per_layer.append(x)
            outputs.append(per_layer)
        edges = _init_edges(act_name, outputs, bins=31)
        positive = act_name == "relu"
        for (init_name, _), per_layer in zip(inits, outputs, strict=True):
            stats = []
            for z in per_layer:
                counts, _ = np.histogram(z[z > 0] if positive else z, bins=edges)
                saturated = (
                    float(np.mean((z < 0.1) | (z > 0.9)))
                    if act_name == "sigmoid"
                    else float(np.mean(np.abs(z) > 0.9))
                    if act_name == "tanh"
                    else 0.0
                )
                stats.append(
                    {
                        "counts": counts.tolist(),
                        "edges": edges.tolist(),
                        "total": int(z.size),
                        "mean": float(z.mean()),
                        "std": float(z.std()),
                        "saturated": saturated,
                        "zeros": float(np.mean(z <= 0)) if positive else 0.0,
                        "above": float(np.mean(z > edges[-1])),
                    }
                )
            case = {"init": init_name, "activation": act_name, "layers": stats}
            if positive:
                case["positive"] = True
            cases.append(case)
    return {"kind": "init", "layers": layers, "units": units, "samples": samples, "cases": cases}


_PLOT_TEXT = {
    "schedules": (
        "Seed 004: learning-rate schedules",
        "The learning rate against the step for seed 004's decays (and cosine), "
        "from lr0 = 0.1 with 50 steps per epoch; epochs count from 0, k/√ from 1.",
    ),
    "ewma": (
        "Seed 004: exponentially weighted averages",
        "Seattle's daily maximum temperatures (2012-2015) averaged with β = 0.5, 0.9 and "
        "0.98 (about 2, 10 and 50 days), with bias correction (solid) and without "
        "(dashed): without it, the average starts from v_0 = 0 and is 1 − β^t times the "
        "corrected one (v_1 = (1 − β)·θ_1): for β near 1 still about 1/e ≈ 37% too low after "
        "1/(1 − β) days.",
    ),
    "init": (
        "Seed 001: initial weights and activations",
        "A 5-layer, 100-unit network on 1,000 random inputs: the activations per layer "
        "with weights of std 1, std 0.01, Xavier (√(1/n)) and He (√(2/n)), for sigmoid, "
        "tanh and ReLU. Std 1 saturates sigmoid and tanh and explodes ReLU; 0.01 collapses "
        "every layer; Xavier keeps sigmoid's and tanh's outputs spread out and unsaturated "
        "(for tanh its std still shrinks with depth); with ReLU, Xavier's spread drifts "
        "toward 0 layer after layer and He's holds.",
    ),
}


def run_plot(
    kind: str, out_dir: str | os.PathLike, *, command: str = "", figures: bool = True
) -> dict[str, Any]:
    """``gdlab plot KIND``: compute the series, write results.json, figures and report.

    Raises:
        gdlab._checks.ConfigError: an unknown ``kind``.
        gdlab._io.OutputError: ``out_dir`` is not a new or empty directory (it is
            named; nothing is written).
    """
    from gdlab.results import ResultsWriter, check_new

    if kind not in PLOTS:
        raise ConfigError(f"plot must be one of {', '.join(PLOTS)}; got {kind!r}")
    if not isinstance(out_dir, str | os.PathLike):
        fail("out_dir", "a path (str or os.PathLike)", out_dir, kind=TypeError)
    check_new("out_dir", out_dir)  # never over another report: its files would mix
    series = {"schedules": schedules_series, "ewma": ewma_series, "init": init_series}[kind]()
    from gdlab.experiments.describe import source_text

    title, description = _PLOT_TEXT[kind]
    description = f"{source_text(f'plot-{kind}')}\n\n{description}"  # where it comes from
    header = {
        "experiment": f"plot-{kind}",
        "title": title,
        "description": description,
        "command": command,
        "config": {"plot": kind},
        "problem": None,
        "series": series,
    }
    writer = ResultsWriter(out_dir, header)
    writer.finish("complete")
    if figures:
        from gdlab.report import write

        write(writer.document, out_dir)
    return writer.document
