"""Fixtures that run the real SEKMET FHIR server (see server.py).

- ``fhir_server``: the base URL of one server shared by the whole session.
- ``fresh_fhir_server``: the base URL of a new, empty server for one test (isolation).
- ``sekmet_factory``: starts servers with more configuration (``extra_config``), stopped after the test.

If SEKMET cannot be installed or started (no network, wrong Python), every test that needs it is
SKIPPED with the reason, which pytest's ``-ra`` summary prints at the end of the run. Set
``CLINIC_AGENT_REQUIRE_SEKMET=1`` to make that a failure instead (CI with a known-good network).
That decision is taken here, in ``unavailable``, and nowhere else: a test module never catches
``SekmetUnavailable`` itself, it asks these fixtures (or ``installed_sekmet``) for a server.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Loaded under a unique name: "server" alone would clash with other test helpers on sys.path.
_spec = importlib.util.spec_from_file_location("clinic_agent_tests_sekmet", Path(__file__).with_name("server.py"))
if _spec is None or _spec.loader is None:
    raise ImportError("tests/integration/fhir/server.py cannot be loaded")
sekmet = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = sekmet
_spec.loader.exec_module(sekmet)


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CLINIC_AGENT_REQUIRE_SEKMET=1: the one place that decides."""
    message = f"SEKMET FHIR server unavailable, FHIR integration tests cannot run: {reason}"
    if os.environ.get("CLINIC_AGENT_REQUIRE_SEKMET") == "1":
        pytest.fail(message)
    pytest.skip(message)


def start_sekmet(executable: Path, workdir: Path, *, extra_config: str = "") -> Any:  # a sekmet.SekmetServer
    """A started server in ``workdir``; if it does not start, ``unavailable`` decides what that means."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = sekmet.SekmetServer(executable, workdir, extra_config=extra_config)
    try:
        server.start()
    except sekmet.SekmetUnavailable as exc:
        unavailable(str(exc))
    return server


def installed_sekmet() -> Path:
    """The installed ``sekmet`` command; if it cannot be installed, ``unavailable`` decides what that means."""
    try:
        return sekmet.install_sekmet()
    except sekmet.SekmetUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: skip or fail raised


@pytest.fixture(scope="session")
def sekmet_executable() -> Path:
    """The installed ``sekmet`` command (installed once, then reused)."""
    return installed_sekmet()


@pytest.fixture(scope="session")
def fhir_server(sekmet_executable: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/fhir``) of a SEKMET server shared by the session."""
    server = start_sekmet(sekmet_executable, tmp_path_factory.mktemp("sekmet"))
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def fresh_fhir_server(sekmet_executable: Path, tmp_path: Path) -> Iterator[str]:
    """Base URL of a new, empty SEKMET server for this test only."""
    server = start_sekmet(sekmet_executable, tmp_path)
    try:
        yield server.base_url
    finally:
        server.stop()


@pytest.fixture
def sekmet_factory(sekmet_executable: Path, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``start(name, extra_config=YAML)``: the base URL of a new server configured with more YAML
    (``server_auth`` ...), in ``tmp_path/name``; every server it started is stopped after the test."""
    started: list[Any] = []  # sekmet.SekmetServer (a module loaded at run time)

    def start(name: str = "sekmet", *, extra_config: str = "") -> str:
        server = start_sekmet(sekmet_executable, tmp_path / name, extra_config=extra_config)
        started.append(server)
        return str(server.base_url)

    try:
        yield start
    finally:
        for server in started:
            server.stop()
