"""Durable file writes: a file is replaced whole or not at all, even across a power cut."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``data`` to ``path``: temp file, fsync, rename over the old file, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
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
    """Create ``path`` (and parents) if missing, make sure it has ``mode``, and make its name durable."""
    existed = path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    os.chmod(path, mode)
    if not existed:
        fsync_directory(path.parent)
