"""The audit chain's head, anchored outside the database, so that a cut tail shows.

The chain's MACs show any entry changed, inserted, reordered or removed from the middle; removing
entries from the *end* leaves a shorter chain that is just as valid. So after every commit that
appended to the chain, its head (sequence number and MAC) is written to ``audit.anchor`` beside the
database, MACed under the audit key. A database whose chain is shorter than its anchor, or whose
entry at the anchored sequence number is not the anchored one, has lost entries (cut, or the whole
file rolled back), and the agent says so, naming the last entry that still checks out.

The file has two fixed-size slots written in turn with one ``pwrite`` each (no fsync: the commit
before it already is durable; the file stays open between commits); the valid slot with the higher
sequence number counts. A torn or lost write leaves the other slot, so after a crash or power cut
the anchor may lag the chain but never leads it. What it cannot see: the database and the anchor
file rolled back together to an older copy; for that the head is also anchored on the platform at
each sync.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from clinic_agent.security import crypto

_MAGIC = b"CAANCHR1"
_SLOT = struct.Struct(">8sQ32s32s")  # magic, seq, head MAC, anchor MAC
_SLOT_SIZE = 128


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last audit entry known to have been written."""

    seq: int
    mac: bytes


def _anchor_mac(key: bytes, store_id: str, seq: int, head: bytes) -> bytes:
    return crypto.mac(key, b"clinic-agent audit anchor v1\x1f" + store_id.encode() + struct.pack(">Q", seq) + head)


class AnchorFile:
    """``audit.anchor`` of one store."""

    def __init__(self, path: Path, store_id: str) -> None:
        self.path = path
        self._store_id = store_id
        self._fd: int | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file the descriptor is open on

    def write(self, key: bytes, anchor: Anchor) -> None:
        """Record a new head (best effort: a failure here is seen as a lagging anchor later)."""
        self.put(self.slot(key, anchor))

    def slot(self, key: bytes, anchor: Anchor) -> tuple[int, bytes]:
        """Where and what ``write`` writes for this head: worked out before the commit that makes it the
        head, so that only the write itself follows the commit's fsync (issue 13)."""
        tag = _anchor_mac(key, self._store_id, anchor.seq, anchor.mac)
        return (anchor.seq % 2) * _SLOT_SIZE, _SLOT.pack(_MAGIC, anchor.seq, anchor.mac, tag).ljust(_SLOT_SIZE, b"\0")

    def put(self, slot: tuple[int, bytes]) -> None:
        """Write a slot made by ``slot`` (best effort, as ``write``)."""
        offset, data = slot
        with contextlib.suppress(OSError):
            os.pwrite(self._opened(), data, offset)

    def _opened(self) -> int:
        """The file, kept open between commits (an open that may create it cost more than the write, after
        every commit); opened again when the path no longer names it (removed, or put back by a restore)."""
        if self._fd is not None:
            try:
                found = os.stat(self.path)
                if (found.st_dev, found.st_ino) == self._file:
                    return self._fd
            except OSError:
                pass
            self.close()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        opened = os.fstat(fd)
        self._fd, self._file = fd, (opened.st_dev, opened.st_ino)
        return fd

    def close(self) -> None:
        """Close the file if it is open (the next write opens it again)."""
        fd, self._fd, self._file = self._fd, None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def read(self, key: bytes) -> Anchor | None:
        """The anchored head; None when there is no file or no slot that checks out."""
        try:
            data = self.path.read_bytes()[: 2 * _SLOT_SIZE]
        except FileNotFoundError:
            return None
        best: Anchor | None = None
        for offset in (0, _SLOT_SIZE):
            chunk = data[offset : offset + _SLOT.size]
            if len(chunk) < _SLOT.size:
                continue
            magic, seq, head, tag = _SLOT.unpack(chunk)
            if magic != _MAGIC or not hmac.compare_digest(tag, _anchor_mac(key, self._store_id, seq, head)):
                continue
            if best is None or seq > best.seq:
                best = Anchor(seq, head)
        return best

    def exists(self) -> bool:
        """Whether the file is there at all."""
        return self.path.exists()
