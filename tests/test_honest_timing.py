"""A run's clock times training, not numba: nothing is compiled or loaded after it starts.

``fit`` warms the optimizer's kernels and the problem's (the network's forward,
backward and evaluation) before ``history.seconds`` starts counting, and
reports that time as ``compile_seconds``. Each case runs in a new interpreter,
where every numba function starts uncompiled, and records each call that
numba's dispatcher has to compile or load from its cache once the clock has
started (the first ``on_train_begin``). There must be none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from numba.core import dispatcher
    from gdlab import data
    from gdlab.optim import create
    from gdlab.problems import FunctionProblem, LinearRegression, LogisticRegression
    from gdlab.problems import MLPClassification
    from gdlab.train import Callback, fit

    late = []
    original = dispatcher._DispatcherBase._compile_for_args

    def recording(self, *args, **kwargs):
        if clock[0]:
            late.append(self.py_func.__qualname__)
        return original(self, *args, **kwargs)

    dispatcher._DispatcherBase._compile_for_args = recording
    clock = [False]

    class ClockStarted(Callback):
        def on_train_begin(self, run):
            clock[0] = True

    case, optimizer = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    moons = data.moons(80, rng=np.random.default_rng(1))
    digits = data.Dataset(
        rng.random((90, 12)), rng.integers(0, 3, 90), "toy", tuple("abcdefghijkl"),
        ("x", "y", "z"), "classification"
    )
    split = data.Splits(moons.subset(np.arange(60)), moons.subset(np.arange(60, 70)),
                        moons.subset(np.arange(70, 80)))
    problems = {
        "bowl": lambda: FunctionProblem("bowl"),
        "rosenbrock": lambda: FunctionProblem("rosenbrock"),
        "linreg": lambda: LinearRegression(data.Dataset(rng.random((50, 2)), rng.random(50), "toy",
                                                        ("a", "b"), ("t",), "regression")),
        "logreg": lambda: LogisticRegression(moons),
        "mlp": lambda: MLPClassification(split, (8, 8)),
        "mlp-softmax-f64-wd-dropout": lambda: MLPClassification(
            digits, (16,), weight_decay=1e-3, dropout=0.2, dtype=np.float64),
        "mlp-columns-sigmoid": lambda: MLPClassification(moons, (6,), layout="columns",
                                                         activation="sigmoid"),
    }
    problem = problems[case]()
    batch = None if case in ("bowl", "rosenbrock") else 16
    history = fit(problem, create(optimizer, lr=1e-3), steps=12, batch_size=batch,
                  evaluate_every=1, rng=np.random.default_rng(2),
                  validation="validation" if case == "mlp" else None,
                  callbacks=[ClockStarted()], progress=False)
    print(json.dumps({"late": late, "status": history.status,
                      "compile_seconds": history.compile_seconds}))
    """
)

CASES = [
    "bowl",
    "rosenbrock",
    "linreg",
    "logreg",
    "mlp",
    "mlp-softmax-f64-wd-dropout",
    "mlp-columns-sigmoid",
]


@pytest.mark.parametrize(
    ("case", "optimizer"), [(case, "adam") for case in CASES] + [("mlp", "sgd")]
)
def test_nothing_is_compiled_once_the_clock_has_started(case, optimizer):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case, optimizer],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok"
    assert result["late"] == [], f"compiled while the clock ran: {result['late']}"
    assert result["compile_seconds"] > 0
