"""``gdlab play``'s numbers keep the digits ``fmt`` promises in both of its forms.

``fmt(value, digits)`` wrote ``digits`` significant digits in plain form but one fewer
in exponent form (``toExponential(digits − 2)``): 1.2346e−5 became "1.23e−5" beside
"0.1235", and the stop reason's search for enough digits to show a loss above its limit
jumped a digit at a time in one form and not the other. Debian's Chromium, driven by
Playwright (skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import pytest

from play_serving import open_state

RUNS = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page() as served:
        yield served


def _fmt(page, pairs: list[tuple[float, int]]) -> list[str]:
    return page.evaluate(
        """async (pairs) => {
        const util = await import('/static/js/util.js');
        return pairs.map(([v, d]) => util.fmt(v, d));
    }""",
        pairs,
    )


def test_both_forms_keep_the_same_significant_digits(page):
    open_state(page, {"m": "2d", "2d": {"r": RUNS, "n": 20}})
    pairs = [(1.23456e-5, 4), (0.123456, 4), (123456.0, 4), (1.23456e-5, 6), (-9.87654e7, 3),
             (1.5e-7, 4), (2e5, 4), (1.23456e-5, 1)]  # fmt: skip
    assert _fmt(page, pairs) == [
        "1.235e−5", "0.1235", "1.235e5", "1.23456e−5", "−9.88e7", "1.5e−7", "2e5", "1e−5",
    ]  # fmt: skip
