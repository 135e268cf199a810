"""The commands of `clinic-agent`: each registers its parser and has one handler."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from clinic_agent.cli import output, prompts
from clinic_agent.cli.backend import (
    Backend,
    DaemonBackend,
    LocalBackend,
    connect,
    daemon_backend,
    os_user,
    passphrase_needed,
)
from clinic_agent.core.errors import ImplausibleValue, InvalidIdNumber, InvalidInput, StoreCorrupted
from clinic_agent.core.fsutil import ensure_private_directory
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.home import Home

if TYPE_CHECKING:  # the replies' types only: the shapes are not loaded on a command's way
    from clinic_agent.api.shapes import AuditVerifyReply, KeyRotateReply, ReadingAddReply, UnlockReply

Sub = "argparse._SubParsersAction[argparse.ArgumentParser]"
# -- shared plumbing --------------------------------------------------------------------------------------


def home_of(args: argparse.Namespace) -> Home:
    """The home directory the command works on."""
    return home_module.resolve(getattr(args, "home", None))


def user_of(args: argparse.Namespace) -> str | None:
    """The passphrase slot to try first."""
    return getattr(args, "user", None) or os.environ.get("CLINIC_AGENT_USER") or None


def wants_json(args: argparse.Namespace) -> bool:
    """Whether to print JSON."""
    return bool(getattr(args, "json", False))


def passphrase_source(args: argparse.Namespace) -> Callable[[], str | None]:
    """Read the passphrase only when a command turns out to need it."""
    return lambda: prompts.passphrase(getattr(args, "passphrase_file", None))


@contextlib.contextmanager
def backend(args: argparse.Namespace) -> Iterator[Backend]:
    """The daemon if it runs, else the store in this process."""
    chosen = connect(home_of(args), passphrase_source(args), user_of(args))
    try:
        yield chosen
    finally:
        chosen.close()


def show(args: argparse.Namespace, result: Any, human: Callable[[Any], str]) -> None:
    """Print a result as JSON or for a person."""
    if wants_json(args):
        output.emit_json(result)
    else:
        text = human(result)
        if text:
            print(text)


def report_problems(result: dict[str, Any]) -> int:
    """Warn about rows that failed their integrity check; exit 1 if there were any."""
    problems = result.get("problems") or []
    for problem in problems:
        output.warn(problem["message"])
    return 1 if problems else 0


def _command(sub: Any, common: argparse.ArgumentParser, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    return parser


# -- init, status, lock, unlock ----------------------------------------------------------------------------


def add_store_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands init, demo, doctor, run, status, lock and unlock (listed in ``clinic_agent.cli.COMMANDS``)."""
    p = _command(sub, common, "init", "create a new encrypted store (prints the recovery code once)")
    p.add_argument(
        "--machine-key",
        action="store_true",
        help="also create a machine key file so the service unlocks by itself after a reboot",
    )
    p.set_defaults(handler=cmd_init)
    p = _command(sub, common, "demo", "a throwaway demo clinic: the daemon, a simulated health machine, the UI")
    p.add_argument("--keep", action="store_true", help="keep the demo home at the end instead of deleting it")
    p.add_argument("--once", action="store_true", help="stop as soon as a simulated reading is stored (for scripts)")
    p.set_defaults(handler=cmd_demo)
    p = _command(
        sub,
        common,
        "doctor",
        "check this installation: files, keys, database, service, unsent records, platform, disk, clock, devices",
    )
    p.epilog = (
        f"exit status: {DOCTOR_WELL} when every check is ok; {DOCTOR_WARNED} when some only warn (a state a "
        f"working clinic can be in for a while, or something this login could not check); {DOCTOR_FAILED} when "
        "a check failed (FAIL: the agent cannot do its work); 2 for a mistyped command, as every command"
    )
    p.set_defaults(handler=cmd_doctor)
    p = _command(sub, common, "run", "run the daemon in the foreground (the service runs this)")
    p.set_defaults(handler=cmd_run)
    p = _command(sub, common, "status", "show the state of the store and the daemon (no personal data)")
    p.set_defaults(handler=cmd_status)
    p = _command(sub, common, "lock", "make the running daemon forget its keys")
    p.set_defaults(handler=cmd_lock)
    p = _command(sub, common, "unlock", "unlock the store with a passphrase (or --recovery with the recovery code)")
    p.add_argument("--recovery", action="store_true", help="use the recovery code instead of a passphrase")
    p.set_defaults(handler=cmd_unlock)


