"""Experiments as data: the seed experiments are TOML files, and so can yours be.

An experiment file names a problem, the training settings and the runs::

    name = "bowl"
    title = "…"
    description = "…"
    seeds = 1                      # runs per configuration (seeds 0 … N−1)

    [problem]                      # kind = function | linreg | logreg | mlp
    kind = "function"
    function = "bowl"

    [training]                     # steps or epochs, batch_size, batching,
    steps = 30                     # validation, evaluate_every

    [optimizers]                   # one run per name …
    preset = "book"
    names = ["sgd", "adam"]
    lr = { sgd = 0.95, adam = 0.3 }

    [[runs]]                       # … and/or runs written out
    label = "SGD, batch 1"
    optimizer = "sgd"
    lr = 0.01                      # or a schedule: { name = "exponential", … }
    batch_size = 1
    batching = "random"

The built-in experiments (:data:`BUILTIN`) are such files in this package.
:func:`load` reads one, :func:`override` applies command-line changes, and
:func:`run` runs it and writes ``results.json``, ``results.csv``, the figures
and ``index.html``. Every mistake in a file gets an :class:`ExperimentError`
naming the key, what is allowed and what was found.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gdlab.optim import OPTIMIZERS
from gdlab.optim.presets import PRESETS

__all__ = [
    "BUILTIN",
    "PLOTS",
    "ExperimentError",
    "build_problem",
    "build_specs",
    "load",
    "load_data",
    "override",
    "prepare",
    "report",
    "run",
    "run_plot",
    "training_settings",
]

#: The built-in race experiments, in the order of ``gdlab tour``.
BUILTIN = ("bowl", "boston", "moons", "mnist", "schedules")
#: The ``gdlab plot`` figures.
PLOTS = ("schedules", "ewma", "init")

_KINDS = ("function", "linreg", "logreg", "mlp")
_DATA = ("mnist", "boston", "moons", "digits")
_TOP = {"name", "title", "description", "seeds", "problem", "training", "optimizers", "runs"}
_PROBLEM = {
    "kind",
    "function",
    "start",
    "data",
    "features",
    "scale",
    "test_size",
    "validation_size",
    "split_seed",
    "n_samples",
    "noise",
    "hidden",
    "activation",
    "init",
    "output",
    "layout",
    "dropout",
    "weight_decay",
    "dtype",
}
_TRAINING = {"steps", "epochs", "batch_size", "batching", "validation", "evaluate_every"}
_OPTIMIZERS = {"preset", "names", "lr", "hyperparameters"}
_RUN = {
    "label",
    "optimizer",
    "preset",
    "lr",
    "hyperparameters",
    "batch_size",
    "batching",
    "steps",
    "epochs",
    "group",
}


class ExperimentError(ValueError):
    """A mistake in an experiment file or in the changes asked of it."""


def _error(where: str, allowed: str, got: Any) -> ExperimentError:
    return ExperimentError(f"{where} must be {allowed}; got {got!r}")


def _expect(value: Any, types: type | tuple[type, ...], where: str, allowed: str) -> Any:
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise _error(where, allowed, value)
    if not isinstance(value, types):
        raise _error(where, allowed, value)
    return value


def _keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ExperimentError(
            f"{where} has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}"
        )


# --------------------------------------------------------------------------- loading


def _builtin_path(name: str) -> Any:
    return resources.files(__name__).joinpath(f"{name}.toml")


def load(source: str | os.PathLike) -> dict[str, Any]:
    """An experiment as a checked dict: a built-in name or a TOML file path."""
    if isinstance(source, str) and source in BUILTIN:
        text = _builtin_path(source).read_text(encoding="utf-8")
        where = f"experiment {source!r}"
    else:
        path = Path(source)
        if not path.is_file():
            names = ", ".join(BUILTIN)
            raise ExperimentError(
                f"experiment must be one of {names} or a TOML file; got {str(source)!r}"
                + (" (no such file)" if path.suffix == ".toml" else "")
            )
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"{where} is not valid TOML: {error}") from error
    return check(config, where)


def check(config: Mapping[str, Any], where: str = "experiment") -> dict[str, Any]:
    """Check an experiment dict; return a normalised deep copy."""
    config = copy.deepcopy(dict(config))
    _keys(config, _TOP, where)
    name = _expect(config.get("name"), str, f"{where}: name", "a string")
    config.setdefault("title", name)
    config.setdefault("description", "")
    seeds = config.setdefault("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= 1000:
        raise _error(f"{where}: seeds", "an integer in [1, 1000]", seeds)

    problem = _expect(config.get("problem"), dict, f"{where}: [problem]", "a table")
    _keys(problem, _PROBLEM, f"{where}: [problem]")
    kind = problem.get("kind")
    if kind not in _KINDS:
        raise _error(f"{where}: problem.kind", "one of " + ", ".join(_KINDS), kind)
    if kind != "function":
        data = problem.get("data")
        if data not in _DATA:
            raise _error(f"{where}: problem.data", "one of " + ", ".join(_DATA), data)

    training = config.setdefault("training", {})
    _expect(training, dict, f"{where}: [training]", "a table")
    _keys(training, _TRAINING, f"{where}: [training]")

    runs = config.setdefault("runs", [])
    _expect(runs, list, f"{where}: runs", "an array of tables ([[runs]])")
    for i, run in enumerate(runs):
        _expect(run, dict, f"{where}: runs[{i}]", "a table")
        _keys(run, _RUN, f"{where}: runs[{i}]")
        for key in ("label", "optimizer"):
            _expect(run.get(key), str, f"{where}: runs[{i}].{key}", "a string")
        _optimizer_name(run["optimizer"], f"{where}: runs[{i}].optimizer")

    optimizers = config.setdefault("optimizers", {})
    _expect(optimizers, dict, f"{where}: [optimizers]", "a table")
    _keys(optimizers, _OPTIMIZERS, f"{where}: [optimizers]")
    names = optimizers.get("names", [])
    _expect(names, list, f"{where}: optimizers.names", "an array of optimizer names")
    for i, n in enumerate(names):
        _optimizer_name(n, f"{where}: optimizers.names[{i}]")
    preset = optimizers.get("preset")
    if preset is not None and preset not in PRESETS:
        raise _error(f"{where}: optimizers.preset", "one of " + ", ".join(PRESETS), preset)
    if not names and not runs:
        raise ExperimentError(f"{where} has no runs: give optimizers.names or [[runs]]")
    return config


def _optimizer_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise _error(where, "one of " + ", ".join(OPTIMIZERS), name)
    return name.lower()


# --------------------------------------------------------------------------- overrides


def override(
    config: Mapping[str, Any],
    *,
    optimizers: Sequence[str] | None = None,
    lr: Mapping[str, float] | None = None,
    preset: str | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seeds: int | None = None,
    function: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """A copy of ``config`` with the command line's changes applied and checked."""
    config = copy.deepcopy(dict(config))
    training = config["training"]
    if steps is not None and epochs is not None:
        raise ExperimentError("--steps and --epochs must not be given together")
    if steps is not None or epochs is not None:
        training.pop("steps", None)
        training.pop("epochs", None)
        training["steps" if steps is not None else "epochs"] = (
            steps if steps is not None else epochs
        )
        for run in config["runs"]:
            run.pop("steps", None)
            run.pop("epochs", None)
    if batch_size is not None:
        training["batch_size"] = batch_size
        for run in config["runs"]:
            run.pop("batch_size", None)
    if seeds is not None:
        config["seeds"] = seeds
    if preset is not None:
        config["optimizers"]["preset"] = preset
        for run in config["runs"]:
            run["preset"] = preset
    if function is not None:
        if config["problem"]["kind"] != "function":
            raise ExperimentError(
                f"--function applies to the 2-D experiments (bowl); {config['name']} is not one"
            )
        from gdlab import functions2d

        fn = functions2d.get(function)
        config["problem"]["function"] = fn.name
        config["problem"].pop("start", None)
        config["title"] = f"{len(build_specs(config))} optimizers on {fn.name}: {fn.description}"
    if data_dir is not None:
        if config["problem"].get("data") != "mnist":
            raise ExperimentError(
                f"--data names MNIST's IDX files; experiment {config['name']} does not use MNIST"
            )
        config["problem"]["directory"] = str(data_dir)
    if optimizers is not None:
        wanted = [_optimizer_name(n, "--optimizers") for n in optimizers]
        if config["optimizers"].get("names"):
            config["optimizers"]["names"] = wanted
            config["runs"] = [r for r in config["runs"] if r["optimizer"].lower() in wanted]
        else:
            kept = [r for r in config["runs"] if r["optimizer"].lower() in wanted]
            if not kept:
                present = sorted({r["optimizer"] for r in config["runs"]})
                raise _error(
                    "--optimizers",
                    "among this experiment's " + ", ".join(present),
                    ",".join(optimizers),
                )
            config["runs"] = kept
    if lr:
        present = set(config["optimizers"].get("names", [])) | {
            r["optimizer"].lower() for r in config["runs"]
        }
        for name, value in lr.items():
            key = _optimizer_name(name, "--lr")
            if key not in present:
                raise _error(
                    f"--lr {name}", "an optimizer of this race: " + ", ".join(sorted(present)), name
                )
            config["optimizers"].setdefault("lr", {})[key] = value
            for run in config["runs"]:
                if run["optimizer"].lower() != key:
                    continue
                if isinstance(run.get("lr"), dict) and "lr0" in run["lr"]:
                    run["lr"]["lr0"] = value  # a schedule keeps its shape, from the new lr0
                else:
                    run["lr"] = value
    problem = config["problem"]
    directory = problem.pop("directory", None)
    checked = check(config, f"experiment {config['name']!r}")
    if directory is not None:
        checked["problem"]["directory"] = directory
    return checked


