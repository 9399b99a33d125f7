"""The experiment model: one typed, validated description of what a race or a tuning runs.

A TOML file, command-line changes (``--set KEY=VALUE``, ``--lr``, ``--steps`` …)
and Python code all produce the same :class:`Experiment`: a problem
(:class:`ProblemSpec`, its keys declared by the problem kind and the data
source registries), the training settings (:class:`Training`) and the runs
(:class:`RunSpec`). It is checked once, as a whole, when made; every later
step reads its fields. ``Experiment.to_dict()`` is what ``results.json``
stores as ``config``, and :meth:`Experiment.from_dict` reads it back, so a
report can always say what ran and ``gdlab race --config results.json``
repeats it.

>>> exp = Experiment.from_dict({
...     "name": "demo",
...     "problem": {"kind": "function", "function": "bowl"},
...     "training": {"steps": 30},
...     "runs": [{"optimizer": "adam", "lr": 0.3, "beta1": 0.8}],
... })
>>> exp.runs[0].label, dict(exp.runs[0].hyperparameters)
('Adam', {'lr': 0.3, 'beta1': 0.8})
>>> exp.set("adam.lr", 0.1).runs[0].hyperparameters["lr"]
0.1
>>> exp.set("training.steps", 40).training.steps
40
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime
import difflib
import functools
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gdlab._checks import ConfigError, Field, check_keys, check_table, toml_spelling
from gdlab._checks import describe_toml as describe  # a file's words: true, not True
from gdlab._io import plain
from gdlab._keys import RUN_KEYS, RUN_TRAINING_KEYS, TOP_KEYS
from gdlab._text import exact, exact_value, slug
from gdlab.optim import OPTIMIZERS, create
from gdlab.optim.presets import PRESETS
from gdlab.optim.registry import failed_plugins, not_registered
from gdlab.problems import PROBLEM_KINDS, ProblemKind, get_kind
from gdlab.schedules import config_of as schedule_config

__all__ = [
    "BUILTIN",
    "MAX_EPOCHS",
    "MAX_SEEDS",
    "MAX_STEPS",
    "RUN_KEYS",
    "TOP_KEYS",
    "TRAINING_FIELDS",
    "Experiment",
    "ProblemSpec",
    "RunSpec",
    "Training",
    "digest",
    "parse_value",
    "slug",
]

#: The built-in race experiments (TOML files in this package), in the order of ``gdlab tour``.
BUILTIN = ("bowl", "boston", "moons", "mnist", "schedules")

#: Hard bounds: a run longer than this is a typo, not an experiment.
MAX_STEPS = 100_000_000
MAX_EPOCHS = 1_000_000
MAX_SEEDS = 1000

TRAINING_FIELDS: dict[str, Field] = {
    "steps": Field("int", None, "updates per run (or epochs)", low=1, high=MAX_STEPS,
                   nullable=True),
    "epochs": Field("int", None, "passes over the training set (or steps)", low=1,
                    high=MAX_EPOCHS, nullable=True),
    "batch_size": Field("int", None, "samples per step; absent or 'full': the whole set",
                        low=1, high=2**40, nullable=True, aliases={"full": None}),
    "batching": Field("choice", "epoch", "'epoch': a permutation per epoch (seed 000); "
                      "'random': draws with replacement (seeds 001, 003)",
                      choices=("epoch", "random")),
    "validation": Field("choice", None, "a split evaluated each epoch besides the training set",
                        choices=("validation", "test"), nullable=True),
    "evaluate_every": Field("int", 1, "evaluate every this many epochs (and at the end)",
                            low=1, high=MAX_EPOCHS),
    "step_loss": Field("choice", "batch", "the loss recorded at each step, before its update: "
                       "'batch': the step's batch's; 'train': the whole training set's "
                       "(seed 003)", choices=("batch", "train")),
}  # fmt: skip

# RUN_TRAINING_KEYS, RUN_KEYS, TOP_KEYS: gdlab._keys (the registry reads them too)
_OPTIMIZERS_KEYS = ("preset", "names", "lr", "hyperparameters")
_NAME = re.compile(r"[^\W_][\w.-]*\Z")  # letters and digits of any script
#: The most bytes a run label's file-name part (its slug) may take: the run's
#: files are ``params/<slug>-seed<N>.npz`` and the like, and a name holds 255.
MAX_LABEL_BYTES = 200


def digest(value: Any, length: int = 16) -> str:
    """A short SHA-256 of ``value``'s canonical JSON: equal data, equal digest."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (``0.1``, ``[1, 2]``, ``{name = "cosine", …}``,
    ``true``) or, failing that, the text itself as a string (``beale``). No key takes
    a date or a time: TOML's (``2024-06-01``, ``12:30:00``) are the text typed, and
    one inside an array or a table its ISO text (``[2024-06-01]`` is ``["2024-06-01"]``).

    >>> parse_value("2024-06-01"), parse_value("[1, 2]"), parse_value("beale")
    ('2024-06-01', [1, 2], 'beale')
    """
    try:
        parsed = tomllib.loads(f"v = {text}")
    except ValueError:  # TOMLDecodeError, or an integer past Python's 4300 digits
        return text.strip()
    if len(parsed) != 1:  # ``1\nz = 3`` is one text, not the value 1 and a stray key
        return text.strip()
    if isinstance(parsed["v"], _DATES):
        return text.strip()
    return _undated(parsed["v"])


_DATES = (datetime.date, datetime.time)  # a datetime is a date


def _undated(value: Any) -> Any:
    """``value`` with every TOML date or time in it as its ISO text."""
    if isinstance(value, _DATES):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _undated(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undated(v) for v in value]
    return value


# --------------------------------------------------------------------------- training


def _check_length(values: Mapping[str, Any], where: str) -> None:
    """Exactly one of ``steps`` and ``epochs`` in ``values``."""
    steps, epochs = values.get("steps"), values.get("epochs")
    if (steps is None) == (epochs is None):
        raise ConfigError(
            f"{where} must give exactly one of steps and epochs; got "
            f"steps={steps!r}, epochs={epochs!r}"
        )


def _unknown_optimizer(name: Any, must: str, names: str) -> ConfigError:
    """The error for ``name``, which is no registered optimizer: ``MUST sgd, …; got
    'adamm'`` (``must``: ``"runs[0].optimizer must be one of"``) for a misspelling of a
    registered name, or for anything but a string; else ``NAMES 'x', which is not
    registered in this process: …`` (``names``: ``"runs[0].optimizer is"``), as
    :func:`gdlab.optim.load` says it: an optimizer of a module or plug-in that this
    process has not imported (a report of one, re-run elsewhere), or of a plug-in that
    failed to load (then what it said)."""
    if isinstance(name, str) and (
        name.lower() in failed_plugins()
        or not difflib.get_close_matches(name.lower(), OPTIMIZERS, n=1, cutoff=0.8)
    ):
        return ConfigError(f"{names} {not_registered(name)}")
    return ConfigError(f"{must} {', '.join(OPTIMIZERS)}; got {describe(name)}")


@dataclass(frozen=True)
class Training:
    """How every run trains, unless a run overrides it.

    Exactly one of ``steps`` and ``epochs``; ``batch_size=None`` is full-batch
    gradient descent. ``step_loss`` is what each step's loss in the results
    is: ``"batch"`` (the step's batch's) or ``"train"`` (the whole training
    set's, at the same parameters). :meth:`merge` is the one way to change it.
    """

    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    batching: str = "epoch"
    validation: str | None = None
    evaluate_every: int = 1
    step_loss: str = "batch"

    def __post_init__(self) -> None:  # built in code: checked like a table
        for key, spec in TRAINING_FIELDS.items():
            object.__setattr__(self, key, spec.check(f"training.{key}", getattr(self, key)))
        _check_length(dataclasses.asdict(self), "training")

    @classmethod
    def from_table(cls, table: Any, where: str = "training") -> Training:
        """Checked from a ``[training]`` table (unknown keys, types and ranges named)."""
        values = check_table(table, TRAINING_FIELDS, where)
        _check_length(values, where)
        return cls(**values)

    def merge(self, where: str = "training", **changes: Any) -> Training:
        """A copy with ``changes`` checked and applied; ``steps`` replaces ``epochs``
        and the other way round (giving both is an error); a full batch
        (``batch_size=None``) puts ``batching`` back to its default unless it is
        changed too (it means nothing without a batch size)."""
        check_keys(changes, TRAINING_FIELDS, where)
        if changes.get("steps") is not None and changes.get("epochs") is not None:
            raise ConfigError(
                f"{where} takes one of steps and epochs, not both; got "
                f"steps={changes['steps']!r}, epochs={changes['epochs']!r}"
            )
        values = dataclasses.asdict(self)
        for key, value in changes.items():
            values[key] = TRAINING_FIELDS[key].check(f"{where}.{key}", value)
        if "batch_size" in changes and values["batch_size"] is None and "batching" not in changes:
            values["batching"] = TRAINING_FIELDS["batching"].default
        if changes.get("steps") is not None:
            values["epochs"] = None
        elif changes.get("epochs") is not None:
            values["steps"] = None
        _check_length(values, where)
        return Training(**values)

    def to_table(self) -> dict[str, Any]:
        """The ``[training]`` table (``None`` values left out)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`gdlab.train.fit`."""
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- runs


@functools.cache
def hyperparameter_names(optimizer: str) -> tuple[str, ...]:
    """Every keyword ``optimizer`` takes (its own, then the shared options)."""
    return tuple(create(optimizer).hyperparameters())


def _label(optimizer: str) -> str:
    return OPTIMIZERS[optimizer].__name__


def _with_lr0(schedule: Mapping[str, Any], value: float, where: str) -> dict[str, Any]:
    """A schedule config with its initial rate set to ``value``, its shape kept
    (:func:`gdlab.schedules.with_lr0`: every other rate in it, such as ``cosine``'s
    ``min_lr``, scaled in the same proportion)."""
    from gdlab import schedules

    given = schedule_config(schedule)
    config = schedules.with_lr0(given, value)
    if config is None:
        raise ConfigError(
            f"{where} cannot set the initial rate of schedule "
            f"{given.get('name')!r}; give the whole schedule instead"
        )
    return config


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def schedule_lr0(lr: Any) -> float | None:
    """The initial rate of ``lr``: a number itself, or a schedule's in an ``lr`` table
    (:func:`gdlab.schedules.initial_rate`, where ``--lr`` sets it); ``None`` if it has none."""
    from gdlab import schedules

    if _is_number(lr):
        return float(lr)
    if isinstance(lr, Mapping):
        return schedules.initial_rate(schedule_config(lr))
    return None


def _copied(value: Any) -> Any:
    """``value`` with its tables and arrays copied (the rest shared)."""
    if isinstance(value, Mapping):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(v) for v in value)
    return value


def _run_training(training: Any, label: str) -> dict[str, Any]:
    """A run's training overrides, checked: known keys, valid values, one length."""
    where = f"training of run {label!r}"
    if not isinstance(training, Mapping):
        raise ConfigError(
            f"{where} must be a table of {', '.join(RUN_TRAINING_KEYS)}; got {describe(training)}"
        )
    unknown = [k for k in training if k not in RUN_TRAINING_KEYS]
    if unknown:
        raise ConfigError(
            f"{where} has unknown key {unknown[0]!r}; allowed: " + ", ".join(RUN_TRAINING_KEYS)
        )
    checked = {k: TRAINING_FIELDS[k].check(f"run {label!r}: {k}", v) for k, v in training.items()}
    for key in ("steps", "epochs"):
        if key in checked and checked[key] is None:
            raise ConfigError(
                f"run {label!r}: {key} must be {TRAINING_FIELDS[key].allowed()}; got None "
                "(leave it out for the experiment's length)"
            )
    if "steps" in checked and "epochs" in checked:
        raise ConfigError(
            f"run {label!r} takes one of steps and epochs, not both; got "
            f"steps={checked['steps']!r}, epochs={checked['epochs']!r}"
        )
    return checked


@dataclass(frozen=True)
class RunSpec:
    """One configuration of a race: an optimizer with its hyperparameters.

    Args:
        label: what figures and tables call it (``"Adam"``, ``"SGD, batch 1"``).
        optimizer: a registry name (:data:`gdlab.optim.OPTIMIZERS`).
        preset: ``"book"``, ``"course"``, ``"torch"``, ``"keras"``, ``"optax"`` or ``None``.
        hyperparameters: keyword arguments of the optimizer; ``lr`` may be a
            number or a schedule config (``{"name": "exponential", …}``).
        training: this run's overrides of the training settings
            (``batch_size``, ``batching``, ``steps``, ``epochs``, ``step_loss``).
        group: runs of one group are one curve in the figures (default: label).
    """

    label: str
    optimizer: str
    preset: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    group: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise ConfigError(f"run label must be a non-empty string; got {describe(self.label)}")
        if not isinstance(self.optimizer, str) or self.optimizer.lower() not in OPTIMIZERS:
            where = f"optimizer of run {self.label!r}"
            raise _unknown_optimizer(self.optimizer, f"{where} must be one of", f"{where} is")
        object.__setattr__(self, "optimizer", self.optimizer.lower())
        for key in ("preset", "group"):  # --set RUN.group=1 must fail here, not in a worker
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(
                    f"{key} of run {self.label!r} must be a string; got {describe(value)}"
                )
        if not isinstance(self.hyperparameters, Mapping):
            raise ConfigError(
                f"hyperparameters of run {self.label!r} must be a table; got "
                f"{describe(self.hyperparameters)}"
            )
        # a copy all the way down: the caller's tables may change later, this run may not
        object.__setattr__(self, "hyperparameters", _copied(dict(self.hyperparameters)))
        object.__setattr__(self, "training", _run_training(self.training, self.label))

    @property
    def lr(self) -> Any:
        """The learning rate given (a number or a schedule config), or ``None`` (the default)."""
        return self.hyperparameters.get("lr")

    def with_lr(self, value: Any) -> RunSpec:
        """A copy with learning rate ``value``: a number keeps a schedule and sets its
        ``lr0``; a schedule config (a table) replaces the rate."""
        if isinstance(value, Mapping):
            return self.with_hyperparameters(lr=dict(value))
        current = self.lr
        if isinstance(current, Mapping):
            if not _is_number(value) or not value > 0:
                raise ConfigError(
                    f"lr of run {self.label!r} must be a number > 0 (its schedule's initial "
                    f"rate) or a schedule table; got {describe(value)}"
                )
            return self.with_hyperparameters(
                lr=_with_lr0(current, value, f"lr of run {self.label!r}")
            )
        return self.with_hyperparameters(lr=value)

    def with_hyperparameters(self, **hyperparameters: Any) -> RunSpec:
        """A copy with ``hyperparameters`` merged over this run's."""
        return dataclasses.replace(
            self, hyperparameters={**self.hyperparameters, **hyperparameters}
        )

    def with_training(self, **changes: Any) -> RunSpec:
        """A copy with these training overrides (``steps`` replaces ``epochs`` and back)."""
        values = dict(self.training)
        if "steps" in changes:
            values.pop("epochs", None)
        if "epochs" in changes:
            values.pop("steps", None)
        values.update(changes)
        return dataclasses.replace(self, training=values)

    def make_optimizer(self) -> Any:
        """The optimizer: ``create(optimizer, preset, **hyperparameters)`` (schedules built)."""
        from gdlab import schedules

        hp = dict(self.hyperparameters)
        if isinstance(hp.get("lr"), Mapping):
            hp["lr"] = schedules.from_config(schedule_config(hp["lr"]))
        return create(self.optimizer, preset=self.preset, **hp)

    def to_table(self) -> dict[str, Any]:
        """The ``[[runs]]`` table: label, optimizer, preset, hyperparameters, overrides
        (a full-batch override written ``batch_size = "full"``, as TOML has no null)."""
        table: dict[str, Any] = {"label": self.label, "optimizer": self.optimizer}
        if self.preset is not None:
            table["preset"] = self.preset
        if self.group is not None:
            table["group"] = self.group
        table.update({k: "full" if v is None else v for k, v in self.training.items()})
        if self.hyperparameters:
            table["hyperparameters"] = plain(dict(self.hyperparameters))
        return table

    @classmethod
    def from_table(
        cls,
        table: Any,
        where: str,
        default_preset: str | None = None,
        hp_where: str | None = None,
    ) -> RunSpec:
        """A run from a ``[[runs]]`` table; hyperparameters may stand in the table itself
        or in its ``hyperparameters`` table (``hp_where`` names that table in errors)."""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table; got {describe(table)}")
        optimizer = table.get("optimizer")
        if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
            must, be = f"{where}.optimizer must be one of", f"{where}.optimizer is"
            raise _unknown_optimizer(optimizer, must, be)
        optimizer = optimizer.lower()
        names = hyperparameter_names(optimizer)
        unknown = [k for k in table if k not in RUN_KEYS and k not in names]
        if unknown:
            raise ConfigError(
                f"{where} has unknown key {unknown[0]!r}; run keys: {', '.join(RUN_KEYS)}; "
                f"hyperparameters of {optimizer}: {', '.join(names)} (written in the run table, "
                "e.g. lr = 0.1)"
            )
        hp = _run_hyperparameters(table, optimizer, where, hp_where or f"{where}.hyperparameters")
        label = table.get("label", _label(optimizer))
        for key in ("label", "group", "preset"):
            if key in table and not isinstance(table[key], str):
                raise ConfigError(f"{where}.{key} must be a string; got {describe(table[key])}")
        try:
            return cls(
                label=label,
                optimizer=optimizer,
                preset=table.get("preset", default_preset),
                hyperparameters=hp,
                training={k: table[k] for k in RUN_TRAINING_KEYS if k in table},
                group=table.get("group"),
            )
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None


#: Keys that a file may write under the wrong header.
_TOP_ONLY = (
    "name", "seeds", "title", "description", "based_on", "tuned", "tuned_from", "tuned_digest",
)  # fmt: skip
#: The top-level keys that decide no result (:meth:`Experiment.key` leaves them out): the
#: name, the words, and where a tuned experiment's settings came from.
_WORDS = ("name", "title", "description", "based_on", "tuned", "tuned_from", "tuned_digest")


def _problem_fields() -> frozenset[str]:
    """Every key a ``[problem]`` table may hold, with any kind and data set (registered now)."""
    from gdlab.data.registry import DATA_SOURCES

    keys = {"kind", "data"}
    for kind in PROBLEM_KINDS.values():
        keys.update(kind.fields)
    for source in DATA_SOURCES.values():
        keys.update(source.fields)
    return frozenset(keys)


def _home(key: str, table: str) -> str | None:
    """Where ``key``, refused in ``table``, belongs; ``None`` if it is no other table's."""
    if key in _TOP_ONLY:
        return "the top level (above the first [table])"
    if key in TRAINING_FIELDS:
        run = key in RUN_TRAINING_KEYS and not table.startswith("runs")
        return "[training]" + (" (or a [[runs]] table, for that run alone)" if run else "")
    if key == "lr":
        return "a run: a [[runs]] table, or [optimizers] lr"
    if key in _problem_fields() and not table.startswith("problem"):
        return "[problem]"
    return None


def _problem_keys(table: Mapping[str, Any]) -> Sequence[str] | None:
    """The keys ``[problem]`` takes with its kind and data; ``None`` if its kind is
    unknown (refused, named, where the table is read)."""
    from gdlab.problems import PROBLEM_KINDS

    kind = table.get("kind")
    if not isinstance(kind, str) or kind not in PROBLEM_KINDS:
        return None
    data = table.get("data")
    return list(PROBLEM_KINDS[kind].all_fields(data if isinstance(data, str) else None))


def _hyperparameter_names_of(optimizer: Any) -> Sequence[str]:
    """A run table's optimizer's hyperparameters (``lr`` alone for an unknown one)."""
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return hyperparameter_names(optimizer.lower())
    return ("lr",)


def _check_placement(data: Mapping[str, Any], where: str) -> None:
    """A key under the wrong header, named with where it belongs: TOML puts every key
    after ``[training]`` into that table, so ``seeds = 3`` written below it is
    ``training.seeds`` (and ``lr`` under ``[training]`` is no run's rate)."""
    tables = [(name, data.get(name)) for name in ("problem", "training", "optimizers")]
    runs = data.get("runs")
    if isinstance(runs, list):
        tables += [(f"runs[{i}]", t) for i, t in enumerate(runs)]
    for name, table in tables:
        if not isinstance(table, Mapping):
            continue  # refused where the table is read, named
        if name == "problem":
            allowed = _problem_keys(table)
        else:
            allowed = {"training": TRAINING_FIELDS, "optimizers": _OPTIMIZERS_KEYS}.get(
                name, (*RUN_KEYS, *_hyperparameter_names_of(table.get("optimizer")))
            )
        if allowed is None:
            continue
        for key, value in table.items():
            home = _home(key, name) if key not in allowed else None
            if home is not None:
                raise ConfigError(
                    f"{where}: {name} has key {key!r} (= {describe(value)}), which belongs "
                    f"in {home}; in a TOML file, every key below a [header] goes into that "
                    "table"
                )


def _run_hyperparameters(
    table: Mapping[str, Any], optimizer: str, where: str, hp_where: str
) -> dict[str, Any]:
    """A run table's hyperparameters: those in the table itself and those in its
    ``hyperparameters`` table (every key the optimizer's, none in both places)."""
    names = hyperparameter_names(optimizer)
    hp = table.get("hyperparameters", {})
    if not isinstance(hp, Mapping):
        raise ConfigError(f"{hp_where} must be a table; got {describe(hp)}")
    stray = [k for k in hp if k not in names]
    if stray:
        raise ConfigError(
            f"{hp_where} has unknown key {stray[0]!r}; hyperparameters of {optimizer}: "
            f"{', '.join(names)}"
        )
    direct = {k: v for k, v in table.items() if k in names}
    both = sorted(set(hp) & set(direct))
    if both:
        raise ConfigError(
            f"{where} gives {both[0]!r} twice (in the run table and in hyperparameters)"
        )
    return {**hp, **direct}


class RunError(ConfigError):
    """A run's optimizer that cannot be made from its preset and hyperparameters
    (``index``: the run's place); :meth:`Experiment.together` lets a later step mend it."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


#: Set while :meth:`Experiment.together` replays a step whose run it lets a later step mend.
_RUNS_UNCHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "runs_unchecked", default=False
)


def _check_run(run: RunSpec, where: str, index: int) -> None:
    """Build the run's optimizer once: a bad preset or hyperparameter is named here."""
    if run.preset is not None and run.preset not in PRESETS:
        raise RunError(
            f"{where}.preset must be one of {', '.join(PRESETS)}; got {run.preset!r}", index
        )
    try:
        with toml_spelling():  # a file's or a --set's value: true, not True
            run.make_optimizer()
    except (TypeError, ValueError) as error:
        raise RunError(f"{where} ({run.label}): {error}", index) from None


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class ProblemSpec:
    """The problem: a registered kind and its options (checked, defaults filled)."""

    kind: str
    options: Mapping[str, Any]

    def __post_init__(self) -> None:  # built in code or from a table: checked the same
        kind = get_kind(self.kind, "problem.kind")
        if not isinstance(self.options, Mapping) or "kind" in self.options:
            raise ConfigError(
                f"problem options must be a table of the keys of kind {kind.name!r} (kind "
                f"itself apart); got {describe(self.options)}"
            )
        options = kind.check({"kind": kind.name, **self.options}, "problem")
        options.pop("kind")
        object.__setattr__(self, "kind", kind.name)
        object.__setattr__(self, "options", options)

    @classmethod
    def from_table(cls, table: Any, where: str = "problem") -> ProblemSpec:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table; got {describe(table)}")
        kind = get_kind(table.get("kind"), f"{where}.kind")
        try:
            return cls(kind.name, {k: v for k, v in table.items() if k != "kind"})
        except ConfigError as error:  # checked as "problem": name where it sits
            text = str(error)
            if text.startswith("problem"):
                text = where + text[len("problem") :]
            raise ConfigError(text) from None

    @property
    def registered(self) -> ProblemKind:
        """The :class:`~gdlab.problems.ProblemKind` entry."""
        return PROBLEM_KINDS[self.kind]

    def has(self, trait: str) -> bool:
        return self.registered.has(trait)

    def with_options(self, where: str = "problem", **changes: Any) -> ProblemSpec:
        """A copy with options changed and the whole table checked again.

        A new ``kind`` starts from that kind's defaults (the other changes on
        top); a new ``data`` starts that data set's own keys from their defaults;
        a new ``function`` resets ``start`` to that function's own. Setting a key
        to the value it has changes nothing.
        """
        table = {"kind": self.kind, **self._given()}
        new = {k: v for k, v in changes.items() if v != table.get(k)}  # table holds kind
        if "kind" in new:
            table = {"kind": new["kind"]}
        if "data" in new:
            table = {k: v for k, v in table.items() if k not in self._source_keys()}
        for key in new:  # a key that makes others meaningless drops them
            for dropped in self._source().replaces.get(key, ()) if self._source() else ():
                if dropped not in changes:
                    table.pop(dropped, None)
        if "function" in new and "start" not in changes:
            table.pop("start", None)
        table.update(changes)
        return ProblemSpec.from_table(table, where)

    def _source(self) -> Any:
        from gdlab.data.registry import DATA_SOURCES

        return DATA_SOURCES.get(self.options.get("data"))

    def _source_keys(self) -> set[str]:
        source = self._source()
        return set(source.fields) if source is not None else set()

    def _given(self) -> dict[str, Any]:
        return {k: v for k, v in self.options.items() if v is not None}

    def to_table(self) -> dict[str, Any]:
        return {"kind": self.kind, **plain(self._given())}

    def resolved(self) -> dict[str, Any]:
        """:meth:`to_table` with what the unset keys stand for (a function's own start):
        what is compared to tell a change."""
        implied = self.registered.implied
        table = self._given()
        for key, value in (implied(self.options) if implied else {}).items():
            table.setdefault(key, value)
        return {"kind": self.kind, **plain(table)}

    def load_data(self) -> Any:
        """The data set (Dataset or Splits); ``None`` for a 2-D function."""
        return self.registered.load_data(self.options)

    def build(self, data: Any = None) -> Any:
        """The :mod:`gdlab.problems` problem; ``data`` replaces the loaded data (a fold).
        A kind with data gets it prepared (:func:`gdlab.problems.prepared`: Boston's
        scaling, MNIST's pixels divided in the problem's dtype), fitted on its training
        part."""
        kind = self.registered
        if kind.has("data"):
            from gdlab.problems import prepared

            if data is None:
                data = kind.load_data(self.options)
            data = prepared(self.options, data)
        return kind.build(self.options, data)

    def function(self) -> Any:
        """The :class:`~gdlab.functions2d.Function2D` of a ``function2d`` kind: the
        ``function`` of the problem its ``build`` makes (a
        :class:`~gdlab.problems.FunctionProblem`), whatever the kind (a registered
        function, an expression, a kind of one's own). Reports draw its contours, range
        and minima."""
        if not self.has("function2d"):
            raise ConfigError(f"problem kind {self.kind!r} is not a 2-D function (no trait "
                              "'function2d'): it has no function to draw")  # fmt: skip
        return self.build().function

    def describe(self) -> str:
        """The problem in words; a ``split_seed`` other than 0 is named (other data)."""
        words = self.registered.describe(self.options)
        seed = self.options.get("split_seed")
        return words if not seed else f"{words}, split_seed {seed}"

    def splits(self) -> tuple[str, ...]:
        """The parts of the data, ``"train"`` first; ``()`` for a 2-D function."""
        return self.registered.splits(self.options)


# --------------------------------------------------------------------------- experiment


def _by_name(table: Any, key: str, names: Sequence[str], where: str) -> dict[str, Any]:
    """``[optimizers].KEY`` (``lr``, ``hyperparameters``) keyed by lower-case name: every
    key one of ``names``, and no name twice (``adam`` and ``Adam`` are one)."""
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.{key} must be a table keyed by optimizer; got {value!r}")
    table_name = where.rpartition(": ")[2]  # "FILE: optimizers": the file named once
    out: dict[str, Any] = {}
    for name, item in value.items():
        low = name.lower() if isinstance(name, str) else name
        if low not in names:
            raise ConfigError(
                f"{where}.{key} names {name!r}, which is not in {table_name}.names "
                f"({', '.join(names)})"
            )
        if low in out:
            raise ConfigError(f"{where}.{key} names {low!r} twice (in two spellings)")
        out[low] = item
    return out


def _optimizer_names(table: Mapping[str, Any], where: str) -> list[str]:
    """``[optimizers].names`` checked, in lower case; its ``preset`` checked too."""
    names = table.get("names", [])
    if not isinstance(names, list):
        raise ConfigError(f"{where}.names must be an array of optimizer names; got {names!r}")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            raise ConfigError(
                f"{where}.names[{i}] must be one of {', '.join(OPTIMIZERS)}; got {describe(name)}"
            )
    preset = table.get("preset")
    if "preset" in table and (not isinstance(preset, str) or preset not in PRESETS):
        raise ConfigError(f"{where}.preset must be one of {', '.join(PRESETS)}; got {preset!r}")
    if "preset" in table and not names:
        raise ConfigError(
            f"{where}.preset = {preset!r} is unused: names is empty (a [[runs]] table "
            "takes its own preset)"
        )
    lower = [n.lower() for n in names]
    twice = [n for i, n in enumerate(lower) if n in lower[:i]]
    if twice:
        raise ConfigError(f"{where}.names names {twice[0]!r} twice; got {names!r}")
    return lower


def _expand_optimizers(table: Any, where: str) -> list[RunSpec]:
    """The ``[optimizers]`` shorthand as runs: one per name, labelled by its class."""
    check_keys(table, _OPTIMIZERS_KEYS, where)
    names = _optimizer_names(table, where)
    lrs = _by_name(table, "lr", names, where)
    per_name = _by_name(table, "hyperparameters", names, where)
    runs = []
    for i, name in enumerate(names):
        extra = per_name.get(name, {})
        if not isinstance(extra, Mapping):
            raise ConfigError(
                f"{where}.hyperparameters.{name} must be a table of {name}'s hyperparameters; "
                f"got {describe(extra)}"
            )
        extra = dict(extra)
        if name in lrs:
            if "lr" in extra:
                raise ConfigError(
                    f"{where} gives the lr of {name} twice (in lr and in hyperparameters.{name})"
                )
            extra["lr"] = lrs[name]
        run = RunSpec.from_table(
            {"optimizer": name, "hyperparameters": extra},
            f"{where}.names[{i}]",
            default_preset=table.get("preset"),
            hp_where=f"{where}.hyperparameters.{name}",
        )
        _check_run(run, where, i)  # named by this table, not by a [[runs]] the file lacks
        runs.append(run)
    return runs


@dataclass(frozen=True)
class Experiment:
    """A whole experiment: problem, training, runs, seeds; validated when made.

    Attributes:
        name: a short name (letters, digits, ``.``, ``_``, ``-``): the report's folder.
        problem: the :class:`ProblemSpec`.
        training: the :class:`Training` every run starts from.
        runs: the :class:`RunSpec` list, in the order of figures and tables.
        seeds: runs per configuration (seeds 0 … N−1).
        title, description: hand-written text (a built-in experiment's);
            reports use it only while the experiment is unchanged.
        based_on: the built-in experiment this one was made from, if any.
        tuned: where its runs' tuned settings came from and what they are, in words
            (``gdlab race --tuned`` sets it: the report's "Tuned settings from …"
            paragraph, its title's "(tuned)" and its folder ``NAME-tuned``); ``""``
            for an experiment not tuned.
        tuned_from: the directory of that tuning, as an absolute path (``gdlab race
            --tuned`` sets it with ``tuned``): its report run again rebuilds its
            Tuned comparison from there; ``""`` when not known.
        tuned_digest: which tuning that was (:func:`gdlab.tuning.tuned_digest` of its
            ``tune.json``: its settings, experiment and each configuration's best),
            set with ``tuned_from``: the report run again rebuilds its comparison only
            from that very tuning, not from one made in the same directory since;
            ``""`` when not known.
    """

    name: str
    problem: ProblemSpec
    training: Training
    runs: tuple[RunSpec, ...]
    seeds: int = 1
    title: str = ""
    description: str = ""
    based_on: str | None = None
    tuned: str = ""
    tuned_from: str = ""
    tuned_digest: str = ""
    #: The training keys set by :meth:`merge_training` since the experiment was read:
    #: a full batch then refuses a ``batching`` set too, whichever came first.
    set_training: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    #: The labels (as file names) that changes replaced since the experiment was read,
    #: with the label each run has now: a later ``--set`` may still name it by them.
    former_labels: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    #: Between the steps of :meth:`together` (this experiment and those made from it
    #: there only): the checks between settings and the relabelling wait for its end.
    _pending: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", tuple(self.runs))
        if isinstance(self.description, str):  # one paragraph, as from_dict reads it back
            object.__setattr__(self, "description", " ".join(self.description.split()))
        self.validate()

    # ------------------------------------------------------------------ checks

    def validate(self, where: str = "experiment") -> None:
        """Check the experiment as a whole (raises :class:`ConfigError`)."""
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"{where}: name must be letters, digits, '.', '_' or '-' (starting with a "
                f"letter or a digit); got {describe(self.name)}"
            )
        n = self.seeds
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
            raise ConfigError(
                f"{where}: seeds must be an integer in [1, {MAX_SEEDS}]; got {describe(n)}"
            )
        self._check_words(where)
        for name, value in (("problem", self.problem), ("training", self.training)):
            wanted = ProblemSpec if name == "problem" else Training
            if not isinstance(value, wanted):
                raise ConfigError(
                    f"{where}: {name} must be a {wanted.__name__}; got {describe(value)}"
                )
        bad = [r for r in self.runs if not isinstance(r, RunSpec)]
        if bad:
            raise ConfigError(f"{where}: runs must be RunSpec objects; got {describe(bad[0])}")
        if not self.runs:
            raise ConfigError(f"{where} has no runs: give optimizers.names or [[runs]]")
        self._check_labels(where)
        for i, run in enumerate(self.runs):
            if not _RUNS_UNCHECKED.get():
                _check_run(run, f"{where}: runs[{i}]", i)
            self.training.merge(f"{where}: runs[{i}] ({run.label})", **run.training)
        if not self._pending:  # between the steps of together(): once, at its end
            self._check_training(where)

    def _check_words(self, where: str) -> None:
        """``title`` and ``description`` strings; ``based_on`` a built-in's name or ``None``."""
        for key in ("title", "description", "tuned", "tuned_from", "tuned_digest"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(
                    f"{where}: {key} must be a string; got {describe(getattr(self, key))}"
                )
        for key in ("tuned_from", "tuned_digest"):  # which tuning set the words `tuned`
            if getattr(self, key) and not self.tuned:
                raise ConfigError(
                    f"{where}: {key} is given without tuned: it names the tuning that set a "
                    "tuned race's runs, and comes with the words tuned (gdlab race --tuned "
                    "writes all three); give tuned too, or leave it out"
                )
        if self.based_on is not None and not isinstance(self.based_on, str):
            raise ConfigError(f"{where}: based_on must be a string; got {describe(self.based_on)}")
        if self.based_on is not None and self.based_on not in BUILTIN:
            raise ConfigError(
                f"{where}: based_on must be a built-in experiment, one of {', '.join(BUILTIN)}; "
                f"got {self.based_on!r}"
            )

    def _check_labels(self, where: str) -> None:
        seen: dict[str, str] = {}
        for run in self.runs:
            key = slug(run.label)
            size = len(key.encode("utf-8"))
            if size > MAX_LABEL_BYTES:
                raise ConfigError(
                    f"{where}: run label {run.label[:40]!r}… is too long to name its files: "
                    f"{size} bytes as a file name part ({key[:20]!r}…), at most "
                    f"{MAX_LABEL_BYTES} (a file name holds 255)"
                )
            if key in seen:
                what = "twice" if seen[key] == run.label else f"and {seen[key]!r}"
                raise ConfigError(
                    f"{where}: run label {run.label!r} {what} name the same files "
                    f"({key!r}); give each run its own label"
                )
            seen[key] = run.label

    def _check_training(self, where: str) -> None:
        function = not self.problem.has("data")
        for i, run in enumerate(self.runs):
            training = self.run_training(run)
            for key in ("batch_size", "batching", "step_loss"):
                owner = "training" if key not in run.training else f"runs[{i}]"
                value = getattr(training, key)
                if function and value != TRAINING_FIELDS[key].default:
                    raise ConfigError(
                        f"{where}: {owner}.{key} must be left out for a 2-D function "
                        f"(every step uses the whole function); got {value!r}"
                    )
            if training.batch_size is None and training.batching != "epoch":
                owner = "training" if "batching" not in run.training else f"runs[{i}]"
                raise ConfigError(
                    f"{where}: {owner}.batching = {training.batching!r} needs a batch_size "
                    "(without one every step uses the whole training set)"
                )
        if self.training.validation is not None:
            self._check_validation(where)

    def _check_validation(self, where: str) -> None:
        """``training.validation`` names a part of the data other than the training set."""
        name, splits = self.training.validation, self.problem.splits()
        if not splits:
            raise ConfigError(
                f"{where}: training.validation must be left out for a 2-D function "
                f"(there is no data); got {name!r}"
            )
        if name in splits[1:]:
            return
        fields = self.problem.registered.all_fields(self.problem.options.get("data"))
        if name == "validation" and "validation_size" in fields:
            hint = "set problem.validation_size > 0"
        elif splits[1:]:
            hint = " or ".join(repr(s) for s in splits[1:]) + " is one"
        else:
            hint = "this data has a training set only: leave validation out"
        raise ConfigError(
            f"{where}: training.validation must name a part of the data besides the "
            f"training set ({hint}); got {name!r}"
        )

    def check_data(self, n_train: int, where: str = "experiment") -> None:
        """Check batch sizes against the training set's size once the data is loaded."""
        for i, run in enumerate(self.runs):
            training = self.run_training(run)
            if training.batch_size is not None and training.batch_size > n_train:
                owner = "training" if "batch_size" not in run.training else f"runs[{i}]"
                raise ConfigError(
                    f"{where}: {owner}.batch_size must be at most the {n_train} training "
                    f"samples; got {training.batch_size}"
                )

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_dict(cls, data: Any, where: str = "experiment") -> Experiment:
        """Checked from plain data (a parsed TOML file, results.json's ``config``)."""
        check_keys(data, TOP_KEYS, where)
        _check_placement(data, where)
        if "problem" not in data:
            raise ConfigError(f"{where}: [problem] is required (a table with kind = …)")
        if "training" not in data:
            raise ConfigError(f"{where}: [training] is required (steps or epochs, …)")
        problem = ProblemSpec.from_table(data["problem"], f"{where}: problem")
        training = Training.from_table(data["training"], f"{where}: training")
        runs = _expand_optimizers(data.get("optimizers", {}), f"{where}: optimizers")
        given = data.get("runs", [])
        if not isinstance(given, list):
            raise ConfigError(f"{where}: runs must be an array of tables ([[runs]]); got {given!r}")
        runs += [RunSpec.from_table(t, f"{where}: runs[{i}]") for i, t in enumerate(given)]
        based_on = data.get("based_on")
        if based_on is not None and not isinstance(based_on, str):
            raise ConfigError(f"{where}: based_on must be a string; got {describe(based_on)}")
        description = data.get("description", "")
        if isinstance(description, str):
            description = " ".join(description.split())
        try:
            return cls(
                name=data.get("name", "experiment"),
                problem=problem,
                training=training,
                runs=tuple(runs),
                seeds=data.get("seeds", 1),
                title=data.get("title", ""),
                description=description,
                based_on=based_on,
                tuned=data.get("tuned", ""),
                tuned_from=data.get("tuned_from", ""),
                tuned_digest=data.get("tuned_digest", ""),
            )
        except ConfigError as error:
            text = str(error)
            if text.startswith("experiment"):  # the whole-experiment checks: name the file
                text = where + text[len("experiment") :]
            raise ConfigError(text) from None

    @classmethod
    def from_toml(cls, text: str, where: str = "experiment") -> Experiment:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{where} is not valid TOML: {error}") from None
        return cls.from_dict(data, where)

    # ------------------------------------------------------------------ writing

    def to_dict(self) -> dict[str, Any]:
        """Plain data: what results.json stores as ``config`` (runs written out)."""
        data: dict[str, Any] = {"name": self.name}
        if self.title:
            data["title"] = self.title
        if self.description:
            data["description"] = self.description
        if self.based_on is not None:
            data["based_on"] = self.based_on
        if self.tuned:
            data["tuned"] = self.tuned
        if self.tuned_from:
            data["tuned_from"] = self.tuned_from
        if self.tuned_digest:
            data["tuned_digest"] = self.tuned_digest
        data["seeds"] = self.seeds
        data["problem"] = self.problem.to_table()
        data["training"] = self.training.to_table()
        data["runs"] = [run.to_table() for run in self.runs]
        return data

    def to_toml(self) -> str:
        """The experiment as a TOML file that :meth:`from_toml` reads back equal.

        TOML has no ``null``: a hyperparameter set to ``None`` (from Python or a
        results.json) is named in a :class:`ConfigError` (its JSON form holds it).
        """
        import tomli_w

        for run in self.runs:
            unset = _none_key(run.hyperparameters)
            if unset is not None:
                raise ConfigError(
                    f"run {run.label!r}: hyperparameters.{unset} is None, which TOML cannot "
                    "write; leave it out for the default or save the experiment as JSON"
                )
        return tomli_w.dumps(self.to_dict())

    def key(self) -> dict[str, Any]:
        """What decides the results (the text and name left out): for comparisons."""
        data = self.to_dict()
        for k in _WORDS:
            data.pop(k, None)
        return data

    # ------------------------------------------------------------------ changing

    def replace(self, **changes: Any) -> Experiment:
        """A copy with fields replaced and the whole experiment checked again."""
        return dataclasses.replace(self, **changes)

    def run_training(self, run: RunSpec) -> Training:
        """The training settings of ``run``: the experiment's with the run's overrides."""
        return self.training.merge(**run.training) if run.training else self.training

    def merge_training(self, **changes: Any) -> Experiment:
        """Change the training of every run: the experiment's settings, and any run's
        own override of the same setting is dropped (``steps`` and ``epochs`` count as one)."""
        training = self.training.merge("training", **changes)
        if (
            "batch_size" in changes
            and training.batch_size is None
            and "batching" not in changes
            and "batching" in self.set_training
        ):  # a batching set too, before: kept, and refused as when it comes after
            training = dataclasses.replace(training, batching=self.training.batching)
        dropped = set(changes)
        if dropped & {"steps", "epochs"}:
            dropped |= {"steps", "epochs"}
        runs = tuple(
            dataclasses.replace(
                run, training={k: v for k, v in run.training.items() if k not in dropped}
            )
            for run in self.runs
        )
        changed = self.replace(
            training=training, runs=runs, set_training=self.set_training | set(changes)
        )
        return _relabelled(self, changed)

    def select(self, selector: str, where: str = "run") -> list[int]:
        """Indices of the runs ``selector`` names: an optimizer name (every run of it, whatever
        their labels) or a run label's slug. A name that is both the label of a run of
        another optimizer and the optimizer of runs is ambiguous (refused); an ``adam``
        run labelled ``Adam`` (as ``[optimizers]`` labels it) is one of the adam runs."""
        if not isinstance(selector, str):
            raise ConfigError(
                f"{where}: the run must be named by an optimizer or a label (a string); got "
                f"{describe(selector)}"
            )
        key = selector.lower()
        by_optimizer = [i for i, r in enumerate(self.runs) if r.optimizer == key]
        by_label = [i for i, r in enumerate(self.runs) if slug(r.label) == slug(selector)]
        if not by_label and not by_optimizer:  # a label a change replaced (boston's, relabelled)
            now = dict(self.former_labels).get(slug(selector))
            by_label = [i for i, r in enumerate(self.runs) if r.label == now]
        if by_label and by_optimizer and not set(by_label) <= set(by_optimizer):
            labels = ", ".join(repr(self.runs[i].label) for i in by_optimizer)
            raise ConfigError(
                f"{where}: {selector!r} names two things: the run labelled "
                f"{self.runs[by_label[0]].label!r} and the {key} runs ({labels}); give the "
                "runs labels that are not optimizer names"
            )
        found = by_optimizer or by_label
        if not found:
            names = sorted({r.optimizer for r in self.runs} | {slug(r.label) for r in self.runs})
            raise ConfigError(
                f"{where}: {selector!r} must name a run of this experiment (an optimizer or a "
                f"label): {', '.join(names)}"
            )
        return found

    def change_runs(self, indices: Iterable[int], change: Any) -> Experiment:
        """A copy with ``change(run)`` applied to the runs at ``indices``."""
        chosen = set(indices)
        runs = tuple(change(r) if i in chosen else r for i, r in enumerate(self.runs))
        return self.replace(runs=runs)

    def with_lr(self, selector: str, value: Any, where: str | None = None) -> Experiment:
        """Set the learning rate of the runs ``selector`` names (a schedule keeps its shape);
        an error names ``where`` (default ``SELECTOR.lr``)."""
        where = where or f"{selector}.lr"
        with _named(where):
            changed = self.change_runs(self.select(selector, where), lambda r: r.with_lr(value))
            return _relabelled(self, changed)

    def set(self, path: str, value: Any, where: str | None = None) -> Experiment:
        """The experiment with one value changed, ``--set``'s way.

        ``path`` is ``seeds``, ``name``, ``title``, ``problem.KEY``,
        ``training.KEY`` (every run's), or ``RUN.KEY`` where ``RUN`` is an
        optimizer name or a run label (as a file name: ``sgd-batch-1``) and
        ``KEY`` a run key (``lr``, ``preset``, ``batch_size`` …) or any
        hyperparameter of the optimizer (``adam.beta1``, ``momentum.momentum``).
        An error names ``where`` (default: ``path``; the command line's ``--set``
        names itself).
        """
        where = where or path
        with _named(where):
            return _relabelled(self, self._set(path, value, where))

    def _labels(self) -> set[str]:
        """Every label a ``RUN`` may name, as a file name (a label a change replaced too)."""
        return {slug(r.label) for r in self.runs} | {k for k, _ in self.former_labels}

    def _head(self, path: str) -> tuple[str, str]:
        """``path`` as ``(HEAD, KEY)``: split at its first dot, or after the longest run
        label that fits, as a label may hold dots ("constant 0.1" is constant-0.1,
        "0.95^epoch" 0.95-epoch), typed as shown or as its file name."""
        head, _, rest = path.partition(".")
        dotted = {n for n in self._labels() if "." in n}
        ends = [i for i, c in enumerate(path) if c == "."]
        fits = [i for i in ends if "." in path[:i] and slug(path[:i]) in dotted]
        if fits and head.lower() not in OPTIMIZERS:
            end = max(fits)
            head, rest = path[:end], path[end + 1 :]
        return head, rest

    def split_set(self, text: str) -> tuple[str, str]:
        """``KEY=VALUE`` as ``(KEY, VALUE)``, split at the first ``=``, or after a run
        label that holds one (``Adam, β1 = 0.5.beta1=0.7``: the longest KEY whose RUN
        is a label of this experiment)."""
        ends = [i for i, c in enumerate(text) if c == "="]
        labels = self._labels()
        for end in reversed(ends[1:]):
            head, rest = self._head(text[:end].strip())
            if rest and "=" in head and slug(head) in labels:
                return text[:end].strip(), text[end + 1 :]
        key, _, value = text.partition("=")
        return key.strip(), value

    def together(
        self, steps: Iterable[Callable[[Experiment], Experiment]], where: str = "experiment"
    ) -> Experiment:
        """The experiment after ``steps`` (each a function of the experiment so far, such as
        ``lambda e: e.set("training.batching", "random")``), in order, as one change.

        What ties settings together (``batching = "random"`` needs a ``batch_size``; a
        2-D function takes none) is checked once, at the end, so that the order of the
        steps does not matter; and the labels are made true once, from this experiment
        to the last (a hand-written label a step made untrue replaced; ``LABEL (2)``,
        ``LABEL (3)`` … in run order). A run's optimizer that a step leaves unmade may be
        mended by a later step (``amsgrad = true`` under optax's preset, then
        ``amsgrad_corrected = false``), unless the step's own change cannot make one on
        the run as it was (``beta1 = 2``); still unmade at the end, it is named by the step
        that left it so. A step's own error names it; the final check's names ``where``.

        >>> boston = Experiment.from_dict({"problem": {"kind": "linreg", "data": "boston"},
        ...     "training": {"steps": 5}, "runs": [{"optimizer": "sgd"}]})
        >>> boston.together([lambda e: e.set("training.batching", "random"),
        ...                  lambda e: e.set("training.batch_size", 8)]).training.batching
        'random'
        """
        changed = self if self._pending else self.replace(_pending=True)  # its changes too
        broken: dict[int, str] = {}  # a run a step left unmade: that step's error
        for step in steps:
            try:
                changed = step(changed)
            except RunError as error:  # a later step may mend it (amsgrad, then its form)
                changed = self._replayed(step, changed, error)
                # the runs before it were made; the step's own words if it stays so
                broken = {i: e for i, e in broken.items() if i >= error.index}
                broken.setdefault(error.index, str(error))
            else:
                broken = {}  # every run made
        if self._pending:  # inside an outer together(): it relabels and checks, at its end
            return changed
        try:
            with _named(where):
                return _relabelled(self, changed, final=True)  # checked once, in full
        except RunError as error:
            if error.index in broken:  # named by the step that left it so
                raise ConfigError(broken[error.index]) from None
            raise

    def _replayed(
        self, step: Callable[[Experiment], Experiment], before: Experiment, error: RunError
    ) -> Experiment:
        """``step(before)`` without the check of the runs' optimizers, for a step of
        :meth:`together` that left run ``error.index`` unmade: allowed where only another
        step's change makes it so (what this step changed, on the run as it was before
        every step, makes an optimizer), else ``error`` is raised (``beta1 = 2``)."""
        token = _RUNS_UNCHECKED.set(True)
        try:
            after = step(before)
        finally:
            _RUNS_UNCHECKED.reset(token)
        i = error.index
        if not len(self.runs) == len(before.runs) == len(after.runs):
            raise ConfigError(str(error)) from None  # not one run changed in place
        old, new, start = before.runs[i], after.runs[i], self.runs[i]
        hp = dict(start.hyperparameters)
        for key in old.hyperparameters.keys() | new.hyperparameters.keys():
            if key not in new.hyperparameters:
                hp.pop(key, None)
            elif (
                key not in old.hyperparameters
                or old.hyperparameters[key] != new.hyperparameters[key]
            ):
                hp[key] = new.hyperparameters[key]
        preset = new.preset if new.preset != old.preset else start.preset
        try:
            _check_run(dataclasses.replace(start, preset=preset, hyperparameters=hp), "", i)
        except RunError:  # its own value, whatever the other steps do
            raise ConfigError(str(error)) from None
        return after

    def _set(self, path: str, value: Any, where: str) -> Experiment:
        head, rest = self._head(path)
        if not rest:
            if head in ("seeds", "name", "title", "description"):
                return self.replace(**{head: value})
            raise ConfigError(
                f"{where}: KEY must be seeds, name, title, description, problem.KEY, "
                f"training.KEY or RUN.KEY (RUN an optimizer or a run label); got {path!r}"
            )
        if head == "problem":
            return self.with_problem(where, **{rest: value})
        if head == "training":
            return self.merge_training(**{rest: value})
        return self.change_runs(self.select(head, where), lambda r: _set_run(r, rest, value, where))

    def with_problem(self, where: str = "problem", **changes: Any) -> Experiment:
        """The experiment with problem keys changed together (:meth:`ProblemSpec.with_options`):
        ``with_problem(kind="logreg", data="moons")`` where one key at a time could not.

        A problem without data (a 2-D function) after one with data drops the
        training settings that only data has (batch size, batching, validation,
        step loss) and ``evaluate_every``, counted in epochs of that data (moons's 50):
        a function's f is evaluated at every step unless one asks otherwise.
        """
        try:
            problem = self.problem.with_options("problem", **changes)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        if problem.has("data") or not self.problem.has("data"):
            return _relabelled(self, self.replace(problem=problem))
        # what only data has, and how often it was evaluated, in epochs of that data
        only = ("batch_size", "batching", "validation", "step_loss", "evaluate_every")
        training = Training(
            **{k: v for k, v in dataclasses.asdict(self.training).items() if k not in only}
        )
        runs = tuple(
            dataclasses.replace(r, training={k: v for k, v in r.training.items() if k not in only})
            for r in self.runs
        )
        return _relabelled(self, self.replace(problem=problem, training=training, runs=runs))

    def select_optimizers(self, names: Sequence[str], where: str = "--optimizers") -> Experiment:
        """Keep the runs of these optimizers, in this order; a name the experiment lacks
        is added as a run at its defaults (with the experiment's common preset, if any)."""
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where} must be a list of optimizer names; got {describe(names)}")
        keys = [n.lower() for n in names]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ConfigError(f"{where} names {twice[0]!r} twice; got {','.join(names)}")
        runs: list[RunSpec] = []
        presets = {r.preset for r in self.runs}
        preset = presets.pop() if len(presets) == 1 else None
        for key in keys:
            if key not in OPTIMIZERS:
                raise _unknown_optimizer(
                    key, f"{where} must name optimizers among", f"{where} names"
                )
            have = [r for r in self.runs if r.optimizer == key]
            if have:
                runs += have
            else:
                usable = preset if preset is not None and key in PRESETS[preset] else None
                runs.append(RunSpec(_label(key), key, preset=usable))
        return self.replace(runs=tuple(runs))

    def with_preset(self, preset: str) -> Experiment:
        """Every run with ``preset``'s defaults (its own hyperparameters kept on top)."""
        changed = self.replace(runs=tuple(dataclasses.replace(r, preset=preset) for r in self.runs))
        return _relabelled(self, changed)

    def changes_from(self, base: Experiment) -> list[str]:
        """What differs from ``base``, as short lines (``problem.function: bowl → rosenbrock``)."""
        return _changes(base, self)


