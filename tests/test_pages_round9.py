"""Round 9 of the pages: a figure can be read on a phone and opened full size, a tour's
ids are unique, the problem's line gives the validation part's size, and a tuned race's
comparison shows the chosen setting's validation scores and says which one chose it."""

from __future__ import annotations

import html as html_text
import importlib
import os
import re
import shutil
import struct
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gdlab.report import html

IN_CI = os.environ.get("CI", "").lower() == "true"


def _png(path: Path, width: int, height: int) -> None:
    """A valid grey PNG of ``width`` × ``height`` pixels (no matplotlib: fast)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xc0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _document(experiment: str = "bowl", **overrides: Any) -> dict[str, Any]:
    return {
        "schema": "gdlab.results/2",
        "experiment": experiment,
        "title": experiment.title(),
        "description": "",
        "status": "complete",
        "command": f"gdlab race {experiment}",
        "runs": [],
        **overrides,
    }


def _figures(out: Path, **widths: int) -> list[dict[str, Any]]:
    """A figure per name, its PNG ``width`` pixels wide, under ``out/figures``."""
    figures = []
    for name, width in widths.items():
        _png(out / "figures" / f"{name}.png", width, width // 2)
        figures.append({"name": name, "title": name.title(), "caption": "c",
                        "png": f"figures/{name}.png"})  # fmt: skip
    return figures


# --- 1. a figure on a phone: readable in a box that scrolls, a link to its full size ------


def test_a_figure_links_to_its_png_and_keeps_a_readable_width(tmp_path: Path) -> None:
    figures = _figures(tmp_path, wide=1254, small=300)
    page = html.render_report(_document(), figures, tmp_path, charts=False)
    boxes = re.findall(r'<div class="figure-scroll"([^>]*)>(.*?)</div>', page, flags=re.S)
    assert [attributes for attributes, _ in boxes] == [
        ' style="--readable: 1003px"',  # 0.8 of 1254: its 7 pt ticks stay 9 px high
        ' style="--readable: 240px"',
    ]
    for (_, inner), figure in zip(boxes, figures, strict=True):
        assert re.fullmatch(
            rf'<a class="full-size" href="{figure["png"]}" title="Open the full-size image '
            r'\(PNG\)"><img src="data:image/png;base64,[^"]+" alt="[^"]+" width="\d+" '
            r'height="\d+"><span class="hidden-text"> \(open the full-size image, PNG\)'
            r"</span></a>",
            inner,
        )
    # only a figure too wide for a phone says that it scrolls (and only there: CSS)
    assert page.count('<p class="scroll-hint">') == 1
    assert "may be wider than the screen: scroll it sideways, or select it for the full" in page


def test_an_inline_svg_links_to_its_png_too(tmp_path: Path) -> None:
    (figure,) = _figures(tmp_path, paths=1000)
    (tmp_path / "figures" / "paths.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="600pt" height="300pt"><g id="a"/></svg>'
    )
    figure["svg"] = "figures/paths.svg"
    page = html.render_report(_document(), [figure], tmp_path, inline="svg", charts=False)
    assert '<div class="figure-scroll" style="--readable: 800px"><a class="full-size" ' in page
    assert 'href="figures/paths.png" title="Open the full-size image (PNG)"><svg id=' in page


def _chromium() -> tuple[Any, str]:
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        sync_api = None
    binary = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if
         shutil.which(n)), None,
    )  # fmt: skip
    if sync_api is None or binary is None:
        if IN_CI:
            pytest.fail("playwright and Chromium are required in CI (CI=true)")
        pytest.skip("playwright or Chromium is not installed")
    return sync_api, binary


SEEN = """() => {
    const box = document.querySelector('.figure-scroll');
    const root = document.documentElement;
    return {
        image: document.querySelector('.figure-scroll img').getBoundingClientRect().width,
        box: [box.clientWidth, box.scrollWidth],
        page: [root.clientWidth, root.scrollWidth],
        hint: getComputedStyle(document.querySelector('.scroll-hint')).display,
    };
}"""


def test_on_a_phone_a_wide_figure_scrolls_in_its_box_and_opens_full_size(tmp_path: Path) -> None:
    sync_api, binary = _chromium()
    figures = _figures(tmp_path, wide=1254)
    index = html.write_report(_document(), figures, tmp_path, charts=False)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(index.as_uri())
            seen = page.evaluate(SEEN)
            assert seen["hint"] == "none"  # a wide screen: the figure fits its box
            assert seen["image"] == seen["box"][0] == seen["box"][1] == 1248
            page.set_viewport_size({"width": 390, "height": 800})
            seen = page.evaluate(SEEN)
            assert seen["image"] == 1003  # a phone: not shrunk to its 366 px
            assert seen["box"][1] > seen["box"][0]  # the box scrolls sideways ...
            assert seen["page"][1] == seen["page"][0]  # ... the page does not
            assert seen["hint"] == "block"
            for _ in range(40):  # the keyboard reaches the link; Enter opens the PNG
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.className") == "full-size":
                    break
            else:
                pytest.fail("no figure link is reachable with Tab")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert page.url == (tmp_path / "figures" / "wide.png").as_uri()
        finally:
            browser.close()


# --- 2. a tour's ids are unique ------------------------------------------------------------


def test_a_tours_figures_have_unique_ids_and_link_their_own_pngs(tmp_path: Path) -> None:
    entries = []
    for name in ("bowl", "moons", "command"):
        figures = _figures(tmp_path / name, loss=400, accuracy=400)
        entries.append((_document(name), figures, name))
    page = html.render_tour(entries, tmp_path, command="gdlab tour")
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    figure_ids = re.findall(r'<figure id="([^"]+)"', page)
    assert figure_ids == [
        "bowl-figure-loss", "bowl-figure-accuracy", "moons-figure-loss",
        "moons-figure-accuracy", "command-3-figure-loss", "command-3-figure-accuracy",
    ]  # fmt: skip
    # an experiment named as one of the page's own sections gets its own id, and the
    # contents point to it
    assert '<section id="command-3">' in page
    assert '<a href="#command-3">Command</a>' in page
    for link in re.findall(r'<a href="#([^"]+)"', page):
        assert link in ids
    links = re.findall(r'<a class="full-size" href="([^"]+)"', page)
    assert links[:3] == ["bowl/figures/loss.png", "bowl/figures/accuracy.png",
                         "moons/figures/loss.png"]  # fmt: skip


def test_a_single_reports_figure_ids_are_unchanged(tmp_path: Path) -> None:
    page = html.render_report(_document(), _figures(tmp_path, loss=400), tmp_path)
    assert '<figure id="figure-loss">' in page


# --- 3. the validation part's size ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"name": "mnist-train", "n_train": 180, "n_validation": 20, "n_test": 50},
         "data mnist-train: 180 train, 20 validation, 50 test"),
        ({"name": "mnist-train", "n_train": 200, "n_test": 50},  # older results
         "data mnist-train: 200 train, 50 test"),
    ],
)  # fmt: skip
def test_the_problem_line_gives_the_validation_parts_size(data, line) -> None:
    problem = {"name": "mnist", "kind": "mlp", "data": data}
    assert line in html._problem_line(problem)


# --- 4. the tuned comparison's validation scores ----------------------------------------


def _point(lr: float, loss: float, loss_std: float, acc: Any, acc_std: Any) -> dict[str, Any]:
    return {"hyperparameters": {"lr": lr}, "default": False, "mean_loss": loss,
            "std_loss": loss_std, "mean_accuracy": acc, "std_accuracy": acc_std,
            "diverged": 0, "failed": 0}  # fmt: skip


def _tuned_document(
    folds: int = 2, accuracy: bool = True, selected_by: str | None = None, points: bool = True
) -> dict[str, Any]:
    acc = (lambda v: v) if accuracy else (lambda v: None)
    configurations = {}
    for label, chosen, others in (
        ("SGD", _point(0.0316, 0.4317, 0.0035, acc(0.8795), acc(0.005)),
         [_point(0.01, 0.98, 0.085, acc(0.763), acc(0.017))]),
        ("Adam", _point(0.00316, 0.3762, 0.076, acc(0.914), acc(0.012)),
         [_point(0.001, 0.30, 0.02, acc(0.90), acc(0.01))]),
    ):  # fmt: skip
        best = {"hyperparameters": chosen["hyperparameters"], "lr": chosen["hyperparameters"]
                ["lr"], "mean": chosen["mean_loss"], "std": chosen["std_loss"],
                "accuracy": chosen["mean_accuracy"], "default": False}  # fmt: skip
        configurations[label] = {"optimizer": label.lower(), "tuned": ["lr"], "best": best,
                                 **({"points": [*others, chosen]} if points else {})}  # fmt: skip
    rows = [
        {"group": label, "seeds": 2, "diverged": 0, "failed": 0, "final_loss_mean": 0.39,
         "final_loss_std": 0.03, "test_accuracy_mean": 0.869 if accuracy else None,
         "test_accuracy_std": 0.004 if accuracy else None, "steps_to_target": 40,
         "within_10_percent": 0.25, "target_curve": "smoothed", "beta": 0.9}
        for label in configurations
    ]  # fmt: skip
    series = {"kind": "tuning", "metric": "validation loss", "folds": folds, "budget": 3,
              "method": "grid", "configurations": configurations, "comparison": rows,
              "target_loss": 0.389}  # fmt: skip
    if selected_by:
        series["selected_by"] = selected_by
    problem = {"name": "mnist" if accuracy else "boston", "kind": "mlp",
               "traits": ["data", "classifier"] if accuracy else ["data"]}  # fmt: skip
    return _document("mnist", problem=problem, series=series)


def _table(document: dict[str, Any]) -> tuple[list[str], dict[str, list[str]], str]:
    """The comparison's headers, its cells by configuration, and its words."""
    section = html._comparison(document["series"], document)
    heads = [html_text.unescape(h) for h in re.findall(r'data-type="[a-z]+">([^<]*)</', section)]
    cells = {}
    for row in re.findall(r"<tr data-index[^>]*>(.*?)</tr>", section):
        values = [html_text.unescape(c) for c in re.findall(r"<td[^>]*>([^<]*)</td>", row)]
        cells[values[0]] = values
    words = re.sub(r"\s+", " ", html_text.unescape(re.sub(r"<[^>]+>", " ", section)))
    return heads, cells, words