def cmd_init(args: argparse.Namespace) -> int:
    """Create the store."""
    home = home_of(args)
    ensure_private_directory(home.root)  # before asking for a passphrase: refuse early
    if home.exists():
        home_module.set_aside_unfinished_init(home)
    passphrase = prompts.new_passphrase(
        getattr(args, "passphrase_file", None), env="CLINIC_AGENT_PASSPHRASE", what="passphrase"
    )
    result = home_module.initialise(
        home, passphrase=passphrase, user=user_of(args) or "admin", machine_key=args.machine_key
    )
    data = {
        "home": str(home.root),
        "store_id": result.store_id,
        "user": result.user,
        "recovery_code": result.recovery_code,
        "machine_key": str(result.machine_key) if result.machine_key else None,
    }
    show(args, data, _init_text)
    return 0


def _init_text(data: dict[str, Any]) -> str:
    lines = [
        f"Store created in {data['home']} (passphrase slot for {data['user']}).",
        "",
        "RECOVERY CODE — write it down now and keep it locked away. It is shown only this once;",
        "without it, a forgotten passphrase means the health files cannot be opened.",
        "",
        f"    {data['recovery_code']}",
        "",
    ]
    if data["machine_key"]:
        lines.append(f"Machine key file: {data['machine_key']} (the service unlocks by itself with it).")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo."""
    from clinic_agent.cli import demo

    return demo.run(keep=args.keep, once=args.once)


DOCTOR_WELL, DOCTOR_FAILED, DOCTOR_WARNED = 0, 1, 3  # 2 stays every command's "bad input"


def doctor_status(outcomes: set[str]) -> int:
    """doctor's exit status: 0 only when all is well, so a script cannot take a warning for health."""
    from clinic_agent.runtime import doctor

    if doctor.FAIL in outcomes:
        return DOCTOR_FAILED
    return DOCTOR_WARNED if doctor.WARN in outcomes else DOCTOR_WELL


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the installation; the exit status says whether all is well, something warns, or something failed."""
    from clinic_agent.runtime import doctor

    checks = doctor.run(home_of(args))
    data = [{"check": c.name, "outcome": c.outcome, "detail": c.detail} for c in checks]
    show(
        args,
        data,
        lambda rows: "\n".join(
            f"{output.pad(r['outcome'], 8)} {output.pad(r['check'], 18)} {output.safe(r['detail'])}" for r in rows
        ),
    )
    return doctor_status({c.outcome for c in checks})


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon."""
    from clinic_agent.runtime import daemon  # the daemon's imports are only paid for by `run`

    home = home_of(args)
    return daemon.run(home, log_level=home.load_config().log_level)


def cmd_status(args: argparse.Namespace) -> int:
    """Show the status: the daemon's, else the store's read at rest (the store is opened only when it must be)."""
    home = home_of(args)
    daemon = daemon_backend(home, passphrase_source(args), user_of(args))
    data = None
    if daemon is None:
        from clinic_agent.runtime import status  # no model, keys or method modules: start-up (issue 13)

        data = status.at_rest(home)
    if data is None:  # through the daemon, or a database the store must open itself (an upgrade, a refusal)
        with contextlib.closing(daemon or LocalBackend(home, passphrase_source(args), user_of(args))) as chosen:
            data = chosen.call("status")
            if "sync" not in data and not chosen.daemon:
                data["sync"] = chosen.call("sync.status")
    data.setdefault("daemon", {"running": daemon is not None})
    show(args, data, status_text)
    return 0


def status_text(s: dict[str, Any]) -> str:
    """The status for a person, one item a line."""
    daemon = s.get("daemon", {})
    running = (
        f"running (pid {daemon.get('pid')}, up {daemon.get('uptime_s', 0):.0f} s)"
        if daemon.get("running")
        else "not running"
    )
    outbox = s.get("outbox") or {}
    lines = [
        ("home", s["home"]),
        ("daemon", running),
        ("store", "LOCKED" if s["locked"] else "unlocked"),
        ("residents", s["residents"]),
        (
            "readings",
            f"{s['readings']} ({s['unassigned_readings']} waiting to be assigned, {s['critical_readings']} critical)",
        ),
        ("waiting for unlock", f"{s['sealed_waiting']} sealed readings/frames"),
        ("quarantined frames", s["quarantined"]),
        ("to send to platform", f"{outbox.get('pending', 0)} pending, {outbox.get('parked', 0)} parked"),
        ("audit entries", s["audit_entries"]),
        ("key slots", ", ".join(f"{k['type']}:{k['name']}" for k in s["slots"])),
        ("disk free", f"{s['disk_free_mib']} MiB" + ("  LOW" if s.get("disk_low") else "")),
    ]
    for device in s.get("devices") or []:
        detail = f" ({device['detail']})" if device.get("detail") else ""
        lines.append((f"device {device['name']}", f"{device['state']}{detail}, {device['where']}"))
    if s.get("sync"):
        from clinic_agent.cli.sync_commands import records_text, sync_text

        lines += [("sync", sync_text(s["sync"])), ("records", records_text(s["sync"]))]
    return "\n".join(f"{output.pad(k, 20)} {output.safe(v)}" for k, v in lines)


