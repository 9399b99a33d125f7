"""Round 10: int and bool tunables, the registering module, keys an optimizer may not
take, the guide's rule and class in float32, declared ranges checked and shown."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gdlab._checks import ConfigError
from gdlab.experiments import builtin
from gdlab.experiments.model import RUN_KEYS, TOP_KEYS
from gdlab.optim import OPTIMIZERS, Optimizer, create, register, unregister
from gdlab.optim.registry import registering_module
from gdlab.sweep import import_modules, registering_modules

DOC = Path(__file__).resolve().parent.parent / "docs" / "your-optimizer.md"


def _plain_rule(p, g, state, t, *, lr=0.1):
    p -= lr * g


# --------------------------------------------------------------------------- 1: int and bool


def _hbk(p, g, state, t, *, lr=0.1, k=3, flag=False):
    assert type(k) is int, k  # as the optimizer keeps it
    assert type(flag) is bool, flag
    p -= (lr / k) * g


@pytest.mark.parametrize("method", ["grid", "random"])
def test_int_and_bool_tunables_stay_int_and_bool_into_the_optimizer_and_tune_json(
    registered, tmp_path, method
):
    from gdlab.tuning import tune

    tunable = {"k": {"values": (1, 2, 4)}, "flag": {"values": (False, True)}}
    register("hbk_r10", lr_range=(1e-3, 1.0), tunable=tunable)(_hbk)
    registered.append("hbk_r10")
    experiment = builtin("bowl").select_optimizers(["hbk_r10"]).merge_training(steps=5)
    document = tune(experiment, tmp_path / "T", budget=6, folds=1, tune=("lr", "k", "flag"),
                    method=method, progress=False)  # fmt: skip
    (configuration,) = document["configurations"].values()
    points = configuration["points"]
    assert len(points) > 2
    assert all(p["failed"] == 0 for p in points), points
    assert points[0]["default"]
    assert points[0]["hyperparameters"] == {"lr": 0.1, "k": 3, "flag": False}
    for point in points:
        hp = point["hyperparameters"]
        assert type(hp["k"]) is int, hp
        assert type(hp["flag"]) is bool, hp
        assert type(hp["lr"]) is float
    text = (tmp_path / "T" / "tune.json").read_text()
    assert re.findall(r'"k": [\d.]+', text)
    assert not re.findall(r'"k": \d+\.', text)
    assert not re.findall(r'"flag": [\d.]+', text)


# --------------------------------------------------------------------------- 2: registering module


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """``defs_r10`` defines a rule; ``regs_r10`` imports it and registers it as
    ``elsewhere_r10``: the rule's module is not the one that registers it."""
    (tmp_path / "defs_r10.py").write_text(textwrap.dedent("""
        import numpy as np

        def plainrule(p, g, state, t, *, lr=0.01):
            p -= lr * np.sign(g)
    """))  # fmt: skip
    (tmp_path / "regs_r10.py").write_text(textwrap.dedent("""
        import defs_r10
        from gdlab.optim import register

        register("elsewhere_r10", lr_range=(1e-4, 1e-1))(defs_r10.plainrule)
    """))  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("regs_r10")
    yield "elsewhere_r10"
    unregister("elsewhere_r10")
    for module in ("regs_r10", "defs_r10"):
        sys.modules.pop(module, None)


def test_the_registering_module_is_the_one_that_called_register_not_the_rules(elsewhere):
    assert OPTIMIZERS[elsewhere].__module__ == "defs_r10"  # the rule's own
    assert registering_module(elsewhere) == "regs_r10"
    assert registering_modules([elsewhere, "adam"], "race") == ["regs_r10"]


def test_a_pool_race_of_an_optimizer_registered_elsewhere_runs_every_run(elsewhere, tmp_path):
    from gdlab.race import race

    experiment = builtin("bowl").select_optimizers([elsewhere, "adam"]).merge_training(steps=5)
    records = race(experiment, workers=2, progress=False, out_dir=tmp_path / "R")
    assert [r["status"] for r in records] == ["ok", "ok"], [r["reason"] for r in records]


