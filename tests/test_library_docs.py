"""The library docs say what the library does: their examples run, their tables hold.

Each fenced ```python block of docs/optimizers.md, docs/schedules.md and
docs/training.md runs on its own (``>>>`` blocks through :mod:`doctest`, their
printed output compared); a block marked ``<!-- not run -->`` on the line
before its fence is skipped (a signature, a fragment). docs/your-optimizer.md's
blocks run, in order, in tests/test_your_optimizer_doc.py. The tables of
defaults are read back and compared with the registered classes.
"""

from __future__ import annotations

import ast
import doctest
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from doc_checks import assert_written_signature
from gdlab import schedules as S
from gdlab import train
from gdlab.optim import OPTIMIZERS, create

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN_HERE = ("optimizers.md", "schedules.md", "training.md")
NOT_RUN = "<!-- not run -->"
# A fence at the start of a line, or indented in a list item (its closing fence
# indented alike): the block's lines lose that indentation.
_FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def _python_blocks(name: str) -> list[tuple[int, str, bool]]:
    """``(line, code, runs)`` for every ```python block of ``docs/name``."""
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, match.start()) + 1
        indent, code = match.group(1), match.group(2)
        code = "".join(row.removeprefix(indent) for row in code.splitlines(keepends=True))
        blocks.append((line, code, before != NOT_RUN))
    return blocks


def _cases():
    for name in RUN_HERE:
        for line, code, runs in _python_blocks(name):
            if runs:
                yield pytest.param(name, line, code, id=f"{name}:{line}")


def _table(name: str, header_start: str) -> list[list[str]]:
    """The body rows of the first table in ``docs/name`` whose header starts so."""
    lines = (DOCS / name).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([c.strip() for c in cells])
    return rows


def test_the_guide_to_your_own_optimizer_runs_elsewhere():
    """Not run twice: tests/test_your_optimizer_doc.py runs that page's blocks."""
    other = Path(__file__).with_name("test_your_optimizer_doc.py").read_text(encoding="utf-8")
    assert '"your-optimizer.md"' in other
    assert "exec(" in other
    assert len(_python_blocks("your-optimizer.md")) >= 4


@pytest.mark.parametrize(("name", "line", "code"), list(_cases()))
def test_a_python_block_runs_and_prints_what_the_doc_shows(name, line, code):
    where = f"docs/{name}, the block at line {line}"
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, {}, where, str(DOCS / name), line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test)
        assert runner.failures == 0, f"{where}: {runner.failures} example(s) print otherwise"
    else:
        exec(compile(code, where, "exec"), {"__name__": "library_docs"})


