"""What docs/optimizers.md, schedules.md, training.md, averages.md and your-optimizer.md
state in words, held to the code.

tests/test_library_docs.py, tests/test_averages_doc.py and tests/test_your_optimizer_doc.py
run the pages' examples and read their tables of defaults; the claims here are the
ones written in prose (a default named in a sentence, what a rule does in general, the
seeds' numbers) or in tables those tests do not read. Each one is checked on its own
numbers, not on the example's.
"""

from __future__ import annotations

import ast
import inspect
import math
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from doc_checks import assert_written_signature
from gdlab import cli, nn, testing
from gdlab import data as gdata
from gdlab import schedules as S
from gdlab.optim import OPTIMIZERS, create, register, unregister
from gdlab.train import fit

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _moves(opt, grads, p0=None) -> np.ndarray:
    """How far each coordinate moves at each step (positive: against the gradient)."""
    p = {"w": np.zeros(len(grads[0])) if p0 is None else np.array(p0, dtype=float)}
    out = []
    for g in grads:
        before = p["w"].copy()
        opt.update(p, {"w": np.array(g, dtype=float)})
        out.append(before - p["w"])
    return np.array(out)


# ------------------------------------------------- optimizers.md, "Why ..." section


def test_momentum_builds_speed_towards_one_over_one_minus_mu_and_cancels_flips():
    """A gradient that keeps its sign: steps lr·(1 − μᵗ)/(1 − μ); one that flips: small."""
    mu, lr = 0.8, 0.05
    steps = _moves(create("momentum", lr=lr, momentum=mu), [[2.0, 2.0], [2.0, -2.0]] * 20)
    t = np.arange(1, 41)
    np.testing.assert_allclose(steps[:, 0], lr * 2.0 * (1 - mu**t) / (1 - mu), rtol=1e-12)
    assert abs(steps[-1, 0] / (lr * 2.0) - 1 / (1 - mu)) < 0.01
    assert np.all(np.abs(steps[1:, 1]) < lr * 2.0)  # the flipping one never builds up


def test_rmsprop_first_step_is_lr_over_root_one_minus_alpha_whatever_the_scale():
    alpha, lr = 0.9, 0.01
    steps = _moves(create("rmsprop", lr=lr, alpha=alpha, eps=1e-12), [[1e3, 1e-3]] * 200)
    np.testing.assert_allclose(steps[0], lr / math.sqrt(1 - alpha), rtol=1e-6)
    np.testing.assert_allclose(steps[:, 0], steps[:, 1], rtol=1e-6)  # scale does not matter
    # s → g², so the step shrinks towards lr over about 1/(1 − α) steps
    t = np.arange(1, 201)
    np.testing.assert_allclose(steps[:, 0], lr / np.sqrt(1 - alpha**t), rtol=1e-6)
    assert np.all(np.diff(steps[:, 0]) < 0)
    assert steps[-1, 0] == pytest.approx(lr, rel=1e-6)
    long = _moves(create("rmsprop", lr=1.0, eps=1e-12), [[0.5]] * 300)[:, 0]  # α = 0.99
    assert (round(long[0], 2), round(long[99], 2), round(long[299], 2)) == (10.0, 1.26, 1.03)


def test_adam_steps_lr_per_coordinate_from_the_first_step_and_eps_damps_tiny_gradients():
    lr = 0.003
    steps = _moves(create("adam", lr=lr), [[-250.0, 4e-3, 7.0]] * 5)
    np.testing.assert_allclose(steps, lr * np.sign([-250.0, 4e-3, 7.0]) * np.ones((5, 1)),
                               rtol=1e-5)  # fmt: skip
    eps = 1e-8
    tiny = _moves(create("adam", lr=lr, eps=eps), [[eps, 100 * eps, eps / 100]])[0]
    np.testing.assert_allclose(tiny, lr * np.array([1, 100, 0.01]) / (np.array([1, 100, 0.01]) + 1),
                               rtol=1e-9)  # fmt: skip


