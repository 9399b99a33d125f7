"""Reports in words, generated from the experiment that ran.

:func:`text` gives a report's title and description. An unchanged built-in
experiment keeps its hand-written text, and so does text written for the
experiment itself (differing from the built-in's); any other gets a title and
a description made from its model (the problem and its data, the training,
every run's optimizer, hyperparameters and schedule, the seeds), and when it
was made from a built-in experiment (or a file) the changes are listed.

>>> from gdlab.experiments import builtin
>>> bowl = builtin("bowl")
>>> text(bowl)["title"]
'Seed 001: six optimizers on x²/20 + y²'
>>> changed = bowl.set("problem.function", "rosenbrock").select_optimizers(["adam", "sgd"])
>>> t = text(changed.with_lr("adam", 0.02), base=bowl)
>>> t["title"]
'Adam and SGD on rosenbrock'
>>> for line in t["changes"][:3]:
...     print(line)
problem.function: bowl → rosenbrock
problem.start: [-7, 2] → [-1.5, 2]
runs left out: Momentum, AdaGrad, RMSprop, Nesterov
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gdlab._text import exact, joined, number
from gdlab.experiments.model import Experiment, RunSpec, Training, schedule_config

__all__ = [
    "SEEDS",
    "SOURCES",
    "hyperparameter_text",
    "run_text",
    "source_text",
    "text",
    "title",
    "training_text",
]

#: The five study notes gdlab was built from (``shared/SEEDS.md``), each in a sentence
#: that also says what the pages mean by "the book", "the course" and "the lecture".
SEEDS = {
    "000": "Seed 000 is a learner's notes on the optimization exercise of “the course”, "
    "Andrew Ng's deep-learning course on Coursera (Improving Deep Neural Networks, "
    "week 2): mini-batches, Momentum, RMSprop and Adam written in NumPy and tried on "
    "the two-moons data.",
    "001": "Seed 001 is notes on “the book”, Koki Saitoh's Deep Learning from Scratch "
    "(O'Reilly Japan, 2016), chapter 6, and its code (ch06/ in the book's repository): "
    "its optimizer classes, its benchmark on x²/20 + y², its MNIST race and its "
    "histograms of activations for different initial weights.",
    "002": "Seed 002 is notes on “the lecture”, a video lecture on Momentum, RMSprop and "
    "Adam, and on choosing hyperparameters with a validation set or K-fold "
    "cross-validation.",
    "003": "Seed 003 is a study of linear regression on the Boston housing data, made "
    "along an online deep-learning course: gradient descent on the whole set, on one "
    "random sample, and on random mini-batches of 30.",
    "004": "Seed 004 is notes on the lectures of “the course” (Andrew Ng's deep-learning "
    "course, Improving Deep Neural Networks, week 2): batch, mini-batch and stochastic "
    "gradient descent, exponentially weighted averages and their bias correction, "
    "Momentum, RMSprop, Adam and learning-rate decay.",
}

#: What each built-in experiment (and ``gdlab plot``) takes from which seeds.
SOURCES = {
    "bowl": (("001",), "the book's comparison of optimizers on f(x, y) = x²/20 + y² "
             "(section 6.1, ch06/optimizer_compare_naive.py)"),
    "mnist": (("001",), "the book's race of optimizers on MNIST "
              "(section 6.1.8, ch06/optimizer_compare_mnist.py)"),
    "boston": (("003",), "its comparison of full-batch, stochastic and mini-batch "
               "gradient descent on Boston housing"),
    "moons": (("000",), "the course's exercise: gradient descent, Momentum and Adam "
              "training a small classifier on the moons"),
    "schedules": (("004",), "the course's learning-rate decays"),
    "plot-schedules": (("004",), "the course's learning-rate decays"),
    "plot-ewma": (("004",), "the course's exponentially weighted averages of daily "
                  "temperatures, with and without bias correction"),
    "plot-init": (("001",), "the book's histograms of activations for different "
                  "initial weights (section 6.2, ch06/weight_init_activation_histogram.py)"),
}  # fmt: skip


def source_text(name: str | None, *, changed: bool = False) -> str:
    """Where the built-in experiment (or ``plot-KIND``) ``name`` comes from, in words that
    also say what "seed 001", "the book" and "the course" are; ``""`` for any other name.
    ``changed``: the experiment that ran was made from it with changes (listed apart),
    so the seed's words describe where it started, not what ran.

    >>> source_text("mnist").split(":")[0]
    'Source'
    >>> source_text("bowl", changed=True).split(",")[0]
    'Adapted from seed 001'
    >>> source_text("my-own")
    ''
    """
    if name not in SOURCES:
        return ""
    seeds, what = SOURCES[name]
    which = " and ".join(f"seed {s}" for s in seeds)
    if changed:
        lead = f"Adapted from {which}, {what}, with the changes listed below."
    else:
        lead = f"Source: {which}, {what}."
    return f"{lead} gdlab was built from five study notes, seeds 000 to 004. " + " ".join(
        SEEDS[s] for s in seeds
    )


def _count(n: int, noun: str) -> str:
    """``1 epoch``, ``2,000 steps``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _exact(value: Any) -> str:
    """A hyperparameter as given, every digit kept (two runs at 0.12345 and 0.12346
    must not both read 0.1235)."""
    if isinstance(value, float) and math.isfinite(value):
        return exact(value)
    return number(value)


