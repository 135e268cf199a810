"""The audit anchor file stays open between commits, and still follows its path.

Opening it (with O_CREAT) after every commit cost more than the write (issue 13), so the descriptor is
kept. A file removed, or put back by a restore, while the store is open must not leave the anchor
being written into a file no path names: the next commit's head goes into the file at the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from clinic_agent.store.anchor import Anchor, AnchorFile

KEY = b"k" * 32


def test_each_head_is_written_into_the_file_at_the_path_even_after_it_was_replaced_or_removed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clinic.anchor"
    anchors = AnchorFile(path, "store-1")
    try:
        anchors.write(KEY, Anchor(1, b"a" * 32))
        assert anchors.read(KEY) == Anchor(1, b"a" * 32)
        os.rename(path, tmp_path / "kept.anchor")  # a restore moves the file aside and puts another back
        path.write_bytes(b"")
        anchors.write(KEY, Anchor(2, b"b" * 32))
        assert anchors.read(KEY) == Anchor(2, b"b" * 32)
        assert AnchorFile(tmp_path / "kept.anchor", "store-1").read(KEY) == Anchor(1, b"a" * 32)
        path.unlink()
        anchors.write(KEY, Anchor(3, b"c" * 32))
        assert anchors.read(KEY) == Anchor(3, b"c" * 32)
        assert path.stat().st_mode & 0o077 == 0
    finally:
        anchors.close()
    anchors.close()  # twice is harmless
    anchors.write(KEY, Anchor(4, b"d" * 32))  # opened again after a close
    try:
        assert anchors.read(KEY) == Anchor(4, b"d" * 32)
    finally:
        anchors.close()