# --------------------------------------------------------------------------- building


def _load_data(problem: Mapping[str, Any]) -> Any:
    from gdlab import data as gdata

    name = problem["data"]
    split_rng = np.random.default_rng(problem.get("split_seed", 0))
    if name == "mnist":
        kwargs: dict[str, Any] = {"rng": split_rng}
        if problem.get("directory") is None:
            kwargs["test_size"] = problem.get("test_size", 0.2)
        if problem.get("validation_size"):
            kwargs["validation_size"] = problem["validation_size"]
        return gdata.load_mnist(problem.get("directory"), **kwargs)
    if name == "boston":
        dataset = gdata.boston(features=problem.get("features"))
        scale = problem.get("scale", "minmax")
        return dataset if scale in (None, "none") else gdata.scale(dataset, scale)
    if name == "moons":
        return gdata.moons(
            problem.get("n_samples", 300), noise=problem.get("noise", 0.2), rng=split_rng
        )
    dataset = gdata.digits()
    return gdata.split(dataset, test_size=problem.get("test_size", 0.2), rng=split_rng)


def load_data(config: Mapping[str, Any]) -> Any:
    """The data set of an experiment (a Dataset or Splits); ``None`` for 2-D functions."""
    if config["problem"]["kind"] == "function":
        return None
    return _load_data(config["problem"])