@contextlib.contextmanager
def _named(where: str) -> Iterator[None]:
    """Errors raised inside name ``where`` first (the ``--set`` or ``--lr`` that failed)."""
    try:
        yield
    except ConfigError as error:
        text = str(error)
        if not text.startswith(where):
            text = f"{where}: {text.removeprefix('experiment: ')}"
        if isinstance(error, RunError):
            raise RunError(text, error.index) from None
        raise ConfigError(text) from None


def _none_key(table: Mapping[str, Any]) -> str | None:
    """The dotted key of the first ``None`` in ``table`` (tables within included)."""
    for key, value in table.items():
        if value is None:
            return str(key)
        inner = _none_key(value) if isinstance(value, Mapping) else None
        if inner is not None:
            return f"{key}.{inner}"
    return None


def _set_run(run: RunSpec, key: str, value: Any, where: str) -> RunSpec:
    if key == "lr":
        return run.with_lr(value)
    if key in RUN_TRAINING_KEYS:
        return run.with_training(**{key: value})
    if key in ("label", "group", "preset"):
        try:
            return dataclasses.replace(run, **{key: value})
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
    if key == "optimizer":
        raise ConfigError(
            f"{where}: a run's optimizer is not changed in place; choose the runs with "
            f"--optimizers (e.g. --optimizers {value},…) or write a [[runs]] table"
        )
    names = hyperparameter_names(run.optimizer)
    if key not in names:
        settable = (k for k in RUN_KEYS if k not in ("hyperparameters", "optimizer"))
        raise ConfigError(
            f"{where}: {key!r} is not a setting of run {run.label!r}; run keys: "
            f"{', '.join(settable)}; hyperparameters of {run.optimizer}: {', '.join(names)}"
        )
    return run.with_hyperparameters(**{key: value})


