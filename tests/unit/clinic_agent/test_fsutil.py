"""Directories and files someone named: what is wrong with them is said, in one line."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from clinic_agent.core import fsutil
from clinic_agent.core.errors import AccessDenied, InvalidInput


def test_a_home_in_the_way_of_a_file_or_under_one_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="is not a directory"):
        fsutil.ensure_private_directory(tmp_path / "file")
    with pytest.raises(InvalidInput, match="cannot be created: Not a directory"):
        fsutil.ensure_private_directory(tmp_path / "file" / "home")


@pytest.mark.parametrize(
    ("error", "expected", "said"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), AccessDenied, "cannot be created: Permission denied"),
        (OSError(errno.EROFS, "Read-only file system"), AccessDenied, "cannot be created: Read-only file system"),
        (FileNotFoundError(errno.ENOENT, "No such file"), InvalidInput, "does not take new directories"),
    ],
)
def test_a_home_that_cannot_be_created_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, expected: type[Exception], said: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(expected, match=said):
        fsutil.ensure_private_directory(tmp_path / "home")


def test_a_home_this_user_may_not_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(AccessDenied, match="not writable"):
        fsutil.ensure_private_directory(tmp_path / "home")


def test_a_named_file_that_never_ends_is_read_only_up_to_the_limit(tmp_path: Path) -> None:
    fifo = tmp_path / "endless"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_for_ever() -> None:  # what /dev/zero does
        with fifo.open("wb") as out:
            while not stop.is_set():
                try:
                    out.write(b"\0" * 65536)
                except BrokenPipeError:
                    return

    writer = threading.Thread(target=write_for_ever, daemon=True)
    writer.start()
    try:
        with pytest.raises(InvalidInput, match=r"--file .* is larger than 4 KiB"):
            fsutil.read_bounded(fifo, 4096, "--file")
    finally:
        stop.set()
        writer.join(5)
    (tmp_path / "short").write_bytes(b"0123456789")
    assert fsutil.read_bounded(tmp_path / "short", 10, "x") == b"0123456789"
    with pytest.raises(InvalidInput, match="cannot read x"):
        fsutil.read_bounded(tmp_path / "missing", 10, "x")
