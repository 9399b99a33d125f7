"""``gdlab tour``: the built-in races and the plots, into one report.

The races are the seed experiments that a race shows (bowl, boston, moons,
mnist, schedules); seed 002's choice of hyperparameters by validation or
K-fold is not a race and is not in the tour: ``gdlab tune`` runs it
(docs/tuning.md).

Each experiment writes its own report into ``OUT/<name>/`` (as ``gdlab race
NAME --out OUT/NAME`` would); then ``OUT/index.html`` gathers their tables and
figures on one self-contained page. ``quick=True`` runs a tenth of the steps
or epochs, at least :data:`QUICK_MIN_EPOCHS` epochs (for a look, not for
conclusions); each experiment keeps its seed's title, marked "(quick)".
``gdlab tour`` writes a new ``OUT`` each time (``gdlab-report/tour/<time>-<id>``):
the individual reports of ``gdlab race`` are never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from gdlab import experiments, race
from gdlab._checks import check_bool, check_int, fail
from gdlab._text import joined
from gdlab.experiments import Experiment
from gdlab.experiments.describe import text

__all__ = ["finish_killed", "run", "shortened"]


#: The tour page's title: what it holds (seed 002's tuning is not a race: ``gdlab tune``).
TITLE = "gdlab tour: the seed experiments' races and plots"

#: Epochs a quick tour keeps at least: a learning rate that decays per epoch
#: starts lowering at the second, so one epoch would race five equal constants.
QUICK_MIN_EPOCHS = 3


def _tenth(steps: int | None, epochs: int | None) -> dict[str, int]:
    if steps is not None:
        return {"steps": max(1, math.ceil(steps / 10))}
    assert epochs is not None
    return {"epochs": max(min(epochs, QUICK_MIN_EPOCHS), math.ceil(epochs / 10))}


def shortened(experiment: Experiment) -> Experiment:
    """A tenth of the steps (at least one) or of the epochs (at least
    :data:`QUICK_MIN_EPOCHS`, or all of them when there are fewer); a run
    that sets its own steps or epochs keeps its own, shortened the same way."""
    training = experiment.training
    short = experiment.merge_training(**_tenth(training.steps, training.epochs))
    runs = []
    for own, run in zip(experiment.runs, short.runs, strict=True):
        steps, epochs = own.training.get("steps"), own.training.get("epochs")
        if steps is not None or epochs is not None:
            run = dataclasses.replace(run, training={**run.training, **_tenth(steps, epochs)})
        runs.append(run)
    return short.replace(runs=tuple(runs))


def planned() -> list[str]:
    """The tour's reports, in order: each built-in race, then ``plot-<kind>``."""
    from gdlab.experiments.plots import PLOTS

    return [*experiments.BUILTIN, *(f"plot-{kind}" for kind in PLOTS)]


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    command: str = "",
    workers: int = 1,
) -> Path:
    """Run the tour into ``out_dir``; return the path of the combined ``index.html``.

    ``out_dir`` must be new or empty (a tour is never written over another
    report). An exception (Ctrl-C included) stops the tour: the experiment it
    stopped in gets its own page of the runs that finished (marked stopped
    early, as :func:`gdlab.race.run_experiment` marks a race's), or, when none
    had finished, its directory is removed; the combined page says that the
    tour stopped and names what did not run (:func:`stopped_words`), and the
    exception propagates. A tour stopped before any experiment finished a run
    leaves nothing (``out_dir`` as it was, or not made).

    Raises:
        gdlab._io.OutputError: ``out_dir`` is not a new or empty directory
            (named; nothing is written).
    """
    from gdlab.experiments.plots import PLOTS, run_plot
    from gdlab.report import html, write
    from gdlab.results import check_new, holds_report

    # checked before the first experiment writes its report
    quick = check_bool("quick", quick)
    progress = check_bool("progress", progress)
    workers = check_int("workers", workers, low=1)
    if not isinstance(out_dir, str | os.PathLike):
        fail("out_dir", "a path (str or os.PathLike)", out_dir, kind=TypeError)
    out_dir = check_new("out_dir", out_dir)
    made = not out_dir.exists()
    entries: list[tuple[dict[str, Any], list[dict[str, Any]], str]] = []
    current = ""
    try:
        for name in experiments.BUILTIN:
            current = name
            base = experiments.builtin(name)
            experiment = shortened(base) if quick else base
            words = text(experiment, base=base, base_name=f"built-in experiment {name}")
            if quick and base.title:  # keep the seed's title, not one generated for a change
                words = {**words, "title": f"{base.title} (quick)"}
            document = race.run_experiment(
                experiment,
                out_dir / name,
                command=command,
                text=words,
                progress=progress,
                figures=False,
                workers=workers,
            )
            entries.append((document, write(document, out_dir / name), name))
        for kind in PLOTS:
            current = f"plot-{kind}"
            document = run_plot(kind, out_dir / current, command=command, figures=False)
            entries.append((document, write(document, out_dir / current), current))
    except BaseException as error:
        done = [subdir for _, _, subdir in entries]
        if current and current not in done:
            _drop_unfinished(out_dir / current)
        entries += _stopped_entry(out_dir, current, done)
        if holds_report(out_dir):  # a page for what is there (a report whose page failed)
            html.write_tour(entries, out_dir, title=TITLE, command=command,
                            stopped=stopped_words(out_dir), stopped_by=_why(error))  # fmt: skip
        elif made:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
        raise
    html.write_tour(entries, out_dir, title=TITLE, command=command)
    return out_dir / "index.html"