def test_a_register_call_in_a_function_is_this_process_only(registered):
    # no module's import repeats this call: a worker would not know the name
    register("in_function_r10", lr_range=(1e-3, 1.0))(_plain_rule)
    registered.append("in_function_r10")
    assert registering_module("in_function_r10") != __name__
    with pytest.raises(ConfigError, match=r"'in_function_r10' is registered in this process only"):
        registering_modules(["in_function_r10"], "race")


def test_a_module_loaded_from_a_path_workers_cannot_import_is_refused_up_front(tmp_path):
    path = tmp_path / "hidden" / "loose_r10.py"
    path.parent.mkdir()
    path.write_text(
        "from gdlab.optim import register\n\n"
        "@register('loose_r10', lr_range=(1e-4, 1e-1))\n"
        "def loose_r10(p, g, state, t, *, lr=0.01):\n    p -= lr * g\n"
    )
    spec = importlib.util.spec_from_file_location("loose_r10", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["loose_r10"] = module
    try:
        spec.loader.exec_module(module)
        assert registering_module("loose_r10") == "loose_r10"
        with pytest.raises(ConfigError, match=r"'loose_r10' is registered by module "
                           r"'loose_r10', which a worker process cannot import.*tune with "
                           r"workers=1"):  # fmt: skip
            registering_modules(["adam", "loose_r10"], "tune")
    finally:
        sys.modules.pop("loose_r10", None)
        if "loose_r10" in OPTIMIZERS:
            unregister("loose_r10")


def test_import_modules_returns_the_modules_it_cannot_import_and_why():
    failed = import_modules(["json", "no_such_module_r10"])
    assert list(failed) == ["no_such_module_r10"]
    assert failed["no_such_module_r10"].startswith("ModuleNotFoundError: No module named")


# --------------------------------------------------------------------------- 3: experiment keys


@pytest.mark.parametrize("key", [k for k in RUN_KEYS if k not in ("hyperparameters",)])
def test_a_hyperparameter_named_as_a_run_key_is_refused(key):
    namespace: dict = {}
    exec(f"def r(p, g, state, t, *, lr=0.1, {key}=1):\n    p -= lr * g", namespace)
    with pytest.raises(ValueError, match=rf"argument '{key}' of optimizer 'clash_r10' must "
                       r"be none of a run's own keys \(label, .*--set RUN\.KEY"):  # fmt: skip
        register("clash_r10", lr_range=(1e-3, 1.0))(namespace["r"])
    assert "clash_r10" not in OPTIMIZERS


def test_a_class_with_a_steps_argument_is_refused_too():
    class Stepped(Optimizer):
        def __init__(self, lr=0.1, steps=3, **options):
            super().__init__(lr, **options)
            self.steps = steps

        def _step(self, params, grads, lr):
            pass

    with pytest.raises(ValueError, match=r"argument 'steps' of optimizer 'stepped'"):
        register(lr_range=(1e-3, 1.0))(Stepped)
    assert "stepped" not in OPTIMIZERS


@pytest.mark.parametrize("name", TOP_KEYS)
def test_an_optimizer_named_as_an_experiment_key_is_refused(name):
    with pytest.raises(ValueError, match=rf"optimizer name must be none of an experiment's "
                       rf"top-level keys \(name, .*; got '{name}'"):  # fmt: skip
        register(name, lr_range=(1e-3, 1.0))(_plain_rule)
    assert name not in OPTIMIZERS


def test_the_built_ins_take_no_experiment_key():
    import inspect

    for name, cls in OPTIMIZERS.items():
        assert name not in TOP_KEYS
        assert not set(inspect.signature(cls.__init__).parameters) & set(RUN_KEYS), name


# --------------------------------------------------------------------------- 4: the guide


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _guide_forms(rule_block: str) -> dict:
    namespace: dict = {"__name__": "your_optimizer_doc_r10"}
    exec(compile(rule_block, str(DOC), "exec"), namespace)
    exec(compile(_blocks()[2].replace('check_optimizer("adabound")', ""), str(DOC), "exec"),
         namespace)  # fmt: skip
    return namespace


def _float32_steps(namespace: dict, steps: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(10)
    x0 = rng.standard_normal(64).astype(np.float32)
    a, b = {"w": x0.copy()}, {"w": x0.copy()}
    rule = namespace["create"]("adabound_rule", lr=0.01, gamma=0.1)
    fused = namespace["create"]("adabound", lr=0.01, gamma=0.1)
    for _ in range(steps):
        g = rng.standard_normal(64).astype(np.float32)
        rule.update(a, {"w": g})
        fused.update(b, {"w": g})
    assert a["w"].dtype == b["w"].dtype == np.float32
    assert not np.array_equal(a["w"], x0)
    return a["w"], b["w"]


@pytest.fixture
def guide_names():
    yield
    for name in ("adabound_rule", "adabound"):
        if name in OPTIMIZERS:
            unregister(name)


def test_the_guides_rule_and_class_are_bit_identical_in_float32(guide_names):
    a, b = _float32_steps(_guide_forms(_blocks()[0]), 300)
    np.testing.assert_array_equal(a, b)


def test_the_guide_says_what_its_bounds_close_in_on():
    rule = _blocks()[0]
    assert "np.sqrt(1 - beta2" not in rule
    assert "math.sqrt(1 - beta2**t)" in rule
    assert "lr/lr0" not in rule.split('"""')[1]  # neither form scales final_lr
    assert "final_lr * (1 - 1 / (gamma * t + 1))" in rule


# --------------------------------------------------------------------------- 5: declared values


@pytest.mark.parametrize(
    ("tunable", "says"),
    [
        ({"gamma": {"values": ("a", "b")}}, r"tunable 'gamma' of 'hb_r10': value 'a' is refused "
         r"by the optimizer \(gamma must be a real number; got 'a' \(str\)\); declare values"),
        ({"k": {"range": (1, 10)}}, r"tunable 'k' of 'hb_r10': range end 1\.0 is refused .*"
         r"k must be an integer.*an int or bool argument takes 'values'"),
        ({"flag": {"values": (0, 1)}}, r"tunable 'flag' of 'hb_r10': value 0 is refused"),
        ({"k": {"values": (1, 2.5)}}, r"tunable 'k' of 'hb_r10': value 2\.5 is refused"),
    ],
)  # fmt: skip
def test_declared_values_the_optimizer_refuses_are_refused_at_register(tunable, says):
    def hb(p, g, state, t, *, lr=0.1, gamma=0.9, k=3, flag=False):
        p -= lr * g

    with pytest.raises(ValueError, match=says):
        register("hb_r10", lr_range=(1e-3, 1.0), tunable=tunable)(hb)
    assert "hb_r10" not in OPTIMIZERS


def test_declared_values_the_optimizer_takes_are_accepted(registered):
    def hb(p, g, state, t, *, lr=0.1, gamma=0.9, k=3, flag=False):
        p -= lr * g

    register("hb_ok_r10", lr_range=(1e-3, 1.0), tunable={
        "gamma": {"range": (0.5, 0.99), "scale": "linear"}, "k": {"values": (1, 2)},
        "flag": {"values": (True, False)}})(hb)  # fmt: skip
    registered.append("hb_ok_r10")
    assert create("hb_ok_r10", k=2).k == 2


# --------------------------------------------------------------------------- 6: the playground


def test_the_playground_slider_follows_a_declared_range(registered):
    from gdlab.play.api import optimizer_specs

    def hb(p, g, state, t, *, lr=0.1, gamma=0.9, rho=0.01):
        p -= lr * g

    register("hb_play_r10", lr_range=(1e-3, 1.0), tunable={
        "gamma": {"range": (0.5, 0.99), "scale": "linear"},
        "rho": {"range": (1e-4, 1e-1)}})(hb)  # fmt: skip
    registered.append("hb_play_r10")
    specs = {s["name"]: s for s in optimizer_specs("hb_play_r10")["hyperparameters"]}
    assert specs["gamma"] == {"name": "gamma", "kind": "real", "default": 0.9,
                              "scale": "linear", "min": 0.5, "max": 0.99}  # fmt: skip
    assert (specs["rho"]["scale"], specs["rho"]["min"], specs["rho"]["max"]) == ("log", 1e-4, 0.1)
    adam = {s["name"]: s for s in optimizer_specs("adam")["hyperparameters"]}
    assert adam["eps"]["scale"] == "log"
    assert adam["eps"]["min"] == 1e-12


# --------------------------------------------------------------------------- 7: as written


def test_a_schedule_without_lr0_is_quoted_as_toml(tmp_path):
    from gdlab.tuning import tune

    onecycle = {"name": "onecycle", "max_lr": 0.5, "total_steps": 30}
    experiment = builtin("bowl").select_optimizers(["sgd"]).with_lr("sgd", onecycle)
    with pytest.raises(ConfigError) as error:
        tune(experiment, tmp_path / "T", budget=2, folds=1, progress=False)
    assert 'its lr {name = "onecycle", max_lr = 0.5, total_steps = 30} has no initial' in str(
        error.value
    )
    assert "{'name'" not in str(error.value)
    json.dumps(onecycle)  # plain data, unchanged


def test_a_tuning_task_fails_for_its_own_unknown_optimizer_only():
    from gdlab.tuning import tune_task

    config = builtin("bowl").select_optimizers(["sgd", "adam"]).merge_training(steps=5).to_dict()
    config["runs"][0]["optimizer"] = "ghost_r10"  # as a worker that could not import it sees
    task = {"config": config, "hyperparameters": {"lr": 0.1}, "fold": 0, "folds": 1,
            "split_seed": 0, "seed": 0, "rng": np.random.default_rng(0),
            "modules": ["no_such_module_r10"]}  # fmt: skip
    record = tune_task(run=1, **task)  # Adam's: runs
    assert record["status"] == "ok"
    says = r"'ghost_r10' is not registered in this worker \(importing 'no_such_module_r10' failed"
    with pytest.raises(ConfigError, match=says):
        tune_task(run=0, **task)


def test_a_race_task_fails_for_its_own_unknown_optimizer_only(tmp_path):
    """A worker that does not know one run's optimizer fails that run's task, saying
    why, and runs the others (as a tuning task does)."""
    from gdlab._checks import ConfigError
    from gdlab.experiments import builtin
    from gdlab.race import race_task

    config = builtin("bowl").merge_training(steps=3).to_dict()
    config["runs"][1] = {**config["runs"][1], "optimizer": "not_registered_here"}
    record = race_task(config=config, run=0, seed=0, out=str(tmp_path))
    assert record["status"] == "ok"
    assert record["optimizer"] == config["runs"][0]["optimizer"]
    with pytest.raises(ConfigError, match="'not_registered_here' is not registered in this worker"):
        race_task(config=config, run=1, seed=0, out=str(tmp_path))


# --------------------------------------------------------------------------- 8: review fixes


def _plugin(tmp_path: Path) -> Path:
    """A plug-in package on ``tmp_path``: ``myplugmod`` registers ``plugsign`` when the
    ``gdlab.optimizers`` entry point (a dist-info folder's entry_points.txt) loads it."""
    (tmp_path / "myplugmod.py").write_text(textwrap.dedent("""
        import numpy as np
        from gdlab.optim import register

        @register("plugsign", lr_range=(1e-4, 1e-1))
        def plugsign(p, g, state, t, *, lr=0.01):
            p -= lr * np.sign(g)
    """))  # fmt: skip
    info = tmp_path / "myplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gdlab.optimizers]\nplugsign = myplugmod\n")
    return tmp_path


@pytest.mark.parametrize("first", ["gdlab.experiments", "gdlab.race", "gdlab.tuning",
                                   "gdlab.play.api", "gdlab.optim"])  # fmt: skip
def test_a_plug_in_loads_whichever_gdlab_module_is_imported_first(tmp_path, first):
    import subprocess

    script = textwrap.dedent(f"""
        import sys, warnings
        sys.path.insert(0, {str(_plugin(tmp_path))!r})
        warnings.simplefilter("error")
        import {first}
        from gdlab.optim import OPTIMIZERS
        from gdlab.optim.registry import registering_module
        print(registering_module("plugsign"))
    """)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["myplugmod"]


def test_a_play_slider_of_a_declared_log_range_reaches_an_off_default(registered):
    from gdlab.play.api import optimizer_specs

    def hb(p, g, state, t, *, lr=0.1, rho=0.0):
        p -= lr * g

    register("hb_off_r10", lr_range=(1e-3, 1.0), tunable={"rho": {"range": (1e-4, 1e-1)}})(hb)
    registered.append("hb_off_r10")
    specs = {s["name"]: s for s in optimizer_specs("hb_off_r10")["hyperparameters"]}
    assert specs["rho"] == {"name": "rho", "kind": "real", "default": 0.0, "scale": "log0",
                            "min": 1e-4, "max": 0.1}  # fmt: skip


def test_the_registering_module_is_the_one_applying_a_register_made_elsewhere(tmp_path):
    """``mylib_r10`` makes ``later = register(...)`` at its top level; applying it in a
    function of a script (``rules_r10``'s rule) registers in that process only, whatever
    runs the tests; ``user_r10``'s top level, importing, registers there."""
    import subprocess

    (tmp_path / "mylib_r10.py").write_text(
        "from gdlab.optim import register\n\n"
        "later = register('later_r10', lr_range=(1e-4, 1e-1))\n"
        "later2 = register('later2_r10', lr_range=(1e-4, 1e-1))\n"
    )
    (tmp_path / "rules_r10.py").write_text(
        "def rule(p, g, state, t, *, lr=0.01):\n    p -= lr * g\n"
    )
    (tmp_path / "user_r10.py").write_text(
        "import mylib_r10\nimport rules_r10\n\nmylib_r10.later2(rules_r10.rule)\n"
    )
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import mylib_r10, rules_r10
        from gdlab._checks import ConfigError
        from gdlab.optim.registry import registering_module
        from gdlab.sweep import registering_modules

        def apply():
            mylib_r10.later(rules_r10.rule)

        apply()
        import user_r10
        print(registering_module("later_r10"))
        try:
            registering_modules(["later_r10"], "race")
        except ConfigError as error:
            print("refused:", error)
        print(registering_module("later2_r10"), registering_modules(["later2_r10"], "race"))
    """)  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    recorded, refused, later2 = done.stdout.splitlines()
    assert recorded == "__main__"  # the script applying it: not mylib_r10, nor rules_r10
    assert refused.startswith("refused: optimizer 'later_r10' is registered in this process "
                              "only (in __main__)")  # fmt: skip
    assert later2 == "user_r10 ['user_r10']"


def test_a_declared_tunables_optimizer_is_built_by_default_once(registered):
    made = []

    class Counted(Optimizer):
        def __init__(self, lr=0.1, gamma=0.5, k=3, **options):
            super().__init__(lr, **options)
            made.append((gamma, k))
            self.gamma, self.k = gamma, k

        def _step(self, params, grads, lr):
            pass

    register("counted_r10", lr_range=(1e-3, 1.0), tunable={
        "gamma": {"range": (0.1, 0.9)}, "k": {"values": (1, 2)}})(Counted)  # fmt: skip
    registered.append("counted_r10")
    assert made.count((0.5, 3)) == 1, made  # by default once, then each value tried
    assert sorted(made) == sorted([(0.5, 3), (0.1, 3), (0.9, 3), (0.5, 1), (0.5, 2)])


def test_a_module_of_a_package_loaded_from_a_path_is_refused_up_front(tmp_path):
    package = tmp_path / "hidden" / "pkg_r10"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub_r10.py").write_text(
        "from gdlab.optim import register\n\n"
        "@register('pkgsub_r10', lr_range=(1e-4, 1e-1))\n"
        "def pkgsub_r10(p, g, state, t, *, lr=0.01):\n    p -= lr * g\n"
    )
    spec = importlib.util.spec_from_file_location(
        "pkg_r10", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    sys.modules["pkg_r10"] = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(sys.modules["pkg_r10"])
        importlib.import_module("pkg_r10.sub_r10")  # found by its package's __path__
        assert registering_module("pkgsub_r10") == "pkg_r10.sub_r10"
        says = r"'pkgsub_r10' is registered by module 'pkg_r10\.sub_r10', which a worker"
        with pytest.raises(ConfigError, match=says):
            registering_modules(["pkgsub_r10"], "race")
    finally:
        for module in ("pkg_r10.sub_r10", "pkg_r10"):
            sys.modules.pop(module, None)
        if "pkgsub_r10" in OPTIMIZERS:
            unregister("pkgsub_r10")


def test_a_module_that_failed_to_import_is_not_imported_again(tmp_path, monkeypatch):
    import gdlab.sweep

    (tmp_path / "halfway_r10.py").write_text(
        "import builtins\n"
        "from gdlab.optim import register\n\n"
        "builtins.halfway_r10_runs = getattr(builtins, 'halfway_r10_runs', 0) + 1\n\n\n"
        "@register('halfway_r10', lr_range=(1e-4, 1e-1))\n"
        "def halfway_r10(p, g, state, t, *, lr=0.01):\n    p -= lr * g\n\n\n"
        "raise RuntimeError('broken after registering')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(gdlab.sweep, "_IMPORT_FAILURES", {}, raising=False)
    import builtins

    try:
        first = import_modules(["halfway_r10"])
        second = import_modules(["json", "halfway_r10"])
        assert first == second == {"halfway_r10": "RuntimeError: broken after registering"}
        assert builtins.halfway_r10_runs == 1
    finally:
        sys.modules.pop("halfway_r10", None)
        vars(builtins).pop("halfway_r10_runs", None)
        if "halfway_r10" in OPTIMIZERS:
            unregister("halfway_r10")


def test_the_default_point_keeps_ints_and_bools_plain(registered):
    from gdlab.tuning import _default_point

    def hbk(p, g, state, t, *, lr=0.1, k=3, flag=False, gamma=0.5):
        p -= lr * g

    register("hbk_np_r10", lr_range=(1e-3, 1.0), tunable={
        "k": {"values": (1, 2, 4)}, "flag": {"values": (False, True)},
        "gamma": {"range": (0.1, 0.9)}})(hbk)  # fmt: skip
    registered.append("hbk_np_r10")
    run = builtin("bowl").select_optimizers(["hbk_np_r10"]).runs[0]
    run = run.with_hyperparameters(k=np.int64(2), flag=np.bool_(True), gamma=np.int64(1))
    point = _default_point(run, ["lr", "k", "flag", "gamma"])
    assert point == {"lr": 0.1, "k": 2, "flag": True, "gamma": 1.0}
    assert [type(v) for v in point.values()] == [float, int, bool, float]


def test_the_sweep_reads_the_registrys_main_modules(elsewhere, monkeypatch):
    import gdlab.optim.registry

    monkeypatch.setattr(gdlab.optim.registry, "_MAIN_MODULES", ("__main__", "regs_r10"))
    with pytest.raises(ConfigError, match=r"'elsewhere_r10' is registered in this process only"):
        registering_modules([elsewhere], "race")