# --------------------------------------------------------------------------- labels

#: A number in a run's label (``0.1`` in ``1/√t · 0.1``, ``1e-3``, ``0.9`` in ``β0.9``);
#: :func:`_label_numbers` keeps those that state a value. A full stop may end it
#: (``Adam at 0.1.``), not another number's part (``0.1.2``).
_LABEL_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")


def _label_numbers(label: str) -> Iterator[re.Match[str]]:
    """The numbers of ``label`` that state a value: one standing alone (``0.1`` in
    ``1/√t · 0.1``, ``784``, ``100`` and ``10`` in ``784-100-10``), or one with a
    decimal point or an exponent stuck to a name (``β0.9``, ``b0.9``, ``lr0.1``,
    ``lr1e-3``). A whole number stuck to a name is part of it (``Adam2``, ``L2``,
    ``β1``), and so is one after an underscore or a digit sign (``x²0``)."""
    for match in _LABEL_NUMBER.finditer(label):
        before = label[match.start() - 1] if match.start() else " "
        alone = not (before.isalnum() or before == "_")
        if alone or (before.isalpha() and not match[0].isdigit()):
            yield match


#: Two numbers this close (relative) are the same value: they differ by float rounding
#: (1.0000000000000002e-06 is 1e-06 reached by 1e-3 / 31.6…²).
ROUNDING = 1e-9


