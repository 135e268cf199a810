"""`clinic-agent setup`: commissioning a clinic PC in one sitting, asked for or from a TOML file.

The clinic's name and code go into agent.toml; the store is created with the technician's
passphrase slot, the recovery slot (its code shown once) and, by default, the machine key; the
first doctor gets an account with a PIN; the serial ports present are listed; the clinic is enrolled
when a platform is given. A commissioning report (no secrets in it) is printed and written to a file
the technician keeps. The setup file, for mass rollout:

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
from clinic_agent import config as config_module
from clinic_agent import home as home_module
from clinic_agent.cli import output, prompts
from clinic_agent.cli.backend import connect
from clinic_agent.cli.commands import _command, home_of, registrar, show, wants_json
from clinic_agent.cli.device_commands import serial_ports
from clinic_agent.errors import InvalidInput
from clinic_agent.fsutil import KIB, atomic_write, ensure_private_directory, read_bounded
from clinic_agent.home import Home

SETUP_FILE_LIMIT = 64 * KIB
ADMIN = "admin"  # the technician's passphrase slot, as `init` names it
SECTIONS: dict[str, dict[str, type]] = {
    "clinic": {"name": str, "code": str},
    "store": {"passphrase_file": str, "machine_key": bool},
    "doctor": {"name": str, "display_name": str, "pin_file": str},
    "platform": {"url": str, "token_file": str},
}


@registrar
def _register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = _command(sub, common, "setup", "commission this PC: clinic, store and keys, first doctor, ports, enrolment")
    p.add_argument("--from", dest="source", metavar="FILE", help="take every answer from this TOML file (no questions)")
    p.add_argument(
        "--report",
        metavar="FILE",
        help="where to write the commissioning report (default: ./commissioning-CODE-DATE.txt)",
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
        "serial_ports": serial_ports(),
        "platform": None,
    }
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
            except Exception as exc:  # noqa: BLE001  (the PC is commissioned all the same; the report says why)
                report["platform"] = (
                    f"NOT enrolled: {getattr(exc, 'message', None) or exc} (later: clinic-agent enroll)"
                )
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
    return 0


def _report_text(r: dict[str, Any]) -> str:
    ports = [
        f"  {p['device']}  {p['vid'] or '----'}:{p['pid'] or '----'}  {p['description']}" for p in r["serial_ports"]
    ]
    lines = [
        f"Clinic Agent {r['agent']} commissioning report, {r['when']}",
        f"clinic          {r['clinic']['name']} ({r['clinic']['code']})",
        f"configuration   {r['config']}",
        f"data            {r['home']} (store {r['store_id']})",
        f"key slots       {', '.join(r['key_slots'])}",
        f"recovery code   {r['recovery_code']}",
        f"first doctor    {r['doctor']}",
        f"platform        {r['platform'] or 'not given (later: clinic-agent enroll)'}",
        "serial ports",
        *(ports or ["  (none)"]),
        "",
        "Next: sudo systemctl start clinic-agent; clinic-agent doctor; add devices (clinic-agent devices add).",
    ]
    return "\n".join(lines) + "\n"