def test_every_python_fence_is_collected_indented_ones_too():
    """A block in a list item (its fence indented) is run as the others are (round 11:
    training.md's ``step_loss="train"`` example was missed)."""
    for name in (*RUN_HERE, "averages.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        fences = re.findall(r"^ *```python$", text, re.M)
        assert len(_python_blocks(name)) == len(fences), name
    indented = [code for _, code, _ in _python_blocks("training.md") if "step_loss=" in code]
    assert indented
    assert all(not row.startswith(" ") for row in indented[-1].splitlines())


def test_every_block_that_is_not_run_says_so_and_the_rest_run():
    """Each doc has at least one block that runs, and a skipped block is a fragment
    that cannot run by itself (it does not compile or names what it does not define)."""
    for name in RUN_HERE:
        blocks = _python_blocks(name)
        assert any(runs for _, _, runs in blocks), name
        for line, code, runs in blocks:
            if runs:
                continue
            try:
                exec(compile(code, name, "exec"), {})
            except (SyntaxError, NameError):
                continue
            pytest.fail(f"docs/{name}:{line} is marked not run but runs on its own")


# ------------------------------------------------------------ optimizers.md

# A preset table cell's symbols -> constructor arguments, per optimizer.
_SYMBOLS = {"lr": "lr", "μ": "momentum", "ε": "eps", "ψ": "momentum_decay",
            "wd": "weight_decay", "h₀": "initial_accumulator_value"}  # fmt: skip
_OWN_SYMBOLS = {
    "momentum": {"β": "momentum"},
    "rmsprop": {"α": "alpha", "β": "alpha", "ρ": "alpha", "decay": "alpha"},
    "adadelta": {"ρ": "rho"},
}
_EPS_PLACES = {
    "outside": ("eps_inside", False),
    "inside": ("eps_inside", True),
    "inside the max": ("eps_inside", True),
    "added to u": ("eps_inside", False),
}


def _cell_settings(optimizer: str, cell: str) -> dict:
    """The constructor arguments a preset cell states, e.g. ``lr 0.01, μ 0.9, `book```."""
    cell = re.sub(r"\s*\([^()]*(\([^()]*\))?[^()]*\)", "", cell)  # remarks in parentheses
    if cell == "class defaults":
        return {}
    symbols = {**_SYMBOLS, **_OWN_SYMBOLS.get(optimizer, {})}
    settings = {}
    for part in (p.strip() for p in cell.split(",")):
        code = re.fullmatch(r"`(\w+)(?:=(\w+))?`", part)
        if code and code.group(2) is not None:
            settings[code.group(1)] = ast.literal_eval(code.group(2))
        elif code and code.group(1) in getattr(OPTIMIZERS[optimizer], "FORMS", ()):
            settings["form"] = code.group(1)
        elif code:
            settings[code.group(1)] = True
        elif part in ("ε added to u",):
            settings["eps_inside"] = False
        else:
            symbol, value, *place = part.split(" ", 2)
            assert symbol in symbols, f"{optimizer}: unknown symbol {symbol!r} in {cell!r}"
            settings[symbols[symbol]] = float(value)
            if place:
                key, flag = _EPS_PLACES[place[0]]
                settings[key] = flag
    return settings


def test_the_preset_table_states_what_each_preset_sets():
    rows = _table("optimizers.md", "| optimizer | `book`")
    presets = ("book", "course", "torch", "keras", "optax")
    assert {row[0] for row in rows} == {
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
        "adamax", "nadam", "radam",
    }  # fmt: skip
    for name, *cells in rows:
        cls = OPTIMIZERS[name]
        for preset, cell in zip(presets, cells, strict=True):
            where = f"docs/optimizers.md, presets table, {name} / {preset}"
            if cell == "—":
                assert preset not in cls.presets, f"{where}: the doc says none"
                continue
            stated = _cell_settings(name, cell)
            hyper = create(name, preset=preset).hyperparameters()
            for key, value in stated.items():
                assert hyper[key] == value, f"{where}: {key} is {hyper[key]!r}, not {value!r}"
            if preset != "torch":  # the torch column lists class defaults, set by no preset
                hidden = set(cls.presets[preset]) - set(stated) - {"beta1", "beta2"}
                assert not hidden, f"{where}: the preset also sets {sorted(hidden)}"
            for beta in ("beta1", "beta2"):  # "All presets use β1 = 0.9 and β2 = 0.999"
                assert hyper.get(beta, 0.9 if beta == "beta1" else 0.999) == (
                    0.9 if beta == "beta1" else 0.999
                )


def test_the_update_table_names_every_registered_optimizer():
    named = {}
    for row in _table("optimizers.md", "| class (`name`) |"):
        match = re.match(r"`(\w+)` \(`(\w+)`\)", row[0])
        if match:
            named[match.group(2)] = match.group(1)
    wrappers = {}
    for row in _table("optimizers.md", "| class (name) |"):
        match = re.match(r"`(\w+)` \(`(\w+)`\)", row[0])
        wrappers[match.group(2)] = match.group(1)
    builtin = {n: c for n, c in OPTIMIZERS.items() if c.__module__.startswith("gdlab.")}
    assert {**named, **wrappers} == {n: c.__name__ for n, c in builtin.items()}


def test_the_forms_in_the_update_table_are_the_classes_forms():
    form_of = {}
    current = None
    for row in _table("optimizers.md", "| class (`name`) |"):
        match = re.match(r"`(\w+)` \(`(\w+)`\)", row[0])
        current = match.group(2) if match else current
        form = re.match(r'`"(\w+)"`', row[1])
        if form and current in ("momentum", "nesterov", "adam"):
            form_of.setdefault(current, []).append(form.group(1))
    for name, forms in form_of.items():
        assert tuple(forms) == OPTIMIZERS[name].FORMS, name
        default = inspect.signature(OPTIMIZERS[name]).parameters["form"].default
        assert forms[0] == default, f"{name}: the table's first row is the default"


def test_the_wrapper_table_gives_the_wrappers_defaults():
    for row in _table("optimizers.md", "| class (name) |"):
        name = re.match(r"`\w+` \(`(\w+)`\)", row[0]).group(1)
        hyper = create(name).hyperparameters()
        for arg, value in re.findall(r"`(\w+)` (`[^`]*`|[\w.]+)", row[1]):
            expected = ast.literal_eval(value.strip("`"))
            assert hyper[arg] == expected, f"{name}.{arg}: {hyper[arg]!r}, not {expected!r}"


def test_the_options_table_gives_the_base_options_defaults():
    from gdlab.optim.base import Optimizer

    parameters = inspect.signature(Optimizer.__init__).parameters
    rows = _table("optimizers.md", "| option | default |")
    assert [row[0].strip("`") for row in rows] == [p for p in parameters if p not in ("self", "lr")]
    for option, default, _ in rows:
        assert ast.literal_eval(default.strip("`")) == parameters[option.strip("`")].default


# ------------------------------------------------------------- schedules.md


def test_the_schedule_table_gives_each_constructor_and_its_defaults():
    for name, cls_cell, _, unit, first in _table("schedules.md", "| name (`create`) |"):
        name = name.strip("`")
        cls = S.SCHEDULES[name]
        written = re.fullmatch(r"`(\w+)\((.*)\)`", cls_cell)
        assert written.group(1) == cls.__name__, name
        parameters = inspect.signature(cls).parameters
        args = [a.strip() for a in written.group(2).split(",")]
        assert [a.split("=")[0] for a in args if a != "*"] == list(parameters), name
        for arg in args:
            if "=" in arg:
                key, value = arg.split("=")
                assert parameters[key].default == ast.literal_eval(value), f"{name}.{key}"
            elif arg != "*":
                assert parameters[arg].kind is not inspect.Parameter.VAR_KEYWORD
        if "per" in parameters:
            assert unit.split(" ")[0] == parameters["per"].default, f"{name}: unit"
        if "first" in parameters:
            assert int(first.split(" ")[0]) == parameters["first"].default, f"{name}: first"


# The calls behind each line of the "Errors" block of docs/schedules.md.
_SCHEDULE_ERRORS = {
    "lr0 must be > 0; got 0": lambda: S.InverseTimeDecay(0, 1.0),
    "rate must be in (0, 1]; got 1.5": lambda: S.ExponentialDecay(0.1, 1.5),
    "first must be 1 (the counter starts at 1 since 1/√0 is undefined); got 0": (
        lambda: S.InverseSqrtEpochDecay(0.1, first=0)
    ),
    "per must be one of 'epoch', 'step'; got 'batch'": (
        lambda: S.ExponentialDecay(0.1, 0.5, per="batch")
    ),
    "decay_steps must be an integer; got 2.0 (float)": (
        lambda: S.InverseTimeDecay(0.1, 0.5, decay_steps=2.0)
    ),
    "schedule name must be one of 'constant', 'inverse_time', …; got 'linear'": (
        lambda: S.create("linear")
    ),
    "an argument of 'exponential' must be one of 'lr0', 'rate', 'per', 'decay_steps', "
    "'staircase', 'first'; got 'decay' (str)": (
        lambda: S.create("exponential", lr0=0.1, rate=0.5, decay=3)
    ),
    "max_lr must be >= base_lr = 0.1; got 0.05": lambda: S.Cyclic(0.1, 0.05),
    "pct_final must be 0.85 (unused) unless form='optax' and three_phase=True; got 0.7": (
        lambda: S.OneCycle(0.1, 100, pct_final=0.7)
    ),
    "schedules[0] must be a schedule counting steps, as the join does (per='step'); "
    "got ExponentialDecay(...)": lambda: S.Join([S.ExponentialDecay(0.1, 0.5), 0.1], [3]),
    "lr_lambda(2) must be >= 0; got -1.0": lambda: S.Lambda(0.1, lambda n: -1.0)(0, 2),
}


def test_the_schedule_errors_the_doc_quotes_are_the_errors_raised():
    text = (DOCS / "schedules.md").read_text(encoding="utf-8")
    block = text[text.index("## Errors") :].split("```")[1]
    quoted = [line.split("  ")[0].strip() for line in block.strip().splitlines()]
    assert quoted == list(_SCHEDULE_ERRORS)
    for message, call in _SCHEDULE_ERRORS.items():
        with pytest.raises((TypeError, ValueError)) as raised:
            call()
        pattern = re.escape(message).replace("…", ".*").replace(r"\.\.\.", ".*")
        assert re.fullmatch(pattern, str(raised.value)), f"{message!r} is raised as {raised.value}"


def test_the_reference_errors_the_doc_lists_are_the_measured_ones():
    """The "max rel. error" column, to one significant digit, from the recorded references."""
    spec = importlib.util.spec_from_file_location(
        "schedule_references", Path(__file__).with_name("test_schedules.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    errors = module.reference_errors()
    cases = {
        'OneCycle(form="torch")': ("onecycle_torch",),
        'OneCycle(form="optax")': ("onecycle_optax",),
        "Cyclic": ("cyclic_",),
        "Lambda": ("lambda_",),
        "Multiplicative": ("multiplicative_",),
        'Join(form="torch")': ("sequential_",),
        'Join(form="optax")': ("join_optax",),
        "Chained": ("chained_",),
        "SWALR": ("swalr_",),
        "PiecewiseConstant(inclusive=True)": ("piecewise_keras",),
        "PiecewiseConstant()": ("piecewise_torch", "piecewise_optax"),
        "CosineDecay(periodic=True)": ("cosine_torch_periodic",),
        "CosineDecay()": ("cosine_optax",),
    }
    rows = _table("schedules.md", "| gdlab | reference |")
    assert len(rows) == len(cases)
    covered = set()
    for gdlab_cell, _, written, _ in rows:
        label = re.match(r"`([^`]*)`", gdlab_cell).group(1)
        names = [n for n in errors if n.startswith(cases[label])]
        assert names, label
        covered.update(names)
        largest = max(errors[n] for n in names)
        assert float(written) == float(f"{largest:.0e}"), f"{label}: measured {largest:.2g}"
    assert covered == set(errors)


# -------------------------------------------------------------- training.md


def test_the_fit_signature_in_the_doc_is_fits():
    (code,) = [c for _, c, _ in _python_blocks("training.md") if c.startswith("history = fit(")]
    assert_written_signature(code[code.index("fit(") + 4 : code.rindex(")")], train.fit)
