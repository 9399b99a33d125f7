"""Round 12, experiments: a group's Summary row, ``--lr`` on a label holding ``=``, the
file named once in an error. Each test failed before its fix."""

from __future__ import annotations

import pytest

from cli_run import gdlab
from gdlab import cli
from gdlab._checks import ConfigError
from gdlab.experiments import load

# --------------------------------------------------------------------------- --lr

#: A run whose label holds "=" (docs/experiments.md: "a label with `=`").
LABELLED = """\
[problem]
kind = "function"
[training]
steps = 2
[[runs]]
optimizer = "sgd"
lr = 0.5
[[runs]]
optimizer = "adam"
label = "Adam, β1 = 0.5"
beta1 = 0.5
"""


def _experiment(tmp_path, *argv: str):
    path = tmp_path / "labelled.toml"
    path.write_text(LABELLED, encoding="utf-8")
    args = cli.build_parser().parse_args(["race", str(path), *argv])
    return cli._experiment(args)[0]


def test_lr_takes_a_run_label_holding_an_equals_sign_as_set_does(tmp_path):
    by_lr = _experiment(tmp_path, "--lr", "Adam, β1 = 0.5=0.1")
    by_set = _experiment(tmp_path, "--set", "Adam, β1 = 0.5.lr=0.1")
    assert by_lr.runs[1].hyperparameters["lr"] == 0.1
    assert by_lr.runs == by_set.runs
    assert by_lr.runs[0].hyperparameters["lr"] == 0.5


def test_lr_still_reads_a_schedule_table_with_its_own_equals_signs(tmp_path):
    table = '{name = "cosine", lr0 = 0.2, decay_steps = 10}'
    experiment = _experiment(tmp_path, "--lr", f"sgd={table}")
    assert experiment.runs[0].hyperparameters["lr"] == {
        "name": "cosine",
        "lr0": 0.2,
        "decay_steps": 10,
    }


def test_lr_with_a_bad_value_names_the_label_as_typed(tmp_path, capsys):
    code, out, err = gdlab(["race", "bowl", "--lr", "Adam, β1=x"], capsys)
    assert code == 2
    assert out == ""
    assert "the learning rate of Adam, β1 must be a number" in err, err
    assert "got 'x'" in err, err


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "table",
    [
        'names = ["sgd"]\nlr = {adam = 0.1}\n',
        'names = ["sgd"]\n[optimizers.hyperparameters.adam]\n',
    ],
)
def test_a_key_not_in_names_names_the_file_once(tmp_path, table):
    path = tmp_path / "lr_not_in_names.toml"
    path.write_text(f'[problem]\nkind = "function"\n[training]\nsteps = 3\n[optimizers]\n{table}')
    with pytest.raises(ConfigError) as error:
        load(path)
    assert str(error.value).count("lr_not_in_names.toml") == 1, error.value
    assert "which is not in optimizers.names (sgd)" in str(error.value)


# --------------------------------------------------------------------------- groups

#: docs' grp.toml: SGD and Adam share a group, Momentum is its own.
GROUPED = {
    "problem": {"kind": "function"},
    "training": {"steps": 3},
    "runs": [
        {"optimizer": "sgd", "lr": 0.5, "group": "mix"},
        {"optimizer": "adam", "lr": 0.1, "group": "mix"},
        {"optimizer": "momentum", "lr": 0.1},
    ],
}


def _runs(seeds: int) -> list[dict]:
    """What the race records for GROUPED: final f 1.801 (SGD), 5.137 (Adam), 2.2 (Momentum)."""
    finals = {"SGD": 1.801, "Adam": 5.137, "Momentum": 2.2}
    return [
        {"id": f"{label.lower()}-seed{seed}", "label": label, "seed": seed, "status": "ok",
         "group": "mix" if label != "Momentum" else label,
         "steps": 3, "seconds": 0.0, "metrics": {"final_loss": final, "best_loss": final}}
        for seed in range(seeds) for label, final in finals.items()
    ]  # fmt: skip


@pytest.mark.parametrize("seeds", [1, 2])
def test_the_summary_ranks_each_run_of_a_group_as_the_terminal_does(seeds):
    from gdlab.report import html

    runs = _runs(seeds)
    rows = html._ranking_rows(runs)
    terminal = list(dict.fromkeys(r["label"] for r in cli.summary({"runs": runs})))
    assert [r["run"] for r in rows] == terminal == ["SGD", "Momentum", "Adam"]
    assert [r["seeds"] for r in rows] == [seeds] * 3  # a run's seeds, not runs × seeds
    assert [r["group"] for r in rows] == ["mix", None, "mix"]
    table = html._ranking(runs)
    assert "<td>SGD (in group mix)</td>" in table
    assert "<td>Momentum</td>" in table
    assert "(mix: SGD and Adam)" in table
    assert ">mix<" not in table  # no row of a mean over SGD and Adam


def test_the_description_names_the_runs_of_each_group():
    from gdlab.experiments import Experiment
    from gdlab.experiments.describe import text

    experiment = Experiment.from_dict(GROUPED)
    words = text(experiment)["description"]
    assert "each one curve in the figures" in words
    assert "mix: SGD and Adam." in words
    alone = Experiment.from_dict({**GROUPED, "runs": GROUPED["runs"][2:]})
    assert "Groups" not in text(alone)["description"]
