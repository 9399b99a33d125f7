"""Report figures' scales: what a learner would see on the page (nothing drawn on an edge)."""

from __future__ import annotations

import numpy as np

from gdlab.report import figures


def test_a_linear_axis_from_zero_keeps_close_values_off_its_frame() -> None:
    # a 30-step moons race evaluates once: accuracies 0.577, 0.577 and 0.583; the axis
    # ran from 0 to 0.5836, so the markers sat on the top frame, half cut off
    scale = figures.choose_scale([[0.5767], [0.5767], [0.5833]], log=False)
    assert scale.low == 0.0
    assert scale.fraction(np.array([0.5833]))[0] <= 0.96
    # still a little room, not a stretched axis
    assert scale.fraction(np.array([0.5833]))[0] >= 0.9


def test_a_linear_axis_that_crosses_zero_keeps_its_margins() -> None:
    scale = figures.choose_scale([[-1.0, 3.0]], log=False)
    assert scale.low < -1.0
    assert scale.high > 3.0
    assert scale.fraction(np.array([3.0]))[0] < 1.0


def test_a_function_race_with_exact_zero_losses_draws_them() -> None:
    """A run started at the minimum (all losses exactly 0) drew no curve: the log axis
    masked every value, while the legend still named it."""
    from gdlab.experiments import Experiment
    from gdlab.race import describe_problem, prepare, race

    def experiment(start):
        return Experiment.from_dict({
            "name": "zeros", "problem": {"kind": "function", "function": "bowl", "start": start},
            "training": {"steps": 5}, "optimizers": {"names": ["sgd"], "lr": {"sgd": 0.1}},
        })  # fmt: skip

    at_minimum = experiment([0, 0])
    runs = race(at_minimum, progress=False) + [
        {**r, "id": "from-one", "label": "from (1, 1)", "group": "from (1, 1)"}
        for r in race(experiment([1, 1]), progress=False)
    ]
    assert all(v == 0 for v in runs[0]["loss"])
    problem = describe_problem(at_minimum, prepare(at_minimum))
    fig = figures.loss_figure({"problem": problem, "runs": runs})
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    low, high = ax.get_ylim()
    assert low <= 0 < high
    assert max(runs[1]["loss"]) <= high
