"""Round 13, the interactive charts as the figures: a 2-D race's group of several runs draws
every run's path in the group's style under one legend entry (it drew the group's first
run only, named by the group), and the sensitivity chart colours each tuned run as the
other charts do (it took colours from the tuning's configurations, in their order)."""

from __future__ import annotations

from typing import Any

import pytest

from gdlab.report import figures, interactive
from test_round13_figures import grouped, tuned_subset  # noqa: F401 (fixtures)


def _chart(results: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in interactive.charts(results) if c["figure"] == name)


def test_the_overlay_chart_draws_every_run_of_a_group(grouped):  # noqa: F811
    chart = _chart(grouped, "overlay")
    paths = [t for t in chart["traces"] if t.get("mode", "").startswith("lines") and "stride" in t]
    by_group: dict[str, list[dict[str, Any]]] = {}
    for t in paths:
        by_group.setdefault(t["legendgroup"], []).append(t)
    assert {g: len(ts) for g, ts in by_group.items()} == {"plain": 3, "adaptive": 2, "Momentum": 1}
    styles = figures.group_styles(grouped["runs"])
    for group, traces in by_group.items():
        assert {t["line"]["color"] for t in traces} == {styles[group].color}
        assert sum(t["showlegend"] for t in traces) == 1  # one legend entry a group
    shown = {t["name"] for t in paths if t["showlegend"]}
    assert shown == {"plain (3 runs)", "adaptive (2 runs)", "Momentum"}
    metas = sorted(t["meta"] for t in by_group["plain"])  # each run named in its hover
    assert metas == ["SGD fast", "SGD slow", "SGD wild (diverged by step 2)"]
    assert chart["legend"] == ["plain", "adaptive", "Momentum"]


def test_the_sensitivity_chart_colours_each_run_as_the_other_charts(tuned_subset):  # noqa: F811
    results, _ = tuned_subset
    colors = figures.group_colors(results["runs"])
    chart = _chart(results, "sensitivity")
    lines = {t["legendgroup"]: t["line"]["color"] for t in chart["traces"]
             if t.get("showlegend") and t.get("line")}  # fmt: skip
    assert {k: v for k, v in lines.items() if k in colors} == colors
    assert set(colors) <= set(lines)


@pytest.mark.parametrize("name", ["overlay"])
def test_a_race_of_one_run_per_group_keeps_its_legend(tuned_subset, name):  # noqa: F811
    results, _ = tuned_subset
    chart = _chart(results, name)
    shown = [t["name"] for t in chart["traces"] if t.get("showlegend") and "stride" in t]
    assert sorted(shown) == ["Adam", "SGD"]


def test_the_2d_loss_chart_draws_each_groups_mean_and_its_lone_diverged_run(grouped):  # noqa: F811
    """It drew every run of a group apart, where the figure draws their mean and band."""
    chart = _chart(grouped, "loss")
    plain = [t for t in chart["traces"] if t["legendgroup"] == "plain"]
    lines = [t for t in plain if t.get("mode") != "markers"]
    assert len(lines) == 2  # the mean of the two that did not diverge, the one that did
    mean = next(t for t in lines if t.get("band"))
    assert mean["meta"] == "plain: mean of 2 runs"
    assert mean["showlegend"]
    low, high = mean["band"]["low"], mean["band"]["high"]
    finals = sorted(r["metrics"]["final_loss"] for r in grouped["runs"]
                    if r["group"] == "plain" and r["status"] != "diverged")  # fmt: skip
    assert low[-1] == pytest.approx(finals[0], rel=1e-4)
    assert high[-1] == pytest.approx(finals[1], rel=1e-4)
    assert mean["y"][-1] == pytest.approx(sum(finals) / 2, rel=1e-4)
    alone = next(t for t in lines if not t.get("band"))
    assert alone["meta"].startswith("SGD wild")
    assert not alone["showlegend"]
    assert [t["marker"]["symbol"] for t in plain if t.get("mode") == "markers"] == ["x-thin"]
    adaptive = [t for t in chart["traces"] if t["legendgroup"] == "adaptive"]
    assert len(adaptive) == 1
    assert adaptive[0]["band"]["kind"] == "minmax"
