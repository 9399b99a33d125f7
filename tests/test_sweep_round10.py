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


def test_pools_do_not_write_scikit_learns_defaults_into_the_environment():
    import subprocess
    import sys

    code = (
        "import os\n"
        "from gdlab import _pool\n"
        "_pool.context()\n"
        "print(sorted(k for k in os.environ if k.startswith('KMP_')))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMP_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


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
