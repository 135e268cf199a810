"""Commands of sync: enrol with the platform, sync, the conflicts inbox, parked records."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from clinic_agent.cli import output
from clinic_agent.cli.commands import _command, backend, show, wants_json
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.fsutil import KIB, read_bounded

MAX_ROUNDS = 20  # `sync` without --once: runs while they make progress and work remains
TOKEN_FILE_LIMIT = 64 * KIB  # a bearer token (a JWT with its claims) is a few KiB at most


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands enroll, sync, conflicts and parked (listed in ``clinic_agent.cli.COMMANDS``)."""
    p = _command(sub, common, "enroll", "register this clinic with the regional platform (technicians)")
    p.add_argument("--platform", required=True, metavar="URL", help="the platform's FHIR base URL (https)")
    p.add_argument("--token-file", metavar="FILE", help="a bearer token the platform issued, on the first line")
    p.add_argument("--smart", action="store_true", help="SMART Backend Services: a key is made here")
    p.add_argument("--client-id", help="the client id the platform registered for this clinic (with --smart)")
    p.add_argument("--token-url", metavar="URL", help="the platform's token endpoint (with --smart)")
    p.add_argument("--scope", help="the scopes to ask for (with --smart; default system/*.cruds)")
    p.set_defaults(handler=cmd_enroll)

    p = _command(sub, common, "sync", "send what waits and fetch what changed on the platform")
    p.add_argument("--once", action="store_true", help="one sync only (default: until nothing is left or no progress)")
    p.set_defaults(handler=cmd_sync)

    conflicts = _command(sub, common, "conflicts", "records changed both here and on the platform (doctors)")
    inner = conflicts.add_subparsers(dest="action", metavar="ACTION", required=True)
    _command(inner, common, "list", "list open conflicts").set_defaults(handler=cmd_conflicts_list)
    p = _command(inner, common, "show", "show the three values of each field in conflict")
    p.add_argument("id", metavar="ID")
    p.set_defaults(handler=cmd_conflicts_show)
    p = _command(inner, common, "resolve", "choose, field by field, which value is kept")
    p.add_argument("id", metavar="ID")
    p.add_argument("--take", choices=["local", "remote"], help="the side to keep for every field not named")
    p.add_argument("--field", action="append", default=[], metavar="NAME=local|remote", help="one field's side")
    p.set_defaults(handler=cmd_conflicts_resolve)

    parked = _command(sub, common, "parked", "records the platform refused, with its reason")
    inner = parked.add_subparsers(dest="action", metavar="ACTION", required=True)
    _command(inner, common, "list", "list parked records").set_defaults(handler=cmd_parked_list)
    p = _command(inner, common, "retry", "queue a parked record again")
    p.add_argument("seq", type=int, metavar="SEQ")
    p.set_defaults(handler=cmd_parked_retry)


def cmd_enroll(args: argparse.Namespace) -> int:
    """Enrol the clinic."""
    params: dict[str, Any] = {"platform": args.platform}
    if args.smart:
        if not (args.client_id and args.token_url):
            raise InvalidInput("--smart needs --client-id and --token-url")
        params["smart"] = {"client_id": args.client_id, "token_url": args.token_url, "scope": args.scope}
    elif args.token_file:
        params["token"] = _first_line(args.token_file)
    with backend(args) as chosen:
        result = chosen.call("sync.enroll", params)
    if result.get("warning") and not wants_json(args):
        output.warn(result["warning"])
    show(args, result, _enroll_text)
    return 0


def _first_line(path: str) -> str:
    try:
        lines = read_bounded(path, TOKEN_FILE_LIMIT, "--token-file").decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise InvalidInput(f"--token-file {path} is not UTF-8 text") from None
    if not lines or not lines[0].strip():
        raise InvalidInput(f"--token-file {path} is empty")
    return lines[0].strip()


def _enroll_text(r: dict[str, Any]) -> str:
    text = (
        f"Enrolled with {r['platform']} (credentials: {r['auth']}); the clinic is Organization/{r['organization_id']}."
    )
    proof = r.get("round_trip")
    if proof:
        text += f"\nPlatform round trip: {round_trip_text(proof)}."
    offered = r.get("consultation_targets")
    if offered is not None:  # read at enrolment, kept for offline use (sync/targets.py)
        text += f"\nThe platform offers {len(offered)} consultation service(s) (clinic-agent consult targets)."
    if r.get("public_jwk"):
        text += "\nGive the platform this public key (JWK) for the clinic's client registration:\n"
        text += _json(r["public_jwk"])
    return text


