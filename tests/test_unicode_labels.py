"""Labels and names in the seeds' own language.

The study notes are Korean, and so are many of their readers' run labels. Two
labels written only in Hangul used to name the same files ("run"): such a race
was refused. Figures drew Hangul as empty boxes, and the terminal table lost
its columns.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import pytest

from gdlab import cli
from gdlab._text import pad, slug, width
from gdlab.experiments import Experiment
from gdlab.report import figures

KOREAN = """\
name = "안장점"
title = "안장점 경주"
[problem]
kind = "function"
function = "bowl"
[training]
steps = 4
[[runs]]
label = "경사 하강법"
optimizer = "sgd"
lr = 0.5
[[runs]]
label = "모멘텀"
optimizer = "momentum"
lr = 0.1
[[runs]]
label = "아담"
optimizer = "adam"
lr = 0.3
"""


def run_cli(argv: list[str]) -> tuple[int, str]:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = cli.main(argv)
    return code, sink.getvalue()


def test_slugs_keep_letters_of_any_script():
    assert slug("모멘텀") == "모멘텀"
    assert slug("경사 하강법 (SGD)") == "경사-하강법-sgd"
    assert slug("모멘텀") != slug("아담")
    # one label typed composed or as separate jamo (NFD) is one slug
    assert slug("\u1106\u1169\u1106\u1166\u11ab\u1110\u1165\u11b7") == slug("모멘텀")
    assert slug("Ａｄａｍ") == "adam"  # full-width Latin
    assert slug("SGD, batch 1") == "sgd-batch-1"  # ASCII labels as before
    assert slug("0.95^epoch · 0.1") == "0.95-epoch-0.1"
    assert slug("/../") == "run"


def test_a_race_of_korean_labels_names_each_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("안장점.toml").write_text(KOREAN, encoding="utf-8")
    code, out = run_cli(["race", "안장점.toml", "--set", "모멘텀.lr=0.2", "--out", "R"])
    assert code == 0, out
    document = json.loads(Path("R", "results.json").read_text(encoding="utf-8"))
    assert [run["id"] for run in document["runs"]] == [
        "경사-하강법-seed0",
        "모멘텀-seed0",
        "아담-seed0",
    ]
    assert [run["label"] for run in document["runs"]] == ["경사 하강법", "모멘텀", "아담"]
    assert document["changes"] == ["모멘텀: lr: 0.1 → 0.2"]
    assert document["runs"][1]["hyperparameters"]["lr"] == 0.2
    assert sorted(p.name for p in Path("R", "figures").glob("*.png")) == [
        "loss.png",
        "overlay.png",
        "paths.png",
    ]


def test_an_experiment_may_be_named_in_korean():
    experiment = Experiment.from_toml(KOREAN)
    assert experiment.name == "안장점"
    with pytest.raises(ValueError, match="name must be letters, digits"):
        experiment.replace(name="_안장점")
    with pytest.raises(ValueError, match="name must be letters, digits"):
        experiment.replace(name="안장점/..")


def test_the_terminal_table_counts_wide_characters_twice():
    assert width("모멘텀") == 6
    assert width("Adam") == 4
    assert width("e\u0301") == 1
    assert pad("아담", 6) == "아담  "
    assert pad("0.1", 5, left=False) == "  0.1"
    table = cli._aligned(["#", "run", "s"], [["1", "경사 하강법", "0.1"], ["2", "SGD", "0.2"]], {1})
    lines = table.splitlines()
    assert len({width(line) for line in lines if not line.startswith("-")}) == 1  # columns line up
    assert lines[2].endswith("0.1")
    assert lines[3] == "2  SGD          0.2"


def test_figures_fall_back_to_a_cjk_font_the_machine_has(monkeypatch):
    from matplotlib import font_manager

    entries = list(font_manager.fontManager.ttflist)
    fake = font_manager.FontEntry(fname="/nowhere/NanumGothic.ttf", name="NanumGothic")
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [*entries, fake])
    figures._font_family.cache_clear()
    try:
        family = figures._font_family()
    finally:
        figures._font_family.cache_clear()
    assert family[0] == "DejaVu Sans"
    assert "NanumGothic" in family
    assert len(family) <= 3


def test_hangul_labels_draw_without_missing_glyphs_where_a_cjk_font_is_installed():
    family = figures._font_family()
    if len(family) == 1:
        pytest.skip("no CJK font on this machine (fonts-nanum or fonts-noto-cjk draws Hangul)")
    from matplotlib.figure import Figure

    with figures._style(), warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 47784 missing from font(s) DejaVu Sans"
        fig = Figure()
        ax = fig.add_subplot()
        ax.plot([0, 1], [1, 0], label="모멘텀 (β = 0.9)")
        ax.set_title("학습률")
        ax.legend()
        fig.savefig(io.BytesIO(), format="png")


@pytest.mark.parametrize(
    ("label", "ok"), [("a" * 200, True), ("a" * 201, False), ("모" * 67, False)]
)
def test_a_label_too_long_to_name_a_file_is_refused_before_anything_runs(label, ok):
    # Its params/<slug>-seed0.npz could not be created (ENAMETOOLONG): after training.
    text = KOREAN.replace('label = "아담"', f'label = "{label}"')
    if ok:
        assert Experiment.from_toml(text).runs[2].label == label
    else:
        with pytest.raises(ValueError, match=r"too long to name its files: \d+ bytes"):
            Experiment.from_toml(text)
