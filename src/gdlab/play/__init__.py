"""``gdlab play``: a local web app to watch gdlab's optimizers work, live.

The page draws; Python computes. Four modes:

* **2-D functions**: paths of up to eight optimizers over the contours of any
  function of :mod:`gdlab.functions2d` or one you type (:mod:`gdlab.expressions`),
  with a slider for every hyperparameter, a schedule, and the loss per step;
* **networks**: a small MLP trained live by two to four optimizers on the
  same batches of moons, circles, spirals or XOR (:mod:`gdlab.play.network`);
* **schedules**: any learning-rate schedule over steps and epochs;
* **averages**: the EWMA of seed 004's daily temperatures.

The page's state lives in its URL; "Export" saves the figure (PNG, SVG) and
the setup as a TOML experiment that ``gdlab race --config`` runs identically.

>>> from gdlab.play import create_app
>>> app = create_app()          # an ASGI app: serve it with uvicorn, or `gdlab play`
"""

from gdlab.play.app import create_app
from gdlab.play.server import serve

__all__ = ["create_app", "serve"]