def test_seed_002s_recommended_defaults_are_adams():
    hyper = create("adam").hyperparameters()
    assert (hyper["beta1"], hyper["beta2"], hyper["eps"]) == (0.9, 0.999, 1e-8)


def test_seed_001s_worked_adam_examples_with_negligible_eps():
    """SEEDS.md: lr 1, β1 = β2 = ½; f = xy from (1, 2) and f = x² + xy from (1, 1)."""
    cases = [
        (lambda x, y: (y, x), (1.0, 2.0),
         [(0.0, 1.0), (-2 * math.sqrt(2) / 3, 1 - math.sqrt(3) / 3)]),
        (lambda x, y: (2 * x + y, x), (1.0, 1.0), [(0.0, 0.0), (-math.sqrt(3) / 3,) * 2]),
    ]  # fmt: skip
    for grad, start, expected in cases:
        opt = create("adam", lr=1.0, beta1=0.5, beta2=0.5, eps=1e-15)
        p = {"x": np.array(start[0]), "y": np.array(start[1])}
        for point in expected:
            gx, gy = grad(float(p["x"]), float(p["y"]))
            opt.update(p, {"x": np.array(gx), "y": np.array(gy)})
            assert (float(p["x"]), float(p["y"])) == pytest.approx(point, abs=1e-12)


# ---------------------------------------------- optimizers.md, forms and defaults


def test_torch_and_book_momentum_agree_at_a_constant_lr_and_ema_is_one_minus_beta_shorter():
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((12, 4)).tolist()
    p0 = rng.standard_normal(4)
    torch_, book, ema = (
        _moves(create("momentum", lr=0.05, momentum=0.7, form=f), grads, p0)
        for f in ("torch", "book", "ema")
    )
    np.testing.assert_allclose(book, torch_, rtol=1e-12)
    np.testing.assert_allclose(ema, (1 - 0.7) * torch_, rtol=1e-12)


def test_adams_lr_t_form_is_the_explicit_form_with_eps_over_root_one_minus_beta2_t():
    rng = np.random.default_rng(4)
    grads = rng.standard_normal((6, 3)) * np.array([1e-6, 1e-3, 1.0])
    eps, b2 = 1e-4, 0.99
    lr_t = create("adam", lr=0.01, beta2=b2, eps=eps, form="lr_t")
    p_lr_t = {"w": np.ones(3)}
    p_explicit = {"w": np.ones(3)}
    state = None
    for t, g in enumerate(grads, start=1):
        lr_t.update(p_lr_t, {"w": g})
        explicit = create("adam", lr=0.01, beta2=b2, eps=eps / math.sqrt(1 - b2**t))
        if state is not None:  # continue from the same moments, with this step's ε
            explicit.load_state_dict({**state, "hyperparameters": explicit.hyperparameters()})
        explicit.update(p_explicit, {"w": g})
        state = explicit.state_dict()
        np.testing.assert_allclose(p_lr_t["w"], p_explicit["w"], rtol=1e-12)


def test_adams_eps_inside_in_the_lr_t_form_meets_the_uncorrected_v():
    g, lr, eps, b1, b2 = 0.5, 0.1, 1e-3, 0.9, 0.999
    opt = create("adam", lr=lr, eps=eps, form="lr_t", eps_inside=True)
    p = {"w": np.array([1.0])}
    opt.update(p, {"w": np.array([g])})
    m, v = (1 - b1) * g, (1 - b2) * g * g
    step = lr * math.sqrt(1 - b2) / (1 - b1) * m / math.sqrt(v + eps)
    assert float(p["w"][0]) == pytest.approx(1.0 - step, rel=1e-14)


