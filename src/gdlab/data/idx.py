"""Read and write the IDX format, the file format of MNIST.

An IDX file is a header and then the array's elements in C order, big-endian::

    bytes 0-1   0x00 0x00                    (magic: two zero bytes)
    byte  2     type code                    (see IDX_TYPES)
    byte  3     ndim                         (number of dimensions, >= 1)
    then        ndim sizes, big-endian uint32
    then        prod(sizes) elements, big-endian

    code  0x08  unsigned byte   uint8
          0x09  signed byte     int8
          0x0B  short           int16
          0x0C  int             int32
          0x0D  float           float32
          0x0E  double          float64

MNIST's ``train-images-idx3-ubyte`` starts ``00 00 08 03`` then the sizes
60000, 28, 28. :func:`read_idx` reads gzip-compressed files too (the MNIST
downloads are ``.gz``) and :func:`write_idx` writes them when the name ends in
``.gz``. A malformed file raises :class:`IDXError`, a ``ValueError`` whose
message names the file.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import math
import os
import secrets
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from gdlab._checks import fail

__all__ = ["IDX_TYPES", "IDXError", "read_idx", "write_idx"]

# type code -> big-endian element type of the file
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF: dict[tuple[str, int], int] = {(t.kind, t.itemsize): c for c, t in IDX_TYPES.items()}
_TYPE_NAMES = ", ".join(np.dtype(t.str[1:]).name for t in IDX_TYPES.values())

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_SIZE = 2**32 - 1  # a size is a uint32
_MAX_NDIM = 255  # ndim is one byte


class IDXError(ValueError):
    """A file that is not valid IDX (or not the IDX file expected); ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path!r}: {problem}")


def _check_path(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike):
        fail("path", "a str or os.PathLike file name", path, kind=TypeError)
    return Path(path)


def _is_gz_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


# -- reading -----------------------------------------------------------------


def _file_bytes(path: Path) -> bytes:
    """The file's IDX bytes, decompressed if the file is gzip (judged by its magic bytes)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"IDX file not found: {str(path)!r}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise IDXError(path, "truncated gzip stream (the download may be incomplete)") from None
    except (OSError, zlib.error) as error:
        raise IDXError(path, f"corrupt gzip stream ({error})") from None


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(file element type, shape, header length)`` from the start of ``data``."""
    if len(data) < 4:
        raise IDXError(
            path,
            f"truncated header: expected at least 4 bytes (magic, type code, ndim), "
            f"found {len(data)}",
        )
    if data[0] != 0 or data[1] != 0:
        raise IDXError(
            path,
            f"bad magic: an IDX file starts with two zero bytes; got {data[:2].hex(' ')}",
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X} ({np.dtype(t.str[1:]).name})" for c, t in IDX_TYPES.items())
        raise IDXError(path, f"unknown type code 0x{code:02X}; known codes: {known}")
    if ndim == 0:
        raise IDXError(path, "ndim (byte 3) is 0; an IDX array has at least 1 dimension")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXError(
            path,
            f"truncated header: expected {header} bytes (4 + 4 x ndim with ndim = {ndim}), "
            f"found {len(data)}",
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return IDX_TYPES[code], shape, header


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a new array.

    Gzip compression is recognised by the file's first bytes, so a
    ``.gz`` file and its unpacked twin read the same. The result is a
    writable array in native byte order with the shape of the header.

    Raises:
        FileNotFoundError: no file at ``path``.
        IDXError: bad magic, unknown type code, truncated header or data,
            bytes after the data, or a broken gzip stream; the message names
            the file and, for truncation, says how many bytes were expected
            and how many were found.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_idx(f"{tmp}/a.idx", np.arange(6, dtype=np.uint8).reshape(2, 3))
    ...     read_idx(f"{tmp}/a.idx")
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = _check_path(path)
    data = _file_bytes(path)
    file_type, shape, header = _parse_header(path, data)
    count = math.prod(shape)
    expected = count * file_type.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated data" if found < expected else "extra bytes after the data"
        dims = " x ".join(str(s) for s in shape)
        raise IDXError(
            path,
            f"{what}: expected {expected} bytes after the {header}-byte header "
            f"({dims} {np.dtype(file_type.str[1:]).name}), found {found}",
        )
    array = np.frombuffer(data, dtype=file_type, count=count, offset=header)
    return array.astype(file_type.newbyteorder("="), copy=True).reshape(shape)


# -- writing -----------------------------------------------------------------


def _check_array(array: Any) -> tuple[np.ndarray, int]:
    """``array`` as a big-endian C-ordered array, and its IDX type code."""
    array = np.asarray(array)
    code = _CODE_OF.get((array.dtype.kind, array.dtype.itemsize))
    if code is None or array.dtype.kind not in "uif":
        fail(
            "array.dtype",
            f"one of {_TYPE_NAMES} (the types IDX can hold; convert with .astype)",
            array.dtype.name,
        )
    if array.ndim < 1:
        fail("array.ndim", "at least 1 (IDX stores no 0-d arrays)", array.ndim)
    if array.ndim > _MAX_NDIM:
        fail("array.ndim", f"at most {_MAX_NDIM} (ndim is one byte in IDX)", array.ndim)
    if max(array.shape) > _MAX_SIZE:
        fail("array.shape", f"sizes of at most {_MAX_SIZE} (uint32 in IDX)", array.shape)
    return np.ascontiguousarray(array, dtype=IDX_TYPES[code]), code


def _temporary_beside(path: Path) -> tuple[Path, int]:
    """A new file next to ``path`` (same directory, so ``os.replace`` is atomic)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return temporary, os.open(temporary, flags, 0o666)  # the umask applies
        except FileExistsError:
            continue


def write_idx(path: str | os.PathLike[str], array: Any) -> None:
    """Write ``array`` to ``path`` as IDX, gzip-compressed if the name ends in ``.gz``.

    The element type is kept (``uint8``, ``int8``, ``int16``, ``int32``,
    ``float32`` or ``float64``, any byte order); other types raise a
    ``ValueError``, so convert first (``array.astype(np.int32)``). The file
    is written under a temporary name in the same directory and moved into
    place with ``os.replace``, so a reader never sees half a file and an
    interrupted write leaves any old file intact. A gzip file has no name or
    time stamp inside, so equal arrays give equal bytes.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_idx(f"{tmp}/x.idx.gz", np.array([1.5, -2.0]))
    ...     read_idx(f"{tmp}/x.idx.gz")
    array([ 1.5, -2. ])
    """
    path = _check_path(path)
    array, code = _check_array(array)
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    temporary, descriptor = _temporary_beside(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            if _is_gz_name(path):
                with gzip.GzipFile(filename="", mode="wb", fileobj=file, mtime=0) as packed:
                    packed.write(header)
                    packed.write(memoryview(array.reshape(-1)).cast("B"))
            else:
                file.write(header)
                file.write(memoryview(array.reshape(-1)).cast("B"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
