"""The interactive EWMA chart's day axis is ticked by the calendar, as its figure is.

Its ticks were linear in the day's index (every 200 days: "2012-07-19", "2013-02-04"),
marks no calendar has; they are now New Years, months' firsts and days of a month
("2013", "Jul", "Jan 10"), the finest level that fits. Debian's Chromium draws the page
(skipped without it, but under ``CI=true``)."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

import pytest

from gdlab import cli


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return str(shutil.which(name))
    if os.environ.get("CI"):
        pytest.fail("Chromium is needed under CI=true (Debian's package chromium)")
    pytest.skip("no Chromium here")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    out = tmp_path_factory.mktemp("ewma") / "E"
    assert cli.main(["plot", "ewma", "--out", str(out), "--quiet"]) == 0
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        opened = browser.new_page(viewport={"width": 1280, "height": 900})
        opened.goto((out / "index.html").as_uri())
        opened.wait_for_function("document.body && document.body.dataset.chartsReady")
        yield opened
        browser.close()


def _x_labels(page: Any) -> list[str]:
    box = page.locator('.chart-box[data-chart="chart-ewma"]')
    box.scroll_into_view_if_needed()
    return box.locator('g.ticks text[text-anchor="middle"]').all_text_contents()


CALENDAR = re.compile(r"^(\d{4}|[A-Z][a-z]{2}( \d{1,2})?( \d{4})?)$")


def test_every_day_is_ticked_at_new_years_and_half_years(page: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator('.chart-box[data-chart="chart-ewma"] button', has_text="Every day").click()
    assert _x_labels(page) == ["2012", "Jul", "2013", "Jul", "2014", "Jul", "2015", "Jul"]


def test_the_first_60_days_are_ticked_by_days_of_the_month(page: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator('.chart-box[data-chart="chart-ewma"] button', has_text="First 60 days").click()
    labels = _x_labels(page)
    assert labels[:4] == ["2012", "Jan 10", "Jan 20", "Feb"]
    assert all(CALENDAR.match(text) for text in labels), labels


def test_a_phone_keeps_calendar_marks_with_fewer_of_them(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 900})
    page.locator('.chart-box[data-chart="chart-ewma"] button', has_text="Every day").click()
    labels = _x_labels(page)
    for _ in range(100):  # the resize redraws the chart (a ResizeObserver's callback): wait for it
        if len(labels) <= 4:
            break
        page.wait_for_timeout(100)
        labels = _x_labels(page)
    assert 2 <= len(labels) <= 4
    assert all(re.fullmatch(r"\d{4}", text) for text in labels), labels


def test_a_view_without_a_new_year_names_its_year_on_the_first_tick(page: Any) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.evaluate(
        """() => { const chart = window.gdlabCharts.charts["chart-ewma"];
                   chart.view.x = [100, 250]; chart.render(); }"""
    )
    labels = _x_labels(page)
    assert labels[0] in ("May 2012", "Apr 20 2012", "Apr 10 2012"), labels
    assert not any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) for text in labels)


def test_a_few_days_between_two_marks_keep_ticks(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 900})
    page.evaluate(
        """() => { const chart = window.gdlabCharts.charts["chart-ewma"];
                   chart.view.x = [401, 408]; chart.render(); }"""
    )
    labels = _x_labels(page)
    assert len(labels) >= 2, labels
    assert labels[0] == "Feb 5 2013", labels  # day 401 is 2013-02-05