# torch.optim's own defaults (its documentation), for the classes it has.
_TORCH_DEFAULTS = {
    "sgd": {"lr": 1e-3, "weight_decay": 0.0},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "centered": False, "momentum": 0.0},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "adamax": {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "nadam": {"lr": 2e-3, "eps": 1e-8, "momentum_decay": 4e-3, "decoupled_weight_decay": False},
    "radam": {"lr": 1e-3, "eps": 1e-8, "decoupled_weight_decay": False},
    "rprop": {"lr": 1e-2, "etaminus": 0.5, "etaplus": 1.2, "step_size_min": 1e-6,
              "step_size_max": 50.0},
    "asgd": {"lr": 1e-2, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0.0},
    "lbfgs": {"lr": 1.0, "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7,
              "tolerance_change": 1e-9, "history_size": 100, "line_search_fn": None},
    "adafactor": {"lr": 1e-2, "beta2_decay": -0.8, "eps1": None, "eps2": 1e-3, "d": 1.0,
                  "weight_decay": 0.0},
    "muon": {"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
             "ns_a": 3.4445, "ns_b": -4.775, "ns_c": 2.0315, "ns_steps": 5, "eps": 1e-7},
}  # fmt: skip


def test_the_classes_that_torch_has_take_torchs_defaults_but_momentum_09():
    text = " ".join(_text("optimizers.md").split())
    claim = "`torch.optim` also has, the class defaults are PyTorch's, except that `Momentum`"
    assert claim in text
    for name, defaults in _TORCH_DEFAULTS.items():
        parameters = inspect.signature(OPTIMIZERS[name]).parameters
        for arg, value in defaults.items():
            assert parameters[arg].default == value, f"{name}.{arg}"
    for name in ("momentum", "nesterov"):
        parameters = inspect.signature(OPTIMIZERS[name]).parameters
        assert (parameters["lr"].default, parameters["momentum"].default) == (1e-3, 0.9)


def test_maximize_negates_the_gradient_after_clipping_and_before_weight_decay():
    opt = create("sgd", lr=0.1, maximize=True, weight_decay=0.5, clip_value=1.0)
    p = {"w": np.array([2.0])}
    opt.update(p, {"w": np.array([3.0])})
    assert float(p["w"][0]) == pytest.approx(2.0 - 0.1 * (-1.0 + 0.5 * 2.0), rel=1e-15)


# ---------------------------------------------------------------- averages.md


def test_uncorrected_adams_first_step_is_one_minus_beta1_over_root_one_minus_beta2_longer():
    b1, b2 = 0.8, 0.99
    kwargs = {"lr": 0.01, "beta1": b1, "beta2": b2, "eps": 1e-14}
    plain = _moves(create("adam", bias_correction=False, **kwargs), [[0.3]])[0, 0]
    corrected = _moves(create("adam", **kwargs), [[0.3]])[0, 0]
    assert plain / corrected == pytest.approx((1 - b1) / math.sqrt(1 - b2), rel=1e-9)
    assert (1 - 0.9) / math.sqrt(1 - 0.999) == pytest.approx(3.16, abs=0.005)  # the page's


# ----------------------------------------------------------------- schedules.md


def test_first_0_gives_lr0_on_the_first_update_and_a_schedule_is_asked_once_per_update():
    asked = []
    opt = create("sgd", lr=S.Lambda(0.2, lambda n: asked.append(n) or 0.5**n, per="step"))
    p = {"w": np.array([0.0])}
    for _ in range(3):
        opt.update(p, {"w": np.array([1.0])})
    assert asked == [0, 1, 2]
    assert opt.current_lr == 0.05
    assert float(p["w"][0]) == pytest.approx(-(0.2 + 0.1 + 0.05), rel=1e-15)


def test_the_seed_004_mapping_gives_the_seeds_formulas_with_epochs_from_1():
    lr0, k = 0.3, 2.0
    for epoch_num in range(1, 6):
        e = epoch_num - 1  # the counter gdlab passes counts from 0
        root = k / math.sqrt(epoch_num) * lr0
        assert S.InverseTimeDecay(lr0, 1.5, first=1)(0, e) == pytest.approx(
            lr0 / (1 + 1.5 * epoch_num)
        )
        assert S.ExponentialDecay(lr0, 0.95, first=1)(0, e) == pytest.approx(0.95**epoch_num * lr0)
        assert S.InverseSqrtEpochDecay(lr0, k)(0, e) == pytest.approx(root)
        assert S.InverseSqrtStepDecay(lr0, k)(e, 0) == pytest.approx(root)
    halves = [S.StepDecay(lr0, every=2)(0, e) for e in range(6)]
    assert halves == pytest.approx([lr0, lr0, lr0 / 2, lr0 / 2, lr0 / 4, lr0 / 4])
    manual = S.Manual(lr0)
    manual.set(0.01)
    assert manual(7, 3) == 0.01


