"""numba's kernels load at their first call; a pool's workers leave at once when done.

The parent of a race's pool reads the experiment, checks it and hands its runs
out: it never calls a kernel, so it never imports numba (about a quarter of a
second before its workers could start), nor does ``gdlab --help`` or drawing a
report. A stand-in (:mod:`gdlab._lazy`) imports a kernel module at its first
use, once, from any number of threads, and then gets out of the way. A worker
whose sweep is over ends without the interpreter's teardown (0.3–0.6 s the
sweep's end waited for), its output flushed first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np

from gdlab import _lazy


def _python(code: str, tmp_path=None, env=None) -> str:
    """Run ``code`` in a new interpreter; what it printed."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    return out.stdout


def _fresh(code: str, tmp_path=None) -> dict:
    """Run ``code`` in a new interpreter; the JSON it prints last."""
    return json.loads(_python(code, tmp_path).strip().splitlines()[-1])


def test_a_races_parent_and_the_parser_never_import_numba(tmp_path):
    seen = _fresh(
        """
        import json, sys
        from gdlab import cli, experiments, race, results, sweep
        from gdlab.experiments.describe import text
        cli.build_parser()
        experiment = experiments.builtin("mnist")
        race.prepare(experiment)
        order = race.longest_first(experiment)
        workers = race.default_workers(experiment)
        words = text(experiment)
        import gdlab.report.figures, gdlab.report.html
        before = "numba" in sys.modules
        from gdlab import optim
        import numpy as np
        params = {"w": np.ones(3)}
        optim.create("adam", lr=0.1).update(params, {"w": np.ones(3)})
        from gdlab.optim import base
        print(json.dumps({"before": before, "after": "numba" in sys.modules,
                          "swapped": type(base._fused).__name__, "order": len(order)}))
        """,
        tmp_path,
    )
    assert seen["before"] is False  # nothing above called a kernel
    assert seen["after"] is True  # the first update did
    assert seen["swapped"] == "module"  # base's global is the module itself now
    assert seen["order"] == 6


def test_the_stand_in_hands_over_to_the_module_and_steps_aside():
    home = types.ModuleType("gdlab_test_home")
    sys.modules[home.__name__] = home
    try:
        home.kernels = _lazy._Lazy(home.__name__, "kernels", "gdlab.optim.fused")
        kept = home.kernels  # held elsewhere, e.g. in a tuple made at import
        assert "imported at its first use" in repr(kept) or "gdlab.optim.fused" in repr(kept)
        from gdlab.optim import fused

        assert kept.all_finite is fused.all_finite
        assert home.kernels is fused  # the global now names the module
        assert kept.all_finite(np.ones(4)) is True  # and the stand-in still works
        assert "all_finite" in dir(kept)
    finally:
        del sys.modules[home.__name__]


def test_a_module_imported_already_is_returned_as_it_is():
    from gdlab.optim import fused

    assert _lazy.lazy(__name__, "fused", "gdlab.optim.fused") is fused


def test_two_threads_at_a_stand_in_at_once_get_one_module(tmp_path):
    # the first lookups from two threads: one import, no half-made module seen
    seen = _fresh(
        """
        import json, threading
        from gdlab import _lazy
        import types, sys
        home = types.ModuleType("home"); sys.modules["home"] = home
        home.k = stand_in = _lazy._Lazy("home", "k", "gdlab.nn._kernels")
        got, errors = [], []
        start = threading.Barrier(8)
        def look():
            start.wait()
            try:
                got.append(id(stand_in.__dict__))
            except Exception as error:
                errors.append(repr(error))
        threads = [threading.Thread(target=look) for _ in range(8)]
        [t.start() for t in threads]; [t.join() for t in threads]
        print(json.dumps({"ids": len(set(got)), "errors": errors}))
        """,
        tmp_path,
    )
    assert seen == {"ids": 1, "errors": []}


def test_a_workers_output_is_flushed_before_it_leaves(tmp_path):
    # a worker ends with os._exit once its sweep is over: what it printed, unflushed
    # (stdout is a pipe here, so block-buffered), must still come out
    (tmp_path / "chatty.py").write_text(
        textwrap.dedent(
            """
            import sys

            def task(i, rng):
                sys.stdout.write(f"worker-said-{i};")  # no newline, no flush
                return {"i": i}
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    env.pop("PYTHONUNBUFFERED", None)  # block-buffered, as stdout to a pipe is by default
    printed = _python(
        """
        from gdlab import sweep
        import chatty
        tasks = [sweep.Task(f"t{i}", {"i": i}) for i in range(4)]
        records = sweep.run_sweep(chatty.task, tasks, "records.jsonl", workers=2, progress=False)
        print("statuses", sorted(r["status"] for r in records))
        """,
        tmp_path,
        env,
    )
    assert "statuses ['ok', 'ok', 'ok', 'ok']" in printed
    for i in range(4):
        assert f"worker-said-{i};" in printed


def test_a_stand_in_copies_and_pickles_without_importing_its_module(tmp_path):
    seen = _fresh(
        """
        import copy, json, pickle, sys
        from gdlab import _lazy
        stand_in = _lazy._Lazy("nowhere", "k", "gdlab.optim.classic_fused")
        again = pickle.loads(pickle.dumps(stand_in))
        same = copy.copy(stand_in) is stand_in and copy.deepcopy(stand_in) is stand_in
        print(json.dumps({"same": same, "type": type(again).__name__,
                          "numba": "numba" in sys.modules,
                          "works": callable(again.ftrl_step)}))
        """,
        tmp_path,
    )
    assert seen == {"same": True, "type": "_Lazy", "numba": False, "works": True}


def test_sams_base_optimizer_steps_on_its_kernel_module_not_the_stand_in():
    """SAM steps its base optimizer through _step only: its kernels stayed a stand-in, and
    every kernel call paid the stand-in's lookup (8-15% of a small step)."""
    import numpy as np

    from gdlab import optim

    opt = optim.create("sam", lr=0.01, base="adam")
    params = {"w": np.ones(10)}

    def closure(p):
        return float((p["w"] ** 2).sum()), {"w": 2 * p["w"]}

    for _ in range(2):
        opt.update(params, {"w": 2 * params["w"]}, closure=closure)
    assert not isinstance(opt.base_optimizer._kernels, _lazy._Lazy)
    assert opt.base_optimizer._python_floats
