"""Classic optimizers: Rprop, ASGD, FTRL, Adafactor and SM3.

In order of increasing complexity. Rprop, ASGD and FTRL are element-wise,
as the optimizers of :mod:`gdlab.optim.optimizers`; Adafactor and SM3 keep
statistics per row and per column of each matrix (their memory grows with
rows + columns, not rows × columns), so they update one parameter array at
a time. The maths lives in :mod:`gdlab.optim.classic_kernels` (readable
NumPy) and :mod:`gdlab.optim.classic_fused` (numba), bit-identical.

``t`` counts updates from 1; ``g`` is the gradient (after clipping, negated
with ``maximize=True``); ``d = g + weight_decay·p``. Each class matches one
reference implementation, recorded by ``scripts/record_classic.py`` and
replayed by ``tests/test_classic.py``: torch.optim (Rprop, ASGD,
Adafactor), Keras 3 (FTRL, Adafactor's ``form="keras"``) and optax (SM3).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from gdlab._lazy import lazy

from .._checks import check_choice, check_real, fail
from . import classic_kernels
from .base import Optimizer
from .optimizers import _EMPTY, _beta, _eps, _nonneg, _Stateful
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
classic_fused = lazy(__name__, "classic_fused", "gdlab.optim.classic_fused")
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")

__all__ = ["ASGD", "FTRL", "SM3", "Adafactor", "Rprop"]

_KERNELS = (classic_kernels, classic_fused)


def _norm(a: np.ndarray) -> float:
    """‖a‖₂, its sum of squares accumulated in float64 (the same for both kernel modules)."""
    return math.sqrt(_fused.sum_of_squares(a))


class _Classic(_Stateful):
    """The kernel pair of this module, for the element-wise rules."""

    kernel_modules = _KERNELS


class _ShapedState(Optimizer):
    """Rules whose state arrays are shaped by the parameter, but not like it.

    A subclass says which arrays a parameter of a given shape gets
    (``_layout``) and how to read the parameter's shape back from them
    (``_param_shape``); creating, checking and loading the state follow.
    Such rules are never run over all keys at once (``_elementwise`` is
    False): each kernel call sees one parameter in its own shape.
    """

    _elementwise = False
    kernel_modules = _KERNELS
    #: What a parameter's state holds, for error messages.
    _state_help: ClassVar[str] = ""

    @abc.abstractmethod
    def _layout(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The state arrays of a parameter of ``shape``: name → shape."""

    @abc.abstractmethod
    def _param_shape(self, arrays: Mapping[str, np.ndarray]) -> tuple[int, ...] | None:
        """The parameter shape a key's state arrays were made for (None if none fits)."""

    def _create_state(self, params: Mapping[str, np.ndarray]) -> None:
        layouts = {key: (self._layout(p.shape), p.dtype) for key, p in params.items()}
        initial = {name: self._initial_value(name) for key in layouts for name in layouts[key][0]}
        self.state = _laid_out(layouts, initial)
        self._scalars = self._init_scalars()

    def _make_plan(self, params, grads, flat_grads):
        # The kernels get flat arrays; they are reshaped back in _step.
        self._shapes = {key: p.shape for key, p in params.items()}
        return super()._make_plan(params, grads, flat_grads)

    def _check_state(self, params: dict[str, np.ndarray]) -> None:
        state = self.state
        assert state is not None
        if params.keys() != state.keys():
            raise ValueError(
                f"params must have the keys the optimizer's state was made for "
                f"{sorted(state)}; got {sorted(params)}"
            )
        for key, p in params.items():
            bufs = state[key]
            dtype = next(iter(bufs.values())).dtype
            layout = self._layout(p.shape)
            same = bufs.keys() == layout.keys() and all(
                bufs[n].shape == s for n, s in layout.items()
            )
            if not same or p.dtype != dtype:
                raise ValueError(
                    f"params[{key!r}] must have shape {self._param_shape(bufs)} and dtype "
                    f"{dtype} like the optimizer's state; got shape {p.shape}, dtype {p.dtype}"
                )

    def _checked_state(self, state: Any) -> dict[str, dict[str, np.ndarray]] | None:
        """Copies of the saved state arrays, after checking them all (shapes per parameter)."""
        if state is None:
            return None
        if not isinstance(state, Mapping):
            fail("state_dict['state']", "None or a dict of dicts of arrays", state, kind=TypeError)
        if not state:
            fail("state_dict['state']", "None or a non-empty dict", state)
        out, copies = {}, {}
        for key, bufs in state.items():
            if not isinstance(key, str):
                fail("state_dict['state'] keys", "str (parameter names)", key, kind=TypeError)
            where = f"state_dict['state'][{key!r}]"
            arrays = self._checked_key_arrays(where, bufs)
            out[key] = self._checked_key_layout(where, arrays)
            copies[key] = arrays
        state = _laid_out(out, {n: 0.0 for layout, _ in out.values() for n in layout})
        for key, bufs in state.items():
            for n, a in bufs.items():
                np.copyto(a, copies[key][n])
        return state

    def _checked_key_arrays(self, where: str, bufs: Any) -> dict[str, np.ndarray]:
        """One key's saved state (at ``where``), each array checked on its own."""
        if not isinstance(bufs, Mapping) or not bufs:
            fail(where, f"a dict of arrays: {self._state_help}", bufs, kind=TypeError)
        for n in bufs:
            if not isinstance(n, str):
                fail(f"{where} keys", "str (state names)", n, kind=TypeError)
        return {n: self._checked_array(f"{where}[{n!r}]", n, a) for n, a in bufs.items()}

    def _checked_key_layout(
        self, where: str, arrays: Mapping[str, np.ndarray]
    ) -> tuple[dict[str, tuple[int, ...]], np.dtype]:
        """``(layout, dtype)`` of one key's arrays: the names, shapes and one dtype that fit."""
        shape = self._param_shape(arrays)
        layout = None if shape is None else self._layout(shape)
        if layout is None or arrays.keys() != layout.keys():
            fail(where, f"a dict of arrays: {self._state_help}", sorted(arrays))
        dtype = next(iter(arrays.values())).dtype
        for n, s in layout.items():
            if arrays[n].shape != s or arrays[n].dtype != dtype:
                fail(
                    f"{where}[{n!r}]",
                    f"a {dtype} array of shape {s}",
                    f"{arrays[n].dtype} {arrays[n].shape}",
                )
        return layout, dtype

    def _work(self, dtype: np.dtype, size: int) -> np.ndarray:
        """A flat scratch array of at least ``size`` elements, one per dtype, kept."""
        works = self.__dict__.setdefault("_works", {})
        buf = works.get(dtype)
        if buf is None or buf.size < size:
            largest = max(math.prod(s) for s in self._shapes.values())
            buf = works[dtype] = np.empty(max(size, largest), dtype)
        return buf[:size]