def _why(error: BaseException) -> str:
    """``"interrupted"`` for Ctrl-C, else the error's type and message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _drop_unfinished(directory: Path) -> None:
    """Remove the report ``directory`` of a stopped experiment that holds no finished run
    (nor a plot's data): made but empty, or a results.json of no runs. The tour's
    directory then holds reports only, and a rerun with ``--force`` may replace it."""
    document = _document(directory)
    if document is None or (not document.get("runs") and document.get("series") is None):
        shutil.rmtree(directory, ignore_errors=True)


#: Why the page of a tour recovered after a kill says it stopped early.
KILLED = "its process was killed; a later gdlab command recovered it"


def finish_killed(out_dir: str | Path) -> list[str]:
    """Finish the tour that a killed process (``kill -9``) left in ``out_dir`` as Ctrl-C
    would have: the directory of an experiment with no finished run is removed, the
    page of every other one that has none is drawn from its ``results.json`` (and
    drawn again where its figures cannot be listed: the combined page needs them), and
    the combined page marks the tour stopped early. Returns what could not be drawn,
    in words (``"mnist (ValueError: …)"``): the tour's page leaves it out, its
    results.json is kept.
    """
    from gdlab.report import html, write

    out_dir = Path(out_dir)
    entries, failed = [], []
    for name in planned():
        directory = out_dir / name
        if not directory.is_dir() or directory.is_symlink():
            continue
        _drop_unfinished(directory)
        document = _document(directory)
        if document is None:
            continue
        fresh = not (directory / "figures").exists()
        try:
            drawn = _drawn(document, directory)
            drawn = write(document, directory) if drawn is None else drawn
            entries.append((document, drawn, name))
        except Exception as error:  # recovery never fails the run that recovers
            if fresh:
                shutil.rmtree(directory / "figures", ignore_errors=True)
            failed.append(f"{name} ({_why(error)})")
    command = next((str(d["command"]) for d, _, _ in entries if d.get("command")), "")
    html.write_tour(entries, out_dir, title=TITLE, command=command,
                    stopped=stopped_words(out_dir), stopped_by=KILLED)  # fmt: skip
    return failed


def _drawn(document: dict[str, Any], directory: Path) -> list[dict[str, Any]] | None:
    """The figures of the report in ``directory`` (as :func:`gdlab.report.write` returns
    them) when its page and every figure are there already: listed, not drawn again
    (a second or more each); else ``None``."""
    from gdlab.report import figures

    if not (directory / "index.html").is_file():
        return None
    try:
        drawn = figures.listed(document)  # what draw() would draw, in its order
    except Exception:  # drawn again, or told
        return None
    every = all((directory / f[kind]).is_file() for f in drawn for kind in ("png", "svg"))
    return drawn if every else None


def _stopped_entry(out_dir: Path, name: str, done: list[str]) -> list[tuple[Any, Any, str]]:
    """The entry of the report the tour stopped in, its page drawn now, if any of its
    runs finished (``results.json`` holds them, marked interrupted); else nothing."""
    from gdlab.report import write

    document = _document(out_dir / name) if name and name not in done else None
    if document is None or not document.get("runs"):
        return []
    try:
        drawn = write(document, out_dir / name)
    except Exception:  # its page cannot be drawn: the tour's page leaves it out, and says so
        return []
    return [(document, drawn, name)]


def _document(directory: Path) -> dict[str, Any] | None:
    """``directory/results.json``, or ``None`` where there is none that reads."""
    try:
        document = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _plot_unshown(directory: Path) -> str:
    """Why a plot whose data was computed is not shown: its page was not drawn, and what its
    ``figures/`` holds (the figures drawn so far, or none yet)."""
    drawn = len(list((directory / "figures").glob("*.png")))
    held = (
        f"{directory.name}/figures/ holds the {drawn} figure{'s' if drawn != 1 else ''} drawn "
        "so far"
        if drawn
        else "no figure drawn yet"
    )
    return f"its data was computed but its page was not drawn; {held}"


def stopped_words(out_dir: str | Path) -> str:
    """What a tour that stopped early in ``out_dir`` holds, in words, from its reports on
    disk: ``"it shows bowl and boston, and the 2 runs of moons that finished (moons
    stopped early); not run: mnist, …"``. The combined page says it; so can the CLI."""
    out_dir = Path(out_dir)
    finished, stopped, empty, missing = [], [], [], []
    for name in planned():
        document = _document(out_dir / name)
        runs = (document or {}).get("runs") or []
        page = (out_dir / name / "index.html").is_file()
        if document is None:
            missing.append(name)
        elif document.get("status") == "complete" and page:
            finished.append(name)
        elif runs and page:
            stopped.append(f"the {len(runs)} run{'s' if len(runs) != 1 else ''} of {name}")
        elif document.get("series") is not None:  # a plot: no runs, its data computed
            empty.append(f"{name} ({_plot_unshown(out_dir / name)})")
        elif runs:
            empty.append(f"{name} (its page was not drawn; its results.json holds its runs)")
        else:
            empty.append(f"{name} (no run had finished)")
    parts = []
    if finished:
        parts.append(joined(finished))
    if stopped:
        parts.append(joined(stopped) + " that finished (stopped early)")
    text = "it shows " + ", and ".join(parts) if parts else "it shows no experiment"
    if empty:
        text += f"; not shown: {', '.join(empty)}"
    return text + (f"; not run: {', '.join(missing)}" if missing else "")
