"""``gdlab play`` writes every minus sign of a number as "−" (U+2212), the exponent's
too: ``fmt`` replaced only the first "-", so −1.5e-7 kept an ASCII hyphen in its
exponent (on the axes, in the legend, in the readouts). Debian's Chromium, driven
by Playwright (skipped without it, but under ``CI=true``).
"""

from __future__ import annotations

import pytest

from play_serving import open_state, shot, wait_for

TWO = "window.gdlab.modes['2d']"
#: one quick optimizer: nothing to compile for long
RUNS = [{"optimizer": "sgd", "hyperparameters": {"lr": 0.1}}]


@pytest.fixture(scope="module")
def page():
    from play_serving import served_page

    with served_page() as served:
        yield served


def _fmt(page, values: list[float]) -> list[str]:
    return page.evaluate(
        """async (values) => {
        const util = await import('/static/js/util.js');
        return values.map((v) => util.fmt(v));
    }""",
        values,
    )


def test_every_minus_sign_of_a_number_is_a_minus_sign(page):
    open_state(page, {"m": "2d", "2d": {"r": RUNS, "n": 20}})
    values = [-1.5e-7, 1e-300, -1e-300, -2.5e5, 3e-5, -0.25, -float("inf")]
    assert _fmt(page, values) == ["−1.5e−7", "1e−300", "−1e−300", "−2.5e5", "3e−5", "−0.25", "−∞"]


def test_the_tick_labels_of_a_tiny_negative_range_have_no_hyphen(page):
    # y from −2e−4 to −1e−4: each y tick was labelled "−1.2e-4" and so on
    view = {"f": "bowl", "xl": [-5, 5], "yl": [-2e-4, -1e-4], "s": [1, -1.5e-4]}
    open_state(page, {"m": "2d", "2d": {"r": RUNS, "n": 20, **view}})
    wait_for(page, f"{TWO}?.idle && {TWO}.view.answer", 20.0)
    shot(page, "minus-tiny-negative-range", full_page=False)
    labels = page.evaluate(
        """() => [...document.querySelectorAll('#contour svg .axes text')]
            .map((t) => t.textContent).filter((text) => /[0-9]/.test(text))"""
    )
    y = [text for text in labels if "e" in text]  # the y ticks: −2e−4 to −1e−4
    assert len(y) >= 3, labels
    assert all(text.startswith("−") for text in y), labels
    assert all("e−" in text for text in y), labels
    assert not any("-" in text for text in labels), labels