def _laid_out(
    layouts: Mapping[str, tuple[dict[str, tuple[int, ...]], np.dtype]], initial: Mapping[str, float]
) -> dict[str, dict[str, np.ndarray]]:
    """State arrays per key and name, each name one flat buffer over the keys that have it.

    As the base class lays out its state (consecutive pieces in key order);
    with mixed dtypes, an array per key and name.
    """
    state: dict[str, dict[str, np.ndarray]] = {key: {} for key in layouts}
    if len({dtype for _, dtype in layouts.values()}) != 1:
        for key, (layout, dtype) in layouts.items():
            state[key] = {n: np.full(shape, initial[n], dtype) for n, shape in layout.items()}
        return state
    dtype = next(iter(layouts.values()))[1]
    names = dict.fromkeys(n for layout, _ in layouts.values() for n in layout)
    for name in names:
        owners = [(key, layout[name]) for key, (layout, _) in layouts.items() if name in layout]
        buffer = np.full(sum(math.prod(shape) for _, shape in owners), initial[name], dtype)
        start = 0
        for key, shape in owners:
            size = math.prod(shape)
            state[key][name] = buffer[start : start + size].reshape(shape)
            start += size
    for key, (layout, _) in layouts.items():  # each key's names in layout order
        state[key] = {n: state[key][n] for n in layout}
    return state


# ------------------------------------------------------------------- Rprop


