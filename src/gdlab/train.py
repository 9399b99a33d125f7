"""The fit loop: one optimizer on one problem, with batches, evaluation and callbacks.

:func:`fit` runs ``loss, grads = problem.loss_and_grads(params, batch)`` and
``optimizer.update(params, grads)`` for the steps asked, evaluates at the end
of each epoch and returns a :class:`History`. It never raises because a run
diverged: a non-finite or exploding loss, or a non-finite gradient, ends the
run with ``status == "diverged"`` and the step where it happened.

Epochs: with ``batching="epoch"`` an epoch is one pass over a fresh
permutation (seed 000's partition); with ``batching="random"`` each step draws
``batch_size`` samples with replacement (seeds 001 and 003) and an epoch is
the nominal ``ceil(n / batch_size)`` steps. ``batch_size=None`` is full-batch
gradient descent: every step sees the whole training set, in order, and is an
epoch. A problem without data (a 2-D function) has one step per epoch.

Callbacks (:class:`Callback`) see the run at its start, after each step,
after each epoch and at its end; they may stop it. Provided:
:class:`ProgressBar` (tqdm, added by ``progress=True``), :class:`EarlyStopping`,
:class:`DivergenceGuard` (always present; pass your own to change its limit)
and :class:`Checkpoint`. A schedule with ``report`` (reduce-on-plateau) is
told the monitored loss after every epoch; a monitored loss that is not
finite ends the run as diverged instead.

Step losses: ``History.loss`` holds each step's loss at the parameters the
step's gradient is taken at, before the update: by default the batch's (the
loss the gradient is of; for SGD one sample's squared error), or, with
``step_loss="train"``, the whole training set's (seed 003 prints the MSE over
the whole set after every step). The training itself is the same either way
(but for a whole-set loss that is not finite, which ends the run as diverged).

Reproducibility: ``rng`` draws the initial parameters and then the batches
(a network's dropout masks come from generators spawned from it, also when
``params`` are given), so a seed fixes the run, and two runs from the same
seed see the same batches whatever their optimizers. A run resumed from a
:class:`Checkpoint` continues bit-identically: parameters, optimizer state,
batch stream, dropout generators, callback state and history are all
restored.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gdlab import _io
from gdlab._blas import blas_threads_held
from gdlab._checks import (
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_rng,
    describe,
    fail,
)
from gdlab.data.batches import BatchStream
from gdlab.optim.base import NonFiniteGradientError, Optimizer
from gdlab.optim.io import function_in_schedule
from gdlab.problems import Problem
from gdlab.schedules import Constant, Schedule, as_schedule

__all__ = [
    "STATUSES",
    "STEP_LOSSES",
    "Callback",
    "Checkpoint",
    "DivergenceGuard",
    "EarlyStopping",
    "History",
    "ProgressBar",
    "Run",
    "fit",
    "warm_up",
]

#: ``"ok"``: all steps done; ``"stopped"``: a callback ended it (early
#: stopping); ``"diverged"``: the loss or a gradient blew up.
STATUSES = ("ok", "stopped", "diverged")

#: What :attr:`History.loss` records at each step (``fit``'s ``step_loss``):
#: ``"batch"``, the loss of the step's batch; ``"train"``, the whole training
#: set's loss (``problem.evaluate(params, "train")``); both at the parameters
#: before the step's update.
STEP_LOSSES = ("batch", "train")

_CHECKPOINT_FORMAT = "gdlab.train/1"
#: What every checkpoint holds (and ``stream``, for a run with batches).
_CHECKPOINT_ENTRIES = ("step", "epoch", "params", "optimizer", "callbacks", "history")
#: The learning rate of the throwaway step that compiles an optimizer's kernels.
_WARM_UP_LR = 1e-3


@dataclass
class History:
    """What a run did, as plain data.

    Attributes:
        loss: the loss of every step, computed before that step's update, at
            the parameters its gradient is taken at: the batch's, or the whole
            training set's (``step_loss``).
        lr: the learning rate every step used.
        epochs: one dict per evaluation (the end of each epoch): ``epoch``,
            ``step``, ``seconds`` (since the start), ``train_loss`` and, where
            there are, ``train_accuracy``, ``val_loss``, ``val_accuracy`` (or
            ``test_loss``, ``test_accuracy``).
        path: for 2-D problems, the point before the first step and after every
            step (``steps + 1`` points); empty otherwise.
        status: one of :data:`STATUSES` (``"running"`` while in progress).
        stopped_at: the step where a run diverged or was stopped (``None``
            when it ran to the end).
        reason: why it stopped, in words (empty when ``status == "ok"``).
        seconds: wall time of the training steps and evaluations (resumed runs
            add up their parts). It leaves out the compile time of the
            optimizer's and the problem's numba kernels, spent before the
            clock starts.
        compile_seconds: the time spent compiling (warming up) the
            optimizer's and the problem's kernels before the run, reported
            apart; near 0 once they are compiled in this process.
        params: the trained parameters at the end.
        eval_params: for an optimizer that evaluates elsewhere than it trains
            (``eval_params``: Schedule-Free's x, Lookahead's slow weights, an
            EMA or SWA average), a copy of that point at the end (later runs of
            the optimizer leave it as it is); ``None`` otherwise.
            The evaluations in ``epochs`` are taken there, and the trained
            parameters' as ``iterate_train_loss``, ``iterate_val_loss``, ….
        step_loss: what ``loss`` holds, one of :data:`STEP_LOSSES`:
            ``"batch"`` (each step's batch loss) or ``"train"`` (the whole
            training set's loss at each step).
    """

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epochs: list[dict[str, float]] = field(default_factory=list)
    path: list[tuple[float, float]] = field(default_factory=list)
    status: str = "running"
    stopped_at: int | None = None
    reason: str = ""
    seconds: float = 0.0
    compile_seconds: float = 0.0
    params: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    eval_params: dict[str, np.ndarray] | None = field(default=None, repr=False, compare=False)
    step_loss: str = "batch"

    @property
    def steps(self) -> int:
        """Steps taken (updates applied)."""
        return len(self.loss)

    @property
    def final_loss(self) -> float:
        """The last evaluated training loss (the last step's loss if never evaluated)."""
        if self.epochs:
            return self.epochs[-1]["train_loss"]
        return self.loss[-1] if self.loss else math.nan

    def metric(self, name: str) -> np.ndarray:
        """One per-epoch metric as an array, e.g. ``history.metric("val_loss")``.

        ``name`` must be one of the keys the evaluations hold (``epoch``,
        ``step``, ``seconds``, ``train_loss``, …; ``val_loss`` only where the
        run validated): another is refused, naming them. An epoch that lacks
        a metric other epochs have gives NaN there; a history with no
        evaluations, an empty array.
        """
        if not isinstance(name, str):
            fail("name", "a metric name (str)", name, kind=TypeError)
        known = list(dict.fromkeys(key for e in self.epochs for key in e))
        if self.epochs and name not in known:
            listed = ", ".join(map(repr, known))
            fail("name", f"one of {listed} (what this run evaluated)", name)
        return np.array([e.get(name, math.nan) for e in self.epochs], dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (``steps`` included; not the arrays ``params`` and
        ``eval_params``).

        A number that is not finite (a diverged run's evaluated ``train_loss``
        of ``inf``, a NaN) is ``None``, as ``results.json`` writes it: the dict
        goes through ``json.dumps(..., allow_nan=False)``. :meth:`from_dict`
        reads ``None`` back as NaN.
        """
        return _io.plain(self._fields())

    def _fields(self) -> dict[str, Any]:
        """The fields as they are, non-finite numbers included (what a checkpoint keeps)."""
        data = asdict(self)
        del data["params"], data["eval_params"]
        return {**data, "path": [list(p) for p in self.path], "steps": self.steps}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild from :meth:`to_dict` (without the parameters); a ``None`` among
        the numbers (a value that was not finite) comes back as NaN."""
        fields = {k: v for k, v in data.items() if k not in ("steps", "params", "eval_params")}
        for name in ("loss", "lr"):
            if name in fields:
                fields[name] = [_number(v) for v in fields[name]]
        if "epochs" in fields:
            fields["epochs"] = [{k: _number(v) for k, v in e.items()} for e in fields["epochs"]]
        fields["path"] = [tuple(_number(v) for v in p) for p in fields.get("path", [])]
        return cls(**fields)


def _number(value: Any) -> Any:
    """``value``, or NaN for the ``None`` that :meth:`History.to_dict` writes for a
    number that was not finite."""
    return math.nan if value is None else value


class Run:
    """The state of a run in progress, as callbacks see it.

    Attributes:
        problem, optimizer, params, history: what is being trained.
        step: updates applied so far; epoch: epochs completed.
        total_steps: the steps asked for.
        validation, evaluate_every: ``fit``'s arguments (a checkpoint keeps
            them: a run resumes only with the same).
        stop: set it to True (with :meth:`request_stop`) to end the run after
            the current step.
    """

    def __init__(
        self,
        problem: Problem,
        optimizer: Optimizer,
        params: dict[str, np.ndarray],
        stream: BatchStream | None,
        total_steps: int,
        steps_per_epoch: int,
        callbacks: list[Callback],
        *,
        validation: str | None = None,
        evaluate_every: int = 1,
    ) -> None:
        self.problem = problem
        self.optimizer = optimizer
        self.params = params
        self.stream = stream
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.callbacks = callbacks
        self.validation = validation
        self.evaluate_every = evaluate_every
        self.history = History()
        self.step = 0
        self.epoch = 0
        self.stop = False
        self.interrupted = False
        self._status = "stopped"

    def request_stop(self, reason: str, status: str = "stopped") -> None:
        """End the run after this step with ``status`` and ``reason``."""
        if not self.stop:
            self.stop = True
            self._status = status
            self.history.reason = reason
            self.history.stopped_at = self.step

    # -- checkpoints ------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as arrays and plain data."""
        problem_state = getattr(self.problem, "state_dict", None)
        return {
            "format": _CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "total_steps": self.total_steps,
            "validation": self.validation,
            "evaluate_every": self.evaluate_every,
            "params": {k: v.copy() for k, v in self.params.items()},
            "optimizer": self.optimizer.state_dict(),
            "stream": None if self.stream is None else self.stream.state_dict(),
            "problem": problem_state() if problem_state else None,
            "callbacks": _callback_states(self.callbacks),
            "history": self.history._fields(),  # exact: NaN and inf as they are
            "eval_params": self.history.eval_params,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict`.

        The whole checkpoint is checked first (format, counters, parameter keys,
        shapes and dtypes, the optimizer's kind, hyperparameters and state, the
        batch stream, the problem's and the callbacks' states); only then is
        anything changed, the parameters last. A checkpoint that does not fit
        this run raises and leaves the parameters, the optimizer and the
        stream as they were.
        """
        self._load(state)

    def _load(self, state: Any, source: str | os.PathLike | None = None) -> None:
        """:meth:`load_state_dict` of a state read from the file ``source`` (named in the
        error on a missing entry)."""
        history, step, epoch = self._check_state(state, source)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.stream is not None:
            self.stream.load_state_dict(state["stream"])
        if state.get("problem") is not None:
            self.problem.load_state_dict(state["problem"])  # type: ignore[attr-defined]
        saved = state["callbacks"]
        for key, cb in _keyed(self.callbacks).items():
            if key in saved:
                cb.load_state_dict(saved[key])
        for key, array in self.params.items():
            np.copyto(array, state["params"][key])
        # A finished run's evaluation point (earlier checkpoints kept it in the history).
        eval_params = state.get("eval_params", state["history"].get("eval_params"))
        history.eval_params = None if eval_params is None else dict(eval_params)
        self.history, self.step, self.epoch = history, step, epoch

    def _check_state(
        self, state: Any, source: str | os.PathLike | None = None
    ) -> tuple[History, int, int]:
        """Check a checkpoint (read from the file ``source``, if given) against this run
        without changing anything."""
        self._check_whole(state, source)
        step = check_int("checkpoint step", state["step"], low=0)
        epoch = check_int("checkpoint epoch", state["epoch"], low=0)
        _check_saved_params(self.params, state["params"], "checkpoint params")
        self._check_optimizer_state(state["optimizer"])
        if self.stream is not None:
            copy.deepcopy(self.stream).load_state_dict(state["stream"])  # a dry run
        saved = dict(state["callbacks"])
        for key in _keyed(self.callbacks):
            saved.pop(key, None)
        if saved:
            fail(
                "the callbacks of a resumed run",
                "those of the saved run (their state would be lost)",
                f"no callback for {sorted(saved)}",
            )
        history = History.from_dict(state["history"])
        saved_args = {"step_loss": history.step_loss}
        # absent from earlier checkpoints: not known, so not checked
        saved_args.update({k: state[k] for k in ("validation", "evaluate_every") if k in state})
        for name, value in saved_args.items():
            mine = self.history.step_loss if name == "step_loss" else getattr(self, name)
            if value != mine:
                fail(
                    f"checkpoint {name}",
                    f"{mine!r}, this call's (resume with the same arguments)",
                    value,
                )
        return history, step, epoch

    def _check_whole(self, state: Any, source: str | os.PathLike | None = None) -> None:
        """A checkpoint's format, and each entry this run reads there (named, with the
        file ``source`` if given, when one is missing)."""
        # the whole path, never cut (as Checkpoint's errors)
        name, got = ("state", "one") if source is None else ("resume", repr(str(source)))
        if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
            held = state.get("format") if isinstance(state, dict) else state
            if source is None:
                fail("checkpoint format", repr(_CHECKPOINT_FORMAT), held)
            what = "whose format is" if isinstance(state, dict) else "which holds"
            raise ValueError(
                f"{name} must be a checkpoint written by gdlab.train.Checkpoint (format "
                f"{_CHECKPOINT_FORMAT!r}); got {got}, {what} {describe(held)}"
            )
        missing = [key for key in _CHECKPOINT_ENTRIES if key not in state]
        if self.stream is not None and "stream" not in state:
            missing.append("stream")
        if missing:
            raise ValueError(
                f"{name} must be a whole checkpoint written by gdlab.train.Checkpoint; got "
                f"{got}, which has no {', '.join(map(repr, missing))} entry"
            )

    def _check_optimizer_state(self, saved: Any) -> None:
        """Load ``saved`` into a twin of the optimizer, and let the twin match its state to
        the params (:meth:`Optimizer._check_state`, as a step would)."""
        try:
            twin = _fresh_like(self.optimizer)
        except (TypeError, ValueError):  # cannot be rebuilt: its own load checks alone
            twin = None
        if twin is not None:
            twin.load_state_dict(saved)
        arrays = saved.get("state") if isinstance(saved, dict) else None
        if arrays is not None and set(arrays) != set(self.params):
            fail(
                "checkpoint optimizer state",
                "arrays for the keys " + ", ".join(self.params),
                sorted(arrays),
            )
        if twin is not None and twin.state is not None:
            # the buffers' shapes are the optimizer's to know: SM3's and Adafactor's
            # factored ones are smaller than the parameter they serve
            try:
                twin._check_state(self.params)
            except ValueError as error:
                raise ValueError(f"checkpoint optimizer state: {error}") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint atomically."""
        return _io.save_tree(path, self.state_dict())


def _check_saved_params(params: dict[str, np.ndarray], saved: Any, what: str) -> None:
    """``saved`` has the keys of ``params`` and arrays of the same shapes and dtypes."""
    if not isinstance(saved, dict) or set(saved) != set(params):
        got = sorted(saved) if isinstance(saved, dict) else saved
        fail(what, "the keys " + ", ".join(params), got)
    for key, array in params.items():
        value = saved[key]
        if (
            not isinstance(value, np.ndarray)
            or value.shape != array.shape
            or value.dtype != array.dtype
        ):
            got = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else value
            fail(f"{what}[{key!r}]", f"a {array.dtype} array of shape {array.shape}", got)


def _keyed(callbacks: Sequence[Callback]) -> dict[str, Callback]:
    """Callbacks by ``ClassName#k`` (the k-th of that class), for checkpoints."""
    seen: dict[str, int] = {}
    keyed = {}
    for cb in callbacks:
        name = type(cb).__name__
        keyed[f"{name}#{seen.get(name, 0)}"] = cb
        seen[name] = seen.get(name, 0) + 1
    return keyed


def _callback_states(callbacks: Sequence[Callback]) -> dict[str, Any]:
    """The non-empty states of the callbacks, by :func:`_keyed` key."""
    states = {key: cb.state_dict() for key, cb in _keyed(callbacks).items()}
    return {key: state for key, state in states.items() if state}


# --------------------------------------------------------------------------- callbacks


class Callback:
    """Hooks into a run; override what you need. State for checkpoints goes in
    :meth:`state_dict` (arrays and plain data)."""

    def on_train_begin(self, run: Run) -> None: ...

    def on_step_end(self, run: Run, loss: float) -> None: ...

    def on_epoch_end(self, run: Run, metrics: dict[str, float]) -> None: ...

    def on_train_end(self, run: Run) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class ProgressBar(Callback):
    """A tqdm bar over the steps, showing the loss; quiet when stderr is not a
    terminal (or with ``enabled=False``)."""

    def __init__(self, *, desc: str | None = None, enabled: bool | None = None, every: int = 10):
        self.desc = desc
        self.enabled = enabled
        self.every = check_int("every", every, low=1)
        self._bar: Any = None

    def on_train_begin(self, run: Run) -> None:
        enabled = sys.stderr.isatty() if self.enabled is None else self.enabled
        if not enabled:
            return
        from tqdm.auto import tqdm  # imported only when a bar is shown

        self._bar = tqdm(
            total=run.total_steps,
            initial=run.step,
            desc=self.desc or run.optimizer.name,
            unit="step",
            leave=False,
            dynamic_ncols=True,
        )

    def on_step_end(self, run: Run, loss: float) -> None:
        if self._bar is not None and run.step % self.every == 0:
            self._bar.update(run.step - self._bar.n)
            self._bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def on_train_end(self, run: Run) -> None:
        if self._bar is not None:
            self._bar.update(run.step - self._bar.n)
            self._bar.close()
            self._bar = None


class EarlyStopping(Callback):
    """Stop when the monitored loss has not improved for more than ``patience`` evaluations.

    Improvement means ``value < best − min_delta``. The loss is looked at where
    :func:`fit` evaluates: every epoch by default, every ``evaluate_every``
    epochs otherwise, so the run stops at the ``patience + 1``-th evaluation in
    a row without an improvement. With ``restore_best`` the
    parameters of the best epoch are put back when the run stops; for an
    optimizer that evaluates elsewhere (``eval_params``: Schedule-Free's
    average, Lookahead's slow weights, EMA/SWA), the point whose loss was best
    is kept too and becomes ``History.eval_params`` (a copy of the restored
    parameters when the best loss was measured at them: an average that had
    not started yet).

    Args:
        patience: evaluations in a row without improvement tolerated (default 5).
        min_delta: the smallest decrease that counts (default 0).
        monitor: ``"val_loss"`` (default; falls back to ``"train_loss"`` when
            the run has no validation set) or ``"train_loss"``.
        restore_best: put back the best epoch's parameters (default True).
    """

    def __init__(
        self,
        patience: int = 5,
        *,
        min_delta: float = 0.0,
        monitor: str = "val_loss",
        restore_best: bool = True,
    ) -> None:
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_real("min_delta", min_delta, low=0)
        self.monitor = check_choice("monitor", monitor, ("val_loss", "train_loss"))
        self.restore_best = check_bool("restore_best", restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf
        self.best_epoch = -1
        self.wait = 0
        self._best_params: dict[str, np.ndarray] | None = None
        self._best_eval: dict[str, np.ndarray] | None = None

    def on_train_begin(self, run: Run) -> None:
        # A new run starts afresh (the same object may watch several runs); a
        # resumed one (step > 0) keeps the state its checkpoint gave back.
        if run.step == 0:
            self._reset()

    def on_epoch_end(self, run: Run, metrics: dict[str, float]) -> None:
        name = self.monitor if self.monitor in metrics else "train_loss"
        value = metrics[name]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, run.epoch, 0
            if self.restore_best:
                self._best_params = _kept(self._best_params, run.params)
                point = eval_point(run.optimizer, run.params)
                if point is not run.params:  # the monitored loss was measured there
                    self._best_eval = _kept(self._best_eval, point)
                else:  # measured at the parameters (no average yet): they are the point
                    self._best_eval = None
            return
        self.wait += 1
        if self.wait > self.patience:
            watched = name if name == self.monitor else f"{name} (the run has no {self.monitor})"
            run.request_stop(
                f"early stopping: {watched} did not improve in the {self.wait} "
                f"evaluation{'s' if self.wait != 1 else ''} after its best, "
                f"{self.best:.6g} at epoch {self.best_epoch} (now epoch {run.epoch})"
            )

    def on_train_end(self, run: Run) -> None:
        if self.restore_best and self._best_params is not None and run.history.status == "stopped":
            for key, array in run.params.items():
                np.copyto(array, self._best_params[key])
            if self._best_eval is not None:
                run.history.eval_params = {k: v.copy() for k, v in self._best_eval.items()}
            elif run.history.eval_params is not None:  # the best was at the parameters
                run.history.eval_params = {k: v.copy() for k, v in self._best_params.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_params": self._best_params,
            "best_eval_params": self._best_eval,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.wait = int(state["wait"])
        self._best_params = state["best_params"]
        self._best_eval = state.get("best_eval_params")  # absent from earlier checkpoints


def _kept(copy: dict[str, np.ndarray] | None, arrays: Mapping[str, np.ndarray]) -> dict:
    """``arrays`` copied into ``copy`` (made on first use, reused after)."""
    if copy is None:
        return {k: np.array(v, copy=True) for k, v in arrays.items()}
    for key, array in arrays.items():
        np.copyto(copy[key], array)
    return copy


class DivergenceGuard(Callback):
    """End a run whose loss is not finite or exceeds ``factor × max(first loss, 1)``.

    :func:`fit` checks every step's loss with it before the update, and turns
    a non-finite gradient reported by the optimizer into a divergence too.

    Args:
        factor: how far above the first loss counts as exploding (default 1e6).
        max_loss: an absolute limit instead (default None).
    """

    def __init__(self, factor: float = 1e6, *, max_loss: float | None = None) -> None:
        self.factor = check_real("factor", factor, low=1)
        self.max_loss = None if max_loss is None else check_real("max_loss", max_loss)
        self.limit = math.inf if max_loss is None else self.max_loss

    def check(self, run: Run, loss: float) -> bool:
        """True if ``loss`` is acceptable; otherwise stop the run as diverged."""
        if run.step == 0 and self.max_loss is None and math.isfinite(loss):
            self.limit = self.factor * max(abs(loss), 1.0)
        if math.isfinite(loss) and loss <= self.limit:
            return True
        run.request_stop(
            f"diverged at step {run.step + 1}: loss {self._words(loss)}", status="diverged"
        )
        return False

    def check_evaluation(self, run: Run, loss: float) -> None:
        """Stop the run as diverged if the evaluated training loss blew up.

        This catches a run whose last update sent it off (no later step's loss
        would see it); the run has then taken ``run.step`` steps.
        """
        if math.isfinite(loss) and loss <= self.limit:
            return
        run.request_stop(
            f"diverged by step {run.step}: the evaluated training loss {self._words(loss)}",
            status="diverged",
        )

    def _words(self, loss: float) -> str:
        """``LOSS is above LIMIT`` in short numbers (the limit to 3 significant digits, the
        loss to the fewest from 3 that still read above it), or ``LOSS is not finite``."""
        if not math.isfinite(loss):
            return f"{loss!r} is not finite"
        text = next(t for d in range(3, 18) if float(t := f"{loss:.{d}g}") > self.limit or d == 17)
        return f"{text} is above {self.limit:.3g}"

    def state_dict(self) -> dict[str, Any]:
        return {"limit": self.limit}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.limit = float(state["limit"])


class Checkpoint(Callback):
    """Save the whole run every ``every`` steps (and at its end), atomically.

    Resume with ``fit(..., resume=path)`` and the same arguments: the run
    continues as if it had never stopped.

    Nothing is lost: :func:`fit` checks ``path`` before anything changes and
    refuses one that already holds something (an earlier run's checkpoint,
    any other file), unless it is the ``resume`` file of that call or
    ``overwrite=True``; also a directory, anything but a regular file, and a
    place where the file cannot be made (below a file, in a directory that
    cannot be written). Missing parent directories are made at the first save.

    Args:
        path: the ``.npz`` file to write.
        every: save every this many steps (default 100).
        overwrite: replace a file already at ``path`` (default False: refuse it).
    """

    def __init__(
        self, path: str | os.PathLike, every: int = 100, *, overwrite: bool = False
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            fail("path", "a file path", path, kind=TypeError)
        self.path = Path(path)
        self.every = check_int("every", every, low=1)
        self.overwrite = check_bool("overwrite", overwrite)

    def check_path(self, resume: str | os.PathLike | None = None) -> None:
        """Refuse, before the run, a ``path`` that cannot be written or would be
        overwritten (see the class); ``resume`` is the file the run continues from."""
        path = self.path
        if path.is_dir():
            _refuse_path(path, "a file to write, not a directory")
        if path.exists() or path.is_symlink():
            if not path.is_file():
                _refuse_path(path, "a regular file to write (or a new one)")
            if not (self.overwrite or _same_file(path, resume)):
                _refuse_path(
                    path,
                    "a new file: it holds something already; pass resume= with it to "
                    "continue the run saved there, or Checkpoint(path, overwrite=True) "
                    "to replace it",
                )
        parent = _io._nearest_existing(path.absolute().parent)
        if not parent.is_dir():
            _refuse_path(path, f"a file in a directory ({parent} is a file)")
        if not _io._can_create_in(parent):
            _refuse_path(path, f"a file in a directory that can be written ({parent})")

    def on_step_end(self, run: Run, loss: float) -> None:
        if run.step % self.every == 0 and not run.stop:
            run.save(self.path)

    def on_train_end(self, run: Run) -> None:
        if not run.interrupted:  # an interrupted step may be half done: keep the last save
            run.save(self.path)


def _refuse_path(path: Path, allowed: str) -> None:
    """Raise the ``ValueError`` of :func:`fail`'s shape, with the whole path (never cut)."""
    raise ValueError(f"Checkpoint path must be {allowed}; got {str(path)!r}")


def _same_file(path: Path, other: str | os.PathLike | None) -> bool:
    """Whether ``other`` names the file at ``path`` (the same file by any name)."""
    if other is None:
        return False
    try:
        return os.path.samefile(path, other)
    except (OSError, TypeError, ValueError):
        return False


def _check_checkpoints(callbacks: Sequence[Callback], resume: Any) -> None:
    """Every :class:`Checkpoint`'s path checked (:meth:`Checkpoint.check_path`), and
    none written by two of them."""
    seen: set[Path] = set()
    for cb in callbacks:
        if isinstance(cb, Checkpoint):
            cb.check_path(resume)
            where = cb.path.absolute()
            if where in seen:
                _refuse_path(cb.path, "written by one Checkpoint of the run")
            seen.add(where)


# --------------------------------------------------------------------------- fit


def _check_problem(problem: Any) -> Problem:
    for name in ("init_params", "loss_and_grads", "evaluate", "n_samples", "splits"):
        if not hasattr(problem, name):
            fail("problem", f"a gdlab Problem (it lacks {name!r})", problem, kind=TypeError)
    return problem


def _check_arguments(
    problem: Any,
    optimizer: Any,
    rng: Any,
    epochs: int | None,
    steps: int | None,
    validation: str | None,
    schedule: Any,
) -> Problem:
    """The checks on the arguments that need nothing built yet."""
    problem = _check_problem(problem)
    if not isinstance(optimizer, Optimizer):
        fail("optimizer", "a gdlab.optim optimizer", optimizer, kind=TypeError)
    check_rng(rng)
    if (epochs is None) == (steps is None):
        fail(
            "epochs and steps",
            "given one at a time (exactly one of them)",
            f"epochs={epochs!r}, steps={steps!r}",
        )
    _check_validation(problem, validation)
    _check_schedule(schedule)
    return problem


def _check_validation(problem: Problem, validation: Any) -> None:
    """``validation``: a split of the problem besides ``"train"`` (evaluated anyway)."""
    others = [split for split in problem.splits if split != "train"]
    if validation is None or (isinstance(validation, str) and validation in others):
        return
    allowed = "one of the problem's splits besides 'train' (evaluated anyway)"
    allowed += ": " + ", ".join(map(repr, others)) if others else ", and it has none: pass None"
    fail("validation", allowed, validation)


def _check_schedule(schedule: Any) -> None:
    """``schedule``: ``None``, a learning rate (> 0) or a Schedule, checked before anything."""
    if schedule is not None:
        as_schedule(schedule, name="schedule")


def _with_defaults(callbacks: Sequence[Callback], progress: bool) -> tuple[list, DivergenceGuard]:
    """The callbacks with a :class:`DivergenceGuard` (and a bar) added if absent."""
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            fail("callbacks", "a list of gdlab.train.Callback objects", cb, kind=TypeError)
    guard = next((cb for cb in callbacks if isinstance(cb, DivergenceGuard)), None)
    if guard is None:
        guard = DivergenceGuard()
        callbacks.append(guard)
    if progress and not any(isinstance(cb, ProgressBar) for cb in callbacks):
        callbacks.append(ProgressBar())
    return callbacks, guard


def _check_batching(problem: Problem, batch_size: Any, batching: str) -> int | None:
    """The number of training samples (``None`` without data), checked against the batch."""
    n = problem.n_samples
    if n is None or batch_size is None:
        if n is None and batch_size is not None:
            fail("batch_size", "None for a problem without data", batch_size)
        if n is not None and n < 1:
            fail("the training set", "at least 1 sample for full-batch training", n)
        return n
    batch_size = check_int("batch_size", batch_size, low=1)
    if n < 1:
        fail("the training set", f"at least 1 sample (batch_size={batch_size})", n)
    if batch_size > n and batching == "random":
        fail(
            "batch_size",
            f"at most the {n} training samples with batching='random' "
            "(each step gathers batch_size rows)",
            batch_size,
        )
    if batch_size > n:  # checked here, before the generator draws (BatchStream's words)
        fail("batch_size", f"at most n_samples = {n}", batch_size)
    return n


def _check_step_loss(problem: Problem, step_loss: Any) -> str:
    """One of :data:`STEP_LOSSES`; ``"train"`` only for a problem with data."""
    step_loss = check_choice("step_loss", step_loss, STEP_LOSSES)
    if step_loss == "train" and problem.n_samples is None:
        fail(
            "step_loss",
            "'batch' for a problem without data (every step's loss is the whole function's)",
            step_loss,
        )
    return step_loss


def _check_split_size(problem: Problem, validation: str | None) -> None:
    """The split evaluated besides the training set has samples (a mean over none is 0/0)."""
    parts = getattr(problem, "parts", None)
    if validation is None or not isinstance(parts, Mapping):
        return
    n = getattr(parts.get(validation), "n_samples", None)
    if n == 0:
        fail(
            "validation",
            f"a split with samples (the problem's {validation!r} part is empty)",
            validation,
        )


def _total_steps(n: int | None, batch_size: int | None, epochs: int | None, steps: Any) -> int:
    """The steps of the run, from the checked arguments (before anything is built)."""
    if steps is not None:
        return check_int("steps", steps, low=0)
    # the batch stream's steps_per_epoch: ceil(n / batch_size) in either mode
    steps_per_epoch = 1 if n is None or batch_size is None else math.ceil(n / batch_size)
    return check_int("epochs", epochs, low=0) * steps_per_epoch


def _stream(
    n: int | None, batch_size: int | None, batching: str, rng: np.random.Generator
) -> tuple[BatchStream | None, int]:
    """The batch stream (``None`` for full batches) and the steps per epoch."""
    if n is None or batch_size is None:
        return None, 1
    stream = BatchStream(n, batch_size, rng, mode=batching)
    return stream, stream.steps_per_epoch


def _start(
    problem: Problem,
    optimizer: Optimizer,
    params: dict[str, np.ndarray] | None,
    rng: np.random.Generator,
    *,
    schedule: Schedule | float | None,
    resume: str | os.PathLike | None,
    batches: tuple[int | None, int | None, str],
    total_steps: int,
    callbacks: list[Callback],
    step_loss: str = "batch",
    validation: str | None = None,
    evaluate_every: int = 1,
) -> Run:
    """Install the schedule, make the parameters and the batch stream, load ``resume``.

    Not all or nothing by itself: :func:`fit` puts back what it changed if it
    fails (see :class:`_Undo`).
    """
    if schedule is not None:
        optimizer.set_lr(schedule)
    _check_schedule_followed(optimizer)
    if params is None:
        params = problem.init_params(rng)  # reseeds the problem's dropout from rng too
    else:
        reseed = getattr(problem, "reseed", None)
        if callable(reseed):  # the dropout masks come from this run's rng all the same
            reseed(rng)
    stream, steps_per_epoch = _stream(*batches, rng)
    run = Run(
        problem,
        optimizer,
        params,
        stream,
        total_steps,
        steps_per_epoch,
        callbacks,
        validation=validation,
        evaluate_every=evaluate_every,
    )
    run.history.step_loss = step_loss
    _check_savable(run)
    if resume is not None:
        _resume(run, resume)
    return run


def _check_savable(run: Run) -> None:
    """Refuse, before any step, a run that its :class:`Checkpoint` could not write: one
    whose optimizer's hyperparameters or callbacks' states hold what a file cannot keep
    (a Python function, a ``Lambda`` schedule's; a set; an object). The rest of a
    checkpoint is arrays and numbers by construction."""
    path = next((cb.path for cb in run.callbacks if isinstance(cb, Checkpoint)), None)
    if path is None:
        return
    for source, tree in (
        ("the optimizer's hyperparameters()", run.optimizer.hyperparameters()),
        ("the callbacks' states", _callback_states(run.callbacks)),
    ):
        found = _io.unsavable(tree)
        if found is None:
            continue
        where, value = found
        what, hint = f"a {type(value).__name__}", ""
        if callable(value):
            what, hint = "a Python function", " (fit without the Checkpoint)"
            named = function_in_schedule(tree, path=False)
            if named is not None:
                hint = (
                    f" ({named}: fit without the Checkpoint, or with a schedule that "
                    "needs no function)"
                )
        raise TypeError(
            f"a run with a Checkpoint ({str(path)!r}) must hold plain data (numbers, strings, "
            f"lists, dicts, arrays), not what a checkpoint cannot hold: {what}{hint}; "
            f"got {source}{where} = {value!r}"
        )


def _check_schedule_followed(optimizer: Optimizer) -> None:
    """Refuse a schedule that an optimizer (here or inside a wrapper) would not follow.

    Rprop (``follows_schedule`` false) takes ``lr`` as its initial step size only
    (each coordinate's step then adapts by itself): a schedule's later rates
    would go unused, yet ``History.lr`` would record them. A constant rate is
    what it uses.
    """
    found = _unused_schedule(optimizer)
    if found is not None:
        inner, schedule = found
        fail(
            f"{inner.name}'s lr",
            f"a constant rate in fit ({type(inner).__name__} uses lr as its initial step "
            "size only: a schedule's later rates would go unused)",
            schedule,
        )


def _unused_schedule(optimizer: Optimizer) -> tuple[Optimizer, Schedule] | None:
    """An optimizer in ``optimizer`` (itself, a wrapper's inner ones, SAM's base, which
    holds SAM's schedule) that does not follow its schedule, not a constant, and that."""
    if not optimizer.follows_schedule:
        schedule = optimizer.schedule
        return None if isinstance(schedule, Constant) else (optimizer, schedule)
    inners = getattr(optimizer, "_inners", None)  # a wrapper's inner optimizers
    base = getattr(optimizer, "base_optimizer", None)  # SAM's
    for inner in [*(inners() if callable(inners) else ()), *([base] if base else [])]:
        found = _unused_schedule(inner)
        if found is not None:
            return found
    return None


class _Undo:
    """What a :func:`fit` call changes before its first update, to put back if it fails.

    Some mistakes show only when the first step runs: parameters of the wrong
    shapes for the problem, an optimizer whose state was made for other
    parameters. By then the call has installed the schedule, drawn the initial
    parameters and the batches from the generator, reseeded the problem's
    dropout generators, and (resuming) loaded a checkpoint. :meth:`restore`
    puts all of that back: the generator's state, the optimizer's learning
    rate, epoch and (resuming) its state, the problem's state, the callbacks'
    states and (resuming) the ``params`` passed. One thing cannot be put back:
    the count of generators spawned from ``rng`` (NumPy keeps it read-only), so
    a call that spawned the dropout generators and then failed gives a retry
    with the same ``rng`` other masks (a fresh generator from the seed gives
    the same run). After the first update the run has changed the parameters:
    a later error is the run's, not the call's.
    """

    def __init__(
        self,
        problem: Problem,
        optimizer: Optimizer,
        rng: np.random.Generator,
        callbacks: Sequence[Callback],
        *,
        schedule: Any,
        params: dict[str, np.ndarray] | None,
        resume: Any,
    ) -> None:
        self.problem, self.optimizer, self.rng = problem, optimizer, rng
        self.callbacks = list(callbacks)
        self.rng_state = rng.bit_generator.state
        self.lr = optimizer.lr if schedule is not None else None
        self.epoch = optimizer.epoch
        problem_state = getattr(problem, "state_dict", None)
        self.problem_state = problem_state() if callable(problem_state) else None
        self.callback_states = [cb.state_dict() for cb in self.callbacks]
        # Resuming overwrites the optimizer's state and the params passed: keep them.
        self.optimizer_state = optimizer.state_dict() if resume is not None else None
        kept = resume is not None and params is not None
        self.params = {k: np.array(v, copy=True) for k, v in params.items()} if kept else None
        self.target = params

    def restore(self) -> None:
        """Put back everything listed in the class's docstring."""
        self.rng.bit_generator.state = self.rng_state
        if self.lr is not None:
            self.optimizer.set_lr(self.lr)
        if self.optimizer_state is not None:
            self.optimizer.load_state_dict(self.optimizer_state)
        self.optimizer.epoch = self.epoch
        if self.problem_state is not None:
            self.problem.load_state_dict(self.problem_state)  # type: ignore[attr-defined]
        for cb, state in zip(self.callbacks, self.callback_states, strict=True):
            if state:
                cb.load_state_dict(state)
        if self.params is not None and self.target is not None:
            for key, array in self.params.items():
                np.copyto(self.target[key], array)


def _fresh_like(optimizer: Optimizer, **overrides: Any) -> Optimizer:
    """A new optimizer of the same class and hyperparameters, sharing nothing with ``optimizer``."""
    kwargs = {name: copy.deepcopy(getattr(optimizer, name)) for name in optimizer.hyperparameters()}
    kwargs.update(overrides)
    return type(optimizer)(**kwargs)


def warm_up(optimizer: Optimizer, params: dict[str, np.ndarray]) -> float:
    """Compile the optimizer's kernels for the parameters' dtypes; return the seconds it took.

    A throwaway optimizer of the same class and hyperparameters (a constant
    learning rate for a schedule: the kernels take it as a number) takes one
    step on a 1-element array of each dtype (zeros, with a gradient of ones),
    so that numba's first compile is not timed as training. Nothing of the
    run is touched: not the optimizer, its schedule, the parameters nor any
    generator. An optimizer that cannot be rebuilt from its hyperparameters,
    or whose twin's step raises anything, is not warmed up: a warm-up never
    fails a run.
    """
    started = time.perf_counter()
    # The run's own keys (a wrapper with parameter groups matches on them), each
    # one element of its own dtype and number of dimensions.
    tiny = {
        key: np.zeros((1,) * p.ndim, p.dtype)
        for key, p in params.items()
        if isinstance(p, np.ndarray) and p.dtype.kind == "f"
    }
    if not tiny:
        return 0.0
    done = _warm_key(optimizer, tiny)
    if done is not None and done in _WARMED:
        return 0.0  # this process warmed a twin of it up already
    try:
        twin = _fresh_like(optimizer, lr=_WARM_UP_LR)
        # Gradients of ones: a rule that divides by the gradient's norm steps too.
        ones = {key: np.ones_like(p) for key, p in tiny.items()}
        with np.errstate(all="ignore"):
            # L-BFGS and SAM call the closure again: here a zero loss, the same gradient
            twin.update(tiny, ones, closure=lambda _p: (0.0, ones))
    except Exception:  # a subclass that does not round-trip, a rule the twin upsets:
        return 0.0  # no warm-up (the run's own steps meet a real problem with its message)
    if done is not None:
        if len(_WARMED) >= _WARMED_MAX:
            _WARMED.clear()
        _WARMED.add(done)
    return time.perf_counter() - started


def _warm_up_problem(problem: Any) -> float:
    """Run the problem's own ``warm_up`` (its kernels), if it has one; the seconds it took."""
    method = getattr(problem, "warm_up", None)
    if not callable(method):
        return 0.0
    started = time.perf_counter()
    method()
    return time.perf_counter() - started


#: The warm-ups done in this process (see :func:`_warm_key`); a twin that
#: would compile nothing new is not stepped again.
_WARMED: set[tuple] = set()
_WARMED_MAX = 4096


def _warm_key(optimizer: Optimizer, tiny: dict[str, np.ndarray]) -> tuple | None:
    """What decides which kernels a warm-up compiles: the class, the
    hyperparameters but the rate (the twin takes a constant one), and the
    keys with their dtypes and dimensions; ``None`` if it cannot be told.

    A stale match could only leave a compile inside the timed run: what a run
    computes never depends on the warm-up.
    """
    try:
        hp = {k: v for k, v in optimizer.hyperparameters().items() if k != "lr"}
        return (
            type(optimizer),
            repr(hp),
            tuple((key, a.dtype.str, a.ndim) for key, a in tiny.items()),
        )
    except Exception:  # an optimizer whose hyperparameters cannot be read or shown
        return None


def _resume(run: Run, resume: str | os.PathLike) -> None:
    """Load the checkpoint ``resume`` into ``run`` (checked whole before anything changes)."""
    state = _io.load_tree(resume)
    # the whole path, never cut (as Checkpoint's errors)
    if (
        isinstance(state, dict)
        and state.get("format") != _CHECKPOINT_FORMAT
        and isinstance(state.get("optimizer"), str)
    ):
        raise ValueError(
            "resume must be a checkpoint written by gdlab.train.Checkpoint, not an optimizer "
            "file (optimizer.save writes those, gdlab.optim.load reads them back); got "
            f"{str(resume)!r}, an optimizer file"
        )
    run._check_whole(state, resume)  # what it is first, then what run it is of
    if state.get("total_steps") != run.total_steps:
        raise ValueError(
            f"resume must be a checkpoint of a {run.total_steps}-step run (the same "
            f"arguments); got {str(resume)!r}, of a {describe(state.get('total_steps'))}-step run"
        )
    run._load(state, resume)


#: ``_evaluate``'s default: ask the optimizer for its ``eval_params``.
_ASK = object()


@dataclass
class _Loop:
    """What the steps of :func:`fit` share besides the :class:`Run`.

    ``eval_at`` is the optimizer's ``eval_params`` (``None`` without one),
    read once when the steps start (:func:`_hoist`), not at every evaluation.
    ``whole``: record the whole training set's loss at each step
    (``step_loss="train"``) instead of the batch's.
    """

    run: Run
    guard: DivergenceGuard
    validation: str | None
    evaluate_every: int
    started: float
    point: Any = None
    report: Any = None
    eval_at: Any = None
    whole: bool = False


def _hoist(loop: _Loop) -> None:
    """Read what stays the same from step to step (see :class:`_Loop`)."""
    at = getattr(loop.run.optimizer, "eval_params", None)
    loop.eval_at = at if callable(at) else None


def _step(loop: _Loop) -> float | None:
    """One step: batch, loss, checks, update, history; ``None`` if the run diverged.

    Returns the loss recorded: the batch's, or with ``loop.whole`` the whole
    training set's at the same parameters (before the update). The guard
    watches the batch loss either way, so the run is the same, unless the
    whole set's loss is not finite: that ends it as diverged too.
    """
    run = loop.run
    stream = run.stream
    batch = None if stream is None else next(stream)
    problem = run.problem
    loss, grads = problem.loss_and_grads(run.params, batch)
    if not loop.guard.check(run, loss):
        return None
    if loop.whole:  # one more pass over the training set (the gradients are computed)
        loss = problem.evaluate(run.params, "train")["loss"]
        if not math.isfinite(loss):
            run.request_stop(
                f"diverged at step {run.step + 1}: the training set's loss {loss!r} is not finite",
                status="diverged",
            )
            return None
    optimizer = run.optimizer
    optimizer.epoch = run.epoch
    closure = None
    if optimizer.needs_closure:

        def closure(params, batch=batch):
            return problem.loss_and_grads(params, batch)

    counted = optimizer.t
    try:
        optimizer.update(run.params, grads, closure=closure)
    except NonFiniteGradientError as error:
        # L-BFGS that had moved before its line search met a non-finite value ends at
        # the last point with finite values, and counts the step: so does the history.
        moved = optimizer.t != counted
        if moved:
            _record(loop, loss)
        run.request_stop(f"diverged at step {run.step + (not moved)}: {error}", "diverged")
        return None
    _record(loop, loss)
    return loss


def _record(loop: _Loop, loss: float) -> None:
    """Count a step the optimizer took: its loss, rate and point in the history, and the
    epoch it ends (a step that moved before diverging included)."""
    run = loop.run
    history = run.history
    history.loss.append(loss)
    history.lr.append(run.optimizer.current_lr)
    run.step += 1
    if run.step % run.steps_per_epoch == 0:
        run.epoch += 1
    if loop.point is not None:
        history.path.append(loop.point(run.params))


def _report(loop: _Loop, metrics: dict[str, float]) -> None:
    """Tell a reduce-on-plateau schedule the monitored loss; a non-finite one is a divergence."""
    run = loop.run
    if loop.report is None or (run.stop and run._status == "diverged"):
        return
    name = "val_loss" if "val_loss" in metrics else "train_loss"
    value = metrics[name]
    if math.isfinite(value):
        loop.report(value)
        return
    run.request_stop(
        f"diverged by step {run.step}: the monitored {name} {value!r} is not finite",
        status="diverged",
    )


def _end_of_step(loop: _Loop, loss: float) -> None:
    """Evaluate at the end of an epoch (counted by :func:`_record`) when it is time, and
    call the callbacks."""
    run = loop.run
    if run.step % run.steps_per_epoch == 0 and (
        run.epoch % loop.evaluate_every == 0 or run.step == run.total_steps
    ):
        _end_of_epoch(loop)
    for cb in run.callbacks:
        cb.on_step_end(run, loss)


def _end_of_epoch(loop: _Loop) -> None:
    """Evaluate, check, report to the schedule and call the epoch hooks."""
    run = loop.run
    metrics = _evaluate(run, loop.validation, loop.started, loop.eval_at)
    run.history.epochs.append(metrics)
    loop.guard.check_evaluation(run, metrics["train_loss"])
    if loop.report is not None:
        _report(loop, metrics)
    for cb in run.callbacks:
        cb.on_epoch_end(run, metrics)


def _last_evaluation(loop: _Loop) -> None:
    """Evaluate after the last step unless that step was just evaluated or diverged."""
    run, history = loop.run, loop.run.history
    diverged = run.stop and run._status == "diverged"
    evaluated = bool(history.epochs) and history.epochs[-1]["step"] == run.step
    if run.step > 0 and not diverged and not evaluated:
        history.epochs.append(_evaluate(run, loop.validation, loop.started, loop.eval_at))
        loop.guard.check_evaluation(run, history.epochs[-1]["train_loss"])


def _train(loop: _Loop) -> None:
    """The steps until the end or a stop, then the last evaluation; set the status."""
    run, history = loop.run, loop.run.history
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            _hoist(loop)
            while run.step < run.total_steps and not run.stop:
                loss = _step(loop)
                if loss is None:
                    break
                _end_of_step(loop, loss)
            _last_evaluation(loop)
        history.status = run._status if run.stop else "ok"
    except BaseException:  # KeyboardInterrupt included: say so, then let it go on
        run.interrupted = True
        history.status = "stopped"
        history.reason = "interrupted"
        history.stopped_at = run.step
        raise
    finally:
        history.seconds += time.perf_counter() - loop.started
        history.params = run.params
        point = eval_point(run.optimizer, run.params)
        # a copy: an average's or Lookahead's point is a view of the optimizer's
        # state, which a later run of the same optimizer would change
        history.eval_params = None if point is run.params else _kept(None, point)
        # Checkpoints last: the final save holds what the other callbacks left
        # (EarlyStopping's restored best parameters), whatever their order.
        for cb in sorted(run.callbacks, key=lambda cb: isinstance(cb, Checkpoint)):
            cb.on_train_end(run)


def _evaluate(run: Run, validation: str | None, started: float, at: Any = _ASK) -> dict[str, float]:
    """Metrics at the point the optimizer evaluates at; the trained iterate's apart.

    Optimizers that train one sequence and evaluate another (Schedule-Free's x,
    the slow weights of Lookahead, an EMA or SWA average) say so with
    ``eval_params(params)`` (``at``, read once per run by the loop): the
    metrics are taken there, and the trained parameters' metrics are
    reported too, as ``iterate_<metric>``.
    """
    metrics: dict[str, float] = {
        "epoch": run.epoch,
        "step": run.step,
        "seconds": run.history.seconds + (time.perf_counter() - started),
    }
    params, problem = run.params, run.problem
    if at is _ASK:
        at = getattr(run.optimizer, "eval_params", None)
    if at is None and validation is None:  # the common case, in short
        for name, value in problem.evaluate(params, "train").items():
            metrics[f"train_{name}"] = value
        return metrics
    point = at(params) if callable(at) else params
    for split in ("train",) if validation is None else ("train", validation):
        prefix = "val" if split == "validation" else split
        for name, value in problem.evaluate(point, split).items():
            metrics[f"{prefix}_{name}"] = value
        if point is not params:
            for name, value in problem.evaluate(params, split).items():
                metrics[f"iterate_{prefix}_{name}"] = value
    return metrics


def eval_point(optimizer: Optimizer, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Where to evaluate: ``optimizer.eval_params(params)`` if it has one, else ``params``."""
    at = getattr(optimizer, "eval_params", None)
    return at(params) if callable(at) else params


def fit(
    problem: Problem,
    optimizer: Optimizer,
    *,
    epochs: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    batching: str = "epoch",
    schedule: Schedule | float | None = None,
    validation: str | None = None,
    rng: np.random.Generator,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    params: dict[str, np.ndarray] | None = None,
    evaluate_every: int = 1,
    resume: str | os.PathLike | None = None,
    blas_threads: int | None = 1,
    step_loss: str = "batch",
) -> History:
    """Train ``problem`` with ``optimizer``; return the :class:`History`.

    Args:
        problem: a :class:`~gdlab.problems.Problem`.
        optimizer: a :mod:`gdlab.optim` optimizer (fresh, or continued).
        epochs, steps: how long: exactly one of them.
        batch_size: samples per step, at least 1 and at most the number of
            training samples ``n`` in either mode (a larger batch is refused
            with both numbers: in epoch mode it would be one full batch under
            another name, in random mode a gather of ``batch_size`` rows per
            step); ``None`` (default) for full-batch GD. An empty training
            set is refused.
        batching: ``"epoch"`` (a permutation per epoch) or ``"random"``
            (draws with replacement every step).
        schedule: a learning rate (> 0) or :class:`~gdlab.schedules.Schedule`
            to install in the optimizer (``optimizer.set_lr``); default: keep
            its own. A name is not a schedule: ``gdlab.schedules.create(name, …)``.
            Rprop (alone or inside a wrapper) takes a constant rate only: it
            uses ``lr`` as its initial step size, so a schedule's later rates
            would go unused (and ``history.lr`` would record them); a schedule
            there, given here or held by the optimizer, is refused.
        validation: a split of the problem to evaluate each epoch besides the
            training set (``"train"`` is refused: it is evaluated anyway):
            ``"validation"`` gives ``val_loss`` (what early
            stopping and reduce-on-plateau watch), ``"test"`` gives
            ``test_loss``, ``test_accuracy``; default none.
        rng: the Generator for the initial parameters, the batches and a
            network's dropout masks (spawned from it, with ``params`` given too).
        callbacks: :class:`Callback` objects, called in order.
        progress: show a progress bar (only on a terminal).
        params: start from these parameters instead of ``problem.init_params(rng)``
            (a problem with ``reseed``, a network with dropout, still draws its
            masks from ``rng``: the same call gives the same run).
        evaluate_every: evaluate every this many epochs (and after the last step).
        resume: a :class:`Checkpoint` file to continue from (same arguments).
            The whole checkpoint is checked before anything changes: one of
            another optimizer, other hyperparameters, other parameter keys,
            shapes or dtypes, or another ``validation``, ``evaluate_every`` or
            ``step_loss`` raises and leaves ``params`` untouched.
        blas_threads: the threads BLAS computes with during the call (default
            1, as every task of a race or a tune: the same seed gives the same
            bits in both, whatever the machine's cores; a multithreaded BLAS
            sums in another order); ``None`` leaves the library's setting.
        step_loss: what ``history.loss`` records at each step, at the
            parameters the step's gradient is taken at (before the update):
            ``"batch"`` (default), the batch's loss, the one the gradient is
            of; ``"train"``, the whole training set's loss there
            (``problem.evaluate(params, "train")["loss"]``, seed 003's "loss
            over the whole training data" printed after every step), at the
            cost of one more pass over the training set per step. The
            training is the same either way (the divergence guard watches the
            batch loss), but for a whole-set loss that is not finite, which
            ends the run as diverged at that step. A problem without data (a 2-D function) refuses
            ``"train"``: its batch is already the whole function.

    A call that fails before its first update (a bad argument, a checkpoint
    or a ``Checkpoint`` path that does not fit, parameters the problem or the
    optimizer's state refuse at the first step) raises and leaves the
    optimizer, the generator, the problem, the callbacks and ``params`` as
    they were.

    Timing: before the clock starts, the optimizer's numba kernels are
    compiled for the parameters' dtypes on a throwaway twin (same class and
    hyperparameters, 1-element arrays), so ``history.seconds`` is training
    time alone and ``history.compile_seconds`` the warm-up, reported apart
    (a process warms up each kind of optimizer once: the same class and
    hyperparameters but the rate, on the same keys and dtypes; later runs
    report 0). A problem with a ``warm_up`` method (the networks: a training
    step and an evaluation on a twin network) is warmed up too, once per
    process. The run itself is bit-identical with or without the warm-up.

    Returns:
        The :class:`History`. The trained parameters, changed in place, are
        ``history.params`` (the ``params`` passed, or those the problem made).
    """
    problem = _check_arguments(problem, optimizer, rng, epochs, steps, validation, schedule)
    batching = check_choice("batching", batching, ("epoch", "random"))
    evaluate_every = check_int("evaluate_every", evaluate_every, low=1)
    step_loss = _check_step_loss(problem, step_loss)
    if blas_threads is not None:
        blas_threads = check_int("blas_threads", blas_threads, low=1)
    callbacks, guard = _with_defaults(callbacks, progress)
    n = _check_batching(problem, batch_size, batching)
    _check_split_size(problem, validation)
    total_steps = _total_steps(n, batch_size, epochs, steps)
    _check_checkpoints(callbacks, resume)

    undo = _Undo(
        problem, optimizer, rng, callbacks, schedule=schedule, params=params, resume=resume
    )
    run, first, updates = None, 0, optimizer.t
    with blas_threads_held(blas_threads):
        try:
            run = _start(
                problem,
                optimizer,
                params,
                rng,
                schedule=schedule,
                resume=resume,
                batches=(n, batch_size, batching),
                total_steps=total_steps,
                callbacks=callbacks,
                step_loss=step_loss,
                validation=validation,
                evaluate_every=evaluate_every,
            )
            first, updates = run.step, optimizer.t  # where it starts (0, or a resumed run's)
            return _run(run, guard, resume)
        except BaseException:
            # failed before its first update changed anything (an update that Ctrl-C
            # cut halfway has counted itself, or moved: the run's, not put back)
            if run is None or (run.step == first and optimizer.t == updates):
                undo.restore()
            raise


def _run(run: Run, guard: DivergenceGuard, resume: Any) -> History:
    """The run :func:`_start` made, from its warm-up to its end."""
    problem, optimizer, params = run.problem, run.optimizer, run.params
    if resume is not None and run.history.status in STATUSES:  # that run had ended
        run.history.params = params
        return run.history
    point = getattr(problem, "point", None)
    if point is not None and run.step == 0:
        run.history.path.append(point(params))

    run.history.compile_seconds += warm_up(optimizer, params) + _warm_up_problem(problem)
    loop = _Loop(
        run,
        guard,
        run.validation,
        run.evaluate_every,
        started=time.perf_counter(),
        point=point,
        report=getattr(optimizer.schedule, "report", None),
        whole=run.history.step_loss == "train",
    )
    for cb in run.callbacks:
        cb.on_train_begin(run)
    _train(loop)
    return run.history
