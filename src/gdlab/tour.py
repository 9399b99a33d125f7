"""``gdlab tour``: every seed experiment, and the plots, into one report.

Each experiment writes its own report into ``OUT/<name>/`` (as ``gdlab race
NAME --out OUT/NAME`` would); then ``OUT/index.html`` gathers their tables and
figures on one self-contained page. ``quick=True`` runs a tenth of the steps
or epochs (for a look, not for conclusions); each experiment keeps its seed's
title, marked "(quick)". ``gdlab tour`` writes a new ``OUT`` each time
(``gdlab-report/tour/<time>-<id>``): the individual reports of ``gdlab race``
are never touched.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from gdlab import experiments, race
from gdlab._checks import check_bool, check_int, fail
from gdlab.experiments import Experiment
from gdlab.experiments.describe import text

__all__ = ["run", "shortened"]


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


def run(
    out_dir: str | Path,
    *,
    quick: bool = False,
    progress: bool = True,
    command: str = "",
    workers: int = 1,
) -> Path:
    """Run the tour into ``out_dir``; return the path of the combined ``index.html``."""
    from gdlab.experiments.plots import PLOTS, run_plot
    from gdlab.report import html, write

    # checked before the first experiment writes its report
    quick = check_bool("quick", quick)
    progress = check_bool("progress", progress)
    workers = check_int("workers", workers, low=1)
    if not isinstance(out_dir, str | os.PathLike):
        fail("out_dir", "a path (str or os.PathLike)", out_dir, kind=TypeError)
    out_dir = Path(out_dir)
    entries = []
    try:
        for name in experiments.BUILTIN:
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
            subdir = f"plot-{kind}"
            document = run_plot(kind, out_dir / subdir, command=command, figures=False)
            entries.append((document, write(document, out_dir / subdir), subdir))
    finally:
        if entries:
            html.write_tour(entries, out_dir, command=command)
    return out_dir / "index.html"
