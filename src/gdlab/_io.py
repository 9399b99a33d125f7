"""Atomic files and directories, output checks, and a lock for one writer at a time.

Every writer goes to a temporary file in the target's directory and then
``os.replace``-s it, so a reader sees the old file or the new one, never half
of one, whatever interrupts the write. An error while writing (a missing or
read-only directory, a full disk) is raised as the ``OSError`` it is, with the
*target* path as its file name, and leaves no temporary file behind.

Directories are written the same way: :func:`staging_dir` makes a hidden
sibling ``.NAME.tmp-<random>`` of the target, the caller fills it, and
:func:`replace_dir` swaps it in with renames (the old tree, if any, is moved to
a hidden backup first, put back if the swap fails, and removed after it).
:func:`check_output_dir` refuses, before anything is written and without
creating anything, an output path that is a file, lies below a file, or sits
in a directory nobody can write (:class:`OutputError`).

A hidden directory that a writer is still using says so: :func:`staging`
holds an exclusive ``flock`` on the staging directory itself (its inode, which
the lock follows when it is renamed into place) for as long as its writer
runs, and :func:`replace_dir` holds one on the old tree while it is a backup.
The kernel drops those locks when their process dies, SIGKILL and the OOM
killer included, so a hidden directory whose lock :func:`claimed` can take was
left by a writer that is gone (:func:`hidden_dirs` finds them by name); one
whose lock is held, or cannot be taken on this file system, is never touched.
:func:`holding` takes the same lock on any directory (waiting a moment for
another holder): what a writer makes only while holding it (the temporary
link of ``latest`` in a tree of reports) and a later holder finds was left by
a writer that is gone.

Locking: :func:`exclusive` holds an exclusive, non-blocking ``fcntl.flock`` on
a lock file (``D/.gdlab.lock`` for a directory ``D``, ``F.lock`` beside a file
``F``) for the duration of a ``with`` block. The file records its holder (pid,
host, start time, command line) as JSON; a second writer gets
:class:`LockedError` at once, naming the path and the holder. The kernel drops
a flock when its holder exits, however it exits, so a lock file left behind by
a killed process does not block anybody: its content is shown, never trusted
for liveness. On leaving the block the lock file is removed (only if it is
still ours) and the lock released. flock is advisory and per machine: it
keeps gdlab processes apart, not other programs; on network file systems it is
only as good as the server's locking.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shlex
import shutil
import socket
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock, and exclusive() locks nothing
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LockedError",
    "NotAnNpz",
    "OutputError",
    "alive",
    "atomic_write",
    "check_output_dir",
    "claimed",
    "exclusive",
    "hidden_dirs",
    "holding",
    "json_text",
    "load_tree",
    "missing_dirs",
    "open_npz",
    "plain",
    "replace_dir",
    "save_tree",
    "staging",
    "staging_dir",
    "write_json",
]

_ARRAY = "__ndarray__"


def _file_mode() -> int:
    """0666 less the process's umask: the mode ``open`` would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` again, as the same kind of ``OSError``, with ``path`` as its file name."""
    if error.errno is None:
        return OSError(f"{path}: {error}")
    try:
        return type(error)(error.errno, error.strerror or os.strerror(error.errno), str(path))
    except Exception:  # an OSError subclass with a constructor of its own
        return OSError(error.errno, error.strerror or os.strerror(error.errno), str(path))


#: Bytes of the target's name a temporary file's name repeats: the rest of it
#: (``.``, mkstemp's 8 random characters, ``.tmp``) must fit too in the 255 bytes
#: a file name may have, so that every name that is legal can be written.
_TEMP_NAME_BYTES = 100


def _temp_prefix(name: str) -> str:
    """``.NAME.`` for a temporary file beside ``NAME``, ``NAME`` cut to fit a file name."""
    short = name.encode("utf-8", "surrogateescape")[:_TEMP_NAME_BYTES]
    return f".{short.decode('utf-8', 'ignore')}."


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then move it to ``path``.

    Raises:
        OSError: the directory cannot be made or written, or the disk is full
            (``ENOSPC``): the same kind of error, naming ``path``; no temporary
            file is left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path.name), suffix=".tmp")
    except OSError as error:
        raise _naming(error, path) from error
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _MODE)  # mkstemp makes it 0600; a report is to be read
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.filename in (None, tmp, str(path)):
            raise _naming(error, path) from error
        raise
    return path


