"""gdlab.testing.check_optimizer: every registered optimizer passes; broken ones are caught."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.optim import OPTIMIZERS, register, unregister
from gdlab.optim.optimizers import SGD, Adam
from gdlab.testing import CHECKS, check_optimizer


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_registered_optimizer_passes(name):
    report = check_optimizer(name)
    assert report.passed_checks == list(CHECKS)


class _LeakyState(Adam):
    """Adam whose state_dict forgets the second moment."""

    def state_dict(self):
        out = super().state_dict()
        for bufs in out["state"].values():
            bufs["exp_avg_sq"] = np.zeros_like(bufs["exp_avg_sq"])
        return out


class _Allocating(SGD):
    """SGD that builds a temporary the size of the parameters every step."""

    def _step(self, params, grads, lr):
        for key, p in params.items():
            p -= lr * grads[key]


class _Lax(SGD):
    """SGD that accepts any weight decay, NaN included."""

    def __init__(self, lr=1e-3, *, weight_decay=0.0, **options):
        super().__init__(lr, **options)
        self.weight_decay = weight_decay


class _Stuck(SGD):
    """Never moves."""

    def _step(self, params, grads, lr):
        pass


@pytest.mark.parametrize(
    ("cls", "failing"),
    [
        (_LeakyState, {"round trip"}),
        (_Allocating, {"allocation", "kernels"} - {"kernels"}),
        (_Lax, {"arguments"}),
        (_Stuck, {"convergence"}),
    ],
)
def test_a_broken_optimizer_fails_the_check_that_catches_it(cls, failing):
    name = cls.__name__.strip("_").lower()
    register(name, lr_range=(1e-3, 1.0), replace=True)(cls)
    try:
        report = check_optimizer(cls, raise_on_failure=False)
        assert set(report.failures) == failing, report.failures
        with pytest.raises(AssertionError, match=f"optimizer '{name}' fails"):
            report.raise_if_failed()
    finally:
        unregister(name)


def test_an_unregistered_class_fails_the_registry_check():
    class Loose(SGD):
        pass

    report = check_optimizer(Loose, checks=("registry",), raise_on_failure=False)
    assert "registry" in report.failures


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match=r"optimizer must be one of .*; got 'adamm'"):
        check_optimizer("adamm")
    with pytest.raises(TypeError, match="an Optimizer subclass or a name"):
        check_optimizer(42)
    with pytest.raises(ValueError, match=r"checks must be among .*; got 'speed'"):
        check_optimizer("sgd", checks=("speed",))