def same_value(a: Any, b: Any) -> bool:
    """``a == b``, numbers (in tables and arrays too) up to float rounding (:data:`ROUNDING`)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if _is_number(a) and _is_number(b) and math.isfinite(a) and math.isfinite(b):
        return math.isclose(a, b, rel_tol=ROUNDING, abs_tol=0.0)
    return a == b


def _same_shape(old: Any, new: Any) -> bool:
    """Whether two learning rates (a number or a schedule, as an optimizer holds it) have
    one shape: both numbers, or one schedule at two initial rates."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return not isinstance(old, Mapping) and not isinstance(new, Mapping)
    lr0 = schedule_lr0(new)
    try:
        moved = _with_lr0(old, lr0, "lr") if lr0 is not None else None
    except ConfigError:
        return False
    return moved is not None and same_value(plain(moved), plain(schedule_config(new)))


def _settings(run: RunSpec) -> dict[str, Any]:
    """What ``run``'s optimizer is set to (defaults and preset included), plain."""
    return plain(run.make_optimizer().hyperparameters())


def varying(experiment: Experiment) -> frozenset[str]:
    """The settings that tell ``experiment``'s runs apart, which their labels state
    (boston's batches, schedules' schedules): ``"batch"`` (size and batching),
    ``"schedule"`` (the learning rate's shape) and hyperparameter names."""
    settings = [_settings(r) for r in experiment.runs]
    found = set()
    if len({batch_of(experiment, r) for r in experiment.runs}) > 1:
        found.add("batch")
    rates = [s.pop("lr", None) for s in settings]
    if not all(_same_shape(rates[0], rate) for rate in rates):
        found.add("schedule")
    for name in {k for s in settings for k in s}:
        # among the runs that have it: an Adam's eps does not tell it from an SGD
        present = [s[name] for s in settings if name in s]
        if not all(same_value(present[0], value) for value in present):
            found.add(name)
    return frozenset(found)


