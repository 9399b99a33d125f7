"""L-BFGS: a quasi-Newton method that evaluates the loss again within a step.

One :meth:`~gdlab.optim.Optimizer.update` is one ``torch.optim.LBFGS.step``:
up to ``max_iter`` inner iterations, each of which calls the closure
``f(params) -> (loss, grads)`` again (several times with the strong-Wolfe
line search). The parameters are treated as one flat vector, as torch does:
the direction, the last gradient and the curvature pairs are flat buffers,
made once (the history as ``history_size + 1`` preallocated slots used as a
ring, so that a pair can be tried without overwriting the oldest one).

Also here, shared with :mod:`gdlab.optim.sam`: the checks and the clipping of
the gradients a closure returns, and the non-finite handling of rules that
call one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gdlab._lazy import lazy

from .._checks import check_int, check_real, check_same_keys, fail, unset
from .base import NonFiniteGradientError, Optimizer, _span
from .registry import register

# numba's kernels, imported at their first call (gdlab._lazy)
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")

__all__ = ["LBFGS"]

#: torch's strong-Wolfe constants: sufficient decrease c1, curvature c2.
WOLFE_C1 = 1e-4
WOLFE_C2 = 0.9
#: torch calls its line search without ``tolerance_change``: the search's own default.
LINE_SEARCH_TOLERANCE_CHANGE = 1e-9
#: A curvature pair is kept only when ``y·s`` exceeds this (torch).
CURVATURE_THRESHOLD = 1e-10
#: ``clip_norm``'s guard, as in the base class (``torch.nn.utils.clip_grad_norm_``).
_CLIP_EPS = 1e-6


# ----------------------------------------------------------------- vector helpers


def _axpy(y: np.ndarray, a, x: np.ndarray, tmp: np.ndarray) -> None:
    """``y ← y + a·x`` in place (``tmp``: scratch of ``x``'s size)."""
    np.multiply(x, a, out=tmp)
    np.add(y, tmp, out=y)


def _max_abs(x: np.ndarray, tmp: np.ndarray) -> float:
    """``max |x|``, NaN if any element is NaN (as torch's ``abs().max()``)."""
    return float(np.max(np.abs(x, out=tmp)))


def _sum_abs(x: np.ndarray, tmp: np.ndarray) -> float:
    """``Σ |x|``."""
    return float(np.sum(np.abs(x, out=tmp)))


def _dot(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.dot(x, y))


# ------------------------------------------------------- closures (L-BFGS and SAM)


class _ClosureNonFinite(Exception):
    """A closure gave NaN or inf; ``changed`` says whether the step had moved params."""

    def __init__(self, message: str, *, changed: bool) -> None:
        super().__init__(message)
        self.message = message
        self.changed = changed


class _ClosureRule(Optimizer):
    """Shared by the rules that call the closure: non-finite values it returns.

    The gradient passed to ``update`` follows ``nonfinite`` as in every
    optimizer. The closure's values are checked too (unless ``"ignore"``):
    a step that has not moved the parameters yet is undone whole (``"raise"``
    raises, ``"skip"`` counts a skipped step); one that has stops at the last
    point with finite values (and ``"raise"`` raises, saying so). A closure
    that raises, or returns what the checks refuse, is treated alike (undone
    whole, or stopped at the last point it evaluated) and its error propagates,
    whatever ``nonfinite`` says.
    """

    needs_closure = True

    def update(self, params, grads, closure=None) -> None:
        self._moved = False
        try:
            super().update(params, grads, closure)
        except _ClosureNonFinite as stop:
            # A step that had not moved the parameters was undone whole by
            # Optimizer.update (see _step_undone): its step count, and a refused
            # or skipped first update's state.
            if self.nonfinite == "skip":
                if not stop.changed:
                    self.skipped_steps += 1
                return
            raise NonFiniteGradientError(stop.message) from None

    update.__doc__ = Optimizer.update.__doc__

    def _step_undone(self) -> bool:
        """The closure raised, gave NaN or what the checks refuse: a step that had not
        moved the parameters is undone whole (the rule put its state back); one that
        had ends at the last point evaluated, counted."""
        return not self._moved

    def _user_params(self) -> dict[str, np.ndarray]:
        """The caller's parameter dict (the arrays the closure is called with)."""
        plan = self._plan
        assert plan is not None
        cached = self.__dict__.get("_user_memo")
        if cached is None or cached[0] is not plan:
            cached = self._user_memo = (plan, dict(zip(plan.keys, plan.params, strict=True)))
        return cached[1]

    def _call_closure(self, params: dict[str, np.ndarray], out: Mapping[str, np.ndarray]):
        """Call the closure at ``params``; its gradients, signed and clipped, into ``out``.

        ``out`` maps each key to a flat buffer of the parameter's size (views of
        one buffer, possibly). Returns ``(loss, finite)``: the loss (negated
        with ``maximize``) and whether the loss and every gradient are finite
        (always True with ``nonfinite="ignore"``). The closure's arrays are
        copied at once: a later call may reuse them.
        """
        closure = self._closure
        assert closure is not None
        loss, grads = self._checked_result(closure(params))
        self._copy_grads(params, grads, out)
        finite = self.nonfinite == "ignore" or (
            math.isfinite(loss) and all(_fused.all_finite(b) for b in out.values())
        )
        scale = self._clip_scale(out)
        if self.maximize:
            scale, loss = -scale, -loss
        for b in out.values():
            if scale != 1.0:
                np.multiply(b, b.dtype.type(scale), out=b)
            if self.clip_value is not None:
                c = b.dtype.type(self.clip_value)
                np.clip(b, -c, c, out=b)
        return loss, finite

    @staticmethod
    def _checked_result(result) -> tuple[float, Any]:
        """The closure's ``(loss, grads)``, the loss as a float; grads not checked yet."""
        if not isinstance(result, tuple) or len(result) != 2:
            fail("closure(params)", "a pair (loss, grads)", result, kind=TypeError)
        loss, grads = result
        if isinstance(loss, str | bytes | bool | np.bool_):
            fail("the closure's loss", "a real number", loss, kind=TypeError)
        try:
            loss = float(loss)
        except OverflowError:  # an int beyond float's range (10**400)
            fail("the closure's loss", "a real number within float's range", loss)
        except (TypeError, ValueError):
            fail("the closure's loss", "a real number", loss, kind=TypeError)
        return loss, grads

    @staticmethod
    def _copy_grads(
        params: dict[str, np.ndarray], grads: Any, out: Mapping[str, np.ndarray]
    ) -> None:
        """Check the closure's ``grads`` against ``params`` and copy each into ``out``."""
        if not isinstance(grads, Mapping):
            fail("the closure's grads", "a dict of numpy arrays", grads, kind=TypeError)
        check_same_keys("the closure's grads must have the keys of params", grads, params)
        for key, p in params.items():
            g = grads[key]
            if isinstance(g, np.generic):
                g = np.asarray(g)
            if not isinstance(g, np.ndarray):
                fail(f"the closure's grads[{key!r}]", "a numpy array", g, kind=TypeError)
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(
                    f"the closure's grads[{key!r}] must have the shape {p.shape} and dtype "
                    f"{p.dtype} of params[{key!r}]; got shape {g.shape}, dtype {g.dtype}"
                )
            np.copyto(out[key].reshape(p.shape), g)

    def _clip_scale(self, out: Mapping[str, np.ndarray]) -> float:
        """The factor ``clip_norm`` puts on the gradients in ``out`` (1.0 if none)."""
        if self.clip_norm is None:
            return 1.0
        norm = math.sqrt(sum(_fused.sum_of_squares(b) for b in out.values()))
        if norm > self.clip_norm:
            return self.clip_norm / (norm + _CLIP_EPS)
        return 1.0


def _nonfinite_message(step: int, where: str, changed: bool) -> str:
    tail = (
        "the step stopped at the last point with finite values"
        if changed
        else "nothing was updated"
    )
    return (
        f"the closure returned a NaN or inf loss or gradient {where} at step {step}; {tail} "
        "(pass nonfinite='skip' to skip such steps)"
    )


# ------------------------------------------------------------------------ L-BFGS


def _zeros_layout(
    shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype, names: tuple[str, ...]
) -> dict[str, dict[str, np.ndarray]]:
    """State arrays per key and name: one flat zero buffer per name, keys in order.

    ``np.zeros`` leaves untouched pages unmapped, so history slots cost memory
    only once used.
    """
    total = sum(math.prod(s) for s in shapes.values())
    state: dict[str, dict[str, np.ndarray]] = {key: {} for key in shapes}
    for name in names:
        buffer = np.zeros(total, dtype)
        start = 0
        for key, shape in shapes.items():
            size = math.prod(shape)
            state[key][name] = buffer[start : start + size].reshape(shape)
            start += size
    return state


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through ``(x1, f1, g1)``, ``(x2, f2, g2)``, in bounds.

    torch's ``_cubic_interpolate`` (from minFunc's ``polyinterp``); where it
    would divide by zero, the middle of the bounds.
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    middle = (xmin_bound + xmax_bound) / 2.0
    if x1 == x2:
        return middle
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if not d2_square >= 0:
        return middle
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        denominator = g2 - g1 + 2 * d2
        if denominator == 0:
            return middle
        min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / denominator)
    else:
        denominator = g1 - g2 + 2 * d2
        if denominator == 0:
            return middle
        min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / denominator)
    return min(max(min_pos, xmin_bound), xmax_bound)


