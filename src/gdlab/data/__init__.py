"""Data: mini-batches, data sets (bundled and from files), the IDX format, splits and scaling.

scikit-learn, mlxtend, pandas and vega_datasets are imported only inside the
loaders that need them, so importing this package stays light.
"""

from gdlab.data.batches import (
    BatchStream,
    epoch_batches,
    mini_batches,
    partition,
    random_batches,
)
from gdlab.data.datasets import (
    BOSTON_FEATURES,
    MNIST_FILES,
    Dataset,
    Splits,
    boston,
    circles,
    digits,
    load,
    load_mnist,
    minmax_scale,
    mnist_idx,
    mnist_subset,
    moons,
    scale,
    seattle_temperatures,
    spirals,
    split,
    standard_scale,
    xor,
)
from gdlab.data.idx import IDX_TYPES, IDXError, read_idx, write_idx
from gdlab.data.registry import DATA_SOURCES as DATASETS
from gdlab.data.registry import DataSource

__all__ = [
    "BOSTON_FEATURES",
    "DATASETS",
    "IDX_TYPES",
    "MNIST_FILES",
    "BatchStream",
    "DataSource",
    "Dataset",
    "IDXError",
    "Splits",
    "boston",
    "circles",
    "digits",
    "epoch_batches",
    "load",
    "load_mnist",
    "mini_batches",
    "minmax_scale",
    "mnist_idx",
    "mnist_subset",
    "moons",
    "partition",
    "random_batches",
    "read_idx",
    "scale",
    "seattle_temperatures",
    "spirals",
    "split",
    "standard_scale",
    "write_idx",
    "xor",
]
