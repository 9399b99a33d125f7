"""Round 11, an optimizer of one's own: a diverged 2-D path drawn without NumPy's
warnings, a plug-in that fails to load told in one line (and named by the error that
follows), an optimizer no module registered named as such, and presets checked when
``register`` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from cli_run import gdlab
from gdlab.optim import register
from gdlab.optim import registry as optim_registry

# ------------------------------------------------------------------ 2. diverged 2-D paths


def test_a_path_that_overflows_or_ends_non_finite_has_a_finite_roughness():
    from gdlab.report.figures import _wiggle

    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _wiggle(square) == pytest.approx(2 / np.sqrt(2))
        assert _wiggle(square * 1e200) == pytest.approx(_wiggle(square))  # no overflow
        diverged = np.vstack([square * 1e199, [[np.inf, np.nan], [np.nan, np.nan]]])
        assert _wiggle(diverged) == pytest.approx(_wiggle(square))  # its finite part
        assert _wiggle(np.array([[1.0, 2.0], [np.nan, 1.0]])) == 1.0
        assert _wiggle(np.array([[np.inf, 0.0]])) == 1.0
        assert _wiggle(np.zeros((3, 2))) == 1.0


def test_a_race_with_a_diverged_2d_path_prints_no_numpy_warnings(tmp_path, capsys):
    argv = ["race", "bowl", "--optimizers", "sgd,adam", "--lr", "sgd=1e200", "--steps", "10",
            "--workers", "1", "--out", str(tmp_path / "r"), "--quiet"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would stop the page
        code, out, err = gdlab(argv, capsys)
    assert code == 0, err
    assert err == ""
    assert "diverged" in out
    assert (tmp_path / "r" / "index.html").is_file()


# ------------------------------------------------------------------ 3. a broken plug-in


def _broken_plugin(root):
    """A dist-info folder whose ``gdlab.optimizers`` entry point ``raises`` fails to load."""
    (root / "raisesmod.py").write_text("raise RuntimeError('boom in my module')\n")
    info = root / "raisesplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: raisesplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gdlab.optimizers]\nraises = raisesmod\n")
    return root


def _gdlab_process(root, *argv):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run([sys.executable, "-m", "gdlab", *argv], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


WARNING = (
    "gdlab: warning: optimizer plug-in 'raises' (raisesmod) failed to load: "
    "RuntimeError: boom in my module"
)


def test_a_broken_plug_in_is_told_in_one_line_and_named_by_the_error(tmp_path):
    root = _broken_plugin(tmp_path)
    done = _gdlab_process(root, "race", "bowl", "--optimizers", "raises", "--steps", "2",
                          "--out", str(tmp_path / "r"))  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == WARNING
    assert len(lines) == 2, lines
    assert lines[1] == (
        "gdlab: error: --optimizers names 'raises', which is not registered in this process: "
        "its optimizer plug-in 'raises' (raisesmod) failed to load: RuntimeError: boom in my "
        "module"
    )


def test_a_broken_plug_in_is_told_once_by_a_race_on_worker_processes(tmp_path):
    root = _broken_plugin(tmp_path)
    done = _gdlab_process(root, "race", "bowl", "--optimizers", "sgd,adam", "--steps", "2",
                          "--workers", "2", "--no-figures", "--quiet", "--out",
                          str(tmp_path / "r"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [WARNING]


def test_a_broken_plug_in_is_still_a_python_warning_for_a_library_user(tmp_path):
    root = _broken_plugin(tmp_path)
    script = "import gdlab.optim"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", script],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "PluginWarning: gdlab optimizer plug-in 'raises' (raisesmod) failed" in done.stderr


# ---------------------------------------------------- 4. an optimizer not registered here


def _sign_rule(p, g, state, t, *, lr=0.01):
    p -= lr * np.sign(g)


def test_rerunning_a_report_of_an_optimizer_not_registered_here_says_so(
    registered, tmp_path, capsys
):
    register("signgd_r11", lr_range=(1e-4, 1e-1))(_sign_rule)
    registered.append("signgd_r11")
    report = tmp_path / "r"
    argv = ["race", "bowl", "--optimizers", "signgd_r11,sgd", "--steps", "3", "--workers", "1",
            "--no-figures", "--no-js", "--quiet", "--out", str(report)]  # fmt: skip
    code, _, err = gdlab(argv, capsys)
    assert code == 0, err
    optim_registry.unregister("signgd_r11")
    code, _, err = gdlab(["race", str(report / "results.json"), "--out", str(tmp_path / "b")],
                         capsys)  # fmt: skip
    assert code == 2
    assert len(err.splitlines()) == 1
    assert (
        "runs[0].optimizer is 'signgd_r11', which is not registered in this process: "
        "import the module that registers it, or install its plug-in (registered: sgd" in err
    )
    assert "must be one of" not in err


def test_a_misspelt_optimizer_in_a_file_is_still_told_among_the_names(tmp_path, capsys):
    path = tmp_path / "x.toml"
    path.write_text(textwrap.dedent("""
        name = "x"
        [training]
        steps = 3
        [problem]
        kind = "function"
        [[runs]]
        label = "a"
        optimizer = "adamm"
    """))  # fmt: skip
    code, _, err = gdlab(["race", "--config", str(path), "--out", str(tmp_path / "r")], capsys)
    assert code == 2
    assert "runs[0].optimizer must be one of sgd, " in err
    assert "got 'adamm'" in err


def test_a_failed_plug_in_is_named_when_its_optimizer_is_asked_for(monkeypatch):
    from gdlab.experiments import builtin

    said = "optimizer plug-in 'boom' (pkg.boom) failed to load: ValueError: nope"
    monkeypatch.setattr(optim_registry, "_FAILED_PLUGINS", {"boom": said})
    with pytest.raises(ValueError, match="not registered") as caught:
        builtin("bowl").select_optimizers(["boomopt"])  # registered by 'boom', maybe
    message = str(caught.value)
    assert message.startswith("--optimizers names 'boomopt', which is not registered")
    assert message.endswith(f"; {said}")


# ------------------------------------------------------------------------- 5. presets


def test_a_preset_the_optimizer_refuses_is_refused_when_register_runs(registered):
    from gdlab.optim import OPTIMIZERS

    with pytest.raises(ValueError, match="preset 'torch'") as caught:
        register("badpreset_r11", lr_range=(1e-3, 1.0),
                 presets={"mine": {"lr": 0.2}, "torch": {"lr": -1}})(_sign_rule)  # fmt: skip
    assert str(caught.value) == (
        "preset 'torch' of 'badpreset_r11' (lr=-1) is refused by the optimizer: "
        "lr must be > 0; got -1"
    )
    assert "badpreset_r11" not in OPTIMIZERS
    register("goodpreset_r11", lr_range=(1e-3, 1.0), presets={"torch": {"lr": 0.2}})(_sign_rule)
    registered.append("goodpreset_r11")


def test_preset_advice_on_the_command_line_names_the_command_line(registered, tmp_path, capsys):
    register("nopresets_r11", lr_range=(1e-3, 1.0))(_sign_rule)
    registered.append("nopresets_r11")
    argv = ["race", "bowl", "--optimizers", "nopresets_r11", "--preset", "book",
            "--out", str(tmp_path / "r")]  # fmt: skip
    code, _, err = gdlab(argv, capsys)
    assert code == 2
    assert err.startswith("gdlab: error: --preset: preset 'book' does not define 'nopresets_r11'")
    assert err.rstrip().endswith("'nopresets_r11' has no presets (drop --preset)")


def test_a_rule_without_lr_is_told_in_plain_words():
    def no_lr(p, g, state, t, *, step=0.1):
        p -= step * g

    with pytest.raises(TypeError) as caught:
        register("nolr_r11", lr_range=(1e-3, 1.0))(no_lr)
    assert str(caught.value).startswith(
        "rule 'nolr_r11' must be a function that takes lr as a keyword argument with a default"
    )