def schedule_text(lr: Any) -> str:
    """A learning rate in words: ``0.01``, or a schedule's formula."""
    if isinstance(lr, Mapping):
        from gdlab import schedules

        return repr(schedules.from_config(schedule_config(lr)))
    return _exact(lr)


def hyperparameter_text(run: RunSpec) -> str:
    """What ``run`` sets, in words, each value credited to where it comes from.

    ``lr 0.3, beta1 0.8``: set by the run; ``lr 0.001 (default)``: the optimizer's
    own; ``lr 0.01 (the book preset's); book preset``: the preset's. A wrapper
    (Lookahead, averaging, accumulation, groups, SAM) takes its rate from the
    optimizer it wraps, named in words with what it sets:
    ``lr 0.3 (inner adam's), inner adam (beta1 0.8), k 10``.

    >>> hyperparameter_text(RunSpec("L", "lookahead", hyperparameters={
    ...     "inner": {"optimizer": "adam", "lr": 0.3, "beta1": 0.8}, "k": 10}))
    "lr 0.3 (inner adam's), inner adam (beta1 0.8), k 10"
    """
    hp = dict(run.hyperparameters)
    if "lr" in hp:
        rate = f"lr {schedule_text(hp.pop('lr'))}"
    else:
        lr = run.make_optimizer().hyperparameters()["lr"]
        source = _lr_source(run.optimizer, run.preset, hp)
        source = f"the {source}'s" if source == f"{run.preset} preset" else source
        rate = f"lr {schedule_text(lr)} ({source})"
    text = ", ".join([rate] + [_setting(k, v) for k, v in hp.items()])
    if run.preset:
        text += f"; {run.preset} preset"
    return text


#: The keys under which a wrapper takes the optimizer it wraps (its ``lr`` is that one's).
_WRAPPED = ("inner", "base")


def _wrapped(optimizer: str, hp: Mapping[str, Any]) -> tuple[str, str, str | None, dict] | None:
    """``(key, name, preset, settings)`` of the optimizer that ``optimizer`` wraps and
    takes its rate from (its ``lr`` defaults to that one's); ``None`` for any other."""
    import inspect

    from gdlab.optim import OPTIMIZERS

    cls = OPTIMIZERS.get(optimizer)
    parameters = inspect.signature(cls.__init__).parameters if cls is not None else {}
    default = parameters["lr"].default if "lr" in parameters else 0.0
    key = next((k for k in _WRAPPED if k in parameters), None)
    if key is None or isinstance(default, int | float):
        return None
    spec = hp.get(key, parameters[key].default)
    if isinstance(spec, str):
        return key, spec.lower(), None, {}
    if not isinstance(spec, Mapping):  # an optimizer object (Python only): not in words
        return None
    settings = {k: v for k, v in spec.items() if k not in ("optimizer", "preset")}
    return key, str(spec.get("optimizer")).lower(), spec.get("preset"), settings


def _lr_source(optimizer: str, preset: str | None, hp: Mapping[str, Any]) -> str:
    """Where the rate of an optimizer that does not set ``lr`` comes from: ``default``,
    ``book preset``, ``inner adam's`` (``inner adam's default`` when that does not set
    it either)."""
    from gdlab.optim import PRESETS

    if preset and "lr" in PRESETS.get(preset, {}).get(optimizer, {}):
        return f"{preset} preset"
    wrapped = _wrapped(optimizer, hp)
    if wrapped is None:
        return "default"
    key, name, inner_preset, settings = wrapped
    if "lr" in settings:
        return f"{key} {name}'s"
    return f"{key} {name}'s {_lr_source(name, inner_preset, settings)}"


