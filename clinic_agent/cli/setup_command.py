"""`clinic-agent setup`: commissioning a clinic PC in one sitting, asked for or from a TOML file.

The clinic's name and code go into agent.toml; the store is created with the technician's
passphrase slot, the recovery slot (its code shown once) and, by default, the machine key; the
first doctor gets an account with a PIN; the serial ports present are listed and the USB ones (and
any named with --probe-port) probed for which protocol answers (drivers/serial/probe.py); a Bluetooth
scan lists the health devices advertising (or says in one line why there is none, and setup goes
on); what was found is offered as device entries (asked on a terminal; from a file, added when
``[devices] add_found``), and each Bluetooth device added is paired where it asks for an encrypted
link (drivers/ble/pairing.py; on a terminal a failed pairing can be tried again with the device in
pairing mode); the clinic is enrolled when a platform is given, which proves a round trip (the
clinic's Organization written and read back the same: sync/enrolment.py, prove_organization) or
fails the step, and setup then exits 1 once everything else is done. A commissioning report (no
secrets in it) is printed and written to a file the technician keeps. The setup file, for mass rollout:

    [clinic]
    name = "坝盘村卫生室"
    code = "TR0001"
    [store]
    passphrase_file = "passphrase.txt"   # or CLINIC_AGENT_PASSPHRASE
    machine_key = true                   # the service unlocks by itself after a reboot
    [doctor]
    name = "zhangwei"
    display_name = "张伟"
    pin_file = "pin.txt"                 # or CLINIC_AGENT_PIN
    [platform]                           # optional
    url = "https://platform.example/fhir"
    token_file = "token.txt"
    [devices]                            # optional
    add_found = true                     # add the devices found as [[devices]] entries
    pair = true                          # pair the Bluetooth ones added that ask for it (default)
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clinic_agent import __version__
from clinic_agent.cli import output, prompts
from clinic_agent.cli.backend import connect
from clinic_agent.cli.commands import _command, home_of, show, wants_json
from clinic_agent.cli.device_commands import serial_ports
from clinic_agent.cli.sync_commands import round_trip_text
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.fsutil import KIB, atomic_write, ensure_private_directory, read_bounded
from clinic_agent.runtime import config as config_module
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.home import Home

SETUP_FILE_LIMIT = 64 * KIB
ADMIN = "admin"  # the technician's passphrase slot, as `init` names it
SECTIONS: dict[str, dict[str, type]] = {
    "clinic": {"name": str, "code": str},
    "store": {"passphrase_file": str, "machine_key": bool},
    "doctor": {"name": str, "display_name": str, "pin_file": str},
    "platform": {"url": str, "token_file": str},
    "devices": {"add_found": bool, "pair": bool},
}
NAMES = {"cms50": "oximeter", "cms50-old": "oximeter", "astm": "analyser", "hl7": "machine", "ble": "bluetooth"}


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands setup (listed in ``clinic_agent.cli.COMMANDS``)."""
    p = _command(sub, common, "setup", "commission this PC: clinic, store and keys, first doctor, ports, enrolment")
    p.add_argument("--from", dest="source", metavar="FILE", help="take every answer from this TOML file (no questions)")
    p.add_argument(
        "--report",
        metavar="FILE",
        help="where to write the commissioning report (default: ./commissioning-CODE-DATE.txt)",
    )
    p.add_argument(
        "--probe-port",
        action="append",
        default=[],
        metavar="PATH",
        help="also probe this serial port (a built-in RS-232 port such as /dev/ttyS0); USB ones are probed anyway",
    )
    p.add_argument("--probe-seconds", type=float, default=3.0, help="how long to listen at each line speed")
    p.add_argument("--no-probe", action="store_true", help="list the serial ports without probing them")
    p.add_argument("--ble-seconds", type=float, default=5.0, help="how long to scan for Bluetooth health devices")
    p.add_argument(
        "--ble-transport",
        metavar="HCI",
        help="reach Bluetooth devices through this HCI transport instead of BlueZ (a simulator: tcp-client:HOST:PORT)",
    )
    p.set_defaults(handler=cmd_setup)