def test_fit_passes_completed_epochs_to_an_epoch_schedule():
    problem = _regression()
    history = fit(problem, create("sgd", lr=S.ExponentialDecay(0.1, 0.5)), epochs=3,
                  batch_size=200, rng=np.random.default_rng(1), progress=False)  # fmt: skip
    assert history.lr == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 3)  # 506 = 3 batches


def test_join_torch_shared_state_quirks_are_written_with_their_numbers():
    """Torch's pieces share the param group's initial_lr and swa_lr; gdlab's keep their own
    arguments. The torch rates are torch 2.13's SequentialLR on SGD(lr=0.1), written out."""
    text = " ".join(_text("schedules.md").split())
    # CyclicLR as the first piece: torch's ExponentialLR piece starts from base_lr 0.01.
    torch_from_40 = [0.01 * 0.98**k for k in range(20)]
    for lr0, doc in [(0.1, "gives 0.1 (then 0.098, …)"), (0.01, "matches torch (2.4e-15)")]:
        join = S.Join([S.Cyclic(0.01, 0.2, 10), S.ExponentialDecay(lr0, 0.98, per="step")],
                      [40], form="torch")  # fmt: skip
        got = [join(40 + k) for k in range(20)]
        if lr0 == 0.01:
            np.testing.assert_allclose(got, torch_from_40, rtol=1e-14)
        else:
            assert got[:2] == pytest.approx([0.1, 0.098], rel=1e-14)
        assert doc in text
    assert "gives 0.01 at step 40 (then 0.0098, …)" in text
    # Two SWALR pieces: the last one's swa_lr (0.001) is used by both.
    torch_swa = [0.1, 0.090546, 0.065796, 0.035204, 0.010454, 0.001, 0.001]
    for first_swa, doc in [(0.05, "gives 0.095225 and 0.05"), (0.001, "gdlab matches torch")]:
        join = S.Join([S.SWALR(0.1, first_swa, 5, per="step"),
                       S.SWALR(0.1, 0.001, 30, anneal="linear", per="step")], [30],
                      form="torch")  # fmt: skip
        got = [join(n) for n in range(7)]
        if first_swa == 0.001:
            np.testing.assert_allclose(got, torch_swa, atol=5e-7)
        else:
            assert round(got[1], 6) == 0.095225
            assert got[5] == pytest.approx(0.05)
        assert doc in text
    assert "gives 0.090546 at step 1 and 0.001 from step 5" in text
    # OneCycle: torch cycles the momentum by default, gdlab does not.
    assert "cycle_momentum=True" in text
    assert "OneCycleLR(…, cycle_momentum=False)" in text
    assert "torch `OneCycleLR` (`cycle_momentum=False`;" in text


# ------------------------------------------------------------------ training.md


def _regression():
    from gdlab.problems import LinearRegression

    return LinearRegression(gdata.minmax_scale(gdata.boston(features=["RM", "LSTAT"])))


def test_seed_003s_batch_gradient_descent_ends_where_the_seed_says():
    """SEEDS.md: w1 ≈ 25.4186, w2 ≈ −23.6005, bias ≈ 16.3857, MSE ≈ 30.53 after 5000 steps."""
    problem = _regression()
    history = fit(problem, create("sgd", lr=0.01), steps=5000, rng=np.random.default_rng(0),
                  progress=False, evaluate_every=5000)  # fmt: skip
    np.testing.assert_allclose(history.params["w"], [25.4186, -23.6005], atol=5e-5)
    np.testing.assert_allclose(history.params["b"], [16.3857], atol=5e-5)
    assert round(history.epochs[-1]["train_loss"], 2) == 30.53


