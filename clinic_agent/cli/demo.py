"""`clinic-agent demo`: a throwaway clinic with residents and readings, and the daemon running.

Everything lives in a temporary home that is deleted at the end (unless --keep). No platform,
no hardware and no personal data of real people are needed.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from clinic_agent.api.client import ApiClient
from clinic_agent.core.errors import ClinicAgentError, DaemonError
from clinic_agent.core.idnumber import check_character
from clinic_agent.core.model import (
    Allergy,
    Condition,
    DeviceInfo,
    KeyPopulation,
    Quantity,
    Reading,
    Resident,
    Role,
    Sex,
    new_id,
    utcnow,
)
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.devices import add_device

DEMO_PASSPHRASE = "demo passphrase 2026"  # noqa: S105  (a throwaway demo store, printed on screen)
DEMO_USER, DEMO_PIN = "doctor", "246810"


class _Person(NamedTuple):
    name: str
    region: str
    born: date
    male: bool
    village: str
    flags: tuple[KeyPopulation, ...]


_HT, _DM, _OLD = KeyPopulation.HYPERTENSION, KeyPopulation.DIABETES, KeyPopulation.ELDERLY
# Made-up residents of Tongren villages (county codes of Bijiang, Jiangkou, Shiqian, Songtao).
_PEOPLE = [
    _Person("龙秀英", "522229", date(1951, 3, 8), False, "松桃县 盘信镇 大塘村", (_HT, _OLD)),
    _Person("吴国华", "522222", date(1958, 11, 21), True, "江口县 太平镇 梵净山村", (_DM,)),
    _Person("杨光明", "522201", date(1947, 6, 2), True, "碧江区 坝黄镇 宋家坝村", (_HT, _OLD)),
    _Person("田玉梅", "522224", date(1969, 1, 30), False, "石阡县 龙塘镇 大屯村", ()),
    _Person("张秀兰", "522201", date(1955, 9, 14), False, "碧江区 坝黄镇 宋家坝村", (_DM, _OLD)),
    _Person("石红梅", "522229", date(1982, 4, 5), False, "松桃县 盘信镇 大塘村", ()),
    _Person("麻桂芳", "522229", date(1944, 12, 19), False, "松桃县 孟溪镇 孟溪村", (_HT, _OLD)),
    _Person("姚德胜", "522222", date(1962, 7, 27), True, "江口县 太平镇 寨沙村", (_HT, _DM)),
]


def _id_number(region: str, born: date, male: bool, serial: int) -> str:
    order = serial * 2 + (1 if male else 0)
    first17 = f"{region}{born:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)


@dataclass
class DemoStore:
    """What the demo made."""

    home: home_module.Home
    residents: int
    readings: int
    id_numbers: list[str]


def build(root: Path, *, seed: int = 2026) -> DemoStore:
    """Create a demo store in ``root`` with residents, file entries, readings and a doctor."""
    root.mkdir(parents=True, exist_ok=True)
    home = home_module.resolve(root)
    home_module.initialise(home, passphrase=DEMO_PASSPHRASE, user="admin", machine_key=True)
    agent = Agent.open(home)
    try:
        agent.unlock(actor="demo", passphrase=DEMO_PASSPHRASE)
        agent.store.users.add(DEMO_USER, Role.DOCTOR, DEMO_PIN, actor="demo", display_name="王医生")
        rng = random.Random(seed)
        readings = sum(_person(agent, rng, i, person) for i, person in enumerate(_PEOPLE, start=1))
        readings += _waiting_reading(agent)
    finally:
        agent.close()
    numbers = [_id_number(p.region, p.born, p.male, i) for i, p in enumerate(_PEOPLE, start=1)]
    return DemoStore(home, len(_PEOPLE), readings, numbers)


def _person(agent: Agent, rng: random.Random, serial: int, person: _Person) -> int:
    resident = agent.store.residents.add(
        Resident(
            id=new_id(),
            id_number=_id_number(person.region, person.born, person.male, serial),
            name=person.name,
            sex=Sex.MALE if person.male else Sex.FEMALE,
            birth_date=person.born,
            village=person.village,
            phone=f"138{rng.randrange(10**8):08d}",
            key_populations=person.flags,
        ),
        actor="demo",
    )
    for flag, name, code, icd10, since in (
        (_HT, "高血压", "2", "I10", date(2015, 5, 1)),
        (_DM, "2型糖尿病", "3", "E11", date(2018, 9, 1)),
    ):
        if flag in person.flags:
            condition = Condition(
                id=new_id(), resident_id=resident.id, name=name, code=code, icd10=icd10, diagnosed_on=since
            )
            agent.store.entries.add(condition, actor="demo")
    if serial % 3 == 0:
        allergy = Allergy(id=new_id(), resident_id=resident.id, substance="青霉素", code="2", reaction="皮疹")
        agent.store.entries.add(allergy, actor="demo")
    for days_ago in (90, 60, 30, 7):
        high = _HT in person.flags and rng.random() < 0.4
        systolic = rng.randint(150, 186) if high else rng.randint(112, 139)
        bp = _bp(resident.id, systolic, rng.randint(70, 96), rng.randint(58, 92), days_ago)
        agent.store.readings.add(bp, actor="demo")
    return 4


def _bp(resident_id: str | None, systolic: int, diastolic: int, pulse: int, days_ago: int) -> Reading:
    taken = utcnow() - timedelta(days=days_ago, minutes=days_ago * 7)
    components = (
        Quantity(code="8480-6", value=str(systolic), unit="mm[Hg]", display="Systolic"),
        Quantity(code="8462-4", value=str(diastolic), unit="mm[Hg]", display="Diastolic"),
        Quantity(code="8867-4", value=str(pulse), unit="/min", display="Pulse"),
    )
    device = DeviceInfo(id="demo-health-machine", model="Demo all-in-one")
    return Reading(
        id=new_id(),
        resident_id=resident_id,
        code="85354-9",
        display="Blood pressure",
        components=components,
        taken_at=taken,
        received_at=taken,
        device=device,
        source="demo",
    )


def _waiting_reading(agent: Agent) -> int:
    agent.store.readings.add(_bp(None, 142, 91, 77, 0), actor="demo")
    return 1


def run(*, keep: bool = False, once: bool = False) -> int:
    """A throwaway clinic, its daemon, and a simulated health machine sending readings; clean up at the end."""
    root = Path(tempfile.mkdtemp(prefix="clinic-agent-demo-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print(f"Creating a demo clinic in {root} ...")
        demo = build(root)
        port = _free_port()
        add_device(
            demo.home.config_path,
            {
                "name": "health-machine",
                "kind": "tcp",
                "protocol": "hl7",
                "listen": f"127.0.0.1:{port}",
                "model": "multi-parameter health machine",
            },
        )
        print(f"  {demo.residents} residents, {demo.readings} readings, user {DEMO_USER!r} with PIN {DEMO_PIN}.")
        print(f"  Passphrase of this throwaway store: {DEMO_PASSPHRASE!r}")
        processes.append(_start_daemon(demo.home))
        print(f"Daemon running; its log is {demo.home.log_dir / 'daemon.log'}.")
        processes.append(_start_simulator(demo, port, once=once))
        print(f"A simulated health machine sends HL7 readings to 127.0.0.1:{port} (log: {demo.home.log_dir}).\n")
        if once:
            _wait_for_readings(demo.home, demo.readings + 1)
            _print_status(_status(demo.home))
            return 0
        if sys.stdin.isatty() and sys.stdout.isatty():
            _wait_for_readings(demo.home, demo.readings + 1)
            _terminal_ui(demo.home)
            print(_TRY.format(root=root, passphrase=DEMO_PASSPHRASE) if keep else "Demo finished.")
            return 0
        _print_status(_status(demo.home))
        print(_TRY.format(root=root, passphrase=DEMO_PASSPHRASE))
        print(
            "\nReadings as they arrive (Ctrl-C stops the demo"
            + (", the home is kept):" if keep else " and deletes its home):")
        )
        with contextlib.suppress(KeyboardInterrupt):
            _follow(demo.home, processes[0])
        return 0
    finally:
        for process in reversed(processes):
            _stop(process)
        if keep:
            print(f"Demo home kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def _terminal_ui(home: home_module.Home) -> None:
    """The doctor's terminal UI in the foreground, until it quits (Ctrl+Q)."""
    print(f"Starting the terminal UI: sign in as {DEMO_USER!r} with PIN {DEMO_PIN} (Ctrl+Q quits the demo) ...")
    time.sleep(1.5)
    env = {**os.environ, "CLINIC_AGENT_HOME": str(home.root)}
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-m", "clinic_agent", "tui", "--sign-in-as", DEMO_USER], env=env, check=False
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_simulator(demo: DemoStore, port: int, *, once: bool) -> subprocess.Popen[bytes]:
    ids = [arg for number in demo.id_numbers for arg in ("--id-number", number)]
    pace = ["--interval", "0.5", "--count", "3"] if once else ["--interval", "4"]
    with (demo.home.log_dir / "simulator.log").open("wb") as log:
        return subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-m", "clinic_agent", "simulate", "hl7-monitor", "--tcp", str(port), *pace, *ids],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for_readings(home: home_module.Home, at_least: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = _status(home)
        if int(str(status["readings"])) + int(str(status["quarantined"])) >= at_least:
            return
        time.sleep(0.2)
    raise DaemonError("no reading arrived from the simulated health machine within 30 s")


