"""Layer-wise optimizers: steps scaled per parameter array, not per element.

In order of increasing complexity: :class:`LARS` and :class:`LAMB` scale each
array's step by a trust ratio ``‖p‖ / ‖u‖``; :class:`NovoGrad` keeps one
second moment per array; :class:`Muon` orthogonalises each matrix's momentum
with a Newton–Schulz iteration.

Each parameter array (each key of ``params``) is one "layer": the norms and
matrix products run over it whole, so these rules never update the keys as
one flat run (``_elementwise = False``). What is element-wise runs in the
kernels of :mod:`gdlab.optim.layerwise_kernels` (NumPy, readable) or
:mod:`gdlab.optim.layerwise_fused` (numba); the norms and the matrix products
between them are computed here, once, for both, so that the two paths stay
bit-identical. Norms are summed in float64 whatever the dtype. Work arrays
are made on the first step and kept: a steady-state update allocates nothing
proportional to the parameter count.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .._checks import check_bool, check_choice, check_int, check_real, fail, unset
from . import layerwise_kernels
from .optimizers import _EMPTY, _beta, _eps, _nonneg, _Stateful
from .presets import KERAS_EPS
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")
layerwise_fused = lazy(__name__, "layerwise_fused", "gdlab.optim.layerwise_fused")

__all__ = ["LAMB", "LARS", "Muon", "NovoGrad"]


def _norm(x: np.ndarray) -> float:
    """‖x‖₂ of a flat array, summed in float64 in one fixed order (both kernel paths)."""
    return math.sqrt(_fused.sum_of_squares(x))


def _key_pattern(name: str, value: Any) -> re.Pattern | None:
    """A key mask: ``None`` (every key) or a regular expression a key must match whole."""
    if value is None:
        return None
    if not isinstance(value, str):
        allowed = f"{unset()} or a regular expression over the keys (a str)"
        fail(name, allowed, value, kind=TypeError)
    try:
        return re.compile(value)
    except re.error as error:
        fail(name, f"a valid regular expression ({error})", value)
    raise AssertionError  # unreachable


class _Layerwise(_Stateful):
    """Shared helpers: per-array rules, work arrays, key masks."""

    _elementwise = False
    kernel_modules = (layerwise_kernels, layerwise_fused)

    def _work(self, tag: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A work array for ``key``, made once and kept (until a state is loaded)."""
        slot = (tag, key)  # tuples never collide with the clip buffers' str keys
        buf = self._scratch.get(slot)  # type: ignore[call-overload]
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._scratch[slot] = np.empty(shape, dtype)  # type: ignore[index]
        return buf

    def _shape(self, key: str) -> tuple[int, ...]:
        """The parameter's own shape (the kernels see flat views)."""
        assert self.state is not None
        return self.state[key][self.state_names[0]].shape

    def _selected(self, pattern: re.Pattern | None, key: str) -> bool:
        return pattern is None or pattern.fullmatch(key) is not None


def _trust_ratio(p_norm: float, u_norm: float, coefficient: float, eps: float) -> float:
    """``coefficient·‖p‖/(‖u‖ + ε)``, or 1 when either norm is 0 (optax and Keras)."""
    if p_norm == 0.0 or u_norm == 0.0:
        return 1.0
    return coefficient * p_norm / (u_norm + eps)


