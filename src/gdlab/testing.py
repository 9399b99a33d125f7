"""The contract every gdlab optimizer passes, for yours to pass too.

>>> from gdlab.optim import Adam
>>> report = check_optimizer(Adam)
>>> report.passed
True

:func:`check_optimizer` runs, on an optimizer class (or a registry name), what
the test suite asks of every built-in:

``arguments``     an unknown keyword is a ``TypeError`` naming it; ``lr = 0``,
                  ``lr = nan`` and ``lr = "0.1"`` are refused naming ``lr``;
                  a ``True``/``False`` argument refuses ``1``; a float
                  argument refuses NaN. A refused construction changes nothing.
``registry``      it is registered under its ``name`` with an lr range, and
                  ``create(name, **hyperparameters())`` remakes it exactly
                  (hyperparameters are plain JSON data).
``round trip``    ``state_dict()`` → ``load_state_dict()`` into a fresh
                  optimizer, then both continue: bit-identical parameters,
                  and ``f`` no higher than at the start (with
                  ``maximize=True`` the walk is on ``−f``: the same bowl).
``kernels``       the fused and the reference kernels give bit-identical
                  steps (float32 and float64), and each dtype is kept.
``layout``        parameters (and gradients) that are views of one buffer, as
                  an MLP's are, step bit-identically to separate arrays (an
                  ``_elementwise = True`` rule gets them as one flat array: a
                  rule with a value per array, a norm, must not declare it).
``allocation``    after a warm-up, updates of a 1M-element float32 parameter
                  allocate less than 64 KiB per run of five (no temporary the
                  size of the parameters).
``convergence``   on ``f(x) = ½·Σ aᵢxᵢ²`` (aᵢ from 1 to 10), some learning rate
                  in the registered range brings ``f`` below 1e-3 of its start
                  in 1,000 steps.
``maximize``      ``maximize=True`` on ``−f``'s gradients walks the same path,
                  bit for bit, as minimizing ``f``.
``non-finite``    a NaN gradient raises ``NonFiniteGradientError`` and changes
                  neither parameters nor state (all of ``state_dict()``);
                  ``nonfinite="skip"`` skips it and counts it, changing
                  nothing else (``t`` and all of ``state_dict()``); an
                  optimizer that calls the closure does the same for a
                  closure's NaN loss (refused as its first update too, when
                  ``state_dict()`` stays a fresh optimizer's).

``kwargs`` are checked first, by making the optimizer once: arguments it
refuses (a misspelt keyword) raise its own error before any check runs.
Each check that fails is listed with why; :meth:`CheckReport.raise_if_failed`
(what :func:`check_optimizer` does unless ``raise_on_failure=False``) raises
one ``AssertionError`` naming them all.
"""

from __future__ import annotations

import inspect
import json
import math
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdlab._checks import check_int
from gdlab.optim import OPTIMIZERS, NonFiniteGradientError, Optimizer, create

__all__ = ["CHECKS", "CheckReport", "check_optimizer", "one_buffer", "steady_peak"]

_ALLOCATION_LIMIT = 64 * 1024
_ALLOCATION_SIZE = 1_000_000


@dataclass
class CheckReport:
    """What :func:`check_optimizer` found: ``failures`` maps a check to why it failed."""

    optimizer: str
    passed_checks: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_if_failed(self) -> None:
        if self.failures:
            lines = "\n".join(f"  {check}: {why}" for check, why in self.failures.items())
            raise AssertionError(
                f"optimizer {self.optimizer!r} fails {len(self.failures)} of "
                f"{len(self.failures) + len(self.passed_checks)} checks:\n{lines}"
            )


