"""`clinic-agent --version` and `status` load only what they need (issue 13: start-up <= 5x `python -c pass`).

Structural, never timed: each command runs in a fresh interpreter under ``-X importtime`` and the
modules it imported are checked against those a start-up cannot afford (the UI, HTTP, the sync
engine, the store, the model, the keys' cryptography, the decoders, pinyin). When one of these tests
fails, a module-level import has pulled a heavy package back onto the command's path: import it where
it is used instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from clinic_agent.api.framing import FrameDecoder, Oversize, decode_body, encode
from tests.support import new_home

# Never on the way to `status` through the daemon, nor to `--version` or a command's --help.
HEAVY = (
    "textual",
    "rich",
    "pygments",
    "click",
    "httpx",
    "pypinyin",
    "sqlite_utils",
    "cryptography",
    "asyncio",
    "bleak",
    "serial",
    "sync.engine",
    "sync.fhir",
    "drivers.decode",
    "tui",
    "clinic_agent.core.model",
    "clinic_agent.store",
    "clinic_agent.security.keys",
    "clinic_agent.runtime.agent",
    "clinic_agent.api.methods",
    "clinic_agent.api.sync_methods",
    "clinic_agent.api.shapes",  # the contract's TypedDicts: for mypy and the strict checks, not a start-up
)


def _imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "clinic_agent", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_AGENT_")}
    env["CLINIC_AGENT_HOME"] = str(home)
    return env


def test_version_loads_no_command(tmp_path: Path) -> None:
    modules = _imported("--version", env=_environment(tmp_path))
    assert _heavy(modules) == []
    assert not {m for m in modules if m.startswith(("clinic_agent.runtime", "clinic_agent.api", "clinic_agent.cli."))}


def test_a_commands_help_loads_nothing_heavy(tmp_path: Path) -> None:
    # Building the parser loads every command module: their own imports must stay light.
    assert _heavy(_imported("status", "--help", env=_environment(tmp_path))) == []


@pytest.fixture
def fake_daemon(tmp_path: Path) -> Iterator[Path]:
    """A home whose socket answers `status` as the daemon would (the reply's content does not matter here)."""
    home = tmp_path / "h"
    (home / "run").mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(home / "run" / "agent.sock"))
    listener.listen()
    listener.settimeout(60)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed at the end of the test
            with conn:
                decoder = FrameDecoder(max_frame=1 << 20)
                while data := conn.recv(65536):
                    for body in decoder.feed(data):
                        assert not isinstance(body, Oversize)
                        request = decode_body(body)
                        result = {"home": str(home), "locked": False, "daemon": {"running": True, "pid": 1}}
                        conn.sendall(encode({"id": request["id"], "result": result}))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield home
    finally:
        listener.close()
        thread.join(timeout=5)


def test_status_through_the_daemon_loads_no_store_sync_or_ui(fake_daemon: Path) -> None:
    env = _environment(fake_daemon)
    done = subprocess.run(
        [sys.executable, "-m", "clinic_agent", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["daemon"]["running"] is True  # it did go through the (fake) daemon
    assert _heavy(_imported("status", "--json", env=env)) == []


# Without a daemon `status` reads the store at rest in its own process (clinic_agent.runtime.status): the
# counts with the store's own queries (store/counts.py) on a connection of its own, the slots from keys.json
# (security/keyfile.py), sync's part with sync.status. Not the store as a whole, the model, the keys'
# cryptography, the registry's method modules; no socket client where no socket file is. Never the doctor's
# UI, the Bluetooth stack, pypinyin, the decoders, httpx with the rich/pygments/click of its `_main`.
NEVER_FOR_STATUS = (
    "textual",
    "tui",
    "bleak",
    "pypinyin",
    "httpx",
    "rich",
    "pygments",
    "click",
    "sqlite_utils",
    "cryptography",
    "drivers.decode",
    "sync.engine",
    "sync.fhir",  # its codes build on the model
    "sync.service",
    "sync.enrolment",
    "sync.platform",
    "sync.auth",
    "clinic_agent.core.model",
    "clinic_agent.core.rules",  # the alert thresholds agent.toml sets are core/thresholds.py
    "clinic_agent.core.search",
    "clinic_agent.core.idnumber",
    "clinic_agent.security.crypto",  # agent.toml's Argon2id costs are security/kdf.py
    "clinic_agent.security.keys",
    "clinic_agent.store.database",  # the Store: its parts, the model, the keys
    "clinic_agent.store.core",
    "clinic_agent.store.schema",
    "clinic_agent.runtime.agent",
    "clinic_agent.runtime.syncing",
    "clinic_agent.runtime.devices",
    "clinic_agent.api.client",  # no socket file, so no daemon: nothing to connect to
    "socket",
    "clinic_agent.api.methods",
    "clinic_agent.api.sync_methods",
    "clinic_agent.api.file_methods",
    "clinic_agent.api.backup_methods",
    "clinic_agent.api.consult_methods",
    "clinic_agent.api.doctor_methods",
    "clinic_agent.core.plausibility",  # the device profiles: for a typed reading only
    "drivers.profiles",
    "asyncio",  # the worker pools need it only under the daemon's running loop
    "ssl",
    # The parser is built with the module of the command that runs alone (status: cli.commands, which
    # prints sync's part with cli.sync_commands' text functions); the others are names and help.
    "clinic_agent.cli.backup_commands",
    "clinic_agent.cli.consult_commands",
    "clinic_agent.cli.device_commands",
    "clinic_agent.cli.setup_command",
    "clinic_agent.cli.tui_command",
)


def _loaded(*args: str, env: dict[str, str]) -> set[str]:
    """Every module in ``sys.modules`` after the command: the registry imports a method module with
    ``importlib``, which ``-X importtime`` does not report."""
    script = (
        "import json, sys\n"
        "from clinic_agent.cli import main\n"
        f"status = main({list(args)!r})\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stderr.splitlines()[-1]))


def test_status_without_a_daemon_reads_the_store_at_rest_without_the_store_model_or_keys(tmp_path: Path) -> None:
    """Planted faults, each failing this test: ``runtime/status.py`` importing the model at the top;
    ``store/__init__.py`` importing ``Store`` from ``database`` at the top again; ``runtime/config.py``
    taking ``Thresholds`` from ``core.rules``; ``cli/backend.py`` importing the API client before it
    looked for the socket file; ``cmd_status`` opening the store (``LocalBackend``) as other commands do."""
    home = new_home(tmp_path / "h")  # no socket: the command reads the store itself
    modules = _loaded("status", "--json", env=_environment(home.root))
    assert "clinic_agent.store.counts" in modules  # it did read the store in this process
    assert "clinic_agent.runtime.status" in modules
    assert sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in NEVER_FOR_STATUS)) == []


def test_the_registrys_table_of_modules_is_the_modules_own() -> None:
    """One call imports only the module ``registry.DEFINED_IN`` names for it: that table must name every
    method where it is defined, and nothing else."""
    import importlib

    from clinic_agent.api import registry

    for module, names in registry.DEFINED_IN.items():
        assert set(importlib.import_module(module).METHODS) == names, module
    assert {n for names in registry.DEFINED_IN.values() for n in names} == set(registry.operations())