def _setting(key: str, value: Any) -> str:
    """One hyperparameter in words: ``beta1 0.8``; the optimizer a wrapper wraps by
    name with what it sets, ``inner adam (beta1 0.8; book preset)`` (its rate is the
    wrapper's, said there); a table or a list item by item."""
    if key in _WRAPPED and isinstance(value, Mapping) and "optimizer" in value:
        settings = [
            _setting(k, v) for k, v in value.items() if k not in ("optimizer", "preset", "lr")
        ]
        said = ", ".join(settings) + (f"; {value['preset']} preset" if value.get("preset") else "")
        return f"{key} {value['optimizer']}" + (f" ({said.removeprefix('; ')})" if said else "")
    return f"{key} {_value_words(value)}"


def _value_words(value: Any) -> str:
    """A value in words: ``0.1``, a schedule's formula (``lr``), ``(keys W*, lr 0.5)``."""
    if isinstance(value, Mapping):
        return "(" + ", ".join(_setting(str(k), v) for k, v in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "[" + "; ".join(_value_words(v) for v in value) + "]"
    return _exact(value)


def training_text(training: Training, has_data: bool, *, own_length: bool = False) -> str:
    """``2000 steps on batches of 128 drawn at random`` and so on. ``own_length``: every
    run gives its own steps or epochs, so the words name no shared length."""
    if own_length:
        length = "each run for its own number of steps or epochs (given with it)"
    elif training.steps is not None:
        length = _count(training.steps, "step")
    else:
        length = _count(training.epochs, "epoch")
    if not has_data:
        return length
    if own_length:
        length += ","
    if training.batch_size is None:
        return f"{length} of full-batch gradient descent"
    if training.batching == "random":
        return f"{length} on batches of {training.batch_size:,} drawn at random"
    return f"{length} on mini-batches of {training.batch_size:,} (a new shuffle each epoch)"


#: What each step's recorded loss is, by ``Training.step_loss`` (problems with data).
_STEP_LOSS_WORDS = {
    "batch": "each step's loss taken on its batch",
    "train": "each step's loss taken on the whole training set (before its update)",
}


def run_text(experiment: Experiment, run: RunSpec) -> str:
    """One run in words: label, optimizer, hyperparameters, and its own training if it differs."""
    name = run.optimizer
    text = f"{run.label} ({name}: {hyperparameter_text(run)})"
    if run.training:
        training = experiment.run_training(run)
        has_data = experiment.problem.has("data")
        text += ", " + training_text(training, has_data)
        if has_data and training.step_loss != experiment.training.step_loss:
            text += ", " + _STEP_LOSS_WORDS[training.step_loss]
    return text


def _subject(experiment: Experiment) -> str:
    options = experiment.problem.options
    if experiment.problem.has("function2d"):  # a registered function, one typed as text,
        # or a kind of one's own: its name
        return str(options.get("function") or options.get("expression") or experiment.problem.kind)
    data = options.get("data", experiment.problem.kind)
    return {"mnist": "MNIST", "boston": "Boston housing", "moons": "the moons"}.get(data, data)


def title(experiment: Experiment) -> str:
    """A title from the model: ``Adam and SGD on rosenbrock``, ``6 runs on MNIST``."""
    labels = [r.label for r in experiment.runs]
    optimizers = {r.optimizer for r in experiment.runs}
    if len(labels) <= 3:
        who = joined(labels)
    elif len(optimizers) == len(labels):
        who = f"{len(labels)} optimizers"
    else:
        who = f"{len(labels)} runs"
    return f"{who} on {_subject(experiment)}"


def _evaluated(training: Training, has_data: bool) -> str:
    """``, evaluated on the test set every 4 epochs and at the end`` (what is not the
    default). A 2-D function's f is evaluated every step unless ``evaluate_every`` says
    otherwise; its best f is then the lowest of those evaluations, and the words say so."""
    every = training.evaluate_every
    if not has_data:
        return (
            f", f evaluated every {_count(every, 'step')} and at the end (the best f is the "
            "lowest of those values)"
            if every != 1
            else ""
        )
    where = f" on the {training.validation} set" if training.validation else ""
    when = f" every {_count(every, 'epoch')} and at the end" if every != 1 else ""
    return f", evaluated{where}{when}" if where or when else ""


def _shared(experiment: Experiment) -> str:
    """What the runs of a seed share, in words: the same batches when their batching
    settings are the same (batch size and mode), else only the seeded generator."""
    if not experiment.problem.has("data"):
        return "."
    settings = {(t.batch_size, t.batching) for t in map(experiment.run_training, experiment.runs)}
    if len(settings) > 1:
        return (
            ", every run of a seed with its generator seeded alike (the runs' batch sizes "
            "or batching differ, so their batches do too)."
        )
    if next(iter(settings), (None,))[0] is None:  # full batch: every step sees the whole set
        return "."
    return ", the same batches for every run of a seed."


def _what_ran(experiment: Experiment) -> str:
    training = experiment.training
    has_data = experiment.problem.has("data")
    seeds = (
        "one seed (0)"
        if experiment.seeds == 1
        else f"{experiment.seeds} seeds (0–{experiment.seeds - 1})"
    )
    own_length = all({"steps", "epochs"} & set(r.training) for r in experiment.runs)
    whole = has_data and training.step_loss == "train"
    step_loss = f", {_STEP_LOSS_WORDS['train']}" if whole else ""
    sentences = [
        f"Problem: {experiment.problem.describe()}.",
        f"Training: {training_text(training, has_data, own_length=own_length)}"
        + _evaluated(training, has_data)
        + f"{step_loss}; {seeds} per run"
        + _shared(experiment),
        "Runs: " + "; ".join(run_text(experiment, r) for r in experiment.runs) + ".",
        _groups(experiment),
    ]
    return " ".join(s for s in sentences if s)


def _groups(experiment: Experiment) -> str:
    """Which runs each ``group`` named in the file holds (one curve in the figures, the
    mean over its runs' seeds); ``""`` where every run is its own group."""
    groups: dict[str, list[str]] = {}
    for run in experiment.runs:
        groups.setdefault(run.group or run.label, []).append(run.label)
    held = "; ".join(
        f"{name}: {joined(labels)}" for name, labels in groups.items() if labels != [name]
    )
    if not held:
        return ""
    return f"Groups, each one curve in the figures (the mean over its runs' seeds): {held}."


def _origin(experiment: Experiment) -> Experiment | None:
    """The built-in experiment ``experiment`` was made from: its ``based_on``, or else
    the built-in of its name if it is that very experiment (a file of your own that
    happens to be called ``bowl`` is not seed 001's benchmark)."""
    from gdlab.experiments import BUILTIN, builtin

    if experiment.based_on in BUILTIN:
        return builtin(experiment.based_on)
    if experiment.based_on is None and experiment.name in BUILTIN:
        same = builtin(experiment.name)
        unchanged = same.key() == experiment.key() or not experiment.changes_from(same)
        return same if unchanged else None
    return None


def _kept(
    experiment: Experiment,
    base: Experiment | None,
    read: Experiment | None,
    field: str,
    changes: Sequence[str],
) -> bool:
    """Whether ``experiment``'s ``field`` (title, description) stands in its report.

    It does while nothing changed from ``base``; and when it is text written for
    this experiment: set after it was read (``--set title=…``: it differs from
    ``read``'s), or a file's own beside its ``based_on`` (it differs from the
    built-in's) while nothing changed the file as read.
    """
    value = getattr(experiment, field)
    if not value or not changes or base is None:
        return bool(value)
    read = read or base
    if value != getattr(read, field):
        return True
    return experiment.key() == read.key() and value != getattr(base, field)


def _tuned_kept(experiment: Experiment, read: Experiment | None) -> bool:
    """Whether ``experiment``'s ``tuned`` words stand in its report: they do unless what
    its tuning's choice was made for changed since it was read (``read``: its problem,
    training or runs; not its seeds, title, nor how its runs evaluate:
    :func:`gdlab.tuning.tuned_alike`) while the words did not (a fresh ``gdlab race
    --tuned`` writes new ones). ``race --tuned`` refuses such a change too."""
    if not experiment.tuned or read is None:
        return bool(experiment.tuned)
    if experiment.tuned != read.tuned:
        return True
    from gdlab.tuning import tuned_alike

    return tuned_alike(experiment, read)


#: The fields that name a tuned experiment's tuning: they go with its ``tuned`` words.
_TUNING_FIELDS = ("tuned_from", "tuned_digest")


def text(
    experiment: Experiment,
    *,
    base: Experiment | None = None,
    base_name: str | None = None,
    notes: Sequence[str] = (),
    read: Experiment | None = None,
) -> dict[str, Any]:
    """``{"title", "description", "changes", "dropped"}`` for a report of ``experiment``,
    and ``"base"`` (``{"name", "config"}``: what the changes are from) when that is a
    file rather than a built-in experiment.

    ``base`` is what it was made from (a built-in experiment, or a file as
    read); ``base_name`` names it in the page. A built-in experiment (or one
    made from it) first names its source (:func:`source_text`). Without
    changes, the experiment's own title and description stand (generated when
    it has none); with changes, the text is generated and the changes are listed,
    except a title or description written for this experiment (:func:`_kept`):
    ``read`` is the experiment as its file (or the built-in) gave it, before the
    command line's changes. ``notes`` are appended (e.g. where tuned rates came from).
    A tuned experiment (:attr:`Experiment.tuned`, from ``gdlab race --tuned``) says
    so: its words are a paragraph, and the title ends in "(tuned)", until its problem,
    training or runs change (:func:`_tuned_kept`). ``dropped`` names the experiment's
    own fields (``title``, ``description``, ``tuned`` with ``tuned_from`` and
    ``tuned_digest``) that the changes made untrue: the report records the experiment
    without them (:func:`recorded`), so that running its ``results.json`` again does
    not bring them back.
    """
    origin = _origin(experiment)
    if base is None and origin is not None and experiment.based_on == origin.name:
        # made from a built-in in code (builtin("bowl").set(...)): its text is the
        # built-in's only while nothing changed
        base, base_name = origin, base_name or f"built-in experiment {origin.name}"
    changes = experiment.changes_from(base) if base is not None else []
    # text written for this very experiment (`--set title=…`, a file's own beside its
    # based_on) stays; the base's hand-written text only while nothing changed
    kept = {f: _kept(experiment, base, read, f, changes) for f in ("title", "description")}
    kept["tuned"] = _tuned_kept(experiment, read)
    description = experiment.description if kept["description"] else ""
    source = source_text(origin.name, changed=bool(changes)) if origin is not None else ""
    parts = [source] if source else []
    parts += [description] if description else []
    parts.append(_what_ran(experiment))
    named = base_name or (f"experiment {base.name}" if base is not None else "")
    if changes:
        parts.append(f"Changed from the {named}: " + "; ".join(changes) + ".")
    parts += [experiment.tuned] if kept["tuned"] else []
    parts += list(notes)
    words = {
        "title": _heading(experiment, kept),
        "description": "\n\n".join(parts),
        "changes": changes,
        "dropped": _dropped(experiment, kept),
    }
    if changes and base is not None and (origin is None or base.key() != origin.key()):
        # changed from a file (no built-in names it): results.json keeps the file as read,
        # so that the report run again lists the same changes from it
        words["base"] = {"name": named, "config": base.to_dict()}
    return words


def _dropped(experiment: Experiment, kept: Mapping[str, bool]) -> list[str]:
    """The fields of ``experiment``'s own text that do not stand (``kept``); where its
    ``tuned`` words go, where its tuning is and which it was go with them."""
    dropped = [f for f, stands in kept.items() if getattr(experiment, f) and not stands]
    if "tuned" in dropped:
        dropped += [f for f in _TUNING_FIELDS if getattr(experiment, f)]
    return dropped


#: The end of a tuned experiment's title.
_TUNED = " (tuned)"


def _heading(experiment: Experiment, kept: Mapping[str, bool]) -> str:
    """The report's title: the experiment's own where it stands (``kept``), or one from
    the model; ending in "(tuned)" while its ``tuned`` words stand."""
    heading = (experiment.title if kept["title"] else "") or title(experiment)
    if kept["tuned"] and not heading.endswith(_TUNED):
        heading += _TUNED
    return heading


def recorded(experiment: Experiment, words: Mapping[str, Any]) -> Experiment:
    """``experiment`` as its report records it: without the fields of its own text that
    :func:`text` found untrue for it (``words["dropped"]``; ``tuned`` takes the fields
    naming its tuning with it)."""
    dropped = set(words.get("dropped", ()))
    dropped |= set(_TUNING_FIELDS) if "tuned" in dropped else set()
    return experiment.replace(**{f: "" for f in dropped}) if dropped else experiment