def check_optimizer(
    optimizer: type[Optimizer] | str,
    kwargs: Mapping[str, Any] | None = None,
    *,
    checks: tuple[str, ...] | None = None,
    raise_on_failure: bool = True,
) -> CheckReport:
    """Run the optimizer contract on ``optimizer`` (a class or a registry name).

    Args:
        optimizer: an :class:`~gdlab.optim.Optimizer` subclass, registered with
            :func:`gdlab.optim.register`, or its registry name.
        kwargs: constructor arguments for every check (``{}`` by default),
            for example a form to check; ``lr`` is the check's own where it
            matters (convergence tries the registered range).
        checks: a subset of :data:`CHECKS` to run (default all, at least
            one), or one check's name.
        raise_on_failure: raise ``AssertionError`` listing every failed check
            (default); otherwise return the report.

    Raises:
        TypeError, ValueError: what the optimizer raises for ``kwargs`` (a
            misspelt keyword names itself and the valid ones), before any
            check runs; a ``ValueError`` for ``checks`` that name none of
            :data:`CHECKS`.
    """
    cls = _resolve(optimizer)
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(
            f"kwargs must be a dict of constructor arguments or None; got {kwargs!r} "
            f"({type(kwargs).__name__})"
        )
    kwargs = dict(kwargs or {})
    selected = _selected(checks)
    _constructs(cls, kwargs)
    report = CheckReport(cls.name or cls.__name__)
    for check in selected:
        try:
            with np.errstate(all="ignore"):
                _CHECKS[check](cls, kwargs)
        except AssertionError as error:
            report.failures[check] = str(error) or "failed"
        except Exception as error:  # a crash is a failure of the check, named as such
            report.failures[check] = f"raised {type(error).__name__}: {error}"
        else:
            report.passed_checks.append(check)
    if raise_on_failure:
        report.raise_if_failed()
    return report


def _selected(checks: Any) -> tuple[str, ...]:
    """The checks to run: all, the names given, or the one name given."""
    if checks is None:
        return CHECKS
    selected = (checks,) if isinstance(checks, str) else tuple(checks)
    if not selected:  # a report of no checks would pass, having checked nothing
        raise ValueError(f"checks must name at least one of {', '.join(CHECKS)}; got {checks!r}")
    unknown = [c for c in selected if c not in CHECKS]
    if unknown:
        raise ValueError(f"checks must be among {', '.join(CHECKS)}; got {unknown[0]!r}")
    return selected


def _constructs(cls: type[Optimizer], kwargs: Mapping[str, Any]) -> None:
    """Make ``cls(**kwargs)`` once: arguments it refuses (a misspelt keyword, a value out
    of range) are the caller's to fix, so its own error is raised before any check
    runs, rather than every check failing with it. A class that cannot be made with
    its defaults either is broken itself: that is for the checks to report."""
    if not kwargs:
        return
    try:
        cls(**kwargs)
    except (TypeError, ValueError):
        try:
            cls()
        except Exception:  # the class's own fault, not the arguments'
            return
        raise
    except Exception:  # a crash of the optimizer's own: each check reports it
        return


def _resolve(optimizer: type[Optimizer] | str) -> type[Optimizer]:
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
        return OPTIMIZERS[optimizer.lower()]
    if not (isinstance(optimizer, type) and issubclass(optimizer, Optimizer)):
        raise TypeError(f"optimizer must be an Optimizer subclass or a name; got {optimizer!r}")
    return optimizer


# ----------------------------------------------------------------- helpers