def _not_json(value: Any, where: str = "", *, finite: bool = True) -> tuple[str, Any] | None:
    """Where in ``value`` the first thing JSON cannot hold is, and what it is:
    a number that is not finite (unless ``finite=False``), a key of another type
    than ``json`` takes, or an object of another type."""
    if isinstance(value, str | bool | int | None):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) or not finite else (where, value)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool | None):
                return f"{where}[{key!r}] (its key)", key
            found = _not_json(item, f"{where}[{key!r}]", finite=finite)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _not_json(item, f"{where}[{i}]", finite=finite)
            if found:
                return found
        return None
    return where, value


def json_text(document: Any, what: str, *, indent: int = 2) -> str:
    """``document`` as indented JSON text, or an error naming ``what`` and the bad value.

    Raises:
        ValueError: a number that is not finite (JSON has no NaN or infinity);
            the message names ``what`` and where it is in the document, e.g.
            ``results.json: ['runs'][0]['metrics']['final_loss'] is nan``.
        TypeError: a value of another type than text, numbers, booleans, ``None``,
            dicts, lists and tuples (a ``Path``, a set), named the same way.
    """
    try:
        return json.dumps(document, indent=indent, allow_nan=False) + "\n"
    except (ValueError, TypeError, RecursionError) as error:
        found = _not_json(document)
        if found is None:
            raise ValueError(f"{what}: cannot be written as JSON ({error})") from error
        where, value = found
        if isinstance(value, float):
            raise ValueError(
                f"{what}: {where or 'the document'} is {value!r}; JSON holds finite numbers only"
            ) from None
        raise TypeError(
            f"{what}: {where or 'the document'} is {value!r} ({type(value).__name__}); JSON "
            "holds text, numbers, booleans, null, lists and objects only"
        ) from None


