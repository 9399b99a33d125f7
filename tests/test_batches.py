"""Tests for gdlab.data.batches: seed 000's epoch partition, seeds 001/003's random batches."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab.data
from gdlab.data import BatchStream, epoch_batches, mini_batches, partition, random_batches


def rng(seed=0):
    return np.random.default_rng(seed)


def as_lists(batches):
    return [b.tolist() for b in batches]


# -- partition -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "b", "sizes"),
    [
        (10, 4, [4, 4, 2]),
        (12, 4, [4, 4, 4]),
        (10, 10, [10]),  # batch gradient descent
        (5, 1, [1, 1, 1, 1, 1]),  # stochastic gradient descent
        (7, 3, [3, 3, 1]),
        (1, 1, [1]),
    ],
)
def test_partition_sizes_and_every_sample_once(n, b, sizes):
    batches = partition(n, b, rng())
    assert [len(batch) for batch in batches] == sizes
    everything = np.concatenate(batches)
    assert sorted(everything.tolist()) == list(range(n))
    assert everything.dtype == np.int64


@pytest.mark.parametrize(("n", "b"), [(10, 4), (12, 4), (7, 3), (5, 5), (100, 64)])
def test_partition_drop_last(n, b):
    batches = partition(n, b, rng(), drop_last=True)
    assert [len(batch) for batch in batches] == [b] * (n // b)
    everything = np.concatenate(batches)
    assert len(set(everything.tolist())) == len(everything) == n - n % b
    # drop_last cuts the same permutation: the kept batches are the full ones
    assert as_lists(batches) == as_lists(partition(n, b, rng())[: n // b])


def test_partition_is_a_permutation_from_rng():
    batches = partition(10, 4, rng(3))
    np.testing.assert_array_equal(np.concatenate(batches), rng(3).permutation(10))


def test_same_seed_same_batches_different_seed_different():
    assert as_lists(partition(100, 8, rng(42))) == as_lists(partition(100, 8, rng(42)))
    assert as_lists(partition(100, 8, rng(42))) != as_lists(partition(100, 8, rng(43)))


def test_new_permutation_each_epoch():
    generator = rng(0)
    epochs = [np.concatenate(partition(50, 8, generator)).tolist() for _ in range(5)]
    assert len({tuple(order) for order in epochs}) == 5
    assert all(sorted(order) == list(range(50)) for order in epochs)


def test_global_random_state_is_left_alone():
    # The legacy global state is used here on purpose: batching must not touch it.
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    partition(100, 10, rng(0))
    next(random_batches(100, 10, rng(0)))
    BatchStream(100, 10, rng(0)).take(3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


# -- epoch_batches / mini_batches ------------------------------------------------


def test_epoch_batches_rows():
    X = np.arange(20).reshape(10, 2)
    Y = np.arange(10) * 10
    pairs = list(epoch_batches(X, Y, 4, rng(1)))
    indices = partition(10, 4, rng(1))
    assert len(pairs) == 3
    for (xb, yb), index in zip(pairs, indices, strict=True):
        np.testing.assert_array_equal(xb, X[index])
        np.testing.assert_array_equal(yb, Y[index])
    assert sorted(np.concatenate([yb for _, yb in pairs]).tolist()) == Y.tolist()


def test_epoch_batches_without_y_and_drop_last():
    X = np.arange(10)
    pairs = list(epoch_batches(X, None, 4, rng(), drop_last=True))
    assert [xb.shape for xb, _ in pairs] == [(4,), (4,)]
    assert all(yb is None for _, yb in pairs)


def test_epoch_batches_checks_eagerly():
    with pytest.raises(ValueError, match="batch_size"):
        epoch_batches(np.zeros((3, 2)), None, 4, rng())  # no next() needed


def test_course_layout_axis1_matches_axis0_on_transpose():
    data = rng(9)
    X = data.standard_normal((3, 11))  # 3 features, 11 samples as columns
    Y = (data.random((1, 11)) > 0.5).astype(float)
    columns = mini_batches(X, Y, 4, rng(5), axis=1)
    rows = mini_batches(X.T, Y.T, 4, rng(5), axis=0)
    assert [xb.shape for xb, _ in columns] == [(3, 4), (3, 4), (3, 3)]
    assert [yb.shape for _, yb in columns] == [(1, 4), (1, 4), (1, 3)]
    for (xc, yc), (xr, yr) in zip(columns, rows, strict=True):
        np.testing.assert_array_equal(xc, xr.T)
        np.testing.assert_array_equal(yc, yr.T)
    # the columns of each batch are the original columns picked by partition()
    for (xc, _), index in zip(columns, partition(11, 4, rng(5)), strict=True):
        np.testing.assert_array_equal(xc, X[:, index])


def test_mini_batches_is_a_list_of_tuples_like_the_seed():
    X, Y = np.zeros((2, 64 * 2 + 5)), np.zeros((1, 64 * 2 + 5))
    batches = mini_batches(X, Y, 64, rng(0), axis=1)
    assert isinstance(batches, list)
    assert all(isinstance(pair, tuple) and len(pair) == 2 for pair in batches)
    assert [xb.shape[1] for xb, _ in batches] == [64, 64, 5]


def test_mini_batches_accepts_lists():
    batches = mini_batches([[1, 2], [3, 4], [5, 6]], [0, 1, 0], 2, rng())
    assert [xb.shape for xb, _ in batches] == [(2, 2), (1, 2)]


# -- random batches -------------------------------------------------------------


def test_random_batches_shape_range_and_replacement():
    stream = random_batches(5, 4, rng(0))
    draws = np.array([next(stream) for _ in range(2000)])
    assert draws.shape == (2000, 4)
    assert draws.dtype == np.int64
    assert draws.min() == 0
    assert draws.max() == 4
    # with replacement: some batches hold a repeated index (P(no repeat) = 5*4*3*2/5**4 ≈ 0.19)
    repeats = np.mean([len(set(batch)) < 4 for batch in draws.tolist()])
    assert 0.7 < repeats < 0.9
    counts = np.bincount(draws.ravel(), minlength=5)
    assert np.all(np.abs(counts / draws.size - 0.2) < 0.02)


def test_random_batches_larger_than_n_with_replacement():
    batch = next(random_batches(3, 10, rng()))
    assert batch.shape == (10,)
    assert set(batch.tolist()) <= {0, 1, 2}


def test_random_batches_without_replacement():
    stream = random_batches(10, 10, rng(0), replace=False)
    for _ in range(20):
        assert sorted(next(stream).tolist()) == list(range(10))


def test_random_batches_reproducible_and_seed_dependent():
    a = random_batches(506, 30, rng(2023))
    b = random_batches(506, 30, rng(2023))
    c = random_batches(506, 30, rng(2024))
    first = [next(a).tolist() for _ in range(5)]
    assert first == [next(b).tolist() for _ in range(5)]
    assert first != [next(c).tolist() for _ in range(5)]
    assert first[0] != first[1]  # a new draw every step


# -- BatchStream -----------------------------------------------------------------


def test_stream_epoch_mode_matches_partition_epoch_after_epoch():
    stream = BatchStream(10, 4, rng(7))
    assert stream.steps_per_epoch == 3
    reference = rng(7)
    expected = partition(10, 4, reference) + partition(10, 4, reference)
    assert as_lists(stream.take(6)) == as_lists(expected)
    assert stream.step == 6
    assert stream.epoch == 2


def test_stream_random_mode_matches_random_batches():
    stream = BatchStream(506, 30, rng(1), mode="random")
    expected = random_batches(506, 30, rng(1))
    assert as_lists(stream.take(10)) == [next(expected).tolist() for _ in range(10)]
    assert stream.steps_per_epoch == 17  # ceil(506 / 30)


@pytest.mark.parametrize(
    ("kwargs", "steps"),
    [
        ({"n_samples": 10, "batch_size": 4}, 3),
        ({"n_samples": 10, "batch_size": 4, "drop_last": True}, 2),
        ({"n_samples": 12, "batch_size": 4}, 3),
        ({"n_samples": 10, "batch_size": 10}, 1),
        ({"n_samples": 10, "batch_size": 1}, 10),
        ({"n_samples": 10, "batch_size": 30, "mode": "random"}, 1),
    ],
)
def test_steps_per_epoch(kwargs, steps):
    stream = BatchStream(rng=rng(), **kwargs)
    assert stream.steps_per_epoch == steps
    if kwargs.get("mode", "epoch") == "epoch":
        sizes = [len(b) for b in stream.take(steps)]
        assert len(sizes) == steps
        assert stream.epoch == 1


def test_stream_same_seed_identical_for_every_optimizer():
    runs = [BatchStream(100, 16, rng(11)).take(30) for _ in range(3)]
    assert as_lists(runs[0]) == as_lists(runs[1]) == as_lists(runs[2])
    assert as_lists(runs[0]) != as_lists(BatchStream(100, 16, rng(12)).take(30))


def test_stream_iterates():
    stream = BatchStream(6, 4, rng())
    sizes = [len(batch) for batch, _ in zip(stream, range(5), strict=False)]
    assert sizes == [4, 2, 4, 2, 4]


def test_stream_batches_are_copies():
    stream = BatchStream(10, 5, rng(0))
    batch = next(stream)
    batch[:] = -1
    state = stream.state_dict()
    assert (state["order"] >= 0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "epoch"},
        {"mode": "epoch", "drop_last": True},
        {"mode": "random"},
        {"mode": "random", "replace": False},
    ],
)
@pytest.mark.parametrize("stop", [0, 1, 3, 4, 7, 12])
@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_stream_resume_equals_straight_run(kwargs, stop, bit_generator):
    def make():
        return BatchStream(11, 4, np.random.Generator(bit_generator(5)), **kwargs)

    straight = as_lists(make().take(20))

    first = make()
    head = as_lists(first.take(stop))
    state = first.state_dict()
    first.take(5)  # the saved state must not follow the original afterwards
    resumed = make()
    resumed.take(2)  # whatever it did before is overwritten
    resumed.load_state_dict(state)
    assert resumed.step == stop
    assert head + as_lists(resumed.take(20 - stop)) == straight


def test_stream_state_dict_contents():
    stream = BatchStream(10, 4, rng(0))
    stream.take(2)
    state = stream.state_dict()
    assert state["step"] == 2
    assert state["position"] == 2
    assert state["mode"] == "epoch"
    assert sorted(state["order"].tolist()) == list(range(10))
    assert state["bit_generator"]["bit_generator"] == "PCG64"


# -- errors ---------------------------------------------------------------------

X10 = np.zeros((10, 3))


def _load(state_change, **kwargs):
    state = BatchStream(10, 4, rng(), **kwargs).state_dict()
    state.update(state_change)
    BatchStream(10, 4, rng()).load_state_dict(state)


ERRORS = [
    # (call, exception, message regex)
    (lambda: partition(10, 0, rng()), ValueError, r"^batch_size must be an integer >= 1; got 0$"),
    (lambda: partition(10, -3, rng()), ValueError, r"^batch_size must be an integer >= 1; got -3$"),
    (
        lambda: partition(10, 11, rng()),
        ValueError,
        r"^batch_size must be at most n_samples = 10; got 11$",
    ),
    (lambda: partition(10, 2.0, rng()), TypeError, r"^batch_size must be an integer; got 2\.0"),
    (lambda: partition(10, True, rng()), TypeError, r"^batch_size must be an integer; got True"),
    (lambda: partition(0, 1, rng()), ValueError, r"^n_samples must be an integer >= 1; got 0$"),
    (lambda: partition(10.0, 1, rng()), TypeError, r"^n_samples must be an integer; got 10\.0"),
    (
        lambda: partition(10, 2, 0),
        TypeError,
        r"^rng must be a numpy\.random\.Generator; pass numpy\.random\.default_rng\(seed\); "
        r"got 0 \(int\)$",
    ),
    (
        lambda: partition(10, 2, np.random.RandomState(0)),
        TypeError,
        r"^rng must be a numpy\.random\.Generator; pass numpy\.random\.default_rng\(seed\)",
    ),
    (lambda: partition(10, 2, rng(), drop_last=1), TypeError, r"^drop_last must be True or False"),
    (
        lambda: epoch_batches(X10, None, 11, rng()),
        ValueError,
        r"^batch_size must be at most the number of samples \(X\.shape\[0\]\) = 10; got 11$",
    ),
    (
        lambda: mini_batches(np.zeros((2, 5)), np.zeros((1, 5)), 6, rng(), axis=1),
        ValueError,
        r"^batch_size must be at most the number of samples \(X\.shape\[1\]\) = 5; got 6$",
    ),
    (
        lambda: epoch_batches(X10, np.zeros(9), 2, rng()),
        ValueError,
        r"^Y\.shape must be 10 along axis 0 to match X\.shape = \(10, 3\); got \(9,\)$",
    ),
    (
        lambda: mini_batches(np.zeros((2, 5)), np.zeros((1, 4)), 2, rng(), axis=1),
        ValueError,
        r"^Y\.shape must be 5 along axis 1 to match X\.shape = \(2, 5\); got \(1, 4\)$",
    ),
    (
        lambda: mini_batches(np.zeros((2, 5)), np.zeros(5), 2, rng(), axis=1),
        ValueError,
        r"^Y\.shape must be 5 along axis 1 to match X\.shape = \(2, 5\); got \(5,\)$",
    ),
    (
        lambda: mini_batches(np.zeros(5), None, 2, rng(), axis=1),
        ValueError,
        r"^X\.ndim must be at least 2 for axis=1; got 1$",
    ),
    (
        lambda: mini_batches(np.zeros((0, 3)), None, 1, rng()),
        ValueError,
        r"^X\.shape\[0\] must be at least 1 \(the number of samples\); got 0$",
    ),
    (
        lambda: mini_batches(X10, None, 2, rng(), axis=2),
        ValueError,
        r"^axis must be 0 \(samples on rows\) or 1 \(samples on columns\); got 2$",
    ),
    (
        lambda: mini_batches(X10, None, 2, rng(), axis=-1),
        ValueError,
        r"^axis must be 0 \(samples on rows\) or 1 \(samples on columns\); got -1$",
    ),
    (lambda: mini_batches(X10, None, 2, rng(), axis="1"), TypeError, r"^axis must be an integer"),
    (lambda: mini_batches(X10, None, 2, None), TypeError, r"^rng must be a numpy\.random\.Gen"),
    (lambda: random_batches(10, 0, rng()), ValueError, r"^batch_size must be an integer >= 1"),
    (
        lambda: random_batches(10, 11, rng(), replace=False),
        ValueError,
        r"^batch_size must be at most n_samples \(replace=False\) = 10; got 11$",
    ),
    (lambda: random_batches(10, 2, 42), TypeError, r"^rng must be a numpy\.random\.Generator"),
    (lambda: random_batches(10, 2, rng(), replace="no"), TypeError, r"^replace must be True"),
    (
        lambda: BatchStream(10, 2, rng(), mode="epochs"),
        ValueError,
        r"^mode must be one of 'epoch', 'random'; got 'epochs'$",
    ),
    (
        lambda: BatchStream(10, 11, rng()),
        ValueError,
        r"^batch_size must be at most n_samples = 10; got 11$",
    ),
    (lambda: BatchStream(10, False, rng()), TypeError, r"^batch_size must be an integer; got Fa"),
    (lambda: BatchStream(10, 2, 7), TypeError, r"^rng must be a numpy\.random\.Generator; pass"),
    (lambda: BatchStream(10, 2, rng()).take(-1), ValueError, r"^n_batches must be an integer >= 0"),
    (
        lambda: _load({"batch_size": 5}),
        ValueError,
        r"^state\['batch_size'\] must be 4 \(this stream's setting\); got 5$",
    ),
    (
        lambda: _load({}, mode="random"),
        ValueError,
        r"^state\['mode'\] must be 'epoch' \(this stream's setting\); got 'random'$",
    ),
    (
        lambda: BatchStream(10, 4, rng()).load_state_dict({"step": 3}),
        ValueError,
        r"^state must be a dict with keys \['batch_size', 'bit_generator'",
    ),
    (
        lambda: BatchStream(10, 4, rng()).load_state_dict(
            BatchStream(10, 4, np.random.Generator(np.random.MT19937(0))).state_dict()
        ),
        ValueError,
        r"^state\['bit_generator'\] must be a PCG64 state \(this stream's generator\)",
    ),
    (lambda: _load({"position": 9}), ValueError, r"^state\['position'\] must be an integer in"),
]


@pytest.mark.parametrize(("call", "error", "message"), ERRORS)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_public_names():
    assert set(gdlab.data.__all__) >= {
        "BatchStream",
        "epoch_batches",
        "mini_batches",
        "partition",
        "random_batches",
    }