def _read_setup_file(path: str) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(read_bounded(path, SETUP_FILE_LIMIT, "the setup file").decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"setup file {path}: {exc}") from None
    for section, value in raw.items():
        if section not in SECTIONS or not isinstance(value, dict):
            raise InvalidInput(f"setup file {path}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
        for key, item in value.items():
            wanted = SECTIONS[section].get(key)
            if wanted is None:
                raise InvalidInput(f"setup file {path}: unknown key {section}.{key}")
            if not isinstance(item, wanted):
                raise InvalidInput(f"setup file {path}: {section}.{key} must be a {wanted.__name__}")
    base = Path(path).parent
    for section, key in (("store", "passphrase_file"), ("doctor", "pin_file"), ("platform", "token_file")):
        if key in raw.get(section, {}):  # relative to the setup file, where a technician keeps them together
            raw[section][key] = str(base / raw[section][key])
    return raw


def _ask(question: str, default: str = "") -> str:
    shown = f"{question} [{default}]: " if default else f"{question}: "
    answer = input(shown).strip()
    return answer or default


def _answers_interactively() -> dict[str, dict[str, Any]]:
    print("Commissioning this PC. Ctrl+C stops without changing anything until the store is created.\n")
    clinic = {"name": _ask("Clinic name"), "code": _ask("Clinic code on the regional platform")}
    machine = _ask("Unlock by itself after a reboot (machine key)? yes/no", "yes").lower().startswith("y")
    doctor = {"name": _ask("First doctor's login name", "doctor"), "display_name": _ask("Their name as shown")}
    answers: dict[str, dict[str, Any]] = {"clinic": clinic, "store": {"machine_key": machine}, "doctor": doctor}
    url = _ask("Regional platform URL (empty: enrol later)")
    if url:
        answers["platform"] = {"url": url, "token_file": _ask("File with the platform's token (empty: none)")}
    return answers


def _set_clinic(text: str, name: str, code: str) -> str:
    """agent.toml with [clinic] name and code set, comments and everything else kept."""
    section = re.search(r"(?ms)^\[clinic\][^\n]*\n(.*?)(?=^\[|\Z)", text)
    lines = [f"name = {json.dumps(name, ensure_ascii=False)}", f"code = {json.dumps(code, ensure_ascii=False)}"]
    if section is None:
        return text.rstrip("\n") + "\n\n[clinic]\n" + "\n".join(lines) + "\n"
    body = re.sub(r"(?m)^#?\s*(name|code)\s*=.*\n?", "", section[1])
    return text[: section.start(1)] + "\n".join(lines) + "\n" + body + text[section.end(1) :]


def _write_config(home: Home, name: str, code: str) -> None:
    path = home.config_path
    existing = path.read_text(encoding="utf-8") if path.exists() else config_module.DEFAULT_TEXT
    stat = path.stat() if path.exists() else None
    atomic_write(path, _set_clinic(existing, name, code).encode(), mode=stat.st_mode & 0o777 if stat else 0o640)
    if stat and os.geteuid() == 0:
        os.chown(path, stat.st_uid, stat.st_gid)  # the package's root:clinic stays
    home.load_config()  # refuse now what `run` would refuse


def _give_to_owner_of(root: Path) -> None:
    """Files root created in the data directory belong to the directory's owner (the service user)."""
    if os.geteuid() != 0:
        return
    owner = root.stat()
    for path in [root, *root.rglob("*")]:
        if path.stat().st_uid == 0:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _pin(doctor: dict[str, Any], from_file: bool) -> str:
    if doctor.get("pin_file"):
        return prompts._read_file(doctor["pin_file"], "the PIN file")
    if os.environ.get("CLINIC_AGENT_PIN"):
        return os.environ["CLINIC_AGENT_PIN"]
    if from_file or not sys.stdin.isatty():
        raise InvalidInput("no PIN for the first doctor: give doctor.pin_file or set CLINIC_AGENT_PIN")
    print(f"PIN for {doctor['name']} (4-12 digits; they sign in to the terminal UI with it)")
    return prompts.pin()


def _confirm_recovery_code(code: str, interactive: bool) -> str:
    print("\nRECOVERY CODE — write it on the clinic's key card now. It is shown only this once; without it,")
    print("a forgotten passphrase means the health files cannot be opened.\n")
    print(f"    {code}\n")
    if not interactive:
        return "shown once (non-interactive: not confirmed)"
    tail = code.replace("-", "")[-4:]
    for _ in range(3):
        if getpass.getpass("Type its last 4 characters to confirm you wrote it down: ").strip().upper() == tail.upper():
            return "shown once, confirmed written down"
        print("That is not it; look at what you wrote.")
    return "shown once, NOT confirmed (check the key card)"


def cmd_setup(args: argparse.Namespace) -> int:
    """Commission this PC."""
    home = home_of(args)
    if home.exists():
        raise InvalidInput(
            f"{home.root} already holds a store: this PC is commissioned (clinic-agent doctor checks it)"
        )
    interactive = args.source is None and sys.stdin.isatty()
    if args.source is None and not interactive:
        raise InvalidInput("no terminal to ask on: give the answers with --from FILE")
    answers = _read_setup_file(args.source) if args.source else _answers_interactively()
    clinic, store, doctor = answers.get("clinic", {}), answers.get("store", {}), answers.get("doctor", {})
    for section, key in (("clinic", "name"), ("clinic", "code"), ("doctor", "name")):
        if not str(answers.get(section, {}).get(key, "")).strip():
            raise InvalidInput(f"setup needs {section}.{key}")
    ensure_private_directory(home.root)
    passphrase = prompts.new_passphrase(store.get("passphrase_file"), env="CLINIC_AGENT_PASSPHRASE")
    pin = _pin(doctor, args.source is not None)

    _write_config(home, clinic["name"], clinic["code"])
    created = home_module.initialise(
        home, passphrase=passphrase, user=ADMIN, machine_key=store.get("machine_key", True)
    )
    _give_to_owner_of(home.root)
    if wants_json(args):  # the code goes to the caller in the JSON, as `init --json` does
        recovery = "in the JSON output of setup (non-interactive: not confirmed)"
    else:
        recovery = _confirm_recovery_code(created.recovery_code, interactive)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "agent": __version__,
        "clinic": {"name": clinic["name"], "code": clinic["code"]},
        "home": str(home.root),
        "config": str(home.config_path),
        "store_id": created.store_id,
        "key_slots": [f"passphrase ({ADMIN})", "recovery", *(["machine"] if created.machine_key else [])],
        "recovery_code": recovery,
        "doctor": None,
        "serial_ports": _probed_ports(args),
        "bluetooth": _bluetooth(args.ble_seconds, args.ble_transport),
        "devices_added": [],
        "devices_offered": [],
        "platform": None,
        "round_trip": None,
    }
    enrolment_failed = ""
    offers = _offers(report)
    add_all = bool(answers.get("devices", {}).get("add_found"))
    pairing = bool(answers.get("devices", {}).get("pair", True))
    for name, entry, what in offers:
        asked = interactive and _ask(f"Add {what} as device {name!r}? yes/no", "yes").lower().startswith("y")
        if add_all or asked:
            added = _add_device(home, name, entry)
            if entry["kind"] == "ble" and pairing:
                added += f"; {_pair(report, entry, interactive)}"
            report["devices_added"].append(added)
        else:
            report["devices_offered"].append(_command_for(name, entry))
    chosen = connect(home, lambda: passphrase, ADMIN, local_only=True)
    try:
        user = chosen.call(
            "user.add",
            {"name": doctor["name"], "role": "doctor", "pin": pin, "display_name": doctor.get("display_name")},
        )
        report["doctor"] = f"{user['name']} ({user['role']})"
        platform = answers.get("platform")
        if platform and platform.get("url"):
            params: dict[str, Any] = {"platform": platform["url"]}
            if platform.get("token_file"):
                params["token"] = prompts._read_file(platform["token_file"], "the token file")
            try:
                enrolled = chosen.call("sync.enroll", params)
                report["platform"] = (
                    f"enrolled with {enrolled['platform']} (Organization/{enrolled['organization_id']})"
                )
                report["round_trip"] = round_trip_text(enrolled.get("round_trip"))
            except Exception as exc:  # noqa: BLE001  (the PC is commissioned all the same; the report says why)
                enrolment_failed = str(getattr(exc, "message", None) or exc)
                report["platform"] = f"NOT enrolled: {enrolment_failed} (later: clinic-agent enroll)"
    finally:
        chosen.close()
    _give_to_owner_of(home.root)
    text = _report_text(report)
    path = Path(
        args.report or f"commissioning-{re.sub(r'[^A-Za-z0-9_-]', '_', clinic['code'])}-{datetime.now(UTC):%Y%m%d}.txt"
    )
    atomic_write(path, text.encode(), mode=0o644)
    report["report"] = str(path.resolve())
    if wants_json(args):
        output.emit_json({**report, "recovery_code": created.recovery_code, "recovery_code_status": recovery})
    else:
        show(args, report, lambda r: text + f"\nReport written to {r['report']}.")
    if enrolment_failed:  # commissioned, but not what was asked: a script rolling out many PCs must see it
        print(
            f"clinic-agent: setup's enrolment step failed: {enrolment_failed}; everything else is done (see the "
            "report); once fixed: clinic-agent enroll --platform URL",
            file=sys.stderr,
        )
        return 1
    return 0


