"""A diverged run's reason says its loss in short numbers that still read above the
limit (it was the float's full repr beside a 3-digit limit)."""

from __future__ import annotations

import math

import pytest

from gdlab.train import DivergenceGuard


@pytest.mark.parametrize(
    ("limit", "loss", "words"),
    [
        (6.45e6, 10757059.26973601, "1.08e+07 is above 6.45e+06"),
        (6.45e6, 6450000.5, "6450000.5 is above 6.45e+06"),  # 3 digits would read "6.45e+06"
        (1e6, 1e14, "1e+14 is above 1e+06"),
        (1e6, math.inf, "inf is not finite"),
        (1e6, math.nan, "nan is not finite"),
    ],
)
def test_the_reason_says_the_loss_in_as_few_digits_as_read_above_the_limit(limit, loss, words):
    guard = DivergenceGuard(max_loss=limit)
    assert guard._words(loss) == words
    head, _, rest = words.partition(" is ")
    if rest.startswith("above"):
        assert float(head) > limit