def _states(label: str, value: Any) -> bool:
    """Whether a number in ``label`` is ``value`` (``1`` in ``SGD, batch 1``)."""
    if not _is_number(value) or not math.isfinite(value):
        return False
    return any(same_value(float(m[0]), value) for m in _label_numbers(label))


def _restated(old: RunSpec, new: RunSpec, batches: tuple[Any, Any], told: frozenset[str]) -> bool:
    """Whether ``new`` differs from ``old`` in what ``old``'s label could state besides
    its rate: a setting that tells the runs apart (``told``: :func:`varying`) or that a
    number in the label is (the batch size, a hyperparameter). ``batches``: the two
    runs' batch size and batching (``None`` without data)."""
    old_batch, new_batch = batches
    if old.optimizer != new.optimizer:
        return True
    size = old_batch[0] if old_batch is not None else None
    if old_batch != new_batch and ("batch" in told or _states(old.label, size)):
        return True
    before, after = _settings(old), _settings(new)
    if "schedule" in told and not _same_shape(before.pop("lr", None), after.pop("lr", None)):
        return True
    before.pop("lr", None)
    after.pop("lr", None)
    return any(
        not same_value(value, after.get(name)) and (name in told or _states(old.label, value))
        for name, value in before.items()
    )


def _batch_words(batch: tuple[int | None, str]) -> str:
    size, batching = batch
    if size is None:
        return "full batch"
    return f"batch {size}" + (" at random" if batching == "random" else "")


