"""`clinic-agent setup` enrols with a proven round trip: the clinic's Organization written to the real
FHIR server and read back the same; a platform that answers 200 with something else fails the step.
And sync, when the enrolment was kept before the round trip could be made (SMART), proves it first."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from tests.integration.conftest import Cli
from tests.integration.sync.faultproxy import FaultProxy
from tests.integration.test_cli_setup import SETUP
from tests.support import resident

ROUND_TRIP = "round trip      "


def _setup_file(tmp_path: Path, platform: str) -> Path:
    (tmp_path / "pin.txt").write_text("246810\n")
    path = tmp_path / "setup.toml"
    path.write_text(SETUP + f'[platform]\nurl = "{platform}"\n', encoding="utf-8")
    return path


async def _setup(cli: Cli, tmp_path: Path, platform: str) -> tuple[int, dict[str, object], str, str]:
    """Run setup from a file as a child process (the event loop goes on serving a proxy meanwhile)."""
    report = tmp_path / "report.txt"
    command = [sys.executable, "-m", "clinic_agent", "setup", "--from", str(_setup_file(tmp_path, platform))]
    process = await asyncio.create_subprocess_exec(
        *command,
        "--json",
        "--no-probe",
        "--ble-seconds",
        "0.2",
        "--report",
        str(report),
        env=cli.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    assert process.returncode is not None
    return process.returncode, json.loads(out), stderr, report.read_text(encoding="utf-8")


def test_setup_writes_the_clinic_and_reads_it_back(fresh_fhir_server: str, cli: Cli, tmp_path: Path) -> None:
    code, report, stderr, kept = asyncio.run(_setup(cli, tmp_path, fresh_fhir_server))
    assert code == 0, stderr
    organization = str(report["platform"]).split("(")[-1].rstrip(")")
    assert str(report["platform"]).startswith(f"enrolled with {fresh_fhir_server} (Organization/")
    round_trip = str(report["round_trip"])
    assert round_trip.startswith(f"wrote {organization} (clinic TR0001), read it back, "), round_trip
    assert round_trip.endswith(" ms")
    [line] = [line for line in kept.splitlines() if line.startswith(ROUND_TRIP)]
    assert line == ROUND_TRIP + round_trip
    status = json.loads(cli("status", "--json", check=True).stdout)["sync"]
    assert status["platform"] == fresh_fhir_server


def _another_clinic(request: bytes, answer: bytes) -> bytes:
    """The server's answer to a read of an Organization, with another clinic's code (same length)."""
    if request.startswith(b"GET ") and b"/Organization/" in request.split(b"\r\n", 1)[0]:
        return answer.replace(b'"TR0001"', b'"TR0009"')
    return answer


def test_a_platform_that_does_not_give_back_what_was_written_fails_the_enrolment_step(
    fresh_fhir_server: str, cli: Cli, tmp_path: Path
) -> None:
    async def through_the_proxy() -> tuple[tuple[int, dict[str, object], str, str], FaultProxy]:
        server_port = urlsplit(fresh_fhir_server).port or 80
        proxy = FaultProxy(server_port, seed=0, rewrite=_another_clinic)
        port = await proxy.start()
        try:
            return await _setup(cli, tmp_path, fresh_fhir_server.replace(f":{server_port}/", f":{port}/")), proxy
        finally:
            await proxy.stop()

    (code, report, stderr, kept), proxy = asyncio.run(through_the_proxy())
    assert proxy.counts["relay"] >= 3  # metadata, the conditional create, the read: all came through
    assert code == 1
    [line] = stderr.splitlines()
    assert line.startswith("clinic-agent: setup's enrolment step failed: the platform did not give back"), line
    assert "its clinic code reads 'TR0009', not 'TR0001'" in line
    assert "enrol again" in line
    assert "clinic-agent enroll --platform URL" in line
    assert str(report["platform"]).startswith("NOT enrolled: the platform did not give back"), report
    assert report["round_trip"] is None
    assert ROUND_TRIP not in kept
    assert report["doctor"] == "zhangwei (doctor)"  # everything else was done
    status = json.loads(cli("status", "--json", check=True).stdout)["sync"]
    assert (status["state"], status["platform"]) == ("not enrolled", None)  # sync will not use that platform


def test_sync_proves_the_round_trip_before_it_sends_anything(
    fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    """A SMART enrolment is kept before the platform will talk to us, without an Organization; the first
    sync that reaches the platform writes it, and must read it back the same before sending anything."""
    agent = clinic_factory(code="TR0001")
    broken = {"on": False}

    def rewrite(request: bytes, answer: bytes) -> bytes:
        return _another_clinic(request, answer) if broken["on"] else answer

    async def scenario() -> tuple[list[str], list[str], int]:
        server_port = urlsplit(fresh_fhir_server).port or 80
        proxy = FaultProxy(server_port, seed=0, rewrite=rewrite)
        port = await proxy.start()
        try:
            await syncing.enroll(agent, fresh_fhir_server.replace(f":{server_port}/", f":{port}/"), actor="test")
            agent.store.sync.save_settings({"organization_id": None})  # as a SMART enrolment leaves it
            agent.store.residents.add(resident(), actor="test")
            broken["on"] = True
            refused = (await syncing.run_once(agent)).errors
            pending = agent.store.sync.queue_counts()["pending"]
            broken["on"] = False
            healed = (await syncing.run_once(agent)).errors
        finally:
            await proxy.stop()
        return refused, healed, pending

    refused, healed, pending = asyncio.run(scenario())
    assert len(refused) == 1
    assert "did not give back the clinic's Organization" in refused[0], refused
    assert pending == 1  # nothing was sent to that platform
    assert healed == []
    assert agent.store.sync.settings()["organization_id"]
    assert agent.store.sync.queue_counts()["pending"] == 0
