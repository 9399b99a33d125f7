"""Tests for gdlab.data.idx: the IDX (MNIST) file format, plain and gzip-compressed."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from gdlab.data import IDX_TYPES, IDXError, read_idx, write_idx

# type code -> native element type
CODES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.int16,
    0x0C: np.int32,
    0x0D: np.float32,
    0x0E: np.float64,
}
SHAPES = {1: (7,), 2: (3, 5), 3: (2, 3, 4), 4: (2, 1, 3, 2)}


def sample(dtype, shape):
    """Values that cover the type's extremes and, for floats, fractions and signs."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape))
    if dtype.kind == "f":
        info = np.finfo(dtype)
        special = [0.0, -0.0, 1.5, -2.25, float(info.max), float(info.min), float(info.tiny)]
    else:
        info = np.iinfo(dtype)
        special = [0, 1, -1 if info.min < 0 else 2, int(info.max), int(info.min)]
    values = np.resize(np.array(special, dtype=dtype), n)
    return values.reshape(shape)


def files_in(directory):
    return sorted(p.name for p in directory.iterdir())


# -- round trips ----------------------------------------------------------------


def test_idx_types_table():
    assert {code: t.newbyteorder("=") for code, t in IDX_TYPES.items()} == {
        code: np.dtype(t) for code, t in CODES.items()
    }
    assert all(t.byteorder in (">", "|") for t in IDX_TYPES.values())  # big-endian in files


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
@pytest.mark.parametrize("code", sorted(CODES))
def test_round_trip_every_type_and_ndim(tmp_path, code, ndim, name):
    array = sample(CODES[code], SHAPES[ndim])
    path = tmp_path / name
    write_idx(path, array)
    raw = path.read_bytes()
    if name.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert raw[:4] == bytes([0, 0, code, ndim])
    assert len(raw) == 4 + 4 * ndim + array.nbytes
    back = read_idx(path)
    assert back.dtype == np.dtype(CODES[code])
    assert back.dtype.isnative
    assert back.shape == array.shape
    assert back.flags.writeable
    np.testing.assert_array_equal(back, array)
    if array.dtype.kind == "f":  # -0.0 keeps its sign
        np.testing.assert_array_equal(np.signbit(back), np.signbit(array))


def test_exact_bytes_of_a_small_file(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([[1, 2, 3], [4, 5, 256]], dtype=np.int16))
    assert path.read_bytes() == (
        b"\x00\x00\x0b\x02"  # magic, int16, 2 dimensions
        b"\x00\x00\x00\x02\x00\x00\x00\x03"  # sizes 2, 3
        b"\x00\x01\x00\x02\x00\x03\x00\x04\x00\x05\x01\x00"  # big-endian
    )


def test_reads_a_hand_made_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x04" + bytes([7, 2, 1, 0]))
    labels = read_idx(str(path))
    assert labels.dtype == np.uint8
    assert labels.tolist() == [7, 2, 1, 0]
    path.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01" + np.float32(-1.5).byteswap().tobytes())
    assert read_idx(path).tolist() == [-1.5]


@pytest.mark.parametrize("dtype", [">i4", "<i4", ">f8", "<f8", ">i2"])
def test_any_input_byte_order_gives_the_same_file(tmp_path, dtype):
    array = np.arange(-3, 3).astype(dtype)
    write_idx(tmp_path / "a", array)
    write_idx(tmp_path / "b", array.astype(np.dtype(dtype).newbyteorder("=")))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), array)