@register(lr_range=(1e-4, 1.0), presets={"torch": {}})
class Rprop(_Classic):
    """Rprop: each coordinate steps by its own size, adapted by the gradient's sign only.

    Update::

        if g·g_prev > 0:  s ← min(s·η+, s_max)
        if g·g_prev < 0:  s ← max(s·η−, s_min);  g ← 0
        p ← p − s·sign(g)
        g_prev ← g

    per coordinate, with the step sizes s starting at lr. Where the sign
    flips, the step is skipped and the gradient is stored as 0, so that the
    next step leaves s as it is (PyTorch's form, "Rprop−"
    without weight backtracking). ``lr`` is only the initial step size: a
    schedule's value at the first step starts s, later values are unused
    (as with ``torch.optim.lr_scheduler``). Meant for full-batch training:
    with noisy mini-batch gradients the signs flip at random.

    Args:
        lr: the initial step size, default 1e-2.
        etaminus, etaplus: η− in (0, 1) and η+ > 1, the factors that shrink
            and grow s, default 0.5 and 1.2 (torch's ``etas``).
        step_size_min, step_size_max: the bounds on s, default 1e-6 and 50
            (torch's ``step_sizes``).

    References:
        Riedmiller & Braun (1993), "A Direct Adaptive Method for Faster
        Backpropagation Learning: The RPROP Algorithm". Matched:
        ``torch.optim.Rprop`` (single-tensor path).

    >>> import numpy as np
    >>> opt = Rprop(lr=0.1)
    >>> params = {"x": np.array([1.0, -1.0])}
    >>> for _ in range(2):
    ...     opt.update(params, {"x": 2 * params["x"]})  # f(x) = x²
    >>> params["x"]
    array([ 0.78, -0.78])
    """

    name = "rprop"
    _elementwise = True
    follows_schedule = False  # lr is the initial step size only
    state_names = ("prev", "step_size")
    nonnegative_states = frozenset({"step_size"})

    def __init__(
        self,
        lr=1e-2,
        *,
        etaminus=0.5,
        etaplus=1.2,
        step_size_min=1e-6,
        step_size_max=50.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.etaminus = check_real(
            "etaminus", etaminus, low=0, high=1, low_open=True, high_open=True
        )
        self.etaplus = check_real("etaplus", etaplus, low=1, low_open=True)
        self.step_size_min = _nonneg("step_size_min", step_size_min)
        self.step_size_max = _nonneg("step_size_max", step_size_max)
        if self.step_size_max < self.step_size_min:
            fail("step_size_max", f">= step_size_min ({self.step_size_min!r})", step_size_max)

    def _step(self, params, grads, lr) -> None:
        first = self.t == 1
        for key, p in params.items():
            prev, step = self._buffers(key)
            args = self._cast(
                p.dtype, lr, self.etaminus, self.etaplus, self.step_size_min, self.step_size_max
            )
            self._kernels.rprop_step(p, grads[key], prev, step, *args, first)


# -------------------------------------------------------------------- ASGD


@register(lr_range=(1e-4, 1.0), presets={"torch": {}})
class ASGD(_Classic):
    """ASGD: SGD with a decaying step size, and the running average of its iterates.

    Update::

        η_1 = lr
        μ_1 = 1
        p ← p·(1 − λ·η_t) − η_t·d
        ā ← ā + μ_t·(p − ā)               (ā ← p while μ_t = 1)
        η_{t+1} = lr / (1 + λ·lr·t)^α
        μ_{t+1} = 1 / max(1, t − t0)

    (PyTorch's single-tensor form). ``params`` holds the SGD iterate p; :meth:`averaged` returns the
    average ā (torch's ``ax``), the point to evaluate. It is the plain copy
    of p until step t0 + 1, then the mean of the iterates from there on
    (Polyak–Juditsky averaging): with the default t0 = 10⁶ a short run never
    averages. ``λ·η_t`` also shrinks p each step (a weight decay of its own).
    η and μ are carried between steps (``state_dict`` saves them), computed
    with the previous step's lr as PyTorch does.

    Args:
        lr: η_1, default 1e-2.
        lambd: λ >= 0, the decay term, default 1e-4.
        alpha: α >= 0, the power of the step-size decay, default 0.75.
        t0: the step from which averaging starts, default 1e6.
        weight_decay: L2 penalty, default 0.

    References:
        Polyak & Juditsky (1992), "Acceleration of Stochastic Approximation
        by Averaging"; Bottou (2012), "Stochastic Gradient Descent Tricks".
        Matched: ``torch.optim.ASGD`` (single-tensor path).

    >>> import numpy as np
    >>> opt = ASGD(lr=0.1, t0=0)
    >>> params = {"x": np.array([1.0])}
    >>> for _ in range(3):
    ...     opt.update(params, {"x": 2 * params["x"]})  # f(x) = x²
    >>> params["x"].round(4), opt.averaged()["x"].round(4)
    (array([0.512]), array([0.576]))
    """

    name = "asgd"
    _elementwise = True
    state_names = ("ax",)

    def __init__(
        self, lr=1e-2, *, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, **options
    ) -> None:
        super().__init__(lr, **options)
        self.lambd = _nonneg("lambd", lambd)
        self.alpha = _nonneg("alpha", alpha)
        self.t0 = _nonneg("t0", t0)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    def _init_scalars(self) -> dict[str, float]:
        # η is set to lr at the first step (lr may be a schedule).
        return {"eta": 0.0, "mu": 1.0}

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # η = lr/(1 + λ·lr·t)^α >= 0 and μ = 1/max(1, t − t0) in (0, 1]: other
        # saved values were tampered with.
        checked = super()._checked_scalars(scalars, has_state=has_state)
        if checked:
            check_real("state_dict['scalars']['eta']", checked["eta"], low=0)
            check_real("state_dict['scalars']['mu']", checked["mu"], low=0, high=1, low_open=True)
        return checked

    def _step(self, params, grads, lr) -> None:
        scalars = self._scalars
        if self.t == 1:
            scalars["eta"] = lr
        eta, mu = scalars["eta"], scalars["mu"]
        for key, p in params.items():
            (ax,) = self._buffers(key)
            args = self._cast(p.dtype, eta, 1 - self.lambd * eta, mu, self.weight_decay)
            self._kernels.asgd_step(p, grads[key], ax, *args)
        t = float(self.t)
        try:
            decay = (1 + self.lambd * lr * t) ** self.alpha
        except OverflowError:  # Python's float power raises where IEEE gives inf
            decay = math.inf
        scalars["eta"] = lr / decay
        scalars["mu"] = 1 / max(1, t - self.t0)

    def averaged(self, params: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """The averaged parameters ā, as a new dict of copies (``params`` is not changed).

        Before the first update there is no average yet: the copies are of
        ``params``, which must then be given. Given after that, ``params``
        must have the keys the optimizer was updating.

        Raises:
            ValueError: no update yet and no ``params``, or ``params`` with
                other keys than the optimizer's state.
        """
        if params is not None:
            if not isinstance(params, Mapping):
                fail("params", "a dict of numpy arrays, or None", params, kind=TypeError)
            if self.state is not None and params.keys() != self.state.keys():
                raise ValueError(
                    f"params must have the keys of the optimizer's state {sorted(self.state)}; "
                    f"got {sorted(params)}"
                )
        if self.state is None:
            if params is None:
                raise ValueError(
                    "ASGD has no average before its first update; pass params to get copies of them"
                )
            return {key: np.array(p, copy=True) for key, p in params.items()}
        return {key: bufs["ax"].copy() for key, bufs in self.state.items()}

    def eval_params(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Where to evaluate: the average ā (:meth:`averaged`), which ``fit`` reports."""
        return self.averaged(params)


# -------------------------------------------------------------------- FTRL


@register(lr_range=(1e-3, 1.0), presets={"keras": {}})
class FTRL(_Classic):
    """FTRL-proximal: follow the regularised leader, per coordinate (Keras's form).

    Update::

        c = −learning_rate_power
        n' = n + g²
        σ = (n'^c − n^c) / lr
        z ← z + g + 2·λ_s·p − σ·p
        p ← (clip(z, −λ1, λ1) − z) / (n'^c/lr + 2·λ2 + β/lr)
        n ← n'

    p is not stepped but recomputed from the accumulated z: coordinates with
    |z| <= λ1 are exactly 0 (the L1 term makes the solution sparse). λ2 is
    the paper's L2 term in the proximal step, λ_s an L2 penalty added to the
    gradient ("shrinkage"; the accumulator n sees the raw g). β smooths the
    per-coordinate rate at the start, as the paper's β.

    Args:
        lr: default 1e-3 (Keras).
        learning_rate_power: −c <= 0, default −0.5; 0 keeps the rate fixed.
        initial_accumulator_value: n at the start, >= 0, default 0.1.
        l1_regularization_strength: λ1 >= 0, default 0.
        l2_regularization_strength: λ2 >= 0, default 0.
        l2_shrinkage_regularization_strength: λ_s >= 0, default 0.
        beta: β >= 0, default 0.

    References:
        McMahan et al. (2013), "Ad Click Prediction: a View from the
        Trenches" (Algorithm 1). Matched: ``keras.optimizers.Ftrl`` (Keras 3).

    >>> import numpy as np
    >>> opt = FTRL(lr=0.5, initial_accumulator_value=0.0, l1_regularization_strength=0.3)
    >>> params = {"x": np.array([0.0, 0.0])}
    >>> opt.update(params, {"x": np.array([1.0, -0.2])})
    >>> params["x"]  # z = (1, −0.2): the second is within λ1 and stays 0
    array([-0.35,  0.  ])
    """

    name = "ftrl"
    _elementwise = True
    state_names = ("accumulator", "linear")
    nonnegative_states = frozenset({"accumulator"})

    def __init__(
        self,
        lr=1e-3,
        *,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.learning_rate_power = check_real("learning_rate_power", learning_rate_power, high=0)
        self.initial_accumulator_value = _nonneg(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.l1_regularization_strength = _nonneg(
            "l1_regularization_strength", l1_regularization_strength
        )
        self.l2_regularization_strength = _nonneg(
            "l2_regularization_strength", l2_regularization_strength
        )
        self.l2_shrinkage_regularization_strength = _nonneg(
            "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength
        )
        self.beta = _nonneg("beta", beta)

    def _initial_value(self, name: str) -> float:
        return self.initial_accumulator_value if name == "accumulator" else 0.0

    def _check_rate(self, lr: float) -> None:
        if not lr > 0:
            raise ValueError(
                f"FTRL divides by the learning rate, so lr must be > 0 at every step; the "
                f"schedule gave {lr!r} at step {self.t + 1} (nothing was updated: end the "
                "schedule above 0)"
            )

    def _step(self, params, grads, lr) -> None:
        two_l2 = 2 * (self.l2_regularization_strength + self.beta / (2.0 * lr))
        for key, p in params.items():
            n, z = self._buffers(key)
            args = self._cast(
                p.dtype,
                lr,
                -self.learning_rate_power,
                2 * self.l2_shrinkage_regularization_strength,
                self.l1_regularization_strength,
                two_l2,
            )
            self._kernels.ftrl_step(p, grads[key], n, z, *args)


# --------------------------------------------------------------- Adafactor


@register(
    lr_range=(1e-3, 1.0),
    presets={"torch": {}, "keras": {"lr": 1e-3, "eps1": 1e-30, "form": "keras"}},
)
class Adafactor(_ShapedState):
    """Adafactor: second moments factored into row and column averages, relative steps.

    ``form="torch"`` (default; ``torch.optim.Adafactor``), for a matrix
    (n rows, m columns; a stack of them for more dimensions, the last two)::

        ρ_t = min(lr, 1/√t)
        α_t = max(ε2, RMS(p))·ρ_t
        p ← p·(1 − lr·weight_decay)
        w_t = t^beta2_decay
        R ← R + w_t·(mean_j g² − R)
        C ← C + w_t·(mean_i g² − C)
        V̂ = R·Cᵀ / max(mean_i R, ε1)
        u = g / √max(V̂, ε1²)
        p ← p − α_t·u / max(1, RMS(u)/d)

    A vector or a scalar keeps V̂ itself: ``V̂ ← V̂ + w_t·(g² − V̂)``.

    ``form="keras"`` (``keras.optimizers.Adafactor``) differs in the ε's and
    the order: the decay comes first, ε1 is added to every g², nothing is
    clamped, and R is normalised before the product::

        p ← p·(1 − lr·weight_decay)
        α_t = max(ε2, RMS(p))·min(lr, 1/√t)
        β_t = 1 − t^beta2_decay
        R ← β_t·R + (1 − β_t)·mean_j(g² + ε1)
        C ← β_t·C + (1 − β_t)·mean_i(g² + ε1)
        V̂ = (R / mean_i R)·Cᵀ
        u = g / √V̂
        p ← p − α_t·u / max(1, RMS(u)/d)

    Keras's ``relative_step`` switch changes nothing in Keras 3 (ρ_t is
    ``min(lr, 1/√t)`` either way), so there is none here. State per
    parameter: ``row_var`` R (shape without the last axis) and ``col_var``
    C (without the one before) for two or more dimensions, ``variance`` V̂
    for fewer: memory in rows + columns, not rows × columns.

    Args:
        lr: the largest relative step ρ (the paper's 10⁻²), also the scale
            of the weight decay; default 1e-2 (Keras 1e-3).
        beta2_decay: the exponent of w_t = 1 − β̂2_t = t^beta2_decay, <= 0,
            default −0.8 (Keras's ``beta_2_decay``).
        eps1: ε1 >= 0, or None (default) for the dtype's machine epsilon
            (torch's ``eps[0]``; Keras's ``epsilon_1`` is 1e-30).
        eps2: ε2 >= 0, the least parameter scale, default 1e-3.
        d: the clipping threshold on RMS(u), >= 1, default 1 (Keras's
            ``clip_threshold``).
        weight_decay: decoupled, >= 0, default 0.
        form: "torch" or "keras".

    References:
        Shazeer & Stern (2018), "Adafactor: Adaptive Learning Rates with
        Sublinear Memory Cost", arXiv:1804.04235. Matched:
        ``torch.optim.Adafactor`` (single-tensor path) and
        ``keras.optimizers.Adafactor`` (Keras 3).
    """

    name = "adafactor"
    FORMS = ("torch", "keras")
    state_names = ("variance", "row_var", "col_var")
    nonnegative_states = frozenset(state_names)
    _state_help = (
        "'variance' of the parameter's shape for fewer than 2 dimensions, else "
        "'row_var' and 'col_var' (its shape without the last axis, and without "
        "the one before)"
    )

    def __init__(
        self,
        lr=1e-2,
        *,
        beta2_decay=-0.8,
        eps1=None,
        eps2=1e-3,
        d=1.0,
        weight_decay=0.0,
        form="torch",
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta2_decay = check_real("beta2_decay", beta2_decay, high=0)
        self.eps1 = None if eps1 is None else _nonneg("eps1", eps1)
        self.eps2 = _nonneg("eps2", eps2)
        self.d = check_real("d", d, low=1)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.form = check_choice("form", form, self.FORMS)

    def _layout(self, shape):
        if len(shape) < 2:
            return {"variance": shape}
        return {"row_var": shape[:-1], "col_var": shape[:-2] + shape[-1:]}

    def _param_shape(self, arrays):
        if "variance" in arrays:
            return arrays["variance"].shape
        row, col = arrays.get("row_var"), arrays.get("col_var")
        if row is None or col is None or row.ndim < 1 or col.ndim < 1:
            return None
        return row.shape + col.shape[-1:]

    def _step(self, params, grads, lr) -> None:
        t, keras = self.t, self.form == "keras"
        if keras:
            rho = min(lr, 1 / math.sqrt(t))
            beta = 1 - t**self.beta2_decay
            rates = (beta, 1 - beta)
        else:
            rho = min(lr, 1 / t**0.5)
            rates = (t**self.beta2_decay,)
        k = self._kernels
        for key, p in params.items():
            size = p.size
            if size == 0:
                continue
            g, shape, state = grads[key], self._shapes[key], self.state[key]
            eps1 = np.finfo(p.dtype).eps if self.eps1 is None else self.eps1
            if keras and self.weight_decay:
                p *= self._cast(p.dtype, 1 - self.weight_decay * lr)[0]
            alpha = max(self.eps2, _norm(p) / size**0.5) * rho
            if not keras and self.weight_decay:
                p *= self._cast(p.dtype, 1 - lr * self.weight_decay)[0]
            u = self._work(p.dtype, size)
            if len(shape) < 2:
                if keras:
                    args = self._cast(p.dtype, *rates, eps1)
                    k.adafactor_keras_vector(g, state["variance"].reshape(-1), u, *args)
                else:
                    args = self._cast(p.dtype, *rates, eps1 * eps1)
                    k.adafactor_torch_vector(g, state["variance"].reshape(-1), u, *args)
            else:
                n, m = shape[-2], shape[-1]
                batch = size // (n * m)
                u3 = u.reshape(batch, n, m)
                row = state["row_var"].reshape(batch, n)
                col = state["col_var"].reshape(batch, m)
                sums = self._sums(key, p.dtype, batch, n, m)
                if keras:
                    args = self._cast(p.dtype, *rates, eps1)
                    k.adafactor_keras_factored(g.reshape(batch, n, m), row, col, u3, *sums, *args)
                else:
                    args = self._cast(p.dtype, *rates, eps1, eps1 * eps1)
                    k.adafactor_torch_factored(g.reshape(batch, n, m), row, col, u3, *sums, *args)
            denom = max(1.0, _norm(u) / (size**0.5 * self.d))
            k.axpy(p, u, *self._cast(p.dtype, -alpha / denom))

    def _sums(self, key: str, dtype: np.dtype, batch: int, n: int, m: int) -> tuple:
        """Scratch for one matrix's row sums, column sums and mean of R, made once."""
        sums = self.__dict__.setdefault("_row_col_sums", {})
        bufs = sums.get(key)
        if (
            bufs is None
            or bufs[0].shape != (batch, n)
            or bufs[1].shape != (batch, m)
            or (bufs[0].dtype != dtype)
        ):
            bufs = sums[key] = (
                np.empty((batch, n), dtype),
                np.empty((batch, m), dtype),
                np.empty(batch, dtype),
            )
        return bufs


# --------------------------------------------------------------------- SM3


@register(lr_range=(1e-3, 1.0), presets={"optax": {}})
class SM3(_ShapedState):
    """SM3: AdaGrad whose accumulators are shared along each axis, with momentum.

    An array of two or more dimensions keeps one accumulator a_k[j] per index
    j along each axis k (optax's cover).

    Update::

        ν = g² + min_k a_k[i_k]
        a_k[j] ← max_{i: i_k = j} ν
        u = g / √(ν + ε)                    (0 where ν = 0)
        m ← (1 − μ)·u + μ·m
        p ← p − lr·m

    A vector or a scalar keeps one accumulator per element, ``a ← a + g²``
    (AdaGrad with optax's ε and momentum). An (n, m) matrix keeps n + m
    accumulators instead of n·m. ``momentum=0`` keeps no buffer and steps
    ``p ← p − lr·u``. The momentum is an average (optax's), not a heavy
    ball: steps are (1 − μ) times as long as without it at first.

    Args:
        lr: default 1e-2 (optax has none).
        momentum: μ in [0, 1), default 0.9 (optax's).
        eps: ε >= 0 under the root, default 1e-8 (optax's ``scale_by_sm3``); 0 gives
            NaN where an accumulator is still 0.

    References:
        Anil, Gupta, Koren & Singer (2019), "Memory-Efficient Adaptive
        Optimization", arXiv:1901.11150 (SM3-II). Matched: ``optax.sm3``
        (``scale_by_sm3`` with b2 = 1).
    """

    name = "sm3"
    state_names = ("accumulator", "momentum")
    # The per-axis accumulators of an array of two or more dimensions.
    nonnegative_states = frozenset({"accumulator", *(f"accumulator_{k}" for k in range(64))})
    _state_help = (
        "'accumulator' of the parameter's shape for fewer than 2 dimensions, else "
        "'accumulator_0', 'accumulator_1', ... (one 1-D array per axis); with "
        "momentum, 'momentum' of the parameter's shape"
    )

    def __init__(self, lr=1e-2, momentum=0.9, *, eps=1e-8, **options) -> None:
        super().__init__(lr, **options)
        self.momentum = _beta("momentum", momentum)
        self.eps = _eps(eps)

    def _layout(self, shape):
        if len(shape) < 2:
            layout = {"accumulator": shape}
        else:
            layout = {f"accumulator_{k}": (n,) for k, n in enumerate(shape)}
        if self.momentum:
            layout["momentum"] = shape
        return layout

    def _param_shape(self, arrays):
        if "momentum" in arrays:
            return arrays["momentum"].shape
        if "accumulator" in arrays:
            return arrays["accumulator"].shape
        axes = []
        while f"accumulator_{len(axes)}" in arrays:
            a = arrays[f"accumulator_{len(axes)}"]
            if a.ndim != 1:
                return None
            axes.append(a.shape[0])
        return tuple(axes) if len(axes) >= 2 else None

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        mu = self.momentum
        for key, p in params.items():
            if p.size == 0:
                continue
            g, shape, state = grads[key], self._shapes[key], self.state[key]
            args = self._cast(p.dtype, lr, mu, 1 - mu, self.eps)
            m = state["momentum"] if mu else _EMPTY[p.dtype]
            if len(shape) < 2:
                k.sm3_vector_step(
                    p, g, state["accumulator"].reshape(-1), m.reshape(-1), *args, bool(mu)
                )
            else:
                accs = [state[f"accumulator_{i}"] for i in range(len(shape))]
                work = self._work(p.dtype, p.size).reshape(shape)
                k.sm3_factored_step(
                    p.reshape(shape), g.reshape(shape), accs, m, work, *args, bool(mu)
                )
