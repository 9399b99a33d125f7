"""A Dask LocalCluster's sweep leaves this process's environment as it found it."""

from __future__ import annotations

import os

import pytest

from gdlab import _pool
from gdlab.sweep import Task, run_sweep

pytest.importorskip("distributed")


def quick(*, rng):
    return {"x": float(rng.random())}


def test_a_local_dask_sweep_puts_the_environment_back(tmp_path, monkeypatch):
    """Its nannies write their workers' variables (MALLOC_TRIM_THRESHOLD_,
    PYTHONHASHSEED …) into this process's environment: all undone, so that a later
    pool still forks."""
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)  # the nannies write one
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # and this
    method = _pool.context().get_start_method()
    before = dict(os.environ)
    records = run_sweep(quick, [Task("a"), Task("b")], tmp_path / "s.jsonl", dask_local=1)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert dict(os.environ) == before
    assert _pool.context().get_start_method() == method


def test_the_environment_the_sweep_did_not_write_is_left_as_the_block_left_it(monkeypatch):
    from gdlab.sweep import _environment_kept

    monkeypatch.delenv("GDLAB_R10_MINE", raising=False)
    monkeypatch.delenv("OMP_R10_PROBE", raising=False)
    with _environment_kept():
        os.environ["GDLAB_R10_MINE"] = "kept"  # the user's own (an on_record hook)
        os.environ["OMP_R10_PROBE"] = "1"  # a load-time variable: put back
    assert os.environ.pop("GDLAB_R10_MINE") == "kept"
    assert "OMP_R10_PROBE" not in os.environ


def test_a_module_not_found_is_looked_for_again(tmp_path, monkeypatch):
    """Installed since (a long-lived Dask worker): the first failure is not kept."""
    import sys

    from gdlab import sweep

    monkeypatch.setattr(sweep, "_IMPORT_FAILURES", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    first = sweep.import_modules(["later_r10"])
    assert first["later_r10"].startswith("ModuleNotFoundError")
    (tmp_path / "later_r10.py").write_text("VALUE = 1\n")
    import importlib

    importlib.invalidate_caches()
    try:
        assert sweep.import_modules(["later_r10"]) == {}
    finally:
        sys.modules.pop("later_r10", None)


def test_a_module_run_with_python_m_is_told_it_is_main_here(tmp_path):
    """``python -m pkg.mod`` registers as ``__main__``: the refusal says why, rather than
    asking for a module of one's own (it is one)."""
    import subprocess
    import sys

    package = tmp_path / "pkgr10"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "from gdlab._checks import ConfigError\n"
        "from gdlab.optim import register\n"
        "from gdlab.sweep import registering_modules\n\n\n"
        "@register('python_m_r10', lr_range=(1e-3, 1.0))\n"
        "def rule(p, g, state, t, *, lr=0.1):\n    p -= lr * g\n\n\n"
        "try:\n    registering_modules(['python_m_r10'], 'race')\n"
        "except ConfigError as error:\n    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pkgr10.mod"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'python_m_r10' is registered in this process only (in __main__)" in done.stdout
    assert "a module run with python -m, is __main__ here" in done.stdout