def round_trip_text(proof: dict[str, Any] | None) -> str | None:
    """The enrolment's proven round trip in words (sync.enrolment.prove_organization); None without one."""
    if not proof:
        return None
    what = f"{proof['resource']} (clinic {proof['clinic_code']})"
    done = f"wrote {what}" if proof["created"] else f"{what} was there already, written conditionally"
    return f"{done}, read it back, {proof['ms']} ms"


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync now (through the daemon when it runs, else in this process)."""
    total: dict[str, Any] = {"pushed": 0, "pulled": 0, "parked": 0, "conflicts": 0, "errors": []}
    with backend(args) as chosen:
        for _ in range(1 if args.once else MAX_ROUNDS):
            report = chosen.call("sync.now", {"wait": True})
            if report.get("started"):
                total["started"] = True
                break
            for key in ("pushed", "pulled", "parked", "conflicts"):
                total[key] += report[key]
            total["errors"] = report["errors"]
            if report.get("audit"):
                total["audit"] = report["audit"]
            pending = chosen.call("sync.status")["pending"]
            if report["errors"] or not pending or not (report["pushed"] or report["pulled"] or report["parked"]):
                break
    show(args, total, _sync_text)
    if total.get("audit") and not wants_json(args):
        print(f"clinic-agent: the audit log: {output.safe(total['audit'])}", file=sys.stderr)
    if total["errors"] and not wants_json(args):
        print(f"clinic-agent: {output.safe(total['errors'][0])}", file=sys.stderr)
    return 1 if total["errors"] else 0


def _sync_text(r: dict[str, Any]) -> str:
    if r.get("started"):
        return "A sync is running in the daemon; `clinic-agent status` shows how it goes."
    text = f"Sent {r['pushed']}, received {r['pulled']}, parked {r['parked']}, new conflicts {r['conflicts']}."
    if r["parked"]:
        text += " See `clinic-agent parked list`."
    if r["conflicts"]:
        text += " See `clinic-agent conflicts list`."
    return text


def cmd_conflicts_list(args: argparse.Namespace) -> int:
    """List open conflicts."""
    with backend(args) as chosen:
        result = chosen.call("conflict.list")
    rows = [
        [c["id"], c["kind"], c["entity"], c["entity_id"], ", ".join(c["fields"]), c["created_at"][:16]]
        for c in result["conflicts"]
    ]
    show(
        args,
        result["conflicts"],
        lambda cs: (
            output.table(rows, ["id", "kind", "record", "record id", "fields", "since"]) if cs else "No conflicts."
        ),
    )
    return 0


def cmd_conflicts_show(args: argparse.Namespace) -> int:
    """Show one conflict."""
    with backend(args) as chosen:
        result = chosen.call("conflict.get", {"id": args.id})
    rows = [[f["name"], _value(f["base"]), _value(f["local"]), _value(f["remote"])] for f in result["fields"]]
    show(
        args,
        result,
        lambda r: (
            f"{r['entity']} {r['entity_id']} (since {r['created_at'][:16]})\n"
            + output.table(rows, ["field", "before", "this PC", "platform"])
        ),
    )
    return 0


def _value(value: Any) -> str:
    return "-" if value is None else output.safe(value if isinstance(value, str) else _json(value))


def cmd_conflicts_resolve(args: argparse.Namespace) -> int:
    """Resolve a conflict."""
    named: dict[str, str] = {}
    for item in args.field:
        name, _, side = item.partition("=")
        if side not in ("local", "remote") or not name:
            raise InvalidInput(f"--field {item!r}: write NAME=local or NAME=remote")
        named[name] = side
    with backend(args) as chosen:
        conflict = chosen.call("conflict.get", {"id": args.id})
        choices: dict[str, str] = {}
        for field in conflict["fields"]:
            side = named.pop(field["name"], None) or args.take
            if side is None:
                raise InvalidInput(f"say which value of {field['name']} to keep: --take local|remote or --field")
            choices[field["name"]] = side
        if named:
            raise InvalidInput(f"{', '.join(named)} is not in conflict here")
        record = chosen.call("conflict.resolve", {"id": args.id, "choices": choices})
    show(args, record, lambda r: f"Resolved; the record (version {r['version']}) will be sent to the platform.")
    return 0


def cmd_parked_list(args: argparse.Namespace) -> int:
    """List parked records."""
    with backend(args) as chosen:
        result = chosen.call("parked.list")
    rows = [[str(p["seq"]), p["kind"], p["entity_id"], p["since"][:16], p["reason"]] for p in result["parked"]]
    show(
        args,
        result["parked"],
        lambda ps: output.table(rows, ["seq", "kind", "record id", "since", "reason"]) if ps else "Nothing is parked.",
    )
    return 0


def cmd_parked_retry(args: argparse.Namespace) -> int:
    """Queue a parked record again."""
    with backend(args) as chosen:
        result = chosen.call("parked.retry", {"seq": args.seq})
    show(args, result, lambda r: f"Record {r['seq']} is queued again; it goes with the next sync.")
    return 0


def sync_text(s: dict[str, Any]) -> str:
    """The sync line of `clinic-agent status`."""
    text = f"{s['state']}"
    if s.get("platform"):
        text += f" with {s['platform']}" + (" (online)" if s.get("online") else "")
    text += f"; {s['pending']} to send, {s['parked']} parked, {s['conflicts']} conflicts"
    progress = s.get("progress")
    if progress:
        of = f" of {progress['total']}" if progress.get("total") is not None else ""
        left = f", about {progress['seconds_left']} s left" if progress.get("seconds_left") is not None else ""
        text += f"; receiving {progress['type']}: {progress['records']}{of} in {progress['pages']} pages{left}"
    if s.get("last_sync"):
        text += f"; last sync {s['last_sync'][:19]}"
    if s.get("last_error"):
        text += f"; last error: {s['last_error']}"
    return output.safe(text)


def records_text(s: dict[str, Any]) -> str:
    """Each record's true state, counted."""
    r = s.get("records") or {}
    local, sent, confirmed = r.get("local", 0), r.get("sent", 0), r.get("confirmed", 0)
    return f"{local} only on this PC, {sent} sent, {confirmed} confirmed by the platform"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
