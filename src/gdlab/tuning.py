"""Fair tuning: every optimizer gets the same budget on the same folds.

``gdlab tune EXPERIMENT`` tunes each configuration's learning rate on a log
grid of ``budget`` points (:func:`gdlab.selection.default_space`) by K-fold
cross-validation on the experiment's training set (a hold-out of 20% when
``folds == 1``; a 2-D function has no data and is scored by its final loss).
Every (configuration, learning rate, fold) is one task of a
:func:`gdlab.sweep.run_sweep`, so the work runs on local processes or a Dask
cluster, streams to ``tune.jsonl`` and resumes after an interruption. The
summary, ``tune.json``, holds per configuration the grid, the mean and standard
deviation of the validation loss over the folds, and the best learning rate;
``gdlab race EXPERIMENT --tuned`` re-runs the best settings with several seeds.

The folds come from ``split_seed`` alone, so every configuration sees the same
folds; each task's generator comes from (``base_seed``, task id).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gdlab import _io

__all__ = ["SCHEMA_ID", "apply_tuned", "load_tuned", "series", "tune", "tune_task"]

SCHEMA_ID = "gdlab.tune/1"
#: Evaluate only at the end of a tuning run (the validation loss is all it needs).
_NEVER = 10**9


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-").lower() or "run"


def _fold_data(config: Mapping[str, Any], fold: int, folds: int, split_seed: int) -> Any:
    """The experiment's training set cut into (train, validation) for this fold."""
    from gdlab import experiments, selection
    from gdlab.data import Splits

    data = experiments.load_data(config)
    train = data.train if isinstance(data, Splits) else data
    rng = np.random.default_rng(split_seed)
    if folds == 1:
        parts = selection.holdout(train, validation_size=0.2, test_size=0.0, rng=rng)
        return Splits(train=parts.train, validation=parts.validation, test=parts.validation)
    cut = selection.kfold(train, folds, rng=rng)[fold]
    validation = train.subset(cut.validation)
    return Splits(train=train.subset(cut.train), validation=validation, test=validation)