@register(lr_range=(1e-2, 10.0), presets={"optax": {}})
class LARS(_Layerwise):
    """LARS: momentum SGD with each array's step scaled by a trust ratio.

    Update (optax's ``lars``; η = trust_coefficient)::

        u = g + weight_decay·p
        r = η·‖p‖ / (‖u‖ + ε)
        b ← μ·b − lr·r·u
        p ← p + b

    ``r = 1`` when ``‖p‖ = 0`` or ``‖u‖ = 0`` (a zero array, or a zero
    gradient, would otherwise never move), and for keys ``trust_ratio_mask``
    leaves out. ``nesterov=True`` steps ``p ← p − lr·r·u + μ·b`` instead.
    ``weight_decay_mask`` and ``trust_ratio_mask`` are regular expressions
    that a key must match whole (``"W.*"``) to get the weight decay or the
    trust ratio; ``None`` (default) selects every key, as optax's default
    mask ``True`` does. The learning rate sits inside the momentum buffer
    (optax's ``scale_by_learning_rate`` before ``trace``), which matters only
    under a schedule. The paper divides by ``‖g‖ + weight_decay·‖p‖``
    instead of ``‖g + weight_decay·p‖ + ε``.

    Args:
        lr: learning rate, default 1.0 (with η = 0.001 a step moves each
            array by about 0.1 % of its norm; optax has no default).
        momentum: μ in [0, 1), default 0.9.
        trust_coefficient: η > 0, default 0.001.
        eps: ≥ 0, added to ‖u‖, default 0.
        nesterov: default False.
        weight_decay: L2 term added to the gradient, default 0.
        weight_decay_mask: keys that get weight decay, default None (all).
        trust_ratio_mask: keys that get the trust ratio, default None (all).

    References:
        You, Gitman & Ginsburg (2017), "Large Batch Training of Convolutional
        Networks", arXiv:1708.03888; optax 0.2.8 ``optax.lars``.
    """

    name = "lars"
    state_names = ("momentum_buffer",)

    def __init__(
        self,
        lr=1.0,
        momentum=0.9,
        *,
        trust_coefficient=0.001,
        eps=0.0,
        nesterov=False,
        weight_decay=0.0,
        weight_decay_mask=None,
        trust_ratio_mask=None,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.momentum = _beta("momentum", momentum)
        self.trust_coefficient = check_real(
            "trust_coefficient", trust_coefficient, low=0, low_open=True
        )
        self.eps = _nonneg("eps", eps)
        self.nesterov = check_bool("nesterov", nesterov)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self._decay_keys = _key_pattern("weight_decay_mask", weight_decay_mask)
        self._trust_keys = _key_pattern("trust_ratio_mask", trust_ratio_mask)
        self.weight_decay_mask = weight_decay_mask
        self.trust_ratio_mask = trust_ratio_mask

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        for key, p in params.items():
            (b,) = self._buffers(key)
            u = self._work("u", key, p.shape, p.dtype)
            wd = self.weight_decay if self._selected(self._decay_keys, key) else 0.0
            k.lars_direction(p, grads[key], u, *self._cast(p.dtype, wd))
            ratio = 1.0
            if self._selected(self._trust_keys, key):
                ratio = _trust_ratio(_norm(p), _norm(u), self.trust_coefficient, self.eps)
            step, mu = self._cast(p.dtype, -lr * ratio, self.momentum)
            k.lars_apply(p, u, b, step, mu, self.nesterov)


@register(
    lr_range=(1e-4, 1e-1),
    presets={"optax": {}, "keras": {"lr": 0.001, "eps": KERAS_EPS, "form": "keras"}},
)
class LAMB(_Layerwise):
    """LAMB: Adam's direction with each array's step scaled by a trust ratio.

    ``form="optax"`` (default; the paper's Algorithm 2 with φ(x) = x, and
    ``optax.lamb``)::

        m ← β1·m + (1 − β1)·g
        v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1^t)
        v̂ = v / (1 − β2^t)
        u = m̂ / (√v̂ + ε) + weight_decay·p
        r = ‖p‖ / ‖u‖
        p ← p − lr·r·u

    ``r = 1`` when ``‖p‖ = 0`` or ``‖u‖ = 0`` (both libraries).
    ``form="keras"`` (``keras.optimizers.Lamb``) decays the weights apart from
    the step, before it: ``p ← p·(1 − lr·weight_decay)`` first, then the rule
    above with no decay term in ``u`` (so the decay is not scaled by the trust
    ratio, and ‖p‖ is the decayed array's norm). ``weight_decay_mask`` is a
    regular expression a key must match whole to get weight decay (optax's
    ``mask``); ``None`` (default) selects every key.

    Args:
        lr: default 1e-3 (Keras's; optax has no default).
        beta1, beta2: in [0, 1), default 0.9 and 0.999.
        eps: >= 0, default 1e-6 (optax; Keras 1e-7); 0 gives NaN where v is still 0.
        weight_decay: default 0.
        form: "optax" or "keras".
        weight_decay_mask: keys that get weight decay, default None (all).

    References:
        You et al. (2020), "Large Batch Optimization for Deep Learning:
        Training BERT in 76 minutes", arXiv:1904.00962; optax 0.2.8
        ``optax.lamb``; Keras 3 ``keras.optimizers.Lamb``.

    >>> import numpy as np
    >>> opt = LAMB(lr=0.1)
    >>> params = {"w": np.array([3.0, 4.0]), "b": np.array([0.01])}
    >>> opt.update(params, {"w": np.array([30.0, -0.001]), "b": np.array([5.0])})
    >>> params["b"]  # each array moves by lr·‖p‖, whatever its gradient's size
    array([0.009])
    """

    name = "lamb"
    FORMS = ("optax", "keras")
    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        *,
        eps=1e-6,
        weight_decay=0.0,
        form="optax",
        weight_decay_mask=None,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.form = check_choice("form", form, self.FORMS)
        self._decay_keys = _key_pattern("weight_decay_mask", weight_decay_mask)
        self.weight_decay_mask = weight_decay_mask

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        b1, b2, t = self.beta1, self.beta2, self.t
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        for key, p in params.items():
            m, v = self._buffers(key)
            u = self._work("u", key, p.shape, p.dtype)
            wd = self.weight_decay if self._selected(self._decay_keys, key) else 0.0
            inside, decay = (wd, 1.0) if self.form == "optax" else (0.0, 1 - lr * wd)
            scalars = self._cast(p.dtype, b1, 1 - b1, b2, 1 - b2, bc1, bc2, self.eps, inside, decay)
            k.lamb_direction(p, grads[key], m, v, u, *scalars)
            ratio = _trust_ratio(_norm(p), _norm(u), 1.0, 0.0)
            k.lamb_apply(p, u, *self._cast(p.dtype, lr * ratio))


@register(lr_range=(1e-4, 1e-1), presets={"optax": {}})
class NovoGrad(_Layerwise):
    """NovoGrad: one second moment per array, gradients normalised by it.

    Update (``optax.novograd``)::

        ν ← ‖g‖²                        (t = 1)
        ν ← β2·ν + (1 − β2)·‖g‖²        (t > 1)
        d = g / (√ν + ε) + weight_decay·p
        m ← d                           (t = 1)
        m ← β1·m + d                    (t > 1)
        p ← p − lr·m

    ν is a scalar per key (kept in ``state_dict()["scalars"]`` as
    ``"nu/<key>"``), so NovoGrad keeps half of Adam's state. There is no bias
    correction: the first step starts both moments at their first value
    (optax's convention; the paper's Algorithm 1 likewise). The paper puts
    ε under the root, ``√(ν + ε)``; optax, and gdlab, add it after.

    Args:
        lr: default 1e-3 (optax has no default).
        beta1, beta2: in [0, 1), default 0.9 and 0.25 (optax).
        eps: >= 0, default 1e-6 (optax); 0 gives NaN where a norm is 0.
        weight_decay: default 0, added to the normalised gradient (inside
            the momentum, as the paper does).

    References:
        Ginsburg et al. (2019), "Stochastic Gradient Methods with Layer-wise
        Adaptive Moments for Training of Deep Networks", arXiv:1905.11286;
        optax 0.2.8 ``optax.novograd``.
    """

    name = "novograd"
    state_names = ("exp_avg",)

    def __init__(
        self, lr=1e-3, beta1=0.9, beta2=0.25, *, eps=1e-6, weight_decay=0.0, **options
    ) -> None:
        super().__init__(lr, **options)
        self.beta1 = _beta("beta1", beta1)
        self.beta2 = _beta("beta2", beta2)
        self.eps = _eps(eps)
        self.weight_decay = _nonneg("weight_decay", weight_decay)

    # ν per key lives among the scalars: their names follow the state's keys.
    def _init_scalars(self) -> dict[str, float]:
        return {f"nu/{key}": 0.0 for key in self.state or {}}

    def _checked_state(self, state):
        checked = super()._checked_state(state)
        self._loading_keys = list(checked or {})
        return checked

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        keys = getattr(self, "_loading_keys", []) if has_state else []
        expected = sorted(f"nu/{key}" for key in keys)
        if not isinstance(scalars, Mapping):
            fail("state_dict['scalars']", "a dict", scalars, kind=TypeError)
        if sorted(scalars, key=str) != expected:
            fail("state_dict['scalars']", f"a dict with the keys {expected}", dict(scalars))
        out = {}
        for name, value in scalars.items():
            where = f"state_dict['scalars'][{name!r}]"
            if self.nonfinite == "ignore" and isinstance(value, float) and not value < math.inf:
                out[name] = value  # NaN or inf, which nonfinite="ignore" lets in
                continue
            out[name] = check_real(where, value, low=0)
        return out

    def _step(self, params, grads, lr) -> None:
        k = self._kernels
        b2, first = self.beta2, self.t == 1
        scalars = self._scalars
        for key, p in params.items():
            (m,) = self._buffers(key)
            g = grads[key]
            square = _fused.sum_of_squares(g)
            name = f"nu/{key}"
            nu = square if first else (1 - b2) * square + b2 * scalars[name]
            scalars[name] = nu
            args = self._cast(p.dtype, lr, math.sqrt(nu) + self.eps, self.weight_decay, self.beta1)
            k.novograd_step(p, g, m, *args, first)


def newton_schulz(x, y, gram, poly, a, b, c, steps) -> np.ndarray:
    """``steps`` quintic Newton–Schulz iterations on the wide matrix ``x``, in place.

    ``x`` (r × c, r ≤ c, already scaled to norm ≤ 1) and ``y`` are work
    matrices of one shape, ``gram`` and ``poly`` r × r ones. Each iteration::

        S = X·Xᵀ
        X ← a·X + (b·S + c·S²)·X

    The products go to BLAS into the given buffers (nothing is allocated);
    the result is in ``x`` or ``y``, which is returned.
    """
    for _ in range(steps):
        np.matmul(x, x.T, out=gram)
        np.matmul(gram, gram, out=poly)
        poly *= c
        gram *= b
        poly += gram
        np.matmul(poly, x, out=y)
        x *= a
        y += x
        x, y = y, x
    return x


@register(lr_range=(1e-4, 1e-1), presets={"torch": {}})
class Muon(_Layerwise):
    """Muon: momentum orthogonalised by Newton–Schulz, for matrices.

    Update of a matrix parameter (``torch.optim.Muon``)::

        B ← μ·B + (1 − μ)·g
        U = μ·B + (1 − μ)·g
        X = U / max(‖U‖, ε)
        S = X·Xᵀ
        X ← a·X + (b·S + c·S²)·X
        p ← p·(1 − lr·weight_decay) − lr·s·X

    ``U = B`` without Nesterov; ``‖U‖`` is the Frobenius norm; the two
    Newton–Schulz lines repeat ``ns_steps`` times, on ``Xᵀ`` for a matrix
    with more rows than columns (so that ``S`` is the smaller Gram matrix).
    The quintic's coefficients (a, b, c) = (3.4445, −4.7750, 2.0315) push
    every singular value of X towards 1. The scale ``s`` is
    ``√max(1, rows/cols)`` with ``adjust_lr_fn="original"`` (Keller
    Jordan's) or ``0.2·√max(rows, cols)`` with ``"match_rms_adamw"``
    (Moonshot's, which lets Muon reuse AdamW's lr and weight decay).

    Parameters that are not matrices (biases, scalars, 3-D tensors):
    ``torch.optim.Muon`` refuses them, and so does gdlab with
    ``fallback="error"`` (the first update raises, naming the key, before
    anything changes). With ``fallback="adamw"`` (default) they take
    :class:`~gdlab.optim.AdamW` steps, exactly as ``AdamW(lr=fallback_lr,
    beta1=fallback_beta1, beta2=fallback_beta2, eps=fallback_eps,
    weight_decay=fallback_weight_decay)`` would take them, as torch's
    documentation recommends (a Muon for the matrices and an AdamW for the
    rest). The state array ``momentum_buffer`` is then AdamW's ``exp_avg``
    on those keys; ``exp_avg_sq`` is AdamW's second moment (and stays zero on
    matrices).

    torch runs the Newton–Schulz iteration in bfloat16; gdlab runs it in the
    parameters' dtype (float64 matches torch with that cast removed).

    Args:
        lr: default 1e-3 (torch).
        momentum: μ in [0, 1), default 0.95.
        weight_decay: decoupled, ``p ← p·(1 − lr·weight_decay)``, default 0.1.
        nesterov: default True.
        ns_a, ns_b, ns_c: the quintic's coefficients, default
            3.4445, −4.7750, 2.0315 (torch's ``ns_coefficients``).
        ns_steps: Newton–Schulz iterations in [0, 99], default 5.
        eps: >= 0, added to the norm X is divided by, default 1e-7 (0: NaN for an
            all-zero matrix, as in PyTorch).
        adjust_lr_fn: "original" (default) or "match_rms_adamw".
        fallback: "adamw" (default) or "error", for non-matrix parameters.
        fallback_lr: AdamW's learning rate; None (default) uses Muon's
            (its schedule included), a number is a constant rate.
        fallback_beta1, fallback_beta2: AdamW's, default 0.9 and 0.999.
        fallback_eps: AdamW's ε, > 0, default 1e-8.
        fallback_weight_decay: AdamW's decoupled decay, default 1e-2.

    References:
        Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural
        networks", https://kellerjordan.github.io/posts/muon/; Liu et al.
        (2025), "Muon is Scalable for LLM Training", arXiv:2502.16982;
        PyTorch 2.13 ``torch.optim.Muon``.

    >>> import numpy as np
    >>> opt = Muon(lr=0.1, weight_decay=0.0)
    >>> params = {"W": np.diag([3.0, 0.1])}
    >>> opt.update(params, {"W": np.diag([3.0, 0.1])})  # gradients 30 times apart
    >>> np.round(np.diag([3.0, 0.1]) - params["W"], 3)  # steps of one size
    array([[0.07 , 0.   ],
           [0.   , 0.113]])
    """

    name = "muon"
    ADJUST_LR_FNS = ("original", "match_rms_adamw")
    FALLBACKS = ("adamw", "error")
    nonnegative_states = frozenset({"exp_avg_sq"})

    def __init__(
        self,
        lr=1e-3,
        momentum=0.95,
        *,
        weight_decay=0.1,
        nesterov=True,
        ns_a=3.4445,
        ns_b=-4.7750,
        ns_c=2.0315,
        ns_steps=5,
        eps=1e-7,
        adjust_lr_fn="original",
        fallback="adamw",
        fallback_lr=None,
        fallback_beta1=0.9,
        fallback_beta2=0.999,
        fallback_eps=1e-8,
        fallback_weight_decay=1e-2,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        self.momentum = _beta("momentum", momentum)
        self.weight_decay = _nonneg("weight_decay", weight_decay)
        self.nesterov = check_bool("nesterov", nesterov)
        self.ns_a = check_real("ns_a", ns_a)
        self.ns_b = check_real("ns_b", ns_b)
        self.ns_c = check_real("ns_c", ns_c)
        self.ns_steps = check_int("ns_steps", ns_steps, low=0, high=99)
        self.eps = _eps(eps)
        self.adjust_lr_fn = check_choice("adjust_lr_fn", adjust_lr_fn, self.ADJUST_LR_FNS)
        self.fallback = check_choice("fallback", fallback, self.FALLBACKS)
        self.fallback_lr = (
            None
            if fallback_lr is None
            else check_real("fallback_lr", fallback_lr, low=0, low_open=True)
        )
        self.fallback_beta1 = _beta("fallback_beta1", fallback_beta1)
        self.fallback_beta2 = _beta("fallback_beta2", fallback_beta2)
        self.fallback_eps = check_real("fallback_eps", fallback_eps, low=0, low_open=True)
        self.fallback_weight_decay = _nonneg("fallback_weight_decay", fallback_weight_decay)
        self.state_names = ("momentum_buffer",) + (
            ("exp_avg_sq",) if self.fallback == "adamw" else ()
        )

    def _refuse_non_matrices(self, shapes: dict[str, tuple[int, ...]]) -> None:
        if self.fallback != "error":
            return
        for key, shape in shapes.items():
            if len(shape) != 2:
                raise ValueError(
                    f"params[{key!r}] must be a matrix (2-D) for Muon with fallback='error', "
                    f"as for torch.optim.Muon; got shape {shape}: pass fallback='adamw' to "
                    "step it with AdamW"
                )

    def _create_state(self, params) -> None:
        self._refuse_non_matrices({key: p.shape for key, p in params.items()})
        super()._create_state(params)

    def _checked_state(self, state):
        checked = super()._checked_state(state)
        if checked is not None:
            name = self.state_names[0]
            self._refuse_non_matrices({key: bufs[name].shape for key, bufs in checked.items()})
        return checked

    def _scale(self, rows: int, cols: int) -> float:
        """torch's ``_adjust_lr`` ratio for a rows × cols matrix."""
        if self.adjust_lr_fn == "original":
            return math.sqrt(max(1.0, rows / cols))
        return 0.2 * math.sqrt(max(rows, cols))

    def _step(self, params, grads, lr) -> None:
        for key, p in params.items():
            shape = self._shape(key)
            if len(shape) == 2:
                if p.size:
                    self._muon_step(key, p, grads[key], lr, shape)
            else:
                self._adamw_step(key, p, grads[key], lr)

    def _muon_step(self, key, p, g, lr, shape) -> None:
        k = self._kernels
        b = self._buffers(key)[0]
        u = self._work("u", key, p.shape, p.dtype)
        (c,) = self._cast(p.dtype, 1 - self.momentum)
        k.muon_momentum(g, b, u, c, self.nesterov)
        self._orthogonalise(key, u.reshape(shape))
        decay, step = self._cast(p.dtype, 1 - lr * self.weight_decay, lr * self._scale(*shape))
        k.muon_apply(p, u, decay, step)

    def _orthogonalise(self, key: str, matrix: np.ndarray) -> None:
        """Replace ``matrix`` by its Newton–Schulz orthogonalisation, as torch does."""
        rows, cols = matrix.shape
        tall = rows > cols
        view = matrix.T if tall else matrix
        r, c = view.shape
        dtype = matrix.dtype
        x = self._work("x", key, (r, c), dtype)
        y = self._work("y", key, (r, c), dtype)
        gram = self._work("gram", key, (r, r), dtype)
        poly = self._work("poly", key, (r, r), dtype)
        x[...] = view
        (norm,) = self._cast(dtype, max(_norm(x.reshape(-1)), self.eps))
        x /= norm
        a, b, c_ = self._cast(dtype, self.ns_a, self.ns_b, self.ns_c)
        result = newton_schulz(x, y, gram, poly, a, b, c_, self.ns_steps)
        view[...] = result

    def _adamw_step(self, key, p, g, lr) -> None:
        """AdamW's step (as :class:`~gdlab.optim.AdamW` takes it) on a non-matrix key."""
        m, v = self._buffers(key)
        rate = lr if self.fallback_lr is None else self.fallback_lr
        b1, b2, t = self.fallback_beta1, self.fallback_beta2, self.t
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        scalars = self._cast(
            p.dtype, rate / bc1, b1, 1 - b1, b2, 1 - b2, self.fallback_eps, math.sqrt(bc2), bc2,
            0.0, 1 - rate * self.fallback_weight_decay,
        )  # fmt: skip
        self._kernels.adam_step(p, g, m, v, _EMPTY[p.dtype], *scalars, False, False)
