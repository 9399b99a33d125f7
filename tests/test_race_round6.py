"""A race's own optimizers in worker processes: the module that registers one is
imported there; one that only this process knows is refused before any run."""

from __future__ import annotations

import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.race import race


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
    with pytest.raises(ConfigError, match=r"'main_only' is registered in this process "
                       r"only \(in __main__\).*workers=1"):  # fmt: skip
        race(_experiment(main_only_optimizer), workers=2, progress=False, out_dir=out)
    assert not out.exists()
    records = race(_experiment(main_only_optimizer), progress=False)  # inline: it runs
    assert [r["status"] for r in records] == ["ok", "ok"]


def test_a_large_two_feature_set_keeps_two_thousand_of_its_points(tmp_path):
    """A million moons would make a 76 MB results.json: the report keeps 2,000 points,
    evenly spaced, says how many the set has, and the boundary caption says so."""
    from gdlab.experiments import builtin
    from gdlab.race import describe_problem, prepare
    from gdlab.report.figures import _points_words

    experiment = builtin("moons").with_problem(n_samples=5_000)
    problem = prepare(experiment)
    described = describe_problem(experiment, problem)
    block = described["data"]
    train = problem.parts["train"]
    points = block["points"]
    assert points["of"] == train.n_samples > 2_000
    assert len(points["X"]) == len(points["y"]) == 2_000
    assert points["X"][0] == train.X[0].tolist()
    assert points["X"][-1] == train.X[-1].tolist()
    words = _points_words({"problem": described})
    shown = f"2,000 of the {train.n_samples:,} training points"
    assert words == f"{shown} (evenly spaced through the set)"

    small = builtin("moons")
    small_block = describe_problem(small, prepare(small))["data"]
    assert "of" not in small_block["points"]
    assert len(small_block["points"]["y"]) == prepare(small).parts["train"].n_samples