def generated_label(run: RunSpec, batch: tuple[int | None, str] | None = None) -> str:
    """A label from what ``run`` is: its class name (a run's label when it is given none),
    then its batches (``batch``: size and batching; ``None`` without data), its rate
    and the hyperparameters and preset it sets: ``SGD (batch 32 at random, lr 0.01)``."""
    details = [_batch_words(batch)] if batch is not None else []
    lr = run.lr
    if isinstance(lr, Mapping):
        config = dict(schedule_config(lr))
        name = config.pop("name", "schedule")
        # every argument that is a number or a word (a join's pieces are not spelled out)
        words = [
            f"{k} {exact_value(v)}"
            for k, v in config.items()
            if not isinstance(v, Mapping | list | tuple)
        ]
        details.append(f"{name}: {' '.join(words)}" if words else f"{name} lr")
    elif lr is not None:
        details.append(f"lr {exact_value(lr)}")
    details += [
        f"{k} {exact_value(v)}"
        for k, v in run.hyperparameters.items()
        if k != "lr" and not isinstance(v, Mapping | list | tuple)
    ]
    if run.preset is not None:
        details.append(f"{run.preset} preset")
    return _label(run.optimizer) + (f" ({', '.join(details)})" if details else "")


def rate_label(run: RunSpec, new: Any) -> tuple[str, ...] | None:
    """``run``'s label with the rate ``new`` in place of the one it states, where one
    number in it is the run's rate (or its schedule's lr0); then, always, the fallback
    ``LABEL → lr VALUE``. ``None`` where the label states no rate or the rate is the same."""
    old = schedule_lr0(run.lr) if run.lr is not None else None
    if not (_is_number(new) and new > 0) or old is None or same_value(old, new):
        return None
    found = [m for m in _label_numbers(run.label) if same_value(float(m[0]), old)]
    if not found:
        return None
    text = exact_value(float(new))
    fallback = f"{run.label} → lr {text}"
    if len(found) > 1:
        return (fallback,)
    return run.label[: found[0].start()] + text + run.label[found[0].end() :], fallback


