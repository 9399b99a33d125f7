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
from typing import Any, BinaryIO

import numpy as np

from gdlab._checks import check_int, fail

__all__ = ["IDX_TYPES", "MAX_BYTES", "IDXError", "read_idx", "write_idx"]

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

#: The largest payload :func:`read_idx` accepts by default (1 GiB; MNIST's
#: training images are 47 MB). A header that declares more is refused before
#: anything is read or decompressed.
MAX_BYTES = 2**30

_CHUNK = 2**20  # bytes read at a time when counting what follows the data


def _numpy_max_ndim() -> int:
    """The most dimensions a NumPy array may have here (32 before NumPy 2, 64 since)."""
    for ndim in (64, 32):
        try:
            np.empty((1,) * ndim, dtype=np.uint8)
        except ValueError:
            continue
        return ndim
    return 32  # pragma: no cover - no NumPy has fewer


_NUMPY_MAX_NDIM = _numpy_max_ndim()


class _Reader:
    """Bytes from a plain or gzip file, read as needed, with gzip errors naming the file."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self.packed = file.read(2) == _GZIP_MAGIC
        file.seek(0)
        self.size = None if self.packed else os.fstat(file.fileno()).st_size
        self.stream: BinaryIO = gzip.GzipFile(fileobj=file, mode="rb") if self.packed else file

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the data)."""
        try:
            return self.stream.read(n)
        except EOFError:
            raise IDXError(
                self.path, "truncated gzip stream (the download may be incomplete)"
            ) from None
        except (OSError, zlib.error) as error:
            raise IDXError(self.path, f"corrupt gzip stream ({error})") from None

    def read_into(self, buffer: bytearray) -> int:
        """Fill ``buffer`` from the stream; return how many bytes came."""
        view, filled = memoryview(buffer), 0
        while filled < len(buffer):
            chunk = self.read(min(len(buffer) - filled, _CHUNK * 16))
            if not chunk:
                break
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        return filled

    def count_rest(self, limit: int) -> tuple[int, bool]:
        """Bytes left (plain files: exact; gzip: counted up to ``limit``), and whether exact."""
        if self.size is not None:
            return self.size - self.stream.tell(), True
        rest = 0
        while rest <= limit:
            chunk = self.read(_CHUNK)
            if not chunk:
                return rest, True
            rest += len(chunk)
        return rest, False


def _parse_header(path: Path, reader: _Reader) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(file element type, shape, header length)`` read from the start of the stream."""
    data = reader.read(4)
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
    sizes = reader.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise IDXError(
            path,
            f"truncated header: expected {header} bytes (4 + 4 x ndim with ndim = {ndim}), "
            f"found {4 + len(sizes)}",
        )
    if ndim > _NUMPY_MAX_NDIM:
        raise IDXError(
            path,
            f"ndim (byte 3) is {ndim}; NumPy arrays have at most {_NUMPY_MAX_NDIM} dimensions",
        )
    shape = tuple(int(s) for s in np.frombuffer(sizes, dtype=">u4", count=ndim))
    file_type = IDX_TYPES[code]
    # NumPy refuses a shape whose sizes multiply past its index type, even with a size 0
    if math.prod(s for s in shape if s) * file_type.itemsize > np.iinfo(np.intp).max:
        raise IDXError(
            path,
            f"the sizes {' x '.join(str(s) for s in shape)} are too large for a NumPy array "
            "(a damaged header?)",
        )
    return file_type, shape, header


def _describe(shape: tuple[int, ...], file_type: np.dtype) -> str:
    return " x ".join(str(s) for s in shape) + " " + np.dtype(file_type.str[1:]).name


def _read_payload(
    path: Path,
    reader: _Reader,
    file_type: np.dtype,
    shape: tuple[int, ...],
    header: int,
    max_bytes: int,
) -> bytearray:
    """The ``prod(shape)`` elements after the header, exactly; anything more or less raises."""
    expected = math.prod(shape) * file_type.itemsize
    what = f"after the {header}-byte header ({_describe(shape, file_type)})"
    if expected > max_bytes:
        raise IDXError(
            path,
            f"the header declares {expected} bytes of data {what}, more than the limit of "
            f"{max_bytes} bytes (pass max_bytes to read larger files)",
        )
    data = bytearray(expected)
    found = reader.read_into(data)
    if found < expected:
        raise IDXError(path, f"truncated data: expected {expected} bytes {what}, found {found}")
    rest, exact = reader.count_rest(_CHUNK)
    if rest:
        count = f"{expected + rest}" if exact else f"more than {expected + rest}"
        raise IDXError(
            path, f"extra bytes after the data: expected {expected} bytes {what}, found {count}"
        )
    return data


def read_idx(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a new array.

    Gzip compression is recognised by the file's first bytes, so a
    ``.gz`` file and its unpacked twin read the same. The file is read as a
    stream: the header first, then exactly the bytes it declares, so a
    compressed file is never unpacked further than its data (a gzip "bomb"
    stops at the declared size, and a header declaring more than
    ``max_bytes`` is refused before any data is read). The result is a
    writable array in native byte order with the shape of the header.

    Args:
        path: the file.
        max_bytes: the largest data size accepted, in bytes (default
            :data:`MAX_BYTES`, 1 GiB).

    Raises:
        FileNotFoundError: no file at ``path``.
        IDXError: bad magic, unknown type code, too many dimensions for
            NumPy, a declared size above ``max_bytes``, truncated header or
            data, bytes after the data, or a broken gzip stream; the message
            names the file and, for truncation, says how many bytes were
            expected and how many were found.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_idx(f"{tmp}/a.idx", np.arange(6, dtype=np.uint8).reshape(2, 3))
    ...     read_idx(f"{tmp}/a.idx")
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = _check_path(path)
    max_bytes = check_int("max_bytes", max_bytes, low=0)
    try:
        file = path.open("rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"IDX file not found: {str(path)!r}") from None
    with file:
        reader = _Reader(path, file)
        file_type, shape, header = _parse_header(path, reader)
        data = _read_payload(path, reader, file_type, shape, header, max_bytes)
    array = np.frombuffer(data, dtype=file_type)  # writable: it views the bytearray
    if not file_type.isnative:
        array = array.byteswap(inplace=True).view(file_type.newbyteorder("="))
    return array.reshape(shape)


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
        except (FileNotFoundError, NotADirectoryError) as error:  # name the file asked for
            raise type(error)(
                error.errno, f"cannot write {str(path)!r}: no directory {str(path.parent)!r}"
            ) from None


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
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"IDX path is a directory: {str(path)!r}")
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
