"""The caps every request to ``gdlab play`` is held to (documented in ``docs/play.md``).

A request beyond one is answered with a 4xx status and a message the page
shows; the server keeps running. The page's own controls stay inside them.
"""

from __future__ import annotations

#: The largest request body, in bytes.
MAX_BODY_BYTES = 64 * 1024
#: Optimizers drawn at once in 2-D mode.
MAX_RUNS = 8
#: Steps of a 2-D path.
MAX_STEPS = 5_000
#: Optimizers that iterate within a step (L-BFGS: up to ``max_iter`` inner
#: iterations, each over up to ``history_size`` curvature pairs): steps ×
#: max_iter × (history_size + 10), summed over such runs, at most this. A unit
#: takes up to about 25 µs on a slow core, so that these runs take at most
#: about 5 s: 90 steps of L-BFGS at its defaults (20 and 100; on 2-D functions
#: it converges within tens), 1,818 with max_iter = 1.
MAX_INNER_WORK = 200_000
#: Contour grid: points on a side, and the number of contour levels.
MAX_RESOLUTION = 300
MAX_LEVELS = 40
#: The largest |value| of an integer hyperparameter (a count such as L-BFGS's
#: ``history_size`` sizes the optimizer's memory), unless its slider goes further.
MAX_INT_HYPERPARAMETER = 1_000
#: The largest |coordinate| of a start point or a view, and the narrowest view.
MAX_COORDINATE = 1e6
MIN_SPAN = 1e-6
#: Steps of a schedule curve (steps per epoch × epochs).
MAX_SCHEDULE_STEPS = 100_000
#: Steps of a schedule curve sent one by one; a longer curve is sent as at most half as
#: many groups of steps, each with its lowest and highest rate (play.api.CURVE_GROUPS).
MAX_CURVE_POINTS = 2_000
#: Network mode: optimizers side by side, data points, layers, units per layer,
#: steps per frame, boundary grid points on a side, open sessions.
MIN_NET_RUNS = 2
MAX_NET_RUNS = 4
MIN_POINTS = 20
MAX_POINTS = 2_000
MAX_LAYERS = 4
MAX_WIDTH = 32
MAX_STEPS_PER_FRAME = 50
MAX_GRID = 64
MAX_SESSIONS = 16
#: Seconds a computation may take before it is stopped (answered with 503; in network
#: mode a frame ends at the end of the round of steps under way then, and a run whose
#: one step outlasts it alone is marked "stopped").
TIME_LIMIT = 10.0
#: Computations running at once; more wait their turn (within the time limit).
MAX_CONCURRENT = 8


def as_dict() -> dict[str, float | int]:
    """Every cap by name (for the page and the docs)."""
    return {
        name.lower(): value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, int | float)
    }