def write_json(path: str | os.PathLike, document: Any) -> Path:
    """Write ``document`` as indented JSON, atomically.

    Raises:
        ValueError, TypeError: before anything is written, when ``document`` holds
            what JSON cannot (NaN, infinities, other types: see :func:`json_text`).
    """
    text = json_text(document, str(path))
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def _split(tree: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``tree`` with every array replaced by a reference into ``arrays``."""
    if isinstance(tree, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = tree
        return {_ARRAY: name}
    if isinstance(tree, dict):
        return {str(k): _split(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list | tuple):
        return [_split(v, arrays) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join(tree: Any, data: Any) -> Any:
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY}:
            return np.array(data[tree[_ARRAY]])
        return {k: _join(v, data) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, data) for v in tree]
    return tree


def save_tree(path: str | os.PathLike, tree: Any) -> Path:
    """Save nested dicts and lists of plain values and arrays to an ``.npz``, atomically.

    Arrays keep their dtype and shape exactly; the rest goes into a JSON
    document stored beside them (tuples come back as lists).

    Raises:
        ValueError: before anything is written, for an array of Python objects
            (``dtype=object``), which :func:`load_tree` could not read back.
    """
    arrays: dict[str, np.ndarray] = {}
    skeleton = json.dumps(_split(tree, arrays), allow_nan=True)
    for array in arrays.values():
        if array.dtype.hasobject:
            raise ValueError(
                f"{path}: cannot save an array of Python objects (dtype {array.dtype}, shape "
                f"{array.shape}); a checkpoint holds arrays of numbers, booleans or text"
            )
    return atomic_write(path, lambda fh: np.savez(fh, __tree__=np.array(skeleton), **arrays))


def unsavable(tree: Any) -> tuple[str, Any] | None:
    """Where in ``tree`` the first value :func:`save_tree` cannot write is, and what
    it is (a Python function, a set, an object), e.g. ``("['lr']['lr_lambda']",
    <function …>)``; ``None`` when it can write the whole tree. Writes nothing."""
    return _not_json(_split(tree, {}), finite=False)


#: How an ``.npz`` (a zip archive, or an empty one) and an ``.npy`` file begin.
_NPY_MAGIC = b"\x93NUMPY"
_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", _NPY_MAGIC)

#: What reading a damaged ``.npz`` raises: truncated (``BadZipFile``, ``EOFError``), a
#: member that does not inflate (``zlib.error``) or parse (``ValueError``), or is missing.
_NPZ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, ValueError, KeyError)


class NotAnNpz(ValueError):
    """:func:`open_npz`'s error: its text names the file (``"PATH is not WHAT (WHY)"``),
    ``why`` is the reason alone, for a caller with its own wording (optimizer files)."""

    def __init__(self, path: Path, what: str, why: str) -> None:
        super().__init__(f"{path} is not {what} ({why})")
        self.why = why


@contextlib.contextmanager
def open_npz(path: str | os.PathLike, what: str = "an .npz archive") -> Iterator[Any]:
    """``numpy.load(path)`` of an ``.npz`` (no pickles) for a ``with`` block.

    A damaged file (truncated, empty, one ``.npy`` array, a member that does
    not read), found on opening or while the block reads it, raises
    :class:`NotAnNpz` (a ``ValueError``) naming ``path``: ``"PATH is not WHAT
    (BadZipFile: …)"``; a file that is no archive at all (text, one ``.npy``
    array) says so, text by its first bytes, never with NumPy's advice to load
    it as a pickle. The one check of what an ``.npz`` is: checkpoints, series
    files and optimizer files (:func:`gdlab.optim.io.read_state`) read through it.

    Raises:
        FileNotFoundError: there is no such file.
        NotAnNpz: as above.
    """
    path = Path(path)
    with contextlib.suppress(OSError), path.open("rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
        # NumPy would read anything else as a pickle and advise loading it unsafely
        if not head:
            raise NotAnNpz(path, what, "it is empty")
        if not any(magic.startswith(head[: len(magic)]) for magic in _MAGICS):
            raise NotAnNpz(path, what, f"it is not an .npz archive: it starts {head!r}")
    try:
        data = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as error:
        raise NotAnNpz(path, what, f"{type(error).__name__}: {error}") from error
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise NotAnNpz(path, what, "it is not an .npz archive: it holds one .npy array")
    with data:
        try:
            yield data
        except _NPZ_ERRORS as error:
            raise NotAnNpz(path, what, f"{type(error).__name__}: {error}") from error


def load_tree(path: str | os.PathLike) -> Any:
    """Read what :func:`save_tree` wrote.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: if the file is not such a tree (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with open_npz(path, "a gdlab checkpoint") as data:
            skeleton = json.loads(str(data["__tree__"]))
            return _join(skeleton, data)
    except OSError as error:
        raise ValueError(f"{path} is not a gdlab checkpoint ({error})") from error


# --------------------------------------------------------------------------- output paths


class OutputError(ValueError):
    """An output path that cannot be written: a file, below a file, read-only."""


def missing_dirs(path: str | os.PathLike) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first: what a
    run that creates ``path`` made, and removes again (empty) when it fails."""
    missing = []
    absolute = Path(path).absolute()
    for p in (absolute, *absolute.parents):
        if p.exists() or p.is_symlink():
            break
        missing.append(p)
    return missing


def _nearest_existing(path: Path) -> Path:
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        path = path.parent
    return path


def _can_create_in(directory: Path) -> bool:
    """Whether a file can be created in ``directory`` (tried: root ignores modes, not ro mounts)."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".gdlab-probe-")
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def check_output_dir(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path`` if it can be (made and) written as an output directory.

    Creates nothing (a probe file is made and removed at once): the directory
    and its parents are made later, by the writer. Both the path (or its nearest
    existing ancestor) and its parent's nearest existing ancestor, where
    :func:`staging_dir` works, must take new files.

    Raises:
        OutputError: ``path`` is an existing non-directory (a file, ``/dev/null``),
            lies below a file, or would be made in a directory that cannot be
            written; the one-line message names ``path``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} cannot be an output directory: it exists and is not a directory")
    absolute = path.absolute()
    checked: set[Path] = set()
    for start in (absolute, absolute.parent):
        ancestor = _nearest_existing(start)
        if ancestor in checked:
            continue
        checked.add(ancestor)
        if not ancestor.is_dir():
            raise OutputError(
                f"{path} cannot be an output directory: {ancestor} is a file, not a directory"
            )
        if not _can_create_in(ancestor):
            raise OutputError(f"{path} cannot be an output directory: {ancestor} is not writable")
    return path


def staging_dir(target: str | os.PathLike) -> Path:
    """A new, empty hidden sibling ``.NAME.tmp-<random>`` of ``target`` (parents made).

    It is not marked as in use: a writer that a later run must not take for a
    killed one uses :func:`staging`.
    """
    target = Path(target)
    tries = _STAGING_TRIES
    while True:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
        except FileNotFoundError:
            # The parent, empty, was removed in between by a run that had made it and
            # stopped (it removes the directories it made): made again.
            tries -= 1
            if not tries:
                raise


_LOCK_NAME = ".gdlab.lock"

#: What ``mkdtemp`` and ``mkstemp`` put in a name: 8 of these characters.
_RANDOM = "[a-z0-9_]{8}"
_STAGING_TAG, _BACKUP_TAG = ".tmp-", ".old-"

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC


def _names_dir(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the directory open as ``fd`` (not a link, not removed
    or replaced by another)."""
    try:
        on_disk, held = os.lstat(path), os.fstat(fd)
    except OSError:
        return False
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _lock_dir(path: Path) -> tuple[int | None, bool]:
    """``(fd, busy)``: the directory ``path`` open and exclusively flocked, or ``None``
    with ``busy`` true when another open file holds its lock, or it is gone or
    replaced meanwhile, and false when it cannot be locked here (no ``fcntl``, a file
    system without locks, a link)."""
    if fcntl is None:
        return None, False
    try:
        fd = os.open(path, _DIR_FLAGS | _NOFOLLOW)
    except FileNotFoundError:
        return None, True
    except OSError:
        return None, False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None, True
    except OSError:  # ENOLCK, EOPNOTSUPP, EBADF (NFS): no lock here
        os.close(fd)
        return None, False
    except BaseException:
        os.close(fd)
        raise
    if not _names_dir(fd, path):
        os.close(fd)
        return None, True
    return fd, False


#: How many fresh staging directories :func:`staging` makes before giving up, each
#: taken by another process's recovery before this one could lock it.
_STAGING_TRIES = 100


@contextlib.contextmanager
def staging(target: str | os.PathLike) -> Iterator[Path]:
    """A new, empty hidden sibling ``.NAME.tmp-<random>`` of ``target`` (parents made),
    marked as in use for the ``with`` block.

    The mark is an exclusive ``flock`` on the directory, held until the block
    ends, wherever the directory was renamed meanwhile (into place: the caller
    renames it before leaving the block, or removes it). A process that dies
    drops it, so another finds the directory with :func:`claimed` as a killed
    writer's. Nothing is removed on leaving the block. Where no lock can be
    taken (Windows, a file system without locks) the directory is unmarked,
    and :func:`claimed` never takes it either.

    Raises:
        OSError: the directory cannot be made (naming ``target``).
    """
    target = Path(target)
    for _ in range(_STAGING_TRIES):
        try:
            staged = staging_dir(target)
        except OSError as error:
            raise _naming(error, target) from error
        fd, busy = _lock_dir(staged)
        if fd is not None or not busy:
            break
        # Another process took it for a killed writer's in the moment before our
        # lock (it is empty: that process removes it). Another name.
    else:
        raise OSError(errno.EAGAIN, "no staging directory could be kept", str(target))
    try:
        yield staged
    finally:
        if fd is not None:
            os.close(fd)


def hidden_dirs(parent: str | os.PathLike, name: str) -> tuple[list[Path], list[Path]]:
    """``(staged, backups)``: the directories in ``parent`` named as :func:`staging`
    (``.NAME.tmp-<random>``) and :func:`replace_dir` (``.NAME.old-<random>``) name
    them for a target whose name matches the regular expression ``name``; in
    use or not (see :func:`claimed`), links left out, each list sorted."""
    staged = re.compile(rf"\.({name}){re.escape(_STAGING_TAG)}{_RANDOM}\Z")
    backup = re.compile(rf"\.({name}){re.escape(_BACKUP_TAG)}{_RANDOM}\Z")
    found: tuple[list[Path], list[Path]] = ([], [])
    try:  # what cannot be listed (missing, unreadable) holds none that can be found
        entries = list(os.scandir(parent))
    except OSError:
        return found
    for entry in entries:
        for pattern, kept in zip((staged, backup), found, strict=True):
            if pattern.match(entry.name) and _is_real_dir(entry):
                kept.append(Path(entry.path))
    return sorted(found[0]), sorted(found[1])


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


@contextlib.contextmanager
def claimed(path: str | os.PathLike) -> Iterator[bool]:
    """Whether the writer of the hidden directory ``path`` is gone, for a ``with`` block.

    Yields ``True`` holding the directory's lock: no live :func:`staging` or
    :func:`replace_dir` holds it, and no other process can take it until the
    block ends, so the block may move or remove ``path``. Yields ``False``, and
    the block must leave ``path`` alone, when a live process holds it (its
    writer, or another process recovering it), when ``path`` is gone or was
    replaced, is a link, or cannot be locked on this file system: :func:`holding`,
    without waiting.
    """
    with holding(path, wait=0) as held:
        yield held


#: How long :func:`holding` waits for another process's lock of a directory.
HOLD_WAIT = 5.0


@contextlib.contextmanager
def holding(directory: str | os.PathLike, *, wait: float | None = None) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on the directory ``directory`` itself for a ``with`` block.

    Yields ``True`` holding it: no other process (nor another open file of this
    one) holds it until the block ends. Waits up to ``wait`` seconds
    (default :data:`HOLD_WAIT`) for another holder; yields ``False``, holding
    nothing, when it is still held then, or cannot be locked here (no
    ``fcntl``, a file system without locks, a link, a missing directory). A
    killed holder's lock is dropped by the kernel, so what only a holder
    makes, found by the next holder, was left by a process that is gone.
    """
    limit = time.monotonic() + (HOLD_WAIT if wait is None else wait)
    while True:
        fd, busy = _lock_dir(Path(directory))
        if fd is not None or not busy or time.monotonic() >= limit:
            break
        if not os.path.isdir(directory):  # gone: nothing to wait for
            break
        time.sleep(0.01)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def replace_dir(staged: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Move the fully written directory ``staged`` (a sibling of ``target``) to ``target``.

    Without a ``target`` this is one ``os.rename``. Otherwise the old tree is
    renamed to a hidden backup, ``staged`` to ``target``, and the backup is
    removed; if the second rename fails the backup is put back. A reader sees
    the old tree or the new one, and for a moment none. The backup is locked
    as :func:`staging` locks a staging directory, so that a swap cut short by
    a kill leaves a backup that :func:`claimed` takes. A lock of
    :func:`exclusive` held on ``target`` (its ``.gdlab.lock``) stays held: the
    lock file is hard-linked into the new tree before the swap.
    """
    staged, target = Path(staged), Path(target)
    if not (target.exists() or target.is_symlink()):
        os.rename(staged, target)
        return target
    lock = target / _LOCK_NAME
    if lock.exists() and not (staged / _LOCK_NAME).exists():
        with contextlib.suppress(OSError):
            os.link(lock, staged / _LOCK_NAME)
    backup = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}{_BACKUP_TAG}"))
    backup.rmdir()  # only its name was wanted: rename needs a free name (or an empty dir)
    # The old tree is locked while it is a backup: a process killed during the swap
    # leaves a backup that a later run can tell from a live one's (claimed()).
    old, _ = _lock_dir(target)
    try:
        os.rename(target, backup)
        try:
            os.rename(staged, target)
        except BaseException:
            os.rename(backup, target)
            raise
        shutil.rmtree(backup, ignore_errors=True)
    finally:
        if old is not None:
            os.close(old)
    return target


# --------------------------------------------------------------------------- the lock


class LockedError(RuntimeError):
    """Another process holds the lock of an output (see :func:`exclusive`)."""


def alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (this one too; unknown: assumed to run)."""
    if os.name != "posix":  # os.kill(pid, 0) would end it
        return True
    if pid == os.getpid():  # another thread of this one may be writing
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):  # no such pid can be
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    return True


def _lock_file(path: Path, directory: bool | None) -> Path:
    if directory is None:
        directory = path.is_dir()
    return path / _LOCK_NAME if directory else path.with_name(path.name + ".lock")


def _holder() -> bytes:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "argv": argv,
        }
    ).encode()


