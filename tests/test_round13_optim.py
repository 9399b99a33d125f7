"""Round 13 (optimizers, tuning words, docs): Adam's refusal of amsgrad_corrected names
the combination it refuses (amsgrad=True with form 'lr_t'), which a preset's value with
amsgrad off never is; the Tuned comparison says "besides its default" only where the
default was not one of the grid's points; a class made without defaults is refused at
register(), an inherited constructor included; docs/schedules.md tells which pieces of a
torch SequentialLR a OneCycleLR changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_run import gdlab
from gdlab.optim import OPTIMIZERS, Optimizer, create, register
from gdlab.report import tuning_text

REFUSED = "amsgrad_corrected must be False when amsgrad=True and form='lr_t'"


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_the_refusal_names_the_combination_refused(name):
    with pytest.raises(ValueError, match="amsgrad_corrected") as caught:
        create(name, form="lr_t", amsgrad=True, amsgrad_corrected=True)
    assert str(caught.value) == f"{REFUSED} (the maximum over v̂ needs form='explicit'); got True"
    # amsgrad off: amsgrad_corrected has no effect, and is accepted in either form
    for form in ("lr_t", "explicit"):
        assert create(name, form=form, amsgrad_corrected=True).amsgrad_corrected is True
    assert create(name, form="explicit", amsgrad=True, amsgrad_corrected=True).amsgrad
    # from optax's preset: said to be the preset's
    with pytest.raises(ValueError, match="amsgrad_corrected") as caught:
        create(name, preset="optax", form="lr_t", amsgrad=True)
    assert str(caught.value).startswith(REFUSED)
    assert "; got True; preset 'optax' sets amsgrad_corrected = True" in str(caught.value)
    assert create(name, preset="optax", form="lr_t").amsgrad_corrected is True


def test_the_command_line_writes_the_refusal_as_typed(cwd, capsys):
    argv = ["race", "bowl", "--preset", "optax", "--set", "adam.form=lr_t", "--set",
            "adam.amsgrad=true"]  # fmt: skip
    code, _, err = gdlab(argv, capsys)
    assert code == 2
    assert "amsgrad_corrected must be false when amsgrad=true and form='lr_t'" in err, err
    assert "got true; preset 'optax' sets amsgrad_corrected = true" in err, err
    assert err.count("\n") == 1


def _old_series(points_by_label: dict, widened: int = 0, method: str = "grid") -> dict:
    """A tuning from before default_in_grid was recorded."""
    return {
        "kind": "tuning", "method": method, "budget": 4,
        "configurations": {
            label: {"tuned": ["lr"], "widened": widened, "points": [{}] * n}
            for label, n in points_by_label.items()
        },
    }  # fmt: skip


def test_an_old_widened_grid_is_not_said_to_have_tried_its_default_besides():
    """A widened grid's points cannot tell whether the default was one of them: it was
    said to be tried "besides" them, also where it was one of them."""
    words = tuning_text._default_words(_old_series({"SGD": 9}, widened=2))
    assert words == ", its default tried too (among the points or besides them: not recorded)"
    assert "besides its default" not in tuning_text.search(_old_series({"SGD": 9}, widened=2))
    series = _old_series({"SGD": 4, "Adam": 7})
    series["configurations"]["Adam"]["widened"] = 1
    mixed = tuning_text._default_words(series)
    assert mixed == ", its default tried too (one of the grid's points for SGD)"


def test_what_can_be_told_is_said_as_before():
    assert tuning_text._default_words(_old_series({"SGD": 4})) == ", including its default"
    assert tuning_text._default_words(_old_series({"SGD": 5})) == ", besides its default"
    random = _old_series({"SGD": 4}, method="random")
    assert tuning_text._default_words(random) == ", besides its default"
    recorded = _old_series({"SGD": 9}, widened=2)
    recorded["configurations"]["SGD"]["default_in_grid"] = True
    assert tuning_text._default_words(recorded) == ", including its default"


class _Inherited(Optimizer):
    """No constructor of its own: Optimizer's, whose lr has no default."""

    state_names = ()

    def _step(self, params, grads, lr):
        return None


def test_an_inherited_constructor_without_a_default_is_refused():
    with pytest.raises(TypeError, match=r"argument 'lr' of .* must have a default \(lr=0.01"):
        register("inherits", lr_range=(1e-3, 1.0))(_Inherited)
    assert "inherits" not in OPTIMIZERS


def test_the_schedules_doc_says_which_pieces_onecycle_changes():
    text = Path(__file__).parent.parent.joinpath("docs", "schedules.md").read_text("utf-8")
    text = " ".join(text.split())
    assert "So pieces before it change too, not only those after it" in text
    assert "the first piece starts from 0.008 even when it was built before it" in text
    assert "every piece built after it takes 0.008 as its base rate" in text
    assert "a piece built before it that is neither the first" in text
    assert "so every piece, before or after it, starts from that rate" not in text
