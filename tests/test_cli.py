"""Tests for the gdlab command: seed 001's bowl benchmark, options and errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gdlab.cli import SEED_LR, SEED_OPTIMIZERS, benchmark, main

SRC = Path(__file__).resolve().parents[1] / "src"
EPS = 1e-7  # the book's epsilon
SEED_NAMES = ["SGD", "Momentum", "AdaGrad", "Adam", "RMSprop", "Nesterov"]


# --- seed 001's book-form updates, written out with plain floats ----------------


def bowl_grad(x: float, y: float) -> tuple[float, float]:
    return x / 10.0, 2.0 * y


def book_walk(name: str, lr: float, steps: int = 30) -> tuple[float, float]:
    """Walk ``steps`` book-form updates on the bowl from (−7, 2)."""
    p = [-7.0, 2.0]
    s1 = [0.0, 0.0]  # v (Momentum, Nesterov), h (AdaGrad, RMSprop), m (Adam)
    s2 = [0.0, 0.0]  # v (Adam)
    mu, alpha, beta1, beta2 = 0.9, 0.99, 0.9, 0.999
    for t in range(1, steps + 1):
        g = bowl_grad(*p)
        lr_t = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        for i in range(2):
            if name == "sgd":
                p[i] -= lr * g[i]
            elif name == "momentum":
                s1[i] = mu * s1[i] - lr * g[i]
                p[i] += s1[i]
            elif name == "nesterov":
                s1[i] = mu * s1[i] - lr * g[i]
                p[i] += mu * mu * s1[i] - (1 + mu) * lr * g[i]
            elif name == "adagrad":
                s1[i] += g[i] * g[i]
                p[i] -= lr * g[i] / (math.sqrt(s1[i]) + EPS)
            elif name == "rmsprop":
                s1[i] = alpha * s1[i] + (1 - alpha) * g[i] * g[i]
                p[i] -= lr * g[i] / (math.sqrt(s1[i]) + EPS)
            elif name == "adam":
                s1[i] += (1 - beta1) * (g[i] - s1[i])
                s2[i] += (1 - beta2) * (g[i] ** 2 - s2[i])
                p[i] -= lr_t * s1[i] / (math.sqrt(s2[i]) + EPS)
            else:
                raise AssertionError(name)
    return p[0], p[1]


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


# --- the default run ------------------------------------------------------------


def test_default_is_the_seed_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    results = run_json(capsys)
    assert results["function"] == "bowl"
    assert results["start"] == [-7.0, 2.0]
    assert results["steps"] == 30
    assert results["preset"] == "book"
    runs = results["runs"]
    assert [r["optimizer"] for r in runs] == list(SEED_OPTIMIZERS)
    assert [r["name"] for r in runs] == SEED_NAMES
    assert [r["lr"] for r in runs] == [0.95, 0.1, 1.5, 0.3, 0.3, 0.3]
    for run in runs:
        assert run["status"] == "ok"
        assert run["diverged_at"] is None
        x, y = book_walk(run["optimizer"], SEED_LR[run["optimizer"]])
        assert run["final"] == pytest.approx([x, y], rel=1e-12, abs=1e-300), run["name"]
        assert run["loss"] == pytest.approx(x**2 / 20 + y**2, rel=1e-11)
        assert len(run["path"]) == len(run["losses"]) == 31
        assert run["path"][0] == [-7.0, 2.0]
        assert run["path"][-1] == run["final"]


def test_table_lists_the_six_in_the_seed_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("bowl: f(x, y) = x^2/20 + y^2, start (-7, 2), 30 steps")
    rows = [line.split() for line in lines[3:]]  # after the heading, a blank line, the labels
    assert [row[0] for row in rows] == SEED_NAMES
    for row, name in zip(rows, SEED_OPTIMIZERS, strict=True):
        x, y = book_walk(name, SEED_LR[name])
        assert float(row[1]) == SEED_LR[name]
        assert float(row[2]) == pytest.approx(x, rel=1e-5)
        assert float(row[3]) == pytest.approx(y, rel=1e-5)
        assert float(row[4]) == pytest.approx(x**2 / 20 + y**2, rel=1e-5)


def test_bowl_positional_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "bowl") == run_json(capsys)
    assert run_json(capsys, "--function", "bowl") == run_json(capsys)


# --- options --------------------------------------------------------------------


def test_lr_overrides_one_optimizer(capsys: pytest.CaptureFixture[str]) -> None:
    runs = run_json(capsys, "--lr", "adam=0.1", "--lr", "SGD=0.5")["runs"]
    by_name = {r["optimizer"]: r for r in runs}
    assert by_name["adam"]["lr"] == 0.1
    assert by_name["sgd"]["lr"] == 0.5
    assert by_name["momentum"]["lr"] == 0.1
    assert by_name["adam"]["final"] == pytest.approx(book_walk("adam", 0.1), rel=1e-12)
    assert by_name["sgd"]["final"] == pytest.approx(book_walk("sgd", 0.5), rel=1e-12)


def test_optimizers_and_steps(capsys: pytest.CaptureFixture[str]) -> None:
    runs = run_json(capsys, "--optimizers", "nesterov, sgd", "--steps", "7")["runs"]
    assert [r["name"] for r in runs] == ["Nesterov", "SGD"]
    assert len(runs[0]["path"]) == 8
    assert runs[0]["final"] == pytest.approx(book_walk("nesterov", 0.3, steps=7), rel=1e-12)


def test_other_function_and_preset(capsys: pytest.CaptureFixture[str]) -> None:
    results = run_json(capsys, "--function", "himmelblau", "--preset", "torch", "--steps", "5")
    assert results["function"] == "himmelblau"
    assert results["preset"] == "torch"
    assert results["runs"][0]["path"][0] == [0.0, 0.0]


def test_optimizer_outside_the_seed_uses_the_preset_lr(capsys: pytest.CaptureFixture[str]) -> None:
    (run,) = run_json(capsys, "--optimizers", "adamw", "--preset", "torch")["runs"]
    assert run["status"] == "ok"
    assert run["lr"] is not None
    assert run["lr"] > 0


def test_divergence_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    results = run_json(capsys, "rosenbrock", "--optimizers", "sgd,adagrad")
    sgd, adagrad = results["runs"]
    assert sgd["status"] == "diverged"
    k = sgd["diverged_at"]
    assert 0 < k <= 30
    assert sgd["final"] is None
    assert sgd["loss"] is None
    assert len(sgd["path"]) == len(sgd["losses"]) == k
    assert all(math.isfinite(v) for v in sgd["losses"])
    assert adagrad["status"] == "ok"

    assert main(["rosenbrock", "--optimizers", "sgd,adagrad"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"diverged at step {k}" in out


def test_benchmark_returns_plain_data() -> None:
    results = benchmark("bowl", ["sgd"], steps=3)
    json.dumps(results, allow_nan=False)
    assert results["runs"][0]["final"] == pytest.approx(book_walk("sgd", 0.95, steps=3))


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("gdlab ")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--function", "--steps", "--preset", "--lr", "--optimizers", "--json"):
        assert flag in out


# --- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--optimizers", "adamm"], "'adamm'"),
        (["--optimizers", "sgd,sgd"], "sgd,sgd"),
        (["--optimizers", ","], "','"),
        (["--lr", "sgd=abc"], "'abc'"),
        (["--lr", "sgd=-1"], "-1"),
        (["--lr", "sgd=nan"], "nan"),
        (["--lr", "sgd"], "NAME=VALUE"),
        (["--lr", "adam=0.1", "--optimizers", "sgd"], "'adam'"),
        (["--function", "nope"], "'nope'"),
        (["nope"], "'nope'"),
        (["rosenbrock", "--function", "bowl"], "pick one"),
        (["--preset", "nope"], "'nope'"),
        (["--steps", "0"], "--steps must be an integer in [1, 1000000]; got 0"),
        (["--steps", "abc"], "'abc'"),
        (["--bogus"], "--bogus"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("gdlab: error: ")
    assert err.endswith("\n")
    assert err.count("\n") == 1
    assert named in err
    assert "Traceback" not in err


# --- the real command -----------------------------------------------------------


def test_python_dash_m_gdlab() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gdlab", "--json", "--optimizers", "adam"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    assert run["final"] == pytest.approx(book_walk("adam", 0.3), rel=1e-12)

    bad = subprocess.run(
        [sys.executable, "-m", "gdlab", "--optimizers", "adamm"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith("gdlab: error: ")
    assert "adamm" in bad.stderr
    assert "Traceback" not in bad.stderr