def _quadratic(n: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Curvatures 1..10 and a start point, fixed (no randomness needed)."""
    a = np.linspace(1.0, 10.0, n).astype(dtype)
    x0 = np.cos(np.arange(n) * 1.7).astype(dtype) + dtype(0.5)
    return a, x0


def _make(cls: type[Optimizer], kwargs: Mapping[str, Any]) -> Optimizer:
    """``cls(**kwargs)``, checked to be set up as an Optimizer is."""
    opt = cls(**kwargs)
    if "_plan" not in vars(opt):
        raise AssertionError(
            f"{cls.__name__}.__init__ does not call Optimizer.__init__ (call "
            "super().__init__(lr, **options) first)"
        )
    return opt


def _overridden(kwargs: Mapping[str, Any], **settings: Any) -> dict[str, Any]:
    """``kwargs`` with the options a check is about set as it needs them, where given."""
    return {**kwargs, **{k: v for k, v in settings.items() if k in kwargs}}


def _closure_for(a: dict[str, np.ndarray], sign: float = 1.0) -> Callable:
    def closure(params):
        loss = sign * sum(0.5 * float(np.sum(a[k] * params[k] ** 2)) for k in params)
        return loss, {k: (sign * a[k] * params[k]).astype(params[k].dtype) for k in params}

    return closure


def _walk(opt: Optimizer, params: dict, a: dict, steps: int, sign: float = 1.0) -> None:
    closure = _closure_for(a, sign)
    for _ in range(steps):
        _, grads = closure(params)
        opt.update(params, grads, closure=closure if opt.needs_closure else None)


def _problem(dtype=np.float64) -> tuple[dict, dict]:
    """Two keys (a matrix and a vector) so per-array rules see more than one array."""
    aw, w = _quadratic(12, dtype)
    ab, b = _quadratic(5, dtype)
    return {"W": w.reshape(3, 4).copy(), "b": b.copy()}, {"W": aw.reshape(3, 4), "b": ab}


def _same(x: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> bool:
    return all(np.array_equal(x[k], y[k], equal_nan=True) for k in x)


def _leaves(tree: Any, where: str = "state_dict()") -> list[tuple[str, Any]]:
    """A state dict's values with where they are, nested dicts and lists opened."""
    if isinstance(tree, Mapping):
        return [leaf for k, v in tree.items() for leaf in _leaves(v, f"{where}[{k!r}]")]
    if isinstance(tree, list | tuple):
        return [leaf for i, v in enumerate(tree) for leaf in _leaves(v, f"{where}[{i}]")]
    return [(where, tree)]


def _first_difference(x: Any, y: Any) -> str | None:
    """Where two state dicts differ (arrays bit for bit, NaN equal to NaN); None if nowhere."""
    xs, ys = _leaves(x), _leaves(y)
    if [w for w, _ in xs] != [w for w, _ in ys]:
        return "its keys"
    for (where, a), (_, b) in zip(xs, ys, strict=True):
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            a, b = np.asarray(a), np.asarray(b)
            if a.dtype != b.dtype or not np.array_equal(a, b, equal_nan=True):
                return where
        elif a != b and not (a != a and b != b):  # NaN equals NaN here
            return where
    return None


# ----------------------------------------------------------------- checks


def _refusal(make: Callable[[], Any]) -> str | None:
    """The message of the TypeError or ValueError ``make()`` raises; None if it succeeds."""
    try:
        make()
    except (TypeError, ValueError) as error:
        return str(error)
    return None


def _check_arguments(cls: type[Optimizer], kwargs: dict) -> None:
    message = _refusal(lambda: cls(**kwargs, no_such_argument=1))
    assert message is not None, "an unknown keyword argument was accepted"
    assert "no_such_argument" in message, f"the unknown-keyword error {message!r} names it not"
    for bad in (0.0, math.nan, "0.1"):
        message = _refusal(lambda bad=bad: cls(**{**kwargs, "lr": bad}))
        assert message is not None, f"lr={bad!r} was accepted"
        assert "lr" in message, f"lr={bad!r} raised {message!r}, which does not name lr"
    defaults = _make(cls, kwargs).hyperparameters()
    for name, value in defaults.items():
        if name in kwargs or name == "lr":
            continue
        if isinstance(value, bool):
            bad: Any = 1
        elif isinstance(value, float):
            bad = math.nan
        else:
            continue
        message = _refusal(lambda name=name, bad=bad: cls(**{**kwargs, name: bad}))
        assert message is not None, f"{name}={bad!r} was accepted"
        assert name in message, f"{name}={bad!r} raised {message!r}, which does not name it"


def _check_registry(cls: type[Optimizer], kwargs: dict) -> None:
    assert cls.name, "the class has no registry name (decorate it with gdlab.optim.register)"
    assert OPTIMIZERS.get(cls.name) is cls, f"{cls.name!r} is not registered to this class"
    low, high = cls.lr_range
    assert 0 < low < high, f"lr_range {cls.lr_range} is not a range 0 < low < high"
    opt = _make(cls, kwargs)
    hp = opt.hyperparameters()
    assert json.loads(json.dumps(hp)) == hp, "hyperparameters() is not plain JSON data"
    twin = create(cls.name, **hp)
    assert twin.hyperparameters() == hp, "create(name, **hyperparameters()) differs"
    assert "lr" in inspect.signature(cls.__init__).parameters, "the constructor takes no lr"


def _sign(kwargs: Mapping[str, Any]) -> float:
    """−1 (the problem is −f, to maximize) when ``kwargs`` set ``maximize=True``, else 1."""
    return -1.0 if kwargs.get("maximize") is True else 1.0


def _check_round_trip(cls: type[Optimizer], kwargs: dict) -> None:
    params, a = _problem()
    start = _closure_for(a)(params)[0]
    sign = _sign(kwargs)  # under maximize=True the walk climbs −f: the same problem
    opt = _make(cls, kwargs)
    _walk(opt, params, a, 7, sign)
    saved = opt.state_dict()
    twin_params = {k: v.copy() for k, v in params.items()}
    twin = _make(cls, kwargs)
    twin.load_state_dict(saved)
    _walk(opt, params, a, 7, sign)
    _walk(twin, twin_params, a, 7, sign)
    assert _same(params, twin_params), "a loaded optimizer continues differently"
    assert twin.t == opt.t, f"t is {twin.t} after loading, {opt.t} in the original"
    final = _closure_for(a)(params)[0]
    assert final <= start, (  # NaN too; standing still is the convergence check's
        f"14 steps took ½·Σaᵢxᵢ² from {start:.6g} to {final:.6g}: the walk went uphill"
        + (" (maximize=True, on −f)" if sign < 0 else "")
    )


def _check_kernels(cls: type[Optimizer], kwargs: dict) -> None:
    for dtype in (np.float32, np.float64):
        results = []
        for fused in (True, False):
            params, a = _problem(dtype)
            opt = _make(cls, {**kwargs, "fused": fused})
            _walk(opt, params, a, 10, _sign(kwargs))
            for k, v in params.items():
                assert v.dtype == dtype, f"params[{k!r}] became {v.dtype} (was {np.dtype(dtype)})"
            results.append(params)
        assert _same(*results), f"fused and reference kernels differ in {np.dtype(dtype)}"


def _check_layout(cls: type[Optimizer], kwargs: dict) -> None:
    """The same walk on separate arrays and on views of one buffer, bit for bit."""
    results = []
    for together in (False, True):
        params, a = _problem()
        grads = {k: np.zeros_like(v) for k, v in params.items()}
        if together:  # one buffer for the parameters, one for the gradients: an MLP's layout
            params, grads = one_buffer(params), one_buffer(grads)
        opt = _make(cls, kwargs)
        closure = _closure_for(a, _sign(kwargs))
        for _ in range(10):
            for k, g in closure(params)[1].items():
                grads[k][...] = g  # the same arrays every step, as a network's
            opt.update(params, grads, closure=closure if opt.needs_closure else None)
        results.append(params)
    if not _same(*results):
        flat = getattr(opt, "_elementwise", False)
        raise AssertionError(
            "parameters that are views of one buffer (as an MLP's are) step differently "
            "from the same parameters as separate arrays"
            + (
                ": _elementwise = True hands _step all keys as one flat array, so a rule "
                "with a value per array (a norm) must not declare it"
                if flat
                else ""
            )
        )


def one_buffer(arrays: Mapping[str, np.ndarray], dtype: Any = None) -> dict[str, np.ndarray]:
    """``arrays`` copied into consecutive pieces of one flat buffer, in key order (as an
    :class:`~gdlab.nn.MLP` keeps its parameters), of ``dtype`` (default the first's)."""
    first = next(iter(arrays.values()))
    buffer = np.empty(sum(v.size for v in arrays.values()), dtype or first.dtype)
    views, start = {}, 0
    for k, v in arrays.items():
        views[k] = buffer[start : start + v.size].reshape(v.shape)
        views[k][...] = v
        start += v.size
    return views


def steady_peak(update: Callable[[], object], limit: int, *, calls: int = 5, tries: int = 3) -> int:
    """The most memory ``calls`` calls of ``update`` hold at once, in bytes, as
    :mod:`tracemalloc` sees it (NumPy's arrays included).

    ``tracemalloc`` traces every thread of the process, so another thread's
    work (a test runner's messages, say) can show up in one measurement; a
    temporary of ``update``'s own shows up in every one. The measurement is
    repeated, up to ``tries`` times, until one is under ``limit``; the least is
    returned. Under a caller's own tracing, what is held before the calls is
    not counted, and the tracing goes on.
    """
    calls = check_int("calls", calls, low=1)
    tries = check_int("tries", tries, low=1)
    started = not tracemalloc.is_tracing()  # a caller's own tracing is left running
    least = None
    for _ in range(tries):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            for _ in range(calls):
                update()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if started:
                tracemalloc.stop()
        least = peak - before if least is None else min(least, peak - before)
        if least < limit:
            break
    return least


def _check_allocation(cls: type[Optimizer], kwargs: dict) -> None:
    rng = np.random.default_rng(0)
    n = _ALLOCATION_SIZE
    params = {"W": rng.standard_normal((n // 1000, 1000)).astype(np.float32)}
    grads = {"W": rng.standard_normal((n // 1000, 1000)).astype(np.float32)}
    opt = _make(cls, _overridden(kwargs, fused=True))  # the reference kernels allocate
    closure = (lambda p: (0.0, grads)) if opt.needs_closure else None
    opt.update(params, grads, closure=closure)  # warm-up: state, buffers, compilation
    peak = steady_peak(lambda: opt.update(params, grads, closure=closure), _ALLOCATION_LIMIT)
    assert peak < _ALLOCATION_LIMIT, (
        f"five steady-state updates of {n:,} float32 parameters allocated {peak:,} bytes "
        f"(limit {_ALLOCATION_LIMIT:,}): a temporary the size of the parameters"
    )


def _check_convergence(cls: type[Optimizer], kwargs: dict) -> None:
    low, high = cls.lr_range
    assert 0 < low < high, (
        f"lr_range {cls.lr_range} is no range 0 < low < high to search (register the "
        "optimizer with gdlab.optim.register(lr_range=...))"
    )
    best = math.inf
    for lr in np.geomspace(low, high, 7):
        params, a = _problem()
        start = _closure_for(a)(params)[0]
        opt = _make(cls, {**_overridden(kwargs, maximize=False), "lr": float(lr)})
        _walk(opt, params, a, 1000)
        final = _closure_for(a)(params)[0]
        if math.isfinite(final):
            best = min(best, final / start)
        if best < 1e-3:
            return
    raise AssertionError(
        f"no lr in the registered range {cls.lr_range} brought ½·Σaᵢxᵢ² below 1e-3 of its "
        f"start in 1,000 steps (best ratio {best:.3g})"
    )


def _check_maximize(cls: type[Optimizer], kwargs: dict) -> None:
    params, a = _problem()
    twin = {k: v.copy() for k, v in params.items()}
    _walk(_make(cls, _overridden(kwargs, maximize=False)), params, a, 10)
    _walk(_make(cls, {**kwargs, "maximize": True}), twin, a, 10, sign=-1.0)
    assert _same(params, twin), "maximize=True on −f does not walk minimize's path on f"


def _check_nonfinite(cls: type[Optimizer], kwargs: dict) -> None:
    params, a = _problem()
    sign = _sign(kwargs)
    opt = _make(cls, _overridden(kwargs, nonfinite="raise"))
    _walk(opt, params, a, 3, sign)
    grads = _closure_for(a, sign)(params)[1]
    grads["b"][2] = np.nan
    closure = _closure_for(a, sign) if opt.needs_closure else None
    _refused(opt, params, grads, closure, "a NaN gradient")
    skipping = _make(cls, {**kwargs, "nonfinite": "skip"})
    _walk(skipping, params, a, 3, sign)
    _skipped(skipping, params, grads, closure, "a NaN gradient")
    if opt.needs_closure:  # a NaN from the closure: refused at the first update and later
        grads = _closure_for(a, sign)(params)[1]
        nan_closure = _nan_closure(a, sign)
        for steps in (0, 3):
            refusing = _make(cls, _overridden(kwargs, nonfinite="raise"))
            _walk(refusing, params, a, steps, sign)
            _refused(refusing, params, grads, nan_closure, "a closure's NaN loss")
        _skipped(skipping, params, grads, nan_closure, "a closure's NaN loss")


def _nan_closure(a: dict[str, np.ndarray], sign: float) -> Callable:
    """A closure whose loss is NaN (its gradients finite)."""
    closure = _closure_for(a, sign)

    def nan_loss(params):
        return math.nan, closure(params)[1]

    return nan_loss


def _refused(opt: Optimizer, params: dict, grads: dict, closure: Any, what: str) -> None:
    """``update`` raises NonFiniteGradientError and changes nothing, state_dict() whole."""
    before, state = {k: v.copy() for k, v in params.items()}, opt.state_dict()
    try:
        opt.update(params, grads, closure=closure)
    except NonFiniteGradientError:
        pass
    else:
        raise AssertionError(f"{what} did not raise NonFiniteGradientError")
    assert _same(params, before), f"a step refused for {what} changed the parameters"
    after = opt.state_dict()
    assert after["t"] == state["t"], f"a step refused for {what} counted"
    changed = _first_difference(state, after)
    assert changed is None, f"a step refused for {what} changed the state ({changed})"


def _skipped(opt: Optimizer, params: dict, grads: dict, closure: Any, what: str) -> None:
    """``nonfinite="skip"`` skips: counted, and nothing else changes (state_dict() whole)."""
    before, state = {k: v.copy() for k, v in params.items()}, opt.state_dict()
    when = f"at step {opt.t + 1}"
    opt.update(params, grads, closure=closure)
    after = opt.state_dict()
    assert after["skipped_steps"] == state["skipped_steps"] + 1, (
        f"nonfinite='skip' did not count the step skipped for {what} {when}"
    )
    assert _same(params, before), f"nonfinite='skip' changed the parameters ({what}, {when})"
    assert opt.t == state["t"], (
        f"nonfinite='skip' counted the step skipped for {what} {when} in t "
        f"({state['t']} -> {opt.t})"
    )
    changed = _first_difference({**state, "skipped_steps": None}, {**after, "skipped_steps": None})
    assert changed is None, (
        f"nonfinite='skip' changed the state on the step skipped for {what} {when} ({changed})"
    )


_CHECKS: dict[str, Callable[[type[Optimizer], dict], None]] = {
    "arguments": _check_arguments,
    "registry": _check_registry,
    "round trip": _check_round_trip,
    "kernels": _check_kernels,
    "layout": _check_layout,
    "allocation": _check_allocation,
    "convergence": _check_convergence,
    "maximize": _check_maximize,
    "non-finite": _check_nonfinite,
}

#: The checks :func:`check_optimizer` runs, in order.
CHECKS: tuple[str, ...] = tuple(_CHECKS)
