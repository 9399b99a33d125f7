"""The seed's network and optimizers, written the textbook way, for speed comparisons only.

Seed 001 trains a 784-100-100-100-100-10 ReLU network on MNIST with the code
of the book "Deep Learning from Scratch": layer objects with ``forward`` and
``backward`` held in an ``OrderedDict``, a ``MultiLayerNet`` whose ``params``
dict (``W1 … W5``, ``b1 … b5``) the layers share, and optimizers with an
in-place ``update(params, grads)``. This module is written here to mirror that
code's structure and its costs, so that benchmarks can measure how fast the
seed's own way of training is:

* **float64**: the weights come from ``np.random.randn`` (float64); inputs of
  another dtype are promoted by the first ``np.dot``, so every product and
  every update is float64;
* **global random state**: the initial weights are drawn from NumPy's global
  generator, as the book does (seed it with ``np.random.seed(0)`` first);
* **new arrays everywhere**: each layer's forward and backward returns fresh
  arrays, ``gradient`` returns a new ``grads`` dict every call, the first
  layer's input gradient is computed although nothing uses it, and
  ``loss`` adds the L2 term ``0.5·λ·ΣW²`` for every weight even when λ = 0.

It is not part of gdlab and is not meant for use: gdlab's ``MLP`` and
optimizers are the library. Nothing here is optimised, on purpose.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["SGD", "Adam", "Affine", "MultiLayerNet", "Relu", "SoftmaxWithLoss"]


# --------------------------------------------------------------------------- functions


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, the row maximum subtracted first (no overflow)."""
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of probabilities ``y`` against labels or one-hot rows ``t``.

    ``1e-7`` is added inside the logarithm, as the book does, so that a zero
    probability gives a large finite loss instead of ``inf``.
    """
    if y.ndim == 1:
        y = y.reshape(1, y.size)
        t = t.reshape(1, t.size)
    if t.size == y.size:  # one-hot targets: back to labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


# --------------------------------------------------------------------------- layers


class Relu:
    """``max(x, 0)``; remembers where ``x <= 0`` to zero the gradient there."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class Affine:
    """``x @ W + b``; caches ``x`` and leaves ``dW``, ``db`` on the layer after backward."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax and cross-entropy together; ``backward`` gives ``(y − t) / batch_size``."""

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:  # one-hot targets
            return (self.y - self.t) / batch_size
        dx = self.y.copy()  # integer labels: subtract the one-hot without building it
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


# --------------------------------------------------------------------------- the network


class MultiLayerNet:
    """A fully connected ReLU network with a softmax cross-entropy loss.

    ``params`` holds ``W1, b1, …`` (``W`` of shape ``(n_in, n_out)``); the
    ``Affine`` layers hold the same arrays, so an optimizer that changes
    ``params`` in place changes the network.

    Args:
        input_size: features per sample (784 for MNIST).
        hidden_size_list: units of each hidden layer, e.g. ``[100, 100, 100, 100]``.
        output_size: classes (10).
        weight_init_std: ``"relu"`` or ``"he"`` for He's ``sqrt(2 / n_in)``,
            ``"sigmoid"`` or ``"xavier"`` for ``sqrt(1 / n_in)``, or a number.
        weight_decay_lambda: λ of the L2 term ``0.5·λ·ΣW²`` (0: none, but still
            computed, as in the book).

    Weights are drawn with ``np.random.randn`` from NumPy's global state.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list: list[int],
        output_size: int,
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0.0,
    ) -> None:
        self.input_size = input_size
        self.hidden_size_list = list(hidden_size_list)
        self.hidden_layer_num = len(hidden_size_list)
        self.output_size = output_size
        self.weight_decay_lambda = weight_decay_lambda
        self.params: dict[str, np.ndarray] = {}
        self.__init_weight(weight_init_std)

        self.layers: OrderedDict[str, object] = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers[f"Affine{idx}"] = Affine(self.params[f"W{idx}"], self.params[f"b{idx}"])
            self.layers[f"Activation_function{idx}"] = Relu()
        idx = self.hidden_layer_num + 1
        self.layers[f"Affine{idx}"] = Affine(self.params[f"W{idx}"], self.params[f"b{idx}"])
        self.last_layer = SoftmaxWithLoss()

    def __init_weight(self, weight_init_std: str | float) -> None:
        all_size_list = [self.input_size, *self.hidden_size_list, self.output_size]
        for idx in range(1, len(all_size_list)):
            scale = weight_init_std
            if str(weight_init_std).lower() in ("relu", "he"):
                scale = np.sqrt(2.0 / all_size_list[idx - 1])
            elif str(weight_init_std).lower() in ("sigmoid", "xavier"):
                scale = np.sqrt(1.0 / all_size_list[idx - 1])
            self.params[f"W{idx}"] = scale * np.random.randn(  # noqa: NPY002 (the book's way)
                all_size_list[idx - 1], all_size_list[idx]
            )
            self.params[f"b{idx}"] = np.zeros(all_size_list[idx])

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Cross-entropy of the batch plus ``0.5·λ·ΣW²`` over all weights."""
        y = self.predict(x)
        weight_decay = 0
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params[f"W{idx}"]
            weight_decay += 0.5 * self.weight_decay_lambda * np.sum(W**2)
        return self.last_layer.forward(y, t) + weight_decay

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return float(np.sum(y == t)) / float(x.shape[0])

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Forward and backward on a batch; returns a new dict of gradients."""
        self.loss(x, t)

        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)

        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            affine = self.layers[f"Affine{idx}"]
            grads[f"W{idx}"] = affine.dW + self.weight_decay_lambda * affine.W
            grads[f"b{idx}"] = affine.db
        return grads


# --------------------------------------------------------------------------- optimizers


class SGD:
    """``params[key] -= lr · grads[key]``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]


class Adam:
    """The book's Adam: bias correction folded into the step size, ε on the raw ``v``.

    ``lr_t = lr·√(1 − β2^t)/(1 − β1^t)``; ``m += (1 − β1)(g − m)``;
    ``v += (1 − β2)(g² − v)``; ``p −= lr_t·m/(√v + 1e-7)``.
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m: dict[str, np.ndarray] | None = None
        self.v: dict[str, np.ndarray] | None = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.m is None:
            self.m, self.v = {}, {}
            for key, val in params.items():
                self.m[key] = np.zeros_like(val)
                self.v[key] = np.zeros_like(val)

        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


class Momentum:
    """The book's Momentum: ``v = μv − lr·g; p += v``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = lr
        self.momentum = momentum
        self.v: dict[str, np.ndarray] | None = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class Nesterov:
    """The book's Nesterov: ``v = μv − lr·g; p += μ²v − (1 + μ)·lr·g``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr = lr
        self.momentum = momentum
        self.v: dict[str, np.ndarray] | None = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class AdaGrad:
    """The book's AdaGrad: ``h += g²; p −= lr·g/(√h + 1e-7)``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr
        self.h: dict[str, np.ndarray] | None = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class RMSprop:
    """The book's RMSprop: ``h = ρh + (1 − ρ)g²; p −= lr·g/(√h + 1e-7)``, ρ = 0.99."""

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        self.lr = lr
        self.decay_rate = decay_rate
        self.h: dict[str, np.ndarray] | None = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params:
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)