ACCURACY = "mean validation accuracy (loss breaks ties)"


def test_the_comparison_shows_the_chosen_settings_validation_loss_and_accuracy() -> None:
    heads, cells, words = _table(_tuned_document(selected_by=ACCURACY))
    assert heads[:6] == ["Configuration", "Tuned lr", "Validation loss",
                         "Validation acc. (chose\u00a0it)", "Default's validation acc.",
                         "Seeds"]  # fmt: skip
    assert cells["SGD"][2:4] == ["0.4317 ± 0.0035", "87.9% ± 0.5%"]  # its point's, not 76.3%
    assert cells["Adam"][2:4] == ["0.3762 ± 0.076", "91.4% ± 1.2%"]
    assert "Test acc." in heads  # the race's accuracy stays beside it
    assert (
        "Validation loss and accuracy: the chosen setting's scores in the tuning (mean ± "
        "standard deviation over its 2 folds); “(chose it)” marks the validation accuracy, "
        "the score that chose it, and the default's validation accuracy beside it shows "
        "that the choice is never worse."
    ) in words
    assert "it chose the best by mean validation accuracy (loss breaks ties)" in words


def test_a_hold_out_has_one_score_and_a_loss_that_chose_is_marked() -> None:
    heads, cells, words = _table(_tuned_document(folds=1, selected_by="mean validation loss"))
    assert heads[2:4] == ["Validation loss (chose\u00a0it)", "Validation acc."]
    assert cells["SGD"][2:4] == ["0.4317", "87.9%"]  # no "± 0" for a single score
    assert "(one score, on its hold-out); “(chose it)” marks the validation loss" in words


def test_a_regression_has_no_accuracy_column_and_a_2d_function_no_validation() -> None:
    heads, _, _ = _table(_tuned_document(accuracy=False, selected_by="mean validation loss"))
    assert "Validation loss (chose\u00a0it)" in heads
    assert not [h for h in heads if "acc." in h]
    function = _tuned_document(accuracy=False)
    function["problem"] = {"name": "bowl", "kind": "function", "traits": ["function2d"]}
    heads, _, words = _table(function)
    assert not [h for h in heads if h.startswith("Validation")]
    assert "Validation loss" not in words


def test_older_results_without_points_or_selection_show_what_best_keeps() -> None:
    heads, cells, words = _table(_tuned_document(points=False))
    assert heads[2:4] == ["Validation loss", "Validation acc."]  # what chose is not recorded
    assert cells["SGD"][2:4] == ["0.4317 ± 0.0035", "87.9%"]  # best keeps no accuracy spread
    assert "(chose it)" not in words