def _describe_holder(fd: int) -> str:
    """What the lock file says about its holder, in a few words."""
    try:
        holder = json.loads(os.pread(fd, 65536, 0))
        argv = holder.get("argv") or []
        command = shlex.join(str(a) for a in argv) if isinstance(argv, list) else str(argv)
        return f"pid {holder['pid']} on {holder['host']}, since {holder['since']}: {command}"
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return "holder unknown: its lock file is being written"


def _same_file(fd: int, lock: Path) -> bool:
    """Whether ``lock`` still names the file open as ``fd`` (not unlinked or replaced)."""
    try:
        on_disk, held = os.stat(lock), os.fstat(fd)
    except OSError:
        return False
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _acquire(path: Path, lock: Path, what: str) -> int:
    """Open ``lock`` and flock it, or raise :class:`LockedError`; returns the fd."""
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _naming(error, path) from error
    while True:
        try:
            # never through a link: a lock file is truncated and written
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW, _MODE)
        except OSError as error:
            if lock.is_symlink():  # a bad output, as a file at DIR is: not a failed disk
                raise OutputError(
                    f"{lock} is a symbolic link, not a gdlab lock file (remove it)"
                ) from error
            raise _naming(error, path) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(fd)
            os.close(fd)
            raise LockedError(
                f"{path} is in use by another gdlab process ({holder}); "
                f"wait for it to finish or choose another {what}"
            ) from None
        except OSError as error:  # a file system without locks (ENOLCK, EOPNOTSUPP)
            os.close(fd)
            raise _naming(error, path) from error
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, lock):
            return fd
        # The holder released and removed the file between our open and flock:
        # a lock on an unlinked file keeps nobody out. Try the new file.
        os.close(fd)


