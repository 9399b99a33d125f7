"""Round 12: a tuned race's comparison is per run, as its tuning and the Summary are, where
several runs share a ``group``; and the loss figure's words rank as the Summary does."""

from __future__ import annotations

import json

import pytest

from cli_run import gdlab
from gdlab.race import comparison
from gdlab.report import figures, html, schema

MIX = """\
name = "mixbowl"
seeds = 2

[problem]
kind = "function"
function = "bowl"
start = [-7.0, 2.0]

[training]
steps = 30

[[runs]]
optimizer = "sgd"
label = "SGD"
group = "mix"

[[runs]]
optimizer = "adam"
label = "Adam"
group = "mix"
"""


def _seed(label: str, seed: int, loss: list[float], group: str = "mix", **more) -> dict:
    return {"id": f"{label}-seed{seed}", "label": label, "group": group, "seed": seed,
            "status": "ok", "loss": loss, "metrics": {"final_loss": loss[-1]}, **more}  # fmt: skip


def test_the_comparison_has_a_row_per_run_of_a_group_with_its_tuned_setting():
    runs = [
        _seed("SGD", 0, [6.0, 5.0, 4.0]),
        _seed("Adam", 0, [6.0, 1.0, 0.5]),
        _seed("SGD", 1, [6.0, 5.0, 4.0]),
        _seed("Adam", 1, [6.0, 1.0, 0.5]),
    ]
    tuned = {
        "SGD": {"best": {"lr": 0.1}, "within_10_percent": 0.25},
        "Adam": {"best": {"lr": 1.0}, "within_10_percent": 0.5},
    }
    target, rows = comparison(runs, tuned, exact={"SGD", "Adam"})
    assert [(r["label"], r["group"], r["seeds"]) for r in rows] == [
        ("SGD", "mix", 2),
        ("Adam", "mix", 2),
    ]
    assert [r["lr"] for r in rows] == [0.1, 1.0]  # the tuning's, by label
    assert [r["within_10_percent"] for r in rows] == [0.25, 0.5]
    assert [r["final_loss_mean"] for r in rows] == [4.0, 0.5]  # not their mean, 2.25
    assert target == 4.0  # the highest of the runs' bests, SGD's, not a mean curve's
    assert [r["steps_to_target"] for r in rows] == [3, 2]


def test_a_row_of_a_report_made_before_labels_is_named_by_its_group():
    row = {"group": "SGD", "seeds": 1, "final_loss_mean": 1.0, "target_curve": "raw"}
    best = {"lr": 0.5, "hyperparameters": {"lr": 0.5}}
    series = {"kind": "tuning", "comparison": [row], "target_loss": 1.0,
              "configurations": {"SGD": {"best": best}}}  # fmt: skip
    text = html._comparison(series)
    assert '<td>SGD</td><td class="num" data-value="0.5">0.5</td>' in text  # its tuned lr


@pytest.mark.filterwarnings("ignore")
def test_a_tuned_race_of_a_group_compares_each_run_at_its_tuned_setting(tmp_path, capsys):
    path = tmp_path / "mix.toml"
    path.write_text(MIX, encoding="utf-8")
    tuned, raced = tmp_path / "T", tmp_path / "R"
    common = ["--workers", "1", "--quiet"]
    code, _, err = gdlab(["tune", str(path), "--budget", "4", "--out", str(tuned), *common], capsys)
    assert code == 0, err
    code, _, err = gdlab(["race", str(path), "--tuned", str(tuned), "--out", str(raced), *common],
                         capsys)  # fmt: skip
    assert code == 0, err
    document = json.loads((raced / "results.json").read_text(encoding="utf-8"))
    assert schema.errors(document) == []
    series = document["series"]
    chosen = {k: c["best"]["lr"] for k, c in series["configurations"].items()}
    rows = {r["label"]: r for r in series["comparison"]}
    assert set(rows) == {"SGD", "Adam"}  # not one row "mix" of their mean
    assert {label: row["lr"] for label, row in rows.items()} == chosen
    assert all(row["seeds"] == 2 and row["group"] == "mix" for row in rows.values())
    page = (raced / "index.html").read_text(encoding="utf-8")
    table = page[page.index('<table id="comparison-table"') :]
    table = table[: table.index("</table>")]
    assert "<td>SGD (in group mix)</td>" in table  # named as the Summary names it
    assert "<td>Adam (in group mix)</td>" in table
    assert "<td>mix</td>" not in table
    assert "<td>–</td>" not in table.split("</tr>")[1]  # SGD's row has its tuned lr


# --- the loss figure's words: the Summary ranks runs, not groups -------------------------


def _loss(label: str, seed: int, final: float, group: str, diverged: bool = False) -> dict:
    loss = [3.0, 2.0, final]
    return {
        "id": f"{label}-{seed}", "label": label, "group": group, "optimizer": "sgd",
        "hyperparameters": {"lr": 0.1}, "seed": seed,
        "status": "diverged" if diverged else "ok",
        "reason": "diverged at step 3: loss inf" if diverged else "",
        "stopped_at": 2 if diverged else None, "steps": 3, "loss": loss, "lr": [0.1] * 3,
        "epochs": [], "metrics": {"final_loss": None if diverged else final, "best_loss": final},
    }  # fmt: skip


_DATA = {"kind": "mlp", "name": "test", "traits": ["data"], "description": ""}


def test_the_loss_words_name_the_run_of_a_group_the_summary_ranks_after():
    runs = [
        *(_loss("GD", s, 1.333, "GD") for s in range(2)),
        _loss("SGD", 0, 0.9, "mix"),
        _loss("SGD", 1, 0.9, "mix"),
        _loss("Adam", 0, 0.5, "mix"),
        _loss("Adam", 1, 2.4, "mix", diverged=True),
    ]
    look = figures._loss_look_for({"problem": _DATA, "runs": runs})
    assert "mix ends at" in look
    assert "the Summary ranks Adam after the runs whose seeds all finished." in look
    assert "after the groups" not in look
    rows = html._ranking_rows(runs)  # which it does: SGD, of the same group, ranks first
    assert [r["run"] for r in rows] == ["SGD", "GD", "Adam"]


def test_the_loss_words_of_a_run_alone_in_its_curve_say_it():
    runs = [
        *(_loss("GD", s, 1.333, "GD") for s in range(2)),
        _loss("Mini-batch", 0, 0.5, "Mini-batch"),
        _loss("Mini-batch", 1, 2.4, "Mini-batch", diverged=True),
    ]
    look = figures._loss_look_for({"problem": _DATA, "runs": runs})
    assert "; the Summary ranks it after the runs whose seeds all finished." in look
