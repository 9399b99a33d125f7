"""The ``gdlab`` command: races end to end at reduced size, errors, interruption."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdlab import cli, experiments, race

# --------------------------------------------------------------------------- helpers


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


# --------------------------------------------------------------------------- the bowl


def book_paths(steps: int = 30) -> dict[str, tuple[float, float]]:
    """Seed 001's six optimizers on x²/20 + y², written from the book's formulas."""

    def grad(x, y):
        return x / 10.0, 2.0 * y

    ends = {}
    # SGD: p -= lr·g
    x, y = -7.0, 2.0
    for _ in range(steps):
        gx, gy = grad(x, y)
        x, y = x - 0.95 * gx, y - 0.95 * gy
    ends["SGD"] = (x, y)
    # Momentum: v = μv − lr·g; p += v
    x, y, vx, vy = -7.0, 2.0, 0.0, 0.0
    for _ in range(steps):
        gx, gy = grad(x, y)
        vx, vy = 0.9 * vx - 0.1 * gx, 0.9 * vy - 0.1 * gy
        x, y = x + vx, y + vy
    ends["Momentum"] = (x, y)
    # AdaGrad: h += g²; p -= lr·g/(√h + 1e-7)
    x, y, hx, hy = -7.0, 2.0, 0.0, 0.0
    for _ in range(steps):
        gx, gy = grad(x, y)
        hx, hy = hx + gx * gx, hy + gy * gy
        x, y = x - 1.5 * gx / (math.sqrt(hx) + 1e-7), y - 1.5 * gy / (math.sqrt(hy) + 1e-7)
    ends["AdaGrad"] = (x, y)
    # Adam (book): lr_t = lr·√(1−β2^t)/(1−β1^t); m += (1−β1)(g−m); v += (1−β2)(g²−v)
    x, y, mx, my, sx, sy = -7.0, 2.0, 0.0, 0.0, 0.0, 0.0
    for t in range(1, steps + 1):
        gx, gy = grad(x, y)
        lr_t = 0.3 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        mx, my = mx + 0.1 * (gx - mx), my + 0.1 * (gy - my)
        sx, sy = sx + 0.001 * (gx * gx - sx), sy + 0.001 * (gy * gy - sy)
        x, y = x - lr_t * mx / (math.sqrt(sx) + 1e-7), y - lr_t * my / (math.sqrt(sy) + 1e-7)
    ends["Adam"] = (x, y)
    # RMSprop (book): h = ρh + (1−ρ)g², ρ = 0.99; p -= lr·g/(√h + 1e-7)
    x, y, hx, hy = -7.0, 2.0, 0.0, 0.0
    for _ in range(steps):
        gx, gy = grad(x, y)
        hx, hy = 0.99 * hx + 0.01 * gx * gx, 0.99 * hy + 0.01 * gy * gy
        x, y = x - 0.3 * gx / (math.sqrt(hx) + 1e-7), y - 0.3 * gy / (math.sqrt(hy) + 1e-7)
    ends["RMSprop"] = (x, y)
    # Nesterov (book): v = μv − lr·g; p += μ²v − (1+μ)·lr·g
    x, y, vx, vy = -7.0, 2.0, 0.0, 0.0
    for _ in range(steps):
        gx, gy = grad(x, y)
        vx, vy = 0.9 * vx - 0.3 * gx, 0.9 * vy - 0.3 * gy
        x, y = x + 0.81 * vx - 1.9 * 0.3 * gx, y + 0.81 * vy - 1.9 * 0.3 * gy
    ends["Nesterov"] = (x, y)
    return ends


def test_bowl_end_points_match_the_book_formulas(tmp_path, capsys):
    out = tmp_path / "bowl"
    code, stdout, _ = run(["race", "bowl", "--out", str(out), "--quiet", "--no-figures"], capsys)
    assert code == 0
    doc = results(out)
    assert [r["label"] for r in doc["runs"]] == [
        "SGD", "Momentum", "AdaGrad", "Adam", "RMSprop", "Nesterov"
    ]  # fmt: skip
    expected = book_paths()
    for r in doc["runs"]:
        assert len(r["path"]) == 31
        assert r["path"][0] == [-7.0, 2.0]
        np.testing.assert_allclose(r["path"][-1], expected[r["label"]], rtol=1e-12, atol=1e-12)
        assert r["final_params"]["x"] == pytest.approx(expected[r["label"]][0], abs=1e-12)
    for label in expected:
        assert label in stdout


# --------------------------------------------------------------------------- each experiment


@pytest.mark.parametrize(
    ("argv", "n_runs", "check"),
    [
        (["race", "boston", "--steps", "300"], 3, "boston"),
        (["race", "moons", "--epochs", "30"], 3, "moons"),
        (["race", "mnist", "--steps", "40", "--optimizers", "sgd,adam"], 2, "mnist"),
        (["race", "schedules", "--epochs", "2"], 6, "schedules"),
        (["race", "bowl", "--function", "rosenbrock", "--steps", "50", "--seeds", "2"], 12, "bowl"),
    ],
)
def test_each_experiment_runs_end_to_end(tmp_path, capsys, argv, n_runs, check):
    out = tmp_path / "out"
    code, stdout, stderr = run([*argv, "--out", str(out), "--quiet", "--no-figures"], capsys)
    assert code == 0, stderr
    doc = results(out)
    assert doc["status"] == "complete"
    assert len(doc["runs"]) == n_runs
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == n_runs + 1
    assert doc["command"].startswith("gdlab race")
    for r in doc["runs"]:
        assert r["steps"] == len(r["loss"]) == len(r["lr"])
    if check == "moons":
        assert all("boundary" in r for r in doc["runs"])
        assert len(doc["problem"]["data"]["points"]["y"]) == 300
    if check == "mnist":
        assert doc["problem"]["sizes"] == [784, 100, 100, 100, 100, 10]
        assert all(r["final_params"] == {"file": f"params/{r['id']}.npz"} for r in doc["runs"])
        with np.load(out / doc["runs"][0]["final_params"]["file"]) as params:
            assert params["W1"].shape == (784, 100)
            assert params["W1"].dtype == np.float32
        assert all("test_accuracy" in r["metrics"] for r in doc["runs"])
    if check == "schedules":
        lrs = {r["label"]: r["lr"] for r in doc["runs"]}
        assert len({tuple(v) for v in lrs.values()}) >= 3  # the schedules differ
    if check == "bowl":
        assert doc["problem"]["function"]["name"] == "rosenbrock"
        assert {r["seed"] for r in doc["runs"]} == {0, 1}
        diverged = [r for r in doc["runs"] if r["status"] == "diverged"]
        assert diverged  # SGD at the bowl's lr 0.95 blows up on Rosenbrock
        assert all(r["stopped_at"] is not None for r in diverged)
        from gdlab.report.stops import divergence_words

        for record in diverged:  # the table says the step its reason names
            assert divergence_words(record) in stdout


def test_same_batches_for_every_optimizer(tmp_path, monkeypatch):
    experiment = (
        experiments.load("mnist").merge_training(steps=5).select_optimizers(["sgd", "adam"])
    )
    problem = race.prepare(experiment)  # kept for this process's runs
    seen = []
    original = problem.loss_and_grads

    def spy(params, batch):
        seen.append(batch.copy())
        return original(params, batch)

    monkeypatch.setattr(problem, "loss_and_grads", spy)
    race.run_experiment(experiment, tmp_path, progress=False, figures=False, workers=1)
    assert len(seen) == 10
    for a, b in zip(seen[:5], seen[5:], strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- interruption


def test_ctrl_c_leaves_the_finished_runs(tmp_path, capsys, monkeypatch):
    import gdlab.race

    calls = {"n": 0}
    real_fit = gdlab.race.fit

    def fit_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(gdlab.race, "fit", fit_then_interrupt)
    out = tmp_path / "bowl"
    code, _, stderr = run(["race", "bowl", "--out", str(out), "--quiet", "--no-figures"], capsys)
    assert code == cli.EXIT_INTERRUPTED
    assert "interrupted" in stderr
    doc = results(out)
    assert doc["status"] == "interrupted"
    assert [r["label"] for r in doc["runs"]] == ["SGD", "Momentum"]
    assert not list(out.glob("*.tmp"))
    assert not list(out.glob(".*.tmp"))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["race", "cifar"], "experiment must be one of bowl, boston, moons, mnist, schedules"),
        (["race", "bowl", "--optimizers", "sgd,lionn"], "--optimizers must name optimizers among"),
        (["race", "bowl", "--lr", "adam=fast"], "the learning rate of adam must be a number"),
        (["race", "bowl", "--lr", "adam=-1"], "the learning rate of adam must be > 0"),
        (["race", "bowl", "--lr", "adamw=0.1"], "'adamw' must name a run of this experiment"),
        (["race", "bowl", "--preset", "fast"], "preset must be one of book, course"),
        (["race", "bowl", "--steps", "0"], "--steps must be an integer in"),
        (["race", "bowl", "--steps", "10", "--epochs", "2"], "not allowed with argument"),
        (["race", "mnist", "--function", "rosenbrock"], "has unknown key 'function'"),
        (["race", "bowl", "--function", "sphere"], "function must be one of"),
        (["race", "bowl", "--data", "/tmp"], "has unknown key 'directory'"),
        (["race", "mnist", "--data", "/nonexistent-dir"], "nonexistent-dir"),
        (["race", "bowl", "--wat"], "unrecognized arguments: --wat"),
        (["plot", "weights"], "invalid choice: 'weights'"),
        (["race", "--config", "missing.toml"], "no such file"),
        # a value too long to repeat is cut; past Python's 4300 digits an integer is
        # text ("invalid _set_pair value" and all 5001 digits before)
        (["race", "bowl", "--set", "training.steps=1" + "0" * 5000], "got '100000000"),
        (["race", "bowl", "--set", "training.steps=1" + "0" * 100], "(an integer of 101 digits)"),
        (["race", "bowl", "--set", "training.steps" + "x" * 100], "got 'training.stepsxxx"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code, stdout, stderr = run([*argv, "--out", str(tmp_path / "o")], capsys)
    assert code == cli.EXIT_USAGE
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gdlab: error: ")
    assert message in lines[0]
    assert "Traceback" not in stderr
    assert "_set_pair" not in stderr  # no internal name
    assert len(lines[0]) < 500  # nor 5000 digits


TRAINING = "[training]\nsteps = 3\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[problem]\nkind = "function"\n' + TRAINING, "has no runs"),
        ('name = "x"\n[problem]\nkind = "function"\n', "[training] is required"),
        ('name = "x"\nspeed = 3\n', "unknown key 'speed'"),
        ('name = "x"\n' + TRAINING + '[problem]\nkind = "svm"\n', "problem.kind must be one of"),
        (
            'name = "x"\n' + TRAINING + '[problem]\nkind = "mlp"\ndata = "cifar"\n',
            "problem.data must be one of",
        ),
        ("name = [", "is not valid TOML"),
        (
            'name = "x"\n' + TRAINING + '[problem]\nkind = "function"\n'
            '[[runs]]\nlabel = "a"\noptimizer = "lionn"\n',
            "runs[0].optimizer must be one of",
        ),
        (
            'name = "x"\n' + TRAINING + '[problem]\nkind = "function"\n[optimizers]\n'
            'names = ["sgd"]\n[optimizers.lr]\nsgd = -1\n',
            "lr must be > 0",
        ),
        (
            'name = "x"\n[problem]\nkind = "function"\n[training]\nsteps = 3\nspeed = 1\n'
            '[optimizers]\nnames = ["sgd"]\n',
            "training has unknown key 'speed'",
        ),
    ],
)
def test_config_errors(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, _, stderr = run(["race", "--config", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == cli.EXIT_USAGE
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_config_file_runs(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\ntitle = "Two on Beale"\nseeds = 2\n'
        '[problem]\nkind = "function"\nfunction = "beale"\nstart = [1.0, 1.0]\n'
        "[training]\nsteps = 20\n"
        '[[runs]]\nlabel = "Adam 0.01"\noptimizer = "adam"\nlr = 0.01\n'
        '[[runs]]\nlabel = "Adam cosine"\noptimizer = "adam"\n'
        'lr = { name = "cosine", lr0 = 0.05, decay_steps = 20 }\n'
    )
    out = tmp_path / "o"
    code, _, _ = run(["race", "--config", str(path), "--out", str(out), "--quiet",
                      "--no-figures"], capsys)  # fmt: skip
    assert code == 0
    doc = results(out)
    assert doc["title"] == "Two on Beale"
    assert len(doc["runs"]) == 4
    cosine = next(r for r in doc["runs"] if r["label"] == "Adam cosine")
    assert cosine["hyperparameters"]["lr"] == {
        "schedule": {"name": "cosine", "lr0": 0.05, "decay_steps": 20, "min_lr": 0.0,
                     "per": "step", "restarts": False, "t_mult": 1.0, "m_mul": 1.0, "first": 0,
                     "periodic": False}
    }  # fmt: skip
    assert cosine["lr"][0] == 0.05
    assert cosine["lr"][-1] < 0.001


def test_builtin_experiments_are_valid_files():
    for name in experiments.BUILTIN:
        experiment = experiments.load(name)
        assert isinstance(experiment, experiments.Experiment)
        assert experiment.name == name
        assert experiment.based_on == name
        assert experiment.runs
        assert all(run.make_optimizer() is not None for run in experiment.runs)


def test_version_and_help(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.startswith("gdlab ")
    code, out, _ = run(["race", "--help"], capsys)
    assert code == 0
    assert "--optimizers" in out
    assert "experiments: bowl, boston, moons, mnist, schedules" in " ".join(out.split())


def test_json_summary_ranks_the_runs(tmp_path, capsys):
    code, out, _ = run(["race", "boston", "--steps", "200", "--json", "--quiet", "--no-figures",
                        "--out", str(tmp_path)], capsys)  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert [row["rank"] for row in rows] == [1, 2, 3]
    losses = [row["final_loss"] for row in rows]
    assert losses == sorted(losses)


def test_python_dash_m_gdlab(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "gdlab", "race", "bowl", "--steps", "3", "--quiet",
         "--no-figures", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Nesterov" in done.stdout


def fake_idx(tmp_path: Path) -> Path:
    """The four standard MNIST IDX files, small fakes: 60 to train, 20 to test."""
    from gdlab.data.idx import write_idx

    rng = np.random.default_rng(0)
    data = tmp_path / "idx"
    data.mkdir()
    for part, n in (("train", 60), ("t10k", 20)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(data / f"{part}-images-idx3-ubyte.gz", images)
        write_idx(data / f"{part}-labels-idx1-ubyte", labels)
    return data


def check_idx_race(make_argv, tmp_path: Path, capsys) -> None:
    """``make_argv(data_dir, out)`` races on the fake IDX files; a truncated file is named."""
    import shutil

    data = fake_idx(tmp_path)
    out = tmp_path / "out"
    code, _, stderr = run(make_argv(data, out), capsys)
    assert code == 0, stderr
    doc = results(out)
    assert doc["problem"]["data"]["n_train"] == 60
    assert doc["problem"]["data"]["n_test"] == 20
    assert doc["config"]["problem"]["directory"] == str(data)
    # Another directory: a process keeps the problems it built, by their spec.
    broken = Path(shutil.copytree(data, tmp_path / "idx-broken"))
    (broken / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")  # truncated
    code, _, stderr = run(make_argv(broken, tmp_path / "out2"), capsys)
    assert code == cli.EXIT_USAGE
    assert "t10k-labels-idx1-ubyte" in stderr
    assert not (tmp_path / "out2").exists()


def test_full_mnist_from_idx_files(tmp_path, capsys):
    """--data DIR reads the four standard IDX files (here small fakes)."""

    def argv(data, out):
        return ["race", "mnist", "--data", str(data), "--steps", "3", "--optimizers", "adam",
                "--batch-size", "16", "--quiet", "--no-figures", "--out", str(out)]  # fmt: skip

    check_idx_race(argv, tmp_path, capsys)


def test_full_mnist_from_idx_files_in_a_config(tmp_path, capsys):
    """problem.directory in an experiment file reads the four IDX files."""

    def argv(data, out):
        path = out.parent / f"{out.name}.toml"
        path.write_text(
            f'name = "full"\n[problem]\nkind = "mlp"\ndata = "mnist"\ndirectory = "{data}"\n'
            'hidden = [10]\n[training]\nsteps = 3\nbatch_size = 16\nvalidation = "test"\n'
            '[optimizers]\nnames = ["adam"]\n'
        )
        return ["race", "--config", str(path), "--quiet", "--no-figures", "--out", str(out)]

    check_idx_race(argv, tmp_path, capsys)


def test_lr_override_keeps_schedules():
    experiment = experiments.load("schedules").with_lr("sgd", 0.05)
    lrs = [run.lr for run in experiment.runs]
    assert lrs[0] == 0.05
    assert all(lr["lr0"] == 0.05 for lr in lrs[1:])
    assert len({json.dumps(lr, sort_keys=True) for lr in lrs}) == len(lrs)
