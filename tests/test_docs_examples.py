"""README.md, docs/experiments.md and docs/results.md show what the program does.

Every fenced ``python`` block of the three runs as written, with a temporary folder as
the working directory; every ``toml`` block that is a whole experiment is read as a file
and raced; every ``gdlab`` command line of their ``bash`` blocks is one the command's
parser takes (and, for a race of a built-in experiment, one whose changes make a valid
experiment). A block marked ``<!-- not run -->`` just before its fence is a fragment: the
TOML fragments are checked as the part of an experiment they are.

Not here: the ``report.build`` example of docs/results.md, which
``tests/test_report_build.py::test_the_docs_example_runs`` runs.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from gdlab import cli
from gdlab.experiments import Experiment, ProblemSpec, RunSpec, load
from gdlab.race import race

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/experiments.md", "docs/results.md")
NOT_RUN = "<!-- not run -->"
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(language: str, *, fragments: bool = False) -> list[tuple[str, str]]:
    """``(where, text)`` of the docs' blocks in ``language``: those marked ``NOT_RUN``
    when ``fragments``, the others when not; ``where`` is ``doc:line``."""
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            if match.group(1) != language:
                continue
            marked = text[: match.start()].rstrip().endswith(NOT_RUN)
            if marked == fragments:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{doc}:{line}", match.group(2)))
    return found


def _covered_elsewhere(block: str) -> bool:
    return "report.build(" in block  # tests/test_report_build.py runs it


PYTHON = [(w, b) for w, b in _blocks("python") if not _covered_elsewhere(b)]


def _prepare(block: str) -> None:
    """What a block reads that the doc says comes from an earlier command."""
    if "gdlab-report/bowl/latest" in block:  # a report of `gdlab race bowl`
        code = cli.main(["race", "bowl", "--optimizers", "adam", "--workers", "1", "--quiet",
                         "--no-figures"])  # fmt: skip
        assert code == 0


def _run_as_script(block: str, where: str, directory: Path) -> str:
    """Run ``block`` as a user runs a file: ``python example.py`` (worker processes
    start by importing it); returns what it printed."""
    script = directory / "example.py"
    script.write_text(block, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, script.name], cwd=directory, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{where} as a script:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.parametrize(("where", "block"), PYTHON, ids=[w for w, _ in PYTHON])
def test_python_example_runs(where, block, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _prepare(block)
    if "workers=" in block:
        printed = _run_as_script(block, where, tmp_path)
    else:
        namespace: dict = {"__name__": "doc_example"}
        exec(compile(block, where, "exec"), namespace)
        printed = capsys.readouterr().out
    if "opt.save(" in block:  # README: "gdlab.optim.load(...) resumes bit for bit"
        from gdlab.optim import load as load_optimizer

        again = load_optimizer(tmp_path / "adam.npz")
        params, grads = namespace["params"], namespace["grads"]
        copy = {k: v.copy() for k, v in params.items()}
        namespace["opt"].update(params, grads)
        again.update(copy, grads)
        assert all(np.array_equal(params[k], copy[k]) for k in params)
    if "to_toml()" in block:  # "a file that `gdlab race --config` reads back equal"
        (tmp_path / "again.toml").write_text(printed, encoding="utf-8")
        assert load(tmp_path / "again.toml").to_toml().strip() == printed.strip()


TOML = [(w, b) for w, b in _blocks("toml") if "[problem]" in b and "[training]" in b]


def test_every_toml_block_is_an_experiment_or_a_marked_fragment():
    whole = {w for w, _ in TOML}
    assert whole, "docs/experiments.md shows a whole experiment file"
    partial = [w for w, _ in _blocks("toml") if w not in whole]
    assert not partial, f"mark these fragments {NOT_RUN} or make them whole: {partial}"


@pytest.mark.parametrize(("where", "block"), TOML, ids=[w for w, _ in TOML])
def test_toml_experiment_loads_and_races(where, block, tmp_path):
    path = tmp_path / "my-experiment.toml"
    path.write_text(block, encoding="utf-8")
    experiment = load(path)
    data = tomllib.loads(block)
    assert experiment.name == data.get("name", "my-experiment")
    assert experiment.seeds == data.get("seeds", 1)
    records = race(experiment, progress=False, workers=1)
    assert len(records) == len(experiment.runs) * experiment.seeds
    assert all(r["status"] in ("ok", "diverged") for r in records)


def _fragment_problem(table: dict) -> None:
    ProblemSpec.from_table(table["problem"])


def _fragment_lr_lines(block: str) -> None:
    lines = [line for line in block.splitlines() if line.strip()]
    for line in lines:
        run = RunSpec.from_table({"optimizer": "sgd", "lr": tomllib.loads(line)["lr"]}, line)
        run.make_optimizer()


@pytest.mark.parametrize(
    ("where", "block"), _blocks("toml", fragments=True),
    ids=[w for w, _ in _blocks("toml", fragments=True)],
)  # fmt: skip
def test_toml_fragment_is_a_valid_part(where, block):
    try:
        table = tomllib.loads(block)
    except tomllib.TOMLDecodeError:  # one key given several ways, a line each
        _fragment_lr_lines(block)
        return
    assert set(table) == {"problem"}, f"{where}: a fragment of what?"
    _fragment_problem(table)


def _command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for where, block in _blocks("bash"):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command.startswith("gdlab") or " && gdlab" in command:
                argv = shlex.split(command.rsplit("&& ", 1)[-1])
                found.append((f"{where}: {command}", argv[1:]))
    return found


COMMANDS = _command_lines()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_command_line_is_one_gdlab_takes(where, argv):
    argv = list(argv)
    if not argv or argv[0] not in cli.COMMANDS:
        argv = ["race", *argv]  # `gdlab` is `gdlab race mnist`, as cli.main reads it
    args = cli.build_parser().parse_args(argv)
    if args.command == "race" and args.config is None and args.data is None:
        experiment, _, _ = cli._experiment(args)
        assert isinstance(experiment, Experiment)


def test_out_of_other_files_is_refused_without_advice_to_force(tmp_path, monkeypatch, capsys):
    """docs/results.md: "a `DIR` of other files is refused with or without [--force],
    naming its first files" (it was told to add --force, which then refused it too)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / "notes.txt").write_text("mine\n", encoding="utf-8")
    bowl = ["race", "bowl", "--steps", "3", "--workers", "1", "--quiet", "--no-figures"]
    for force in ([], ["--force"]):
        assert cli.main([*bowl, "--out", "D", *force]) == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "notes.txt" in err, err
        assert "add --force" not in err, err
    assert [p.name for p in (tmp_path / "D").iterdir()] == ["notes.txt"]


def _row(key: str, spec) -> str:
    if spec.required:
        default = "required"
    elif spec.default is None:
        default = "absent"
    else:
        value = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        default = json.dumps(value, ensure_ascii=False)
    return f"| `{key}` | {spec.allowed()} | {default} | {spec.doc} |"


def test_the_key_tables_are_the_registries():
    """docs/experiments.md lists every key with the value, default and meaning its
    registry declares: [training], each problem kind and each data set."""
    from gdlab.data.registry import DATA_SOURCES
    from gdlab.experiments.model import TRAINING_FIELDS
    from gdlab.problems import PROBLEM_KINDS

    doc = (ROOT / "docs" / "experiments.md").read_text(encoding="utf-8")
    tables = [("[training]", TRAINING_FIELDS)]
    tables += [(f'kind = "{n}": {k.summary}', k.fields) for n, k in PROBLEM_KINDS.items()]
    tables += [(f'data = "{n}": {d.summary}', d.fields) for n, d in DATA_SOURCES.items()]
    missing = [
        f"{where}: {_row(key, spec)}"
        for where, fields in tables
        for key, spec in fields.items()
        if _row(key, spec) not in doc or where not in doc
    ]
    assert not missing, "\n".join(missing)
