"""SAM: the paper's two-step update by hand, recorded references, the base optimizer's state.

``tests/data/closure_trajectories.npz`` holds SAM runs recorded in float64 by
``scripts/record_closure_optimizers.py``: davda54/sam's ``first_step`` /
``second_step`` written out in torch around ``torch.optim.SGD`` and ``Adam``
(with and without ASAM's scaling), and ``optax.contrib.sam`` (opaque mode,
two-step sync, normalised-SGD adversary) around ``optax.sgd`` and
``optax.adam``. The closure is the true function, recomputed in NumPy.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import tomllib

import numpy as np
import pytest

from closure_problems import ARRAYS, META, PROBLEMS, SHAPES, closure_of, flat, split
from gdlab import functions2d, race, schedules
from gdlab.data import Dataset
from gdlab.experiments import Experiment
from gdlab.optim import SAM, SGD, Adam, NonFiniteGradientError, create, load
from gdlab.problems import FunctionProblem, MLPClassification
from gdlab.selection import default_space
from gdlab.train import Callback, Checkpoint, fit

RTOL = 1e-10
# torch's references run the same formula: elementwise relative error, a floor only
# against dividing by an exact zero. optax adds no 1e-12 to the norm, a systematic
# relative difference of about 1e-12/‖g‖ in ε: there a coordinate near zero is held
# to 1e-13 absolute (|Δ| ≤ 1e-10·max(|x|, 1e-3); the parameters are of order one).
FLOOR = {"torch": 1e-12, "optax": 1e-3}

CASES = [c for c in META["cases"] if c["optimizer"] == "sam"]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_replays_the_reference(case, fused):
    closure = closure_of(PROBLEMS[case["problem"]])
    params = split(ARRAYS[f"{case['name']}/init"])
    opt = create("sam", fused=fused, **case["gdlab_kwargs"])
    expected = ARRAYS[f"{case['name']}/traj"]
    floor = FLOOR[case["reference"]]
    for step in range(case["steps"]):
        opt.update(params, closure(params)[1], closure=closure)
        x, ref = flat(params), expected[step]
        error = float(np.max(np.abs(x - ref) / np.maximum(np.abs(ref), floor)))
        assert error <= RTOL, f"{case['name']} step {step + 1}: relative error {error:.2e}"


def test_the_recording_covers_both_references_and_asam():
    assert {c["reference"] for c in CASES} == {"torch", "optax"}
    assert {c["gdlab_kwargs"]["adaptive"] for c in CASES if c["reference"] == "torch"} == {
        True,
        False,
    }
    assert all(c["steps"] >= 200 for c in CASES)


# ------------------------------------------------------------------- by hand

C = (1.0, 3.0, 0.5)  # f(x) = ½ Σ c_i x_i²: ∇f = c·x
X0 = (2.0, -1.0, 4.0)


def grad_at(x):
    return [c * v for c, v in zip(C, x, strict=True)]


def closure(params):
    x = [float(params["w"][0]), float(params["w"][1]), float(params["b"])]
    g = grad_at(x)
    return 0.5 * sum(c * v * v for c, v in zip(C, x, strict=True)), as_params(g)


def as_params(x):
    return {"w": np.array(x[:2]), "b": np.array(x[2])}


def as_list(params):
    return [float(params["w"][0]), float(params["w"][1]), float(params["b"])]


def sam_gradient(x, rho, adaptive):
    """Foret et al.'s first step: the gradient at x + ε (ASAM's ε when adaptive)."""
    g = grad_at(x)
    if adaptive:
        norm = math.sqrt(sum((abs(v) * gi) ** 2 for v, gi in zip(x, g, strict=True)))
        e = [v * v * gi * (rho / (norm + 1e-12)) for v, gi in zip(x, g, strict=True)]
    else:
        norm = math.sqrt(sum(gi * gi for gi in g))
        e = [gi * (rho / (norm + 1e-12)) for gi in g]
    return grad_at([v + ei for v, ei in zip(x, e, strict=True)])


def sgd_steps(x, steps, *, lr, rho, adaptive=False, wd=0.0):
    out = []
    for _ in range(steps):
        g = sam_gradient(x, rho, adaptive)
        x = [v - lr * (gi + wd * v) for v, gi in zip(x, g, strict=True)]
        out.append(x)
    return out


def momentum_steps(x, steps, *, lr, rho, mu, adaptive=False):
    out, b = [], None
    for _ in range(steps):
        g = sam_gradient(x, rho, adaptive)
        b = list(g) if b is None else [mu * bi + gi for bi, gi in zip(b, g, strict=True)]
        x = [v - lr * bi for v, bi in zip(x, b, strict=True)]
        out.append(x)
    return out


def adam_steps(x, steps, *, lr, rho, b1, b2, eps, adaptive=False):
    out, m, v = [], [0.0] * 3, [0.0] * 3
    for t in range(1, steps + 1):
        g = sam_gradient(x, rho, adaptive)
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        x = [
            xi - lr * (mi / (1 - b1**t)) / (math.sqrt(vi / (1 - b2**t)) + eps)
            for xi, mi, vi in zip(x, m, v, strict=True)
        ]
        out.append(x)
    return out


HAND = [
    ("sgd", lambda f: SAM(base=SGD(fused=f), lr=0.1, rho=0.3),
     sgd_steps(list(X0), 2, lr=0.1, rho=0.3)),
    ("sgd-wd-asam", lambda f: SAM(base={"optimizer": "sgd", "weight_decay": 0.05}, lr=0.1,
                                  rho=0.2, adaptive=True, fused=f),
     sgd_steps(list(X0), 2, lr=0.1, rho=0.2, adaptive=True, wd=0.05)),
    ("momentum", lambda f: SAM(base="momentum", lr=0.05, rho=0.5, fused=f),
     momentum_steps(list(X0), 2, lr=0.05, rho=0.5, mu=0.9)),
    ("adam-asam", lambda f: SAM(base=Adam(beta1=0.8, beta2=0.7, eps=1e-3, fused=f), lr=0.1,
                                rho=0.4, adaptive=True),
     adam_steps(list(X0), 2, lr=0.1, rho=0.4, b1=0.8, b2=0.7, eps=1e-3, adaptive=True)),
]  # fmt: skip


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "numpy"])
@pytest.mark.parametrize(("name", "factory", "expected"), HAND, ids=[h[0] for h in HAND])
def test_first_two_steps_by_hand(name, factory, expected, fused):
    opt = factory(fused)
    params = as_params(list(X0))
    for row in expected:
        opt.update(params, closure(params)[1], closure=closure)
        np.testing.assert_allclose(as_list(params), row, rtol=1e-13, atol=0)
    assert opt.t == opt.base_optimizer.t == 2


def test_the_closure_sees_the_perturbed_point_and_the_step_starts_from_p():
    seen = []

    def spy(params):
        seen.append(as_list(params))
        return closure(params)

    params = as_params(list(X0))
    SAM(base="sgd", lr=0.1, rho=0.3).update(params, closure(params)[1], closure=spy)
    g = grad_at(list(X0))
    norm = math.sqrt(sum(v * v for v in g))
    e = [0.3 * gi / (norm + 1e-12) for gi in g]
    np.testing.assert_allclose(seen[0], [x + ei for x, ei in zip(X0, e, strict=True)], rtol=1e-15)
    assert len(seen) == 1


def test_rho_zero_is_the_base_optimizer():
    a, b = as_params(list(X0)), as_params(list(X0))
    sam, adam = SAM(base="adam", lr=0.1, rho=0.0), Adam(lr=0.1)
    for _ in range(3):
        sam.update(a, closure(a)[1], closure=closure)
        adam.update(b, closure(b)[1])
    np.testing.assert_array_equal(as_list(a), as_list(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("base", ["adam", "nadam", "momentum"])
def test_fused_and_reference_kernels_are_bit_identical(dtype, base):
    def f32(params):
        loss, grads = PROBLEMS["logistic"](flat(params).astype(np.float64))
        return float(loss), {k: v.astype(dtype) for k, v in split(grads).items()}

    results = []
    for fused in (True, False):
        opt = SAM(base=base, lr=0.01, rho=0.1, adaptive=True, fused=fused)
        assert opt.base_optimizer.fused is fused
        params = {k: v.astype(dtype) for k, v in split(ARRAYS["sam-adam-logistic/init"]).items()}
        for _ in range(20):
            opt.update(params, f32(params)[1], closure=f32)
        assert all(p.dtype == dtype for p in params.values())
        results.append(flat(params))
    np.testing.assert_array_equal(results[0], results[1])


def test_one_flat_buffer_gives_the_separate_arrays_results():
    """Parameters in one buffer (an MLP's) take the base's flat path: same bits."""
    x0 = ARRAYS["sam-adam-logistic/init"]

    def views(buffer):
        out, start = {}, 0
        for key, shape in SHAPES.items():
            size = math.prod(shape)
            out[key] = buffer[start : start + size].reshape(shape)
            start += size
        return out

    flat_params, grads = views(x0.copy()), views(np.zeros_like(x0))
    separate = split(x0)
    f = closure_of(PROBLEMS["logistic"])
    a, b = (SAM(base="adam", lr=0.01, rho=0.2, adaptive=True) for _ in range(2))
    for _ in range(10):
        for key, g in f(flat_params)[1].items():
            grads[key][...] = g
        a.update(flat_params, grads, closure=f)
        b.update(separate, f(separate)[1], closure=f)
    assert list(a._plan.flat_params) != list(b._plan.flat_params)  # the flat path ran
    np.testing.assert_array_equal(flat(flat_params), flat(separate))


# ----------------------------------------------------------- construction


def test_the_ways_to_name_the_base():
    assert SAM().base_optimizer.name == "sgd"
    assert create("sam", base="sgd", lr=0.1).base_optimizer.lr == 0.1
    assert create("sam", base={"optimizer": "sgd", "lr": 0.2}).lr == 0.2
    assert create("sam", base=SGD(lr=0.3)).lr == 0.3
    own = SGD(lr=0.3)
    sam = create("sam", base=own, lr=0.1)  # SAM's lr is the base's
    assert sam.base_optimizer is own
    assert own.lr == 0.1
    sam.set_lr(0.05)
    assert (sam.lr, own.lr, own.schedule) == (0.05, 0.05, sam.schedule)
    decay = schedules.ExponentialDecay(0.1, 0.5)
    sam = SAM(base="adam", lr=decay)
    assert sam.schedule is sam.base_optimizer.schedule is decay
    config = {"optimizer": "adam", "lr": {"name": "exponential", "lr0": 0.1, "rate": 0.5}}
    assert isinstance(SAM(base=config).schedule, schedules.ExponentialDecay)


def test_hyperparameters_are_plain_data_that_rebuild_the_optimizer(tmp_path):
    sam = SAM(base=Adam(lr=0.01, beta1=0.8, amsgrad=True), rho=0.1, adaptive=True)
    hp = sam.hyperparameters()
    assert (hp["base"]["optimizer"], hp["base"]["beta1"]) == ("adam", 0.8)
    assert not {"lr", "fused"} & set(hp["base"])
    assert json.loads(json.dumps(hp)) == hp
    again = create("sam", **hp)
    assert again.hyperparameters() == hp
    assert again.base_optimizer.hyperparameters() == sam.base_optimizer.hyperparameters()
    params = as_params(list(X0))
    sam.update(params, closure(params)[1], closure=closure)
    rebuilt = load(sam.save(tmp_path / "sam.npz"))
    assert pickle.dumps(rebuilt.state_dict()) == pickle.dumps(sam.state_dict())
    hp["base"]["optimizer"] = "nadam"
    assert sam.hyperparameters()["base"]["optimizer"] == "adam"  # a copy


@pytest.mark.parametrize("base", ["adam", "nadam", "rmsprop", "sgd"])
def test_the_base_state_round_trips(base, tmp_path):
    kwargs = {"base": {"optimizer": base, "weight_decay": 0.01}, "lr": 0.01, "rho": 0.1}
    f = closure_of(PROBLEMS["logistic"])
    x0 = ARRAYS["sam-adam-logistic/init"]

    def run(opt, params, steps):
        for _ in range(steps):
            opt.update(params, f(params)[1], closure=f)

    straight = split(x0)
    run(SAM(**kwargs), straight, 9)
    first = SAM(**kwargs)
    params = split(x0)
    run(first, params, 4)
    sd = first.state_dict()
    assert sd["state"] is None or set(sd["state"]["vec"]) == set(first.base_optimizer.state_names)
    if base == "nadam":
        assert set(sd["scalars"]) == {"mu_product"}
    path = first.save(tmp_path / "sam.npz")
    fresh = SAM(**kwargs)
    fresh.load_state_dict(sd)
    for again in (fresh, load(path)):
        resumed = copy.deepcopy(params)
        run(again, resumed, 5)
        np.testing.assert_array_equal(flat(resumed), flat(straight))
    other = SAM(**{**kwargs, "base": {"optimizer": base, "weight_decay": 0.02}})
    with pytest.raises(ValueError, match=r"differ in base"):
        other.load_state_dict(sd)


BAD = [
    ({"rho": -0.1}, ValueError, r"^rho must be >= 0; got -0.1"),
    ({"rho": "0.1"}, TypeError, r"^rho must be a real number; got '0.1' \(str\)"),
    ({"adaptive": 1}, TypeError, r"^adaptive must be True or False; got 1 \(int\)"),
    ({"base": 3}, TypeError, r"^base must be an optimizer, its name or a dict"),
    ({"base": "nope"}, ValueError, r"^base: optimizer name must be one of sgd, .*; got 'nope'"),
    ({"base": "lbfgs"}, ValueError, r"^base must be an optimizer that steps from one gradient"),
    ({"base": {"lr": 0.1}}, ValueError, r"^base\['optimizer'\] must be one of sgd, .*; got None"),
    ({"base": {"optimizer": "sgd", "momentum": 0.9}}, TypeError,
     r"^base: SGD got an unknown keyword argument 'momentum'"),
    ({"base": {"optimizer": "sgd", "lr": -1.0}}, ValueError, r"^base: lr must be > 0; got -1.0"),
    ({"base": {"optimizer": "sgd", "clip_norm": 1.0}}, ValueError,
     r"^base's clip_norm must be None \(set it on SAM"),
    ({"base": {"optimizer": "adam", "maximize": True}}, ValueError,
     r"^base's maximize must be False"),
    ({"lr": None}, TypeError, r"^lr must be a positive real number or a Schedule; got None"),
    ({"lr": 0.0}, ValueError, r"^lr must be > 0; got 0.0"),
    ({"clip_value": -1.0}, ValueError, r"^clip_value must be > 0; got -1.0"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD, ids=[repr(b[0]) for b in BAD])
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        SAM(**kwargs)


def test_a_base_that_has_stepped_or_a_failed_sam_leaves_the_base_alone():
    used = SGD(lr=0.1)
    used.update(as_params(list(X0)), as_params([1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"^base must be a fresh optimizer \(no step taken\)"):
        SAM(base=used)
    own = SGD(lr=0.1)
    with pytest.raises(ValueError, match=r"^lr must be > 0"):
        SAM(base=own, lr=-1.0)
    assert own.lr == 0.1


def test_update_needs_a_closure():
    params = as_params(list(X0))
    with pytest.raises(TypeError, match=r"SAM evaluates the loss again within a step"):
        SAM().update(params, closure(params)[1])


# ---------------------------------------------------------------- behaviour


def test_a_closure_that_reuses_the_gradient_buffers():
    """An MLP's gradient dict is rewritten by the next evaluation: SAM must not care."""
    shared = as_params([0.0, 0.0, 0.0])

    def reusing(params):
        loss, grads = closure(params)
        for key, g in grads.items():
            np.copyto(shared[key], g)
        return loss, shared

    a, b = as_params(list(X0)), as_params(list(X0))
    reuse, fresh = SAM(base="adam", lr=0.1, adaptive=True), SAM(base="adam", lr=0.1, adaptive=True)
    for _ in range(3):
        reusing(a)  # the grads passed are the shared buffers
        reuse.update(a, shared, closure=reusing)
        fresh.update(b, closure(b)[1], closure=closure)
    np.testing.assert_array_equal(as_list(a), as_list(b))


def _fingerprint(opt) -> bytes:
    return pickle.dumps((opt.state_dict(), repr(opt)))


def test_a_nonfinite_gradient_at_the_perturbed_point():
    def poisoned(params):
        loss, grads = closure(params)
        grads["b"] = np.array(np.nan)
        return loss, grads

    opt = SAM(base="adam", lr=0.1)
    params = as_params(list(X0))
    opt.update(params, closure(params)[1], closure=closure)
    before, kept = _fingerprint(opt), as_list(params)
    with pytest.raises(NonFiniteGradientError, match=r"at the perturbed point at step 2; nothing"):
        opt.update(params, closure(params)[1], closure=poisoned)
    assert _fingerprint(opt) == before
    assert as_list(params) == kept

    skipping = SAM(base="adam", lr=0.1, nonfinite="skip")
    params = as_params(list(X0))
    skipping.update(params, closure(params)[1], closure=poisoned)
    assert (skipping.t, skipping.skipped_steps, skipping.state is None) == (0, 1, True)
    assert as_list(params) == list(X0)

    ignoring = SAM(base="sgd", lr=0.1, nonfinite="ignore")
    params = as_params(list(X0))
    ignoring.update(params, closure(params)[1], closure=poisoned)
    assert math.isnan(as_list(params)[2])
    assert not math.isnan(as_list(params)[0])


def test_maximize_and_clipping_apply_to_both_gradients():
    def negated(params):
        loss, grads = closure(params)
        return -loss, {k: -v for k, v in grads.items()}

    down, up = as_params(list(X0)), as_params(list(X0))
    lo = SAM(base="momentum", lr=0.05, clip_norm=2.0, adaptive=True)
    hi = SAM(base="momentum", lr=0.05, clip_norm=2.0, adaptive=True, maximize=True)
    for _ in range(3):
        lo.update(down, closure(down)[1], closure=closure)
        hi.update(up, negated(up)[1], closure=negated)
    np.testing.assert_array_equal(as_list(down), as_list(up))
    # clip_norm: the base step saw a gradient of norm 2 at most
    params = as_params(list(X0))
    SAM(base="sgd", lr=1.0, rho=0.1, clip_norm=2.0).update(params, closure(params)[1],
                                                            closure=closure)  # fmt: skip
    step = np.array(as_list(params)) - np.array(X0)
    assert np.linalg.norm(step) <= 2.0 + 1e-12


# ---------------------------------------------------------------- end to end


def toy_data() -> Dataset:
    x = np.random.default_rng(1).standard_normal((40, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    return Dataset(x, y, "toy", ("a", "b"), ("no", "yes"), "classification")


def test_fit_trains_an_mlp_and_walks_a_function():
    problem = MLPClassification(toy_data(), (4,), dtype=np.float64)
    sam = create("sam", base={"optimizer": "adam", "lr": 0.05}, adaptive=True)
    history = fit(problem, sam, steps=30, batch_size=16, rng=np.random.default_rng(0),
                  progress=False)  # fmt: skip
    assert history.status == "ok"
    assert np.mean(history.loss[-5:]) < np.mean(history.loss[:5])

    history = fit(FunctionProblem("bowl"), create("sam", base="sgd", lr=0.5), steps=40,
                  rng=np.random.default_rng(0), progress=False)  # fmt: skip
    path = functions2d.run_path("bowl", create("sam", base="sgd", lr=0.5), steps=40)
    np.testing.assert_array_equal(np.array(history.path), path)
    assert history.loss[-1] < 0.01 * history.loss[0]


TOML = """
[problem]
kind = "function"
function = "bowl"
[training]
steps = 20
[[runs]]
optimizer = "sam"
label = "SAM"
base = {optimizer = "sgd", lr = 0.5}
rho = 0.01
[[runs]]
optimizer = "sam"
label = "SAM-Adam"
lr = 0.3
base = {optimizer = "adam", beta1 = 0.8}
"""


def test_a_toml_run_names_its_base_as_a_table_and_races():
    experiment = Experiment.from_toml(TOML)
    table = tomllib.loads(TOML)["runs"][0]
    assert dict(experiment.runs[0].hyperparameters) == {"base": table["base"], "rho": 0.01}
    assert Experiment.from_toml(experiment.to_toml()) == experiment
    assert experiment.runs[1].with_lr(0.1).make_optimizer().base_optimizer.lr == 0.1
    records = race.race(experiment, progress=False)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert records[0]["hyperparameters"]["lr"] == 0.5
    assert records[1]["hyperparameters"]["base"]["beta1"] == 0.8
    assert all(r["loss"][-1] < r["loss"][0] for r in records)
    assert default_space("sam").params["lr"] == default_space("sgd").params["lr"]


class _Interrupt(Callback):
    def on_step_end(self, run, loss):
        if run.step == 7:
            raise KeyboardInterrupt


def test_a_checkpointed_run_resumes_bit_identically(tmp_path):
    def run(callbacks=(), resume=None):
        problem = MLPClassification(toy_data(), (4,), dtype=np.float64)
        optimizer = create("sam", **{"base": "adam", "lr": 0.05, "adaptive": True})
        return fit(problem, optimizer, steps=12, batch_size=8, rng=np.random.default_rng(3),
                   progress=False, callbacks=list(callbacks), resume=resume)  # fmt: skip

    straight = run()
    path = tmp_path / "run.npz"
    with pytest.raises(KeyboardInterrupt):
        run([_Interrupt(), Checkpoint(path, every=5)])
    resumed = run([Checkpoint(path, every=5)], resume=path)
    assert resumed.loss == straight.loss
    for key in straight.params:
        np.testing.assert_array_equal(resumed.params[key], straight.params[key])


@pytest.mark.parametrize("base", ["adafactor", "sm3"])
def test_a_base_with_factored_state_is_refused_by_name(base):
    with pytest.raises(
        ValueError, match=f"base must be an optimizer with one state array.*'{base}'"
    ):
        create("sam", base=base)