def build_problem(config: Mapping[str, Any], data: Any = None) -> Any:
    """The :mod:`gdlab.problems` problem an experiment describes.

    ``data`` (a Dataset or Splits) replaces the experiment's own data set, e.g.
    one fold of it; by default the experiment's data is loaded.
    """
    from gdlab import problems

    p = config["problem"]
    kind = p["kind"]
    if kind == "function":
        return problems.FunctionProblem(p.get("function", "bowl"), p.get("start"))
    if data is None:
        data = _load_data(p)
    if kind == "linreg":
        return problems.LinearRegression(data)
    if kind == "logreg":
        return problems.LogisticRegression(data, weight_decay=p.get("weight_decay", 0.0))
    options = {
        key: p[key]
        for key in ("activation", "init", "output", "layout", "dropout", "weight_decay")
        if key in p
    }
    if "dtype" in p:
        options["dtype"] = np.dtype(p["dtype"])
    return problems.MLPClassification(data, tuple(p.get("hidden", (100,))), **options)


def _label(name: str) -> str:
    return OPTIMIZERS[name.lower()].__name__


def build_specs(config: Mapping[str, Any]) -> list[Any]:
    """The :class:`~gdlab.race.RunSpec` list of an experiment."""
    from gdlab.race import RunSpec

    specs = []
    opts = config.get("optimizers", {})
    for name in opts.get("names", []):
        key = name.lower()
        hp = dict(opts.get("hyperparameters", {}).get(key, {}))
        if key in opts.get("lr", {}):
            hp["lr"] = opts["lr"][key]
        specs.append(RunSpec(_label(key), key, preset=opts.get("preset"), hyperparameters=hp))
    for run in config.get("runs", []):
        hp = dict(run.get("hyperparameters", {}))
        if "lr" in run:
            hp["lr"] = run["lr"]
        training = {k: run[k] for k in ("batch_size", "batching", "steps", "epochs") if k in run}
        specs.append(
            RunSpec(
                run["label"],
                run["optimizer"].lower(),
                preset=run.get("preset", opts.get("preset")),
                hyperparameters=hp,
                training=training,
                group=run.get("group"),
            )
        )
    return specs


