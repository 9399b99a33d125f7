"""Round 11: docs/training.md's divergence paragraph and docs/averages.md's tuned race
say what the code does (each test failed on the text before the fix)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gdlab import race as racing
from gdlab.experiments import load
from gdlab.optim import create
from gdlab.problems import FunctionProblem
from gdlab.train import fit

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _prose(name: str) -> str:
    """The page with its line breaks and list indentation folded into single spaces."""
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8"))


def test_a_divergence_the_evaluation_finds_keeps_the_step_that_blew_up():
    """SGD at lr 100 on the bowl: the evaluation after step 2 is past the guard, and
    params are where step 2 landed; evaluated less often, step 3's loss stops it, untaken."""
    runs = {
        every: fit(FunctionProblem("bowl"), create("sgd", lr=100.0), steps=50,
                   rng=np.random.default_rng(0), progress=False, evaluate_every=every)
        for every in (1, 1000)
    }  # fmt: skip
    for every, reason in ((1, "diverged by step 2: "), (1000, "diverged at step 3: ")):
        h = runs[every]
        assert (h.status, h.stopped_at) == ("diverged", 2)
        assert h.reason.startswith(reason)
        assert (float(h.params["x"]), float(h.params["y"])) == h.path[-1] == (-567.0, 79202.0)
    text = _prose("training.md")
    assert "Parameters stay as they were before the failing step" not in text
    assert "so that update is kept" in text
    assert 'the reason says "diverged by step stopped_at"' in text


def test_averages_md_says_a_tuned_race_counts_an_exact_loss_as_it_is():
    experiment = load("bowl")
    built = racing.prepare(experiment)
    assert all(racing.exact_loss(experiment, run, built) for run in experiment.runs)
    text = _prose("averages.md")
    assert "measures speed on the same kind of smoothed loss." not in text
    assert "smoothed loss where the loss is a noisy estimate" in text
    assert "on the loss as it is where it is exact" in text