def _zoom_trial(bracket, bracket_f, bracket_gtd, insuf_progress) -> tuple[float, bool]:
    """The zoom's next trial step and ``insuf_progress``: the cubic's minimiser in the bracket.

    Close to an end after insufficient progress (or outside the bracket), it
    is moved 0.1 of the bracket's width inside.
    """
    t = _cubic_interpolate(
        bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
    )
    # close to a boundary after insufficient progress: 0.1 of the bracket away
    high, low = max(bracket), min(bracket)
    eps = 0.1 * (high - low)
    if min(high - t, t - low) < eps:
        if insuf_progress or t >= high or t <= low:
            t = high - eps if abs(t - high) < abs(t - low) else low + eps
            insuf_progress = False
        else:
            insuf_progress = True
    else:
        insuf_progress = False
    return t, insuf_progress


def _zoom_update(ends, point, low_pos, high_pos, f, gtd) -> tuple[bool, int, int]:
    """Narrow the bracket with the trial ``point``; returns ``(done, low_pos, high_pos)``.

    ``ends``: the four lists (steps, losses, gradients, directional
    derivatives) of the bracket's two ends, changed in place; ``point``: the
    trial's ``(t, f_new, g_new, gtd_new)``; ``f``, ``gtd``: at step 0.
    """
    bracket, bracket_f = ends[0], ends[1]
    t, f_new, _, gtd_new = point
    if f_new > (f + WOLFE_C1 * t * gtd) or f_new >= bracket_f[low_pos]:
        # Armijo condition not met, or not lower than the lowest point
        for values, value in zip(ends, point, strict=True):
            values[high_pos] = value
        low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        return False, low_pos, high_pos
    done = False
    if abs(gtd_new) <= -WOLFE_C2 * gtd:
        done = True  # the Wolfe conditions hold
    elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
        # the old high becomes the new low
        for values in ends:
            values[high_pos] = values[low_pos]
    # the new point becomes the new low
    for values, value in zip(ends, point, strict=True):
        values[low_pos] = value
    return done, low_pos, high_pos


