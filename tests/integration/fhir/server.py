"""Run SEKMET, a real FHIR R4 server, on 127.0.0.1 for tests.

SEKMET pins many packages, so it lives in its own virtual environment under the checkout
(``.cache/sekmet-venv``, git-ignored), installed once from ``sekmet-requirements.txt`` and reused
while that file and the Python version are unchanged. Each ``SekmetServer`` is one process with an
in-memory database, so starting a new one is a clean reset.

Used by ``conftest.py`` beside this file; any other test can use it directly::

    with SekmetServer(install_sekmet(), tmp_path) as base_url:
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
REQUIREMENTS = HERE / "sekmet-requirements.txt"
VENV = REPO / ".cache" / "sekmet-venv"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

CONFIG = """\
base_url: {base_url}
host: "127.0.0.1"
port: {port}
db_path: ":memory:"
log_inbound: false
simulator:
  enabled: false
validation:
  inbound: strict
"""


class SekmetUnavailable(Exception):
    """SEKMET could not be installed or started here; the message says why."""


def _stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    return f"python{sys.version_info.major}.{sys.version_info.minor} {digest}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time (parallel test workers share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_sekmet(venv: Path = VENV) -> Path:
    """The ``sekmet`` executable, installing its virtual environment first if missing or stale.

    The stamp file is written last, so an interrupted install is redone from scratch next time.
    """
    executable = venv / "bin" / "sekmet"
    stamp = venv / ".installed"
    with _locked(venv.with_name(venv.name + ".lock")):
        if executable.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == _stamp():
            return executable
        shutil.rmtree(venv, ignore_errors=True)
        for step in (
            [sys.executable, "-m", "venv", str(venv)],
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(REQUIREMENTS),
            ],
        ):
            _run(step)
        if not executable.exists():
            raise SekmetUnavailable(f"installing SEKMET left no {executable}")
        stamp.write_text(_stamp(), encoding="utf-8")
    return executable


def _run(step: list[str]) -> None:
    try:
        done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SekmetUnavailable(f"installing SEKMET failed: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line and not line.startswith("WARNING: Location")]
        tail = " | ".join(lines[-3:]) or f"exit status {done.returncode}"
        raise SekmetUnavailable(f"installing SEKMET from {REQUIREMENTS.name} failed (no network?): {tail}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SekmetServer:
    """One SEKMET process on a free 127.0.0.1 port; ``with`` it to get the FHIR base URL."""

    def __init__(self, executable: Path, workdir: Path, *, extra_config: str = "") -> None:
        self.executable = executable
        self.workdir = workdir
        self.extra_config = extra_config  # more YAML, e.g. a server_auth section
        self.port = 0
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "sekmet.log"

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> str:
        """Start the server (retrying on a port taken in the meantime) and return its base URL."""
        for _ in range(attempts):
            self.port = free_port()
            self.base_url = f"http://127.0.0.1:{self.port}/fhir"
            config = self.workdir / "sekmet.yaml"
            text = CONFIG.format(base_url=self.base_url, port=self.port) + self.extra_config
            config.write_text(text, encoding="utf-8")
            with self._log.open("wb") as log:
                self._process = subprocess.Popen(
                    [str(self.executable), "serve", "-c", str(config)],
                    cwd=self.workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                return self.base_url
            self.stop()
        raise SekmetUnavailable(f"SEKMET did not answer {self.base_url}/metadata; its log: {self.log_tail()}")

    def _wait_ready(self) -> bool:
        return wait_for_metadata(self._process, self.base_url, START_TIMEOUT, poll=0.1)

    def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        process, self._process = self._process, None
        stop_process(process)

    def log_tail(self, lines: int = 5) -> str:
        """The end of the server's log, for failure messages."""
        try:
            text = self._log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def wait_for_metadata(
    process: subprocess.Popen[bytes] | None, base_url: str, timeout: float, *, poll: float = 0.2
) -> bool:
    """Whether a FHIR server answers ``/metadata`` within ``timeout`` (False as soon as it exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is None or process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}/metadata", timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(poll)
    return False


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM a server process, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