def cmd_lock(args: argparse.Namespace) -> int:
    """Lock the daemon."""
    with backend(args) as chosen:
        if not chosen.daemon:
            show(
                args, {"locked": True, "daemon": False}, lambda _: "No daemon is running; the store is at rest, locked."
            )
            return 0
        chosen.call("lock")
    show(args, {"locked": True, "daemon": True}, lambda _: "Locked: the daemon has forgotten its keys.")
    return 0


def cmd_unlock(args: argparse.Namespace) -> int:
    """Unlock the daemon, or (without one) open what was sealed while locked."""
    recovery = None
    if args.recovery:
        recovery = prompts.passphrase(None, env="CLINIC_AGENT_RECOVERY_CODE", prompt="Recovery code: ")
        if recovery is None:
            raise InvalidInput("a recovery code is needed: type it on a terminal or set CLINIC_AGENT_RECOVERY_CODE")
    with backend(args) as chosen:
        if isinstance(chosen, DaemonBackend):
            params: dict[str, Any] = {"user": user_of(args), "os_user": os_user()}
            if recovery:
                params["recovery_code"] = recovery
            else:
                secret = passphrase_source(args)()
                if secret is None:
                    raise passphrase_needed()
                params["passphrase"] = secret
            result = chosen.call("unlock", params)
        else:
            assert isinstance(chosen, LocalBackend)  # noqa: S101  (connect returns one of the two)
            result = chosen.unlock(recovery_code=recovery)
    show(args, result, _unlock_text)
    return 0


def _unlock_text(r: UnlockReply) -> str:
    text = f"Unlocked with {r['slot']}."
    if r.get("sealed_opened"):
        text += f" {r['sealed_opened']} readings/frames received while locked are now stored encrypted."
    if r.get("sealed_failed"):
        text += (
            f" {len(r['sealed_failed'])} sealed items could not be opened and are kept: {', '.join(r['sealed_failed'])}"
        )
    return text


# -- users ---------------------------------------------------------------------------------------------------


def add_user_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands user add, list and unblock (listed in ``clinic_agent.cli.COMMANDS``)."""
    user = _command(sub, common, "user", "people who sign in to the terminal UI")
    inner = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "add", "add a user (the PIN is asked twice on a terminal, else read from stdin)")
    p.add_argument("name", help="user name: lower-case letters and digits, e.g. zhangwei")
    p.add_argument("--role", required=True, choices=["doctor", "nurse", "technician"])
    p.add_argument("--display-name", default="", help="the name shown on screen, e.g. 张伟")
    p.set_defaults(handler=cmd_user_add)
    p = _command(inner, common, "list", "list users")
    p.set_defaults(handler=cmd_user_list)
    p = _command(inner, common, "unblock", "clear a user's PIN lock-out after too many wrong PINs")
    p.add_argument("name", help="the user whose PIN is blocked")
    p.set_defaults(handler=cmd_user_unblock)


def cmd_user_add(args: argparse.Namespace) -> int:
    """Add a user."""
    pin = prompts.pin()
    with backend(args) as chosen:
        user = chosen.call(
            "user.add", {"name": args.name, "role": args.role, "pin": pin, "display_name": args.display_name}
        )
    show(args, user, lambda u: f"User {u['name']} ({u['role']}) added.")
    return 0


def cmd_user_unblock(args: argparse.Namespace) -> int:
    """Clear a PIN lock-out."""
    with backend(args) as chosen:
        result = chosen.call("user.unblock", {"name": args.name})
    show(args, result, lambda r: f"{r['name']} may sign in again ({r['forgotten']} wrong PINs forgotten).")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    """List users."""
    with backend(args) as chosen:
        result = chosen.call("user.list")
    show(
        args,
        result["users"],
        lambda users: output.table(
            [[u["name"], u["role"], u.get("display_name", "")] for u in users], ["user", "role", "display name"]
        ),
    )
    return 0


# -- residents -------------------------------------------------------------------------------------------------


def add_resident_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands resident add, list, show and search (listed in ``clinic_agent.cli.COMMANDS``)."""
    resident = _command(sub, common, "resident", "residents and their health files")
    inner = resident.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "add", "register a resident")
    p.add_argument("--id-number", required=True, help="the 18-character resident ID card number")
    p.add_argument(
        "--id-override",
        metavar="REASON",
        help="keep an ID number that fails only its check digit, for this reason (the card or paper record shows it)",
    )
    p.add_argument("--name", required=True)
    p.add_argument("--sex", help="GB/T 2261.1 code 0/1/2/9 or male/female/unknown (default: from the ID number)")
    p.add_argument("--birth-date", help="YYYY-MM-DD (default: from the ID number)")
    p.add_argument("--phone")
    p.add_argument("--village")
    p.add_argument("--health-record-number", help="the 17-digit health-record number")
    p.set_defaults(handler=cmd_resident_add)
    p = _command(inner, common, "list", "list every resident")
    p.set_defaults(handler=cmd_resident_list)
    p = _command(inner, common, "show", "show one resident's file")
    p.add_argument("resident", metavar="ID", help="the resident's id, ID card number or health-record number")
    p.set_defaults(handler=cmd_resident_show)
    p = _command(inner, common, "search", "find residents by name, pinyin initials, ID or health-record number")
    p.add_argument("text")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(handler=cmd_resident_search)


