"""Round 13: a value a preset set is named as the preset's when the optimizer refuses it,
and an optimizer class that cannot be made from its defaults is refused at register()."""

from __future__ import annotations

import pytest

from gdlab.optim import Optimizer, create, register


def test_a_refused_preset_value_names_the_preset():
    """``amsgrad=True`` with optax's amsgrad_corrected and form lr_t named
    amsgrad_corrected as if the user had given it."""
    with pytest.raises(ValueError, match="amsgrad_corrected") as caught:
        create("adam", preset="optax", form="lr_t", amsgrad=True)
    message = str(caught.value)
    assert message.startswith("amsgrad_corrected must be False when amsgrad=True and form='lr_t'")
    assert "preset 'optax' sets amsgrad_corrected = True" in message
    assert "give amsgrad_corrected yourself to override it" in message
    # given by the user: the error is theirs, as before
    with pytest.raises(ValueError, match="amsgrad_corrected") as caught:
        create("adam", preset="optax", form="lr_t", amsgrad=True, amsgrad_corrected=True)
    assert "preset" not in str(caught.value)
    # overridden: accepted; and without amsgrad the preset's value has no effect
    assert create("adam", preset="optax", form="lr_t", amsgrad=True, amsgrad_corrected=False)
    assert create("adam", preset="optax", form="lr_t").amsgrad_corrected is True


class _NeedsLr(Optimizer):
    state_names = ()

    def __init__(self, lr, **options):
        super().__init__(lr, **options)

    def _step(self, params, grads, lr):
        return None


class _NeedsK(Optimizer):
    state_names = ()

    def __init__(self, lr=0.1, *, k, **options):
        super().__init__(lr, **options)
        self.k = k

    def _step(self, params, grads, lr):
        return None


@pytest.mark.parametrize(("cls", "argument"), [(_NeedsLr, "lr"), (_NeedsK, "k")])
def test_a_class_that_needs_an_argument_is_refused_at_register(cls, argument):
    """It was registered, and every race, tuning and experiment file using it then failed
    with a raw TypeError from create(name)."""
    expected = f"argument '{argument}' of {cls.__qualname__}.__init__ "
    with pytest.raises(TypeError, match=expected + r"\(registering 'needs'\) must have a default"):
        register("needs", lr_range=(1e-3, 1.0))(cls)
    from gdlab.optim import OPTIMIZERS

    assert "needs" not in OPTIMIZERS
