"""The real daemon for the soaks: a home with an HL7 listener, a doctor working through the local API,
and samples of the process (RSS, open files, threads).

The daemon itself is started, killed and read back with the helpers of
tests/reliability/test_daemon_kill9.py (``start_daemon``, ``Machine``, ``read_store``, ``compare``).
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import ClinicAgentError
from tests.reliability.harness import Ledger
from tests.reliability.test_daemon_kill9 import clinic_agent, free_port
from tests.support import FAST_CONFIG, PASSPHRASE, id_number

NAMES = ("张秀英", "李桂兰", "王建国", "刘德明", "陈淑珍", "杨志强", "赵玉梅", "黄永福")
VILLAGES = ("坝盘村", "龙井村", "石门村", "青山村")
SEARCHES = ("zxy", "张", "lgl", "王建", "ldm", "陈", "139", "yzq")
LEAKED_PER_CALL = 3  # the planted leak: connections to the API opened and never closed, per operation


def daemon_home(root: Path, extra_config: str = "") -> int:
    """A home made by `clinic-agent init --machine-key` with an HL7-over-TCP listener; its port."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.toml").write_text(FAST_CONFIG + extra_config, encoding="utf-8")
    clinic_agent(root, "init", "--machine-key")
    port = free_port()
    clinic_agent(
        root, "devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", f"127.0.0.1:{port}"
    )
    return port


def socket_of(root: Path) -> Path:
    """The daemon's API socket in ``root`` (the default of [api] socket)."""
    return root / "run" / "agent.sock"


@dataclass
class Doctor:
    """A doctor at the PC: registers residents, searches, opens files, edits; notes what was acknowledged.

    An operation counts as acknowledged when the daemon answered it; one cut by a kill is not, and
    its outcome is unknown (the check allows a newer version than the last acknowledged one).
    ``leak`` (a planted fault) opens LEAKED_PER_CALL more connections with every operation and never
    closes them: the daemon's open files grow.
    """

    socket: Path
    rng: random.Random
    ledger: Ledger = field(default_factory=Ledger)
    leak: bool = False
    calls: int = 0
    cut: int = 0  # operations that got no answer (the daemon was killed or restarting)
    errors: list[str] = field(default_factory=list)  # answers that were errors: a bug unless a kill explains it
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    drawn: set[str] = field(default_factory=set)  # every ID number registered or tried: a new one is never among them
    _client: ApiClient | None = None
    _leaked: list[socket.socket] = field(default_factory=list)

    def _connect(self) -> ApiClient:
        if self._client is None:
            client = ApiClient(self.socket, timeout=30).connect()
            try:
                client.session = client.call("auth.passphrase", {"passphrase": PASSPHRASE})["session"]
            except BaseException:
                client.close()
                raise
            self._client = client
        if self.leak:
            for _ in range(LEAKED_PER_CALL):
                self._leaked.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
                self._leaked[-1].connect(str(self.socket))
        return self._client

    def drop(self) -> None:
        """Forget the connection (the daemon went away)."""
        if self._client is not None:
            self._client.close()
        self._client = None

    def close(self) -> None:
        """Close every connection, leaked ones included."""
        self.drop()
        for leaked in self._leaked:
            leaked.close()
        self._leaked.clear()

    def act(self, kind: str | None = None) -> bool:
        """One operation (``kind`` or a drawn one); False when it got no answer."""
        kind = kind or self.rng.choice(("search", "search", "search", "file", "edit", "add", "status"))
        if kind in ("file", "edit") and not self.known:
            kind = "add"
        try:
            client = self._connect()
            self.calls += 1
            if kind == "add":
                made = client.call(
                    "resident.add",
                    {
                        "id_number": self.new_id_number(),
                        "name": self.rng.choice(NAMES),
                        "village": self.rng.choice(VILLAGES),
                    },
                )
                self.known[made["id"]] = made
                self.ledger.residents.add(made["id"])
            elif kind == "search":
                client.call("resident.search", {"text": self.rng.choice(SEARCHES)})
            elif kind == "file":
                client.call("resident.file", {"resident": self.rng.choice(sorted(self.known))})
            elif kind == "edit":
                current = client.call("resident.get", {"resident": self.rng.choice(sorted(self.known))})
                params = {**current, "phone": f"139{self.rng.randint(10**7, 10**8 - 1)}"}
                stored = client.call("resident.update", params)
                self.known[stored["id"]] = stored
                self.ledger.versions[stored["id"]] = max(self.ledger.versions.get(stored["id"], 0), stored["version"])
                self.ledger.edits += 1
            else:
                client.call("status")
        except ClinicAgentError as exc:
            if exc.code in ("daemon_not_running", "daemon_error", "session_expired"):
                self.cut += 1
                self.drop()
                return False
            self.errors.append(f"{kind}: {exc.code}: {exc}")
            return True
        except OSError:
            self.cut += 1
            self.drop()
            return False
        return True

    def new_id_number(self) -> str:
        """An ID number this doctor has not registered or tried before: a redrawn one would be answered,
        rightly, "already registered" (4,000 registrations draw one twice about one run in four)."""
        number = id_number(self.rng)
        while number in self.drawn:
            number = id_number(self.rng)
        self.drawn.add(number)
        return number

    def work(self, stop: threading.Event, pause: tuple[float, float]) -> None:
        """Act until ``stop``, pausing ``pause`` seconds (uniform) between operations."""
        while not stop.is_set():
            if not self.act():
                stop.wait(0.05)
                continue
            stop.wait(self.rng.uniform(*pause))
        self.close()


@dataclass(frozen=True)
class Sample:
    """One look at the daemon's process."""

    at: float
    rss_kib: int
    files: int
    threads: int


def sample(pid: int) -> Sample | None:
    """RSS, open file descriptors and threads of ``pid`` from /proc (None once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        files = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Sample(
        at=time.monotonic(),
        rss_kib=int(values["VmRSS"].split()[0]),
        files=files,
        threads=int(values["Threads"]),
    )
