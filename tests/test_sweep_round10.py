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
    """Its nannies write their workers' variables (OMP_NUM_THREADS=1, PYTHONHASHSEED …)
    into this process's environment, its scheduler DASK_SCHEDULER_ADDRESS: all undone,
    a variable the sweep found there kept, so that a later pool still forks."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # changed by the nannies, then put back
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    method = _pool.context().get_start_method()  # (a server it starts sets its defaults)
    before = dict(os.environ)
    records = run_sweep(quick, [Task("a"), Task("b")], tmp_path / "s.jsonl", dask_local=1)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert dict(os.environ) == before
    assert _pool.context().get_start_method() == method
