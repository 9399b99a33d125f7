"""Data feeding: mini-batch partitions and random-sample batches."""

from gdlab.data.batches import (
    BatchStream,
    epoch_batches,
    mini_batches,
    partition,
    random_batches,
)

__all__ = [
    "BatchStream",
    "epoch_batches",
    "mini_batches",
    "partition",
    "random_batches",
]
