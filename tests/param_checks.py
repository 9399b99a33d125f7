"""Parameter dicts in the training tests: copies, and bit-identity."""

from __future__ import annotations

import numpy as np


def copied(params):
    """Each array of ``params`` copied."""
    return {k: v.copy() for k, v in params.items()}


def assert_same(a, b):
    """The same keys, and each array bit for bit the same."""
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