def test_non_contiguous_and_empty_arrays(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(4, 6)[:, ::2].T  # a strided view
    write_idx(tmp_path / "v.idx", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "v.idx"), array)
    empty = np.zeros((0, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "e.idx", empty)
    assert read_idx(tmp_path / "e.idx").shape == (0, 28, 28)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.float32)
    write_idx(tmp_path / "packed.gz", array)
    (tmp_path / "packed-no-suffix").write_bytes((tmp_path / "packed.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "packed-no-suffix"), array)
    write_idx(tmp_path / "plain", array)
    (tmp_path / "plain-named.gz").write_bytes((tmp_path / "plain").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "plain-named.gz"), array)


def test_gzip_output_is_reproducible(tmp_path):
    array = np.arange(100, dtype=np.uint8).reshape(10, 10)
    write_idx(tmp_path / "a.gz", array)
    write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == _plain_bytes(tmp_path, array)


def _plain_bytes(tmp_path, array):
    write_idx(tmp_path / "plain", array)
    return (tmp_path / "plain").read_bytes()


# -- atomic writing -------------------------------------------------------------


def test_write_replaces_an_old_file_and_leaves_no_temporary(tmp_path):
    write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.uint8))
    write_idx(tmp_path / "a.idx", np.ones(5, dtype=np.uint8))
    assert read_idx(tmp_path / "a.idx").tolist() == [1] * 5
    assert files_in(tmp_path) == ["a.idx"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    write_idx(tmp_path / "a.idx", np.arange(3, dtype=np.uint8))

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_idx(tmp_path / "a.idx", np.arange(9, dtype=np.uint8))
    monkeypatch.undo()
    assert read_idx(tmp_path / "a.idx").tolist() == [0, 1, 2]
    assert files_in(tmp_path) == ["a.idx"]


# -- errors ----------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    with pytest.raises(FileNotFoundError, match="IDX file not found") as info:
        read_idx(path)
    assert str(path) in str(info.value)


HEADER_U8_3 = b"\x00\x00\x08\x01\x00\x00\x00\x03"  # uint8, 1 dimension of 3


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", r"truncated header: expected at least 4 bytes .*found 0"),
        (b"\x00\x00\x08", r"truncated header: expected at least 4 bytes .*found 3"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", r"truncated header: expected 16 bytes .*found 8"),
        (HEADER_U8_3 + b"\x01\x02", r"truncated data: expected 3 bytes .*found 2"),
        (
            b"\x00\x00\x0c\x02\x00\x00\x00\x02\x00\x00\x00\x02" + bytes(15),
            r"truncated data: expected 16 bytes after the 12-byte header \(2 x 2 int32\), "
            r"found 15",
        ),
        (HEADER_U8_3 + b"\x01\x02\x03\x04", r"extra bytes after the data: expected 3 .*found 4"),
        (b"PK\x08\x01\x00\x00\x00\x01\x00", r"bad magic: .*two zero bytes; got 50 4b"),
        (b"\x00\x01\x08\x01\x00\x00\x00\x01\x00", r"bad magic"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00", r"unknown type code 0x0A; known codes: 0x08"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", r"unknown type code 0x07"),
        (b"\x00\x00\x08\x00", r"ndim .* is 0"),
    ],
    ids=[
        "empty",
        "short-prefix",
        "short-sizes",
        "short-data",
        "short-int32-data",
        "extra-data",
        "bad-magic",
        "bad-magic-second-byte",
        "type-0x0a",
        "type-0x07",
        "ndim-0",
    ],
)
def test_malformed_files_name_the_file(tmp_path, content, pattern):
    path = tmp_path / "broken.idx"
    path.write_bytes(content)
    with pytest.raises(IDXError, match=pattern) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert isinstance(info.value, ValueError)


def test_truncated_and_corrupt_gzip_name_the_file(tmp_path):
    write_idx(tmp_path / "good.gz", np.arange(1000, dtype=np.int32))
    packed = (tmp_path / "good.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(IDXError, match="truncated gzip stream") as info:
        read_idx(tmp_path / "cut.gz")
    assert str(tmp_path / "cut.gz") in str(info.value)
    (tmp_path / "bad.gz").write_bytes(packed[:10] + b"\xff" * 40)
    with pytest.raises(IDXError, match="corrupt gzip stream") as info:
        read_idx(tmp_path / "bad.gz")
    assert str(tmp_path / "bad.gz") in str(info.value)


def test_gzip_holding_a_truncated_idx_is_reported_as_truncated(tmp_path):
    (tmp_path / "t.gz").write_bytes(gzip.compress(HEADER_U8_3 + b"\x01"))
    with pytest.raises(IDXError, match=r"truncated data: expected 3 bytes .*found 1"):
        read_idx(tmp_path / "t.gz")


@pytest.mark.parametrize(
    ("array", "error", "pattern"),
    [
        (
            np.zeros(3, dtype=np.int64),
            ValueError,
            r"array.dtype must be one of uint8, .*got 'int64'",
        ),
        (np.zeros(3, dtype=np.uint16), ValueError, r"got 'uint16'"),
        (np.zeros(3, dtype=np.float16), ValueError, r"got 'float16'"),
        (np.zeros(3, dtype=np.bool_), ValueError, r"got 'bool'"),
        (np.zeros(3, dtype=np.complex64), ValueError, r"got 'complex64'"),
        (np.array(["a"]), ValueError, r"array.dtype must be one of"),
        (np.array([None]), ValueError, r"got 'object'"),
        (np.float64(1.0), ValueError, r"array.ndim must be at least 1.*got 0"),
    ],
)
def test_write_rejects_what_idx_cannot_hold(tmp_path, array, error, pattern):
    with pytest.raises(error, match=pattern):
        write_idx(tmp_path / "x.idx", array)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("func", [read_idx, lambda p: write_idx(p, np.zeros(1, np.uint8))])
def test_path_must_be_a_path(func):
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike file name; got 3"):
        func(3)