@contextlib.contextmanager
def exclusive(
    path: str | os.PathLike, *, what: str = "output", directory: bool | None = None
) -> Iterator[Path]:
    """Hold the exclusive lock of ``path`` for the ``with`` block; yields the lock file.

    The lock file is ``path/.gdlab.lock`` for a directory and ``path.lock``
    beside anything else; ``directory=True`` asks for the first even where the
    directory does not exist yet (it is then made, so that a first run and a
    later one lock the same file). The lock is non-blocking: a path locked by
    another process (or another ``exclusive`` in this one) raises at once.

    Args:
        path: the output to keep to one writer.
        what: how the error's advice names the output, e.g. ``"--out"``.
        directory: whether ``path`` is a directory; default: whether it is one now.

    Raises:
        LockedError: another process holds it; the message names ``path`` and
            the holder (pid, host, start time, command line).
        OutputError: the lock file is a symbolic link (never written through).
        OSError: the lock file cannot be made (naming ``path``).
    """
    path = Path(path)
    lock = _lock_file(path, directory)
    if fcntl is None:
        yield lock
        return
    fd = _acquire(path, lock, what)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder(), 0)
        yield lock
    finally:
        # Unlinked while held, so nobody opens the old file after we let go.
        if _same_file(fd, lock):
            with contextlib.suppress(OSError):
                os.unlink(lock)
        os.close(fd)  # closing the last descriptor releases the flock


# --------------------------------------------------------------------------- plain data


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: arrays to lists, NumPy scalars to numbers, and a
    number that is not finite (NaN, ±inf: Python's, NumPy's, in an array) to ``None``."""
    if isinstance(value, np.ndarray):
        values = value.tolist()
        if value.dtype.hasobject or (value.dtype.kind in "fc" and not np.isfinite(value).all()):
            return plain(values)
        return values
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
