"""Round 10: checkpoints of runs with Python callables, resuming factored optimizer
state, resume errors, OneCycle's three torch legs in order, Warmup over steps only."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from gdlab import _io
from gdlab.data import moons, split
from gdlab.optim import create
from gdlab.problems import FunctionProblem, MLPClassification
from gdlab.schedules import (
    Chained,
    Cyclic,
    ExponentialDecay,
    Join,
    Lambda,
    Multiplicative,
    OneCycle,
    ReduceOnPlateau,
    Warmup,
)
from gdlab.train import Callback, Checkpoint, fit


@pytest.fixture(scope="module")
def data():
    whole = moons(200, noise=0.2, rng=np.random.default_rng(1))
    return split(whole, test_size=0.2, validation_size=0.2, rng=np.random.default_rng(2))


def _fit(problem, optimizer, **kwargs):
    return fit(problem, optimizer, rng=np.random.default_rng(0), progress=False, **kwargs)


# --------------------------------------------------------------------------- 1: callables


def _shrink(n: int) -> float:
    return 0.9**n


CALLABLE_SCHEDULES = {
    "lambda": lambda: Lambda(0.1, _shrink, per="step"),
    "multiplicative": lambda: Multiplicative(0.1, lambda n: 0.99, per="step"),
    "cyclic-scale-fn": lambda: Cyclic(0.01, 0.1, step_size_up=3, scale_fn=lambda x: 1.0),
    "join": lambda: Join([0.1, Lambda(0.1, _shrink, per="step")], [3]),
    "warmup": lambda: Warmup(Lambda(0.1, _shrink, per="step"), 2),
}


@pytest.mark.parametrize("make", CALLABLE_SCHEDULES.values(), ids=CALLABLE_SCHEDULES)
def test_a_checkpoint_of_a_schedule_with_a_function_is_refused_before_any_step(tmp_path, make):
    opt = create("sgd", lr=make())
    before = opt.state_dict()
    rng = np.random.default_rng(0)
    path = tmp_path / "ck.npz"
    with pytest.raises(TypeError, match=r"^a run with a Checkpoint \('.*ck\.npz'\) must hold"):
        fit(FunctionProblem("bowl"), opt, steps=10, rng=rng, progress=False,
            callbacks=[Checkpoint(path, every=5)])  # fmt: skip
    assert opt.t == 0
    assert not path.exists()
    assert rng.bit_generator.state == np.random.default_rng(0).bit_generator.state
    assert repr(opt.state_dict()) == repr(before)


def test_the_refusal_names_where_the_function_is_and_puts_a_fit_schedule_back(tmp_path):
    opt = create("sgd", lr=0.1)
    with pytest.raises(TypeError, match=r"\['lr'\]\['schedule'\]\['lr_lambda'\] = <function _shr"):
        _fit(FunctionProblem("bowl"), opt, steps=10, schedule=Lambda(0.1, _shrink, per="step"),
             callbacks=[Checkpoint(tmp_path / "ck.npz", every=5)])  # fmt: skip
    assert opt.lr == 0.1
    assert opt.t == 0


class _Remembers(Callback):
    def __init__(self, value):
        self.value = value

    def state_dict(self):
        return {"seen": self.value}


@pytest.mark.parametrize("value", [{1, 2}, Path("x")])
def test_the_refusal_names_what_it_found_that_a_checkpoint_cannot_hold(tmp_path, value):
    what = f"a {type(value).__name__}"
    callbacks = [_Remembers(value), Checkpoint(tmp_path / "ck.npz", every=5)]
    with pytest.raises(TypeError) as caught:
        _fit(FunctionProblem("bowl"), create("sgd", lr=0.1), steps=10, callbacks=callbacks)
    said = str(caught.value)
    assert f"not what a checkpoint cannot hold: {what}; " in said
    assert "function" not in said
    assert said.endswith(f"got the callbacks' states['_Remembers#0']['seen'] = {value!r}")


def test_the_savable_check_reads_no_parameters_state_or_history(tmp_path, monkeypatch):
    from gdlab.train import Run

    def no_whole_state(self):
        raise AssertionError("the whole run's state was built")

    monkeypatch.setattr(Run, "state_dict", no_whole_state)
    with pytest.raises(TypeError, match=r"not what a checkpoint cannot hold: a Python function "):
        _fit(FunctionProblem("bowl"), create("sgd", lr=Lambda(0.1, _shrink, per="step")),
             steps=10, callbacks=[Checkpoint(tmp_path / "ck.npz", every=5)])  # fmt: skip


def test_a_schedule_with_a_function_still_runs_without_a_checkpoint():
    opt = create("sgd", lr=Lambda(0.1, _shrink, per="step"))
    history = _fit(FunctionProblem("bowl"), opt, steps=10)
    assert history.lr[:3] == pytest.approx([0.1, 0.09, 0.081])


# --------------------------------------------------------------------------- 5: factored state


class _Interrupt(Callback):
    def on_step_end(self, run, loss):
        if run.step == 5:
            raise KeyboardInterrupt


def _interrupted(data, name, path):
    """A checkpoint at step 5 of a 10-step run of ``name``."""
    with pytest.raises(KeyboardInterrupt):
        _fit(MLPClassification(data, (8,)), create(name), steps=10, batch_size=32,
             callbacks=[Checkpoint(path, every=5), _Interrupt()])  # fmt: skip
    return path


@pytest.mark.parametrize("name", ["sm3", "adafactor"])
def test_factored_state_resumes_bit_identically(tmp_path, data, name):
    path = _interrupted(data, name, tmp_path / "d.npz")
    assert _io.load_tree(path)["step"] == 5
    straight = _fit(MLPClassification(data, (8,)), create(name), steps=10, batch_size=32)
    resumed = _fit(MLPClassification(data, (8,)), create(name), steps=10, batch_size=32,
                   resume=path)  # fmt: skip
    for key, value in straight.params.items():
        np.testing.assert_array_equal(resumed.params[key], value)
    assert resumed.step_loss == straight.step_loss


def test_optimizer_state_for_other_keys_is_still_refused(tmp_path, data):
    path = _interrupted(data, "sm3", tmp_path / "d.npz")
    state = _io.load_tree(path)
    state["optimizer"]["state"].pop("b1")
    _io.save_tree(path, state)
    with pytest.raises(ValueError, match=r"^checkpoint optimizer state must be arrays for"):
        _fit(MLPClassification(data, (8,)), create("sm3"), steps=10, batch_size=32, resume=path)


def test_optimizer_state_of_other_shapes_is_refused_on_resume_changing_nothing(tmp_path, data):
    path = _interrupted(data, "adam", tmp_path / "d.npz")
    state = _io.load_tree(path)
    bufs = state["optimizer"]["state"]["W2"]
    for name in bufs:
        bufs[name] = np.zeros((5, 5), np.float32)
    _io.save_tree(path, state)
    _refused(data, path, r"^checkpoint optimizer state: params\['W2'\] must have shape \(5, 5\) "
             r".* got shape \(8, 1\)")  # fmt: skip


@pytest.mark.parametrize("name", ["sm3", "adafactor"])
def test_factored_state_of_other_shapes_is_refused_on_resume(tmp_path, data, name):
    path = _interrupted(data, name, tmp_path / "d.npz")
    state = _io.load_tree(path)
    arrays = state["optimizer"]["state"]
    arrays["W1"], arrays["W2"] = arrays["W2"], arrays["W1"]  # each whole, for another shape
    _io.save_tree(path, state)
    problem = MLPClassification(data, (8,))
    opt = create(name)
    with pytest.raises(ValueError, match=r"^checkpoint optimizer state: params\['W1'\] must"):
        _fit(problem, opt, steps=10, batch_size=32, resume=path)
    assert opt.t == 0
    assert opt.state is None


# --------------------------------------------------------------------------- 6: resume errors


def _refused(data, path, message):
    problem = MLPClassification(data, (8,))
    opt, rng = create("adam"), np.random.default_rng(0)
    params = problem.init_params(np.random.default_rng(3))
    kept = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=message):
        fit(problem, opt, params=params, steps=10, batch_size=32, rng=rng, progress=False,
            resume=path)  # fmt: skip
    assert opt.t == 0
    assert opt.state is None
    assert rng.bit_generator.state == np.random.default_rng(0).bit_generator.state
    for key, value in kept.items():
        np.testing.assert_array_equal(params[key], value)


def test_an_optimizer_file_is_not_a_checkpoint(tmp_path, data):
    path = tmp_path / "o.npz"
    create("sgd", lr=0.1).save(path)
    _refused(data, path, r"^resume must be a checkpoint written by gdlab\.train\.Checkpoint, "
             rf"not an optimizer file .*; got '{path}', an optimizer file$")  # fmt: skip


def test_a_checkpoint_without_its_history_names_the_file(tmp_path, data):
    path = _interrupted(data, "adam", tmp_path / "ck.npz")
    state = _io.load_tree(path)
    del state["history"]
    _io.save_tree(path, state)
    _refused(data, path, r"^resume must be a whole checkpoint written by gdlab\.train\."
             rf"Checkpoint; got '{path}', which has no 'history' entry$")  # fmt: skip


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"hello", r"it is not an \.npz archive: it starts b'hello'"), (b"", r"it is empty")],
)
def test_a_text_file_is_not_an_npz_archive(tmp_path, data, content, said):
    path = tmp_path / "garbage.npz"
    path.write_bytes(content)
    message = rf"^{path} is not a gdlab checkpoint \({said}\)$"
    _refused(data, path, message)
    with pytest.raises(ValueError, match=message):
        _io.load_tree(path)


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"hello", "it is not an .npz archive: it starts b'hello'"), (b"", "it is empty"),
     (None, "it is not an .npz archive: it holds one .npy array")],
)  # fmt: skip
def test_optimizer_files_and_checkpoints_give_one_reason_for_a_non_archive(tmp_path, content, why):
    from gdlab.optim import load

    path = tmp_path / "x.npz"
    if content is None:
        np.save(path.open("wb"), np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(why)) as caught:
        load(path)
    assert str(caught.value) == f"{path} is not a gdlab optimizer file: {why}"
    with pytest.raises(ValueError, match=re.escape(why)) as caught:
        _io.load_tree(path)
    assert str(caught.value) == f"{path} is not a gdlab checkpoint ({why})"


# --------------------------------------------------------------------------- 2: OneCycle legs

ONECYCLE_ORDER = r"^pct_start must be such that the legs end in order with form='torch'"


@pytest.mark.parametrize(("total", "pct"), [(100, 0.6), (100, 0.5051), (100, 0.0099), (3, 0.3)])
def test_three_torch_legs_out_of_order_are_refused(total, pct):
    with pytest.raises(ValueError, match=ONECYCLE_ORDER + r".*; got " + str(pct) + "$"):
        OneCycle(0.1, total, pct_start=pct, three_phase=True)


def test_the_refusal_states_the_bound():
    with pytest.raises(ValueError, match=r"<= \(T \+ 1\)/\(2T\) = 0\.505 for T = 100; got 0\.6$"):
        OneCycle(0.1, 100, pct_start=0.6, three_phase=True)


@pytest.mark.parametrize(("total", "pct"), [(100, 0.5), (100, 0.01), (100, 0.3)])
def test_three_torch_legs_in_order_reach_final(total, pct):
    s = OneCycle(0.1, total, pct_start=pct, three_phase=True)
    final = 0.1 / 25.0 / 1e4
    assert s(total - 1) == pytest.approx(final)
    assert s(total + 50) == pytest.approx(final)


@pytest.mark.parametrize(("total", "pct"), [(100, 0.505), (1, 1.0)])
def test_three_torch_legs_at_the_bounds_are_accepted(total, pct):
    OneCycle(0.1, total, pct_start=pct, three_phase=True)


@pytest.mark.parametrize(("total", "pct"), [(26, 27 / 52), (49, 1 / 49), (7, 8 / 14)])
def test_the_bound_the_message_states_is_accepted(total, pct):
    s = OneCycle(0.1, total, pct_start=pct, three_phase=True)
    assert all(0 < s(n) <= 0.1 for n in range(total + 2))


def test_three_torch_legs_at_both_bounds_are_in_order_for_every_total():
    for total in range(1, 3001):
        for pct in (1 / total, (total + 1) / (2 * total)):
            s = OneCycle(0.1, total, pct_start=pct, three_phase=True)
            (peak, *_), (back, *_), (end, *_) = s._build_legs()
            assert peak <= back <= end == total - 1, (total, pct)
            assert 0 < s(0) <= 0.1
            assert 0 < s(total - 1) <= 0.1


def test_two_torch_legs_and_optax_legs_are_unchanged():
    assert OneCycle(0.1, 100, pct_start=0.6)(99) == pytest.approx(0.1 / 25 / 1e4)
    OneCycle(0.1, 100, pct_start=0.6, pct_final=0.9, three_phase=True, form="optax")


def test_play_refuses_legs_out_of_order_on_pct_start():
    from gdlab.play import api

    arguments = {"total_steps": 100, "pct_start": 0.6, "three_phase": True}
    body = {"schedule": {"name": "onecycle", "arguments": arguments}}
    with pytest.raises(api.PlayError, match=r"pct_start must be such that the legs end in order"):
        api.schedule_curve(body)


# --------------------------------------------------------------------------- 3: Warmup


@pytest.mark.parametrize(
    "inner",
    [
        ExponentialDecay(0.1, 0.5),
        Chained([ExponentialDecay(0.1, 0.5, per="step"), ExponentialDecay(1.0, 0.9)]),
        Join([0.1, 0.05], [2], per="epoch"),
    ],
    ids=["exponential", "chained", "join"],
)
def test_warmup_refuses_a_schedule_counting_epochs(inner):
    with pytest.raises(ValueError, match=r"^schedule must be a schedule counting steps, .*"
                       r"\(pass per='step'"):  # fmt: skip
        Warmup(inner, 40)


def test_warmup_over_steps_peaks_at_the_wrapped_rate(data):
    s = Warmup(ExponentialDecay(0.1, 0.5, per="step"), 4)
    assert [s(t) for t in range(6)] == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1, 0.05])


def test_warmup_keeps_reduce_on_plateau():
    s = Warmup(ReduceOnPlateau(0.1, factor=0.5, patience=0), 2)
    assert s(2) == 0.1
    s.report(1.0)
    s.report(2.0)
    assert s(5) == pytest.approx(0.05)


# --------------------------------------------------------------------------- 4: plot files


def test_averages_md_names_every_file_gdlab_plot_ewma_writes(tmp_path):
    import re
    from pathlib import Path

    from gdlab.cli import main

    out = tmp_path / "ew"
    assert main(["plot", "ewma", "--out", str(out), "--quiet", "--no-js"]) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    page = (Path(__file__).resolve().parent.parent / "docs" / "averages.md").read_text()
    section = page[page.index("## `gdlab plot ewma`") :]
    named = " ".join(section[: section.index("```python")].split())
    assert {f for f in written if f"`{f}`" not in named} == set()
    assert (out / "results.csv").read_text().count("\n") == 1  # the header only
    assert re.search(r"`results\.csv` \(the header only, no rows: a plot runs no", named)


# --------------------------------------------------------------------------- L-BFGS
# A step whose line search met a non-finite value after moving ends at the last finite
# point, counted by the optimizer (docs/optimizers.md): the history counts it too.


def test_an_lbfgs_step_that_moved_before_diverging_is_in_the_history() -> None:
    from gdlab.optim import create
    from gdlab.problems import FunctionProblem

    opt = create("lbfgs", lr=1e6)
    history = fit(
        FunctionProblem("rosenbrock"), opt, steps=5, rng=np.random.default_rng(0), progress=False
    )
    assert history.status == "diverged"
    assert opt.t == history.steps == history.stopped_at == 1
    assert len(history.loss) == len(history.lr) == 1
    assert len(history.path) == 2
    assert history.path[0] == (-1.5, 2.0)
    assert history.path[-1] == tuple(float(history.params[k]) for k in ("x", "y"))
    assert history.path[-1] != history.path[0]  # it had moved
    assert history.reason.startswith("diverged at step 1: ")


def test_a_step_refused_before_moving_is_not_counted() -> None:
    from gdlab.optim import create
    from gdlab.problems import FunctionProblem

    problem = FunctionProblem("bowl")
    real = problem.loss_and_grads
    calls = [0]

    def nan_grads_at_the_third_step(params, batch=None):
        calls[0] += 1
        loss, grads = real(params, batch)
        if calls[0] == 3:  # a finite loss, so the optimizer's own check refuses it
            grads = {k: np.full_like(v, np.nan) for k, v in grads.items()}
        return loss, grads

    problem.loss_and_grads = nan_grads_at_the_third_step
    opt = create("sgd", lr=0.1)
    history = fit(problem, opt, steps=5, rng=np.random.default_rng(0), progress=False)
    assert history.status == "diverged"
    assert opt.t == history.steps == history.stopped_at == 2
    assert len(history.loss) == 2
    assert len(history.path) == 3
    assert history.path[-1] == tuple(float(history.params[k]) for k in ("x", "y"))
    assert history.reason.startswith("diverged at step 3: ")


def test_an_lbfgs_step_that_moved_before_diverging_ends_its_epoch(tmp_path) -> None:
    path = tmp_path / "ck.npz"
    history = fit(FunctionProblem("rosenbrock"), create("lbfgs", lr=1e6), steps=5,
                  callbacks=[Checkpoint(path, every=1)], rng=np.random.default_rng(0),
                  progress=False)  # fmt: skip
    assert history.status == "diverged"
    assert history.steps == 1
    state = _io.load_tree(path)
    assert (state["step"], state["epoch"]) == (1, 1)  # one step per epoch
    assert history.epochs == []  # a diverged step is not evaluated


def test_a_normal_run_counts_and_evaluates_its_epochs(data) -> None:
    history = _fit(MLPClassification(data, (8,)), create("adam"), epochs=3, batch_size=32)
    assert [e["epoch"] for e in history.epochs] == [1, 2, 3]
    assert [e["step"] for e in history.epochs] == [4, 8, 12]


# --------------------------------------------------------------------------- 6: a run's state


class _Keep(Callback):
    def on_step_end(self, run, loss):
        self.run = run


@pytest.mark.parametrize("entry", ["history", "stream", "step"])
def test_a_run_state_without_an_entry_is_refused_naming_it(data, entry) -> None:
    keep = _Keep()
    _fit(MLPClassification(data, (8,)), create("adam"), steps=3, batch_size=32, callbacks=[keep])
    run = keep.run
    state = run.state_dict()
    del state[entry]
    before = run.optimizer.state_dict()
    message = (r"^state must be a whole checkpoint written by gdlab\.train\.Checkpoint; "
               rf"got one, which has no '{entry}' entry$")  # fmt: skip
    with pytest.raises(ValueError, match=message):
        run.load_state_dict(state)
    assert run.optimizer.state_dict()["t"] == before["t"] == 3


# Resume errors found by the review: whole-ness first, the file named, the path whole.


def test_a_gdlab_file_that_is_no_checkpoint_is_named_with_what_it_lacks(tmp_path, data):
    path = tmp_path / "x.npz"
    _io.save_tree(path, {"series": np.zeros(3)})
    _refused(data, path, r"^resume must be a checkpoint written by gdlab\.train\.Checkpoint "
             rf"\(format 'gdlab\.train/1'\); got '{path}', whose format is None$")  # fmt: skip
    _io.save_tree(path, {"format": "gdlab.train/1", "total_steps": 10})
    _refused(data, path, r"^resume must be a whole checkpoint written by gdlab\.train\."
             rf"Checkpoint; got '{path}', which has no 'step', .*'stream' entry$")  # fmt: skip


def test_a_file_holding_no_table_is_refused_naming_the_file(tmp_path, data):
    path = tmp_path / "list.npz"
    _io.save_tree(path, [1, 2])
    _refused(data, path, r"^resume must be a checkpoint written by gdlab\.train\.Checkpoint "
             rf"\(format 'gdlab\.train/1'\); got '{path}', which holds \[1, 2\]$")  # fmt: skip


def test_a_checkpoint_of_another_length_names_the_whole_path(tmp_path, data):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 4)
    deep.mkdir(parents=True)
    path = deep / "ck.npz"
    fit(MLPClassification(data, (8,)), create("adam"), steps=3, batch_size=32,
        rng=np.random.default_rng(0), progress=False,
        callbacks=[Checkpoint(path, every=3)])  # fmt: skip
    _refused(data, path, r"^resume must be a checkpoint of a 10-step run \(the same arguments\); "
             rf"got '{path}', of a 3-step run$")  # fmt: skip