def describe_problem(problem: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``problem`` block of results.json."""
    from gdlab.problems import FunctionProblem, LinearRegression, LogisticRegression

    info: dict[str, Any] = {"kind": config["problem"]["kind"], "name": problem.name}
    if isinstance(problem, FunctionProblem):
        fn = problem.function
        info["function"] = {
            "name": fn.name,
            "description": fn.description,
            "xlim": list(fn.xlim),
            "ylim": list(fn.ylim),
            "minima": [list(m) for m in fn.minima],
            "start": list(problem.start),
        }
        return info
    train = problem.parts["train"]
    test = problem.parts.get("test")
    info["data"] = {
        "name": train.name,
        "n_train": train.n_samples,
        "n_test": 0 if test is None else test.n_samples,
        "n_features": train.n_features,
    }
    if train.n_features == 2 and train.task == "classification":
        info["data"]["points"] = {"X": train.X.tolist(), "y": train.y.tolist()}
    if not isinstance(problem, LinearRegression | LogisticRegression):
        info["sizes"] = list(problem.sizes)
    return info


# --------------------------------------------------------------------------- running


def training_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment's ``[training]`` table as keyword arguments of :func:`gdlab.race.race`."""
    t = dict(config["training"])
    batch_size = t.pop("batch_size", None)
    return {
        "steps": t.pop("steps", None),
        "epochs": t.pop("epochs", None),
        "batch_size": None if batch_size in (None, "full") else batch_size,
        **t,
    }


def prepare(config: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The problem (data loaded) and the run specs, every optimizer built once.

    Everything that can be wrong with an experiment fails here, before a run
    starts: unknown names, bad hyperparameters, missing data files.
    """
    from gdlab.race import make_optimizer

    problem = build_problem(config)
    specs = build_specs(config)
    for spec in specs:
        make_optimizer(spec)
    return problem, specs


def run(
    config: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    command: str = "",
    progress: bool = True,
    figures: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
    prepared: tuple[Any, list[Any]] | None = None,
    series: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run an experiment; write its results, figures and report; return results.json's dict.

    An exception (Ctrl-C included) leaves ``results.json`` and ``results.csv``
    with every finished run and ``"status": "interrupted"``, and a report of
    them; then it propagates.
    """
    from gdlab.race import race
    from gdlab.results import ResultsWriter

    problem, specs = prepare(config) if prepared is None else prepared
    header = {
        "experiment": config["name"],
        "title": config.get("title", config["name"]),
        "description": " ".join(config.get("description", "").split()),
        "command": command,
        "config": config,
        "problem": describe_problem(problem, config),
    }
    if series is not None:
        header["series"] = dict(series)
    writer = ResultsWriter(out_dir, header)

    def record(run_record: dict[str, Any]) -> None:
        writer.add(run_record)
        if on_run is not None:
            on_run(writer.runs[-1])

    try:
        race(
            lambda: problem,
            specs,
            seeds=range(config.get("seeds", 1)),
            progress=progress,
            on_run=record,
            **training_settings(config),
        )
    except BaseException:
        writer.finish("interrupted")
        if figures and writer.runs:
            report(writer.document, out_dir)
        raise
    if series is not None and series.get("kind") == "tuning":
        target, rows = comparison(writer.runs, series.get("configurations", {}))
        writer.document["series"]["target_loss"] = target
        writer.document["series"]["comparison"] = rows
    writer.finish("complete")
    if figures:
        report(writer.document, out_dir)
    return writer.document


def _first_at_or_below(curve: np.ndarray, target: float) -> int | None:
    hits = np.flatnonzero(curve <= target)
    return int(hits[0]) + 1 if hits.size else None


def comparison(
    runs: Sequence[Mapping[str, Any]], tuning: Mapping[str, Any], beta: float = 0.9
) -> tuple[float | None, list[dict[str, Any]]]:
    """A tuned race's table: per group, performance over seeds, speed and sensitivity.

    The target loss is the highest of the groups' best smoothed training losses
    (the median over a group's seeds), so every group that did not diverge
    reaches it; a run's speed is the first step whose smoothed loss (a
    bias-corrected EWMA with ``beta``) is at or below the target.
    """
    from gdlab.averages import ewma

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["group"], []).append(run)
    smoothed = {
        run["id"]: ewma(np.asarray(run["loss"], float), beta) if run["loss"] else np.empty(0)
        for run in runs
    }
    bests = []
    for members in groups.values():
        ok = [r for r in members if r["status"] != "diverged" and smoothed[r["id"]].size]
        if ok:
            bests.append(float(np.median([smoothed[r["id"]].min() for r in ok])))
    target = max(bests) if bests else None
    rows = []
    for name, members in groups.items():
        ok = [r for r in members if r["status"] != "diverged"]
        losses = [
            r["metrics"]["final_loss"] for r in ok if r["metrics"].get("final_loss") is not None
        ]
        accs = [
            r["metrics"]["test_accuracy"]
            for r in ok
            if r["metrics"].get("test_accuracy") is not None
        ]
        speeds = [_first_at_or_below(smoothed[r["id"]], target) for r in ok] if target else []
        reached = [v for v in speeds if v is not None]
        tuned = tuning.get(name) or {}
        best = tuned.get("best") or {}
        rows.append(
            {
                "group": name,
                "lr": best.get("lr"),
                "seeds": len(members),
                "diverged": len(members) - len(ok),
                "final_loss_mean": float(np.mean(losses)) if losses else None,
                "final_loss_std": float(np.std(losses)) if len(losses) > 1 else None,
                "test_accuracy_mean": float(np.mean(accs)) if accs else None,
                "test_accuracy_std": float(np.std(accs)) if len(accs) > 1 else None,
                "steps_to_target": int(np.median(reached)) if reached else None,
                "within_10_percent": tuned.get("within_10_percent"),
            }
        )
    return target, rows


def report(document: dict[str, Any], out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Draw the figures of a results document and write its ``index.html``; return the figures."""
    from gdlab.report import figures as figs
    from gdlab.report import html

    drawn = figs.draw(document, out_dir)
    html.write_report(document, drawn, out_dir)
    return drawn


# --------------------------------------------------------------------------- plots


def schedules_series(lr0: float = 0.1, epochs: int = 20, steps_per_epoch: int = 50) -> dict:
    """Seed 004's decays as lr-per-step curves (``gdlab plot schedules``)."""
    from gdlab import schedules as S

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


def init_series(samples: int = 1000, units: int = 100, layers: int = 5, seed: int = 0) -> dict:
    """Seed 001's activation histograms per layer for each initialisation and activation."""
    from gdlab.nn.init import weights
    from gdlab.nn.layers import ReLU, Sigmoid, Tanh

    inits = [("std 1", 1.0), ("std 0.01", 0.01), ("Xavier", "xavier"), ("He", "he")]
    activations = [("sigmoid", Sigmoid), ("tanh", Tanh), ("relu", ReLU)]
    cases = []
    for act_name, act in activations:
        for init_name, init in inits:
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((samples, units))
            stats = []
            for _ in range(layers):
                w = weights(
                    (units, units), init, rng, fan_in=units, fan_out=units, dtype=np.float64
                )
                z = act().forward(x @ w)
                low, high = (0.0, 1.0) if act_name == "sigmoid" else (-1.0, 1.0)
                if act_name == "relu":
                    low, high = 0.0, max(float(np.percentile(z, 99.5)), 1e-12)
                counts, edges = np.histogram(z, bins=30, range=(low, high))
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
                        "mean": float(z.mean()),
                        "std": float(z.std()),
                        "saturated": saturated,
                    }
                )
                x = z
            cases.append({"init": init_name, "activation": act_name, "layers": stats})
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
        "(dashed): without it, the average starts near 0 and lags for about 1/(1-β) days.",
    ),
    "init": (
        "Seed 001: initial weights and activations",
        "A 5-layer, 100-unit network on 1,000 random inputs: the activations per layer "
        "with weights of std 1, std 0.01, Xavier (√(1/n)) and He (√(2/n)), for sigmoid, "
        "tanh and ReLU. Std 1 saturates the sigmoid, 0.01 collapses every layer, Xavier "
        "keeps tanh's spread and He keeps ReLU's.",
    ),
}


def run_plot(
    kind: str, out_dir: str | os.PathLike, *, command: str = "", figures: bool = True
) -> dict[str, Any]:
    """``gdlab plot KIND``: compute the series, write results.json, figures and report."""
    from gdlab.results import ResultsWriter

    if kind not in PLOTS:
        raise _error("plot", "one of " + ", ".join(PLOTS), kind)
    series = {"schedules": schedules_series, "ewma": ewma_series, "init": init_series}[kind]()
    title, description = _PLOT_TEXT[kind]
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
        report(writer.document, out_dir)
    return writer.document
