"""Experiments as data: one typed model, read from TOML, built-in or your own.

An experiment file names a problem, the training settings and the runs
(``docs/experiments.md`` documents every key)::

    name = "bowl"
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
    momentum = 0.5                 # any hyperparameter of the optimizer
    batch_size = 1
    batching = "random"

:func:`load` reads a built-in name, a TOML file or a ``results.json`` (the
experiment that made it) into an :class:`Experiment`, checked as a whole:
every mistake raises :class:`ExperimentError` naming the file and the key.
The built-in experiments (:data:`BUILTIN`) are TOML files in this package.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from pathlib import Path

from gdlab._checks import ConfigError
from gdlab.experiments.model import (
    BUILTIN,
    Experiment,
    ProblemSpec,
    RunSpec,
    Training,
    digest,
    parse_value,
    slug,
)
from gdlab.experiments.plots import PLOTS

__all__ = [
    "BUILTIN",
    "PLOTS",
    "Experiment",
    "ExperimentError",
    "ProblemSpec",
    "RunSpec",
    "Training",
    "builtin",
    "changed_from",
    "digest",
    "load",
    "parse_value",
    "slug",
]

#: Every mistake in an experiment (a :class:`~gdlab._checks.ConfigError`, a ``ValueError``).
ExperimentError = ConfigError

_RESULTS_SCHEMA_PREFIX = "gdlab.results/"


@functools.cache
def _builtin(name: str) -> Experiment:
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    experiment = Experiment.from_toml(text, f"built-in experiment {name!r}")
    return experiment.replace(based_on=name)


def builtin(name: str) -> Experiment:
    """The built-in experiment ``name`` (one of :data:`BUILTIN`)."""
    if not isinstance(name, str) or name not in BUILTIN:
        raise ConfigError(f"experiment must be one of {', '.join(BUILTIN)}; got {name!r}")
    return _builtin(name)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not an experiment file") from None
    except OSError as error:
        raise ConfigError(f"{path} cannot be read: {error.strerror or error}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (at byte {error.start}: {data[error.start :][:1]!r})"
        ) from None


def load(source: str | os.PathLike, *, file: bool = False) -> Experiment:
    """An :class:`Experiment`: a built-in name, a TOML file, or a ``results.json``
    (the experiment that made that report, to run it again). ``file=True`` reads a
    file even when its name is a built-in one (``--config bowl`` with a file ``bowl``).
    A relative ``problem.directory`` is read from the current folder and kept as an
    absolute path, as ``--data DIR`` keeps it."""
    if isinstance(source, str) and source in BUILTIN and not file:
        return builtin(source)
    path = Path(source)
    if not str(source).strip():
        raise ConfigError(f"experiment must be one of {', '.join(BUILTIN)} or a file; got ''")
    if not path.exists():
        hint = (
            "" if path.suffix.lower() in (".toml", ".json") else f" one of {', '.join(BUILTIN)} or"
        )
        raise ConfigError(
            f"experiment must be{hint} a TOML file or a results.json; got {str(source)!r} "
            "(no such file)"
        )
    text = _read_text(path)
    if path.suffix.lower() == ".json":  # results.JSON too
        return _from_results(text, path)
    experiment = Experiment.from_toml(text, str(path))
    if "name" not in _top_keys(text):
        experiment = experiment.replace(name=_file_name(path))
    return _absolute_directory(experiment)


def changed_from(source: str | os.PathLike, *, file: bool = False) -> tuple[Experiment, str] | None:
    """What the experiment of the ``results.json`` ``source`` was changed from when that
    was a file: ``(the file's experiment as read, its name in words)``, which the report
    keeps as ``base``, so that ``gdlab race --config results.json`` lists the same
    changes from it again. ``None`` for anything else: a report without changes, one
    changed from a built-in experiment (its ``config`` names it as ``based_on``), a TOML
    file or a built-in name (``file`` as for :func:`load`, which reads it first)."""
    if isinstance(source, str) and source in BUILTIN and not file:
        return None
    path = Path(source)
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    document = json.loads(_read_text(path))
    base = document.get("base") if isinstance(document, dict) else None
    if base is None:
        return None
    if not isinstance(base, dict) or not isinstance(base.get("name"), str):
        raise ConfigError(f"{path}: base must be a table with a name and a config; got {base!r}")
    return Experiment.from_dict(base.get("config"), f"{path}: base.config"), base["name"]


def _absolute_directory(experiment: Experiment) -> Experiment:
    """``experiment`` with a relative ``problem.directory`` (a file's) read from the
    folder the command runs in and kept as an absolute path (``~`` expanded), as
    ``--data DIR`` keeps it: the report's ``results.json`` runs the same data again
    from any folder."""
    directory = experiment.problem.options.get("directory")
    if not isinstance(directory, str) or not directory.strip():
        return experiment
    absolute = str(Path(directory).expanduser().absolute())
    return experiment if absolute == directory else experiment.with_problem(directory=absolute)


def _file_name(path: Path) -> str:
    """The name of an experiment file without ``name``: its stem as a valid name
    (``_draft.toml`` is ``draft``; a stem with no letter or digit, ``experiment``)."""
    return slug(path.stem).lstrip("_.-") or "experiment"


def _top_keys(text: str) -> set[str]:
    import tomllib

    return set(tomllib.loads(text))


def _from_results(text: str, path: Path) -> Experiment:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON: {error}") from None
    schema = document.get("schema") if isinstance(document, dict) else None
    if not isinstance(schema, str) or not schema.startswith(_RESULTS_SCHEMA_PREFIX):
        raise ConfigError(f"{path} is not a gdlab results.json (schema {schema!r})")
    config = document.get("config")
    if not isinstance(config, dict) or "problem" not in config:
        why = (
            "a plot's results cannot be re-run"
            if not isinstance(config, dict) or "plot" in config
            else "its runs were made in Python on a problem no experiment names: a "
            "function of one's own, or a problem built from data"
        )
        raise ConfigError(f"{path} holds no experiment ({why})")
    return _absolute_directory(Experiment.from_dict(config, f"{path}: config"))
