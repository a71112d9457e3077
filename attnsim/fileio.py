"""Reading inputs and writing outputs safely; every failure is one line.

Outputs are written atomically: the data goes to a fresh, uniquely named temporary file
in the destination's folder (created with ``O_EXCL``, so a planted symlink is never
followed), is flushed to disk, and then replaces the destination in one ``os.replace``.
A command killed at any moment leaves either the old file or the new one, never a
truncated one. No folder is ever created: a destination whose folder does not exist is
refused, because a typo should not silently create a directory tree.

Inputs are read with a size bound, so a hostile or mistaken path (``/dev/zero``, a
multi-gigabyte file) costs nothing before it is refused.

A foundation module: imports nothing from the project but :mod:`attnsim.errors`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from attnsim.errors import InputFileError, OutputFileError, one_line

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "atomic_output",
    "atomic_write",
    "check_output_path",
    "output_folder",
    "read_input_bytes",
    "read_input_text",
]

#: Default bound on an input file (bytes): far above any real target, workload or
#: measurement file, far below what would hurt the machine.
DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the file name is too long for the file system"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return one_line(exc.strerror or exc)


def check_output_path(path: str | os.PathLike[str], *, option: str = "output") -> Path:
    """``path`` as a :class:`Path` if a file can be written there; otherwise
    :class:`OutputFileError` naming ``option`` (e.g. ``--timeline``) and why."""
    p = Path(path)
    where = f"{option}: {one_line(p)}"
    if str(p) == "" or p.name in ("", ".", ".."):
        raise OutputFileError(f"{where}: not a file name; expected a path to a file")
    if "\x00" in str(p):
        raise OutputFileError(f"{where}: the name contains a NUL byte; expected a file name")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        st = parent.stat()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OutputFileError(
                f"{where}: folder {one_line(parent)} does not exist; create it first "
                "(attnsim never creates folders)"
            ) from None
        raise OutputFileError(f"{where}: {_reason(exc)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OutputFileError(f"{where}: {one_line(parent)} is not a folder")
    if len(p.name.encode()) > 255:
        raise OutputFileError(f"{where}: the file name is longer than 255 bytes")
    if p.is_dir():
        raise OutputFileError(f"{where}: is a folder; expected a file name")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"{where}: folder {one_line(parent)} is not writable")
    return p


def output_folder(path: str | os.PathLike[str], *, option: str = "output folder") -> Path:
    """The folder ``path`` for a command's outputs, created if it is missing.

    Only the named folder is created, never its parents (a typo must not silently create
    a tree); a path that is a file, a missing parent or a folder that cannot be written
    is :class:`OutputFileError` naming ``option``. Files inside go through
    :func:`atomic_write`.
    """
    p = Path(path)
    where = f"{option}: {one_line(p)}"
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputFileError(f"{where}: the folder is not writable")
        return p
    check_output_path(p, option=option)  # parent exists and is writable, name is valid
    try:
        p.mkdir()
    except FileExistsError:
        raise OutputFileError(f"{where}: exists and is not a folder; expected a folder") from None
    except OSError as exc:
        raise OutputFileError(f"{where}: {_reason(exc)}") from None
    return p


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], mode: str = "w", *, option: str = "output", **open_kw: Any
) -> Iterator[IO[Any]]:
    """A file object to write ``path`` through; the destination appears only when the
    ``with`` block ends without an exception (see module docstring)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_output: mode must be 'w' or 'wb', got {mode!r}")
    dest = check_output_path(path, option=option)
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:40]}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputFileError(f"{option}: {one_line(dest)}: {_reason(exc)}") from None
    try:
        if mode == "w":
            open_kw.setdefault("encoding", "utf-8")
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputFileError(f"{option}: {one_line(dest)}: {_reason(exc)}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(
    path: str | os.PathLike[str], data: str | bytes, *, option: str = "output"
) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path written."""
    mode = "wb" if isinstance(data, bytes) else "w"
    with atomic_output(path, mode, option=option) as f:
        f.write(data)
    return Path(path)


def read_input_bytes(
    path: str | os.PathLike[str],
    *,
    what: str = "input",
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> bytes:
    """The bytes of a regular file, at most ``max_bytes``; otherwise
    :class:`InputFileError` saying which file and why (missing, a folder, a device,
    too large, unreadable)."""
    p = Path(path)
    where = f"{one_line(p)}"
    if "\x00" in str(p):
        raise InputFileError(f"{where}: the name contains a NUL byte; expected a {what} file")
    try:
        st = p.stat()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputFileError(
                f"{where}: no such file; expected an existing {what} file"
            ) from None
        raise InputFileError(f"{where}: {_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"{where}: is a folder; expected a {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{where}: not a regular file; expected a {what} file")
    if st.st_size > max_bytes:
        raise InputFileError(
            f"{where}: {st.st_size} bytes is larger than the {max_bytes} bytes a {what} file "
            "may have"
        )
    try:
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise InputFileError(f"{where}: {_reason(exc)}") from None
    if len(data) > max_bytes:
        raise InputFileError(f"{where}: larger than the {max_bytes} bytes a {what} file may have")
    return data


def read_input_text(
    path: str | os.PathLike[str],
    *,
    what: str = "input",
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> str:
    """:func:`read_input_bytes` decoded as UTF-8 (a decoding error is one line too)."""
    data = read_input_bytes(path, what=what, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{one_line(path)}: not UTF-8 text (byte {exc.start}); expected a {what} file"
        ) from None
