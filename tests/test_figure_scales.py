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