def tune_task(
    *,
    config: Mapping[str, Any],
    spec: Mapping[str, Any],
    fold: int,
    folds: int,
    split_seed: int,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """One tuning run: train ``spec`` on a fold's training part, score its validation part.

    Module-level and plain-data in, plain-data out, so that it runs in another
    process or on a Dask worker.
    """
    from gdlab import experiments
    from gdlab.race import RunSpec, make_optimizer
    from gdlab.train import fit

    run_spec = RunSpec(
        spec["label"],
        spec["optimizer"],
        preset=spec.get("preset"),
        hyperparameters=spec.get("hyperparameters", {}),
        training=spec.get("training", {}),
    )
    kind = config["problem"]["kind"]
    data = None if kind == "function" else _fold_data(config, fold, folds, split_seed)
    problem = experiments.build_problem(config, data)
    settings = experiments.training_settings(config)
    settings.update(run_spec.training)
    if "steps" in run_spec.training:
        settings["epochs"] = None
    elif "epochs" in run_spec.training:
        settings["steps"] = None
    settings.pop("validation", None)
    settings["evaluate_every"] = _NEVER
    history = fit(
        problem,
        make_optimizer(run_spec),
        rng=rng,
        validation=None if kind == "function" else "validation",
        progress=False,
        **settings,
    )
    last = history.epochs[-1] if history.epochs else {}
    diverged = history.status == "diverged"
    loss = last.get("val_loss", last.get("train_loss", math.inf))
    return {
        "status": history.status,
        "val_loss": None if diverged or not math.isfinite(loss) else float(loss),
        "val_accuracy": None if diverged else last.get("val_accuracy"),
        "steps": history.steps,
    }


def _lr_grid(optimizer: str, budget: int) -> list[float]:
    from gdlab.selection import default_space

    return [float(c["lr"]) for c in default_space(optimizer).grid(budget)]


def tune(
    config: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    budget: int = 8,
    folds: int = 3,
    base_seed: int = 0,
    split_seed: int = 0,
    workers: int = 1,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: bool = True,
    command: str = "",
    metric: str = "loss",
) -> dict[str, Any]:
    """Tune every configuration of an experiment; write and return ``tune.json``'s dict.

    ``metric="loss"`` picks the lowest mean validation loss, ``"accuracy"`` the
    highest mean validation accuracy (classifiers).
    """
    from gdlab._checks import check_choice

    check_choice("metric", metric, ("loss", "accuracy"))
    if metric == "accuracy" and config["problem"]["kind"] in ("function", "linreg"):
        raise ValueError(f"metric must be 'loss' for experiment {config['name']!r} (no accuracy)")
    from gdlab import experiments
    from gdlab.sweep import Task, run_sweep

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = experiments.build_specs(config)
    plain_config = _io_plain(config)
    tasks, index = [], {}
    for spec in specs:
        key = _slug(spec.label)
        grid = _lr_grid(spec.optimizer, budget)
        index[spec.label] = (key, grid)
        n_folds = 1 if config["problem"]["kind"] == "function" else folds
        for lr in grid:
            hp = {**dict(spec.hyperparameters), "lr": lr}
            spec_data = {
                "label": spec.label,
                "optimizer": spec.optimizer,
                "preset": spec.preset,
                "hyperparameters": hp,
                "training": dict(spec.training),
            }
            for fold in range(n_folds):
                tasks.append(
                    Task(
                        f"{key}/lr={lr:.6g}/fold={fold}",
                        {
                            "config": plain_config,
                            "spec": spec_data,
                            "fold": fold,
                            "folds": folds,
                            "split_seed": split_seed,
                        },
                    )
                )
    records = run_sweep(
        tune_task,
        tasks,
        out_dir / "tune.jsonl",
        base_seed=base_seed,
        workers=workers,
        scheduler=scheduler,
        dask_local=dask_local,
        progress=progress,
    )
    by_id = {r["id"]: r for r in records}
    summary: dict[str, Any] = {}
    for label, (key, grid) in index.items():
        means, stds, diverged, accuracy = [], [], [], []
        for lr in grid:
            rows = [v for k, v in by_id.items() if k.startswith(f"{key}/lr={lr:.6g}/")]
            losses = [
                r["result"]["val_loss"]
                for r in rows
                if r["status"] == "ok" and r["result"]["val_loss"] is not None
            ]
            n_bad = len(rows) - len(losses)
            accs = [
                r["result"]["val_accuracy"]
                for r in rows
                if r["status"] == "ok" and r["result"].get("val_accuracy") is not None
            ]
            # A fold that diverged or failed makes the setting unusable.
            means.append(float(np.mean(losses)) if losses and not n_bad else None)
            stds.append(float(np.std(losses)) if losses and not n_bad else None)
            diverged.append(n_bad)
            accuracy.append(float(np.mean(accs)) if accs and not n_bad else None)
        if metric == "accuracy":
            scored = [(-a, i) for i, a in enumerate(accuracy) if a is not None]
        else:
            scored = [(m, i) for i, m in enumerate(means) if m is not None]
        best = min(scored)[1] if scored else None
        within = (
            sum(1 for m in means if m is not None and m <= 1.1 * means[best]) / len(grid)
            if best is not None and means[best] is not None
            else 0.0
        )
        summary[label] = {
            "optimizer": next(s.optimizer for s in specs if s.label == label),
            "grid": grid,
            "mean": means,
            "std": stds,
            "accuracy": accuracy,
            "diverged": diverged,
            "best": None
            if best is None
            else {
                "lr": grid[best],
                "mean": means[best],
                "std": stds[best],
                "accuracy": accuracy[best],
            },
            "within_10_percent": within,
        }
    document = {
        "schema": SCHEMA_ID,
        "experiment": config["name"],
        "command": command,
        "folds": 1 if config["problem"]["kind"] == "function" else folds,
        "budget": budget,
        "metric": "validation loss" if config["problem"]["kind"] != "function" else "final loss",
        "selected_by": "mean validation accuracy" if metric == "accuracy" else "mean loss",
        "base_seed": base_seed,
        "split_seed": split_seed,
        "configurations": summary,
        "failed": [r["id"] for r in records if r["status"] == "failed"],
    }
    _io.write_json(out_dir / "tune.json", document)
    return document


def _io_plain(config: Mapping[str, Any]) -> dict[str, Any]:
    from gdlab.results import plain

    return plain(config)


def load_tuned(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``tune.json`` (a file, or the directory holding it)."""
    import json

    path = Path(path)
    if path.is_dir():
        path = path / "tune.json"
    if not path.is_file():
        raise FileNotFoundError(f"no tuning results at {path}: run `gdlab tune` first")
    document = json.loads(path.read_text())
    if document.get("schema") != SCHEMA_ID:
        raise ValueError(f"{path} is not a gdlab tune.json (schema {document.get('schema')!r})")
    return document


def apply_tuned(config: Mapping[str, Any], tuned: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with each configuration's learning rate set to its tuned best."""
    from gdlab import experiments

    if tuned["experiment"] != config["name"]:
        raise ValueError(
            f"the tuning results are for {tuned['experiment']!r}, not {config['name']!r}"
        )
    best = {label: c["best"] for label, c in tuned["configurations"].items()}
    missing = [s.label for s in experiments.build_specs(config) if best.get(s.label) is None]
    if missing:
        raise ValueError("no tuned learning rate for " + ", ".join(missing))
    lr_by_name = {}
    config = dict(config)
    runs = []
    for run in config.get("runs", []):
        runs.append({**run, "lr": best[run["label"]]["lr"]})
    for spec_label, b in best.items():
        lr_by_name[spec_label] = b["lr"]
    config["runs"] = runs
    names = config.get("optimizers", {}).get("names", [])
    if names:
        from gdlab.optim import OPTIMIZERS

        lrs = {n: lr_by_name[OPTIMIZERS[n.lower()].__name__] for n in names}
        config["optimizers"] = {**config["optimizers"], "lr": lrs}
    config["title"] = f"{config.get('title', config['name'])} (tuned)"
    return experiments.check(config, f"experiment {config['name']!r}")


def series(tuned: Mapping[str, Any]) -> dict[str, Any]:
    """The ``series`` block a tuned race's results.json carries (its sensitivity figure)."""
    return {
        "kind": "tuning",
        "metric": tuned["metric"],
        "folds": tuned["folds"],
        "budget": tuned["budget"],
        "configurations": tuned["configurations"],
    }
