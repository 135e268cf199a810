"""Files: durable writes (replaced whole or not at all, even across a power cut), bounded reads."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from clinic_agent.core.errors import AccessDenied, InvalidInput

KIB = 1024
MIB = 1024 * KIB


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write ``data`` to ``path``: temp file, fsync, rename over the old file, fsync the directory.

    ``owner`` (uid, gid) is given to the new file before it takes the name, so root editing a file
    another user must read never leaves it root's, not even for a moment."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_directory(path.parent)


def ensure_private_directory(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (and parents) if missing, make sure it has ``mode``, and make its name durable.

    A path that cannot be such a directory is refused saying why: InvalidInput when it names no
    directory this PC can have (a file is in the way, a parent that is not a directory, /proc/x),
    AccessDenied when this user may not create, change or write it (or the disk is read-only).
    """
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} is not a directory (a file of that name is in the way)")
    existed = path.is_dir()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=mode)
        os.chmod(path, mode)
    except OSError as exc:
        doing = f"made private (mode {mode:o})" if existed else "created"
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT and path.parent.is_dir():
            reason = f"{path.parent} does not take new directories"  # /proc, /sys and the like
        message = f"the directory {path} cannot be {doing}: {reason}"
        if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            raise AccessDenied(message) from None
        raise InvalidInput(message) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise AccessDenied(f"the directory {path} is not writable by this user")
    if not existed:
        fsync_directory(path.parent)


def read_bounded(path: str | Path, limit: int, what: str) -> bytes:
    """Read a file someone named (``what``: "--file", "the passphrase file"), at most ``limit`` bytes.

    A device that never ends (/dev/zero, /dev/urandom) or a file far larger than its use allows is
    refused after ``limit`` bytes instead of being read into memory for ever.
    """
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InvalidInput(f"{what} {path} is larger than {_size(limit)}; is it the right file?")
    return data


def _size(limit: int) -> str:
    if limit % MIB == 0:
        return f"{limit // MIB} MiB"
    return f"{limit // KIB} KiB" if limit % KIB == 0 else f"{limit} bytes"