def _probed_ports(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The ports present, each USB one (and each named) with what answered on it."""
    from drivers.serial.probe import probe

    found = serial_ports()
    known = {p["device"] for p in found}
    found += [
        {"device": path, "vid": None, "pid": None, "serial_number": None, "description": "named with --probe-port"}
        for path in args.probe_port
        if path not in known
    ]
    for port in found:
        if args.no_probe or (port["vid"] is None and port["device"] not in args.probe_port):
            port.update(protocol=None, baud=None, probe="not probed (--probe-port PATH probes it)")
            continue
        result = probe(port["device"], listen=args.probe_seconds)
        port.update(protocol=result.protocol, baud=result.baud, probe=result.note)
    return found


def _ble_options(transport: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """bleak's scanner and client keyword arguments: none for BlueZ, a bumble central for an HCI transport."""
    if transport is None:
        return {}, {}
    from drivers.ble.bumble_backend import central_kwargs

    options = central_kwargs(transport)
    return options["scanner_kwargs"], options["client_kwargs"]


def _bluetooth(seconds: float, transport: str | None) -> dict[str, Any]:
    """The health devices a Bluetooth scan finds, or in one line why there was no scan."""
    import asyncio

    from drivers.ble import link as ble_link
    from drivers.errors import DeviceUnavailable

    try:
        found = asyncio.run(ble_link.scan(seconds, **_ble_options(transport)[0]))
    except DeviceUnavailable as exc:  # no adapter, no BlueZ, no system bus: said, and setup goes on
        reason = exc.reason.removeprefix("Bluetooth is not available: ")
        return {"devices": [], "error": f"Bluetooth is not available here: {reason}", "transport": transport}
    devices = [{"address": f.address, "name": f.name, "services": list(f.services), "rssi": f.rssi} for f in found]
    return {"devices": devices, "error": None, "transport": transport}


def _pair(report: dict[str, Any], entry: dict[str, Any], interactive: bool) -> str:
    """Pair the Bluetooth device of ``entry`` where it asks for it; the outcome, also noted on the device found."""
    import asyncio

    from drivers.ble.pairing import pair

    transport = report["bluetooth"]["transport"]
    while True:
        print(f"Pairing with {entry['address']} (if it has a pairing mode, turn it on now)...", file=sys.stderr)
        scanner, client = _ble_options(transport)
        result = asyncio.run(pair(entry["address"], scanner_kwargs=scanner, client_kwargs=client))
        if result.ok or not interactive:
            break
        print(f"  {result.describe()}", file=sys.stderr)
        if not _ask("Try again (put the device in pairing mode first)? yes/no", "yes").lower().startswith("y"):
            break
    for device in report["bluetooth"]["devices"]:
        if device["address"] == entry["address"]:
            device["pairing"] = {"outcome": result.outcome, "detail": result.detail}
    return result.describe()


def _offers(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """A device entry for each port a protocol answered on and each Bluetooth health device: name, entry, words."""
    offers: list[tuple[str, dict[str, Any], str]] = []
    taken: set[str] = set()

    def named(base: str) -> str:
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name)
        return name

    for port in report["serial_ports"]:
        if not port.get("protocol"):
            continue
        entry: dict[str, Any] = {"kind": "serial", "protocol": port["protocol"], "baud": port["baud"]}
        if port["vid"] and port["pid"]:  # by its USB ids: the same device whichever port it is plugged into
            entry["match"] = ":".join(x for x in (port["vid"], port["pid"], port["serial_number"]) if x)
        else:
            entry["port"] = port["device"]
        offers.append((named(NAMES[port["protocol"]]), entry, f"the {port['protocol']} device on {port['device']}"))
    for device in report["bluetooth"]["devices"]:
        entry = {"kind": "ble", "protocol": "ble", "address": device["address"]}
        if report["bluetooth"]["transport"]:  # a simulator's devices are reached the same way later
            entry["transport"] = report["bluetooth"]["transport"]
        offers.append((named(NAMES["ble"]), entry, f"{device['name'] or 'the device'} ({device['address']})"))
    return offers


def _add_device(home: Home, name: str, entry: dict[str, Any]) -> str:
    from clinic_agent.runtime.devices import add_device

    config = add_device(home.config_path, {"name": name, **entry})
    return f"{config.name} ({config.describe()})"


def _command_for(name: str, entry: dict[str, Any]) -> str:
    options = " ".join(f"--{key} {value}" for key, value in entry.items())
    return f"clinic-agent devices add {name} {options}"


def _report_text(r: dict[str, Any]) -> str:
    ports = [
        f"  {p['device']}  {p['vid'] or '----'}:{p['pid'] or '----'}  {p['description']}: {p['probe']}"
        for p in r["serial_ports"]
    ]
    bluetooth = r["bluetooth"]["error"] or "no health device advertising"
    ble = [f"  {d['address']}  {d['name'] or ''}" for d in r["bluetooth"]["devices"]] or [f"  ({bluetooth})"]
    offered = [f"  {c}" for c in r["devices_offered"]]
    lines = [
        f"Clinic Agent {r['agent']} commissioning report, {r['when']}",
        f"clinic          {r['clinic']['name']} ({r['clinic']['code']})",
        f"configuration   {r['config']}",
        f"data            {r['home']} (store {r['store_id']})",
        f"key slots       {', '.join(r['key_slots'])}",
        f"recovery code   {r['recovery_code']}",
        f"first doctor    {r['doctor']}",
        f"platform        {r['platform'] or 'not given (later: clinic-agent enroll)'}",
        *([f"round trip      {r['round_trip']}"] if r["round_trip"] else []),
        "serial ports",
        *(ports or ["  (none)"]),
        "bluetooth health devices",
        *ble,
        "devices added",
        *([f"  {d}" for d in r["devices_added"]] or ["  (none)"]),
        *(["devices found, not added (add them with)", *offered] if offered else []),
        "",
        "Next: sudo systemctl start clinic-agent; clinic-agent doctor; add devices (clinic-agent devices add).",
    ]
    return "\n".join(lines) + "\n"
