"""The sync commands end to end: `enroll`, `sync`, `status`, the conflicts inbox, and the daemon's loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

from clinic_agent.runtime import syncing
from tests.integration.conftest import Cli, start_daemon
from tests.support import id_number, resident


def prepare(cli: Cli, platform: str) -> None:
    with (cli.home / "agent.toml").open("a", encoding="utf-8") as config:
        config.write('[clinic]\ncode = "TR7001"\nname = "坝盘村卫生室"\n[sync]\nretry_min_s = 0.2\ninterval_s = 30\n')
    cli("init", check=True)
    result = cli("enroll", "--platform", platform, check=True)
    assert "without authentication" in result.stderr
    assert "Organization/" in result.stdout
    assert "The platform offers 0 consultation service(s)" in result.stdout  # read at enrolment, none there


def test_enroll_sync_and_status_without_a_daemon(fresh_fhir_server: str, cli: Cli) -> None:
    prepare(cli, fresh_fhir_server)
    number = id_number()
    cli("resident", "add", "--id-number", number, "--name", "张秀英", check=True)
    cli("reading", "add", "--resident", number, "--code", "8480-6", "--value", "185", "--unit", "mm[Hg]", check=True)

    before = json.loads(cli("status", "--json", check=True).stdout)
    assert before["sync"]["records"] == {"local": 2, "sent": 0, "confirmed": 0}
    assert before["sync"]["pending"] == 2

    report = json.loads(cli("sync", "--once", "--json", check=True).stdout)
    assert report == {"pushed": 2, "pulled": 0, "parked": 0, "conflicts": 0, "errors": []}
    after = cli("status", check=True).stdout
    assert "0 only on this PC, 0 sent, 2 confirmed by the platform" in after
    assert "idle with " + fresh_fhir_server in after
    assert "No conflicts." in cli("conflicts", "list", check=True).stdout
    assert "Nothing is parked." in cli("parked", "list", check=True).stdout


def test_the_daemon_syncs_new_work_by_itself(fresh_fhir_server: str, cli: Cli) -> None:
    prepare(cli, fresh_fhir_server)
    daemon = start_daemon(cli)
    try:
        cli("unlock", check=True)
        number = id_number()
        cli("resident", "add", "--id-number", number, "--name", "张秀英", check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = json.loads(cli("status", "--json", check=True).stdout)["sync"]
            if status["records"]["confirmed"] == 1 and status["state"] == "idle":  # pushed, then pulled
                break
            time.sleep(0.2)
        assert status["records"] == {"local": 0, "sent": 0, "confirmed": 1}, status
        assert status["state"] == "idle"
        assert status["online"] is True
        report = json.loads(cli("sync", "--once", "--json", check=True).stdout)
        assert report["errors"] == []
    finally:
        daemon.stop()


def test_the_conflicts_inbox_from_the_command_line(fresh_fhir_server: str, clinic_factory: Any) -> None:
    first = clinic_factory(fresh_fhir_server, code="TR7002")
    second = clinic_factory(fresh_fhir_server, code="TR7002")
    person = first.store.residents.add(resident(phone="13800000000"), actor="doctor")
    asyncio.run(syncing.run_once(first))
    asyncio.run(syncing.run_once(second))
    first.store.residents.update(dataclasses.replace(person, phone="13911111111", version=1), actor="doctor")
    theirs = second.store.residents.get(person.id)
    second.store.residents.update(dataclasses.replace(theirs, phone="13922222222"), actor="doctor")
    asyncio.run(syncing.run_once(first))
    home = second.home.root
    second.close()
    cli = Cli(home)

    report = json.loads(cli("sync", "--once", "--json", check=True).stdout)
    assert report["conflicts"] == 1
    listed = cli("conflicts", "list", check=True).stdout
    assert "phone" in listed
    [conflict] = json.loads(cli("conflicts", "list", "--json", check=True).stdout)
    shown = cli("conflicts", "show", conflict["id"], check=True).stdout
    assert "13800000000" in shown
    assert "13922222222" in shown
    assert "13911111111" in shown
    refused = cli("conflicts", "resolve", conflict["id"])
    assert refused.returncode == 2
    assert "--take" in refused.stderr
    cli("conflicts", "resolve", conflict["id"], "--field", "phone=remote", check=True)
    assert json.loads(cli("sync", "--once", "--json", check=True).stdout)["errors"] == []
    assert "No conflicts." in cli("conflicts", "list", check=True).stdout
    status = json.loads(cli("status", "--json", check=True).stdout)["sync"]
    assert (status["conflicts"], status["pending"]) == (0, 0)