def _move(segments, step, d: np.ndarray, tmp: np.ndarray) -> None:
    """Each parameter ``p ← p + step·d`` (``d``, ``tmp``: flat, cut by the segments)."""
    for p, where in segments.values():
        _axpy(p, step, d[where], tmp[where])


def _restore(segments, x: np.ndarray) -> None:
    """Each parameter back to its piece of the flat ``x``."""
    for p, where in segments.values():
        np.copyto(p, x[where])


class _Vectors:
    """The flat work buffers of one layout (size and dtype), made once."""

    __slots__ = ("dtype", "flat_grad", "n", "pool", "saved", "tmp", "x")

    def __init__(self, n: int, dtype: np.dtype, line_search: bool) -> None:
        self.n, self.dtype = n, dtype
        self.flat_grad = np.zeros(n, dtype)
        self.x = np.zeros(n, dtype)
        self.tmp = np.zeros(n, dtype)
        # d, prev_flat_grad and the free history slot (y, s) before an update
        self.saved = [np.zeros(n, dtype) for _ in range(4)]
        # the line search keeps at most three gradients besides flat_grad
        self.pool = [np.zeros(n, dtype) for _ in range(3)] if line_search else []


@register(lr_range=(0.1, 1.0), presets={"torch": {}})
class LBFGS(_ClosureRule):
    """L-BFGS: steps along a quasi-Newton direction from the last curvature pairs.

    ``update(params, grads, closure=f)``: ``grads`` is ∇f at ``params``, and
    ``f(params) -> (loss, grads)`` evaluates anywhere. One update is one
    ``torch.optim.LBFGS.step``: up to ``max_iter`` iterations, ``max_eval``
    evaluations. All parameters form one vector. The curvature pairs, the
    last direction and step persist from one update to the next, as in torch.

    Update (each inner iteration; g the gradient at p; pairs i = 1 … k, oldest first)::

        y ← g − g_prev
        s ← t·d
        ρ ← 1/(y·s)                       (the pair is kept only if y·s > 1e-10)
        γ ← (y·s)/(y·y)                   (of the newest pair kept)
        q ← −g
        α_i ← ρ_i·(s_i·q)                 (i = k … 1, newest first)
        q ← q − α_i·y_i
        r ← γ·q
        β_i ← ρ_i·(y_i·r)                 (i = 1 … k)
        r ← r + (α_i − β_i)·s_i
        d ← r
        p ← p + t·d                       (t = lr)

    On the very first iteration ``d ← −g`` and ``t ← min(1, 1/‖g‖₁)·lr``. With
    ``line_search_fn="strong_wolfe"`` t comes from torch's line search
    (cubic interpolation, c1 = 1e-4, c2 = 0.9, started at the t above). The
    iterations stop when ``max|g| ≤ tolerance_grad``, when ``g·d >
    −tolerance_change``, when ``max|t·d| ≤ tolerance_change`` or the loss
    changes by less than ``tolerance_change``, or at ``max_iter`` /
    ``max_eval``.

    The gradient passed to ``update`` stands for torch's first closure call,
    but the loss is not passed: L-BFGS calls the closure at ``params`` once
    for it (unless ``max_iter=1`` without line search, which never reads it),
    so an update costs at most one evaluation more than torch's step. Every
    gradient, passed or returned, is signed alike by ``maximize`` (which also
    negates the loss). ``clip_norm`` and ``clip_value`` are refused (a wrapper's
    around it too, by the class's ``refuses_clipping``): clipped
    gradients make curvature pairs of another function, and even on a
    quadratic the steps blow up. A NaN or
    inf from the closure (``nonfinite`` "raise" or "skip") undoes an update
    that has not moved yet, and otherwise ends it at the last finite point; a
    closure that raises (or returns grads of the wrong keys, shapes or dtypes)
    is handled alike, and its error propagates. As in torch, the line search
    stops on a bracket narrower than 1e-9 whatever ``tolerance_change`` is; in
    float32 the default tolerances are rarely met, and updates run their ``max_iter`` iterations.

    Args:
        lr: default 1 (torch); the step length before the line search.
        max_iter: inner iterations per update, default 20.
        max_eval: evaluations per update, default ``max_iter·5//4`` (None).
        tolerance_grad: stop when ``max|g|`` is at most this, default 1e-7.
        tolerance_change: stop on smaller changes of loss or parameters,
            default 1e-9.
        history_size: curvature pairs kept, default 100. Memory: about
            ``2·history_size + 10`` copies of the parameters (13 with the
            line search; pages of unused history slots are never touched).
        line_search_fn: None (default: fixed steps) or "strong_wolfe".

    References:
        Liu & Nocedal (1989), "On the limited memory BFGS method for large
        scale optimization"; Nocedal & Wright, Numerical Optimization (2006),
        algorithms 7.4 and 3.5–3.6. Matches ``torch.optim.LBFGS`` (2.13).

    >>> import numpy as np
    >>> opt = LBFGS()
    >>> params = {"x": np.array([3.0, -1.0])}
    >>> f = lambda q: (float(q["x"] @ q["x"]), {"x": 2 * q["x"]})  # f = ‖x‖²
    >>> opt.update(params, f(params)[1], closure=f)
    >>> bool(np.abs(params["x"]).max() < 1e-12)  # one update: the minimum
    True
    """

    name = "lbfgs"
    _elementwise = False
    LINE_SEARCHES = ("strong_wolfe",)
    #: Why ``clip_norm`` and ``clip_value`` are refused, here and on a wrapper around
    #: it (a declared trait that :mod:`gdlab.optim.wrappers` reads).
    refuses_clipping = (
        "its curvature pairs need the true gradients: clip inside the closure if you must"
    )

    def __init__(
        self,
        lr=1.0,
        *,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
        **options,
    ) -> None:
        super().__init__(lr, **options)
        for option in ("clip_norm", "clip_value"):
            if getattr(self, option) is not None:
                allowed = f"{unset()} for L-BFGS ({self.refuses_clipping})"
                fail(option, allowed, getattr(self, option))
        self.max_iter = check_int("max_iter", max_iter, low=1)
        self.max_eval = None if max_eval is None else check_int("max_eval", max_eval, low=1)
        self.tolerance_grad = check_real("tolerance_grad", tolerance_grad, low=0)
        self.tolerance_change = check_real("tolerance_change", tolerance_change, low=0)
        self.history_size = check_int("history_size", history_size, low=1)
        if line_search_fn is not None and line_search_fn not in self.LINE_SEARCHES:
            kind = TypeError if not isinstance(line_search_fn, str) else ValueError
            fail("line_search_fn", f"{unset()} or 'strong_wolfe'", line_search_fn, kind=kind)
        self.line_search_fn = line_search_fn
        slots = self.history_size + 1
        self.state_names = (
            "d",
            "prev_flat_grad",
            *(f"old_dirs_{i}" for i in range(slots)),
            *(f"old_stps_{i}" for i in range(slots)),
        )
        self._al = [0.0] * slots
        self._ro = [f"ro_{i}" for i in range(slots)]
        self._vectors: _Vectors | None = None
        self._views: tuple | None = None
        self._pieces: tuple | None = None

    @property
    def _max_evals(self) -> int:
        return self.max_iter * 5 // 4 if self.max_eval is None else self.max_eval

    # ------------------------------------------------------------- state

    def _init_scalars(self) -> dict[str, float]:
        scalars = {
            "func_evals": 0.0,
            "n_iter": 0.0,
            "step_size": 0.0,
            "H_diag": 1.0,
            "prev_loss": 0.0,
            "start": 0.0,
            "count": 0.0,
        }
        scalars.update({f"ro_{i}": 0.0 for i in range(self.history_size + 1)})
        return scalars

    def _create_state(self, params: Mapping[str, np.ndarray]) -> None:
        dtype = _one_dtype({k: p.dtype for k, p in params.items()}, "params")
        self.state = _zeros_layout({k: p.shape for k, p in params.items()}, dtype, self.state_names)
        self._scalars = self._init_scalars()

    def _checked_state(self, state: Any) -> dict[str, dict[str, np.ndarray]] | None:
        arrays = super()._checked_state(state)
        if arrays is None:
            return None
        first = self.state_names[0]
        dtype = _one_dtype({k: b[first].dtype for k, b in arrays.items()}, "state_dict['state']")
        fresh = _zeros_layout({k: b[first].shape for k, b in arrays.items()}, dtype,
                              self.state_names)  # fmt: skip
        for key, bufs in arrays.items():
            for name, a in bufs.items():
                np.copyto(fresh[key][name], a)
        return fresh

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        # NaN and inf may enter the scalars (a loss, a step) only with nonfinite="ignore".
        loose = {}
        if self.nonfinite == "ignore" and isinstance(scalars, Mapping):
            loose = {
                k: v for k, v in scalars.items() if isinstance(v, float) and not math.isfinite(v)
            }
            scalars = {k: (0.0 if k in loose else v) for k, v in scalars.items()}
        checked = super()._checked_scalars(scalars, has_state=has_state)
        if has_state:
            slots = self.history_size + 1
            for name, high in (("count", slots - 1), ("start", slots - 1),
                               ("n_iter", None), ("func_evals", None)):  # fmt: skip
                value = checked[name]
                if value != int(value) or value < 0 or (high is not None and value > high):
                    bound = f"[0, {high}]" if high is not None else ">= 0"
                    fail(f"state_dict['scalars'][{name!r}]", f"an integer in {bound}", value)
        checked.update(loose)
        return checked

    # -------------------------------------------------------------- step

    def _workspace(self, params: dict[str, np.ndarray]):
        """The flat views of the state, the work buffers and each key's piece of them.

        The views are made again when the state changes (a load), the pieces
        when the parameter arrays do.
        """
        state = self.state
        assert state is not None
        views = self._views
        keys = tuple(params)
        if views is None or views[0] is not state or views[2] != keys:
            views = self._views = self._flat_views(state, keys)
        pieces = self._pieces
        if pieces is None or pieces[0] is not self._plan:
            pieces = self._pieces = self._make_pieces(params)
        return views[1], pieces[1], pieces[2]

    def _flat_views(self, state, keys: tuple[str, ...]) -> tuple:
        """``(state, flat, keys)``: each state name as one flat view over ``keys``.

        A state loaded in another key order is laid out again first (and
        becomes ``self.state``).
        """
        names = self.state_names
        flat = {n: _span([state[k][n] for k in keys]) for n in names}
        if any(v is None for v in flat.values()):  # a state loaded in another key order
            state = self.state = self._relaid_state(state, keys)
            flat = {n: _span([state[k][n] for k in keys]) for n in names}
        return state, flat, keys

    def _relaid_state(self, state, keys: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
        """A copy of ``state`` laid out in the order of ``keys``."""
        names = self.state_names
        fresh = _zeros_layout(
            {k: state[k][names[0]].shape for k in keys}, state[keys[0]][names[0]].dtype, names
        )
        for k in keys:
            for n in names:
                np.copyto(fresh[k][n], state[k][n])
        return fresh

    def _make_pieces(self, params: dict[str, np.ndarray]) -> tuple:
        """``(plan, vectors, segments)``: the work buffers (kept while the size and
        dtype hold) and each key's ``(param, slice)`` of the flat vectors."""
        n = sum(p.size for p in params.values())
        dtype = next(iter(params.values())).dtype
        vectors = self._vectors
        if vectors is None or vectors.n != n or vectors.dtype != dtype:
            vectors = self._vectors = _Vectors(n, dtype, self.line_search_fn is not None)
        segments, start = {}, 0
        for key, p in params.items():
            segments[key] = (p, slice(start, start + p.size))
            start += p.size
        return self._plan, vectors, segments

    def _step(self, params, grads, lr) -> None:
        if sum(p.size for p in params.values()) == 0:
            return
        flat, vec, segments = self._workspace(params)
        user = self._user_params()
        sc = self._scalars
        flat_grad = vec.flat_grad
        for key, (_, where) in segments.items():
            np.copyto(flat_grad[where], grads[key])
        out = {key: flat_grad[where] for key, (_, where) in segments.items()}
        d, prev = flat["d"], flat["prev_flat_grad"]

        if _max_abs(flat_grad, vec.tmp) <= self.tolerance_grad:
            sc["func_evals"] += 1
            return
        # what the first iteration overwrites, to undo a step that fails before
        # it moves (a NaN or inf from the closure, or a closure that raises)
        saved_scalars = dict(sc)
        slots = self.history_size + 1
        free = (int(sc["start"]) + int(sc["count"])) % slots
        overwritten = (d, prev, flat[f"old_dirs_{free}"], flat[f"old_stps_{free}"])
        for keep, array in zip(vec.saved, overwritten, strict=True):
            np.copyto(keep, array)

        def undo() -> None:
            sc.clear()
            sc.update(saved_scalars)
            for keep, array in zip(vec.saved, overwritten, strict=True):
                np.copyto(array, keep)

        loss = 0.0
        if self.line_search_fn is not None or self.max_iter > 1:
            # the loss at params: torch's first closure call (the gradient was passed)
            loss_out = {key: vec.x[where] for key, (_, where) in segments.items()}
            loss, finite = self._call_closure(user, loss_out)
            if not finite:
                raise _ClosureNonFinite(
                    _nonfinite_message(self.t, "at params", False), changed=False
                )
        sc["func_evals"] += 1
        current_evals = 1
        try:
            self._iterate(params, user, flat, vec, segments, out, lr, loss, current_evals)
        except _Stop as stop:
            if not stop.moved:
                undo()
            raise _ClosureNonFinite(
                _nonfinite_message(self.t, stop.where, stop.moved), changed=stop.moved
            ) from None
        except BaseException:
            if not self._moved:
                undo()
            raise

    def _iterate(self, params, user, flat, vec, segments, out, lr, loss, current_evals) -> None:
        """torch's ``while n_iter < max_iter`` loop (its variable names)."""
        sc = self._scalars
        flat_grad, x, tmp = vec.flat_grad, vec.x, vec.tmp
        d, prev_flat_grad = flat["d"], flat["prev_flat_grad"]
        old_dirs, old_stps = self._history(flat)
        cast = flat_grad.dtype.type
        tolerance_grad, tolerance_change = self.tolerance_grad, self.tolerance_change
        max_iter, max_eval = self.max_iter, self._max_evals
        t, H_diag, prev_loss = sc["step_size"], sc["H_diag"], sc["prev_loss"]
        moved = False
        n_iter = 0
        try:
            while n_iter < max_iter:
                n_iter += 1
                sc["n_iter"] += 1
                # ---- the direction
                if sc["n_iter"] == 1:
                    np.negative(flat_grad, out=d)
                    sc["start"] = sc["count"] = 0.0
                    H_diag = 1.0
                else:
                    H_diag = self._push_pair(
                        old_dirs, old_stps, flat_grad, prev_flat_grad, d, t, H_diag
                    )
                    self._two_loop(old_dirs, old_stps, flat_grad, d, H_diag, tmp)
                np.copyto(prev_flat_grad, flat_grad)
                prev_loss = loss
                # ---- the step length
                first = sc["n_iter"] == 1
                t = min(1.0, 1.0 / _sum_abs(flat_grad, tmp)) * lr if first else lr
                gtd = _dot(flat_grad, d)
                if gtd > -tolerance_change:
                    break
                for p, where in segments.values():
                    np.copyto(x[where], p)
                if self.line_search_fn is not None:
                    loss, g_new, t, ls_func_evals = self._strong_wolfe(
                        user, segments, vec, t, d, loss, gtd, max_eval - current_evals, moved
                    )
                    _move(segments, cast(t), d, tmp)
                    if g_new is not flat_grad:
                        np.copyto(flat_grad, g_new)
                    opt_cond = _max_abs(flat_grad, tmp) <= tolerance_grad
                else:
                    _move(segments, cast(t), d, tmp)
                    ls_func_evals = 0
                    opt_cond = False
                    if n_iter != max_iter:
                        loss = self._evaluate_moved(user, segments, x, out, n_iter, moved)
                        opt_cond = _max_abs(flat_grad, tmp) <= tolerance_grad
                        ls_func_evals = 1
                moved = True
                current_evals += ls_func_evals
                sc["func_evals"] += ls_func_evals
                # ---- the stopping tests
                if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                    break
                if abs(t) * _max_abs(d, tmp) <= tolerance_change:  # max|t·d|
                    break
                if abs(loss - prev_loss) < tolerance_change:
                    break
        finally:
            sc["step_size"], sc["H_diag"], sc["prev_loss"] = float(t), float(H_diag), prev_loss
            self._moved = moved

    def _history(self, flat) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The history slots: the flat ``old_dirs_i`` (y) and ``old_stps_i`` (s), by slot."""
        slots = self.history_size + 1
        old_dirs = [flat[f"old_dirs_{i}"] for i in range(slots)]
        old_stps = [flat[f"old_stps_{i}"] for i in range(slots)]
        return old_dirs, old_stps

    def _push_pair(self, old_dirs, old_stps, flat_grad, prev_flat_grad, d, t, H_diag) -> float:
        """``y = g − g_prev``, ``s = t·d`` into the free slot, kept if ``y·s`` is large enough.

        Keeping a pair drops the oldest one when the history is full. Returns
        ``H_diag``: ``(y·s)/(y·y)`` of the pair if kept, else as passed.
        """
        sc = self._scalars
        slots = self.history_size + 1
        start, count = int(sc["start"]), int(sc["count"])
        free = (start + count) % slots
        y, s = old_dirs[free], old_stps[free]
        np.subtract(flat_grad, prev_flat_grad, out=y)
        np.multiply(d, flat_grad.dtype.type(t), out=s)
        ys = _dot(y, s)
        if ys > CURVATURE_THRESHOLD:
            if count == self.history_size:
                start = (start + 1) % slots
            else:
                count += 1
            sc["start"], sc["count"] = float(start), float(count)
            sc[self._ro[free]] = 1.0 / ys
            H_diag = ys / _dot(y, y)
        return H_diag

    def _two_loop(self, old_dirs, old_stps, flat_grad, d, H_diag, tmp) -> None:
        """``d ← −H·g``: the two-loop recursion over the kept pairs (in ``tmp``'s scratch)."""
        sc = self._scalars
        slots = self.history_size + 1
        start, count = int(sc["start"]), int(sc["count"])
        order = [(start + i) % slots for i in range(count)]
        al, ro = self._al, self._ro
        cast = flat_grad.dtype.type
        q = d
        np.negative(flat_grad, out=q)
        for i in reversed(order):
            al[i] = _dot(old_stps[i], q) * sc[ro[i]]
            _axpy(q, cast(-al[i]), old_dirs[i], tmp)
        r = q
        np.multiply(q, cast(H_diag), out=r)
        for i in order:
            be_i = _dot(old_dirs[i], r) * sc[ro[i]]
            _axpy(r, cast(al[i] - be_i), old_stps[i], tmp)

    def _evaluate_moved(self, user, segments, x, out, n_iter, moved) -> float:
        """The loss where the params just moved, its gradient into ``out``.

        A NaN or inf puts the params back at ``x`` and raises :class:`_Stop`.
        """
        try:
            loss, finite = self._call_closure(user, out)
        except BaseException:  # back to the point before this move, as on a NaN
            _restore(segments, x)
            raise
        if not finite:  # back to the point before this move
            _restore(segments, x)
            raise _Stop(moved, f"at iteration {n_iter}")
        return loss

    def _strong_wolfe(self, user, segments, vec, t, d, f, gtd, max_ls, moved):
        """torch's ``_strong_wolfe`` (from minFunc's ``WolfeLineSearch``).

        Returns ``(f_new, g_new, t, evaluations)``; ``g_new`` is one of the
        work buffers (or ``vec.flat_grad``). Params are back at ``vec.x`` after
        every trial. Gradients are never copied between buffers: each
        evaluation writes a buffer that no bracket end holds.
        """
        g = vec.flat_grad
        pool = vec.pool
        c1, c2 = WOLFE_C1, WOLFE_C2
        tolerance_change = LINE_SEARCH_TOLERANCE_CHANGE
        d_norm = _max_abs(d, vec.tmp)

        def fresh(*live):
            return next(b for b in pool if all(b is not other for other in live))

        def evaluate(step, buffer):
            return self._directional(user, segments, vec, step, d, buffer, moved)

        g_new = fresh()
        f_new = evaluate(t, g_new)
        ls_func_evals = 1
        gtd_new = _dot(g_new, d)

        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        done = False
        ls_iter = 0
        bracket_gtd: list[float] = []
        while ls_iter < max_ls:
            if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
                bracket = [t_prev, t]
                bracket_f = [f_prev, f_new]
                bracket_g = [g_prev, g_new]
                bracket_gtd = [gtd_prev, gtd_new]
                break
            if abs(gtd_new) <= -c2 * gtd:
                bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
                done = True
                break
            if gtd_new >= 0:
                bracket = [t_prev, t]
                bracket_f = [f_prev, f_new]
                bracket_g = [g_prev, g_new]
                bracket_gtd = [gtd_prev, gtd_new]
                break
            # interpolate
            min_step = t + 0.01 * (t - t_prev)
            max_step = t * 10
            tmp = t
            t = _cubic_interpolate(
                t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
            )
            # next step
            t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
            g_new = fresh(g_prev)
            f_new = evaluate(t, g_new)
            ls_func_evals += 1
            gtd_new = _dot(g_new, d)
            ls_iter += 1

        if ls_iter == max_ls:  # reached the limit of evaluations
            bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

        # zoom: refine the bracket until a point satisfies the conditions
        insuf_progress = False
        # (a one-point bracket is its own low end, even at a NaN loss under nonfinite="ignore")
        low_pos, high_pos = (0, 1) if len(bracket) == 1 or bracket_f[0] <= bracket_f[-1] else (1, 0)
        ends = (bracket, bracket_f, bracket_g, bracket_gtd)
        while not done and ls_iter < max_ls:
            if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
                break
            t, insuf_progress = _zoom_trial(bracket, bracket_f, bracket_gtd, insuf_progress)
            g_new = fresh(*bracket_g)
            f_new = evaluate(t, g_new)
            ls_func_evals += 1
            gtd_new = _dot(g_new, d)
            ls_iter += 1
            done, low_pos, high_pos = _zoom_update(
                ends, (t, f_new, g_new, gtd_new), low_pos, high_pos, f, gtd
            )
        return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals

    def _directional(self, user, segments, vec, t, d, buffer, moved) -> float:
        """The loss at ``x + t·d`` and its gradient into ``buffer``; params back at ``x``."""
        cast, tmp = buffer.dtype.type, vec.tmp
        out = {key: buffer[where] for key, (_, where) in segments.items()}
        try:
            _move(segments, cast(t), d, tmp)
            loss, finite = self._call_closure(user, out)
        finally:
            _restore(segments, vec.x)
        if not finite:
            raise _Stop(moved, "in the line search")
        return loss


class _Stop(Exception):
    """A closure evaluation gave NaN or inf: params are at the last finite point."""

    def __init__(self, moved: bool, where: str) -> None:
        super().__init__(where)
        self.moved = moved
        self.where = where


def _one_dtype(dtypes: Mapping[str, np.dtype], what: str) -> np.dtype:
    """The one dtype of ``dtypes``; L-BFGS treats all parameters as one vector."""
    found = sorted({str(d) for d in dtypes.values()})
    if len(found) != 1:
        raise TypeError(
            f"{what} must all have one dtype (L-BFGS treats them as one vector); got "
            + ", ".join(f"{k}: {d}" for k, d in dtypes.items())
        )
    return next(iter(dtypes.values()))
