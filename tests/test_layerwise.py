"""LARS, LAMB, NovoGrad and Muon: the references' trajectories, steps by hand, checks.

``tests/data/layerwise_trajectories.npz`` holds optax's LARS, LAMB and
NovoGrad, Keras's LAMB and torch's Muon (Newton–Schulz in float64), recorded
in float64 for 220 steps by ``scripts/record_layerwise.py`` (see its
docstring to regenerate). These tests do not import those libraries: they
feed the same gradients to gdlab, fused and reference kernels both, and
compare after every step. Then: the first two steps worked out by hand from
the papers' formulas in plain Python, fused == reference bit for bit, Muon's
AdamW fallback against gdlab's own AdamW, bad arguments, state round trips
and allocation.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gdlab import schedules
from gdlab.optim import LAMB, LARS, OPTIMIZERS, PRESETS, AdamW, Muon, NovoGrad, create, load

DATA = Path(__file__).parent / "data" / "layerwise_trajectories.npz"
CLASSES = {cls.__name__: cls for cls in (LARS, LAMB, NovoGrad, Muon)}

# Elementwise relative error |gdlab − reference| / max(|reference|, FLOOR),
# over every element of every parameter, after every step.
RTOL = 1e-10
FLOOR = 1e-12


def _read_meta() -> dict:
    with np.load(DATA, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


META = _read_meta()
CASES = META["cases"]
STEPS = META["steps"]


@pytest.fixture(scope="module")
def recorded() -> dict[str, np.ndarray]:
    with np.load(DATA, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), FLOOR)))


def _replay(case: dict, recorded, *, fused: bool, **override) -> list[tuple[int, str, float]]:
    """The gdlab optimizer of ``case`` on the recorded gradients: the worst error per step."""
    name = case["name"]
    keys = list(META["shapes"][case["shapes"]])
    opt = CLASSES[case["gdlab_class"]](**{**case["gdlab_kwargs"], **override}, fused=fused)
    params = {k: recorded[f"{name}/{k}/init"].copy() for k in keys}
    worst = []
    for step in range(STEPS):
        opt.update(params, {k: recorded[f"{name}/{k}/grads"][step, ...].copy() for k in keys})
        errors = {
            k: _relative_error(params[k], recorded[f"{name}/{k}/traj"][step, ...]) for k in keys
        }
        k = max(errors, key=errors.__getitem__)
        worst.append((step + 1, k, errors[k]))
    return worst


# --------------------------------------------------------- the references


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_trajectory_matches_the_reference_library(case, fused, recorded):
    worst = _replay(case, recorded, fused=fused)
    failing = [w for w in worst if not w[2] <= RTOL]
    if failing:
        step, key, err = failing[0]
        peak = max(worst, key=lambda w: w[2])
        pytest.fail(
            f"{case['name']} ({case['library']} {case['reference']}, fused={fused}): relative "
            f"error {err:.3e} > {RTOL:g} first at step {step} in {key!r}; worst {peak[2]:.3e} "
            f"at step {peak[0]} in {peak[1]!r}"
        )


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("lars_nesterov_wd", {"trust_coefficient": 0.02 * (1 + 1e-8)}),
        ("lamb_keras_wd", {"lr": 0.02 * (1 + 1e-8)}),
        ("novograd_wd", {"beta2": 0.6 * (1 + 1e-8)}),
        ("muon_plain", {"ns_b": -4.7750 * (1 + 1e-8)}),
    ],
)
def test_the_tolerance_detects_a_tiny_change(name, change, recorded):
    case = next(c for c in CASES if c["name"] == name)
    worst = _replay(case, recorded, fused=True, **change)
    assert max(err for *_, err in worst) > 10 * RTOL


def test_the_file_covers_each_optimizer_and_library(recorded):
    assert STEPS >= 200
    assert META["dtype"] == "float64"
    pairs = {(c["gdlab_class"], c["library"]) for c in CASES}
    assert pairs == {
        ("LARS", "optax"), ("LAMB", "optax"), ("LAMB", "keras"), ("NovoGrad", "optax"),
        ("Muon", "torch"),
    }  # fmt: skip
    assert {
        c["gdlab_kwargs"].get("form", "optax") for c in CASES if c["gdlab_class"] == "LAMB"
    } == {
        "optax",
        "keras",
    }
    mixed = {k: tuple(s) for k, s in META["shapes"]["mixed"].items()}
    matrices = {k: tuple(s) for k, s in META["shapes"]["matrices"].items()}
    assert () in mixed.values()  # a 0-d parameter
    assert any(r > c for r, c in matrices.values())  # tall
    assert any(r < c for r, c in matrices.values())  # wide
    assert all(len(s) == 2 for s in matrices.values())  # torch's Muon takes matrices only
    for case in CASES:
        shapes = META["shapes"][case["shapes"]]
        for k, shape in shapes.items():
            prefix = f"{case['name']}/{k}"
            assert recorded[f"{prefix}/init"].shape == tuple(shape)
            for kind in ("grads", "traj"):
                assert recorded[f"{prefix}/{kind}"].shape == (STEPS, *shape)
                assert recorded[f"{prefix}/{kind}"].dtype == np.float64
        first = next(iter(shapes))
        assert not recorded[f"{case['name']}/{first}/grads"][0].any()  # a zero first step
        grads = np.concatenate([recorded[f"{case['name']}/{k}/grads"].ravel() for k in shapes])
        assert 0.01 < np.mean(grads == 0) < 0.5
    # Non-default hyperparameters in some case of every class.
    for cls in CLASSES.values():
        defaults = cls().hyperparameters()
        assert any(
            any(defaults.get(k, v) != v for k, v in c["gdlab_kwargs"].items() if k != "lr")
            for c in CASES
            if c["gdlab_class"] == cls.__name__
        ), cls.__name__
    # The trust ratio's ‖p‖ = 0 branch: some case starts a parameter at zero.
    assert any(c["zero_init"] for c in CASES if c["gdlab_class"] == "LARS")
    assert any(c["zero_init"] for c in CASES if c["gdlab_class"] == "LAMB")


# --------------------------------------------------------- steps by hand
# Plain Python on lists, from the papers' and libraries' formulas; each key of
# the parameters is one array (one "layer") with its own norms.

P0 = {"w": [1.0, -2.0, 0.5, 3.0], "b": [0.25, -0.5, 0.75], "s": [2.0]}
SHAPES = {"w": (2, 2), "b": (3,), "s": ()}
G1 = {"w": [0.3, -0.4, 0.2, 0.1], "b": [0.0, 0.5, -1.5], "s": [0.7]}
G2 = {"w": [-0.1, 0.5, 0.6, -0.2], "b": [0.2, 0.0, 0.4], "s": [-0.3]}


def _norm(x):
    return math.sqrt(sum(v * v for v in x))


def _arrays(values, dtype=np.float64):
    return {k: np.array(v, dtype=dtype).reshape(SHAPES[k]) for k, v in values.items()}


def _run(opt, grads_seq=(G1, G2), start=P0):
    params = _arrays(start)
    out = []
    for g in grads_seq:
        opt.update(params, _arrays(g))
        out.append({k: params[k].ravel().tolist() for k in params})
    return out


def _compare(actual, expected, rtol=1e-13):
    for got, want in zip(actual, expected, strict=True):
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=0, err_msg=k)


def lars_by_hand(lr, mu=0.9, eta=0.001, eps=0.0, wd=0.0, nesterov=False, decayed=(), trusted=()):
    """optax.lars: u = g + λp; r = η‖p‖/(‖u‖ + ε) (1 if a norm is 0); b = −lr·r·u + μb."""
    p = {k: list(v) for k, v in P0.items()}
    b = {k: [0.0] * len(v) for k, v in P0.items()}
    out = []
    for gs in (G1, G2):
        for k in p:
            lam = wd if k in decayed else 0.0
            u = [g + lam * x for g, x in zip(gs[k], p[k], strict=True)]
            pn, un = _norm(p[k]), _norm(u)
            r = eta * pn / (un + eps) if k in trusted and pn > 0 and un > 0 else 1.0
            s = [-lr * r * ui for ui in u]
            b[k] = [si + mu * bi for si, bi in zip(s, b[k], strict=True)]
            if nesterov:
                p[k] = [x + si + mu * bi for x, si, bi in zip(p[k], s, b[k], strict=True)]
            else:
                p[k] = [x + bi for x, bi in zip(p[k], b[k], strict=True)]
        out.append({k: list(v) for k, v in p.items()})
    return out


def lamb_by_hand(lr, b1=0.9, b2=0.999, eps=1e-6, wd=0.0, keras=False, decayed=("w", "b", "s")):
    """You et al. 2020, Algorithm 2 (φ = identity), optax's lamb; Keras's with keras=True."""
    p = {k: list(v) for k, v in P0.items()}
    m = {k: [0.0] * len(v) for k, v in P0.items()}
    v = {k: [0.0] * len(v) for k, v in P0.items()}
    out = []
    for t, gs in enumerate((G1, G2), 1):
        for k in p:
            lam = wd if k in decayed else 0.0
            if keras:
                p[k] = [x - x * lam * lr for x in p[k]]
            m[k] = [b1 * mi + (1 - b1) * g for mi, g in zip(m[k], gs[k], strict=True)]
            v[k] = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v[k], gs[k], strict=True)]
            u = [
                (mi / (1 - b1**t)) / (math.sqrt(vi / (1 - b2**t)) + eps)
                for mi, vi in zip(m[k], v[k], strict=True)
            ]
            if not keras:
                u = [ui + lam * x for ui, x in zip(u, p[k], strict=True)]
            pn, un = _norm(p[k]), _norm(u)
            r = pn / un if pn > 0 and un > 0 else 1.0
            p[k] = [x - lr * r * ui for x, ui in zip(p[k], u, strict=True)]
        out.append({k: list(x) for k, x in p.items()})
    return out


def novograd_by_hand(lr, b1=0.9, b2=0.25, eps=1e-6, wd=0.0):
    """Ginsburg et al. 2019, Algorithm 1 as optax writes it (ε outside the root)."""
    p = {k: list(v) for k, v in P0.items()}
    m = {k: [0.0] * len(v) for k, v in P0.items()}
    nu = dict.fromkeys(P0, 0.0)
    out = []
    for t, gs in enumerate((G1, G2), 1):
        for k in p:
            square = sum(g * g for g in gs[k])
            nu[k] = square if t == 1 else b2 * nu[k] + (1 - b2) * square
            d = [g / (math.sqrt(nu[k]) + eps) + wd * x for g, x in zip(gs[k], p[k], strict=True)]
            m[k] = d if t == 1 else [b1 * mi + di for mi, di in zip(m[k], d, strict=True)]
            p[k] = [x - lr * mi for x, mi in zip(p[k], m[k], strict=True)]
        out.append({k: list(x) for k, x in p.items()})
    return out


@pytest.fixture(params=[True, False], ids=["fused", "numpy"])
def fused(request):
    return request.param


def test_lars_first_two_steps_by_hand(fused):
    opt = LARS(lr=0.5, trust_coefficient=0.01, fused=fused)
    _compare(_run(opt), lars_by_hand(0.5, eta=0.01, trusted="wbs"))


def test_lars_nesterov_weight_decay_eps_and_masks_by_hand(fused):
    opt = LARS(
        lr=0.5, momentum=0.8, trust_coefficient=0.02, eps=0.1, nesterov=True, weight_decay=0.3,
        weight_decay_mask="w|s", trust_ratio_mask="w|b", fused=fused,
    )  # fmt: skip
    want = lars_by_hand(
        0.5, mu=0.8, eta=0.02, eps=0.1, wd=0.3, nesterov=True, decayed="ws", trusted="wb"
    )
    _compare(_run(opt), want)


def test_lars_zero_parameter_takes_a_plain_step(fused):
    """‖p‖ = 0: the trust ratio would be 0 forever; optax (and gdlab) use 1."""
    opt = LARS(lr=0.5, momentum=0.0, fused=fused)
    params = {"w": np.zeros(3)}
    opt.update(params, {"w": np.array([1.0, -2.0, 0.0])})
    np.testing.assert_array_equal(params["w"], [-0.5, 1.0, 0.0])


def test_lamb_first_two_steps_by_hand(fused):
    opt = LAMB(lr=0.1, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.2, fused=fused)
    _compare(_run(opt), lamb_by_hand(0.1, b1=0.8, b2=0.7, eps=1e-3, wd=0.2))


def test_lamb_keras_form_by_hand(fused):
    opt = LAMB(lr=0.1, beta1=0.8, beta2=0.7, eps=1e-3, weight_decay=0.2, form="keras",
               fused=fused)  # fmt: skip
    _compare(_run(opt), lamb_by_hand(0.1, b1=0.8, b2=0.7, eps=1e-3, wd=0.2, keras=True))


def test_lamb_weight_decay_mask_by_hand(fused):
    opt = LAMB(lr=0.1, weight_decay=0.2, weight_decay_mask="b", fused=fused)
    _compare(_run(opt), lamb_by_hand(0.1, wd=0.2, decayed=("b",)))


def test_lamb_forms_differ_only_with_weight_decay(fused):
    optax_form = _run(LAMB(lr=0.1, fused=fused))
    keras_form = _run(LAMB(lr=0.1, form="keras", fused=fused))
    assert optax_form == keras_form
    with_decay = [_run(LAMB(lr=0.1, weight_decay=0.5, form=f, fused=fused)) for f in LAMB.FORMS]
    assert with_decay[0] != with_decay[1]


def test_novograd_first_two_steps_by_hand(fused):
    opt = NovoGrad(lr=0.1, beta1=0.8, beta2=0.6, eps=1e-3, weight_decay=0.05, fused=fused)
    _compare(_run(opt), novograd_by_hand(0.1, b1=0.8, b2=0.6, eps=1e-3, wd=0.05))


def test_novograd_keeps_one_second_moment_per_array(fused):
    opt = NovoGrad(lr=0.1, fused=fused)
    _run(opt)
    assert opt.state_names == ("exp_avg",)
    square = {k: sum(g * g for g in G2[k]) for k in G2}
    first = {k: sum(g * g for g in G1[k]) for k in G1}
    assert opt.state_dict()["scalars"] == pytest.approx(
        {f"nu/{k}": 0.25 * first[k] + 0.75 * square[k] for k in P0}, rel=1e-15
    )


# Muon: matrices multiplied out in plain Python.


def _matmul(a, b):
    return [
        [sum(x * y for x, y in zip(row, col, strict=True)) for col in zip(*b, strict=True)]
        for row in a
    ]


def _transpose(a):
    return [list(col) for col in zip(*a, strict=True)]


def _newton_schulz(u, a=3.4445, b=-4.7750, c=2.0315, steps=5, eps=1e-7):
    tall = len(u) > len(u[0])
    x = _transpose(u) if tall else [list(r) for r in u]
    n = max(_norm([v for r in x for v in r]), eps)
    x = [[v / n for v in r] for r in x]
    for _ in range(steps):
        s = _matmul(x, _transpose(x))
        s2 = _matmul(s, s)
        poly = [
            [b * p + c * q for p, q in zip(r1, r2, strict=True)]
            for r1, r2 in zip(s, s2, strict=True)
        ]
        px = _matmul(poly, x)
        x = [[a * p + q for p, q in zip(r1, r2, strict=True)] for r1, r2 in zip(x, px, strict=True)]
    return _transpose(x) if tall else x


def muon_by_hand(p, gs, lr, mu=0.95, wd=0.1, nesterov=True, adjust="original", **ns):
    """torch.optim.Muon on one matrix: B = μB + (1−μ)g; U = μB + (1−μ)g (Nesterov)."""
    rows, cols = len(p), len(p[0])
    scale = (
        math.sqrt(max(1, rows / cols)) if adjust == "original" else 0.2 * math.sqrt(max(rows, cols))
    )
    buf = [[0.0] * cols for _ in range(rows)]
    out = []
    for g in gs:
        buf = [
            [mu * b + (1 - mu) * x for b, x in zip(rb, rg, strict=True)]
            for rb, rg in zip(buf, g, strict=True)
        ]
        u = (
            [
                [mu * b + (1 - mu) * x for b, x in zip(rb, rg, strict=True)]
                for rb, rg in zip(buf, g, strict=True)
            ]
            if nesterov
            else buf
        )
        o = _newton_schulz(u, **ns)
        p = [
            [x * (1 - lr * wd) - lr * scale * y for x, y in zip(rp, ro, strict=True)]
            for rp, ro in zip(p, o, strict=True)
        ]
        out.append(p)
    return out  # fmt: skip


MUON_P0 = {
    "wide": [[1.0, -2.0, 0.5], [0.3, 0.8, -1.1]],
    "tall": [[0.4, -0.7], [1.5, 0.2], [-0.9, 0.6]],
}
MUON_G = [
    {"wide": [[0.3, -0.4, 0.2], [0.1, 0.0, -0.6]], "tall": [[0.5, 0.1], [-0.2, 0.3], [0.7, -0.4]]},
    {"wide": [[-0.1, 0.5, 0.6], [0.2, -0.3, 0.1]], "tall": [[0.0, 0.2], [0.4, -0.1], [-0.3, 0.6]]},
]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"nesterov": False, "momentum": 0.8, "weight_decay": 0.0},
        {"adjust_lr_fn": "match_rms_adamw", "ns_steps": 3, "ns_a": 2.0, "ns_b": -1.5, "ns_c": 0.5},
    ],
    ids=["torch-defaults", "no-nesterov", "match-rms-coefficients"],
)
def test_muon_first_two_steps_by_hand(fused, kwargs):
    opt = Muon(lr=0.05, **kwargs, fused=fused)
    params = {k: np.array(v) for k, v in MUON_P0.items()}
    got = []
    for g in MUON_G:
        opt.update(params, {k: np.array(v) for k, v in g.items()})
        got.append({k: params[k].copy() for k in params})
    ns = {n: kwargs[f"ns_{n}"] for n in "abc" if f"ns_{n}" in kwargs}
    if "ns_steps" in kwargs:
        ns["steps"] = kwargs["ns_steps"]
    hand = {
        key: muon_by_hand(
            MUON_P0[key], [g[key] for g in MUON_G], 0.05, mu=kwargs.get("momentum", 0.95),
            wd=kwargs.get("weight_decay", 0.1), nesterov=kwargs.get("nesterov", True),
            adjust=kwargs.get("adjust_lr_fn", "original"), **ns,
        )
        for key in MUON_P0
    }  # fmt: skip
    for step in range(2):
        for key in MUON_P0:
            np.testing.assert_allclose(got[step][key], hand[key][step], rtol=1e-12, atol=0)


def test_muon_orthogonalises_the_update():
    """Newton–Schulz drives every singular value of the step towards 1 (about 0.7 to 1.2)."""
    rng = np.random.default_rng(3)
    for shape in [(6, 4), (4, 6), (5, 5)]:
        opt = Muon(lr=0.1, weight_decay=0.0, nesterov=False, momentum=0.0)
        p = {"W": rng.standard_normal(shape)}
        before = p["W"].copy()
        # A badly conditioned gradient: column scales over a decade and a half.
        opt.update(p, {"W": rng.standard_normal(shape) * np.logspace(-1, 0.5, shape[1])})
        step = (before - p["W"]) / (0.1 * math.sqrt(max(1, shape[0] / shape[1])))
        singular = np.linalg.svd(step, compute_uv=False)
        assert singular.min() > 0.6
        assert singular.max() < 1.25


# ------------------------------------------------- Muon's fallback, torch's refusal


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fallback_lr", [None, 0.003])
def test_muon_fallback_is_gdlab_adamw_bit_for_bit(dtype, fallback_lr, fused):
    rng = np.random.default_rng(4)
    start = {
        "W": rng.standard_normal((4, 3)),
        "bias": rng.standard_normal(3),
        "s": np.array(0.7),
        "conv": rng.standard_normal((2, 2, 3)),
    }
    kw = {"fallback_beta1": 0.8, "fallback_beta2": 0.95, "fallback_eps": 1e-6,
          "fallback_weight_decay": 0.05}  # fmt: skip
    muon = Muon(lr=0.01, fallback_lr=fallback_lr, **kw, fused=fused)
    adamw = AdamW(
        lr=0.01 if fallback_lr is None else fallback_lr, beta1=0.8, beta2=0.95, eps=1e-6,
        weight_decay=0.05, fused=fused,
    )  # fmt: skip
    others = [k for k in start if k != "W"]
    a = {k: v.astype(dtype) for k, v in start.items()}
    b = {k: start[k].astype(dtype) for k in others}
    for _ in range(30):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in start.items()}
        muon.update(a, grads)
        adamw.update(b, {k: grads[k] for k in others})
    for k in others:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(muon.state[k]["momentum_buffer"], adamw.state[k]["exp_avg"])
        np.testing.assert_array_equal(muon.state[k]["exp_avg_sq"], adamw.state[k]["exp_avg_sq"])
    assert not muon.state["W"]["exp_avg_sq"].any()


def test_muon_fallback_follows_the_schedule_unless_given_a_rate():
    def run(opt):
        p = {"b": np.ones(3)}
        for _ in range(3):
            opt.update(p, {"b": np.array([1.0, -1.0, 0.5])})
        return p["b"]

    def decay():
        return schedules.ExponentialDecay(0.01, 0.5, per="step")

    np.testing.assert_array_equal(run(Muon(lr=decay())), run(AdamW(lr=decay())))
    np.testing.assert_array_equal(run(Muon(lr=decay(), fallback_lr=0.002)), run(AdamW(lr=0.002)))


def test_muon_fallback_error_refuses_non_matrices_like_torch():
    opt = Muon(fallback="error")
    params = {"W": np.ones((2, 3)), "b": np.ones(3)}
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(
        ValueError,
        match=r"params\['b'\] must be a matrix \(2-D\) for Muon with fallback='error', as for "
        r"torch.optim.Muon; got shape \(3,\)",
    ):
        opt.update(params, {k: np.ones_like(v) for k, v in params.items()})
    assert opt.t == 0
    assert opt.state is None
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    matrices = {"W": np.ones((2, 3)), "V": np.ones((3, 1))}
    opt.update(matrices, {k: np.ones_like(v) for k, v in matrices.items()})
    assert opt.state_names == ("momentum_buffer",)
    # A state holding a non-matrix does not load into it either.
    mixed = Muon()
    mixed.update(params, {k: np.ones_like(v) for k, v in params.items()})
    state = mixed.state_dict()
    state["hyperparameters"]["fallback"] = "error"
    state["state"] = {
        k: {"momentum_buffer": v["momentum_buffer"]} for k, v in state["state"].items()
    }
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"params\['b'\] must be a matrix"):
        opt.load_state_dict(state)
    assert opt.state_dict()["t"] == before["t"]


def test_muon_empty_and_single_column_matrices(fused):
    opt = Muon(lr=0.1, fused=fused)
    params = {"E": np.zeros((0, 4)), "C": np.array([[3.0], [4.0]])}
    opt.update(params, {"E": np.zeros((0, 4)), "C": np.array([[0.6], [0.8]])})
    # A column orthogonalises to its direction; lr scale √(rows/cols) = √2.
    u = np.array([0.6, 0.8])
    # One NS iteration of the quintic on a unit vector maps its norm 1 to a+b+c.
    norm = 1.0
    for _ in range(5):
        norm = 3.4445 * norm - 4.7750 * norm**3 + 2.0315 * norm**5
    want = np.array([3.0, 4.0]) * (1 - 0.1 * 0.1) - 0.1 * math.sqrt(2) * norm * u
    np.testing.assert_allclose(params["C"].ravel(), want, rtol=1e-14)


# ------------------------------------------------------- presets, registry


def test_registry_entries():
    for name, cls, low, high in [
        ("lars", LARS, 1e-2, 10.0),
        ("lamb", LAMB, 1e-4, 1e-1),
        ("novograd", NovoGrad, 1e-4, 1e-1),
        ("muon", Muon, 1e-4, 1e-1),
    ]:
        assert OPTIMIZERS[name] is cls
        assert cls.lr_range == (low, high)
        assert low <= cls().lr <= high
        assert cls._elementwise is False


def test_presets():
    assert PRESETS["optax"]["lars"] == {}
    assert PRESETS["optax"]["lamb"] == {}
    assert PRESETS["optax"]["novograd"] == {}
    assert PRESETS["keras"]["lamb"] == {"lr": 0.001, "eps": 1e-7, "form": "keras"}
    assert PRESETS["torch"]["muon"] == {}
    assert create("muon", preset="torch").hyperparameters() == Muon().hyperparameters()
    torch_defaults = {"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True,
                      "ns_a": 3.4445, "ns_b": -4.7750, "ns_c": 2.0315, "eps": 1e-7,
                      "ns_steps": 5, "adjust_lr_fn": "original"}  # fmt: skip
    assert {k: Muon().hyperparameters()[k] for k in torch_defaults} == torch_defaults
    optax_lamb = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.0}
    assert {k: LAMB().hyperparameters()[k] for k in optax_lamb} == optax_lamb
    optax_lars = {"momentum": 0.9, "trust_coefficient": 0.001, "eps": 0.0, "nesterov": False,
                  "weight_decay": 0.0}  # fmt: skip
    assert {k: LARS().hyperparameters()[k] for k in optax_lars} == optax_lars
    optax_novograd = {"beta1": 0.9, "beta2": 0.25, "eps": 1e-6, "weight_decay": 0.0}
    assert {k: NovoGrad().hyperparameters()[k] for k in optax_novograd} == optax_novograd


def test_preset_first_two_steps_by_hand(fused):
    _compare(_run(create("lamb", preset="keras", fused=fused)),
             lamb_by_hand(0.001, eps=1e-7, keras=True))  # fmt: skip
    _compare(_run(create("lamb", preset="optax", fused=fused)), lamb_by_hand(0.001))
    _compare(_run(create("lars", preset="optax", fused=fused)), lars_by_hand(1.0, trusted="wbs"))
    _compare(_run(create("novograd", preset="optax", fused=fused)), novograd_by_hand(0.001))


# ---------------------------------------------------- fused == reference

CONFIGS = {
    "lars": (LARS, {"lr": 0.5}),
    "lars-nesterov-masks": (
        LARS,
        {
            "lr": 0.5,
            "nesterov": True,
            "weight_decay": 0.1,
            "eps": 1e-3,
            "weight_decay_mask": "W.*",
            "trust_ratio_mask": "W1|b1",
        },
    ),
    "lamb": (LAMB, {"lr": 0.01, "weight_decay": 0.1}),
    "lamb-keras": (LAMB, {"lr": 0.01, "weight_decay": 0.1, "form": "keras"}),
    "novograd": (NovoGrad, {"lr": 0.01, "weight_decay": 0.05}),
    "muon": (Muon, {"lr": 0.02}),
    "muon-plain-match": (
        Muon,
        {"lr": 0.02, "nesterov": False, "adjust_lr_fn": "match_rms_adamw", "fallback_lr": 0.01},
    ),
}
FUSED_SHAPES = {"W1": (7, 5), "b1": (5,), "W2": (3, 6), "s": (), "T": (2, 2, 2)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", CONFIGS)
def test_fused_is_bit_identical_to_reference(config, dtype):
    cls, kwargs = CONFIGS[config]
    rng = np.random.default_rng(0)
    start = {k: rng.standard_normal(s).astype(dtype) for k, s in FUSED_SHAPES.items()}
    start["b1"][:] = 0.0  # a zero array: the trust ratio's other branch
    runs = []
    for fused in (True, False):
        opt = cls(**kwargs, fused=fused)
        params = {k: v.copy() for k, v in start.items()}
        grads_rng = np.random.default_rng(1)
        for step in range(40):
            grads = {k: grads_rng.standard_normal(s).astype(dtype) for k, s in FUSED_SHAPES.items()}
            if step == 3:
                grads["W1"][:] = 0.0
            opt.update(params, grads)
        runs.append((params, opt))
    (a, opt_a), (b, opt_b) = runs
    for k in FUSED_SHAPES:
        assert a[k].dtype == dtype
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        for name in opt_a.state_names:
            np.testing.assert_array_equal(opt_a.state[k][name], opt_b.state[k][name])
    assert opt_a.state_dict()["scalars"] == opt_b.state_dict()["scalars"]


# ------------------------------------------------------------- bad arguments

BAD = [
    (LARS, {"trust_coefficient": 0.0}, ValueError, r"^trust_coefficient must be > 0; got 0\.0"),
    (LARS, {"eps": -1e-8}, ValueError, r"^eps must be >= 0; got -1e-08"),
    (LARS, {"momentum": 1.0}, ValueError, r"^momentum must be in \[0, 1\); got 1\.0"),
    (LARS, {"nesterov": 1}, TypeError, r"^nesterov must be True or False; got 1 \(int\)"),
    (LARS, {"weight_decay_mask": 3}, TypeError,
     r"^weight_decay_mask must be None or a regular expression over the keys \(a str\); got 3"),
    (LARS, {"trust_ratio_mask": "W("}, ValueError,
     r"^trust_ratio_mask must be a valid regular expression \(.*\); got 'W\('"),
    (LAMB, {"form": "paper"}, ValueError, r"^form must be one of 'optax', 'keras'; got 'paper'"),
    (LAMB, {"eps": -1e-8}, ValueError, r"^eps must be >= 0; got -1e-08"),
    (LAMB, {"beta2": 1.0}, ValueError, r"^beta2 must be in \[0, 1\); got 1\.0"),
    (LAMB, {"weight_decay_mask": "["}, ValueError, r"^weight_decay_mask must be a valid"),
    (NovoGrad, {"beta2": -0.1}, ValueError, r"^beta2 must be in \[0, 1\); got -0\.1"),
    (NovoGrad, {"weight_decay": -1.0}, ValueError, r"^weight_decay must be >= 0; got -1\.0"),
    (Muon, {"ns_steps": 100}, ValueError, r"^ns_steps must be an integer in \[0, 99\]; got 100"),
    (Muon, {"ns_steps": 5.0}, TypeError, r"^ns_steps must be an integer; got 5\.0 \(float\)"),
    (Muon, {"ns_a": math.nan}, ValueError, r"^ns_a must be finite; got nan"),
    (Muon, {"ns_c": "2"}, TypeError, r"^ns_c must be a real number; got '2' \(str\)"),
    (Muon, {"adjust_lr_fn": None}, TypeError,
     r"^adjust_lr_fn must be one of 'original', 'match_rms_adamw'; got None"),
    (Muon, {"fallback": "sgd"}, ValueError,
     r"^fallback must be one of 'adamw', 'error'; got 'sgd'"),
    (Muon, {"fallback_lr": 0.0}, ValueError, r"^fallback_lr must be > 0; got 0\.0"),
    (Muon, {"fallback_beta2": 1.0}, ValueError, r"^fallback_beta2 must be in \[0, 1\); got 1\.0"),
    (Muon, {"fallback_eps": -1.0}, ValueError, r"^fallback_eps must be > 0; got -1\.0"),
    (Muon, {"fallback_weight_decay": -0.1}, ValueError,
     r"^fallback_weight_decay must be >= 0; got -0\.1"),
    (Muon, {"momentum": 1.5}, ValueError, r"^momentum must be in \[0, 1\); got 1\.5"),
    (Muon, {"betas": (0.9, 0.99)}, TypeError, r"unknown keyword argument 'betas'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "kwargs", "exc", "message"),
    BAD,
    ids=[f"{c.__name__}-{next(iter(k))}" for c, k, *_ in BAD],
)
def test_bad_arguments_are_named(cls, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        cls(**kwargs)


# ------------------------------------------------------------- state round trips


def _train(opt, params, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        opt.update(params, {k: rng.standard_normal(v.shape) for k, v in params.items()})


@pytest.mark.parametrize("config", CONFIGS)
def test_state_round_trip_continues_bit_identically(config, tmp_path):
    cls, kwargs = CONFIGS[config]
    rng = np.random.default_rng(2)
    start = {k: rng.standard_normal(s) for k, s in FUSED_SHAPES.items()}
    straight = cls(**kwargs)
    a = {k: v.copy() for k, v in start.items()}
    _train(straight, a, 6, seed=5)
    _train(straight, a, 4, seed=6)

    first = cls(**kwargs)
    b = {k: v.copy() for k, v in start.items()}
    _train(first, b, 6, seed=5)
    resumed = load(first.save(tmp_path / f"{config}.npz"))
    again = cls(**kwargs)
    again.load_state_dict(first.state_dict())
    c = {k: v.copy() for k, v in b.items()}
    _train(resumed, b, 4, seed=6)
    _train(again, c, 4, seed=6)
    for k in start:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        np.testing.assert_array_equal(a[k], c[k], err_msg=k)
    assert resumed.state_dict()["scalars"] == straight.state_dict()["scalars"]


@pytest.mark.parametrize(
    ("tamper", "error", "message"),
    [
        (lambda s: s.pop("nu/w"), ValueError,
         r"state_dict\['scalars'\] must be a dict with the keys \['nu/b', 'nu/w'\]"),
        (lambda s: s.update({"nu/x": 1.0}), ValueError, r"must be a dict with the keys"),
        (lambda s: s.update({"nu/w": -1.0}), ValueError,
         r"state_dict\['scalars'\]\['nu/w'\] must be >= 0; got -1\.0"),
        (lambda s: s.update({"nu/w": math.nan}), ValueError,
         r"state_dict\['scalars'\]\['nu/w'\] must be finite and >= 0; got nan"),
        (lambda s: s.update({"nu/b": "1"}), TypeError,
         r"state_dict\['scalars'\]\['nu/b'\] must be a real number"),
    ],
    ids=["missing", "stray", "negative", "nan", "str"],
)  # fmt: skip
def test_novograd_second_moments_are_checked_before_anything_changes(tamper, error, message):
    opt = NovoGrad(lr=0.01)
    _train(opt, {"w": np.ones(3), "b": np.ones((2, 2))}, 3, seed=0)
    before = opt.state_dict()
    bad = opt.state_dict()
    tamper(bad["scalars"])
    with pytest.raises(error, match=message):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["scalars"] == before["scalars"]
    assert after["t"] == before["t"]
    fresh = NovoGrad(lr=0.01)
    with pytest.raises(error, match=message):
        fresh.load_state_dict(bad)
    assert fresh.state is None
    fresh.load_state_dict(before)  # and a good one loads into a fresh optimizer
    assert fresh.state_dict()["scalars"] == before["scalars"]


def test_novograd_nan_moment_survives_save_and_load_with_nonfinite_ignore(tmp_path):
    opt = NovoGrad(lr=0.01, nonfinite="ignore")
    opt.update({"w": np.ones(2)}, {"w": np.array([np.nan, 1.0])})
    assert math.isnan(opt.state_dict()["scalars"]["nu/w"])
    again = load(opt.save(tmp_path / "nan.npz"))
    assert math.isnan(again.state_dict()["scalars"]["nu/w"])


# ------------------------------------------------------------- allocation


@pytest.mark.parametrize("config", CONFIGS)
def test_steady_state_updates_allocate_nothing_per_element(config):
    """A few updates after the first allocate far less than one array of the parameters."""
    cls, kwargs = CONFIGS[config]
    rng = np.random.default_rng(0)
    # Newton–Schulz's Gram matrices (160 × 160 float32, 100 KB) are over the bound too.
    shapes = {"W": (160, 240), "V": (240, 160), "b": (400,), "s": ()}
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    grads = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    opt = cls(**kwargs, clip_norm=1.0)
    opt.update(params, grads)  # warm-up: state, work arrays, compilation
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(3):
            opt.update(params, grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{config}: {peak:,} B"