def test_random_batching_counts_an_epoch_as_ceil_n_over_batch_size_steps():
    problem = _regression()
    history = fit(problem, create("sgd", lr=0.01), epochs=2, batch_size=100, batching="random",
                  rng=np.random.default_rng(0), progress=False)  # fmt: skip
    assert [e["step"] for e in history.epochs] == [6, 12]  # ceil(506 / 100) = 6


def test_the_data_table_names_every_registered_data_set_and_the_mlp_its_activations():
    text = _text("training.md")
    table = text[text.index("| loader | what |") : text.index("`gdlab.data.load(name")]
    written = set(re.findall(r"^\| `(\w+)\(", table, re.M))
    assert all(callable(getattr(gdata, name)) for name in written)
    assert "(`gdlab.data.DATASETS`: `mnist` is `mnist_subset`)" in text
    assert {"mnist_subset" if n == "mnist" else n for n in gdata.DATASETS} <= written
    for match in re.finditer(r"^\| `(\w+)\((\d+), noise=([\d.]+), rng=…\)`", table, re.M):
        parameters = inspect.signature(getattr(gdata, match.group(1))).parameters
        assert parameters["n_samples"].default == int(match.group(2)), match.group(1)
        assert parameters["noise"].default == float(match.group(3)), match.group(1)
    line = next(x for x in text.splitlines() if x.startswith("- `activation`:"))
    assert re.findall(r'`"(\w+)"`', line) == list(nn.ACTIVATIONS)


def test_init_stds_are_the_documented_ones():
    n_in, n_out = 50, 30
    assert nn.INITIALISERS["he"](n_in, n_out) == math.sqrt(2 / n_in)
    assert nn.INITIALISERS["xavier"](n_in, n_out) == math.sqrt(1 / n_in)
    assert nn.INITIALISERS["glorot"](n_in, n_out) == math.sqrt(2 / (n_in + n_out))


# -------------------------------------------------------------- your-optimizer.md


def test_the_command_lines_of_the_guide_are_ones_gdlab_takes():
    text = _text("your-optimizer.md")
    lines = [
        line
        for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
        for line in block.splitlines()
        if line.startswith("gdlab ")
    ]
    assert len(lines) == 2
    tune, race = (cli.build_parser().parse_args(shlex.split(x)[1:]) for x in lines)
    assert (tune.command, tune.folds, tune.budget, tune.out) == ("tune", 3, 8, "T")
    assert (race.command, race.tuned, race.seeds) == ("race", "T", 5)


def test_the_registry_signature_and_the_checks_are_as_the_guide_says():
    text = _text("your-optimizer.md")
    written = re.search(r"`register\((.*?)\)`:", text).group(1)
    args = assert_written_signature(written, register)
    assert (
        ast.literal_eval(args.defaults[0]) == inspect.signature(register).parameters["name"].default
    )
    table = text[text.index("| check | what it asks |") :].split("\n\n")[0]
    assert re.findall(r"^\| ([\w -]+) \|", table, re.M)[1:] == list(testing.CHECKS)
    assert "64 KiB" in table
    assert "1M float32" in table


def test_a_registry_name_defaults_to_the_class_attribute_or_the_lower_case_name():
    seen = []

    @register(lr_range=(1e-3, 1.0), state=("acc",))
    def Sign_Step(p, g, state, t, *, lr=0.1, tunable_rate=0.5):
        seen.append((p.shape, state["acc"].shape, state["acc"].tolist()))
        state["acc"] += g
        p -= lr * np.sign(state["acc"])

    try:
        assert "sign_step" in OPTIMIZERS
        opt = create("sign_step")
        assert opt.hyperparameters()["lr"] == 0.1
        p = {"w": np.array([[1.0, 2.0]])}
        opt.update(p, {"w": np.array([[0.5, -0.5]])})
        assert seen == [((2,), (2,), [0.0, 0.0])]  # flat, of p's size, zero at first
        np.testing.assert_array_equal(p["w"], [[0.9, 2.1]])
    finally:
        unregister("sign_step")


