"""The bookkeeping every optimizer shares: checks, state, clipping, saving.

A subclass says which arrays it keeps per parameter (``state_names``), checks
its hyperparameters in ``__init__`` and implements ``_step(params, grads, lr)``
by calling one kernel per key. Everything else lives here, once:

1. ``update(params, grads)`` checks the two dicts (same keys, arrays, float32
   or float64, same shapes and dtypes, contiguous writable parameters);
2. creates the state on the first call (zeros, or the subclass's initial
   values) and from then on insists on the same keys and shapes;
3. applies the non-finite policy (``"raise"``, the default, names the key and
   changes nothing; ``"skip"`` leaves parameters, state and step count
   untouched and counts the skipped step; a refused or skipped first update
   takes back the state made for it, so that the optimizer is a fresh one);
4. clips the gradient (global norm, then value) into buffers made once;
5. counts the step, resolves the learning rate from the schedule and runs
   the kernels.

Steady-state updates allocate nothing proportional to the parameter count.
"""

from __future__ import annotations

import abc
import bisect
import copy
import functools
import inspect
import json
import math
import numbers
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gdlab._lazy import lazy, resolved

from .. import schedules as _schedules
from .._checks import check_bool, check_choice, check_int, check_real, describe, fail
from . import io as _files
from . import kernels as _reference

# numba's kernels, imported at their first call (gdlab._lazy)
_fused = lazy(__name__, "_fused", "gdlab.optim.fused")

__all__ = ["NONFINITE_POLICIES", "NonFiniteGradientError", "Optimizer"]

NONFINITE_POLICIES = ("raise", "skip", "ignore")
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_CLIP_NORM_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s: factor clip/(norm + 1e-6)
_FORMAT = "gdlab.optim/1"
# Options that change how an update runs, not what it computes: a state saved
# with one value loads into an optimizer with another.
_EXECUTION_OPTIONS = ("fused",)
# Keyword options every optimizer takes (see Optimizer.__init__).
_BASE_OPTIONS = ("clip_norm", "clip_value", "nonfinite", "maximize", "fused")
# The keys of a state_dict; the first six must be there (older files lack the rest).
_STATE_DICT_KEYS = (
    "format", "optimizer", "hyperparameters", "t", "epoch", "state",
    "skipped_steps", "current_lr", "scalars", "schedule_state",
)  # fmt: skip
_REQUIRED_KEYS = _STATE_DICT_KEYS[:6]
_MISSING = object()


class NonFiniteGradientError(ValueError):
    """A gradient held NaN or inf (``nonfinite="raise"``); nothing was updated."""


