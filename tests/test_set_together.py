"""A command's ``--set``s make a run's optimizer together: a combination only the
changes together make is taken in any order, a value wrong whatever else changes is
refused at once, and a combination still wrong at the end is named by the change that
made it so (not by the last change, nor by the first the command gave)."""

from __future__ import annotations

import itertools

import pytest

from cli_run import gdlab
from gdlab import experiments
from gdlab._checks import ConfigError

MENDED = ["adam.form=lr_t", "adam.amsgrad=true", "adam.amsgrad_corrected=false"]
REFUSED = "amsgrad_corrected must be false when amsgrad=true and form='lr_t'"


def _together(sets: list[str], preset: str | None = "optax"):
    experiment = experiments.builtin("bowl")
    if preset is not None:
        experiment = experiment.with_preset(preset)
    steps = []
    for text in sets:
        key, _, typed = text.partition("=")
        value = experiments.parse_value(typed)
        steps.append(lambda e, k=key, v=value, w=f"--set {text}": e.set(k, v, where=w))
    return experiment.together(steps, where=" ".join(f"--set {t}" for t in sets))


@pytest.mark.parametrize("order", list(itertools.permutations(MENDED)))
def test_a_combination_the_changes_make_together_is_taken_in_any_order(order):
    adam = next(r for r in _together(list(order)).runs if r.optimizer == "adam")
    assert adam.hyperparameters == {
        "lr": 0.3,
        "form": "lr_t",
        "amsgrad": True,
        "amsgrad_corrected": False,
    }
    made = adam.make_optimizer()
    assert (made.form, made.amsgrad, made.amsgrad_corrected) == ("lr_t", True, False)


def test_the_command_line_takes_them_in_the_order_that_failed_before(cwd, capsys):
    argv = ["race", "bowl", "--preset", "optax", "--steps", "3", "--set", MENDED[1], "--set",
            MENDED[2], "--set", MENDED[0]]  # fmt: skip
    code, out, err = gdlab(argv, capsys)
    assert code == 0, err
    assert "Adam" in out


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        # form made it wrong: amsgrad alone, on optax's explicit form, was fine
        (["adam.amsgrad=true", "adam.form=lr_t"], "adam.form=lr_t"),
        (["adam.form=lr_t", "adam.amsgrad=true"], "adam.amsgrad=true"),
        # a later change elsewhere does not take the blame
        (["adam.form=lr_t", "adam.amsgrad=true", "training.steps=4"], "adam.amsgrad=true"),
        (["adam.form=lr_t", "adam.amsgrad=true", "sgd.lr=0.2"], "adam.amsgrad=true"),
        # nor does a change to the same run that leaves it wrong
        (["adam.form=lr_t", "adam.amsgrad=true", "adam.beta1=0.8"], "adam.amsgrad=true"),
    ],
)
def test_a_combination_still_wrong_is_named_by_the_change_that_made_it(sets, named):
    with pytest.raises(ConfigError) as caught:
        _together(sets)
    message = str(caught.value)
    assert message.startswith(f"--set {named}: runs[3] (Adam): {REFUSED}"), message
    assert "preset 'optax' sets amsgrad_corrected = true" in message


def test_mended_then_broken_again_is_named_by_the_later_change():
    sets = ["adam.form=lr_t", "adam.amsgrad=true", "adam.amsgrad_corrected=false",
            "adam.amsgrad_corrected=true"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"^--set adam\.amsgrad_corrected=true: runs\[3\]"):
        _together(sets)


@pytest.mark.parametrize(
    "sets",
    [
        ["adam.beta1=2", "adam.beta1=0.5"],  # wrong on its own: a later value does not hide it
        ["adam.beta1=2", "adam.eps=1e-3"],
        ["adam.beta1=2", "adam.form=lr_t", "adam.amsgrad=true"],
    ],
)
def test_a_value_wrong_on_its_own_is_refused_at_once(sets):
    with pytest.raises(ConfigError) as caught:
        _together(sets, preset=None)
    assert str(caught.value) == "--set adam.beta1=2: runs[3] (Adam): beta1 must be in [0, 1); got 2"


def test_a_preset_the_run_cannot_take_is_refused_at_once():
    with pytest.raises(ConfigError, match=r"^--set adam\.preset=nope: "):
        _together(["adam.preset=nope", "adam.beta1=0.5"], preset=None)


def test_two_runs_left_wrong_name_the_first_run_and_its_own_change():
    sets = ["adam.form=lr_t", "adamw.form=lr_t", "adamw.amsgrad=true", "adam.amsgrad=true"]
    experiment = experiments.builtin("bowl").select_optimizers(["adam", "adamw"])
    experiment = experiment.with_preset("optax")
    steps = [
        lambda e, t=t: e.set(t.partition("=")[0], experiments.parse_value(t.partition("=")[2]),
                             where=f"--set {t}")
        for t in sets
    ]  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        experiment.together(steps, where="all")
    assert str(caught.value).startswith(f"--set adam.amsgrad=true: runs[0] (Adam): {REFUSED}")
    # the experiment it started from is unchanged, and still makes its optimizers
    assert all("form" not in r.hyperparameters for r in experiment.runs)
    assert [r.make_optimizer().amsgrad for r in experiment.runs] == [False, False]


def test_a_file_keeps_its_own_words(tmp_path):
    """A file is read as a whole: a combination wrong there is named by the file."""
    path = tmp_path / "e.toml"
    path.write_text(
        'name = "e"\n[problem]\nkind = "function"\nfunction = "bowl"\n[training]\nsteps = 3\n'
        '[[runs]]\noptimizer = "adam"\npreset = "optax"\nform = "lr_t"\namsgrad = true\n'
    )
    with pytest.raises(ConfigError, match=REFUSED.replace("(", r"\(")) as caught:
        experiments.load(str(path), file=True)
    assert str(caught.value).startswith(str(path)), str(caught.value)
