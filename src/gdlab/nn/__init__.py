"""A small NumPy neural-network toolkit: layers, losses, initialisers, the MLP.

Layers are forward/backward pairs (:mod:`gdlab.nn.layers`), losses return the
gradient of their output (:mod:`gdlab.nn.losses`), :class:`MLP` puts them
together with ``params`` and ``grads`` dicts keyed ``W1, b1, …``, and
:mod:`gdlab.nn.gradcheck` checks every backward pass against central
differences.
"""

from gdlab.nn.gradcheck import check_layer, gradcheck, numerical_gradient, relative_error
from gdlab.nn.init import INITIALISERS
from gdlab.nn.layers import ACTIVATIONS, Affine, Dropout, Layer, LeakyReLU, ReLU, Sigmoid, Tanh
from gdlab.nn.losses import (
    LOSSES,
    Loss,
    MeanSquaredError,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
)
from gdlab.nn.mlp import MLP, OUTPUTS

__all__ = [
    "ACTIVATIONS",
    "INITIALISERS",
    "LOSSES",
    "MLP",
    "OUTPUTS",
    "Affine",
    "Dropout",
    "Layer",
    "LeakyReLU",
    "Loss",
    "MeanSquaredError",
    "ReLU",
    "Sigmoid",
    "SigmoidCrossEntropy",
    "SoftmaxCrossEntropy",
    "Tanh",
    "check_layer",
    "gradcheck",
    "numerical_gradient",
    "relative_error",
]