def cmd_resident_add(args: argparse.Namespace) -> int:
    """Register a resident."""
    from clinic_agent.core.idnumber import parse_id_number  # not on the way of the other commands (start-up)

    if not args.id_override:
        try:
            parse_id_number(args.id_number)
        except InvalidIdNumber as exc:
            if exc.check == "check_digit":
                raise InvalidIdNumber(
                    exc.check,
                    f"{exc.message}; if the card really shows this number, add --id-override REASON",
                    expected=exc.expected,
                ) from None
            raise
    params = {
        "id_number": args.id_number,
        "id_number_override": args.id_override,
        "name": args.name,
        "sex": args.sex,
        "birth_date": args.birth_date,
        "phone": args.phone,
        "village": args.village,
        "health_record_number": args.health_record_number,
    }
    with backend(args) as chosen:
        resident = chosen.call("resident.add", {k: v for k, v in params.items() if v is not None})
    show(args, resident, lambda r: f"Registered {output.safe(r['name'])} ({r['id_number']}), id {r['id']}.")
    return 0


def cmd_resident_list(args: argparse.Namespace) -> int:
    """List residents."""
    with backend(args) as chosen:
        result = chosen.call("resident.list")
    residents = result["residents"]
    if wants_json(args):
        output.emit_json(residents)
    elif residents:
        print(output.table([output.resident_line(r) for r in residents], output.RESIDENT_HEADERS))
    else:
        print("No residents yet.")
    return report_problems(result)


def cmd_resident_show(args: argparse.Namespace) -> int:
    """Show a resident's file."""
    with backend(args) as chosen:
        result = chosen.call("resident.file", {"resident": args.resident})
    show(args, result, _file_text)
    return report_problems(result)


def _file_text(f: dict[str, Any]) -> str:
    lines = [output.resident_card(f["resident"])]
    titles = {
        "allergy": "Allergies",
        "condition": "Conditions",
        "procedure": "Surgery, trauma, transfusion",
        "family_history": "Family history",
        "follow_up": "Follow-ups",
        "note": "Notes",
    }
    for kind, title in titles.items():
        items = f["entries"].get(kind) or []
        if items:
            lines += ["", f"{title}:"] + [f"  {output.safe(_entry_summary(kind, e))}" for e in items]
    readings = f["readings"]
    lines += ["", f"Readings ({len(readings)}):" if readings else "No readings."]
    lines += [f"  {output.reading_line(r)}" for r in readings[:20]]
    if len(readings) > 20:
        lines.append(f"  ... and {len(readings) - 20} older (use --json for all)")
    return "\n".join(lines)


def _entry_summary(kind: str, e: dict[str, Any]) -> str:
    if kind == "allergy":
        return f"{e['substance']} {e.get('reaction') or ''}".strip()
    if kind == "condition":
        return f"{e['name']} (since {e.get('diagnosed_on') or '?'})"
    if kind == "procedure":
        return f"{e['category']}: {e['name']} ({e.get('performed_on') or '?'})"
    if kind == "family_history":
        return f"{e['relation']}: {e['condition']}"
    if kind == "follow_up":
        return f"{e['programme']} {e['visit_date']} BP {e.get('sbp') or '-'}/{e.get('dbp') or '-'}"
    return str(e.get("text", ""))