def _follow(home: home_module.Home, daemon: subprocess.Popen[bytes]) -> None:
    """Print each reading as the daemon announces it, with the resident's name."""
    with ApiClient(home.load_config().api.socket, timeout=3600) as client:
        client.session = client.call("login", {"user": DEMO_USER, "pin": DEMO_PIN})["session"]
        client.call("events.subscribe")
        while daemon.poll() is None:
            client.call("ping")
            for name, data in client.events:
                if name == "reading.received":
                    print(_reading_line(client.call("reading.get", {"id": data["id"]})))
            client.events.clear()
            time.sleep(0.5)


def _reading_line(reading: dict[str, Any]) -> str:
    values = ", ".join(f"{c['display'] or c['code']} {c['value']} {c['unit']}" for c in reading["components"])
    who = reading.get("resident_name") or "(unassigned: waiting for the doctor)"
    alert = "   ALERT: " + "; ".join(reading["alerts"]) if reading["alerts"] else ""
    return f"  {reading['received_at'][11:19]}  {who}  {values}{alert}"


_TRY = """
Try, in another terminal (with .venv/bin on your PATH):
  export CLINIC_AGENT_HOME={root}
  export CLINIC_AGENT_PASSPHRASE='{passphrase}'
  clinic-agent status
  clinic-agent resident search lxy
  clinic-agent resident show <an ID number from `clinic-agent resident list`>
  clinic-agent reading unassigned"""


def _start_daemon(home: home_module.Home) -> subprocess.Popen[bytes]:
    home.log_dir.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "CLINIC_AGENT_HOME": str(home.root)}
    env.pop("NOTIFY_SOCKET", None)
    with (home.log_dir / "daemon.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "clinic_agent", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    socket = home.load_config().api.socket
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DaemonError(f"the daemon stopped at once; see {home.log_dir / 'daemon.log'}")
        with contextlib.suppress(ClinicAgentError), ApiClient(socket, timeout=5) as client:
            if not client.call("status")["locked"]:
                return process
        time.sleep(0.1)
    _stop(process)
    raise DaemonError("the daemon did not become ready within 30 s")


def _status(home: home_module.Home) -> dict[str, object]:
    with ApiClient(home.load_config().api.socket) as client:
        status: dict[str, object] = client.call("status")
    return status


def _print_status(status: dict[str, object]) -> None:
    from clinic_agent.cli.commands import status_text  # the CLI imports this module: import late

    print(status_text(status))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