class Optimizer(abc.ABC):
    """Base class: in-place ``update(params, grads)`` on ``dict[str, ndarray]``.

    Args (shared by every optimizer, keyword-only):
        clip_norm: if set, rescale the gradients so that their global L2 norm
            is at most this (as ``torch.nn.utils.clip_grad_norm_``: factor
            ``min(1, clip_norm / (norm + 1e-6))``, which also scales a norm
            at or just below ``clip_norm``).
        clip_value: if set, clip every gradient element to ``[−clip_value,
            clip_value]`` (after ``clip_norm``).
        nonfinite: ``"raise"`` (default): a NaN or inf gradient raises
            ``ValueError`` naming the key, before anything changes;
            ``"skip"``: such a step is skipped whole and counted in
            ``skipped_steps``; ``"ignore"``: no check, NaN and inf flow into
            the parameters (PyTorch's behaviour). The check is one extra
            read of the gradient per step; "ignore" saves it.
        maximize: climb instead of descend: the rule sees ``−g`` (after
            clipping, before weight decay, as ``torch.optim``'s ``maximize``).
        fused: use the fused numba kernels (default) or the plain NumPy
            reference kernels (which allocate temporaries).

    Attributes:
        t: updates applied so far (skipped steps excluded).
        epoch: epochs completed, set by the training loop; epoch-based
            schedules read it.
        current_lr: the learning rate of the last update.
    """

    name: ClassVar[str] = ""
    state_names: ClassVar[tuple[str, ...]] = ()
    #: True when the rule treats each element on its own (Adam, SGD, ...): then,
    #: when the parameters are consecutive pieces of one buffer (an MLP's are),
    #: ``_step`` may get all keys as one flat array (``_make_plan``), which
    #: gives the same result, bit for bit, in fewer calls. A rule that keeps
    #: one value per array (a norm, as LARS and LAMB) must not be run so. Only
    #: a class that sets it itself is run flat: a subclass that does not (even
    #: of an element-wise built-in) is run key by key, which is always right.
    _elementwise: ClassVar[bool] = False
    #: Whether each step takes its rate from the schedule (``current_lr``). Rprop
    #: does not: it takes ``lr`` as its initial step size only, so ``fit`` refuses
    #: a schedule for it (its later rates would go unused).
    follows_schedule: ClassVar[bool] = True
    #: State arrays no update can make negative (sums and averages of squares,
    #: running maxima of them); a loaded state with a negative value there
    #: has been tampered with and is refused.
    nonnegative_states: ClassVar[frozenset[str]] = frozenset()
    #: The (reference, fused) kernel modules the rule runs on; a family of
    #: optimizers in a module of its own names its own pair.
    kernel_modules: ClassVar[tuple[Any, Any]] = (_reference, _fused)
    #: True for a rule that evaluates the loss again within a step (L-BFGS's
    #: line search, SAM's second gradient): ``update`` then needs ``closure``.
    needs_closure: ClassVar[bool] = False
    #: The learning-rate range tuning searches (log-uniform), set by
    #: :func:`gdlab.optim.register`.
    lr_range: ClassVar[tuple[float, float]] = (0.0, 0.0)
    #: What tuning may name, as ``{tunable: constructor argument}``, set by
    #: :func:`gdlab.optim.register`.
    tunable: ClassVar[dict[str, str]] = {}
    #: The search range of each tunable, as a distribution config
    #: (``{"type": "loguniform", "low": 1e-3, "high": 1.0}``, ``{"type":
    #: "choice", "values": [...]}``, ...), set by :func:`gdlab.optim.register`.
    tunable_ranges: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Preset name → the constructor arguments it sets, set by
    #: :func:`gdlab.optim.register`.
    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_elementwise" not in cls.__dict__:  # declared, never inherited (see above)
            cls._elementwise = False
        if "__init__" in cls.__dict__:
            cls.__init__ = _strict_keywords(cls.__dict__["__init__"])

    def __init__(
        self,
        lr: float | _schedules.Schedule,
        *,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        nonfinite: str = "raise",
        maximize: bool = False,
        fused: bool = True,
    ) -> None:
        self._schedule = _schedules.as_schedule(lr)
        self.lr = _plain_lr(lr, self._schedule)
        self.clip_norm = (
            None if clip_norm is None else check_real("clip_norm", clip_norm, low=0, low_open=True)
        )
        self.clip_value = (
            None
            if clip_value is None
            else check_real("clip_value", clip_value, low=0, low_open=True)
        )
        self.nonfinite = check_choice("nonfinite", nonfinite, NONFINITE_POLICIES)
        self.maximize = check_bool("maximize", maximize)
        self.fused = check_bool("fused", fused)
        self._kernels = self.kernel_modules[1] if fused else self.kernel_modules[0]
        self._closure: Callable[..., Any] | None = None
        self.t = 0
        self.epoch = 0
        self.skipped_steps = 0
        self.current_lr = math.nan
        self.state: dict[str, dict[str, np.ndarray]] | None = None
        self._scratch: dict[str, np.ndarray] = {}
        self._cast_memo: dict[tuple, tuple] = {}
        # gdlab's fused module's float64 kernels take their scalars as Python floats
        # (see _kernel_args): the class's own modules tell, without importing numba
        self._python_floats = fused and self.kernel_modules[1] is Optimizer.kernel_modules[1]
        self._plan: _Plan | None = None
        self._flat_state_views: tuple | None = None

    # ------------------------------------------------------------------ hooks

    def _init_scalars(self) -> dict[str, float]:
        """Scalars the optimizer carries between steps (NAdam's Πμ)."""
        return {}

    def _initial_value(self, name: str) -> float:
        """The value a state array starts at (0 unless the subclass says)."""
        return 0.0

    def _check_rate(self, lr: float) -> None:
        """Refuse this step's rate from the schedule before anything changes.

        Every rate a schedule can give (>= 0) suits the rules that scale a step
        by it; a rule that divides by it (FTRL) refuses 0 here.
        """
        return

    @abc.abstractmethod
    def _step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        """Run the kernels on flat parameter and gradient arrays with this step's lr."""

    # ----------------------------------------------------------------- update

    def update(
        self,
        params: dict[str, np.ndarray],
        grads: Mapping[str, np.ndarray],
        closure: Callable[[dict[str, np.ndarray]], tuple[float, Mapping[str, np.ndarray]]]
        | None = None,
    ) -> None:
        """Change ``params`` in place by one step from ``grads``; return nothing.

        ``closure(params) -> (loss, grads)`` evaluates the loss and gradients
        at any parameters (on the same batch); rules that need it
        (``needs_closure``: L-BFGS, SAM) refuse to step without it, the others
        ignore it.
        """
        if closure is not None and not callable(closure):
            fail("closure", "a function params -> (loss, grads), or None", closure, kind=TypeError)
        if self.needs_closure and closure is None:
            raise TypeError(
                f"{self._closure_caller()} evaluates the loss again within a step: pass "
                "update(params, grads, closure=f) with f(params) -> (loss, grads)"
            )
        plan = self._plan
        created = False
        if plan is None or not plan.matches(params, grads, self.state):
            flat_grads = self._check(params, grads)
            if self.state is not None:
                self._check_state(params)
            _check_memory(params, grads)
            if self.state is None:
                self._create_state(params)
                created = True
            self._resolve_kernels()
            plan = self._plan = self._make_plan(params, grads, flat_grads)
        flat_params, flat_grads = plan.flat_params, plan.flat_grads
        try:
            effective = self._prepare_grads(flat_grads)
            if effective is None:
                if created:  # a skipped first update leaves no state behind either
                    self._forget_state()
                self.skipped_steps += 1
                return
            lr = _rate(self._schedule, self.t, self.epoch)  # step counts from 0 for schedules
            self._check_rate(lr)
        except BaseException:
            if created:  # a refused first step leaves no state behind either
                self._forget_state()
            raise
        t, current_lr = self.t, self.current_lr
        self.t += 1
        self.current_lr = lr
        self._cast_memo.clear()
        self._closure = closure
        try:
            self._step(flat_params, effective, lr)
        except BaseException:
            if self._step_undone():  # the step refused (or skipped) and put everything back
                self.t, self.current_lr = t, current_lr
                if created:
                    self._forget_state()  # a refused first update leaves no state either
            raise
        finally:
            self._closure = None

    def _step_undone(self) -> bool:
        """After :meth:`_step` raised: whether it had put back everything it changed
        (parameters and state), so that the call changes nothing (the step count, and
        on a refused or skipped first update the state made for it, are then undone
        too).

        False here: a rule that does not evaluate the loss refuses nothing once
        the rate is checked (what stops it mid-step, Ctrl-C, may leave it half
        done). The rules that call the closure, and the wrappers, say.
        """
        return False

    def _closure_caller(self) -> str:
        """Who needs the closure, for the error without one: this class's name
        (a wrapper names its inner optimizer that does)."""
        return type(self).__name__

    def _resolve_kernels(self) -> None:
        """The kernel module itself in place of its stand-in (numba's is imported at the
        first step)."""
        self._kernels = resolved(self._kernels)

    def _forget_state(self) -> None:
        """Back to no state, as before the first update (which was refused)."""
        self.state = None
        self.__dict__.pop("_scalars", None)
        self._plan = None
        self._flat_state_views = None

    def _check(self, params: Any, grads: Any) -> dict[str, np.ndarray]:
        if not isinstance(params, Mapping):
            fail("params", "a dict of numpy arrays", params, kind=TypeError)
        if not isinstance(grads, Mapping):
            fail("grads", "a dict of numpy arrays", grads, kind=TypeError)
        if not params:
            fail("params", "a non-empty dict of numpy arrays", params)
        for name, mapping in (("params", params), ("grads", grads)):
            for key in mapping:
                if not isinstance(key, str):
                    fail(f"{name} keys", "str (names such as 'W1')", key, kind=TypeError)
        if params.keys() != grads.keys():
            missing = sorted(set(params) - set(grads))
            extra = sorted(set(grads) - set(params))
            raise ValueError(
                f"grads must have the same keys as params; missing {missing}, unexpected {extra}"
            )
        flat = {}
        for key, p in params.items():
            g = grads[key]
            _check_array(f"params[{key!r}]", p)
            if isinstance(g, np.generic):  # e.g. 2 * np.array(1.0) is a numpy scalar
                g = np.asarray(g)
            _check_array(f"grads[{key!r}]", g)
            if p.dtype not in _FLOAT_DTYPES:
                raise TypeError(
                    f"params[{key!r}] must have dtype float32 or float64; got {p.dtype}"
                )
            if g.dtype != p.dtype:
                raise TypeError(
                    f"grads[{key!r}] must have the dtype of params[{key!r}] ({p.dtype}); "
                    f"got {g.dtype}"
                )
            if g.shape != p.shape:
                raise ValueError(
                    f"grads[{key!r}] must have the shape of params[{key!r}] {p.shape}; "
                    f"got {g.shape}"
                )
            if not (p.flags.c_contiguous and p.flags.writeable):
                raise ValueError(
                    f"params[{key!r}] must be a writable C-contiguous array (it is updated "
                    "in place); got a "
                    + ("read-only" if not p.flags.writeable else "non-contiguous")
                    + " array: pass numpy.ascontiguousarray(...) and keep that array"
                )
            flat[key] = np.ascontiguousarray(g).reshape(-1)
        return flat

    def _create_state(self, params: Mapping[str, np.ndarray]) -> None:
        self.state = _state_arrays(
            {key: (p.shape, p.dtype) for key, p in params.items()},
            {name: self._initial_value(name) for name in self.state_names},
        )
        self._scalars = self._init_scalars()

    def state_arrays(self, key: str) -> dict[str, np.ndarray]:
        """The state arrays of one key of ``_step``'s ``params``, flat, by name.

        ``_step`` may be handed all keys as one flat run (see :meth:`_make_plan`);
        this gives the matching views of the state either way.
        """
        if key == _FLAT:
            owner, views = self._flat_state_views
            assert owner is self.state
            return dict(zip(self.state_names, views, strict=True))
        assert self.state is not None
        return {name: self.state[key][name].reshape(-1) for name in self.state_names}

    def set_lr(self, lr: float | _schedules.Schedule) -> None:
        """Use ``lr`` (a float or a :class:`~gdlab.schedules.Schedule`) from the next step on.

        The step counter is kept, so a schedule continues from the current
        step. ``state_dict`` records the new value among the hyperparameters.
        """
        schedule = _schedules.as_schedule(_plain(lr))
        self.lr = _plain_lr(lr, schedule)
        self._schedule = schedule

    @property
    def schedule(self) -> _schedules.Schedule:
        """The learning-rate schedule in use (a constant rate is a ``Constant``)."""
        return self._schedule

    def _make_plan(self, params, grads, flat_grads) -> _Plan:
        """The arrays the kernels run on: one flat run over all keys when possible.

        When the parameters are consecutive pieces of one buffer (an
        :class:`~gdlab.nn.MLP`'s are), and so are the gradients and each state
        array, one kernel call updates them all: for a rule that declares itself
        element-wise (``_elementwise``) the result is the same, bit for bit, as a
        call per key. Any other rule gets the keys one by one.
        """
        keys = list(params)
        per_key = {k: _kernel_view(v).reshape(-1) for k, v in params.items()}
        if (
            self._elementwise
            and len(keys) > 1
            and all(g.flags.c_contiguous for g in grads.values())
        ):
            state = self.state or {}
            flat_p = _span([params[k] for k in keys])
            flat_g = _span([grads[k] for k in keys])
            flat_s = [_span([state[k][n] for k in keys]) for n in self.state_names]
            if flat_p is not None and flat_g is not None and all(a is not None for a in flat_s):
                self._flat_state_views = (self.state, flat_s)
                return _Plan(
                    params, grads, self.state, {_FLAT: flat_p}, {_FLAT: flat_g}, flat_grads
                )
        self._flat_state_views = None
        return _Plan(params, grads, self.state, per_key, flat_grads, flat_grads)

    def _check_state(self, params: dict[str, np.ndarray]) -> None:
        state = self.state
        assert state is not None
        if params.keys() != state.keys():
            raise ValueError(
                f"params must have the keys the optimizer's state was made for "
                f"{sorted(state)}; got {sorted(params)}"
            )
        for key, p in params.items():
            for name, buf in state[key].items():
                if buf.shape != p.shape or buf.dtype != p.dtype:
                    raise ValueError(
                        f"params[{key!r}] must have shape {buf.shape} and dtype {buf.dtype} "
                        f"like the optimizer's state {name!r}; got shape {p.shape}, "
                        f"dtype {p.dtype}"
                    )

    def _prepare_grads(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Check finiteness and clip; ``None`` means skip this step."""
        norm_sq = 0.0
        check = self.nonfinite != "ignore"
        for key, g in grads.items():
            if self.clip_norm is not None:
                sq = self._sum_of_squares(key, g)
                norm_sq += sq
                finite = not check or math.isfinite(sq) or _fused.all_finite(g)
            else:
                finite = not check or _fused.all_finite(g)
            if not finite:
                if self.nonfinite == "skip":
                    return None
                self._raise_nonfinite(key)
        scale = 1.0
        if self.clip_norm is not None:
            # PyTorch's rule: min(1, clip/(norm + 1e-6)), so a norm at or just
            # below clip_norm is scaled too
            coef = self.clip_norm / (math.sqrt(norm_sq) + _CLIP_NORM_EPS)
            if coef < 1.0:
                scale = coef
        if self.maximize:
            scale = -scale
        if scale == 1.0 and self.clip_value is None:
            return grads
        return self._clipped(grads, scale)

    def _sum_of_squares(self, key: str, g: np.ndarray) -> float:
        if key != _FLAT:
            return _fused.sum_of_squares(g)
        # Summed key by key, as the per-key path does: one sum over the whole
        # span rounds differently, and the scale with it.
        assert self._plan is not None
        sq = 0.0
        for part in self._plan.per_key_grads.values():
            sq += _fused.sum_of_squares(part)
        return sq

    def _raise_nonfinite(self, key: str) -> None:
        if key == _FLAT:  # find the key to name
            plan = self._plan
            assert plan is not None
            key = next(k for k, a in plan.per_key_grads.items() if not _fused.all_finite(a))
        raise NonFiniteGradientError(
            f"grads[{key!r}] contains NaN or inf at step {self.t + 1}; nothing was "
            "updated (pass nonfinite='skip' to skip such steps)"
        )

    def _clipped(self, grads: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
        """The gradients scaled by ``scale`` and clipped to ``clip_value``, in kept buffers."""
        clipped = {}
        for key, g in grads.items():
            buf = self._scratch.get(key)
            if buf is None or buf.shape != g.shape or buf.dtype != g.dtype:
                buf = self._scratch[key] = np.empty_like(g)
            np.multiply(g, g.dtype.type(scale), out=buf)
            if self.clip_value is not None:
                c = g.dtype.type(self.clip_value)
                np.clip(buf, -c, c, out=buf)
            clipped[key] = buf
        return clipped

    # ----------------------------------------------------------- state I/O

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments as plain data (a schedule as its config)."""
        hp = {}
        for name in _argument_names(type(self).__init__):
            value = getattr(self, name, _MISSING)
            if value is _MISSING:
                raise AttributeError(
                    f"{type(self).__name__} keeps no attribute {name!r}: hyperparameters() "
                    "(and state_dict, save, repr) reads each constructor argument back from "
                    f"the attribute of its name, so __init__ must set self.{name}"
                )
            if isinstance(value, _schedules.Schedule):
                value = {"schedule": value.config()}
            hp[name] = value
        return hp

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-identically: counters, arrays, schedule."""
        return {
            "format": _FORMAT,
            "optimizer": self.name,
            "hyperparameters": self.hyperparameters(),
            "t": self.t,
            "epoch": self.epoch,
            "skipped_steps": self.skipped_steps,
            "current_lr": self.current_lr,
            "scalars": dict(getattr(self, "_scalars", {})) if self.state is not None else {},
            "schedule_state": self._schedule.state_dict(),
            "state": None
            if self.state is None
            else {k: {n: a.copy() for n, a in bufs.items()} for k, bufs in self.state.items()},
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; hyperparameters must match this optimizer's.

        The whole dict is checked before anything changes: its keys, format,
        optimizer and hyperparameters, the counters, the scalars, the
        schedule's state (loaded into a copy first) and every state array
        (float32 or float64, one shape per key, finite unless
        ``nonfinite="ignore"``, and never negative where no update can make
        it so). A dict that fails raises and leaves the optimizer as it was.
        """
        self._checked_header(state_dict)
        state = self._checked_state(state_dict["state"])
        counters = _checked_counters(state_dict, has_state=state is not None)
        scalars = self._checked_scalars(state_dict.get("scalars", {}), has_state=state is not None)
        schedule_state = state_dict.get("schedule_state", {})
        copy.deepcopy(self._schedule).load_state_dict(schedule_state)  # a dry run
        # Everything is checked: commit.
        self._schedule.load_state_dict(schedule_state)
        self.state = state
        self._scalars = scalars
        self.t, self.epoch, self.skipped_steps, self.current_lr = counters
        self._scratch = {}
        self._cast_memo.clear()
        self._plan = None
        self._flat_state_views = None

    def _checked_header(self, state_dict: Any) -> None:
        """Check the keys, format, optimizer name and hyperparameters."""
        if not isinstance(state_dict, Mapping):
            fail("state_dict", "a dict from Optimizer.state_dict()", state_dict, kind=TypeError)
        for key in state_dict:
            if key not in _STATE_DICT_KEYS:
                fail("state_dict keys", f"among {', '.join(map(repr, _STATE_DICT_KEYS))}", key)
        for key in _REQUIRED_KEYS:
            if key not in state_dict:
                fail("state_dict", f"a dict with the key {key!r}", sorted(state_dict, key=str))
        if state_dict["format"] != _FORMAT:
            fail("state_dict['format']", repr(_FORMAT), state_dict["format"])
        if state_dict["optimizer"] != self.name:
            fail("state_dict['optimizer']", repr(self.name), state_dict["optimizer"])
        saved = state_dict["hyperparameters"]
        if not isinstance(saved, Mapping):
            fail("state_dict['hyperparameters']", "a dict", saved, kind=TypeError)
        mine = _comparable(self.hyperparameters())
        try:
            theirs = _comparable(saved)
        except (TypeError, ValueError):
            fail("state_dict['hyperparameters']", "plain data (numbers, strings, dicts)", saved)
        if mine != theirs:
            diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
            raise ValueError(
                "state_dict hyperparameters must match this optimizer's; they differ in "
                + ", ".join(f"{k} (saved {theirs.get(k)!r}, here {mine.get(k)!r})" for k in diff)
            )

    def _checked_state(self, state: Any) -> dict[str, dict[str, np.ndarray]] | None:
        """Copies of the saved state arrays, laid out for updates, after checking them all."""
        if state is None:
            return None
        names = list(self.state_names)
        if not isinstance(state, Mapping):
            fail("state_dict['state']", "None or a dict of dicts of arrays", state, kind=TypeError)
        if not state:
            fail("state_dict['state']", "None or a non-empty dict", state)
        arrays = {}
        for key, bufs in state.items():
            if not isinstance(key, str):
                fail("state_dict['state'] keys", "str (parameter names)", key, kind=TypeError)
            where = f"state_dict['state'][{key!r}]"
            if not isinstance(bufs, Mapping):
                fail(where, f"a dict of arrays named {names}", bufs, kind=TypeError)
            if set(bufs) != set(names):
                fail(where, f"a dict of arrays named {names}", sorted(bufs, key=str))
            arrays[key] = {n: self._checked_array(f"{where}[{n!r}]", n, bufs[n]) for n in names}
        return _copy_state(arrays, self.state_names)

    def _checked_array(self, where: str, name: str, a: Any) -> np.ndarray:
        """``a`` if it can be the state array ``name``; else raise naming ``where``."""
        if not isinstance(a, np.ndarray):
            fail(where, "a float32 or float64 numpy array", a, kind=TypeError)
        if a.dtype not in _FLOAT_DTYPES:
            raise TypeError(f"{where} must be a float32 or float64 array; got dtype {a.dtype}")
        finite = np.isfinite(a)
        if self.nonfinite != "ignore" and not finite.all():
            raise ValueError(
                f"{where} must be finite (with nonfinite={self.nonfinite!r} no NaN or inf "
                f"enters the state); got {a.size - np.count_nonzero(finite)} non-finite values"
            )
        if name in self.nonnegative_states and np.any(a < 0):
            raise ValueError(
                f"{where} must be >= 0 everywhere (no update makes it negative); "
                f"got a minimum of {float(np.nanmin(a))!r}"
            )
        return a

    def _checked_scalars(self, scalars: Any, *, has_state: bool) -> dict[str, float]:
        """The saved scalars (NAdam's product of μ), checked against ``_init_scalars``."""
        expected = sorted(self._init_scalars()) if has_state else []
        if not isinstance(scalars, Mapping):
            fail("state_dict['scalars']", "a dict", scalars, kind=TypeError)
        if sorted(scalars, key=str) != expected:
            fail("state_dict['scalars']", f"a dict with the keys {expected}", dict(scalars))
        return {k: check_real(f"state_dict['scalars'][{k!r}]", v) for k, v in scalars.items()}

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`state_dict` to an ``.npz`` file atomically; return its path.

        The file gets the mode any new file gets (0666 less the umask). A
        missing directory is made; an ``OSError`` names ``path``.
        """
        return _files.write_state(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> None:
        """Load a file written by :meth:`save` into this optimizer.

        Raises:
            FileNotFoundError: if there is no file at ``path``.
            ValueError: ``"PATH is not a gdlab optimizer file: WHY"`` for a file
                that cannot be read, or whose contents do not fit this
                optimizer; the optimizer is then unchanged.
        """
        state_dict = _files.read_state(path)
        try:
            self.load_state_dict(state_dict)
        except (TypeError, ValueError, KeyError) as error:
            raise _files.not_an_optimizer_file(path, error) from error

    def __repr__(self) -> str:
        hp = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({hp})"

    # --------------------------------------------------------------- helpers

    def _cast(self, dtype: np.dtype, *values: float):
        """Scalars cast to the arrays' dtype, so kernels compute in that precision.

        Within a step every key asks for the same values: they are cast once
        per step (the memo is emptied at the start of each update).
        """
        key = (dtype, values)
        cast = self._cast_memo.get(key)
        if cast is None:
            cast = self._cast_memo[key] = tuple(dtype.type(v) for v in values)
        return cast


class _Plan:
    """The checked arrays of the last update, to skip the checks when they recur.

    A training loop passes the same parameter and gradient arrays every step.
    The plan keeps references to them (so that their ids cannot be reused by
    new objects) and the flat views the kernels run on; when the next update
    gets the very same array objects and the state is unchanged, the shape,
    dtype and layout checks are not repeated.

    A gradient that is not C-contiguous is copied by the check, and a copy
    would go stale as the array changes in place: such a plan is never reused.
    What can change in a reused array without making a new object, its
    ``writeable`` flag, is looked at on every call (one flag per key).
    """

    __slots__ = (
        "entries",
        "flat_grads",
        "flat_params",
        "grads",
        "keys",
        "params",
        "per_key_grads",
        "reusable",
        "state",
    )

    def __init__(self, params, grads, state, flat_params, flat_grads, per_key_grads) -> None:
        self.keys = tuple(params)
        self.params = tuple(params.values())
        self.grads = tuple(grads[k] for k in self.keys)
        self.entries = tuple(zip(self.keys, self.params, self.grads, strict=True))
        self.state = state
        self.flat_params = flat_params
        self.flat_grads = flat_grads
        self.per_key_grads = per_key_grads
        self.reusable = all(isinstance(g, np.ndarray) and g.flags.c_contiguous for g in self.grads)

    def matches(self, params, grads, state) -> bool:
        if not self.reusable or state is not self.state:
            return False
        try:  # what is no dict (None, say) is named by the full check
            if len(params) != len(self.keys) or len(grads) != len(self.keys):
                return False
            for key, p, g in self.entries:
                # A parameter made read-only since is caught here: the full
                # check, run again, names it and nothing changes.
                if params[key] is not p or grads[key] is not g or not p.flags.writeable:
                    return False
        except (KeyError, TypeError):
            return False
        return True


#: The key of the single flat run over all parameters (see ``_make_plan``).
_FLAT = "\x00all"


def _rate(schedule: _schedules.Schedule, t: Any, epoch: Any) -> float:
    """``schedule(t, epoch)``; for a ``Constant`` (and counters it accepts), its rate
    read directly: what its call returns, without the call."""
    if (
        type(schedule) is _schedules.Constant
        and type(t) is int
        and type(epoch) is int
        and t >= 0
        and epoch >= 0
    ):
        return float(schedule.lr)
    return schedule(t, epoch)


def _state_arrays(
    shapes: Mapping[str, tuple[tuple[int, ...], np.dtype]], initial: Mapping[str, float]
) -> dict[str, dict[str, np.ndarray]]:
    """State arrays per key and name; with one dtype, each name is one buffer.

    Each state name gets one flat buffer holding every key's array as a
    consecutive piece, in key order, so that updates can run over all keys
    at once; mixed dtypes get an array per key.
    """
    dtypes = {dtype for _, dtype in shapes.values()}
    if len(dtypes) != 1:
        return {
            key: {name: np.full(shape, value, dtype) for name, value in initial.items()}
            for key, (shape, dtype) in shapes.items()
        }
    (dtype,) = dtypes
    total = sum(math.prod(shape) for shape, _ in shapes.values())
    state: dict[str, dict[str, np.ndarray]] = {key: {} for key in shapes}
    for name, value in initial.items():
        buffer = np.full(total, value, dtype)
        start = 0
        for key, (shape, _) in shapes.items():
            size = math.prod(shape)
            state[key][name] = buffer[start : start + size].reshape(shape)
            start += size
    return state


def _copy_state(
    arrays: dict[str, dict[str, np.ndarray]], names: tuple[str, ...]
) -> dict[str, dict[str, np.ndarray]]:
    """Copies of loaded state arrays, laid out as :func:`_state_arrays` lays them."""
    if not names:
        return {key: {} for key in arrays}
    shapes = {key: (bufs[names[0]].shape, bufs[names[0]].dtype) for key, bufs in arrays.items()}
    for key, bufs in arrays.items():
        for n in names:
            if bufs[n].shape != shapes[key][0] or bufs[n].dtype != shapes[key][1]:
                fail(
                    f"state_dict['state'][{key!r}][{n!r}]",
                    f"a {shapes[key][1]} array of shape {shapes[key][0]} (as {names[0]!r})",
                    f"{bufs[n].dtype} {bufs[n].shape}",
                )
    state = _state_arrays(shapes, dict.fromkeys(names, 0.0))
    for key, bufs in arrays.items():
        for n in names:
            np.copyto(state[key][n], bufs[n])
    return state


def _span(arrays: list[np.ndarray]) -> np.ndarray | None:
    """The 1-D view over ``arrays`` if they are consecutive pieces of one buffer.

    Each array must be C-contiguous, of the buffer's dtype, and start where the
    previous one ends; otherwise ``None``.
    """
    first = arrays[0]
    base = first if first.base is None else first.base
    if not isinstance(base, np.ndarray) or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    origin = base.ctypes.data
    itemsize = base.itemsize
    begin = (first.ctypes.data - origin) // itemsize
    position = begin
    for a in arrays:
        if (
            (a.base is not base and a is not base)
            or a.dtype != base.dtype
            or not a.flags.c_contiguous
            or a.ctypes.data != origin + position * itemsize
        ):
            return None
        position += a.size
    if begin < 0 or position > base.size:
        return None
    return _kernel_view(base[begin:position])


def _check_array(where: str, a: Any) -> None:
    """Refuse what is no numpy array, and a masked array (an update would ignore its mask)."""
    if not isinstance(a, np.ndarray):
        fail(where, "a numpy array", a, kind=TypeError)
    if isinstance(a, np.ma.MaskedArray):
        fail(where, "a plain numpy array (an update would ignore a mask)", a, kind=TypeError)


def _kernel_view(a: np.ndarray) -> np.ndarray:
    """``a`` as a plain ndarray over the same memory, as the kernels take it.

    A subclass keeps its own indexing: a ``numpy.matrix`` stays 2-D when
    flattened, so a kernel's ``p[i]`` would be a row, reached past the end of
    the array's memory.
    """
    return a if type(a) is np.ndarray else a.view(np.ndarray)


def _checked_counters(state_dict: Mapping[str, Any], *, has_state: bool) -> tuple:
    """``(t, epoch, skipped_steps, current_lr)`` of a state dict, checked."""
    t = check_int("state_dict['t']", state_dict["t"], low=0)
    epoch = check_int("state_dict['epoch']", state_dict["epoch"], low=0)
    skipped = check_int("state_dict['skipped_steps']", state_dict.get("skipped_steps", 0), low=0)
    if not has_state and t:  # every counted update makes the state (a skipped one does not)
        fail("state_dict['t']", "0 when state_dict['state'] is None", t)
    lr = state_dict.get("current_lr", math.nan)
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        fail("state_dict['current_lr']", "a real number or NaN", lr, kind=TypeError)
    if math.isinf(lr):
        fail("state_dict['current_lr']", "finite or NaN (before the first update)", lr)
    return t, epoch, skipped, float(lr)


def _extent(a: np.ndarray) -> tuple[int, int] | None:
    """The bytes ``[low, high)`` that ``a`` spans; ``None`` if it holds none."""
    if a.size == 0:
        return None
    low, high = np.lib.array_utils.byte_bounds(a)
    return low, high


def _dense(a: np.ndarray) -> bool:
    """Whether ``a`` touches every byte of its extent (then extents decide overlap)."""
    return a.flags.c_contiguous or a.flags.f_contiguous


def _check_memory(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
    """Refuse parameters that share memory, and gradients that share a parameter's.

    Two keys over one memory would be updated twice, and a gradient that is
    also (a piece of) a parameter changes while it is read, so the result
    would depend on the order of the keys and on the kernels. Run when a plan
    is made, not per step: sorting the byte extents makes it O(k log k) for k
    keys. Views of one buffer that only touch (an MLP's) are separate.
    Parameters are C-contiguous here, so their extents are exact; a
    non-contiguous gradient whose extent meets a parameter's is settled by
    ``np.shares_memory``.
    """
    spans = sorted((ext, key) for key, p in params.items() if (ext := _extent(p)) is not None)
    reach, owner = -1, ""
    for (low, high), key in spans:
        if low < reach:
            raise ValueError(
                f"params[{owner!r}] and params[{key!r}] must not share memory (both would "
                "be updated, one over the other); got two overlapping views: pass separate "
                "arrays, or views of one buffer that do not overlap"
            )
        if high > reach:
            reach, owner = high, key
    lows = [low for (low, _), _ in spans]
    highs = [high for (_, high), _ in spans]
    for gkey, g in grads.items():
        extent = _extent(g) if isinstance(g, np.ndarray) else None
        if extent is None:
            continue
        low, high = extent
        # spans are disjoint and sorted, so their highs are sorted too
        for i in range(bisect.bisect_right(highs, low), len(spans)):
            if lows[i] >= high:
                break
            pkey = spans[i][1]
            if _dense(g) or np.shares_memory(g, params[pkey]):
                raise ValueError(
                    f"grads[{gkey!r}] must not share memory with params[{pkey!r}] (updating "
                    f"params[{pkey!r}] would change the gradient while it is read); got "
                    "overlapping arrays: pass a copy of the gradient"
                )


def _comparable(hp: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameters as JSON would hold them; a callable (a Lambda schedule's
    function) compares by its qualified name."""
    out = {k: v for k, v in hp.items() if k not in _EXECUTION_OPTIONS}
    return json.loads(json.dumps(out, allow_nan=True, default=_callable_name))


def _callable_name(value: Any) -> str:
    if callable(value):
        return (
            f"<callable {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', '?')}>"
        )
    raise TypeError(f"{type(value).__name__} is not plain data")


def _strict_keywords(init):
    """Wrap ``__init__``: an unknown keyword names itself and the allowed ones.

    NumPy scalars among the arguments (``lr=np.float32(0.01)``) become plain
    Python numbers first, so that every hyperparameter is plain data that
    ``state_dict``, JSON and ``repr`` take as it is.
    """
    allowed = _argument_names(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        unknown = [k for k in kwargs if k not in allowed]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got an unknown keyword argument {unknown[0]!r} "
                f"(= {describe(kwargs[unknown[0]])}); expected one of: {', '.join(allowed)}"
            )
        init(self, *map(_plain, args), **{k: _plain(v) for k, v in kwargs.items()})

    return wrapper


def _argument_names(init) -> list[str]:
    """A subclass's own arguments, then the options every optimizer takes."""
    return list(_signature_names(init))


@functools.lru_cache(maxsize=1024)
def _signature_names(init) -> tuple[str, ...]:
    # Read once per __init__ (inspect.signature is slow, and hyperparameters()
    # asks at every record and checkpoint).
    names = [
        n
        for n, prm in inspect.signature(init).parameters.items()
        if n != "self" and prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL)
    ]
    return tuple(names + [n for n in _BASE_OPTIONS if n not in names])


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python number (or bool, or str) it holds; else ``value``."""
    return value.item() if isinstance(value, np.generic) else value


def _plain_lr(lr: Any, schedule: _schedules.Schedule) -> Any:
    """What ``hyperparameters()`` shows for ``lr``: the schedule, or the checked float."""
    if isinstance(lr, _schedules.Schedule):
        return lr
    assert isinstance(schedule, _schedules.Constant)
    return schedule.lr
