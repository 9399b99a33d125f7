"""gdlab: a reference lab for gradient-descent optimization.

Submodules: :mod:`gdlab.optim` (optimizers), :mod:`gdlab.schedules`
(learning-rate schedules), :mod:`gdlab.averages` (exponentially weighted
averages), :mod:`gdlab.data` (batches), :mod:`gdlab.functions2d` (2-D test
functions). Import them directly; ``import gdlab`` itself stays light.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
