"""``gdlab tour``: every seed experiment, and the plots, into one report.

Each experiment writes its own report into ``OUT/<name>/`` (as ``gdlab race
NAME --out OUT/NAME`` would); then ``OUT/index.html`` gathers their tables and
figures on one self-contained page. ``quick=True`` runs a tenth of the steps
or epochs (for a look, not for conclusions).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gdlab import experiments

__all__ = ["run"]


def _quick(config: dict[str, Any]) -> dict[str, Any]:
    training = config["training"]
    if "steps" in training:
        return experiments.override(config, steps=max(1, math.ceil(training["steps"] / 10)))
    if "epochs" in training:
        return experiments.override(config, epochs=max(1, math.ceil(training["epochs"] / 10)))
    return config


def run(
    out_dir: str | Path, *, quick: bool = False, progress: bool = True, command: str = ""
) -> Path:
    """Run the tour; return the path of the combined ``index.html``."""
    from gdlab.report import html

    out_dir = Path(out_dir)
    entries = []
    try:
        for name in experiments.BUILTIN:
            config = experiments.load(name)
            if quick:
                config = _quick(config)
            document = experiments.run(
                config, out_dir / name, command=command, progress=progress, figures=False
            )
            entries.append((document, experiments.report(document, out_dir / name), name))
        for kind in experiments.PLOTS:
            subdir = f"plot-{kind}"
            document = experiments.run_plot(kind, out_dir / subdir, command=command, figures=False)
            entries.append((document, experiments.report(document, out_dir / subdir), subdir))
    finally:
        if entries:
            html.write_tour(entries, out_dir, command=command)
    return out_dir / "index.html"
