"""Network mode: a small MLP trained live by two to four optimizers on the same batches.

A :class:`NetworkSession` holds one page's training: the data (moons,
circles, spirals or XOR, with noise and size), the network
(:class:`gdlab.problems.MLPClassification`, as ``gdlab race`` trains it) and
one run per optimizer. Every run starts from ``numpy.random.default_rng(0)``,
which draws its initial weights and then its batches, as a race's seed 0
does: all optimizers start from the same weights and see the same samples in
the same order. :meth:`NetworkSession.advance` takes steps;
:meth:`NetworkSession.frame` reports the loss and accuracy on the whole set
and each decision boundary (P(class 1) on a grid, 0–255, base64).
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab.data import datasets
from gdlab.data.batches import BatchStream
from gdlab.data.datasets import Dataset
from gdlab.optim import NonFiniteGradientError, Optimizer
from gdlab.play import limits
from gdlab.play.api import (
    PlayError,
    _choice,
    _created,
    _describe,
    _hyperparameters,
    _int,
    _labels,
    _preset,
    _real,
    _table,
)
from gdlab.problems import MLPClassification
from gdlab.train import DivergenceGuard, eval_point

__all__ = ["DATASETS", "NetworkSession", "check_config", "make_data", "network_toml"]

#: The seed of every run (a race's seed 0): same initial weights, same batches.
RUN_SEED = 0


#: Data sets of network mode: registered data sets (:mod:`gdlab.data.registry`),
#: so that an exported setup names them and ``gdlab race --config`` draws the
#: same points: ``(n_samples, *, noise, rng) -> Dataset``.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "moons": datasets.moons,
    "circles": datasets.circles,
    "spirals": datasets.spirals,
    "xor": datasets.xor,
}


def make_data(name: str, n: int, noise: float, seed: int) -> Dataset:
    """The data set ``name`` with ``n`` points, drawn from ``default_rng(seed)``
    (as an experiment's ``problem.data`` with ``split_seed = seed`` draws it)."""
    return DATASETS[name](n, noise=noise, rng=np.random.default_rng(seed))


_KEYS = (
    "data",
    "noise",
    "n_samples",
    "seed",
    "hidden",
    "activation",
    "batch_size",
    "steps_per_frame",
    "grid",
    "runs",
)


def check_config(config: Any) -> dict[str, Any]:
    """A network-mode setup, checked whole (:class:`PlayError` names the field)."""
    from gdlab.nn import ACTIVATIONS
    from gdlab.optim import OPTIMIZERS

    config = _table(config, "config", _KEYS, ["runs"])
    out: dict[str, Any] = {
        "data": _choice("config.data", config.get("data", "moons"), list(DATASETS)),
        "noise": _real("config.noise", config.get("noise", 0.2), 0.0, 1.0),
        "n_samples": _int(
            "config.n_samples", config.get("n_samples", 300), limits.MIN_POINTS, limits.MAX_POINTS
        ),
        "seed": _int("config.seed", config.get("seed", 0), 0, 2**31 - 1),
        "activation": _choice(
            "config.activation", config.get("activation", "tanh"), list(ACTIVATIONS)
        ),
        "steps_per_frame": _int(
            "config.steps_per_frame",
            config.get("steps_per_frame", 5),
            1,
            limits.MAX_STEPS_PER_FRAME,
        ),
        "grid": _int("config.grid", config.get("grid", 40), 8, limits.MAX_GRID),
    }
    hidden = config.get("hidden", [8, 8])
    if not isinstance(hidden, list) or len(hidden) > limits.MAX_LAYERS:
        raise PlayError(
            f"config.hidden must be a list of at most {limits.MAX_LAYERS} layer widths; "
            f"got {_describe(hidden)}",
            field="config.hidden",
        )
    out["hidden"] = [
        _int(f"config.hidden[{i}]", h, 1, limits.MAX_WIDTH) for i, h in enumerate(hidden)
    ]
    batch = config.get("batch_size")
    # a batch at least as large as the data is the full batch (as a race's is): 32, the
    # menu's choice, stays valid on 20 points
    out["batch_size"] = None if batch is None else _int("config.batch_size", batch, 1, 2**31 - 1)
    runs = config["runs"]
    if not isinstance(runs, list) or not limits.MIN_NET_RUNS <= len(runs) <= limits.MAX_NET_RUNS:
        got = f"{len(runs)}: {_describe(runs)}" if isinstance(runs, list) else _describe(runs)
        raise PlayError(
            f"config.runs must be a list of {limits.MIN_NET_RUNS} to {limits.MAX_NET_RUNS} "
            f"optimizers; got {got}",
            field="config.runs",
        )
    checked = []
    for i, run in enumerate(runs):
        where = f"config.runs[{i}]"
        run = _table(run, where, ["optimizer", "preset", "hyperparameters"], ["optimizer"])
        name = _choice(f"{where}.optimizer", run["optimizer"], list(OPTIMIZERS))
        preset = _preset(where, name, run.get("preset"), list(OPTIMIZERS[name].presets))
        hp = _hyperparameters(where, name, run.get("hyperparameters", {}))
        checked.append({"optimizer": name, "preset": preset, "hyperparameters": hp})
    out["runs"] = checked
    return out


def _optimizer(i: int, run: Mapping[str, Any], label: str) -> Optimizer:
    """The optimizer of ``config.runs[i]``; its own refusal (``beta2 must be in
    [0, 1)``) is a :class:`PlayError` on the field it names."""
    where = f"config.runs[{i}]"
    return _created(where, label, run["optimizer"], run["preset"], run["hyperparameters"])


@dataclass
class _Run:
    label: str
    optimizer: Optimizer
    params: dict[str, np.ndarray]
    stream: BatchStream | None
    steps_per_epoch: int
    step: int = 0
    status: str = "ok"
    reason: str = ""
    last: dict[str, float] = field(default_factory=dict)
    #: Its frame entry once it has stopped (:meth:`NetworkSession.frame`): made once.
    final: dict[str, Any] | None = None
    #: The race's divergence check: the same limit, the same messages.
    guard: DivergenceGuard = field(default_factory=DivergenceGuard)

    def request_stop(self, reason: str, status: str = "stopped") -> None:
        """End the run (as :class:`gdlab.train.Run` does; its guard calls this)."""
        self.status, self.reason = status, reason


class _TooLong(Exception):
    """A step went past its own time limit (raised by the closure, see ``_step``)."""


class NetworkSession:
    """One page's network training (used by one connection, one step at a time).

    The runs step side by side, a round at a time (one step of each run still
    going), so that they stay at the same step (:attr:`step`) until one stops.
    ``batch_size`` ``None``, or at least the number of points, is the full batch.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = check_config(config)
        self.reset()

    def reset(self) -> None:
        """Fresh data, network and optimizers: step 0."""

        c = self.config
        self.data = make_data(c["data"], c["n_samples"], c["noise"], c["seed"])
        self.problem = MLPClassification(self.data, tuple(c["hidden"]), activation=c["activation"])
        labels = _labels([r["optimizer"] for r in c["runs"]])
        self.runs = []
        n = self.problem.n_samples
        for i, (run, label) in enumerate(zip(c["runs"], labels, strict=True)):
            optimizer = _optimizer(i, run, label)
            rng = np.random.default_rng(RUN_SEED)  # as fit: the weights, then the batches
            params = self.problem.init_params(rng)
            batch = c["batch_size"]
            stream = None if batch is None or batch >= n else BatchStream(n, batch, rng)
            per_epoch = 1 if stream is None else stream.steps_per_epoch
            self.runs.append(_Run(label, optimizer, params, stream, per_epoch))
        self.step = 0

    def _closure(self, batch: Any, deadline: float) -> Callable[..., Any]:
        """The closure of an optimizer that evaluates within a step (L-BFGS, SAM): the
        loss on ``batch``, refused past ``deadline`` (the step then ends there)."""
        problem = self.problem

        def closure(params: dict[str, np.ndarray]) -> Any:
            if time.monotonic() > deadline:
                raise _TooLong
            return problem.loss_and_grads(params, batch)

        return closure

    def _step(self, run: _Run) -> None:
        """One step of ``run`` as :func:`gdlab.train.fit` takes it, its checks included;
        a step that alone takes longer than :data:`~gdlab.play.limits.TIME_LIMIT` s
        stops the run (for good: the next one would again)."""
        deadline = time.monotonic() + limits.TIME_LIMIT
        batch = None if run.stream is None else next(run.stream)
        loss, grads = self.problem.loss_and_grads(run.params, batch)
        if not run.guard.check(run, loss):
            return
        run.optimizer.epoch = run.step // run.steps_per_epoch
        closure = self._closure(batch, deadline) if run.optimizer.needs_closure else None
        try:
            run.optimizer.update(run.params, grads, closure=closure)
        except NonFiniteGradientError as error:
            run.request_stop(f"diverged at step {run.step + 1}: {error}", "diverged")
            return
        except _TooLong:
            run.request_stop(
                f"step {run.step + 1} alone took longer than {limits.TIME_LIMIT:g} s; lower "
                "max_iter, the data or the network, and reset"
            )
            return
        run.step += 1
        if run.step % run.steps_per_epoch == 0:  # the end of an epoch: fit evaluates
            point = eval_point(run.optimizer, run.params)
            run.guard.check_evaluation(run, self.problem.evaluate(point)["loss"])

    def advance(self, steps: int | None = None, *, deadline: float | None = None) -> int:
        """Take ``steps`` (default: the setup's steps per frame) with every run, side by
        side, until ``deadline`` (default: :data:`~gdlab.play.limits.TIME_LIMIT` s from
        now); the steps taken.

        A frame goes a round at a time, one step of every run still going, and a
        round is never cut short: the frame ends at the end of the round under way
        when ``deadline`` passes, or before a round that would not fit (as long as
        the one before it), every run at the same step. The first round is always
        taken, so that a frame moves on however slow a step is. Time decides only
        how many steps a frame takes, never what they compute; a run is stopped
        only for its own step's time (:meth:`_step`).
        """
        steps = self.config["steps_per_frame"] if steps is None else steps
        deadline = time.monotonic() + limits.TIME_LIMIT if deadline is None else deadline
        done, took = 0, 0.0
        with np.errstate(all="ignore"):
            while done < steps and (done == 0 or time.monotonic() + took <= deadline):
                started = time.monotonic()
                for run in self.runs:
                    if run.status == "ok":
                        self._step(run)
                took = time.monotonic() - started
                done += 1
        self.step += done
        return done

    def data_message(self) -> dict[str, Any]:
        """The points and the boundary grid's extent (sent once per setup)."""
        X = self.data.X
        (x0, y0), (x1, y1) = X.min(axis=0), X.max(axis=0)
        pad_x, pad_y = 0.1 * (x1 - x0) + 0.2, 0.1 * (y1 - y0) + 0.2  # as gdlab.race.boundary
        return {
            "type": "data",
            "X": np.round(X, 4).tolist(),
            "y": self.data.y.tolist(),
            "xlim": [float(x0 - pad_x), float(x1 + pad_x)],
            "ylim": [float(y0 - pad_y), float(y1 + pad_y)],
            "grid": self.config["grid"],
            "labels": [r.label for r in self.runs],
            "sizes": list(self.problem.sizes),
        }

    def frame(self) -> dict[str, Any]:
        """Each run's loss and accuracy on the whole set and its decision boundary now (a
        run that has stopped: as evaluated once, when it stopped)."""
        from gdlab.race import boundary

        out = []
        for run in self.runs:
            if run.final is not None:
                out.append(run.final)
                continue
            entry: dict[str, Any] = {
                "label": run.label,
                "step": run.step,
                "status": run.status,
                "reason": run.reason,
            }
            point = eval_point(run.optimizer, run.params)  # as fit evaluates (Schedule-Free's x)
            with np.errstate(all="ignore"):
                metrics = self.problem.evaluate(point)
                grid = boundary(self.problem, point, resolution=self.config["grid"])
            prob = np.nan_to_num(np.asarray(grid["probability"], dtype=np.float64), nan=0.5)
            entry["loss"] = metrics["loss"] if math.isfinite(metrics["loss"]) else None
            entry["accuracy"] = metrics.get("accuracy")
            entry["boundary"] = base64.b64encode(
                np.clip(np.rint(prob * 255), 0, 255).astype(np.uint8).tobytes()
            ).decode("ascii")
            out.append(entry)
            if run.status != "ok":  # it moves no more: its entry stands
                run.final = entry
        return {"type": "frame", "step": self.step, "runs": out}


def network_toml(config: Any, steps: Any) -> dict[str, str]:
    """The setup as a ``gdlab race --config`` file, trained for ``steps`` steps.

    ``steps`` is the steps the page has run so far; at 0 nothing has run, and
    an experiment trains at least one step, so that is refused (field
    ``steps``) rather than written as something the page never showed.
    Every data set of the page is a registered one: the file names it with the
    page's size, noise and seed (``split_seed``), and the race draws the same
    points, the same initial weights and the same batches.
    """
    from gdlab.experiments import Experiment

    c = check_config(config)
    if steps == 0 and not isinstance(steps, bool):
        raise PlayError(
            "nothing has run yet: press Play or Step first (the export trains the steps "
            "run so far; steps must be at least 1, got 0)",
            field="steps",
        )
    steps = _int("steps", steps, 1, 10_000_000)
    labels = _labels([r["optimizer"] for r in c["runs"]])
    runs = []
    for i, (run, label) in enumerate(zip(c["runs"], labels, strict=True)):
        _optimizer(i, run, label)  # refused as the page's setup is, on its field (not a 500)
        table = {
            "label": label,
            "optimizer": run["optimizer"],
            "hyperparameters": dict(run["hyperparameters"]),
        }
        if run["preset"] is not None:
            table["preset"] = run["preset"]
        runs.append(table)
    training: dict[str, Any] = {"steps": steps, "batching": "epoch"}
    if c["batch_size"] is not None and c["batch_size"] < c["n_samples"]:
        training["batch_size"] = c["batch_size"]
    experiment = Experiment.from_dict(
        {
            "name": "play-network",
            "seeds": 1,
            "problem": {
                "kind": "mlp",
                "data": c["data"],
                "n_samples": c["n_samples"],
                "noise": c["noise"],
                "split_seed": c["seed"],
                "hidden": c["hidden"],
                "activation": c["activation"],
            },
            "training": training,
            "runs": runs,
        }
    )
    header = "# Made by gdlab play (network mode). Run it with:  gdlab race --config THIS_FILE\n"
    return {"toml": header + experiment.to_toml(), "filename": "gdlab-play-network.toml"}