def cmd_resident_search(args: argparse.Namespace) -> int:
    """Search residents."""
    with backend(args) as chosen:
        result = chosen.call("resident.search", {"text": args.text, "limit": args.limit})
    matches = result["matches"]
    show(
        args,
        matches,
        lambda ms: (
            output.table([[m["name"], m["matched_by"], m["id"]] for m in ms], ["name", "matched by", "id"])
            if ms
            else "No match."
        ),
    )
    return report_problems(result)


# -- readings -----------------------------------------------------------------------------------------------------


def add_reading_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands reading add, unassigned and assign (listed in ``clinic_agent.cli.COMMANDS``)."""
    reading = _command(sub, common, "reading", "readings")
    inner = reading.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "add", "record one measured value")
    p.add_argument(
        "--resident",
        help="the resident's id, ID card number or health-record number "
        "(without it the reading waits in the unassigned inbox)",
    )
    p.add_argument("--code", required=True, help="LOINC code, e.g. 8480-6 (systolic BP)")
    p.add_argument("--value", required=True, help="the value as measured, e.g. 120 or 5.60")
    p.add_argument("--unit", required=True, help="UCUM unit, e.g. mm[Hg], mmol/L, Cel, %%")
    p.add_argument("--display", help="what was measured, in words")
    p.add_argument("--taken-at", help="when it was measured, YYYY-MM-DDTHH:MM (default: now)")
    p.add_argument(
        "--confirm-extreme",
        metavar="REASON",
        help="keep a value outside the plausible range (the one devices are held to), for this reason "
        "(it was really measured: re-measured, equipment checked)",
    )
    p.set_defaults(handler=cmd_reading_add)
    p = _command(inner, common, "unassigned", "readings waiting to be assigned to a resident")
    p.set_defaults(handler=cmd_reading_unassigned)
    p = _command(inner, common, "assign", "assign a waiting reading to a resident")
    p.add_argument("reading", metavar="READING_ID")
    p.add_argument("resident", metavar="RESIDENT")
    p.set_defaults(handler=cmd_reading_assign)


def cmd_reading_add(args: argparse.Namespace) -> int:
    """Record a reading."""
    params = {
        "resident": args.resident,
        "code": args.code,
        "value": args.value,
        "unit": args.unit,
        "display": args.display,
        "taken_at": args.taken_at,
        "confirm_extreme": args.confirm_extreme,
    }
    with backend(args) as chosen:
        try:
            result = chosen.call("reading.add", {k: v for k, v in params.items() if v is not None})
        except ImplausibleValue as exc:
            raise ImplausibleValue(f"{exc.message}; if it was really measured, add --confirm-extreme REASON") from None
    show(args, result, _reading_added_text)
    return 0


def _reading_added_text(r: ReadingAddReply) -> str:
    if r["duplicate"]:
        return f"Already stored as reading {r['id']} (nothing added)."
    text = f"Saved reading {r['id']}."
    if r.get("extreme_reason"):
        text += f" The extreme value is kept because: {output.safe(r['extreme_reason'])}."
    if r["sealed"]:
        text += " The store is locked: it is sealed and will be encrypted at the next unlock."
    if r.get("alerts"):
        text += "\nALERT: " + "; ".join(r["alerts"])
    return text


def cmd_reading_unassigned(args: argparse.Namespace) -> int:
    """List the unassigned inbox."""
    with backend(args) as chosen:
        result = chosen.call("reading.unassigned")
    readings = result["readings"]
    show(
        args,
        readings,
        lambda rs: "\n".join(f"{r['id']}  {output.reading_line(r)}" for r in rs) or "No reading is waiting.",
    )
    return report_problems(result)


def cmd_reading_assign(args: argparse.Namespace) -> int:
    """Assign a reading."""
    with backend(args) as chosen:
        result = chosen.call("reading.assign", {"id": args.reading, "resident": args.resident})
    show(args, result, lambda r: f"Reading {r['id']} assigned to resident {r['resident_id']}.")
    return 0


# -- audit and keys --------------------------------------------------------------------------------------------------


def add_audit_and_key_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands audit, passphrase and key (listed in ``clinic_agent.cli.COMMANDS``)."""
    audit = _command(sub, common, "audit", "the tamper-evident audit log")
    inner = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    _command(inner, common, "verify", "check every entry of the audit chain").set_defaults(handler=cmd_audit_verify)

    passphrase = _command(sub, common, "passphrase", "passphrase key slots")
    inner = passphrase.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "change", "change your passphrase (the data is not re-encrypted)")
    p.add_argument("--new-passphrase-file", metavar="FILE", help="or set CLINIC_AGENT_NEW_PASSPHRASE")
    p.set_defaults(handler=cmd_passphrase_change)
    p = _command(inner, common, "add", "give another user a passphrase slot of their own")
    p.add_argument("slot_user", metavar="USER")
    p.add_argument("--new-passphrase-file", metavar="FILE", help="or set CLINIC_AGENT_NEW_PASSPHRASE")
    p.set_defaults(handler=cmd_passphrase_add)

    key = _command(sub, common, "key", "the data key")
    inner = key.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _command(inner, common, "rotate", "make a new data key and re-encrypt everything under it, without downtime")
    p.add_argument("--resume", action="store_true", help="finish an interrupted rotation without a new key")
    p.set_defaults(handler=cmd_key_rotate)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Verify the audit chain."""
    with backend(args) as chosen:
        result = chosen.call("audit.verify")
    show(args, result, _audit_text)
    return 0 if result["ok"] else 1


def _audit_text(r: AuditVerifyReply) -> str:
    rows = f"{r.get('rows_checked', 0)} records checked"
    restores = [f"RESTORED FROM A BACKUP (a known, audited cut) {e}" for e in r.get("restores", [])]
    if r["ok"]:
        intact = f"Audit log intact: {r['entries']} entries verified; {rows}, none changed behind the agent's back."
        return "\n".join([*restores, intact])
    lines = [*restores]
    if r["first_bad_seq"] is not None:
        lines.append(f"AUDIT LOG BROKEN at entry {r['first_bad_seq']}: {r['problem']}")
    if r.get("anchor"):
        lines.append(f"AUDIT LOG CUT: {r['anchor']}")
    lines += [f"EARLIER FINDING kept in the log, {f}" for f in r.get("findings", [])]
    lines += [f"CHANGED RECORD {b}" for b in r.get("bad_rows", [])]
    lines += [f"DELETED RECORD {m}" for m in r.get("missing_rows", [])]
    lines += [f"RECORD NOT WRITTEN BY THE AGENT {u}" for u in r.get("unaccounted_rows", [])]
    return "\n".join([*lines, f"({r['entries']} audit entries verified; {rows})"])


def _new_passphrase(args: argparse.Namespace) -> str:
    return prompts.new_passphrase(args.new_passphrase_file, env="CLINIC_AGENT_NEW_PASSPHRASE", what="new passphrase")


def cmd_passphrase_change(args: argparse.Namespace) -> int:
    """Change a passphrase."""
    current = passphrase_source(args)()
    if current is None:
        raise passphrase_needed("the current passphrase")
    new = _new_passphrase(args)
    with backend(args) as chosen:
        result = chosen.call("passphrase.change", {"passphrase": current, "new_passphrase": new, "user": user_of(args)})
    show(args, result, lambda r: f"Passphrase changed for {r['user']}. The old one no longer opens the store.")
    return 0


def cmd_passphrase_add(args: argparse.Namespace) -> int:
    """Add a passphrase slot for another user."""
    new = _new_passphrase(args)
    with backend(args) as chosen:
        result = chosen.call("passphrase.add", {"user": args.slot_user, "new_passphrase": new})
    show(args, result, lambda r: f"Passphrase slot added for {r['user']}.")
    return 0


def cmd_key_rotate(args: argparse.Namespace) -> int:
    """Rotate the data key."""
    with backend(args) as chosen:
        result = chosen.call("key.rotate", {"resume": args.resume})
    show(args, result, _rotation_text)
    if result["unreadable_rows"]:
        raise StoreCorrupted(
            f"{len(result['unreadable_rows'])} rows failed their integrity check and keep the old key: "
            + ", ".join(result["unreadable_rows"][:10])
        )
    return 0


def _rotation_text(r: KeyRotateReply) -> str:
    text = f"Data key is now {r['current']}; {r['reencrypted']} rows re-encrypted."
    if r["retired"]:
        text += f" Retired {', '.join(r['retired'])}."
    if r["kept"]:
        text += f" Still in use: {', '.join(r['kept'])}."
    return text