def label_change(
    old: RunSpec,
    new: RunSpec,
    old_batch: Any = None,
    new_batch: Any = None,
    told: frozenset[str] = frozenset(),
) -> tuple[str, ...] | None:
    """The labels ``new`` may take in place of ``old``'s, best first (``None``: it keeps it).

    A label written by hand (not the optimizer's class name) is kept only while what
    it could state is unchanged (:func:`_restated`: a setting that tells its
    experiment's runs apart, ``told`` (:func:`varying`), or that a number in it is);
    otherwise ``new`` gets a label from what it is (:func:`generated_label`). A
    change of the rate alone keeps a label that states no rate, and puts the new
    rate in the place of one it states (:func:`rate_label`). ``old_batch``,
    ``new_batch``: the runs' batch size and batching (``None`` without data).
    """
    if old.label == _label(old.optimizer):
        return None
    if _restated(old, new, (old_batch, new_batch), told):
        return (generated_label(new, new_batch),)
    return rate_label(old, schedule_lr0(new.lr) if new.lr is not None else None)


def fresh_labels(labels: Sequence[str], changes: Mapping[int, Sequence[str]]) -> dict[int, str]:
    """The new label of each run ``changes`` names (by index; its candidates, best first),
    distinct as file names from every other run's: the first candidate no other run
    has or wants first, else the last (``LABEL (2)``, ``LABEL (3)`` … if it is taken)."""
    used = {slug(label) for i, label in enumerate(labels) if i not in changes}
    out: dict[int, str] = {}
    for i in sorted(changes):
        *better, last = changes[i]
        wanted = {slug(c[0]) for j, c in changes.items() if j != i}
        choice = next((c for c in better if slug(c) not in used | wanted), last)
        label, n = choice, 1
        while slug(label) in used:
            n += 1
            label = f"{choice} ({n})"
        used.add(slug(label))
        out[i] = label
    return out


