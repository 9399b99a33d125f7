"""Round 12 (tuning): a race refuses a tuning whose tasks failed; a report run again
after its tuning chose otherwise says so; a run whose every candidate diverged is
flagged in the table; widening stays on the decimal grid; the table's missing
spread is "-"."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gdlab import cli, selection, tuning
from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.experiments.model import Experiment
from test_tuning_round9 import steeper  # every rate down to the hard bound 1e-6 diverges


def _bowl(steps: int = 5) -> Experiment:
    return builtin("bowl").select_optimizers(["sgd"]).merge_training(steps=steps)


def _failing_above(monkeypatch, lr: float) -> None:
    """Tasks of a rate above ``lr`` raise, as a plug-in optimizer that fails for large
    rates does."""
    inner = tuning.tune_task

    def flaky(**kwargs):
        if kwargs["hyperparameters"]["lr"] > lr:
            raise RuntimeError(f"flaky failure at lr {kwargs['hyperparameters']['lr']}")
        return inner(**kwargs)

    monkeypatch.setattr(tuning, "tune_task", flaky)


# ------------------------------------------------------------------ F1: failed tasks


def test_a_race_refuses_a_tuning_whose_tasks_failed_until_it_is_resumed(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with monkeypatch.context() as patched:
        _failing_above(patched, 0.05)
        document = tuning.tune(_bowl(), Path("T"), budget=4, progress=False)
    assert document["failed"]
    sgd = document["configurations"]["SGD"]
    assert sgd["best"] is not None  # chosen among the candidates that were scored
    unscored = sum(1 for p in sgd["points"] if p["failed"])
    assert unscored >= 1
    expected = (
        f"T is an unfinished tuning: SGD has {unscored} of its {len(sgd['points'])} "
        "candidates unscored (their tasks failed: tune.json's 'failed' list names them), "
        "so the choice was not compared with them; run the same `gdlab tune` command "
        "again to resume it (the failed tasks run again), then race"
    )
    with pytest.raises(ConfigError) as caught:
        tuning.apply_tuned(_bowl(), tuning.load_tuned("T"), source="T")
    assert str(caught.value) == expected
    race = ["race", "bowl", "--optimizers", "sgd", "--steps", "5", "--tuned", "T",
            "--seeds", "1", "--no-figures", "--quiet", "--out", "R"]  # fmt: skip
    capsys.readouterr()
    assert cli.main(race) == 2
    err = capsys.readouterr().err
    assert err == f"gdlab: error: {expected}\n"  # one line
    assert not Path("R").exists()
    # the same tuning resumed without the failure: finished, and raced
    again = tuning.tune(_bowl(), Path("T"), budget=4, progress=False)
    assert again["failed"] == []
    assert cli.main(race) == 0


def test_a_report_whose_tuning_now_chooses_otherwise_says_so_not_tuned_again(tmp_path, monkeypatch):
    """A resumed tuning whose choice changed is the same tuning (the same settings): the
    report run again says what it chooses now, not that it was tuned again."""
    monkeypatch.chdir(tmp_path)
    experiment = _bowl()
    document = tuning.tune(experiment, Path("T"), budget=4, progress=False)
    raced, notes = tuning.apply_tuned(experiment, document, source=Path("T"))
    raced = raced.replace(
        tuned=" ".join(notes),
        tuned_from=str(tmp_path / "T"),
        tuned_digest=tuning.tuned_digest(document),
    )
    assert tuning.rebuilt_series(raced) == (tuning.series(document), None)
    chosen = document["configurations"]["SGD"]["best"]["hyperparameters"]["lr"]
    other = next(
        p for p in document["configurations"]["SGD"]["points"]
        if p["hyperparameters"]["lr"] != chosen and not p["default"]
    )  # fmt: skip
    changed = json.loads(Path("T/tune.json").read_text(encoding="utf-8"))
    changed["configurations"]["SGD"]["best"] = tuning._best_block(other)
    Path("T/tune.json").write_text(json.dumps(changed), encoding="utf-8")
    assert tuning.tuned_digest(changed) != raced.tuned_digest
    series, why = tuning.rebuilt_series(raced)
    assert series is None
    lr = other["hyperparameters"]["lr"]
    assert why == (
        f"this race is not what the tuning in {tmp_path / 'T'} chose (tuning → race: "
        f"SGD: lr: {lr:g} → {chosen:g})"
    )


# ------------------------------------------------------------------ F2: all diverged


def test_a_run_whose_every_candidate_diverged_is_flagged_in_the_table(tmp_path):
    document = tuning.tune(steeper(), tmp_path / "T", budget=4, progress=False)
    sgd = document["configurations"]["SGD"]
    assert sgd["best"] is None
    assert sgd["within_10_percent"] is None  # no chosen score to be near
    assert json.loads((tmp_path / "T" / "tune.json").read_text())["configurations"]["SGD"][
        "within_10_percent"
    ] is None  # fmt: skip
    table = cli._tune_table(document).splitlines()
    headers = table[0].split()
    row = cli._tune_row("SGD", sgd)
    columns = ["run", "chosen", "default?", "val. loss", "±", "val. accuracy",
               "default's loss", "default's acc.", "within 10%", "diverged", "notes"]  # fmt: skip
    cell = dict(zip(columns, row, strict=True))
    assert headers[:3] == ["run", "chosen", "default?"]
    assert cell["chosen"] == "-"
    assert cell["default?"] == "-"  # nothing chosen: not "no"
    assert cell["within 10%"] == "-"  # not "0%"
    assert cell["±"] == "-"  # F4: a missing spread as its neighbours say it, not "—"
    assert cell["notes"].startswith("every candidate diverged, down to lr 1e-06: no tuned setting")
    assert cell["diverged"] == f"{len(sgd['points'])}/{len(sgd['points'])}"
    assert "every candidate diverged, down to lr 1e-06: no tuned setting" in table[2]


def test_a_run_that_chose_nothing_for_failures_says_no_tuned_setting_beside_them():
    configuration = {
        "best": None, "default": {"mean_loss": None}, "within_10_percent": None,
        "points": [{"hyperparameters": {"lr": 0.1}, "diverged": 0, "failed": 1}],
    }  # fmt: skip
    assert tuning.untuned_note(configuration) == "no tuned setting"
    assert cli._tune_row("SGD", configuration)[-1] == "no tuned setting; 1 failed"


def test_a_single_scores_spread_is_a_hyphen_like_its_neighbours(tmp_path):
    """A 2-D function's final loss is one score: no spread, shown "-" as docs/tuning.md says;
    the terminal's table leaves out the columns a function cannot fill (spread, accuracy)
    and calls its score the final loss, not a validation loss."""
    document = tuning.tune(_bowl(), tmp_path / "T", budget=2, progress=False)
    head, _, row = cli._tune_table(document).splitlines()
    assert cli._tune_row("SGD", document["configurations"]["SGD"])[4] == "-"
    assert "—" not in row
    assert re.split(r"\s{2,}", head.strip()) == [
        "run", "chosen", "default?", "final loss", "default's loss", "within 10%", "diverged",
        "notes",
    ]  # fmt: skip


# ------------------------------------------------------------------ F3: decimal widening


def test_widening_round_after_round_stays_on_the_decimal_grid():
    """Steps of 0.2 decades below a grid's 1e-3, each round from the last round's best,
    reach 1e-4 and 1e-5 exactly, and write one mantissa one way in every decade."""
    points = [{"lr": 0.1}, *({"lr": x} for x in selection.LogUniform(1e-3, 1.0).grid(16))]
    for _ in range(8):
        best = min(points, key=lambda p: p["lr"])
        new, _ = tuning._widen(points, best, ["lr"], {"lr": 3 / 15})
        points += new
    widened = sorted(p["lr"] for p in points[17:])
    assert 1e-4 in widened
    assert 1e-5 in widened
    assert widened[0] == 1e-6  # the hard bound
    mantissas = {}
    for x in widened:
        digits = f"{x:.14e}".split("e")[0]
        mantissas.setdefault(round(math.log10(x) % 1, 6), set()).add(digits)
    assert all(len(written) == 1 for written in mantissas.values()), mantissas
    assert tuning._stepped(1e-3, -0.2) == 6.30957344480193e-4
    assert tuning._stepped(1e-3, -1.2) == 6.30957344480193e-5
    assert tuning._stepped(0.3, 1.0) == 3.0


def test_an_off_grid_default_widens_from_itself():
    """A value on no other value's steps (an untuned default 0.95) counts its own."""
    points = [{"lr": 0.95}, {"lr": 1e-3}, {"lr": 0.1}]
    assert tuning._anchor(0.95, [p["lr"] for p in points], 0.2) == (0.95, 0)
    assert tuning._anchor(1e-5, [p["lr"] for p in points], 0.2) == (1e-3, -10)
    new, _ = tuning._widen(points, points[0], ["lr"], {"lr": 0.2})
    assert [p["lr"] for p in new] == [tuning._stepped(0.95, 0.2), tuning._stepped(0.95, 0.4)]


def test_a_tuning_that_widens_five_steps_below_its_grid_tries_1e_4_exactly(registered, tmp_path):
    from gdlab.optim import register

    @register("ascend_r12t", lr_range=(1e-3, 1.0))
    def ascend_r12t(p, g, state, t, *, lr=0.1):
        """Gradient ascent: a smaller rate is always better."""
        p += lr * g

    registered.append("ascend_r12t")
    experiment = builtin("bowl").select_optimizers(["ascend_r12t"])
    document = tuning.tune(experiment, tmp_path / "T", budget=16, progress=False)
    (configuration,) = document["configurations"].values()
    rates = sorted(p["hyperparameters"]["lr"] for p in configuration["points"])
    assert 1e-4 in rates
    assert 1e-5 in rates
    widened = [x for x in rates if x < 1e-3]
    assert all(f"{x:.15g}" == repr(x) for x in widened), widened  # 15 digits, no drift
