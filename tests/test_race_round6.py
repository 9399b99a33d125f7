"""A race's own optimizers in worker processes: the module that registers one is
imported there; one that only this process knows is refused before any run."""

from __future__ import annotations

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.optim import register, unregister
from gdlab.race import race


@pytest.fixture
def own_optimizer():
    """``halving_round6``, registered by importing a module of the tests (as a user's own)."""
    import importlib
    import sys

    module = importlib.import_module("own_optimizer_module")
    yield module.NAME
    unregister(module.NAME)
    sys.modules.pop("own_optimizer_module", None)


@pytest.fixture
def main_only_optimizer():
    """An optimizer whose rule lives in ``__main__`` (a notebook, ``python -c``)."""

    def rule(p, g, state, t, *, lr=0.1):
        p -= lr * g

    rule.__module__ = "__main__"
    register("main_only_round6", lr_range=(1e-3, 1.0))(rule)
    yield "main_only_round6"
    unregister("main_only_round6")


def _experiment(name):
    return builtin("bowl").select_optimizers([name, "sgd"]).merge_training(steps=5)


def test_a_pool_imports_the_module_that_registered_the_optimizer(own_optimizer, tmp_path):
    inline = race(_experiment(own_optimizer), progress=False)
    pooled = race(_experiment(own_optimizer), workers=2, progress=False, out_dir=tmp_path)
    assert [r["status"] for r in pooled] == ["ok", "ok"], [r["reason"] for r in pooled]
    assert [r["loss"] for r in pooled] == [r["loss"] for r in inline]


def test_an_optimizer_only_this_process_knows_is_refused_before_any_run(
    main_only_optimizer, tmp_path
):
    out = tmp_path / "race"
    with pytest.raises(ConfigError, match=r"'main_only_round6' is registered in this process "
                       r"only \(in __main__\).*workers=1"):  # fmt: skip
        race(_experiment(main_only_optimizer), workers=2, progress=False, out_dir=out)
    assert not out.exists()
    records = race(_experiment(main_only_optimizer), progress=False)  # inline: it runs
    assert [r["status"] for r in records] == ["ok", "ok"]