def batch_of(experiment: Experiment, run: RunSpec) -> tuple[int | None, str] | None:
    """``run``'s batch size and batching in ``experiment`` (``None`` without data)."""
    if not experiment.problem.has("data"):
        return None
    training = experiment.run_training(run)
    return training.batch_size, training.batching


def _relabelled(before: Experiment, after: Experiment, *, final: bool = False) -> Experiment:
    """``after`` (``before`` changed, its runs in place) with each hand-written label
    that the change made untrue replaced (:func:`label_change`, :func:`fresh_labels`);
    a label the change set itself stays. Between the steps of :meth:`Experiment.together`
    ``after`` is as it is; ``final``: at its end, the labels made true and the
    experiment checked in full, in one."""
    done = {"_pending": False} if final else {}
    if (after._pending and not final) or len(before.runs) != len(after.runs):
        return after.replace(**done) if final else after
    changes, told = {}, None
    for i, (old, new) in enumerate(zip(before.runs, after.runs, strict=True)):
        if old.label != new.label or (old == new and batch_of(before, old) == batch_of(after, new)):
            continue
        told = varying(before) if told is None else told
        change = label_change(old, new, batch_of(before, old), batch_of(after, new), told)
        if change is not None:
            changes[i] = change
    if not changes:
        return after.replace(**done) if final else after
    labels = fresh_labels([r.label for r in after.runs], changes)
    runs = tuple(
        dataclasses.replace(r, label=labels[i]) if i in labels else r
        for i, r in enumerate(after.runs)
    )
    former = dict(after.former_labels)
    for i, label in labels.items():
        old = after.runs[i].label
        former = {k: label if v == old else v for k, v in former.items()}
        former[slug(old)] = label
    return after.replace(runs=runs, former_labels=tuple(former.items()), **done)


# --------------------------------------------------------------------------- differences


def _value(value: Any) -> str:
    if isinstance(value, float):  # every digit: 0.1234567 → 0.1234568 is a change
        return exact(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if value is None:
        return "default"
    return str(value)


def _table_changes(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in dict.fromkeys([*old, *new]):
        a, b = old.get(key), new.get(key)
        if a != b:
            lines.append(f"{prefix}{key}: {_value(a)} → {_value(b)}")
    return lines


def _defaults_of(
    old: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The old run's default values of the hyperparameters only the new run sets."""
    given = old.get("hyperparameters", {})
    wanted = [k for k in new.get("hyperparameters", {}) if k not in given]
    return {k: defaults[k] for k in wanted if isinstance(defaults.get(k), int | float | str)}


def _training_shown(training: Training, keys: Iterable[str]) -> dict[str, str]:
    """Training settings in words for a change line: no batch size is ``full``, an
    absent length or validation ``none``."""
    shown = {}
    for key in keys:
        value = getattr(training, key)
        if value is None:
            shown[key] = "full" if key == "batch_size" else "none"
        else:
            shown[key] = _value(value)
    return shown


def _run_training_changes(
    label: str, base: Experiment, old: RunSpec, new: Experiment, run: RunSpec
) -> list[str]:
    """A run's own training overrides that changed, shown by what the run trains with
    (an override dropped for the experiment's setting shows that setting)."""
    keys = [k for k in RUN_TRAINING_KEYS if old.training.get(k, ...) != run.training.get(k, ...)]
    if "steps" in keys or "epochs" in keys:
        keys = [k for k in RUN_TRAINING_KEYS if k in keys or k in ("steps", "epochs")]
    before = _training_shown(base.run_training(old), keys)
    after = _training_shown(new.run_training(run), keys)
    return [f"{label}: {k}: {before[k]} → {after[k]}" for k in keys if before[k] != after[k]]


def _training_changes(old: Training, new: Training) -> list[str]:
    before = _training_shown(old, TRAINING_FIELDS)
    after = _training_shown(new, TRAINING_FIELDS)
    return [f"training.{k}: {before[k]} → {after[k]}" for k in before if before[k] != after[k]]


def _run_changes(
    label: str, base: Experiment, old_run: RunSpec, new: Experiment, run: RunSpec
) -> list[str]:
    """What differs between two runs of one label: hyperparameters, run keys, training."""
    old, mine = old_run.to_table(), run.to_table()
    for key in RUN_TRAINING_KEYS:  # below, by what the run trains with
        old.pop(key, None)
        mine.pop(key, None)
    for table, spec in ((old, old_run), (mine, run)):  # a group of its own label is the
        if spec.group == spec.label:  # default one (--set sgd.group=SGD changes nothing)
            table.pop("group")
    # a hyperparameter one side leaves to its default shows that default's value
    defaults = old_run.make_optimizer().hyperparameters()
    before = {**_defaults_of(old, mine, defaults), **old.pop("hyperparameters", {})}
    lines = _table_changes(f"{label}: ", before, mine.pop("hyperparameters", {}))
    lines += _table_changes(f"{label}: ", old, mine)
    return lines + _run_training_changes(label, base, old_run, new, run)


def _changes(base: Experiment, new: Experiment) -> list[str]:
    old_problem, new_problem = base.problem, new.problem
    if (old_problem.kind, old_problem.options.get("data")) != (
        new_problem.kind,
        new_problem.options.get("data"),
    ):  # another kind or data set: its keys are others, compared as a whole
        lines = [f"problem: {old_problem.describe()} → {new_problem.describe()}"]
    else:
        lines = _table_changes("problem.", old_problem.resolved(), new_problem.resolved())
    lines += _training_changes(base.training, new.training)
    if base.seeds != new.seeds:
        lines.append(f"seeds: {base.seeds} → {new.seeds}")
    return lines + _runs_changes(base, new)


def _runs_changes(base: Experiment, new: Experiment) -> list[str]:
    """Runs left out, added, changed (a renamed one under its new label) and reordered."""
    lines: list[str] = []
    old_runs = {r.label: r for r in base.runs}
    new_runs = {r.label: r for r in new.runs}
    # each new run's old one: of its label, or the one it renamed (a tuned rate's label)
    pairs = {**_renamed(base, new), **{k: old_runs[k] for k in new_runs if k in old_runs}}
    kept = {r.label for r in pairs.values()}
    removed = [label for label in old_runs if label not in kept]
    added = [label for label in new_runs if label not in pairs]
    if removed:
        lines.append("runs left out: " + ", ".join(removed))
    if added:
        lines.append("runs added: " + ", ".join(added))
    for label, run in new_runs.items():
        if label in pairs:
            lines += _run_changes(label, base, pairs[label], new, run)
    if [r.label for r in base.runs if r.label in new_runs] != [
        r.label for r in new.runs if r.label in old_runs
    ]:
        lines.append("runs reordered: " + ", ".join(r.label for r in new.runs))
    return lines


def _renamed(base: Experiment, new: Experiment) -> dict[str, RunSpec]:
    """Runs that only changed their label (a tuned rate's label): the same number of runs,
    and at one place a label neither has twice, of the same optimizer."""
    if len(base.runs) != len(new.runs):
        return {}
    old_labels, new_labels = {r.label for r in base.runs}, {r.label for r in new.runs}
    return {
        mine.label: old
        for old, mine in zip(base.runs, new.runs, strict=True)
        if old.optimizer == mine.optimizer
        and old.label not in new_labels
        and mine.label not in old_labels
    }
