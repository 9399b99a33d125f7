"""gdlab.nn under hostile use: the MLP's binding, targets and failed calls, the
work-array pool, initial weights and the gradient checks on odd inputs."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.nn import (
    MLP,
    Affine,
    Dropout,
    MeanSquaredError,
    ReLU,
    Sigmoid,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    _buffers,
    check_layer,
    gradcheck,
    numerical_gradient,
    relative_error,
)
from gdlab.nn import init as nn_init

MAX_SHAPES = getattr(_buffers, "MAX_SHAPES", 8)  # the pool's bound (what the test asks for)


def _data(n=6, k=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), np.arange(n) % k


def _net(**kwargs):
    kwargs.setdefault("dtype", np.float64)
    return MLP([4, 5, kwargs.pop("k", 3)], rng=np.random.default_rng(0), **kwargs)


# ------------------------------------------------------------------ binding


def test_bind_sees_an_array_replaced_under_its_key():
    net = _net()
    X, y = _data()
    params = {key: p.copy() for key, p in net.params.items()}
    net.bind(params)
    net.scores(X)
    params["W2"] = np.zeros_like(params["W2"])  # a new array, same dict
    params["b2"] = np.arange(3.0)
    expected = np.broadcast_to(np.arange(3.0), (6, 3))
    assert np.array_equal(net.scores(X), expected)  # without params: the bound dict, looked up
    assert np.array_equal(net.scores(X, params), expected)
    del params["b2"]
    with pytest.raises(ValueError, match="params must be a dict with keys W1, b1, W2, b2"):
        net.scores(X)
    params["b2"] = np.arange(3.0)
    _, grads = net.loss_and_grads(X, y, params)
    assert np.array_equal(grads["W1"], np.zeros((4, 5)))  # W2 = 0: nothing flows back


def test_bind_refuses_arrays_that_share_memory_with_the_grads():
    net = _net()
    X, y = _data()
    with pytest.raises(ValueError, match=r"params\['W1'\] must be an array of its own"):
        net.bind(net.grads)
    params = dict(net.params, b2=net.grads["b2"])
    with pytest.raises(ValueError, match=r"params\['b2'\] must be an array of its own"):
        net.loss_and_grads(X, y, params)
    assert net.loss_and_grads(X, y)[0] == pytest.approx(net.evaluate(X, y)["loss"], rel=1e-12)


@pytest.mark.parametrize("method", ["loss_and_grads", "evaluate"])
def test_a_failed_call_with_params_keeps_the_old_binding(method):
    net = _net()
    X, y = _data()
    own = net.evaluate(X, y)["loss"]
    other = {key: p + 1.0 for key, p in net.params.items()}
    bad = np.array([0, 1, 2, 3, 0, 1])  # label 3 of 3 classes
    with pytest.raises(ValueError, match=r"y must be class labels in \[0, 2\]; got 3"):
        getattr(net, method)(X, bad, params=other)
    assert net.evaluate(X, y)["loss"] == own  # still the network's own parameters


def test_a_failed_training_call_does_not_advance_the_dropout_masks():
    X, y = _data()
    a, b = _net(dropout=0.5), _net(dropout=0.5)
    with pytest.raises(ValueError, match="class labels"):
        a.loss_and_grads(X, np.full(6, 7))
    loss_a, grads_a = a.loss_and_grads(X, y)
    grads_a = {key: g.copy() for key, g in grads_a.items()}
    loss_b, grads_b = b.loss_and_grads(X, y)
    assert loss_a == loss_b
    for key in grads_a:
        assert np.array_equal(grads_a[key], grads_b[key])


# ------------------------------------------------------------------ targets, accuracy


def test_accuracy_of_a_linear_output_is_a_clear_error():
    net = _net(output="linear", k=2)
    X, _ = _data()
    with pytest.raises(ValueError, match="output must be 'softmax' or 'sigmoid' for an accuracy"):
        net.accuracy(X, np.zeros((6, 2)))


@pytest.mark.parametrize(
    ("output", "make"),
    [
        ("softmax", lambda y: y.astype(">i4")),
        ("softmax", lambda y: np.eye(3)[y].astype(">f8")),
        ("softmax", lambda y: np.eye(3)[y].astype(np.float16)),
        ("softmax", lambda y: np.eye(3)[y].astype(np.longdouble)),
        ("sigmoid", lambda y: (np.eye(3)[y] > 0).astype(">f4")),
        ("sigmoid", lambda y: (np.eye(3)[y] > 0).astype(np.float16)),
        ("sigmoid", lambda y: (np.eye(3)[y] > 0).astype(">u2")),
    ],
    ids=["labels >i4", "one-hot >f8", "one-hot f16", "one-hot longdouble", "sig >f4",
         "sig f16", "sig >u2"],
)  # fmt: skip
def test_targets_in_any_byte_order_or_float_width(output, make):
    X, y = _data()
    net = _net(output=output)
    odd = make(y)
    plain = odd.astype(odd.dtype.newbyteorder("=")).astype(np.float64 if odd.ndim == 2 else int)
    assert net.evaluate(X, odd) == net.evaluate(X, plain)
    loss, grads = net.loss_and_grads(X, odd)
    kept = {key: g.copy() for key, g in grads.items()}
    assert loss == net.loss_and_grads(X, plain)[0]
    for key in kept:
        assert np.array_equal(kept[key], grads[key])


# ------------------------------------------------------------------ the work-array pool


def test_predictions_on_ever_new_sizes_do_not_grow_the_pool_without_end():
    net = _net()
    rng = np.random.default_rng(2)
    for n in range(1, 3 * MAX_SHAPES):
        X = rng.standard_normal((n, 4))
        hidden = np.maximum(X @ net.params["W1"] + net.params["b1"], 0)
        assert np.allclose(net.scores(X), hidden @ net.params["W2"] + net.params["b2"])
    names = {key[0] for key in net.buffers._arrays}
    assert len(net.buffers._arrays) <= MAX_SHAPES * len(names)


# ------------------------------------------------------------------ initial weights


def test_an_init_that_overflows_the_dtype_is_refused_before_drawing():
    rng = np.random.default_rng(0)
    before = rng.bit_generator.state
    with pytest.raises(ValueError, match="init must be a standard deviation whose weights fit"):
        MLP([4, 3], init=1e40, rng=rng)
    with pytest.raises(ValueError, match="fit in float64"):
        nn_init.weights((2, 2), 1e307, rng, fan_in=2, fan_out=2, dtype=np.float64)
    assert rng.bit_generator.state == before
    assert np.isfinite(MLP([4, 3], init=1e30, rng=rng).params["W1"]).all()


def test_weights_refuse_a_non_float_dtype_and_std_a_zero_fan():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="dtype must be a NumPy floating type"):
        nn_init.weights((2, 2), "he", rng, fan_in=2, fan_out=2, dtype=np.int64)
    with pytest.raises(ValueError, match="n_in must be an integer >= 1; got 0"):
        nn_init.std("he", 0, 3)


# ------------------------------------------------------------------ gradient checks


def _cube(p):
    return lambda: float(np.sum(np.asarray(p["x"], np.float64) ** 3))


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        (np.array([1, 2]), TypeError, r"params\['x'\] must be a floating-point NumPy array"),
        (np.array([True]), TypeError, r"params\['x'\] must be a floating-point"),
        (np.array([1 + 0j]), TypeError, r"params\['x'\] must be a floating-point"),
        ([1.0, 2.0], TypeError, r"params\['x'\] must be a floating-point"),
        (np.array([1.0], np.float16), ValueError, r"eps must be large enough to change"),
        (np.array([1000.0], np.float32), ValueError, r"eps must be large enough .* float32"),
    ],
    ids=["int", "bool", "complex", "list", "float16", "float32 1000"],
)
def test_numerical_gradient_refuses_parameters_it_cannot_perturb(x, error, message):
    p = {"x": x}
    before = np.array(x, copy=True)
    with pytest.raises(error, match=message):
        numerical_gradient(_cube(p), p)
    assert np.array_equal(p["x"], before)


def test_numerical_gradient_checks_its_arguments():
    x = np.ones(2)
    with pytest.raises(TypeError, match="params must be a dict"):
        numerical_gradient(lambda: 0.0, [x])
    for eps in (0, -1e-6, float("nan")):
        with pytest.raises(ValueError, match="eps must be"):
            numerical_gradient(lambda: 0.0, {"x": x}, eps=eps)
    frozen = np.ones(2)
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match=r"params\['x'\] must be writable"):
        numerical_gradient(lambda: 0.0, {"x": frozen})
    with pytest.raises(TypeError, match=r"f\(\) must be one real number"):
        numerical_gradient(lambda: np.ones(2), {"x": x})
    assert numerical_gradient(lambda: 0.0, {"x": np.zeros((0, 3))})["x"].shape == (0, 3)


def test_numerical_gradient_restores_the_parameter_when_f_fails():
    x = np.array([1.0, 2.0])
    calls = []

    def f():
        calls.append(x.copy())
        if len(calls) == 2:
            raise RuntimeError("boom")
        return float(x.sum())

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, {"x": x})
    assert np.array_equal(x, [1.0, 2.0])


def test_gradcheck_refuses_gradients_of_the_wrong_shape_or_keys():
    p = {"x": np.array([1.0, -2.0])}
    right = 3 * p["x"] ** 2
    with pytest.raises(ValueError, match=r"grads\['x'\] must be a real array of shape \(2,\)"):
        gradcheck(_cube(p), p, {"x": right[:, None]})
    with pytest.raises(ValueError, match=r"grads\['x'\] must be a real array"):
        gradcheck(_cube(p), p, {"x": 7.0})
    with pytest.raises(ValueError, match=r"grads\['x'\] must be a real array"):
        gradcheck(_cube(p), p, {"x": right + 1j})
    with pytest.raises(ValueError, match="grads must be a dict with the keys of params"):
        gradcheck(_cube(p), p, {})
    with pytest.raises(ValueError, match="analytic and numeric must be arrays of one shape"):
        relative_error(np.ones((3, 1)), np.ones(3))


def test_check_layer_holds_a_dropout_mask_fixed_and_checks_rng():
    rng = np.random.default_rng(0)
    layer = Dropout(0.5, rng=np.random.default_rng(3))
    x = rng.standard_normal((4, 5))
    errors = check_layer(layer, x, rng)
    assert errors["x"] < 1e-8
    # Afterwards the generator is where one forward pass leaves it.
    twin = Dropout(0.5, rng=np.random.default_rng(3))
    twin.forward(x)
    assert layer.rng.bit_generator.state == twin.rng.bit_generator.state
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        check_layer(ReLU(), x, 0)
    with pytest.raises(TypeError, match="layer must be a layer with forward and backward"):
        check_layer(np.sum, x, rng)


def test_check_layer_with_the_layers_own_generator_leaves_it_past_its_draws():
    rng = np.random.default_rng(5)
    layer = Dropout(0.5, rng=rng)
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert check_layer(layer, x, rng)["x"] < 1e-8
    twin_rng = np.random.default_rng(5)
    Dropout(0.5, rng=twin_rng).forward(x)
    twin_rng.standard_normal((4, 5))  # R
    assert rng.bit_generator.state == twin_rng.bit_generator.state


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize(("output", "k"), [("softmax", 3), ("sigmoid", 2), ("linear", 2)])
def test_scores_and_predictions_of_no_samples_are_empty(layout, output, k):
    net = _net(layout=layout, output=output, k=k)
    X = np.zeros((0, 4)) if layout == "rows" else np.zeros((4, 0))
    scores = net.scores(X)
    assert scores.shape == ((0, k) if layout == "rows" else (k, 0))
    predicted = net.predict(X)
    assert predicted.size == 0
    with pytest.raises(ValueError, match="X must be at least one sample"):
        net.evaluate(X, np.zeros(0, int))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_bind_refuses_a_numpy_matrix(layout):
    net = _net(layout=layout)
    X, y = _data()
    params = {key: np.asmatrix(p) if p.ndim == 2 else p for key, p in net.params.items()}
    with pytest.raises(ValueError, match=r"params\['W1'\] must be a NumPy array, not a numpy"):
        net.loss_and_grads(X if layout == "rows" else X.T, y, params)


# -- dtypes and byte order of the layers' and losses' own arguments ---------------------

_LAYERS = {
    "relu": lambda: ReLU(),
    "sigmoid": lambda: Sigmoid(),
    "affine": lambda: Affine(np.ones((3, 2)), np.zeros(2)),
}
_LOSSES = {
    "softmax": (SoftmaxCrossEntropy, np.array([0, 1])),
    "sigmoid": (SigmoidCrossEntropy, np.array([0.0, 1.0])),
    "mse": (MeanSquaredError, np.ones((2, 3))),
}


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int32, np.bool_])
@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_a_layer_names_an_input_it_cannot_compute_in(name, dtype):
    # float16 and longdouble raised numba's NotImplementedError('float16') or a
    # TypingError; an integer x went through Affine as integer arithmetic.
    with pytest.raises(TypeError, match=r"x must be a float32 or float64 NumPy array; got an"):
        _LAYERS[name]().forward(np.ones((2, 3), dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int64])
@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_a_loss_names_scores_it_cannot_compute_in(name, dtype):
    # integer scores gave SoftmaxCrossEntropy an integer buffer of probabilities
    cls, y = _LOSSES[name]
    scores = np.ones((2, 1 if name == "sigmoid" else 3), dtype=dtype)
    with pytest.raises(TypeError, match=r"scores must be a float32 or float64 NumPy array"):
        cls().forward(scores, y)


@pytest.mark.parametrize("name", sorted(_LAYERS))
def test_big_endian_inputs_compute_as_native_ones(name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3))
    native, swapped = _LAYERS[name](), _LAYERS[name]()
    out = native.forward(x).copy()
    np.testing.assert_array_equal(swapped.forward(x.astype(">f8")), out)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(swapped.backward(dout.astype(">f8")), native.backward(dout))


@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_big_endian_scores_and_targets_compute_as_native_ones(name):
    cls, y = _LOSSES[name]
    scores = np.random.default_rng(4).standard_normal((2, 1 if name == "sigmoid" else 3))
    native, swapped = cls(), cls()
    expected = native.forward(scores, y)
    swapped_y = y.astype(y.dtype.newbyteorder(">"))
    assert swapped.forward(scores.astype(">f8"), swapped_y) == expected
    np.testing.assert_array_equal(swapped.backward(), native.backward())


def test_affine_refuses_arrays_of_another_float_type_than_its_own():
    # float32 x went through a float64 layer into a float32 output: the layer's
    # precision was dropped without a word; dout and grads likewise.
    layer = Affine(np.ones((3, 2)), np.zeros(2))
    with pytest.raises(TypeError, match=r"x must be float64, the dtype of the layer's arrays"):
        layer.forward(np.ones((1, 3), np.float32))
    layer.forward(np.ones((1, 3)))
    with pytest.raises(TypeError, match=r"dout must be float64"):
        layer.backward(np.ones((1, 2), np.float32))
    with pytest.raises(TypeError, match=r"dW must be float64"):
        layer.bind_grads(np.zeros((3, 2), np.float32), np.zeros(2))
    with pytest.raises(TypeError, match=r"b must be float32"):
        Affine(np.ones((3, 2), np.float32), np.zeros(2))
    with pytest.raises(ValueError, match=r"W must be an array in this machine's byte order"):
        Affine(np.ones((3, 2), ">f8"), np.zeros(2))


def test_an_element_wise_dout_must_have_the_outputs_dtype():
    layer = ReLU()
    layer.forward(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"dout must be float32, the dtype of the layer's arrays"):
        layer.backward(np.ones((2, 3)))
