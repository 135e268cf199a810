"""Run a second FHIR R4 server of another implementation for tests: Medplum's FHIR router (npm).

``@medplum/fhir-router`` is the request handling of the Medplum server (TypeScript): CRUD,
conditional create and update, search, history, batch and transaction Bundles, over its in-memory
repository. ``medplum/serve.mjs`` puts node's HTTP server in front of it. The packages (pinned in
``medplum/package.json``) are installed once with npm into ``.cache/medplum-fhir`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "medplum"
REPO = HERE.parents[2]
CACHE = REPO / ".cache" / "medplum-fhir"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0


class MedplumUnavailable(Exception):
    """The second server could not be installed or started here; the message says why."""


def _stamp() -> str:
    return hashlib.sha256((SOURCE / "package.json").read_bytes() + (SOURCE / "serve.mjs").read_bytes()).hexdigest()


def install() -> Path:
    """The directory holding serve.mjs and its node_modules, installing them first if missing or stale."""
    from tests.integration.fhir.server import _locked  # one installer at a time

    stamp = CACHE / ".installed"
    with _locked(CACHE.with_name(CACHE.name + ".lock")):
        if stamp.exists() and stamp.read_text(encoding="utf-8") == _stamp():
            return CACHE
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise MedplumUnavailable("node and npm are needed (Debian packages nodejs and npm)")
        shutil.rmtree(CACHE, ignore_errors=True)
        CACHE.mkdir(parents=True)
        for name in ("package.json", "serve.mjs"):
            shutil.copy(SOURCE / name, CACHE / name)
        try:
            done = subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
                cwd=CACHE,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MedplumUnavailable(f"npm install failed: {exc}") from exc
        if done.returncode != 0:
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise MedplumUnavailable(f"npm install of the Medplum FHIR router failed (no network?): {tail}")
        stamp.write_text(_stamp(), encoding="utf-8")
    return CACHE


class MedplumServer:
    """One node process serving FHIR on a free 127.0.0.1 port (an empty in-memory store)."""

    def __init__(self, directory: Path, workdir: Path) -> None:
        self.directory = directory
        self.workdir = workdir
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "medplum.log"

    def start(self, attempts: int = 3) -> str:
        from tests.integration.fhir.server import free_port

        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}/fhir"
            with self._log.open("wb") as log:
                self._process = subprocess.Popen(
                    ["node", "serve.mjs", str(port)], cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_ready():
                return self.base_url
            self.stop()
        tail = self._log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise MedplumUnavailable(f"the Medplum FHIR router did not answer {self.base_url}/metadata: {tail}")

    def _wait_ready(self) -> bool:
        from tests.integration.fhir.server import wait_for_metadata

        return wait_for_metadata(self._process, self.base_url, START_TIMEOUT)

    def stop(self) -> None:
        from tests.integration.fhir.server import stop_process

        process, self._process = self._process, None
        stop_process(process)