def test_check_optimizer_runs_the_checks_named_with_the_arguments_given():
    seen = []

    @register("doc_probe_rule", lr_range=(1e-3, 1.0))
    def rule(p, g, state, t, *, lr=0.1, gamma=0.5):
        seen.append(gamma)
        p -= lr * gamma * g

    try:
        report = testing.check_optimizer(
            "doc_probe_rule", {"gamma": 0.25}, checks=("round trip", "maximize"),
            raise_on_failure=False,
        )  # fmt: skip
        assert (report.failures, report.passed_checks) == ({}, ["round trip", "maximize"])
        assert set(seen) == {0.25}
        assert testing.check_optimizer("doc_probe_rule", checks="maximize").passed_checks == [
            "maximize"
        ]
    finally:
        unregister("doc_probe_rule")


def test_the_callback_table_gives_each_constructor_and_its_defaults():
    from gdlab import train

    text = _text("training.md")
    table = text[text.index("| callback | what it does |") :].split("\n\n")[0]
    rows = re.findall(r"^  \| `(\w+)\((.*?)\)` \|", table, re.M)
    assert [name for name, _ in rows] == ["ProgressBar", "EarlyStopping", "DivergenceGuard",
                                          "Checkpoint"]  # fmt: skip
    for name, written in rows:
        args = ast.parse(f"def f({written}): pass").body[0].args
        parameters = inspect.signature(getattr(train, name)).parameters
        assert [a.arg for a in args.args + args.kwonlyargs] == list(parameters), name
        defaults = dict(zip([a.arg for a in args.args][::-1], args.defaults[::-1], strict=False))
        defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True))
        for arg, parameter in parameters.items():
            if defaults.get(arg) is None:
                assert parameter.default is inspect.Parameter.empty, f"{name}.{arg}"
            else:
                assert ast.literal_eval(defaults[arg]) == parameter.default, f"{name}.{arg}"


def test_early_stopping_counts_evaluations_and_its_reason_says_so():
    """With evaluate_every=2 and patience 1 the run stops at the second evaluation after
    the best; the reason names evaluations (not epochs) and the epochs involved."""
    from gdlab.train import EarlyStopping

    history = fit(_regression(), create("sgd", lr=0.01, maximize=True), epochs=20,
                  evaluate_every=2, rng=np.random.default_rng(0), progress=False,
                  callbacks=[EarlyStopping(1, monitor="train_loss")])  # fmt: skip
    assert history.status == "stopped"
    assert [e["epoch"] for e in history.epochs] == [2, 4, 6]
    assert "did not improve in the 2 evaluations after its best" in history.reason
    assert history.reason.endswith("at epoch 2 (now epoch 6)")


def test_a_rules_keywords_are_checked_by_the_type_of_their_defaults():
    @register("doc_typed_rule", lr_range=(1e-3, 1.0))
    def rule(p, g, state, t, *, lr=0.1, beta=0.9, k=3, flag=False):
        p -= lr * g

    try:
        refused = [
            ({"beta": "0.5"}, TypeError), ({"beta": float("inf")}, ValueError),
            ({"beta": True}, TypeError), ({"k": 2.0}, TypeError), ({"k": True}, TypeError),
            ({"flag": 1}, TypeError), ({"other": 1}, TypeError),
        ]  # fmt: skip
        for kwargs, kind in refused:
            with pytest.raises(kind, match=next(iter(kwargs))):
                create("doc_typed_rule", **kwargs)
        hyper = create("doc_typed_rule", beta=1, k=4, flag=True).hyperparameters()
        assert (hyper["beta"], hyper["k"], hyper["flag"]) == (1, 4, True)
    finally:
        unregister("doc_typed_rule")
